/**
 * Who may do what: every authorization decision of meetcore, in one module (README "Who may do what").
 * The functions are pure: they take the principal (src/auth resolves it from a token) and the resource as the
 * caller read it, and answer. Areas call them and never test roles, organizations or room names themselves.
 *
 * Principals: anonymous (null; only when REQUIRE_AUTH=false or on routes open by design), a meetcore access
 * token (`kind: 'user'`: user, organization, role owner/admin/member, login session, expiry), a LiveKit access
 * token of one room (`kind: 'livekit'`: identity, room, metadata roles, expiry). LiveKit itself (webhook
 * signature) and LiveKit egress (signed URL) are checked where they arrive and act for the server.
 *
 * Rooms and organizations: a LiveKit room name issued to a signed-in member is namespaced with the member's
 * organization id, `<orgId>:<name>` (e.g. `org_3kT…:standup`), so two organizations asking for "standup" get two
 * different LiveKit rooms and a meeting's organization is read from its room name when the meeting is created
 * (never from who asked last). Names without such a prefix belong to no organization: the single-tenant case.
 * Meetings of no organization are the operator's: readable, writable and hostable by the roles
 * UNSCOPED_MEETINGS_ROLES of the organization UNSCOPED_MEETINGS_ORG (by default the owners and admins of the first
 * organization made on the server), set once at start with `setUnscopedMeetingsPolicy`; not by every account.
 *
 * Accounts and organizations: who may register (REGISTRATION), invite, list, remove members and change roles.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { bearerToken } from '../http/bearer.js';
import type { Principal } from '../http/router.js';
import type { Role } from './tokens.js';

/** Role that makes a LiveKit participant a host (LiveKit metadata `{"roles":["host"]}`). */
export const HOST_ROLE = 'host';

/** `org_` + 16 base64url characters: the form of organization ids (src/auth/accounts.ts `newId('org')`). */
const ORG_PREFIX = /^(org_[A-Za-z0-9_-]{16}):/;

/** The signaling room where a meeting's hosts receive its feedback and prosody events. */
export const feedbackRoom = (meetingId: string): string => `feedback:${meetingId}`;

/** The meetingId of a `feedback:<meetingId>` room, or null for any other room. */
export function meetingOfFeedbackRoom(roomId: string): string | null {
  return roomId.startsWith('feedback:') ? roomId.slice('feedback:'.length) : null;
}

/** True when participant metadata roles make a host (LiveKit metadata `{"roles":["host"]}`). */
export const isHostRole = (roles: readonly string[] | undefined): boolean => roles?.includes(HOST_ROLE) ?? false;

/** A refusal: the error code (PROTOCOL.md §1/§2 codes) and a message for the client. */
export interface Denial {
  code: 'unauthorized' | 'forbidden' | 'not_found' | 'bad_request';
  message: string;
}

/** The meeting fields a decision reads. */
export interface MeetingRef {
  meetingId: string;
  roomName: string;
  orgId: string | null;
}

/**
 * The organization a LiveKit room name belongs to: the id before `:` when the name is namespaced, else null.
 * Fixed by the name, so a meeting's organization cannot be changed by issuing tokens.
 */
export function orgOfRoomName(roomName: string): string | null {
  return ORG_PREFIX.exec(roomName)?.[1] ?? null;
}

/**
 * The LiveKit room name a principal gets when it asks for `requested` (POST /auth/token, POST /api/egress/url):
 * - a signed-in member: `<orgId>:<requested>` (unchanged when `requested` already carries its own prefix);
 * - anonymous (REQUIRE_AUTH=false): `requested` as is, but never a name in an organization's namespace.
 * @returns the name, or a Denial (403) for a name in another organization's namespace.
 */
export function livekitRoomName(principal: Principal | null | undefined, requested: string): string | Denial {
  const org = orgOfRoomName(requested);
  if (principal?.kind === 'user' && principal.orgId) {
    const name = org === principal.orgId ? requested : `${principal.orgId}:${requested}`;
    // An organization id of another form would give a name of no organization: refuse rather than share it.
    if (orgOfRoomName(name) !== principal.orgId) return { code: 'forbidden', message: 'this organization cannot be given namespaced room names' };
    return name;
  }
  if (org !== null) return { code: 'forbidden', message: `roomName: ${org} rooms are issued to members of that organization only` };
  return requested;
}

