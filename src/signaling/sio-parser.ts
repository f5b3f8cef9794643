/**
 * The Socket.IO packet decoder of meetcore's Socket.IO server: socket.io-parser's own (socket.io protocol v5,
 * https://socket.io/docs/v4/socket-io-protocol/), with two checks on every decoded event before socket.io
 * dispatches it. An event that fails one is not handled; the transport answers it with an `error` instead
 * (src/signaling/socketio.ts), and the session stays open:
 *
 * - Size: the bytes of the event's packet text plus those of its binary attachments (each attachment is its
 *   own engine.io packet, which engine.io's `maxHttpBufferSize` only bounds one at a time) must be at most
 *   WS_MAX_MESSAGE_BYTES, the limit of a /ws message. Over it: `too_large`, answered to the ack too; the
 *   attachments are released at once.
 * - Ack id: the id a client puts between the packet type and the JSON (`421["chat",…]` asks an ack with id 1)
 *   is echoed in the answer (`431[…]`). socket.io-parser reads it with `Number()`, so 400 digits become
 *   `Infinity` and 17 digits a different integer: the client could never match the answer. An id that is not
 *   an integer in 0..2^53−1 (Number.MAX_SAFE_INTEGER) is dropped (no ack packet is sent) and the event is
 *   refused with `bad_request` naming the ack id. socket.io-parser's own `isPacketValid` holds ids to
 *   integers too; socket.io-client only ever sends 0, 1, 2, ...
 */
import { Decoder, Encoder, PacketType, type Packet } from 'socket.io-parser';
import type { SignalingErrorCode } from './schema.js';

/** Why a decoded event is not handled: the `code` and `message` of the `error` it is answered with. */
export interface EventRefusal {
  code: SignalingErrorCode;
  message: string;
}

/** Refused events, keyed by the event's argument array (`packet.data`, which socket.io hands to `socket.use`). */
const refusals = new WeakMap<readonly unknown[], EventRefusal>();

/** The refusal of an event, by its argument array as a `socket.use` middleware receives it; undefined: handle it. */
export function refusalOf(args: readonly unknown[]): EventRefusal | undefined {
  return refusals.get(args);
}

/**
 * The parser to give socket.io's Server (`new Server({parser: checkedParser(limit)})`).
 * @param maxMessageBytes the largest event, packet text and binary attachments together, in bytes.
 */
export function checkedParser(maxMessageBytes: number): { Encoder: typeof Encoder; Decoder: typeof Decoder } {
  /** One per Socket.IO connection (socket.io's Client makes it with `new Decoder()`). */
  class CheckedDecoder extends Decoder {
    /** Bytes of the packet being decoded so far: its text, then each attachment. */
    private bytes = 0;

    constructor() {
      super();
      // Registered before socket.io's Client's own listener, so it sees (and amends) each packet first.
      this.on('decoded', (packet: Packet) => {
        const bytes = this.bytes;
        this.bytes = 0;
        check(packet, bytes, maxMessageBytes);
      });
    }

    override add(chunk: unknown): void {
      if (typeof chunk === 'string') this.bytes += Buffer.byteLength(chunk);
      else if (chunk instanceof ArrayBuffer || ArrayBuffer.isView(chunk)) this.bytes += chunk.byteLength;
      try {
        super.add(chunk);
      } catch (err) {
        this.bytes = 0;
        throw err;
      }
    }
  }
  return { Encoder, Decoder: CheckedDecoder };
}

function check(packet: Packet, bytes: number, max: number): void {
  if (packet.type !== PacketType.EVENT && packet.type !== PacketType.BINARY_EVENT) return;
  const args = packet.data as unknown[];
  if (packet.id !== undefined && !(Number.isSafeInteger(packet.id) && packet.id >= 0)) {
    packet.id = undefined;
    refusals.set(args, { code: 'bad_request', message: `ack id: must be an integer from 0 to ${Number.MAX_SAFE_INTEGER}; the event was not handled` });
    return;
  }
  if (bytes > max) {
    const kept = [args[0]];
    packet.data = kept;
    refusals.set(kept, { code: 'too_large', message: `message over ${max} bytes (WS_MAX_MESSAGE_BYTES, binary attachments included): ${bytes} bytes` });
  }
}
