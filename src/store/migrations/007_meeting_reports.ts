import type { Migration } from './index.js';

/** Meeting reports (src/meetings/report.ts): the final report of each ended meeting, as JSON. */
const m: Migration = {
  version: 7,
  name: 'meeting_reports',
  sql: `
CREATE TABLE meeting_reports (
  meeting_id    TEXT PRIMARY KEY REFERENCES sessions (meeting_id) ON DELETE CASCADE,
  report        TEXT NOT NULL,
  final         INTEGER NOT NULL,
  created_at    INTEGER NOT NULL
);
`,
};
export default m;
