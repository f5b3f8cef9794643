/**
 * Access and refresh tokens: JWTs (RFC 7519) signed with jose and verified here (`verifyHs256Jwt`), HS256 only.
 *
 * - Access token: secret JWT_ACCESS_SECRET, lifetime JWT_ACCESS_TTL seconds. Claims `iss`="meetcore",
 *   `sub` user id, `org` organization id, `role`, `sid` session (refresh family) id, `typ`="access", `jti`,
 *   `iat`, `exp`.
 * - Refresh token: secret JWT_REFRESH_SECRET, lifetime JWT_REFRESH_TTL seconds. Claims `iss`, `sub`, `org`,
 *   `sid` family id, `typ`="refresh", `jti` (= refresh_tokens.id), `iat`, `exp`.
 *
 * Verification pins `algorithms: ['HS256']` (so `alg: none` and any other algorithm are refused), requires
 * `exp`, `iat`, `sub`, `jti` and the `typ` claim, and checks `typ` against the expected kind, so a refresh
 * token never passes as an access token nor the reverse, even when both secrets are configured equal.
 *
 * Verification is synchronous (an HMAC and a few comparisons): a `?token=` is checked inside the WebSocket
 * upgrade handler of /ws and Socket.IO, so that the upgrade happens there and never after an await
 * (src/signaling/ws.ts says why). jose's `jwtVerify` would take a round trip through the thread pool
 * (WebCrypto), so it is used for signing only.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { SignJWT, type JWTPayload } from 'jose';
import type { Config } from '../config.js';
import type { Principal } from '../http/router.js';

export const ISSUER = 'meetcore';

export type Role = 'owner' | 'admin' | 'member';
export type TokenKind = 'access' | 'refresh';

/** Verified claims of an access token. */
export interface AccessClaims {
  userId: string;
  orgId: string;
  role: Role;
  /** Refresh family (login session) the token was issued in. */
  sessionId: string;
  jti: string;
  /** Unix seconds. */
  exp: number;
}

/** Verified claims of a refresh token. */
export interface RefreshClaims {
  /** refresh_tokens.id */
  jti: string;
  familyId: string;
  userId: string;
  orgId: string;
  /** Unix seconds. */
  exp: number;
}

/** A token failed verification (bad signature, algorithm, type, claims or expiry). `message` is for logs. */
export class TokenError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenError';
  }
}

/** A new random id for `jti` and families: 16 random bytes, base64url. */
export function newTokenId(): string {
  return randomBytes(16).toString('base64url');
}

const ROLES: readonly string[] = ['owner', 'admin', 'member'];
const str = (v: unknown): v is string => typeof v === 'string' && v.length > 0;

/** Signs and verifies meetcore's JWTs with the secrets and lifetimes of the configuration (PROTOCOL.md §8). */
export class TokenService {
  private readonly accessKey: Uint8Array;
  private readonly refreshKey: Uint8Array;
  /** Access token lifetime, seconds. */
  readonly accessTtlSec: number;
  /** Refresh token lifetime, seconds. */
  readonly refreshTtlSec: number;

  constructor(config: Pick<Config, 'JWT_ACCESS_SECRET' | 'JWT_REFRESH_SECRET' | 'JWT_ACCESS_TTL' | 'JWT_REFRESH_TTL'>) {
    this.accessKey = new TextEncoder().encode(config.JWT_ACCESS_SECRET);
    this.refreshKey = new TextEncoder().encode(config.JWT_REFRESH_SECRET);
    this.accessTtlSec = config.JWT_ACCESS_TTL;
    this.refreshTtlSec = config.JWT_REFRESH_TTL;
  }

  /** Sign an access token valid for `accessTtlSec` from `nowSec`. */
  signAccess(c: { userId: string; orgId: string; role: Role; sessionId: string }, nowSec = Math.floor(Date.now() / 1000)): Promise<string> {
    return new SignJWT({ org: c.orgId, role: c.role, sid: c.sessionId, typ: 'access' })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(ISSUER).setSubject(c.userId).setJti(newTokenId())
      .setIssuedAt(nowSec).setExpirationTime(nowSec + this.accessTtlSec)
      .sign(this.accessKey);
  }

  /** Sign a refresh token valid for `refreshTtlSec` from `nowSec`; `jti` is its refresh_tokens row id. */
  signRefresh(c: { jti: string; familyId: string; userId: string; orgId: string }, nowSec = Math.floor(Date.now() / 1000)): Promise<string> {
    return new SignJWT({ org: c.orgId, sid: c.familyId, typ: 'refresh' })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuer(ISSUER).setSubject(c.userId).setJti(c.jti)
      .setIssuedAt(nowSec).setExpirationTime(nowSec + this.refreshTtlSec)
      .sign(this.refreshKey);
  }

  /**
   * Verify an access token.
   * @throws TokenError when the signature, algorithm, issuer, expiry, `typ` or a required claim is wrong.
   */
  verifyAccess(token: string): AccessClaims {
    const p = this.verify(token, this.accessKey, 'access');
    if (!str(p.org) || !str(p.sid) || typeof p.role !== 'string' || !ROLES.includes(p.role)) throw new TokenError('access token lacks org, sid or role');
    return { userId: p.sub!, orgId: p.org, role: p.role as Role, sessionId: p.sid, jti: p.jti!, exp: p.exp! };
  }

