/**
 * Accounts: the repository of the tables of migrations 003 (organizations, users, memberships,
 * refresh_tokens, session_logs) and 008 (invitations), and the service behind /auth/register, /auth/login,
 * /auth/refresh, /auth/logout, /auth/me, /auth/invitations/accept and /api/org/* (PROTOCOL.md §1).
 *
 * Registration (REGISTRATION): `first` lets one account register on a server that has none, `open` anyone,
 * `closed` nobody (src/auth/authorization.ts `mayRegister`, checked again inside the write's transaction).
 * Invitations: an owner or admin invites an e-mail address with a role; the answer carries a random token
 * (32 bytes, base64url) of which only the SHA-256 is stored, valid once for INVITATION_TTL_HOURS. Accepting it
 * creates the account (name, password) or, for an address that has one, adds the membership to that account
 * once it proved itself (its password or one of its access tokens). Removing a member revokes that member's
 * login sessions of the organization (their sockets close as on logout).
 *
 * Sessions and refresh rotation: a login (or register) starts a *family* (a login session). Every refresh
 * token is a row of refresh_tokens holding only the SHA-256 of the token; /auth/refresh marks the presented
 * row rotated and issues a new one in the same family. Presenting a rotated token again (re-use: a stolen
 * copy or a replay) revokes the whole family, so the newest refresh token of that family and every access
 * token issued in it (claim `sid`) stop working too. Logout revokes the family the same way.
 *
 * Login throttling: failed attempts are counted per e-mail (5 per 15 min) and per client IP (20 per 15 min);
 * beyond that /auth/login answers 429 with Retry-After (seconds) whether or not the e-mail exists, before
 * any password check. A successful login clears its e-mail's count.
 */
import { createHash, randomBytes } from 'node:crypto';
import { z } from 'zod';
import type { Db } from '../store/db.js';
import type { Logger } from '../log.js';
import type { Principal } from '../http/router.js';
import { HttpError } from '../http/errors.js';
import { mayAcceptInvitation, mayChangeRole, mayInvite, mayListMembers, mayRegister, mayRemoveMember, type Denial, type RegistrationMode } from './authorization.js';
import { dummyHash, hashPassword, needsRehash, verifyPassword } from './passwords.js';
import { TokenError, newTokenId, type Role, type TokenService } from './tokens.js';

// ---------------------------------------------------------------------------------------------------------
// Shapes

export interface User {
  id: string;
  /** Lower-cased. */
  email: string;
  name: string;
  /** Unix ms. */
  createdAt: number;
}

export interface Organization {
  id: string;
  name: string;
  /** Unix ms. */
  createdAt: number;
}

export interface Membership {
  userId: string;
  orgId: string;
  role: Role;
  /** Unix ms. */
  createdAt: number;
}

/** A refresh_tokens row. Times are Unix ms. */
export interface RefreshRow {
  id: string;
  familyId: string;
  userId: string;
  orgId: string;
  /** Hex SHA-256 of the token string. */
  tokenHash: string;
  issuedAt: number;
  expiresAt: number;
  rotatedAt: number | null;
  revokedAt: number | null;
  revokeReason: string | null;
}

/** One line of `session_logs`. */
export interface SessionLogEntry {
  /** Participant name or user that the session/token is for (1..256 chars). */
  actor: string;
  room?: string | null;
  /** Client IP as text. */
  ip?: string | null;
  /** What happened, e.g. "livekit_token". */
  kind: string;
  userId?: string | null;
  orgId?: string | null;
  /** Unix ms; default now. */
  at?: number;
}

/** Access + refresh token pair as returned by login and refresh. */
export interface TokenPair {
  accessToken: string;
  refreshToken: string;
  /** Lifetime of the access token, seconds. */
  expiresInSec: number;
}

// ---------------------------------------------------------------------------------------------------------
// Request bodies (validated by the routes with src/http/validate.ts)

const email = z.string().trim().toLowerCase().pipe(z.email({ message: 'must be an e-mail address' }).max(254));
const password = z.string().min(8, 'must be at least 8 characters').max(256, 'must be at most 256 characters');

export const registerBody = z.object({
  organization: z.string().trim().min(1).max(128),
  name: z.string().trim().min(1).max(128),
  email,
  password,
});
export type RegisterInput = z.output<typeof registerBody>;

export const loginBody = z.object({
  email,
  password: z.string().min(1).max(256),
  organizationId: z.string().min(1).max(64).optional(),
});
export type LoginInput = z.output<typeof loginBody>;

export const refreshBody = z.object({ refreshToken: z.string().min(1).max(4096) });

const role = z.enum(['owner', 'admin', 'member'], { message: 'must be one of owner, admin, member' });

export const inviteBody = z.object({ email, role }).strict();
export type InviteInput = z.output<typeof inviteBody>;

export const roleBody = z.object({ role }).strict();

/** Invitation tokens: 32 random bytes in base64url (43 characters). */
const invitationToken = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be the 43-character invitation token');

export const acceptBody = z.object({
  token: invitationToken,
  /** A new account's name; ignored when the invited address already has an account. */
  name: z.string().trim().min(1).max(128).optional(),
  /** A new account's password, or the existing account's password as its proof. */
  password: z.string().min(1).max(256).optional(),
}).strict();
export type AcceptInput = z.output<typeof acceptBody>;

const pathId = z.string().min(1, 'is required').max(64, 'must be at most 64 characters');
/** The path parameters of /api/org/members/:userId and /api/org/invitations/:invitationId. */
export const memberParams = z.object({ userId: pathId });
export const invitationParams = z.object({ invitationId: pathId });

