/**
 * Auth area: the /auth/register, /auth/login, /auth/refresh, /auth/logout, /auth/me and
 * /auth/invitations/accept routes, the membership routes /api/org/members and /api/org/invitations
 * (PROTOCOL.md §1), the HTTP authenticator, the `?token=` resolver of /ws and Socket.IO (§2), and the
 * operator's rule for meetings of no organization (UNSCOPED_MEETINGS_ORG, UNSCOPED_MEETINGS_ROLES).
 *
 * - HTTP (`Authorization: Bearer <token>`): meetcore access tokens only (PROTOCOL.md: "Bearer = an access
 *   token from /auth/login"); anything else presented there is a 401, also on optional* routes.
 * - /ws and Socket.IO `?token=`: a meetcore access token, or else a LiveKit access token of the configured
 *   project (when LiveKit is configured; a `livekit` principal with identity, room and metadata roles), or
 *   else whatever other areas add with `addSocketTokenVerifier`.
 */
import { bearerToken } from '../http/bearer.js';
import type { AppContext } from '../context.js';
import { HttpError } from '../http/errors.js';
import type { Principal, Request } from '../http/router.js';
import { parse } from '../http/validate.js';
import {
  AccountService, AccountStore, DEFAULT_LOGIN_LIMITS, acceptBody, invitationParams, inviteBody, loginBody, memberParams, refreshBody, registerBody, roleBody,
} from './accounts.js';
import { setUnscopedMeetingsPolicy } from './authorization.js';
import { TokenError, TokenService, verifyLivekitToken } from './tokens.js';

/**
 * A resolver of some other kind of token; null when the token is not of its kind or invalid. Synchronous: it
 * runs inside the WebSocket upgrade handler (src/signaling/ws.ts).
 */
export type TokenVerifier = (token: string) => Principal | null;

/** What registerAuth gives back to the composition root. */
export interface AuthArea {
  readonly accounts: AccountService;
  readonly tokens: TokenService;
  /** Accept another kind of `?token=` on /ws and Socket.IO (tried in order after the built-in checks fail). */
  addSocketTokenVerifier(fn: TokenVerifier): void;
  /**
   * Resolve a meetcore access token to a `user` principal (role read from the membership now).
   * @throws HttpError 401 when the token is invalid or its account, membership or session is gone.
   */
  authenticateAccessToken(token: string): Promise<Principal>;
}

const PRUNE_EVERY_MS = 60 * 60_000;

