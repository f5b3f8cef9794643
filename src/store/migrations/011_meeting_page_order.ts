/**
 * Keyset paging of a meeting's participants (join order) and recordings (oldest first): GET /api/sessions/:meetingId
 * reads a meeting of 5,000 participants in slices, each of which costs its own rows (src/http/sessions.ts).
 * `recordings_meeting` (meeting_id) is a prefix of the new recordings index and goes.
 */
import type { Migration } from './index.js';

const m: Migration = {
  version: 11,
  name: 'meeting_page_order',
  sql: `
CREATE INDEX participants_join_order ON participants (meeting_id, joined_at, identity);
CREATE INDEX recordings_meeting_order ON recordings (meeting_id, started_at, id);
DROP INDEX recordings_meeting;
`,
};
export default m;
