/**
 * What existing Socket.IO apps send, mapped onto the contract's messages (README "Coming from Socket.IO",
 * PROTOCOL.md §2): an event's arguments become the /ws message, and a trailing acknowledgement callback gets
 * the direct reply.
 *
 * - One plain object: the message as on /ws (`emit("join-room", {roomId, name})`).
 * - Bare and positional values, in the order the seed apps emit them (POSITIONAL below): `emit("user:join", 123)`
 *   → `{userId: 123}`, `emit("join-room", roomId, name)` → `{roomId, name}`. A number where a name is expected
 *   (`emit("join-room", roomId, userId)`) becomes its decimal string. Extra arguments are ignored.
 * - Anything else (an array, a bare value of an event without positions) gives an empty message, which the hub
 *   refuses with a `bad_request` naming the missing field.
 * - Acknowledgements: a last argument that is a function is the ack. It is called once, with the direct reply
 *   as the client would see it as an event plus its `type` (`{type:"room-joined", roomId, ...}`), or the error
 *   (`{type:"error", code, message}`), or `{type:"ok"}` for an event that has no direct reply (relay, chat,
 *   calls). The reply is also emitted as the event, as without an ack.
 *
 * The event name is the client's own string: it is only ever looked up in Maps and Sets, never as a property of
 * a plain object (an event named `constructor`, `toString` or `__proto__` would find Object.prototype's members).
 */

/** The fields that bare and positional arguments fill, per event (a Map: event names are client input). */
export const POSITIONAL: ReadonlyMap<string, readonly string[]> = new Map([
  ['join-room', ['roomId', 'name']],
  ['leave-room', ['roomId']],
  ['offer', ['to', 'sdp']],
  ['answer', ['to', 'sdp']],
  ['ice', ['to', 'candidate']],
  ['signal', ['to', 'data']],
  ['chat', ['roomId', 'text']],
  ['user:join', ['userId', 'name']],
  ['call:accept', ['roomName', 'sdpAnswer']],
  ['call:reject', ['roomName', 'reason']],
  ['call:end', ['roomName', 'reason']],
]);

/** Fields that carry a display name or a free text: a number given there is taken as its decimal string. */
const TEXT_FIELDS = new Set(['name', 'reason', 'text']);

export type Ack = (reply: Record<string, unknown>) => void;

/**
 * Split a Socket.IO event's arguments into the /ws message (without `type`) and the ack callback.
 * @param event the event name (the message type).
 * @param args the arguments as socket.io delivered them (`socket.onAny((event, ...args) => ...)`).
 */
export function fromSocketIo(event: string, args: readonly unknown[]): { body: Record<string, unknown>; ack: Ack | null } {
  let rest = args;
  let ack: Ack | null = null;
  if (rest.length > 0 && typeof rest[rest.length - 1] === 'function') {
    ack = rest[rest.length - 1] as Ack;
    rest = rest.slice(0, -1);
  }
  const first = rest[0];
  if (isPlainObject(first)) {
    return { body: { ...first }, ack };
  }
  const fields = POSITIONAL.get(event);
  const body: Record<string, unknown> = {};
  if (fields && rest.length > 0 && !Array.isArray(first) && first !== null && first !== undefined) {
    fields.forEach((field, i) => {
      const v = rest[i];
      if (v === undefined || v === null) return;
      body[field] = TEXT_FIELDS.has(field) && typeof v === 'number' ? String(v) : v;
    });
  }
  return { body, ack };
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}