/** A member as GET /api/org/members lists it. */
export interface Member {
  userId: string;
  email: string;
  name: string;
  role: Role;
  /** When the membership was made, Unix ms. */
  joinedAt: number;
}

/** An invitation as the API shows it (never its token). Times are Unix ms. */
export interface Invitation {
  id: string;
  organizationId: string;
  email: string;
  role: Role;
  invitedBy: string | null;
  createdAt: number;
  expiresAt: number;
  acceptedAt: number | null;
  revokedAt: number | null;
}

// ---------------------------------------------------------------------------------------------------------
// Store

interface UserRow { id: string; email: string; name: string; password_hash: string; created_at: number }
interface OrgRow { id: string; name: string; created_at: number }
interface MembershipRow { user_id: string; org_id: string; role: Role; created_at: number }
interface InvitationRow {
  id: string; org_id: string; email: string; role: Role; token_hash: string; invited_by: string | null; created_at: number;
  expires_at: number; accepted_at: number | null; accepted_by: string | null; revoked_at: number | null;
}
interface RefreshDbRow {
  id: string; family_id: string; user_id: string; org_id: string; token_hash: string; issued_at: number;
  expires_at: number; rotated_at: number | null; revoked_at: number | null; revoke_reason: string | null;
}

const toUser = (r: UserRow): User => ({ id: r.id, email: r.email, name: r.name, createdAt: r.created_at });
const toOrg = (r: OrgRow): Organization => ({ id: r.id, name: r.name, createdAt: r.created_at });
const toMembership = (r: MembershipRow): Membership => ({ userId: r.user_id, orgId: r.org_id, role: r.role, createdAt: r.created_at });
const toInvitation = (r: InvitationRow): Invitation => ({
  id: r.id, organizationId: r.org_id, email: r.email, role: r.role, invitedBy: r.invited_by, createdAt: r.created_at,
  expiresAt: r.expires_at, acceptedAt: r.accepted_at, revokedAt: r.revoked_at,
});
const toRefresh = (r: RefreshDbRow): RefreshRow => ({
  id: r.id, familyId: r.family_id, userId: r.user_id, orgId: r.org_id, tokenHash: r.token_hash, issuedAt: r.issued_at,
  expiresAt: r.expires_at, rotatedAt: r.rotated_at, revokedAt: r.revoked_at, revokeReason: r.revoke_reason,
});

/** Hex SHA-256 of a token string (what refresh_tokens.token_hash holds). */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

const newId = (prefix: string) => `${prefix}_${randomBytes(12).toString('base64url')}`;

/**
 * Append a line to `session_logs` (used by POST /auth/token for every LiveKit token it issues).
 * @returns the row id.
 * @throws RangeError when `actor` or `kind` is empty (nothing is written).
 */
export function logSession(db: Db, entry: SessionLogEntry): number {
  if (!entry.actor || !entry.kind) throw new RangeError('logSession: actor and kind are required');
  const r = db.prepare('INSERT INTO session_logs (at, actor, room, ip, kind, user_id, org_id) VALUES (?, ?, ?, ?, ?, ?, ?)')
    .run(entry.at ?? Date.now(), entry.actor, entry.room ?? null, entry.ip ?? null, entry.kind, entry.userId ?? null, entry.orgId ?? null);
  return Number(r.lastInsertRowid);
}

/** Repository of users, organizations, memberships and refresh tokens. All methods are synchronous. */
export class AccountStore {
  private readonly q;

