/**
 * Access and refresh tokens: JWTs (RFC 7519) signed and verified with jose, HS256 only.
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
 */
import { randomBytes } from 'node:crypto';
import { SignJWT, jwtVerify, type JWTPayload } from 'jose';
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
  async verifyAccess(token: string): Promise<AccessClaims> {
    const p = await this.verify(token, this.accessKey, 'access');
    if (!str(p.org) || !str(p.sid) || typeof p.role !== 'string' || !ROLES.includes(p.role)) throw new TokenError('access token lacks org, sid or role');
    return { userId: p.sub!, orgId: p.org, role: p.role as Role, sessionId: p.sid, jti: p.jti!, exp: p.exp! };
  }

  /**
   * Verify a refresh token's signature and claims (not whether it was rotated or revoked: that is the store's).
   * @throws TokenError as verifyAccess.
   */
  async verifyRefresh(token: string): Promise<RefreshClaims> {
    const p = await this.verify(token, this.refreshKey, 'refresh');
    if (!str(p.org) || !str(p.sid)) throw new TokenError('refresh token lacks org or sid');
    return { jti: p.jti!, familyId: p.sid, userId: p.sub!, orgId: p.org, exp: p.exp! };
  }

  private async verify(token: string, key: Uint8Array, kind: TokenKind): Promise<JWTPayload & Record<string, unknown>> {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key, {
        algorithms: ['HS256'],
        issuer: ISSUER,
        requiredClaims: ['exp', 'iat', 'sub', 'jti', 'typ'],
      }));
    } catch (err) {
      throw new TokenError(`${kind} token rejected: ${(err as Error).message}`);
    }
    if (payload.typ !== kind) throw new TokenError(`expected a ${kind} token, got typ ${JSON.stringify(payload.typ)}`);
    if (!str(payload.sub) || !str(payload.jti)) throw new TokenError(`${kind} token has an empty sub or jti`);
    return payload;
  }
}

/**
 * Verify a LiveKit access token (REFERENCE.md: HS256 with the API secret, `iss` = API key, `sub` = identity,
 * `video.room`, `metadata` JSON text) for use as a `?token=` on /ws (PROTOCOL.md §2).
 * @returns a `livekit` principal with identity, room and the metadata's `roles`; null when the token is not
 *   a valid room-join token of this LiveKit project.
 */
export async function verifyLivekitToken(token: string, apiKey: string, apiSecret: string): Promise<Principal | null> {
  let payload: JWTPayload & { video?: { room?: unknown; roomJoin?: unknown }; metadata?: unknown };
  try {
    ({ payload } = await jwtVerify(token, new TextEncoder().encode(apiSecret), {
      algorithms: ['HS256'], issuer: apiKey, requiredClaims: ['exp', 'sub'], clockTolerance: 10,
    }));
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