/** True for an access token of an owner or admin of its organization. */
export function isOrgAdmin(principal: Principal | null | undefined): boolean {
  return principal?.kind === 'user' && (principal.role === 'owner' || principal.role === 'admin');
}

/** True when the principal's token has expired (`expiresAt`, Unix ms). A principal without expiry never does. */
export function isExpired(principal: Principal, nowMs = Date.now()): boolean {
  return principal.expiresAt !== undefined && principal.expiresAt <= nowMs;
}

/**
 * May the principal ask for a LiveKit token whose metadata roles are `roles` (POST /auth/token; the room name
 * is already namespaced by `livekitRoomName`)? Host tokens: anonymous callers only on an open server (single
 * tenant), members only as owner/admin.
 */
export function mayIssueLivekitToken(principal: Principal | null | undefined, roles: readonly string[]): Denial | null {
  if (!isHostRole(roles) || !principal) return null;
  if (isOrgAdmin(principal)) return null;
  return { code: 'forbidden', message: 'metadata.roles: only an owner or an admin may issue host tokens' };
}

/**
 * The operator's rule for meetings of no organization (README "Who may do what"): the roles `roles` of the
 * organization `orgId()` read and write them, and those of them who are owners or admins host them.
 */
export interface UnscopedMeetingsPolicy {
  /** The organization id (read at every decision: `first` resolves once the first organization exists), or null for none. */
  orgId: () => string | null;
  roles: readonly Role[];
}

let unscoped: UnscopedMeetingsPolicy = { orgId: () => null, roles: [] };

/**
 * Install the rule for meetings of no organization (src/auth does, from UNSCOPED_MEETINGS_ORG and
 * UNSCOPED_MEETINGS_ROLES). Until then no signed-in principal reads them (anonymous callers on open routes do).
 */
export function setUnscopedMeetingsPolicy(policy: UnscopedMeetingsPolicy): void {
  unscoped = policy;
}

/** True for an access token whose organization and role the unscoped-meetings rule names. */
function readsUnscoped(principal: Principal): boolean {
  if (principal.kind !== 'user' || !principal.orgId || !principal.role) return false;
  const org = unscoped.orgId();
  return org !== null && principal.orgId === org && unscoped.roles.includes(principal.role);
}

/**
 * The meetings GET /api/sessions lists to a principal: null = all (no authenticator, or anonymous on an open
 * route); else those of `orgId` (null: of no organization, so none by that rule: a LiveKit token lists nothing)
 * and, when `unscoped`, those of no organization.
 */
export function readableMeetings(principal: Principal | null | undefined): { orgId: string | null; unscoped: boolean } | null {
  if (!principal) return null;
  if (principal.kind !== 'user') return { orgId: null, unscoped: false };
  return { orgId: principal.orgId ?? null, unscoped: readsUnscoped(principal) };
}

/**
 * May the principal read a meeting (sessions, recordings, feedback routes, reports)? A meeting of an organization:
 * its members. A meeting of no organization: the roles of the organization the unscoped-meetings rule names
 * (`setUnscopedMeetingsPolicy`), not every account. A LiveKit token: the meeting of its own room. Without an
 * authenticator installed (principal null on an open route) everything is readable.
 */
export function mayReadMeeting(principal: Principal | null | undefined, meeting: Pick<MeetingRef, 'orgId' | 'roomName'>): boolean {
  if (!principal) return true;
  if (principal.kind === 'livekit') return principal.room === meeting.roomName;
  if (meeting.orgId === null) return readsUnscoped(principal);
  return meeting.orgId === principal.orgId;
}

/**
 * May the principal receive a meeting's host feedback (join `feedback:<meetingId>`)? The meeting must exist;
 * then: a LiveKit token of the meeting's own room with the host role, or an access token of an owner/admin of
 * the meeting's organization (for a meeting of no organization: an owner/admin the unscoped-meetings rule names).
 * Expired tokens never.
 * @param meeting the meeting as read now, or null when unknown.
 */