  constructor(private readonly db: Db) {
    this.q = {
      userByEmail: db.prepare<[string], UserRow>('SELECT * FROM users WHERE email = ?'),
      user: db.prepare<[string], UserRow>('SELECT * FROM users WHERE id = ?'),
      org: db.prepare<[string], OrgRow>('SELECT * FROM organizations WHERE id = ?'),
      membership: db.prepare<[string, string], MembershipRow>('SELECT * FROM memberships WHERE user_id = ? AND org_id = ?'),
      firstMembership: db.prepare<[string], MembershipRow>('SELECT * FROM memberships WHERE user_id = ? ORDER BY created_at, org_id LIMIT 1'),
      insertOrg: db.prepare('INSERT INTO organizations (id, name, created_at) VALUES (?, ?, ?)'),
      insertUser: db.prepare('INSERT INTO users (id, email, name, password_hash, created_at) VALUES (?, ?, ?, ?, ?)'),
      insertMembership: db.prepare('INSERT INTO memberships (user_id, org_id, role, created_at) VALUES (?, ?, ?, ?)'),
      setPassword: db.prepare('UPDATE users SET password_hash = ? WHERE id = ?'),
      refresh: db.prepare<[string], RefreshDbRow>('SELECT * FROM refresh_tokens WHERE id = ?'),
      insertRefresh: db.prepare(`INSERT INTO refresh_tokens (id, family_id, user_id, org_id, token_hash, issued_at, expires_at)
        VALUES (@id, @familyId, @userId, @orgId, @tokenHash, @issuedAt, @expiresAt)`),
      rotate: db.prepare('UPDATE refresh_tokens SET rotated_at = ? WHERE id = ? AND rotated_at IS NULL AND revoked_at IS NULL'),
      revokeFamily: db.prepare('UPDATE refresh_tokens SET revoked_at = ?, revoke_reason = ? WHERE family_id = ? AND revoked_at IS NULL'),
      familyRevoked: db.prepare<[string], { x: number }>('SELECT 1 AS x FROM refresh_tokens WHERE family_id = ? AND revoked_at IS NOT NULL LIMIT 1'),
      prune: db.prepare('DELETE FROM refresh_tokens WHERE expires_at < ?'),
      anyUser: db.prepare<[], { x: number }>('SELECT 1 AS x FROM users LIMIT 1'),
      firstOrg: db.prepare<[], { id: string }>('SELECT id FROM organizations ORDER BY created_at, rowid LIMIT 1'),
      members: db.prepare<[string], MembershipRow & { email: string; name: string }>(`SELECT m.*, u.email, u.name FROM memberships m
        JOIN users u ON u.id = m.user_id WHERE m.org_id = ? ORDER BY m.created_at, m.user_id`),
      owners: db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM memberships WHERE org_id = ? AND role = 'owner'"),
      setRole: db.prepare('UPDATE memberships SET role = ? WHERE user_id = ? AND org_id = ?'),
      deleteMembership: db.prepare('DELETE FROM memberships WHERE user_id = ? AND org_id = ?'),
      liveFamilies: db.prepare<[string, string], { family_id: string }>('SELECT DISTINCT family_id FROM refresh_tokens WHERE user_id = ? AND org_id = ? AND revoked_at IS NULL'),
      insertInvitation: db.prepare(`INSERT INTO invitations (id, org_id, email, role, token_hash, invited_by, created_at, expires_at)
        VALUES (@id, @orgId, @email, @role, @tokenHash, @invitedBy, @createdAt, @expiresAt)`),
      invitationByHash: db.prepare<[string], InvitationRow>('SELECT * FROM invitations WHERE token_hash = ?'),
      invitation: db.prepare<[string], InvitationRow>('SELECT * FROM invitations WHERE id = ?'),
      pendingInvitations: db.prepare<[string, number], InvitationRow>(`SELECT * FROM invitations
        WHERE org_id = ? AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ? ORDER BY created_at, id`),
      useInvitation: db.prepare('UPDATE invitations SET accepted_at = ?, accepted_by = ? WHERE id = ? AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ?'),
      revokeInvitation: db.prepare('UPDATE invitations SET revoked_at = ? WHERE id = ? AND accepted_at IS NULL AND revoked_at IS NULL'),
    };
  }

  /** True when the server has at least one account. */
  hasUsers(): boolean {
    return this.q.anyUser.get() !== undefined;
  }

  /** The id of the oldest organization (the first one registered), or null when there is none. */
  firstOrganizationId(): string | null {
    return this.q.firstOrg.get()?.id ?? null;
  }

  /** The members of an organization with their e-mail and name, oldest membership first. */
  members(orgId: string): Member[] {
    return this.q.members.all(orgId).map((r) => ({ userId: r.user_id, email: r.email, name: r.name, role: r.role, joinedAt: r.created_at }));
  }

  /** How many owners the organization has. */
  ownerCount(orgId: string): number {
    return this.q.owners.get(orgId)!.n;
  }

  /** Set a member's role. @returns false when there is no such membership. */
  setRole(userId: string, orgId: string, role: Role): boolean {
    return this.q.setRole.run(role, userId, orgId).changes === 1;
  }

  /** Delete a membership. @returns false when there was none. */
  deleteMembership(userId: string, orgId: string): boolean {
    return this.q.deleteMembership.run(userId, orgId).changes === 1;
  }

  /** The login sessions (refresh families) of a user in an organization that are not revoked. */
  liveFamilies(userId: string, orgId: string): string[] {
    return this.q.liveFamilies.all(userId, orgId).map((r) => r.family_id);
  }

  insertInvitation(row: { id: string; orgId: string; email: string; role: Role; tokenHash: string; invitedBy: string; createdAt: number; expiresAt: number }): Invitation {
    this.q.insertInvitation.run(row);
    return this.invitation(row.id)!;
  }

  invitation(id: string): Invitation | null {
    const r = this.q.invitation.get(id);
    return r ? toInvitation(r) : null;
  }

  /** The invitation whose token hashes to `hash` (hex SHA-256), or null. */
  invitationByTokenHash(hash: string): Invitation | null {
    const r = this.q.invitationByHash.get(hash);
    return r ? toInvitation(r) : null;
  }

  /** The organization's invitations not used, withdrawn or expired at `now`, oldest first. */
  pendingInvitations(orgId: string, now: number): Invitation[] {
    return this.q.pendingInvitations.all(orgId, now).map(toInvitation);
  }

  /** Withdraw an invitation not used yet. @returns false when it was used or withdrawn already. */
  revokeInvitation(id: string, now: number): boolean {
    return this.q.revokeInvitation.run(now, id).changes === 1;
  }

