/**
 * Inbound signaling messages (PROTOCOL.md §2), validated with zod before they touch any state. The same
 * objects arrive as JSON text (`meetcore.json`), msgpack binary (`meetcore.msgpack`) or Socket.IO events.
 */
import { z } from 'zod';

/** Room ids: 1..128 of [A-Za-z0-9_.:@-], no "..": safe as uWS topics, file-name parts and log fields. */
export const roomId = z.string().min(1).max(128).regex(/^[A-Za-z0-9_.:@-]+$/, 'only letters, digits and _ . : @ - are allowed')
  .refine((s) => !s.includes('..'), 'must not contain ".."');
const peerId = z.string().min(1).max(128);
const rid = z.union([z.string().max(64), z.number()]).optional();
const name = z.string().min(1).max(64);
/**
 * Any JSON object (not an array), passed through as the same value: relayed untouched, keys such as
 * `__proto__` included. Its size is bounded by the message limit (WS_MAX_MESSAGE_BYTES).
 */
const jsonObject = () => z.custom<Record<string, unknown>>((v) => typeof v === 'object' && v !== null && !Array.isArray(v), { error: 'expected an object' });
/**
 * An SDP as a string, or any JSON object (an RTCSessionDescriptionInit, or simple-peer's own signal data such as
 * `{type:"renegotiate", renegotiate:true}` or `{transceiverRequest:{kind:"video"}}`), relayed untouched.
 */
const sdp = z.union([z.string().min(1).max(60_000), jsonObject()], { error: 'expected an SDP string or an object' });
/**
 * A user id (userId, toId, fromId, memberIds): a string or a number (WorldMates sends numbers). The hub keys users
 * by the string form and echoes each id in the type it came in.
 */
const userRef = z.union([z.string().min(1).max(128), z.number().int().min(-(2 ** 53 - 1)).max(2 ** 53 - 1)], { error: 'expected a string or a number' });
export type UserRef = z.output<typeof userRef>;
/** An ICE candidate as a string, or an RTCIceCandidateInit. */
const candidate = z.union([z.string().max(2048), z.object({
  candidate: z.string().max(2048), sdpMid: z.string().max(64).nullable().optional(),
  sdpMLineIndex: z.number().int().min(0).max(1024).nullable().optional(), usernameFragment: z.string().max(256).nullable().optional(),
})]).nullable();
const callType = z.enum(['audio', 'video']);

export const clientMessage = z.discriminatedUnion('type', [
  z.object({ type: z.literal('join-room'), rid, roomId, name: name.optional(), role: z.string().min(1).max(32).optional() }),
  z.object({ type: z.literal('leave-room'), rid, roomId }),
  z.object({ type: z.literal('offer'), rid, to: peerId, sdp }),
  z.object({ type: z.literal('answer'), rid, to: peerId, sdp }),
  z.object({ type: z.literal('ice'), rid, to: peerId, candidate, sdpMid: z.string().max(64).nullable().optional(), sdpMLineIndex: z.number().int().min(0).max(1024).nullable().optional() }),
  z.object({ type: z.literal('signal'), rid, to: peerId, data: jsonObject() }),
  z.object({ type: z.literal('chat'), rid, roomId, text: z.string().min(1).max(2000) }),
  z.object({ type: z.literal('heartbeat'), rid }),
  z.object({ type: z.literal('user:join'), rid, userId: userRef, name: name.optional() }),
  z.object({ type: z.literal('call:initiate'), rid, toId: userRef, callType, roomName: roomId, sdpOffer: sdp }),
  z.object({ type: z.literal('call:accept'), rid, roomName: roomId, sdpAnswer: sdp }),
  z.object({ type: z.literal('call:reject'), rid, roomName: roomId, reason: z.string().max(200).optional() }),
  z.object({ type: z.literal('ice:candidate'), rid, roomName: roomId, candidate, sdpMLineIndex: z.number().int().min(0).max(1024).nullable().optional(), sdpMid: z.string().max(64).nullable().optional() }),
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