  /**
   * Verify a refresh token's signature and claims (not whether it was rotated or revoked: that is the store's).
   * @throws TokenError as verifyAccess.
   */
  verifyRefresh(token: string): RefreshClaims {
    const p = this.verify(token, this.refreshKey, 'refresh');
    if (!str(p.org) || !str(p.sid)) throw new TokenError('refresh token lacks org or sid');
    return { jti: p.jti!, familyId: p.sid, userId: p.sub!, orgId: p.org, exp: p.exp! };
  }

  private verify(token: string, key: Uint8Array, kind: TokenKind): JWTPayload & Record<string, unknown> {
    let payload: JWTPayload & Record<string, unknown>;
    try {
      payload = verifyHs256Jwt(token, key, { issuer: ISSUER, requiredClaims: ['exp', 'iat', 'sub', 'jti', 'typ'] });
    } catch (err) {
      throw new TokenError(`${kind} token rejected: ${(err as Error).message}`);
    }
    if (payload.typ !== kind) throw new TokenError(`expected a ${kind} token, got typ ${JSON.stringify(payload.typ)}`);
    if (!str(payload.sub) || !str(payload.jti)) throw new TokenError(`${kind} token has an empty sub or jti`);
    return payload;
  }
}

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** One base64url JSON part of a compact JWS, which must be a JSON object. */
function jsonPart(text: string, what: string): Record<string, unknown> {
  if (!BASE64URL.test(text)) throw new TokenError(`${what} is not base64url`);
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw new TokenError(`${what} is not JSON`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new TokenError(`${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

/**
 * Verify a JWT in compact JWS form signed with HMAC-SHA256 under `secret`, synchronously, with the checks
 * jose's `jwtVerify(token, secret, { algorithms: ['HS256'], issuer, requiredClaims, clockTolerance })` makes:
 * header `alg` exactly `HS256` (so `none` and every other algorithm are refused) and no `crit`; the signature
 * (compared in constant time, in its one canonical base64url form); a JSON object payload holding every
 * required claim; `iss` equal to `issuer`; `iat`, `nbf` and `exp` numbers when present; `nbf` not after now +
 * tolerance; `exp` after now − tolerance.
 * @returns the payload.
 * @throws TokenError naming the first check that failed.
 */
export function verifyHs256Jwt(
  token: string,
  secret: Uint8Array,
  opts: { issuer: string; requiredClaims: readonly string[]; clockToleranceSec?: number; nowSec?: number },
): JWTPayload & Record<string, unknown> {
  const parts = token.split('.');
  if (parts.length !== 3) throw new TokenError('not a compact JWS (three dot-separated parts)');
  const [h, p, sig] = parts as [string, string, string];
  const header = jsonPart(h, 'header');
  if (header.alg !== 'HS256') throw new TokenError(`algorithm ${JSON.stringify(header.alg)} is not allowed (HS256 only)`);
  if ('crit' in header) throw new TokenError('critical header parameters are not supported');
  const expected = Buffer.from(createHmac('sha256', secret).update(`${h}.${p}`).digest('base64url'));
  const given = Buffer.from(sig);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new TokenError('signature verification failed');
  const payload = jsonPart(p, 'payload');
  for (const claim of opts.requiredClaims) if (!(claim in payload)) throw new TokenError(`missing required "${claim}" claim`);
  if (payload.iss !== opts.issuer) throw new TokenError('unexpected "iss" claim value');
  for (const claim of ['iat', 'nbf', 'exp']) {
    if (claim in payload && (typeof payload[claim] !== 'number' || !Number.isFinite(payload[claim]))) throw new TokenError(`"${claim}" claim must be a number`);
  }
  const now = opts.nowSec ?? Math.floor(Date.now() / 1000);
  const tolerance = opts.clockToleranceSec ?? 0;
  if (typeof payload.nbf === 'number' && payload.nbf > now + tolerance) throw new TokenError('"nbf" claim timestamp check failed (not yet valid)');
  if (typeof payload.exp === 'number' && payload.exp <= now - tolerance) throw new TokenError('"exp" claim timestamp check failed (expired)');
  return payload as JWTPayload & Record<string, unknown>;
}

/**
 * Verify a LiveKit access token (REFERENCE.md: HS256 with the API secret, `iss` = API key, `sub` = identity,
 * `video.room`, `metadata` JSON text) for use as a `?token=` on /ws (PROTOCOL.md §2).
 * @returns a `livekit` principal with identity, room and the metadata's `roles`; null when the token is not
 *   a valid room-join token of this LiveKit project.
 */
export function verifyLivekitToken(token: string, apiKey: string, apiSecret: string): Principal | null {
  let payload: JWTPayload & { video?: { room?: unknown; roomJoin?: unknown }; metadata?: unknown };
  try {
    payload = verifyHs256Jwt(token, new TextEncoder().encode(apiSecret), { issuer: apiKey, requiredClaims: ['exp', 'sub'], clockToleranceSec: 10 });
  } catch {
    return null;
  }
  const room = payload.video?.room;
  if (payload.video?.roomJoin !== true || !str(room) || !str(payload.sub)) return null;
  let roles: string[] = [];
  if (typeof payload.metadata === 'string' && payload.metadata) {
    try {
      const meta = JSON.parse(payload.metadata) as { roles?: unknown };
      if (Array.isArray(meta.roles)) roles = meta.roles.filter(str);
    } catch { /* metadata that is not JSON carries no roles */ }
  }
  const name = typeof payload.name === 'string' && payload.name ? payload.name : undefined;
  return { kind: 'livekit', identity: payload.sub, room, roles, expiresAt: payload.exp! * 1000, ...(name ? { name } : {}) };
}