  /**
   * Use an invitation, in one transaction: mark it accepted (only when still unused, not withdrawn and not
   * expired at `now`), create the user when `newUser` is given, add the membership, and insert the first refresh
   * token of the new login session.
   * @returns false (nothing written) when the invitation could no longer be used.
   * @throws HttpError 409 when the user is already a member of the organization, or `newUser`'s e-mail is taken.
   */
  acceptInvitation(input: {
    invitation: Invitation;
    userId: string;
    newUser: { email: string; name: string; passwordHash: string } | null;
    refresh: Omit<RefreshRow, 'rotatedAt' | 'revokedAt' | 'revokeReason'>;
    now: number;
  }): boolean {
    const { invitation: inv, userId, newUser, refresh, now } = input;
    return this.db.transaction(() => {
      // Any throw below rolls the whole acceptance back (the invitation stays usable).
      const row = this.q.invitation.get(inv.id);
      if (!row || row.accepted_at !== null || row.revoked_at !== null || row.expires_at <= now) return false;
      if (newUser) {
        if (this.q.userByEmail.get(newUser.email)) throw new HttpError('conflict', 'an account with this email already exists: accept with its password');
        this.q.insertUser.run(userId, newUser.email, newUser.name, newUser.passwordHash, now);
      }
      if (this.q.membership.get(userId, inv.organizationId)) throw new HttpError('conflict', 'this account is already a member of the organization');
      this.q.insertMembership.run(userId, inv.organizationId, inv.role, now);
      this.q.insertRefresh.run(refresh);
      this.q.useInvitation.run(now, userId, inv.id, now);
      return true;
    })();
  }

  /** The user with this (already lower-cased) e-mail, with its password hash. */
  userByEmail(emailLower: string): (User & { passwordHash: string }) | null {
    const r = this.q.userByEmail.get(emailLower);
    return r ? { ...toUser(r), passwordHash: r.password_hash } : null;
  }

  user(id: string): User | null {
    const r = this.q.user.get(id);
    return r ? toUser(r) : null;
  }

  organization(id: string): Organization | null {
    const r = this.q.org.get(id);
    return r ? toOrg(r) : null;
  }

  membership(userId: string, orgId: string): Membership | null {
    const r = this.q.membership.get(userId, orgId);
    return r ? toMembership(r) : null;
  }

  /** The user's oldest membership (the default organization at login), or null. */
  firstMembership(userId: string): Membership | null {
    const r = this.q.firstMembership.get(userId);
    return r ? toMembership(r) : null;
  }