export function mayHostMeeting(principal: Principal | null | undefined, meeting: MeetingRef | null, meetingId: string, nowMs = Date.now()): Denial | null {
  if (!principal) return { code: 'unauthorized', message: 'joining a feedback room needs a host token (?token=)' };
  if (isExpired(principal, nowMs)) return { code: 'unauthorized', message: 'the token has expired' };
  if (!meeting) return { code: 'not_found', message: `no meeting ${JSON.stringify(meetingId.slice(0, 128))} (yet): join again once it has started` };
  if (principal.kind === 'livekit') {
    // The organization check also covers meetings whose organization did not come from their room name.
    if (principal.room !== meeting.roomName || orgOfRoomName(principal.room) !== meeting.orgId) return { code: 'forbidden', message: 'the token is for another room' };
    if (!isHostRole(principal.roles)) return { code: 'forbidden', message: 'only a host of the meeting receives its feedback' };
    return null;
  }
  if (isOrgAdmin(principal) && (meeting.orgId === null ? readsUnscoped(principal) : meeting.orgId === principal.orgId)) return null;
  if (meeting.orgId === null) return { code: 'forbidden', message: 'only the owners and admins the operator names (UNSCOPED_MEETINGS_ORG) receive the feedback of a meeting of no organization' };
  return { code: 'forbidden', message: "only an owner or admin of the meeting's organization receives its feedback" };
}

/**
 * May the principal send audio or video into a meeting (POST /api/egress/url)? Signed-in users only; an
 * existing meeting must be one they may read (their organization's, or one of no organization when the
 * unscoped-meetings rule names them).
 */
export function mayWriteMeeting(principal: Principal | null | undefined, meeting: Pick<MeetingRef, 'orgId' | 'roomName'>): boolean {
  return principal?.kind === 'user' && mayReadMeeting(principal, meeting);
}

/**
 * May the principal join a signaling room (`join-room`)? `feedback:<meetingId>`: `mayHostMeeting`. A room
 * named in an organization's namespace (`<orgId>:…`): members of that organization, or a LiveKit token of
 * exactly that room. Any other room is open to every socket (with REQUIRE_AUTH=true every socket has a token).
 * @param meeting looks a meeting up by id (the store as it is now).
 */
export function mayJoinRoom(principal: Principal | null | undefined, roomId: string, meeting: (meetingId: string) => MeetingRef | null, nowMs = Date.now()): Denial | null {
  const meetingId = meetingOfFeedbackRoom(roomId);
  if (meetingId !== null) return mayHostMeeting(principal, meeting(meetingId), meetingId, nowMs);
  const org = orgOfRoomName(roomId);
  if (org === null) return null;
  if (!principal) return { code: 'unauthorized', message: `room ${roomId} belongs to an organization: connect with a token (?token=)` };
  if (principal.kind === 'user' ? principal.orgId === org : principal.room === roomId) return null;
  return { code: 'forbidden', message: `room ${roomId} belongs to another organization` };
}

/**
 * May the principal see a signaling room or a call in the server's live statistics (GET /api/stats,
 * GET /api/admin/calls/stats)? The rooms it could join, and feedback rooms of meetings it may read.
 */
export function maySeeRoom(principal: Principal | null | undefined, roomId: string, meeting: (meetingId: string) => MeetingRef | null): boolean {
  const meetingId = meetingOfFeedbackRoom(roomId);
  if (meetingId !== null) {
    const m = meeting(meetingId);
    return m !== null && mayReadMeeting(principal, m);
  }
  const org = orgOfRoomName(roomId);
  return !principal || org === null || (principal.kind === 'user' && principal.orgId === org);
}

/**
 * The user id a socket may bind with `user:join` (calls are addressed to it). With a token, only the token's
 * own: an access token's user id, a LiveKit token's identity. Anonymous sockets (REQUIRE_AUTH=false) bind any.
 * @returns the id to bind (its string form), or a Denial (403).
 */
export function bindableUserId(principal: Principal | null | undefined, requested: string | number): string | Denial {
  // Ids may come as numbers (`user:join 123`): compared, and bound, as strings.
  const id = String(requested);
  const own = ownUserId(principal);
  if (own === null || own === id) return id;
  return { code: 'forbidden', message: 'userId differs from the token' };
}

/** The user id a token stands for (access token: its user; LiveKit token: its identity), or null. */
export function ownUserId(principal: Principal | null | undefined): string | null {
  if (!principal) return null;
  return (principal.kind === 'user' ? principal.userId : principal.identity) ?? null;
}

// ---------------------------------------------------------------------------------------------------------
// Accounts and organizations

