import type { Migration } from './index.js';

/** Meetings (sessions), their participants, recordings and per-participant stats summaries. */
const m: Migration = {
  version: 1,
  name: 'sessions',
  sql: `
CREATE TABLE sessions (
  meeting_id   TEXT PRIMARY KEY,
  room_name    TEXT NOT NULL,
  room_sid     TEXT,
  status       TEXT NOT NULL CHECK (status IN ('ACTIVE','ENDED')),
  started_at   INTEGER NOT NULL,
  ended_at     INTEGER,
  org_id       TEXT
);
CREATE INDEX sessions_room_active ON sessions (room_name, status);

CREATE TABLE participants (
  meeting_id   TEXT NOT NULL REFERENCES sessions (meeting_id) ON DELETE CASCADE,
  identity     TEXT NOT NULL,
  name         TEXT,
  roles        TEXT NOT NULL DEFAULT '[]',
  is_host      INTEGER NOT NULL DEFAULT 0,
  joined_at    INTEGER NOT NULL,
  left_at      INTEGER,
  PRIMARY KEY (meeting_id, identity)
);

CREATE TABLE recordings (
  id              INTEGER PRIMARY KEY,
  meeting_id      TEXT NOT NULL REFERENCES sessions (meeting_id) ON DELETE CASCADE,
  participant     TEXT NOT NULL,
  track_id        TEXT NOT NULL,
  kind            TEXT NOT NULL CHECK (kind IN ('audio','video')),
  codec           TEXT NOT NULL,
  path            TEXT NOT NULL UNIQUE,
  sample_rate     INTEGER,
  channels        INTEGER,
  bytes           INTEGER NOT NULL DEFAULT 0,
  started_at      INTEGER NOT NULL,
  ended_at        INTEGER,
  status          TEXT NOT NULL CHECK (status IN ('RECORDING','COMPLETE','REPAIRED','FAILED')),
  close_reason    TEXT,
  muted_intervals TEXT NOT NULL DEFAULT '[]',
  egress_id       TEXT
);
CREATE INDEX recordings_meeting ON recordings (meeting_id);
CREATE INDEX recordings_status ON recordings (status);

CREATE TABLE participant_stats (
  meeting_id          TEXT NOT NULL REFERENCES sessions (meeting_id) ON DELETE CASCADE,
  participant         TEXT NOT NULL,
  updated_at          INTEGER NOT NULL,
  speech_ms           INTEGER NOT NULL DEFAULT 0,
  analysed_ms         INTEGER NOT NULL DEFAULT 0,
  speech_coverage_10s REAL,
  rms_dbfs_3s         REAL,
  rms_ema_dbfs        REAL,
  peak_dbfs           REAL,
  clipped_samples     INTEGER NOT NULL DEFAULT 0,
  noise_floor_dbfs    REAL,
  last_spoke_at       INTEGER,
  PRIMARY KEY (meeting_id, participant)
);
`,
};
export default m;
