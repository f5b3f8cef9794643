/**
 * Inbound signaling messages (PROTOCOL.md §2), validated with zod before they touch any state. The same
 * objects arrive as JSON text (`meetcore.json`), msgpack binary (`meetcore.msgpack`) or Socket.IO events.
 */
import { z } from 'zod';

/*
 * Bounds of the relayed messages, shared by the zod schema and parseRelayMessage (its hand-written twin);
 * test/signaling/fast-path.test.ts runs both over one table of messages and fails when they disagree.
 */
const MAX_RID = 64;
const MAX_PEER_ID = 128;
const MAX_SDP = 60_000;
const MAX_CANDIDATE = 2048;
const MAX_SDP_MID = 64;
const MAX_M_LINE_INDEX = 1024;
const MAX_USERNAME_FRAGMENT = 256;

/** Room ids: 1..128 of [A-Za-z0-9_.:@-], no "..": safe as uWS topics, file-name parts and log fields. */
export const roomId = z.string().min(1).max(128).regex(/^[A-Za-z0-9_.:@-]+$/, 'only letters, digits and _ . : @ - are allowed')
  .refine((s) => !s.includes('..'), 'must not contain ".."');
const peerId = z.string().min(1).max(MAX_PEER_ID);
const rid = z.union([z.string().max(MAX_RID), z.number()]).optional();
const name = z.string().min(1).max(64);
/**
 * Any JSON object (not an array), passed through as the same value: relayed untouched, keys such as
 * `__proto__` included. Its size is bounded by the message limit (WS_MAX_MESSAGE_BYTES).
 */
const jsonObject = () => z.custom<Record<string, unknown>>(isObject, { error: 'expected an object' });
/**
 * An SDP as a string, or any JSON object (an RTCSessionDescriptionInit, or simple-peer's own signal data such as
 * `{type:"renegotiate", renegotiate:true}` or `{transceiverRequest:{kind:"video"}}`), relayed untouched.
 */
const sdp = z.union([z.string().min(1).max(MAX_SDP), jsonObject()], { error: 'expected an SDP string or an object' });
/**
 * A user id (userId, toId, fromId, memberIds): a string or a number (WorldMates sends numbers). The hub keys users
 * by the string form and echoes each id in the type it came in.
 */
const userRef = z.union([z.string().min(1).max(128), z.number().int().min(-(2 ** 53 - 1)).max(2 ** 53 - 1)], { error: 'expected a string or a number' });
export type UserRef = z.output<typeof userRef>;
/** An ICE candidate's media stream tag and m-line index (of `ice`, `ice:candidate` and an RTCIceCandidateInit). */
const sdpMid = z.string().max(MAX_SDP_MID).nullable().optional();
const sdpMLineIndex = z.number().int().min(0).max(MAX_M_LINE_INDEX).nullable().optional();
/** An ICE candidate as a string, or an RTCIceCandidateInit. */
const candidate = z.union([z.string().max(MAX_CANDIDATE), z.object({
  candidate: z.string().max(MAX_CANDIDATE), sdpMid, sdpMLineIndex, usernameFragment: z.string().max(MAX_USERNAME_FRAGMENT).nullable().optional(),
})]).nullable();
const callType = z.enum(['audio', 'video']);

export const clientMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('join-room'), rid, roomId, name: name.optional(), role: z.string().min(1).max(32).optional() }),
  z.object({ type: z.literal('leave-room'), rid, roomId }),
  z.object({ type: z.literal('offer'), rid, to: peerId, sdp }),
  z.object({ type: z.literal('answer'), rid, to: peerId, sdp }),
  z.object({ type: z.literal('ice'), rid, to: peerId, candidate, sdpMid, sdpMLineIndex }),
  z.object({ type: z.literal('signal'), rid, to: peerId, data: jsonObject() }),
  z.object({ type: z.literal('chat'), rid, roomId, text: z.string().min(1).max(2000) }),
  z.object({ type: z.literal('heartbeat'), rid }),
  z.object({ type: z.literal('user:join'), rid, userId: userRef, name: name.optional() }),
  z.object({ type: z.literal('call:initiate'), rid, toId: userRef, callType, roomName: roomId, sdpOffer: sdp }),
  z.object({ type: z.literal('call:accept'), rid, roomName: roomId, sdpAnswer: sdp }),
  z.object({ type: z.literal('call:reject'), rid, roomName: roomId, reason: z.string().max(200).optional() }),
  z.object({ type: z.literal('ice:candidate'), rid, roomName: roomId, candidate, sdpMLineIndex, sdpMid }),
  z.object({ type: z.literal('call:end'), rid, roomName: roomId, reason: z.string().max(200).optional() }),
  z.object({ type: z.literal('group_call:initiate'), rid, groupId: z.string().min(1).max(128), callType, roomName: roomId, memberIds: z.array(userRef).min(1).max(100) }),
]);

export type ClientMessage = z.output<typeof clientMessage>;
export const MESSAGE_TYPES: ReadonlySet<string> = new Set(clientMessage.options.map((o) => o.shape.type.value));

/** PROTOCOL.md §2 error codes. */
export type SignalingErrorCode = 'bad_request' | 'unknown_type' | 'not_in_room' | 'peer_not_found' | 'room_full'
  | 'unauthorized' | 'forbidden' | 'not_found' | 'rate_limited' | 'too_large';

/** Any message the server sends: `type` plus fields. */
export type ServerMessage = { type: string; [field: string]: unknown };

/** The messages relayed peer to peer, which take the hand-written fast path (parseRelayMessage). */
export type RelayMessage = Extract<ClientMessage, { type: 'offer' | 'answer' | 'ice' | 'signal' }>;
type IceCandidate = Extract<RelayMessage, { type: 'ice' }>['candidate'];


