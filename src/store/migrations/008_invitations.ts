import type { Migration } from './index.js';

/**
 * Invitations (src/auth/accounts.ts, POST /api/org/invitations): an owner or admin invites an e-mail address
 * into its organization with a role. Only the SHA-256 of the invitation token is kept; an invitation is used
 * once (`accepted_at`) or withdrawn (`revoked_at`), and expires at `expires_at` (Unix ms).
 */
const m: Migration = {
  version: 8,
  name: 'invitations',
  sql: `
CREATE TABLE invitations (
  id           TEXT PRIMARY KEY,
  org_id       TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
  email        TEXT NOT NULL CHECK (email = lower(email)),
  role         TEXT NOT NULL CHECK (role IN ('owner','admin','member')),
  token_hash   TEXT NOT NULL UNIQUE,
  invited_by   TEXT REFERENCES users (id) ON DELETE SET NULL,
  created_at   INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL,
  accepted_at  INTEGER,
  accepted_by  TEXT REFERENCES users (id) ON DELETE SET NULL,
  revoked_at   INTEGER
);
CREATE INDEX invitations_org ON invitations (org_id, created_at);
`,
};
export default m;