/** REGISTRATION: `first` (only while the server has no account), `open` (anyone), `closed` (nobody). */
export type RegistrationMode = 'first' | 'open' | 'closed';

/**
 * May anyone register a new account (and organization) now (POST /auth/register)? Accepting an invitation is
 * not registering: it works whatever the mode.
 * @param accountsExist whether the server has at least one account.
 */
export function mayRegister(mode: RegistrationMode, accountsExist: boolean): Denial | null {
  if (mode === 'open' || (mode === 'first' && !accountsExist)) return null;
  const why = mode === 'first' ? 'this server already has its first account (REGISTRATION=first)' : 'REGISTRATION=closed';
  return { code: 'forbidden', message: `registration is closed: ${why}; ask an owner or admin of an organization for an invitation` };
}

/** One membership as a decision reads it. */
export interface MemberRef {
  userId: string;
  orgId: string;
  role: Role;
}

/** May the principal list its organization's members (GET /api/org/members)? Any member, its own organization only. */
export function mayListMembers(principal: Principal | null | undefined): Denial | null {
  if (principal?.kind !== 'user' || !principal.orgId) return { code: 'unauthorized', message: 'a bearer access token is required' };
  return null;
}

/**
 * May the principal invite someone into its organization with `role` (POST /api/org/invitations), or list and
 * withdraw its invitations (`role` omitted to list; withdrawing one passes its role)? Owners: any role. Admins: `admin` or `member` (admins cannot make
 * owners). Members: never.
 */
export function mayInvite(principal: Principal | null | undefined, role?: Role): Denial | null {
  const listed = mayListMembers(principal);
  if (listed) return listed;
  if (!isOrgAdmin(principal)) return { code: 'forbidden', message: 'only an owner or an admin may invite members' };
  if (role === 'owner' && principal!.role !== 'owner') return { code: 'forbidden', message: 'role: only an owner may invite an owner' };
  return null;
}

/**
 * May the principal remove `target` from the principal's organization (DELETE /api/org/members/:userId)?
 * Anyone may leave (remove themselves); owners remove anyone; admins remove admins and members, not owners.
 * The last owner is never removed.
 * @param target the membership in the principal's organization, or null when the user is not a member of it
 *   (another organization's member is answered as an unknown one: 404).
 * @param owners the number of owners of the organization now.
 */
export function mayRemoveMember(principal: Principal | null | undefined, target: MemberRef | null, userId: string, owners: number): Denial | null {
  const listed = mayListMembers(principal);
  if (listed) return listed;
  if (!target || target.orgId !== principal!.orgId) return { code: 'not_found', message: `userId: no member ${JSON.stringify(userId.slice(0, 64))} in this organization` };
  const self = target.userId === principal!.userId;
  if (!self && !isOrgAdmin(principal)) return { code: 'forbidden', message: 'only an owner or an admin may remove members' };
  if (!self && target.role === 'owner' && principal!.role !== 'owner') return { code: 'forbidden', message: 'only an owner may remove an owner' };
  if (target.role === 'owner' && owners <= 1) return { code: 'forbidden', message: 'the last owner cannot be removed: make another member owner first' };
  return null;
}

/**
 * May the principal give `target` the role `role` (PATCH /api/org/members/:userId)? Owners only (admins
 * cannot make owners nor change roles); the last owner cannot be demoted.
 * @param target as for mayRemoveMember.
 * @param owners the number of owners of the organization now.
 */
export function mayChangeRole(principal: Principal | null | undefined, target: MemberRef | null, userId: string, role: Role, owners: number): Denial | null {
  const listed = mayListMembers(principal);
  if (listed) return listed;
  if (!target || target.orgId !== principal!.orgId) return { code: 'not_found', message: `userId: no member ${JSON.stringify(userId.slice(0, 64))} in this organization` };
  if (principal!.role !== 'owner') return { code: 'forbidden', message: 'only an owner may change roles' };
  if (target.role === 'owner' && role !== 'owner' && owners <= 1) return { code: 'forbidden', message: 'role: the last owner cannot be demoted: make another member owner first' };
  return null;
}

/** An invitation as a decision reads it. Times are Unix ms. */
export interface InvitationRef {
  email: string;
  expiresAt: number;
  acceptedAt: number | null;
  revokedAt: number | null;
}