  /**
   * Create an organization, its owner and the owner's first refresh token, in one transaction.
   * @throws HttpError 409 conflict when the e-mail is taken, or what `check` throws (nothing is written).
   */
  createAccount(input: {
    user: { id: string; email: string; name: string; passwordHash: string };
    org: { id: string; name: string };
    refresh: Omit<RefreshRow, 'rotatedAt' | 'revokedAt' | 'revokeReason'>;
    now: number;
    /** Run first inside the transaction (e.g. the registration rule); throwing writes nothing. */
    check?: () => void;
  }): { user: User; organization: Organization } {
    const { user, org, refresh, now } = input;
    try {
      this.db.transaction(() => {
        input.check?.();
        this.q.insertOrg.run(org.id, org.name, now);
        this.q.insertUser.run(user.id, user.email, user.name, user.passwordHash, now);
        this.q.insertMembership.run(user.id, org.id, 'owner', now);
        this.q.insertRefresh.run(refresh);
      })();
    } catch (err) {
      if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE' && /users\.email/.test((err as Error).message)) {
        throw new HttpError('conflict', 'an account with this email already exists');
      }
      throw err;
    }
    return { user: this.user(user.id)!, organization: this.organization(org.id)! };
  }

  setPasswordHash(userId: string, hash: string): void {
    this.q.setPassword.run(hash, userId);
  }

  refreshToken(id: string): RefreshRow | null {
    const r = this.q.refresh.get(id);
    return r ? toRefresh(r) : null;
  }

  insertRefresh(row: Omit<RefreshRow, 'rotatedAt' | 'revokedAt' | 'revokeReason'>): void {
    this.q.insertRefresh.run(row);
  }

  /**
   * Mark `oldId` rotated and insert its successor, atomically.
   * @returns false (and writes nothing) when `oldId` was already rotated or revoked.
   */
  rotate(oldId: string, next: Omit<RefreshRow, 'rotatedAt' | 'revokedAt' | 'revokeReason'>, now: number): boolean {
    return this.db.transaction(() => {
      if (this.q.rotate.run(now, oldId).changes !== 1) return false;
      this.q.insertRefresh.run(next);
      return true;
    })();
  }

  /** Revoke every live token of a family. @returns the number of rows revoked. */
  revokeFamily(familyId: string, reason: string, now = Date.now()): number {
    return this.q.revokeFamily.run(now, reason, familyId).changes;
  }

  /** True when the family (login session) was revoked (logout or re-use). */
  familyRevoked(familyId: string): boolean {
    return this.q.familyRevoked.get(familyId) !== undefined;
  }

  /** Delete refresh rows that expired before `before` (Unix ms). @returns rows deleted. */
  pruneExpired(before: number): number {
    return this.q.prune.run(before).changes;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Login throttling

/**
 * Sliding-window counter of failures per key (e-mail or IP), in memory. At most `maxKeys` keys are kept;
 * beyond that, expired keys and then the oldest keys are dropped.
 */
export class FailureLimiter {
  private readonly hits = new Map<string, number[]>();

  /**
   * @param limit failures allowed within the window.
   * @param windowMs window length, ms.
   */
  constructor(readonly limit: number, readonly windowMs: number, private readonly maxKeys = 100_000) {}

  /** Milliseconds until the next attempt is allowed; 0 when it is allowed now. */
  retryAfterMs(key: string, now = Date.now()): number {
    const h = this.live(key, now);
    if (h.length < this.limit) return 0;
    return Math.max(1, h[h.length - this.limit]! + this.windowMs - now);
  }

  /** Count one attempt at `now` (counted before the password check so that parallel guesses are capped). */
  hit(key: string, now = Date.now()): void {
    const h = this.live(key, now);
    h.push(now);
    if (h.length > this.limit) h.splice(0, h.length - this.limit);
    this.hits.delete(key);
    this.hits.set(key, h);
    if (this.hits.size > this.maxKeys) this.evict(now);
  }

  /** Take back one attempt counted at `at` (a successful login). */
  release(key: string, at: number): void {
    const h = this.hits.get(key);
    if (!h) return;
    const i = h.lastIndexOf(at);
    if (i >= 0) h.splice(i, 1);
    if (h.length === 0) this.hits.delete(key);
  }

  clear(key: string): void {
    this.hits.delete(key);
  }

  private live(key: string, now: number): number[] {
    const h = this.hits.get(key);
    if (!h) return [];
    const from = now - this.windowMs;
    let i = 0;
    while (i < h.length && h[i]! <= from) i++;
    if (i > 0) h.splice(0, i);
    if (h.length === 0) this.hits.delete(key);
    return h;
  }

  private evict(now: number): void {
    for (const key of [...this.hits.keys()]) this.live(key, now);
    const excess = this.hits.size - Math.floor(this.maxKeys * 0.9);
    if (excess <= 0) return;
    let n = 0;
    for (const key of this.hits.keys()) {
      if (n++ >= excess) break;
      this.hits.delete(key);
    }
  }
}

/** Login throttling limits (PROTOCOL.md §1: 429 rate limited). */
export interface LoginLimits {
  perEmail: number;
  perIp: number;
  windowMs: number;
}

export const DEFAULT_LOGIN_LIMITS: Readonly<LoginLimits> = Object.freeze({ perEmail: 5, perIp: 20, windowMs: 15 * 60_000 });

/** Who may register and how long invitations last (REGISTRATION, INVITATION_TTL_HOURS). */
export interface AccountPolicy {
  registration: RegistrationMode;
  /** Lifetime of an invitation, ms. */
  invitationTtlMs: number;
}

export const DEFAULT_ACCOUNT_POLICY: Readonly<AccountPolicy> = Object.freeze({ registration: 'first', invitationTtlMs: 72 * 3_600_000 });

/** The HttpError of a refusal of src/auth/authorization.ts. */
export function deny(d: Denial): HttpError {
  return new HttpError(d.code, d.message);
}

// ---------------------------------------------------------------------------------------------------------
// Service

const INVALID_LOGIN = 'invalid email or password';
const INVALID_REFRESH = 'invalid or expired refresh token';

/** The account flows of /auth/*. Methods throw HttpError with PROTOCOL.md codes for every refusal. */
export class AccountService {
  private readonly byEmail: FailureLimiter;
  private readonly byIp: FailureLimiter;
  /** Told of every login session revoked (logout, re-use, lost membership), after the write. */
  onRevoked: (familyId: string, reason: string) => void = () => {};
  /** Told after a membership's role changed or the membership was removed. */
  onMembershipChanged: (userId: string, orgId: string) => void = () => {};

  constructor(
    readonly store: AccountStore,
    readonly tokens: TokenService,
    private readonly log: Logger,
    limits: LoginLimits = DEFAULT_LOGIN_LIMITS,
    private readonly policy: AccountPolicy = DEFAULT_ACCOUNT_POLICY,
  ) {
    this.byEmail = new FailureLimiter(limits.perEmail, limits.windowMs);
    this.byIp = new FailureLimiter(limits.perIp, limits.windowMs);
  }

  /**
   * POST /auth/register: a new organization with the new user as its owner, and a first login session.
   * @throws HttpError 403 when REGISTRATION does not allow it now (authorization.ts `mayRegister`), 409 when the
   *   e-mail is taken.
   */
  async register(input: RegisterInput): Promise<{ user: User; organization: Organization } & TokenPair> {
    const check = () => {
      const denial = mayRegister(this.policy.registration, this.store.hasUsers());
      if (denial) throw deny(denial);
    };
    check();
    if (this.store.userByEmail(input.email)) throw new HttpError('conflict', 'an account with this email already exists');
    const passwordHash = await hashPassword(input.password);
    const userId = newId('usr');
    const orgId = newId('org');
    const familyId = newTokenId();
    const issued = await this.issue({ userId, orgId, role: 'owner', familyId });
    const created = this.store.createAccount({
      user: { id: userId, email: input.email, name: input.name, passwordHash },
      org: { id: orgId, name: input.organization },
      refresh: issued.row,
      now: issued.row.issuedAt,
      // Two registrations racing on a fresh server with REGISTRATION=first: only one finds no account here.
      check,
    });
    this.log.info({ userId, orgId }, 'account registered');
    return { ...created, ...issued.pair };
  }

  /**
   * POST /auth/login. Unknown e-mail and wrong password get the same 401 after the same scrypt work.
   * @param ip client address, for throttling.
   * @throws HttpError 429 (with Retry-After) when throttled, 401 for bad credentials, 403 when
   *   `organizationId` names an organization the user is not a member of.
   */
  async login(input: LoginInput, ip: string): Promise<TokenPair> {
    const user = this.store.userByEmail(input.email);
    if (!(await this.checkPassword(input.email, input.password, user?.passwordHash ?? null, ip)) || !user) {
      throw new HttpError('unauthorized', INVALID_LOGIN);
    }
    const membership = input.organizationId ? this.store.membership(user.id, input.organizationId) : this.store.firstMembership(user.id);
    if (!membership) throw new HttpError('forbidden', input.organizationId ? 'not a member of that organization' : 'this account belongs to no organization');
    if (needsRehash(user.passwordHash)) {
      hashPassword(input.password).then((h) => this.store.setPasswordHash(user.id, h), (err: unknown) => this.log.error({ err }, 'password re-hash failed'));
    }
    const issued = await this.issue({ userId: user.id, orgId: membership.orgId, role: membership.role, familyId: newTokenId() });
    this.store.insertRefresh(issued.row);
    return issued.pair;
  }

  /**
   * POST /auth/refresh: rotate. The presented token dies; presenting it again revokes its whole family.
   * @throws HttpError 401 for an invalid, expired, rotated (re-used) or revoked token, or when the user lost
   *   the membership the session was for.
   */
  async refresh(token: string): Promise<TokenPair> {
    const row = await this.checkRefresh(token);
    if (row.revokedAt !== null) throw new HttpError('unauthorized', INVALID_REFRESH);
    if (row.rotatedAt !== null) this.reuse(row);
    const membership = this.store.membership(row.userId, row.orgId);
    if (!membership) {
      this.revoke(row.familyId, 'membership removed');
      throw new HttpError('unauthorized', INVALID_REFRESH);
    }
    const issued = await this.issue({ userId: row.userId, orgId: row.orgId, role: membership.role, familyId: row.familyId });
    // Between the checks above and this write another request may have rotated or revoked the same token
    // (the awaits yield); rotate() re-checks inside its transaction.
    if (!this.store.rotate(row.id, issued.row, issued.row.issuedAt)) {
      const now = this.store.refreshToken(row.id);
      if (now && now.revokedAt === null) this.reuse(now);
      throw new HttpError('unauthorized', INVALID_REFRESH);
    }
    return issued.pair;
  }

  /**
   * POST /auth/logout: revoke the family (login session) of a refresh token; idempotent.
   * @throws HttpError 401 when the token is not a valid refresh token of this server.
   */
  async logout(token: string): Promise<void> {
    const row = await this.checkRefresh(token);
    this.revoke(row.familyId, 'logout');
  }

  /** Revoke a login session and tell `onRevoked`. @returns the number of refresh rows revoked. */
  private revoke(familyId: string, reason: string): number {
    const n = this.store.revokeFamily(familyId, reason);
    try { this.onRevoked(familyId, reason); } catch (err) { this.log.error({ err, familyId }, 'revocation listener failed'); }
    return n;
  }

  /**
   * POST /api/org/invitations: invite `input.email` into the principal's organization with `input.role`.
   * @returns the invitation and its token (shown this once; only its SHA-256 is stored).
   * @throws HttpError 401/403 (authorization.ts `mayInvite`), 409 when the address is already a member.
   */
  invite(principal: Principal, input: InviteInput, now = Date.now()): { invitation: Invitation; token: string } {
    const denial = mayInvite(principal, input.role);
    if (denial) throw deny(denial);
    const orgId = principal.orgId!;
    const existing = this.store.userByEmail(input.email);
    if (existing && this.store.membership(existing.id, orgId)) throw new HttpError('conflict', 'email: this address is already a member of the organization');
    const token = randomBytes(32).toString('base64url');
    const invitation = this.store.insertInvitation({
      id: newId('inv'), orgId, email: input.email, role: input.role, tokenHash: tokenHash(token), invitedBy: principal.userId!,
      createdAt: now, expiresAt: now + this.policy.invitationTtlMs,
    });
    this.log.info({ orgId, invitationId: invitation.id, role: input.role, by: principal.userId }, 'invitation made');
    return { invitation, token };
  }

  /**
   * GET /api/org/invitations: the principal's organization's invitations still usable.
   * @throws HttpError 401/403 as invite.
   */
  invitations(principal: Principal, now = Date.now()): Invitation[] {
    const denial = mayInvite(principal);
    if (denial) throw deny(denial);
    return this.store.pendingInvitations(principal.orgId!, now);
  }

  /**
   * DELETE /api/org/invitations/:invitationId: withdraw an invitation not used yet.
   * @throws HttpError 401/403 as invite; 404 for an unknown id or another organization's invitation; 409 when
   *   it was used or withdrawn already.
   */
  withdrawInvitation(principal: Principal, invitationId: string, now = Date.now()): void {
    const denial = mayInvite(principal);
    if (denial) throw deny(denial);
    const inv = this.store.invitation(invitationId);
    if (!inv || inv.organizationId !== principal.orgId) throw new HttpError('not_found', `invitationId: no invitation ${JSON.stringify(invitationId.slice(0, 64))} in this organization`);
    // Withdrawing takes the right to make that invitation (an admin neither invites nor withdraws an owner).
    const mayWithdraw = mayInvite(principal, inv.role);
    if (mayWithdraw) throw deny(mayWithdraw);
    if (!this.store.revokeInvitation(inv.id, now)) throw new HttpError('conflict', 'invitationId: this invitation was already used or withdrawn');
  }

  /**
   * POST /auth/invitations/accept: use an invitation. For an address without an account, `name` and `password`
   * make it; for one with an account, that account proves itself with its `password` (throttled as login) or
   * with one of its access tokens (`bearer`), and gains the membership. Works whatever REGISTRATION says.
   * @param bearer the principal of the request's access token, if it carried one.
   * @param ip client address, for throttling password proofs.
   * @returns the account, the organization, the role and a login session in that organization; `created` tells
   *   whether the account is new.
   * @throws HttpError 404 unknown token; 400 used, withdrawn or expired token, or a missing/short name or
   *   password for a new account; 401 no or wrong proof for an existing account; 403 a token of another
   *   account; 409 already a member; 429 too many wrong passwords.
   */
  async acceptInvitation(input: AcceptInput, bearer: Principal | null, ip: string): Promise<{ user: User; organization: Organization; role: Role; created: boolean } & TokenPair> {
    const inv = this.store.invitationByTokenHash(tokenHash(input.token));
    if (!inv) throw new HttpError('not_found', 'token: no such invitation');
    const bearerUser = bearer?.kind === 'user' && bearer.userId ? this.store.user(bearer.userId) : null;
    const refusal = mayAcceptInvitation(inv, bearerUser, Date.now());
    if (refusal) throw deny(refusal);
    const existing = this.store.userByEmail(inv.email);
    let newUser: { email: string; name: string; passwordHash: string } | null = null;
    let userId: string;
    if (existing) {
      if (!bearerUser) await this.provePassword(existing, input.password, ip);
      userId = existing.id;
    } else {
      if (input.name === undefined) throw new HttpError('bad_request', 'name: is required for a new account');
      if (input.password === undefined) throw new HttpError('bad_request', 'password: is required for a new account');
      const pw = password.safeParse(input.password);
      if (!pw.success) throw new HttpError('bad_request', `password: ${pw.error.issues[0]!.message}`);
      newUser = { email: inv.email, name: input.name, passwordHash: await hashPassword(pw.data) };
      userId = newId('usr');
    }
    const issued = await this.issue({ userId, orgId: inv.organizationId, role: inv.role, familyId: newTokenId() });
    const now = issued.row.issuedAt;
    if (!this.store.acceptInvitation({ invitation: inv, userId, newUser, refresh: issued.row, now })) {
      // Used, withdrawn or expired while the password was hashed or checked.
      throw deny(mayAcceptInvitation(this.store.invitation(inv.id)!, null, now) ?? { code: 'bad_request', message: 'token: this invitation can no longer be used' });
    }
    this.log.info({ orgId: inv.organizationId, userId, invitationId: inv.id, created: newUser !== null }, 'invitation accepted');
    return { user: this.store.user(userId)!, organization: this.store.organization(inv.organizationId)!, role: inv.role, created: newUser !== null, ...issued.pair };
  }

  /** An existing account's password proof on accept: the login's check (`checkPassword`). */
  private async provePassword(user: User & { passwordHash: string }, given: string | undefined, ip: string): Promise<void> {
    if (given === undefined) {
      throw new HttpError('unauthorized', 'password: this address has an account: send its password, or its access token as Authorization: Bearer');
    }
    if (!(await this.checkPassword(user.email, given, user.passwordHash, ip))) throw new HttpError('unauthorized', 'password: wrong password for the invited account');
  }

  /**
   * The one password check (POST /auth/login, accepting an invitation into an existing account): throttled per
   * e-mail and per client address, a wrong password logged as a failed login, the throttles released on success.
   * @param hash the account's password hash, or null for an unknown e-mail: a dummy hash is checked instead, so
   *   an unknown e-mail takes the same scrypt work as a known one (the dummy is awaited on both paths, so even
   *   the first check, which makes it, takes as long).
   * @returns whether the password matches an existing account's hash.
   * @throws HttpError 429 with Retry-After when the e-mail or the address is throttled.
   */
  private async checkPassword(email: string, given: string, hash: string | null, ip: string): Promise<boolean> {
    const now = Date.now();
    const wait = Math.max(this.byEmail.retryAfterMs(email, now), this.byIp.retryAfterMs(ip, now));
    if (wait > 0) {
      const sec = Math.ceil(wait / 1000);
      throw new HttpError('rate_limited', `too many failed logins; retry in ${sec} s`, { 'Retry-After': String(sec) });
    }
    this.byEmail.hit(email, now);
    this.byIp.hit(ip, now);
    const dummy = await dummyHash();
    if (!(await verifyPassword(given, hash ?? dummy)) || hash === null) {
      this.log.info({ ip }, 'failed login');
      return false;
    }
    this.byEmail.clear(email);
    this.byIp.release(ip, now);
    return true;
  }

  /**
   * GET /api/org/members: the principal's organization's members.
   * @throws HttpError 401 for a principal that is not a member (authorization.ts `mayListMembers`).
   */
  members(principal: Principal): Member[] {
    const denial = mayListMembers(principal);
    if (denial) throw deny(denial);
    return this.store.members(principal.orgId!);
  }

  /**
   * DELETE /api/org/members/:userId: remove a member of the principal's organization, revoke that member's login
   * sessions of the organization and tell `onRevoked` and `onMembershipChanged` (their sockets close).
   * @throws HttpError 404 when the user is not a member of the principal's organization; 401/403 by
   *   authorization.ts `mayRemoveMember` (e.g. the last owner).
   */
  removeMember(principal: Principal, userId: string): void {
    const orgId = principal.orgId ?? '';
    const target = this.store.membership(userId, orgId);
    const denial = mayRemoveMember(principal, target, userId, this.store.ownerCount(orgId));
    if (denial) throw deny(denial);
    const families = this.store.liveFamilies(userId, orgId);
    this.store.deleteMembership(userId, orgId);
    this.log.info({ orgId, userId, by: principal.userId, sessions: families.length }, 'member removed');
    for (const familyId of families) this.revoke(familyId, 'membership removed');
    this.membershipChanged(userId, orgId);
  }

  /**
   * PATCH /api/org/members/:userId: give a member of the principal's organization another role; it counts at
   * once (the member's sockets are checked again: a lowered role leaves the rooms it no longer may be in).
   * @returns the member as listed.
   * @throws HttpError 404 / 401 / 403 by authorization.ts `mayChangeRole` (owners only; the last owner stays).
   */
  changeRole(principal: Principal, userId: string, role: Role): Member {
    const orgId = principal.orgId ?? '';
    const target = this.store.membership(userId, orgId);
    const denial = mayChangeRole(principal, target, userId, role, this.store.ownerCount(orgId));
    if (denial) throw deny(denial);
    this.store.setRole(userId, orgId, role);
    this.log.info({ orgId, userId, role, from: target!.role, by: principal.userId }, 'member role changed');
    this.membershipChanged(userId, orgId);
    return this.store.members(orgId).find((m) => m.userId === userId)!;
  }

  private membershipChanged(userId: string, orgId: string): void {
    try { this.onMembershipChanged(userId, orgId); } catch (err) { this.log.error({ err, userId }, 'membership listener failed'); }
  }

  /**
   * GET /auth/me for a user principal.
   * @throws HttpError 401 when the principal is not a user or its account is gone.
   */
  me(principal: Principal): { user: User; organization: Organization; role: Role } {
    if (principal.kind !== 'user' || !principal.userId || !principal.orgId) throw new HttpError('unauthorized', 'a user access token is required');
    const user = this.store.user(principal.userId);
    const organization = this.store.organization(principal.orgId);
    const membership = this.store.membership(principal.userId, principal.orgId);
    if (!user || !organization || !membership) throw new HttpError('unauthorized', 'the account no longer exists');
    return { user, organization, role: membership.role };
  }

  /**
   * Resolve an access token to a principal. The role is read from the membership now (not from the token),
   * and the token's login session must not be revoked.
   * Synchronous (HMAC and SQLite), so that a WebSocket upgrade can be decided inside its handler.
   * @throws TokenError when the token is not a valid access token; HttpError 401 when its account,
   *   membership or session is gone.
   */
  principalFor(token: string): Principal {
    const c = this.tokens.verifyAccess(token);
    const membership = this.store.membership(c.userId, c.orgId);
    if (!membership) throw new HttpError('unauthorized', 'the account has no access to this organization any more');
    if (this.store.familyRevoked(c.sessionId)) throw new HttpError('unauthorized', 'this session was signed out or revoked');
    const name = this.store.user(c.userId)?.name;
    return { kind: 'user', userId: c.userId, orgId: c.orgId, role: membership.role, sessionId: c.sessionId, expiresAt: c.exp * 1000, ...(name ? { name } : {}) };
  }

  /**
   * A principal as it stands now: a `user` principal with the role of its membership read again, or null when
   * the membership is gone or its login session was revoked; other principals unchanged. Synchronous (SQLite).
   */
  current(principal: Principal): Principal | null {
    if (principal.kind !== 'user' || !principal.userId || !principal.orgId) return principal;
    const membership = this.store.membership(principal.userId, principal.orgId);
    if (!membership || (principal.sessionId && this.store.familyRevoked(principal.sessionId))) return null;
    return membership.role === principal.role ? principal : { ...principal, role: membership.role };
  }

  /** Delete refresh rows expired for longer than the access token lifetime. @returns rows deleted. */
  prune(now = Date.now()): number {
    return this.store.pruneExpired(now - this.tokens.accessTtlSec * 1000);
  }

  private async checkRefresh(token: string): Promise<RefreshRow> {
    let claims;
    try {
      claims = this.tokens.verifyRefresh(token);
    } catch (err) {
      if (err instanceof TokenError) throw new HttpError('unauthorized', INVALID_REFRESH);
      throw err;
    }
    const row = this.store.refreshToken(claims.jti);
    if (!row || row.tokenHash !== tokenHash(token) || row.familyId !== claims.familyId || row.userId !== claims.userId) {
      throw new HttpError('unauthorized', INVALID_REFRESH);
    }
    return row;
  }

  private reuse(row: RefreshRow): never {
    const n = this.revoke(row.familyId, 'reuse');
    this.log.warn({ userId: row.userId, familyId: row.familyId, revoked: n }, 'rotated refresh token re-used: session revoked');
    throw new HttpError('unauthorized', 'refresh token was already used; this session is revoked');
  }

  private async issue(c: { userId: string; orgId: string; role: Role; familyId: string }): Promise<{ pair: TokenPair; row: Omit<RefreshRow, 'rotatedAt' | 'revokedAt' | 'revokeReason'> }> {
    const nowMs = Date.now();
    const nowSec = Math.floor(nowMs / 1000);
    const jti = newTokenId();
    const [accessToken, refreshToken] = await Promise.all([
      this.tokens.signAccess({ userId: c.userId, orgId: c.orgId, role: c.role, sessionId: c.familyId }, nowSec),
      this.tokens.signRefresh({ jti, familyId: c.familyId, userId: c.userId, orgId: c.orgId }, nowSec),
    ]);
    return {
      pair: { accessToken, refreshToken, expiresInSec: this.tokens.accessTtlSec },
      row: {
        id: jti, familyId: c.familyId, userId: c.userId, orgId: c.orgId, tokenHash: tokenHash(refreshToken),
        issuedAt: nowMs, expiresAt: (nowSec + this.tokens.refreshTtlSec) * 1000,
      },
    };
  }
}
