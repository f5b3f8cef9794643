import type { Migration } from './index.js';

/**
 * Accounts (src/auth): organizations, users (e-mail unique and stored lower-cased), memberships with a role,
 * refresh tokens (only their SHA-256 hash; one row per issued token, grouped in families for rotation and
 * re-use detection), and `session_logs`: one row per issued meeting/LiveKit token (POST /auth/token) or other
 * session event, for audit.
 */
const m: Migration = {
  version: 3,
  name: 'accounts',
  sql: `
CREATE TABLE organizations (
  id          TEXT PRIMARY KEY,
  name        TEXT NOT NULL,
  created_at  INTEGER NOT NULL
);

CREATE TABLE users (
  id             TEXT PRIMARY KEY,
  email          TEXT NOT NULL UNIQUE CHECK (email = lower(email)),
  name           TEXT NOT NULL,
  password_hash  TEXT NOT NULL,
  created_at     INTEGER NOT NULL
);

CREATE TABLE memberships (
  user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  org_id      TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  role        TEXT NOT NULL CHECK (role IN ('owner','admin','member')),
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (user_id, org_id)
);
CREATE INDEX memberships_org ON memberships (org_id);

CREATE TABLE refresh_tokens (
  id             TEXT PRIMARY KEY,
  family_id      TEXT NOT NULL,
  user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  org_id         TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  token_hash     TEXT NOT NULL UNIQUE,
  issued_at      INTEGER NOT NULL,
  expires_at     INTEGER NOT NULL,
  rotated_at     INTEGER,
  revoked_at     INTEGER,
  revoke_reason  TEXT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

CREATE TABLE session_logs (
  id       INTEGER PRIMARY KEY,
  at       INTEGER NOT NULL,
  actor    TEXT NOT NULL,
  room     TEXT,
  ip       TEXT,
  kind     TEXT NOT NULL,
  user_id  TEXT,
  org_id   TEXT
);
CREATE INDEX session_logs_at ON session_logs (at);
CREATE INDEX session_logs_room ON session_logs (room, at);
`,
};
export default m;