/**
 * May this invitation be accepted now (POST /auth/invitations/accept)? Once, before it expires, unless
 * withdrawn; by a new account, or by the existing account of the invited e-mail address only.
 * @param claimant the existing account that proved itself (password or access token), or null for a new account.
 */
export function mayAcceptInvitation(invitation: InvitationRef, claimant: { email: string } | null, nowMs = Date.now()): Denial | null {
  if (invitation.acceptedAt !== null) return { code: 'bad_request', message: 'token: this invitation was already used' };
  if (invitation.revokedAt !== null) return { code: 'bad_request', message: 'token: this invitation was withdrawn' };
  if (invitation.expiresAt <= nowMs) return { code: 'bad_request', message: 'token: this invitation has expired; ask for a new one' };
  if (claimant && claimant.email !== invitation.email) return { code: 'forbidden', message: 'this invitation is for another e-mail address' };
  return null;
}

/** True for an access token of user `userId` in organization `orgId` (whose sockets a membership change concerns). */
export function isMembershipOf(principal: Principal | null | undefined, userId: string, orgId: string): boolean {
  return principal?.kind === 'user' && principal.userId === userId && principal.orgId === orgId;
}

/** True when a value returned by this module is a refusal. */
export function isDenial(v: unknown): v is Denial {
  return typeof v === 'object' && v !== null && 'code' in v && 'message' in v;
}

/** Request headers a reverse proxy adds to say whom it forwards for (RFC 7239 `Forwarded`, and the de-facto ones). */
export const FORWARDING_HEADERS = ['forwarded', 'x-forwarded-for', 'x-real-ip'] as const;

/** True for 127.0.0.0/8 and ::1 (also in their IPv4-mapped or long IPv6 text forms). */
export function isLoopback(ip: string): boolean {
  const v = ip.toLowerCase();
  return v.startsWith('127.') || v.startsWith('::ffff:127.') || v === '::1' || v === '0000:0000:0000:0000:0000:0000:0000:0001'
    || v.startsWith('0000:0000:0000:0000:0000:ffff:7f');
}

/** What a `/metrics` decision reads of the request. */
export interface ScrapeRequest {
  /** The socket's remote address (text form). */
  ip: string;
  /** Request headers, lower-case names. */
  headers: Record<string, string | undefined>;
}

/** The `/metrics` settings: METRICS_LOCAL_ONLY and METRICS_TOKEN (undefined when unset). */
export interface MetricsPolicy {
  localOnly: boolean;
  token: string | undefined;
}

/**
 * May this request read `/metrics` (Prometheus text)? Both settings apply when both are set:
 * - `localOnly`: only a direct connection from a loopback address. A request carrying a forwarding header
 *   (`Forwarded`, `X-Forwarded-For`, `X-Real-IP`) came through a reverse proxy, which may run on this host and
 *   connect from 127.0.0.1 for anyone on the internet: refused whatever its address.
 * - `token`: `Authorization: Bearer <token>` (RFC 6750 §2.1; Prometheus `authorization: {credentials_file}`),
 *   compared in constant time.
 * @returns null when allowed; else a Denial: `forbidden` (not a direct loopback connection) or `unauthorized`
 *   (token missing or wrong; answer with `WWW-Authenticate: Bearer`).
 */
export function mayScrapeMetrics(req: ScrapeRequest, policy: MetricsPolicy): Denial | null {
  if (policy.localOnly) {
    const via = FORWARDING_HEADERS.find((h) => req.headers[h] !== undefined);
    if (via) return { code: 'forbidden', message: `metrics are served to direct loopback connections only (this request was forwarded by a proxy: ${via})` };
    if (!isLoopback(req.ip)) return { code: 'forbidden', message: 'metrics are served to direct loopback connections only' };
  }
  if (policy.token !== undefined) {
    const token = bearerToken(req.headers.authorization);
    if (token === null || !sameSecret(token, policy.token)) return { code: 'unauthorized', message: 'metrics need Authorization: Bearer <METRICS_TOKEN>' };
  }
  return null;
}

/** Constant-time equality of two secrets of any lengths (compares their SHA-256 digests). */
function sameSecret(given: string, expected: string): boolean {
  const digest = (v: string) => createHash('sha256').update(v).digest();
  return timingSafeEqual(digest(given), digest(expected));
}