/** Register the auth routes, the router's authenticator and the signaling token resolver. */
export function registerAuth(ctx: AppContext): AuthArea {
  const log = ctx.log.child({ area: 'auth' });
  const c = ctx.config;
  const tokens = new TokenService(c);
  const accounts = new AccountService(new AccountStore(ctx.db), tokens, log, DEFAULT_LOGIN_LIMITS, {
    registration: c.REGISTRATION, invitationTtlMs: c.INVITATION_TTL_HOURS * 3_600_000,
  });
  accounts.onRevoked = (familyId, reason) => ctx.bus.emit('auth.revoked', familyId, reason);
  accounts.onMembershipChanged = (userId, orgId) => ctx.bus.emit('auth.membership', userId, orgId);

  // `first`: the oldest organization, once there is one (it never changes after: organizations are not deleted).
  let firstOrg: string | null = null;
  const unscopedOrg = c.UNSCOPED_MEETINGS_ORG;
  setUnscopedMeetingsPolicy({
    orgId: unscopedOrg === 'first' ? () => (firstOrg ??= accounts.store.firstOrganizationId()) : unscopedOrg === 'none' ? () => null : () => unscopedOrg,
    roles: c.UNSCOPED_MEETINGS_ROLES,
  });
  const socketVerifiers: TokenVerifier[] = [];
  if (c.livekitEnabled) socketVerifiers.push((token) => verifyLivekitToken(token, c.LIVEKIT_API_KEY!, c.LIVEKIT_API_SECRET!));

  const authenticateAccessToken = async (token: string): Promise<Principal> => {
    try {
      return accounts.principalFor(token);
    } catch (err) {
      if (err instanceof TokenError) throw new HttpError('unauthorized', 'invalid or expired access token');
      throw err;
    }
  };

  /** The principal of a request's `Authorization: Bearer` access token; null without the header; 401 when bad. */
  const bearerOf = async (req: Request): Promise<Principal | null> => {
    const header = req.headers.authorization;
    if (header === undefined || header === '') return null;
    const token = bearerToken(header);
    if (token === null) throw new HttpError('unauthorized', 'Authorization must be "Bearer <access token>"');
    return authenticateAccessToken(token);
  };
  ctx.router.setAuthenticator(bearerOf);

  ctx.services.signaling?.setTokenAuthenticator((token) => {
    try {
      return accounts.principalFor(token);
    } catch (err) {
      if (err instanceof HttpError) return null; // a valid access token of a revoked session or lost membership
      if (!(err instanceof TokenError)) throw err;
    }
    for (const verify of socketVerifiers) {
      let p: Principal | null = null;
      try { p = verify(token); } catch (e) { log.warn({ err: e }, 'token verifier failed'); }
      if (p) return p;
    }
    return null;
  });

  ctx.services.signaling?.setPrincipalRefresher((p) => accounts.current(p));

  const r = ctx.router;
  r.post('/auth/register', async (req) => {
    const out = await accounts.register(parse(registerBody, req.body));
    return { status: 201, json: out };
  }, { body: 'json', auth: 'none' });
  r.post('/auth/login', async (req) => ({ json: await accounts.login(parse(loginBody, req.body), req.ip) }), { body: 'json', auth: 'none' });
  r.post('/auth/refresh', async (req) => ({ json: await accounts.refresh(parse(refreshBody, req.body).refreshToken) }), { body: 'json', auth: 'none' });
  r.post('/auth/logout', async (req) => {
    await accounts.logout(parse(refreshBody, req.body).refreshToken);
    return { status: 204 };
  }, { body: 'json', auth: 'none' });
  r.get('/auth/me', (req) => ({ json: accounts.me(req.principal!) }), { auth: 'bearer' });
  r.post('/auth/invitations/accept', async (req) => {
    const input = parse(acceptBody, req.body);
    // Open to everyone (the invitation is the right); an access token, when sent, is the existing account's proof.
    const { created, ...json } = await accounts.acceptInvitation(input, await bearerOf(req), req.ip);
    return { status: created ? 201 : 200, json };
  }, { body: 'json', auth: 'none' });

  const userIdOf = (req: Request) => parse(memberParams, req.params).userId;
  r.get('/api/org/members', (req) => ({ json: { organizationId: req.principal!.orgId, members: accounts.members(req.principal!) } }), { auth: 'bearer' });
  r.del('/api/org/members/:userId', (req) => {
    accounts.removeMember(req.principal!, userIdOf(req));
    return { status: 204 };
  }, { auth: 'bearer' });
  r.patch('/api/org/members/:userId', (req) => {
    const { role } = parse(roleBody, req.body);
    return { json: accounts.changeRole(req.principal!, userIdOf(req), role) };
  }, { body: 'json', auth: 'bearer' });
  r.post('/api/org/invitations', (req) => {
    const { invitation, token } = accounts.invite(req.principal!, parse(inviteBody, req.body));
    return { status: 201, json: { invitation, token, acceptUrl: `${c.PUBLIC_URL}/auth/invitations/accept` } };
  }, { body: 'json', auth: 'bearer' });
  r.get('/api/org/invitations', (req) => ({ json: { invitations: accounts.invitations(req.principal!) } }), { auth: 'bearer' });
  r.del('/api/org/invitations/:invitationId', (req) => {
    accounts.withdrawInvitation(req.principal!, parse(invitationParams, req.params).invitationId);
    return { status: 204 };
  }, { auth: 'bearer' });

  const prune = () => {
    try {
      const n = accounts.prune();
      if (n) log.debug({ deleted: n }, 'expired refresh tokens deleted');
    } catch (err) {
      log.error({ err }, 'refresh token pruning failed');
    }
  };
  prune();
  const timer = setInterval(prune, PRUNE_EVERY_MS);
  timer.unref();
  ctx.onShutdown('services', () => clearInterval(timer));

  return { accounts, tokens, addSocketTokenVerifier: (fn) => { socketVerifiers.push(fn); }, authenticateAccessToken };
}
