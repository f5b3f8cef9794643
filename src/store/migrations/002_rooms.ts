import type { Migration } from './index.js';

/** Signaling rooms created through POST /api/rooms (join links and QR codes). */
const m: Migration = {
  version: 2,
  name: 'rooms',
  sql: `
CREATE TABLE rooms (
  room_id          TEXT PRIMARY KEY,
  name             TEXT,
  max_participants INTEGER NOT NULL,
  created_at       INTEGER NOT NULL,
  created_by       TEXT
);
`,
};
export default m;
