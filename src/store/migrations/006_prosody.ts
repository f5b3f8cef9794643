import type { Migration } from './index.js';

/**
 * Hume prosody (PROTOCOL.md §5, §7): one row per answered segment with its top emotions, and per-meeting
 * counters of payloads sent, predictions, warnings, errors (by code) and segments dropped (by reason).
 */
const m: Migration = {
  version: 6,
  name: 'prosody',
  sql: `
CREATE TABLE prosody_segments (
  id            INTEGER PRIMARY KEY,
  meeting_id    TEXT NOT NULL REFERENCES sessions (meeting_id) ON DELETE CASCADE,
  participant   TEXT NOT NULL,
  track_id      TEXT NOT NULL,
  payload_id    TEXT NOT NULL UNIQUE,
  segment_index INTEGER NOT NULL,
  start_ms      INTEGER NOT NULL,
  end_ms        INTEGER NOT NULL,
  emotions      TEXT NOT NULL,
  predictions   INTEGER NOT NULL,
  received_at   INTEGER NOT NULL
);
CREATE INDEX prosody_segments_meeting ON prosody_segments (meeting_id, start_ms);

CREATE TABLE prosody_counters (
  meeting_id    TEXT NOT NULL REFERENCES sessions (meeting_id) ON DELETE CASCADE,
  name          TEXT NOT NULL,
  count         INTEGER NOT NULL DEFAULT 0,
  updated_at    INTEGER NOT NULL,
  PRIMARY KEY (meeting_id, name)
);
`,
};
export default m;
