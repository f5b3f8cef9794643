/**
 * What `/egress-audio` and `/egress-video` share on the socket side (PROTOCOL.md §4): the frame limits, the
 * uWS behaviour options, the JSON refusal of a bad upgrade, the `{"muted":bool}` text frames, and how a close
 * is written into `recordings.close_reason`.
 */
import type { HttpResponse } from 'uWebSockets.js';
import { z } from 'zod';
import { HttpError, errorBody, statusLine } from '../http/errors.js';
import type { Logger } from '../log.js';
import { errnoText } from '../files.js';

/** Largest frame accepted (PROTOCOL.md §4); a bigger one is not written and the socket is closed with 1009. */
export const MAX_FRAME_BYTES = 1024 * 1024;
/**
 * uWS's own message limit. uWS does not send a close frame when it is exceeded (it drops the TCP connection
 * and reports 1006 "Received too big message"), so it is set above MAX_FRAME_BYTES and the handler sends the
 * 1009 itself; only frames over this hard limit end with a dropped connection.
 */
export const HARD_FRAME_LIMIT = 4 * 1024 * 1024;
/**
 * Close code of an audio stream whose queue bound was reached (docs/protocol.md): audio arrived faster than
 * it could be written for longer than AUDIO_STREAM_QUEUE_MS (reason `stream queue bound reached`), or the
 * server's queue of all streams was full (AUDIO_QUEUE_MAX_MB, reason `server queue bound reached`). The
 * audio from the refused frame on is lost; the recording row ends FAILED and lists the gap.
 */
export const QUEUE_BOUND_CLOSE_CODE = 4008;

/** Seconds without any frame before uWS closes the socket; LiveKit pings every 30 s and streams silence while muted. */
export const IDLE_TIMEOUT_SEC = 60;

/** The uWS WebSocket options both egress routes use (the handlers are added by each route). */
export const EGRESS_SOCKET_OPTIONS = {
  maxPayloadLength: HARD_FRAME_LIMIT,
  idleTimeout: IDLE_TIMEOUT_SEC,
  sendPingsAutomatically: true,
  /** The server sends nothing but pongs and the close frame. */
  maxBackpressure: 64 * 1024,
  closeOnBackpressureLimit: 1,
} as const;

/**
 * Answer a refused upgrade with the PROTOCOL.md §1 JSON error: an HttpError keeps its status (400, 401, 503),
 * anything else is logged and answered 500.
 */
export function refuseUpgrade(res: HttpResponse, err: unknown, log: Logger, what: string, remote: string): void {
  const e = err instanceof HttpError ? err : new HttpError('internal', 'internal error');
  if (!(err instanceof HttpError)) log.error({ err }, `${what} upgrade failed`);
  else log.warn({ remote, status: e.status, reason: e.message }, `${what} upgrade refused`);
  res.cork(() => {
    res.writeStatus(statusLine(e.status)).writeHeader('Content-Type', 'application/json').end(errorBody(e.code, e.message));
  });
}

const muteMessage = z.object({ muted: z.boolean() });

/**
 * Read a text frame as LiveKit's `{"muted":true|false}`.
 * @returns the mute state, or null for anything else (counted in `state.badTextFrames`, logged for the first 5
 *   and every 100th, never fatal).
 */
export function readMuteFrame(message: ArrayBuffer, state: { badTextFrames: number; remote: string; query: { roomName: string } }, log: Logger, what: string): boolean | null {
  const raw = Buffer.from(message).toString('utf8');
  let parsed: unknown;
  try { parsed = JSON.parse(raw); } catch { parsed = undefined; }
  const r = muteMessage.safeParse(parsed);
  if (r.success) return r.data.muted;
  state.badTextFrames++;
  if (state.badTextFrames <= 5 || state.badTextFrames % 100 === 0) {
    log.warn({ remote: state.remote, room: state.query.roomName, count: state.badTextFrames, frame: raw.slice(0, 200) }, `ignored ${what} text frame (expected {"muted":true|false})`);
  }
  return null;
}

const CLOSE_NAMES: Record<number, string> = {
  1000: 'normal closure', 1001: 'going away', 1005: 'end of track (no close code)', 1006: 'connection lost',
  1007: 'invalid stream', 1008: 'policy violation', 1009: 'frame over 1 MiB', 1011: 'server error',
  [QUEUE_BOUND_CLOSE_CODE]: 'queue bound reached, audio lost',
};

/** A close code and message as written into `recordings.close_reason`, e.g. "1005 end of track (no close code)". */
export function describeClose(code: number, message: ArrayBuffer): string {
  const text = Buffer.from(message).toString('utf8').slice(0, 120);
  if (code === 1006 && text === 'Received too big message') return `1009 frame over ${HARD_FRAME_LIMIT} bytes (connection dropped by uWS)`;
  return `${code} ${CLOSE_NAMES[code] ?? 'closed'}${text ? `: ${text}` : ''}`;
}

/**
 * The OS reason of a failure to create or write a recording file, without paths:
 * - Node fs errors (`err.code` + `err.syscall`): `"ENOSPC: no space left on device"` (code and libuv text);
 * - the native writer's `"cannot create|write recording <path>: <strerror>"`: the strerror text, e.g.
 *   `"No space left on device"`;
 * - anything else (a database error, a bug): null.
 */
export function recordingErrorText(err: unknown): string | null {
  const e = err as Partial<NodeJS.ErrnoException> | null;
  if (!e || typeof e.message !== 'string') return null;
  if (typeof e.code === 'string' && typeof e.syscall === 'string') return errnoText(e);
  const m = /^cannot (?:create|write) recording .*: ([^:]+)$/s.exec(e.message);
  return m ? m[1]! : null;
}

/** Longest close-frame reason, bytes (RFC 6455 §5.5: 125-byte control frame payload minus the 2-byte code). */
export const MAX_CLOSE_REASON_BYTES = 123;

/** `text` cut to at most MAX_CLOSE_REASON_BYTES of UTF-8 (never in the middle of a character). */
export function closeReasonText(text: string): string {
  let out = text;
  while (Buffer.byteLength(out) > MAX_CLOSE_REASON_BYTES) out = out.slice(0, -1);
  return out;
}

/**
 * The 1011 close reason of a stream whose recording could not be started: `"cannot start recording: <OS
 * text>"` when the file system refused (see recordingErrorText), else `"cannot start recording"`.
 */
export function startFailureReason(err: unknown): string {
  const why = recordingErrorText(err);
  return closeReasonText(why ? `cannot start recording: ${why}` : 'cannot start recording');
}