/**
 * `clientMessage.safeParse(raw)` for the four relayed types (offer, answer, ice, signal), checked by hand: about
 * a tenth of the schema's cost on the busiest path (docs/protocol.md's relay, one message per ICE candidate). It
 * accepts exactly what the schema accepts for those types and returns what the schema would output: the same
 * keys in the schema's order (an optional key given as `undefined` kept, an absent one left out; keys are read
 * as the schema reads them, inherited ones included), unknown keys dropped, an object candidate copied with only
 * its four fields, `sdp` and `data` objects passed through as the same value. The zod schema stays the source of
 * truth: every other message, and every one refused here, goes through it (for its error message).
 * @param raw a decoded message (JSON.parse or msgpack).
 * @returns the parsed message, or undefined when `raw` is not a valid offer, answer, ice or signal message.
 */
export function parseRelayMessage(raw: unknown): RelayMessage | undefined {
  if (!isObject(raw)) return undefined;
  const o = raw as Record<string, unknown>;
  const type = o.type;
  if (type !== 'offer' && type !== 'answer' && type !== 'ice' && type !== 'signal') return undefined;
  const rid = o.rid;
  if (rid !== undefined && !(isString(rid, 0, MAX_RID) || (typeof rid === 'number' && Number.isFinite(rid)))) return undefined;
  const hasRid = rid !== undefined || 'rid' in o;
  const to = o.to;
  if (!isString(to, 1, MAX_PEER_ID)) return undefined;
  if (type === 'ice') return parseIce(o, hasRid, rid as string | number | undefined, to);
  if (type === 'signal') {
    const data = o.data;
    if (!isObject(data)) return undefined;
    return hasRid ? { type, rid: rid as string | number | undefined, to, data } : { type, to, data };
  }
  const sdp = o.sdp;
  if (!(isString(sdp, 1, MAX_SDP) || isObject(sdp))) return undefined;
  return hasRid ? { type, rid: rid as string | number | undefined, to, sdp } : { type, to, sdp };
}

function parseIce(o: Record<string, unknown>, hasRid: boolean, rid: string | number | undefined, to: string): RelayMessage | undefined {
  const candidate = parseCandidate(o.candidate);
  if (candidate === undefined) return undefined;
  const sdpMid = o.sdpMid;
  if (!(sdpMid === undefined || sdpMid === null || isString(sdpMid, 0, MAX_SDP_MID))) return undefined;
  const sdpMLineIndex = o.sdpMLineIndex;
  if (!(sdpMLineIndex === undefined || sdpMLineIndex === null || isIndex(sdpMLineIndex))) return undefined;
  const m: Record<string, unknown> = { type: 'ice' };
  if (hasRid) m.rid = rid;
  m.to = to;
  m.candidate = candidate;
  if (sdpMid !== undefined || 'sdpMid' in o) m.sdpMid = sdpMid;
  if (sdpMLineIndex !== undefined || 'sdpMLineIndex' in o) m.sdpMLineIndex = sdpMLineIndex;
  return m as RelayMessage;
}

/** An ICE candidate as the schema parses it (string, null, or a copied RTCIceCandidateInit); undefined: invalid. */
function parseCandidate(c: unknown): IceCandidate | undefined {
  if (c === null) return null;
  if (typeof c === 'string') return isString(c, 0, MAX_CANDIDATE) ? c : undefined;
  if (!isObject(c)) return undefined;
  const init = c as Record<string, unknown>;
  const candidate = init.candidate;
  if (!isString(candidate, 0, MAX_CANDIDATE)) return undefined;
  const sdpMid = init.sdpMid;
  if (!(sdpMid === undefined || sdpMid === null || isString(sdpMid, 0, MAX_SDP_MID))) return undefined;
  const sdpMLineIndex = init.sdpMLineIndex;
  if (!(sdpMLineIndex === undefined || sdpMLineIndex === null || isIndex(sdpMLineIndex))) return undefined;
  const usernameFragment = init.usernameFragment;
  if (!(usernameFragment === undefined || usernameFragment === null || isString(usernameFragment, 0, MAX_USERNAME_FRAGMENT))) return undefined;
  const out: Record<string, unknown> = { candidate };
  if (sdpMid !== undefined || 'sdpMid' in init) out.sdpMid = sdpMid;
  if (sdpMLineIndex !== undefined || 'sdpMLineIndex' in init) out.sdpMLineIndex = sdpMLineIndex;
  if (usernameFragment !== undefined || 'usernameFragment' in init) out.usernameFragment = usernameFragment;
  return out as IceCandidate;
}

/** What zod takes for an object: not null, not an array. */
function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A string of min..max characters counted as zod counts them: in Unicode code points (a surrogate pair is one,
 * a lone surrogate one too). A code point is one or two UTF-16 units, so most strings need no count.
 */
function isString(v: unknown, min: number, max: number): v is string {
  if (typeof v !== 'string') return false;
  const units = v.length;
  if (units < min) return false;
  if (units <= max && units >= 2 * min) return true;
  const length = codePoints(v);
  return length >= min && length <= max;
}

/** Code points in a string: UTF-16 units less one per high surrogate followed by a low one. */
function codePoints(s: string): number {
  let count = s.length;
  for (let i = 0; i < s.length - 1; i++) {
    if ((s.charCodeAt(i) & 0xfc00) === 0xd800 && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) { count--; i++; }
  }
  return count;
}

/** An m-line index: an integer 0..1024. */
function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= MAX_M_LINE_INDEX;
}
