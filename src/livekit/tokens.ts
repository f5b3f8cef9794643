/**
 * LiveKit access tokens: the body of `POST /auth/token` (PROTOCOL.md §1), minting with livekit-server-sdk's
 * `AccessToken` (REFERENCE.md: payload `{metadata, name, video:{roomJoin, room, canPublish, canSubscribe},
 * iss, exp, nbf, sub}`, HS256 with the API secret), participant metadata parsing (`{"roles":["host"],
 * "name":"..."}`, PROTOCOL.md §5). Who may ask for which token is decided in src/auth/authorization.ts.
 */
import { randomBytes } from 'node:crypto';
import { AccessToken } from 'livekit-server-sdk';
import { z } from 'zod';

/** Largest `metadata` accepted by POST /auth/token: its JSON text, in UTF-8 bytes. */
export const METADATA_MAX_BYTES = 4096;
export { HOST_ROLE } from '../auth/authorization.js';

const CONTROL = /[\u0000-\u001f\u007f]/;
const codePoints = (s: string): number => [...s].length;

const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Participant metadata as given to POST /auth/token: a JSON object of at most 4 KiB; `roles`, when present, strings. */
const metadataSchema = z
  .custom<Record<string, unknown>>(isPlainObject, 'must be a JSON object')
  .refine((v) => Buffer.byteLength(JSON.stringify(v), 'utf8') <= METADATA_MAX_BYTES, `must be at most ${METADATA_MAX_BYTES} bytes of JSON`)
  .refine((v) => v.roles === undefined || (Array.isArray(v.roles) && v.roles.every((r) => typeof r === 'string' && r.length > 0 && r.length <= 64)), {
    message: 'must be an array of role names', path: ['roles'],
  })
  .refine((v) => v.name === undefined || typeof v.name === 'string', { message: 'must be a string', path: ['name'] });

/** Body of POST /auth/token. Names are trimmed; lengths count Unicode code points. */
export const tokenRequestSchema = z.object({
  participantName: z.string().trim()
    .refine((s) => codePoints(s) >= 2 && codePoints(s) <= 64, 'must be 2..64 characters')
    .refine((s) => !CONTROL.test(s), 'must not contain control characters'),
  roomName: z.string().trim()
    .refine((s) => codePoints(s) >= 1 && codePoints(s) <= 128, 'must be 1..128 characters')
    .refine((s) => !CONTROL.test(s), 'must not contain control characters')
    .optional(),
  metadata: metadataSchema.optional(),
});

export type TokenRequest = z.output<typeof tokenRequestSchema>;

/** What `issueToken` needs from the configuration. */
export interface TokenKeys {
  apiKey: string;
  apiSecret: string;
  /** LIVEKIT_URL, returned to the client as `url`. */
  url: string;
  /** Token lifetime, seconds (LIVEKIT_TOKEN_TTL). */
  ttlSec: number;
}

export interface IssuedToken {
  /** The LiveKit JWT. */
  token: string;
  roomName: string;
  url: string;
  /** LiveKit identity (`sub`): `<participantName>-<6 random base64url chars>`, unique per issue. */
  identity: string;
  /** Roles from the metadata (empty when none). */
  roles: string[];
  /** Expiry, Unix ms. */
  expiresAt: number;
}

/** `room-<12 base64url characters>`, for a token request without roomName. */
export function newRoomName(): string {
  return `room-${randomBytes(9).toString('base64url')}`;
}

/**
 * Mint a LiveKit access token for one room: grants `roomJoin`, `canPublish`, `canSubscribe` for that room
 * only; `name` = participantName; `metadata` = the JSON text of the request's metadata (when given).
 */
export async function issueToken(keys: TokenKeys, req: TokenRequest, nowMs = Date.now()): Promise<IssuedToken> {
  const roomName = req.roomName ?? newRoomName();
  const identity = `${req.participantName}-${randomBytes(5).toString('base64url').slice(0, 6)}`;
  const at = new AccessToken(keys.apiKey, keys.apiSecret, {
    identity,
    name: req.participantName,
    ttl: keys.ttlSec,
    ...(req.metadata ? { metadata: JSON.stringify(req.metadata) } : {}),
  });
  at.addGrant({ roomJoin: true, room: roomName, canPublish: true, canSubscribe: true });
  const token = await at.toJwt();
  const roles = Array.isArray(req.metadata?.roles) ? (req.metadata.roles as string[]) : [];
  return { token, roomName, url: keys.url, identity, roles, expiresAt: nowMs + keys.ttlSec * 1000 };
}

/** Participant metadata as meetcore reads it (PROTOCOL.md §5). */
export interface ParticipantMeta {
  /** Role names (strings only); undefined when the metadata has no `roles` array. */
  roles?: string[];
  name?: string;
}

/**
 * Parse LiveKit participant metadata (a string, usually JSON `{"roles":["host"],"name":"..."}`).
 * @returns null when the text is empty or not a JSON object (the metadata then says nothing about roles).
 */
export function parseParticipantMetadata(text: string | undefined | null): ParticipantMeta | null {
  if (!text) return null;
  let v: unknown;
  try { v = JSON.parse(text); } catch { return null; }
  if (!isPlainObject(v)) return null;
  const out: ParticipantMeta = {};
  if (Array.isArray(v.roles)) out.roles = v.roles.filter((r): r is string => typeof r === 'string');
  if (typeof v.name === 'string' && v.name.length > 0) out.name = v.name;
  return out;
}
