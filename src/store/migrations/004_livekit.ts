import type { Migration } from './index.js';

/**
 * LiveKit integration (src/livekit): webhook event ids already handled (LiveKit retries deliveries, so
 * every event is applied once), the lifecycle of LiveKit rooms by SID (a finished room is never re-opened by
 * a late or repeated `room_started`), the Track Egresses meetcore started or heard about, and the LiveKit
 * view of each recording (`egress_status`, `egress_error` on `recordings`, filled from egress_* webhooks).
 * Times are Unix ms.
 */
const m: Migration = {
  version: 4,
  name: 'livekit',
  sql: `
CREATE TABLE livekit_webhook_events (
  id           TEXT PRIMARY KEY,
  event        TEXT NOT NULL,
  room_sid     TEXT,
  created_at   INTEGER,
  received_at  INTEGER NOT NULL
);
CREATE INDEX livekit_webhook_events_received ON livekit_webhook_events (received_at);

CREATE TABLE livekit_rooms (
  room_sid     TEXT PRIMARY KEY,
  room_name    TEXT NOT NULL,
  started_at   INTEGER,
  finished_at  INTEGER
);

CREATE TABLE livekit_egresses (
  egress_id          TEXT PRIMARY KEY,
  meeting_id         TEXT,
  room_name          TEXT,
  participant        TEXT,
  track_sid          TEXT,
  status             TEXT NOT NULL,
  error              TEXT,
  started_at         INTEGER,
  ended_at           INTEGER,
  updated_at         INTEGER NOT NULL,
  stop_requested_at  INTEGER
);
CREATE INDEX livekit_egresses_track ON livekit_egresses (meeting_id, track_sid);

ALTER TABLE recordings ADD COLUMN egress_status TEXT;
ALTER TABLE recordings ADD COLUMN egress_error TEXT;
CREATE INDEX recordings_egress ON recordings (egress_id);
`,
};
export default m;
