/**
 * `/egress-video`: the video egress WebSocket target of PROTOCOL.md §4.
 *
 * Query `roomName, participant?, trackId?, meetingId?, codec (h264|vp8|vp9), exp?, sig?`, validated (and its
 * signature over `"/egress-video?" + q` checked) in `upgrade`, before anything is created: 400/401 JSON.
 *
 * Binary frames carry one byte stream, split anywhere: Annex-B H.264 (`codec=h264`, ITU-T H.264 Annex B:
 * NAL units each preceded by a start code `00 00 01` or `00 00 00 01`) or IVF (`codec=vp8|vp9`, the libvpx
 * container: a 32-byte header `DKIF`, u16le version 0, u16le header length 32, fourcc `VP80`/`VP90`, u16le
 * width, u16le height, u32le timebase denominator and numerator, u32le frame count, u32 unused; then frames
 * of a 12-byte header (u32le size, u64le pts) and `size` bytes). The first bytes are checked before anything
 * is created: a stream that does not start that way is closed with 1007 (invalid payload data) and a reason
 * naming what was wrong; no session, participant, row or file is made. Until enough bytes have arrived to
 * decide (3 or 4 for H.264, at most 32 for IVF) they are held in memory.
 *
 * Once accepted, the stream is written as received, byte for byte, to
 * `STORAGE_DIR/egress/video/<meetingId>/<startedAtMs>_<room>_<participant>_<track>.h264|.ivf` (same name rules
 * as audio, names.ts), with a `recordings` row (kind 'video', codec h264|vp8|vp9, status RECORDING), the
 * session resolved as for audio (query meetingId, else the room's ACTIVE session, else a new one) and the
 * participant upserted. `startedAt` = arrival of the first binary frame.
 *
 * Muted (`{"muted":true}` text frames): nothing is written while muted, and muted intervals (wall clock, Unix
 * ms: video has no sample clock) are stored on the row. So that the file stays decodable whatever the frame
 * split, muting and unmuting take effect at the next unit boundary of the byte stream: the next start code
 * for H.264, the next IVF frame header for VP8/VP9 (the 32-byte IVF file header is always written). A
 * decoder may show artefacts after an unmute until the next key frame; that is in the nature of the cut.
 *
 * The file is written by VideoFile (video-file.ts): 64 KiB block writes, `bytes` = what the kernel accepted.
 * The first bytes are written synchronously when the stream starts, in the same SQLite transaction as the
 * session, participant and row: if the file cannot be created or those bytes written (full disk, read-only
 * folder) the socket is ended with 1011 `cannot start recording: <OS error>` and nothing is left. A write
 * error later cuts the file back to its last whole unit (IVF frame, or before the last H.264 start code; a
 * file cut to nothing is removed) and ends the socket with 1011 `recording write failed: <OS error>`.
 *
 * Close (1005 end of track, 1006 lost, 1009 frame over 1 MiB, 1001 shutdown): the file is flushed and closed,
 * then the row is closed (COMPLETE, bytes = file size, endedAt, close reason, muted intervals; FAILED with
 * close_reason `<close>; write failed: <OS error>` after a write error) and 'egress.closed' is emitted. A row
 * left RECORDING by a crash is closed at the next start by `closeInterruptedVideoRecordings` (REPAIRED,
 * bytes = file size).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_socket_context_t } from 'uWebSockets.js';
import { z } from 'zod';
import type { AppContext, BusEvents, EgressStreamInfo } from '../context.js';
import { makeDirs } from '../files.js';
import type { Logger } from '../log.js';
import { HttpError } from '../http/errors.js';
import { parse } from '../http/validate.js';
import type { MutedInterval, RecordingStore } from '../store/recordings.js';
import { EGRESS_SOCKET_OPTIONS, MAX_FRAME_BYTES, closeReasonText, describeClose, readMuteFrame, refuseUpgrade, startFailureReason } from './socket.js';
import { freeRecordingPath, recordingFileName, removeEmptyDirs, resolveUnder, safeNamePart } from './names.js';
import { IVF_FILE_HEADER_BYTES, IvfWalker, VideoFile } from './video-file.js';
import { egressMetrics } from './metrics.js';
import { checkSignedQuery, egressAudioQuerySchema } from './query.js';

export const EGRESS_VIDEO_PATH = '/egress-video';

/** Values of the `codec` query parameter (PROTOCOL.md §4). */
export const VIDEO_CODECS = ['h264', 'vp8', 'vp9'] as const;
export type VideoCodec = (typeof VIDEO_CODECS)[number];

/** File extension by codec. */
export const VIDEO_EXTENSIONS: Record<VideoCodec, '.h264' | '.ivf'> = { h264: '.h264', vp8: '.ivf', vp9: '.ivf' };
/** IVF fourcc expected for each IVF codec. */
const IVF_FOURCC: Record<Exclude<VideoCodec, 'h264'>, string> = { vp8: 'VP80', vp9: 'VP90' };
export const IVF_HEADER_BYTES = IVF_FILE_HEADER_BYTES;

/** Close code of a stream whose first bytes are not the announced format (RFC 6455 §7.4.1: invalid payload data). */
export const CLOSE_BAD_STREAM = 1007;

/** `/egress-video` query: the audio name fields, plus `codec` (required); unknown parameters are ignored. */
export const egressVideoQuerySchema = egressAudioQuerySchema
  .pick({ roomName: true, participant: true, trackId: true, meetingId: true, exp: true, sig: true })
  .extend({ codec: z.enum(VIDEO_CODECS, { error: `must be one of ${VIDEO_CODECS.join(', ')}` }) });

export type EgressVideoQuery = z.output<typeof egressVideoQuerySchema>;

/**
 * Validate a raw `/egress-video` query string and, unless unsigned URLs are allowed, its signature.
 * @param rawQuery the query without `?`.
 * @param nowSec current Unix time, seconds.
 * @throws HttpError 400 bad_request (repeated or invalid parameter, naming it), 401 unauthorized
 *   ("missing signature", "bad signature", "expired").
 */
export function checkEgressVideoQuery(rawQuery: string, opts: { secret: string; allowUnsigned: boolean }, nowSec = Date.now() / 1000): EgressVideoQuery {
  return checkSignedQuery(egressVideoQuerySchema, EGRESS_VIDEO_PATH, rawQuery, opts, nowSec);
}

/** Outcome of the first-bytes check: accepted, refused with a reason (≤ 123 bytes, fits a close frame), or undecided. */
export type HeaderCheck = { ok: true } | { ok: false; reason: string } | null;

const hex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');

/**
 * Check the first bytes of a stream against its codec.
 * @param prefix every byte received so far (any length).
 * @returns `{ok:true}`, `{ok:false, reason}`, or null when more bytes are needed to decide.
 */
export function checkVideoHeader(codec: VideoCodec, prefix: Uint8Array): HeaderCheck {
  if (codec === 'h264') {
    // 00 00 01 or 00 00 00 01: decide as soon as a byte rules both out.
    const b = prefix;
    const bad = { ok: false as const, reason: `not Annex-B H.264: no start code (00 00 00 01 or 00 00 01) at byte 0, got ${hex(b.subarray(0, 4))}` };
    if (b.length >= 1 && b[0] !== 0) return bad;
    if (b.length >= 2 && b[1] !== 0) return bad;
    if (b.length >= 3) {
      if (b[2] === 1) return { ok: true };
      if (b[2] !== 0) return bad;
    }
    if (b.length >= 4) return b[3] === 1 ? { ok: true } : bad;
    return null;
  }
  const b = Buffer.from(prefix.buffer, prefix.byteOffset, prefix.byteLength);
  const sig = b.subarray(0, 4);
  if (!Buffer.from('DKIF').subarray(0, sig.length).equals(sig)) return { ok: false, reason: `not an IVF stream: signature ${hex(sig)}, expected "DKIF"` };
  if (b.length >= 6 && b.readUInt16LE(4) !== 0) return { ok: false, reason: `unsupported IVF version ${b.readUInt16LE(4)}, expected 0` };
  if (b.length >= 8 && b.readUInt16LE(6) !== IVF_HEADER_BYTES) return { ok: false, reason: `bad IVF header length ${b.readUInt16LE(6)}, expected 32` };
  if (b.length >= 12) {
    const fourcc = b.toString('latin1', 8, 12);
    const expected = IVF_FOURCC[codec];
    if (fourcc !== expected) return { ok: false, reason: `IVF fourcc ${JSON.stringify(fourcc)} does not match codec=${codec} (expected ${expected})` };
  }
  return b.length >= IVF_HEADER_BYTES ? { ok: true } : null;
}

/**
 * Finds where the next coded unit starts in a byte stream fed chunk by chunk (any split). `feed` must see
 * every chunk, in order.
 */
export interface UnitFramer {
  /**
   * Consume a chunk.
   * @param wantBoundary whether the caller needs the first boundary of this chunk (else only state is kept).
   * @returns the offset in `chunk` where the first unit starting in it begins, or null. A negative offset -k
   *   means the unit begins k bytes before the chunk (only H.264, and those k bytes are zeros).
   */
  feed(chunk: Uint8Array, wantBoundary: boolean): number | null;
  /** Leading bytes that are always written whatever the mute state (the IVF file header). */
  readonly alwaysWrite: number;
  /** Whether a unit may begin with zero bytes already seen (H.264 start codes). */
  readonly holdsZeros: boolean;
}

/** Annex-B: a unit starts at each `00 00 01` (plus one leading `00` when present: a 4-byte start code). */
export class AnnexBFramer implements UnitFramer {
  readonly alwaysWrite = 0;
  readonly holdsZeros = true;
  private tail = new Uint8Array(0);

  feed(chunk: Uint8Array, wantBoundary: boolean): number | null {
    let found: number | null = null;
    const t = this.tail.length;
    if (wantBoundary) {
      const buf = new Uint8Array(t + chunk.length);
      buf.set(this.tail, 0);
      buf.set(chunk, t);
      // Only start codes whose final 01 lies in this chunk (earlier ones were reported with the previous chunk).
      for (let j = Math.max(2, t); j < buf.length; j++) {
        if (buf[j] === 1 && buf[j - 1] === 0 && buf[j - 2] === 0) {
          let start = j - 2;
          if (start >= 1 && buf[start - 1] === 0) start--;
          found = start - t;
          break;
        }
      }
    }
    if (chunk.length >= 3) this.tail = chunk.slice(chunk.length - 3);
    else {
      const joined = new Uint8Array(t + chunk.length);
      joined.set(this.tail, 0);
      joined.set(chunk, t);
      this.tail = joined.slice(Math.max(0, joined.length - 3));
    }
    return found;
  }
}

/** IVF: after the 32-byte file header, a unit starts at each 12-byte frame header (u32le frame size first). */
export class IvfFramer implements UnitFramer {
  readonly alwaysWrite = IVF_HEADER_BYTES;
  readonly holdsZeros = false;
  private readonly walker = new IvfWalker();

  feed(chunk: Uint8Array, _wantBoundary: boolean): number | null {
    return this.walker.feed(chunk);
  }
}

/**
 * Applies the mute state at unit boundaries: `push` returns the parts of a chunk to write, `end` what is
 * left at the end of the stream. Whatever the chunking, the bytes written are exactly the stream with every
 * unit that begins while muted left out (plus the always-written prefix). For H.264, up to 3 trailing zero
 * bytes of each chunk are held back until the next chunk shows whether they begin a start code (and so
 * belong to the next unit).
 */
export class MuteGate {
  private writing: boolean;
  private muted: boolean;
  private offset = 0;
  /** Zero bytes at the end of the last chunk, not yet emitted (only while writing, only H.264). */
  private held = 0;

  /** @param muted whether the stream is muted before its first byte. */
  constructor(private readonly framer: UnitFramer, muted: boolean) {
    this.muted = muted;
    this.writing = !muted;
  }

  /** Change the mute state; it takes effect at the next unit boundary. */
  setMuted(muted: boolean): void {
    this.muted = muted;
  }

  /** The byte ranges to write for `chunk`, in order (views of `chunk`, or zero fill). */
  push(chunk: Uint8Array): Uint8Array[] {
    const start = this.offset;
    this.offset += chunk.length;
    const pending = this.writing === this.muted;
    const boundary = this.framer.feed(chunk, pending);
    const out: Uint8Array[] = [];
    // Bytes of the always-written prefix (IVF file header).
    let from = 0;
    if (start < this.framer.alwaysWrite) {
      from = Math.min(chunk.length, this.framer.alwaysWrite - start);
      out.push(chunk.subarray(0, from));
    }
    const held = this.held;
    this.held = 0;
    if (!pending || boundary === null) {
      if (this.writing) out.push(new Uint8Array(held), chunk.subarray(from));
    } else {
      const cut = Math.max(boundary, from);
      if (this.writing) {
        // The old unit ends at the boundary: held zeros before it, then the chunk up to the cut.
        out.push(new Uint8Array(boundary < 0 ? Math.max(0, held + boundary) : held), chunk.subarray(from, cut));
      }
      this.writing = !this.muted;
      // A unit starting before the chunk starts with zeros (the start code's), dropped with the previous chunk.
      if (this.writing) out.push(new Uint8Array(Math.max(0, -boundary)), chunk.subarray(cut));
    }
    if (this.writing && this.framer.holdsZeros) this.held = holdTrailingZeros(out, 3);
    return out.filter((b) => b.length > 0);
  }

  /** What is still held at the end of the stream. */
  end(): Uint8Array[] {
    const n = this.writing ? this.held : 0;
    this.held = 0;
    return n > 0 ? [new Uint8Array(n)] : [];
  }
}

/** Remove up to `max` trailing zero bytes from the end of `parts` (in place); returns how many. */
function holdTrailingZeros(parts: Uint8Array[], max: number): number {
  let n = 0;
  for (let i = parts.length - 1; i >= 0 && n < max; i--) {
    const p = parts[i]!;
    let k = p.length;
    while (k > 0 && n < max && p[k - 1] === 0) { k--; n++; }
    parts[i] = p.subarray(0, k);
    if (k > 0) break;
  }
  return n;
}

/** Per-socket state (uWS UserData). */
interface SocketData {
  query: EgressVideoQuery;
  remote: string;
  connId: number;
  /** Arrival of the first binary frame, Unix ms (0 before). */
  firstAt: number;
  /** Bytes held until the first-bytes check decides. */
  held: Buffer[];
  heldBytes: number;
  refused: boolean;
  live: LiveVideo | null;
  mutedBeforeStart: boolean;
  badTextFrames: number;
}

interface LiveVideo {
  info: EgressStreamInfo;
  /** The recording; its `bytes` count only what the kernel accepted. */
  file: VideoFile;
  gate: MuteGate;
  bytesIn: number;
  muted: boolean;
  mutedIntervals: MutedInterval[];
  closeReason: string | null;
  socketClosedAt: number | null;
  /** The first write error (OS text); the row ends FAILED. */
  writeError: string | null;
  ws: WebSocket<SocketData> | null;
  /** Resolves once the file is closed and the row finalized. */
  done: Promise<void>;
}

/** Folder of the video recordings of one meeting: `<storage>/egress/video/<meetingId>`. */
export function videoMeetingDir(storageDir: string, meetingId: string): string {
  return resolveUnder(storageDir, 'egress', 'video', safeNamePart(meetingId));
}

/** `<startedAtMs>_<room>_<participant>_<track>[-n].h264|.ivf` (the audio name rules, names.ts). */
export function videoFileName(startedAtMs: number, room: string, participant: string, track: string, codec: VideoCodec, suffix = 0): string {
  return recordingFileName(startedAtMs, room, participant, track, suffix).replace(/\.wav$/, VIDEO_EXTENSIONS[codec]);
}

export interface VideoEgressDeps {
  ctx: AppContext;
  recordings: RecordingStore;
  log: Logger;
}

/** The `/egress-video` handler and the bookkeeping of its streams. */
export class VideoEgress {
  private readonly sockets = new Set<WebSocket<SocketData>>();
  private readonly streams = new Set<LiveVideo>();
  private readonly pathsInUse = new Set<string>();
  private nextConnId = 1;
  private accepting = true;

  constructor(private readonly deps: VideoEgressDeps) {}

  /** Video streams with an open recording (for /health `egressStreams`). */
  get streamCount(): number {
    return this.streams.size;
  }

  /** Register the WebSocket route on the uWS app; a finished meeting's sockets still open are ended (1000). */
  register(app: TemplatedApp): void {
    this.deps.ctx.meetings.on('meeting.finished', (meetingId) => {
      for (const live of [...this.streams]) if (live.info.meetingId === meetingId && live.ws) live.ws.end(1000, 'meeting finished');
    });
    app.ws<SocketData>(EGRESS_VIDEO_PATH, {
      ...EGRESS_SOCKET_OPTIONS,
      upgrade: (res, req, context) => this.upgrade(res, req, context),
      open: (ws) => { this.sockets.add(ws); },
      message: (ws, message, isBinary) => this.message(ws, message, isBinary),
      close: (ws, code, message) => this.close(ws, code, message),
    });
  }

  private upgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void {
    const rawQuery = req.getQuery() ?? '';
    const key = req.getHeader('sec-websocket-key');
    const protocol = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    const remote = Buffer.from(res.getRemoteAddressAsText()).toString();
    let query: EgressVideoQuery;
    try {
      if (!this.accepting) throw new HttpError('unavailable', 'server is shutting down');
      query = checkEgressVideoQuery(rawQuery, { secret: this.deps.ctx.config.EGRESS_SECRET, allowUnsigned: this.deps.ctx.config.EGRESS_ALLOW_UNSIGNED });
    } catch (err) {
      refuseUpgrade(res, err, this.deps.log, 'video egress', remote);
      return;
    }
    const data: SocketData = {
      query, remote, connId: this.nextConnId++, firstAt: 0, held: [], heldBytes: 0, refused: false, live: null, mutedBeforeStart: false, badTextFrames: 0,
    };
    res.cork(() => { res.upgrade<SocketData>(data, key, protocol, extensions, context); });
  }

  private message(ws: WebSocket<SocketData>, message: ArrayBuffer, isBinary: boolean): void {
    const d = ws.getUserData();
    if (d.refused) return;
    if (message.byteLength > MAX_FRAME_BYTES) {
      this.deps.log.warn({ remote: d.remote, room: d.query.roomName, bytes: message.byteLength }, 'video egress frame over 1 MiB: closing with 1009');
      ws.end(1009, 'frame over 1 MiB');
      return;
    }
    if (!isBinary) { this.text(d, message); return; }
    const metrics = egressMetrics(this.deps.ctx.metrics);
    metrics.bytesIn.inc({ kind: 'video' }, message.byteLength);
    metrics.framesIn.inc({ kind: 'video' });
    if (d.live) { this.write(d.live, new Uint8Array(message)); return; }
    // uWS reuses the ArrayBuffer after this callback: copy what is held.
    if (d.firstAt === 0) d.firstAt = Date.now();
    d.held.push(Buffer.from(new Uint8Array(message)));
    d.heldBytes += message.byteLength;
    const prefix = Buffer.concat(d.held, d.heldBytes);
    const check = checkVideoHeader(d.query.codec, prefix);
    if (check === null) return;
    d.held = [];
    d.heldBytes = 0;
    if (!check.ok) {
      d.refused = true;
      this.deps.log.warn({ remote: d.remote, room: d.query.roomName, codec: d.query.codec, reason: check.reason }, 'video egress stream refused');
      ws.end(CLOSE_BAD_STREAM, check.reason);
      return;
    }
    this.start(ws, d, prefix);
  }

  /**
   * Create the row and the file once the first bytes passed the check, and write those bytes (`prefix`)
   * synchronously. Null (socket ended with 1011 and a reason naming the OS error, e.g. "cannot start
   * recording: ENOSPC: no space left on device") on failure.
   *
   * As for audio, the session resolution, the participant upsert, the row insert and the file creation with
   * its first bytes run in one SQLite transaction: a stream refused because the file cannot be created or
   * its first bytes written leaves no session it created, no row and no file (VideoFile.create removes it;
   * a meeting folder made for it is removed when still empty).
   */
  private start(ws: WebSocket<SocketData>, d: SocketData, prefix: Uint8Array): LiveVideo | null {
    const { ctx, recordings, log } = this.deps;
    const q = d.query;
    const startedAt = d.firstAt;
    const made: { dir?: string; createdDir?: string } = {};
    // Bound once the stream is live: the file's write errors end its socket.
    let live: LiveVideo | null = null;
    try {
      const gate = new MuteGate(q.codec === 'h264' ? new AnnexBFramer() : new IvfFramer(), d.mutedBeforeStart);
      const { session, participantId, trackId, relPath, row, mutedIntervals, file } = ctx.db.transaction(() => {
        const session = ctx.sessions.resolve(q.roomName, q.meetingId);
        const participantId = q.participant ?? q.trackId ?? `anonymous-${d.connId}`;
        const trackId = q.trackId ?? 'video';
        ctx.meetings.upsertParticipant({ meetingId: session.meetingId, identity: participantId });
        made.dir = videoMeetingDir(ctx.config.STORAGE_DIR, session.meetingId);
        made.createdDir = makeDirs(made.dir);
        const filePath = freeRecordingPath(made.dir, this.pathsInUse, (n) => videoFileName(startedAt, q.roomName, participantId, trackId, q.codec, n));
        const relPath = path.relative(ctx.config.STORAGE_DIR, filePath).split(path.sep).join('/');
        const mutedIntervals: MutedInterval[] = d.mutedBeforeStart ? [{ startMs: startedAt, endMs: null }] : [];
        const row = recordings.insert({ meetingId: session.meetingId, participant: participantId, trackId, kind: 'video', codec: q.codec, path: relPath, startedAt, mutedIntervals });
        // Last: it creates the file and writes the first bytes. Throws (and the transaction rolls back) when it cannot.
        const file = VideoFile.create(filePath, q.codec, gate.push(prefix), (text) => {
          log.error({ recordingId: row.id, path: relPath, error: text }, 'video recording write failed');
          if (live?.ws) live.ws.end(1011, closeReasonText(`recording write failed: ${text}`));
        });
        return { session, participantId, trackId, relPath, row, mutedIntervals, file };
      })();
      const info: EgressStreamInfo = {
        streamId: -1, kind: 'video', meetingId: session.meetingId, roomName: q.roomName, participant: participantId, trackId, startedAt, recordingId: row.id, path: file.path,
      };
      const l: LiveVideo = {
        info, file, gate, bytesIn: prefix.length, muted: d.mutedBeforeStart, mutedIntervals, closeReason: null, socketClosedAt: null, writeError: null, ws,
        done: file.closed.then(() => this.finalize(l)),
      };
      live = l;
      d.live = l;
      this.streams.add(l);
      this.pathsInUse.add(file.path);
      log.info({ meetingId: info.meetingId, room: q.roomName, participantId, trackId, codec: q.codec, path: relPath, remote: d.remote }, 'video egress stream opened');
      ctx.meetings.streamOpened(info);
      return l;
    } catch (err) {
      if (made.dir) removeEmptyDirs(made.dir, made.createdDir);
      const reason = startFailureReason(err);
      log.error({ err, room: q.roomName, participant: q.participant, remote: d.remote, reason }, 'cannot start the video egress stream');
      d.refused = true;
      ws.end(1011, reason);
      return null;
    }
  }

  private write(live: LiveVideo, chunk: Uint8Array): void {
    live.bytesIn += chunk.length;
    if (live.file.error !== null) return;
    for (const part of live.gate.push(chunk)) live.file.append(part);
  }

  private text(d: SocketData, message: ArrayBuffer): void {
    const muted = readMuteFrame(message, d, this.deps.log, 'video egress');
    if (muted === null) return;
    if (!d.live) { d.mutedBeforeStart = muted; return; }
    const live = d.live;
    if (live.muted === muted) return;
    const at = Date.now();
    live.muted = muted;
    live.gate.setMuted(live.muted);
    if (live.muted) live.mutedIntervals.push({ startMs: at, endMs: null });
    else live.mutedIntervals[live.mutedIntervals.length - 1]!.endMs = at;
    this.deps.recordings.setMutedIntervals(live.info.recordingId, live.mutedIntervals);
    this.deps.ctx.meetings.streamMuted(live.info, live.muted, at);
  }

  private close(ws: WebSocket<SocketData>, code: number, message: ArrayBuffer): void {
    this.sockets.delete(ws);
    const d = ws.getUserData();
    const reason = describeClose(code, message);
    const live = d.live;
    if (!live) {
      this.deps.log.info({ remote: d.remote, room: d.query.roomName, reason, heldBytes: d.heldBytes }, 'video egress socket closed before a recording started');
      return;
    }
    live.ws = null;
    live.closeReason = reason;
    live.socketClosedAt = Date.now();
    if (live.file.error === null) for (const part of live.gate.end()) live.file.append(part);
    void live.file.end();
  }

  /** Close the row once the file is closed (runs once per stream, when `file.closed` resolves). */
  private finalize(live: LiveVideo): void {
    if (!this.streams.delete(live)) return;
    this.pathsInUse.delete(live.info.path);
    const open = live.mutedIntervals[live.mutedIntervals.length - 1];
    const endedAt = live.socketClosedAt ?? Date.now();
    if (open && open.endMs === null) open.endMs = Math.max(open.startMs, endedAt);
    const reason = live.closeReason ?? 'closed';
    if (live.ws) live.ws.end(1011, 'recording closed');
    live.writeError = live.file.error;
    if (live.writeError) egressMetrics(this.deps.ctx.metrics).recordingWriteErrors.inc({ kind: 'video' });
    try {
      this.deps.recordings.finish(live.info.recordingId, {
        bytes: live.file.bytes, endedAt, status: live.writeError ? 'FAILED' : 'COMPLETE',
        closeReason: live.writeError ? `${reason}; write failed: ${live.writeError}` : reason, mutedIntervals: live.mutedIntervals,
      });
    } catch (err) {
      this.deps.log.error({ err, recordingId: live.info.recordingId }, 'cannot close the video recording row');
    }
    this.deps.log.info({ meetingId: live.info.meetingId, recordingId: live.info.recordingId, bytesIn: live.bytesIn, bytesWritten: live.file.bytes, writeError: live.writeError, reason }, 'video egress recording closed');
    this.deps.ctx.meetings.streamClosed(live.info, reason);
  }

  /** Graceful shutdown: refuse upgrades, end every socket with 1001, wait until every file is closed and its row finalized. */
  async shutdown(): Promise<void> {
    this.accepting = false;
    for (const ws of [...this.sockets]) ws.end(1001, 'server shutting down');
    await Promise.all([...this.streams].map((s) => s.done));
  }

  private emit<K extends keyof BusEvents>(name: K, ...args: BusEvents[K]): void {
    try {
      (this.deps.ctx.bus.emit as (n: string, ...a: unknown[]) => boolean)(name, ...args);
    } catch (err) {
      this.deps.log.error({ err, event: name }, 'a bus listener threw');
    }
  }
}

/**
 * Start-up: close the video rows a crash left RECORDING. The file keeps every byte written before the
 * crash (the last unit may be cut, which decoders skip); the row becomes REPAIRED with bytes = file size and
 * endedAt = file mtime, or FAILED when the file is missing. Never throws.
 * @returns how many rows were repaired and failed.
 */
export function closeInterruptedVideoRecordings(storageDir: string, recordings: RecordingStore, log: Logger): { repaired: number; failed: number } {
  const report = { repaired: 0, failed: 0 };
  for (const row of recordings.byStatus('RECORDING')) {
    if (row.kind !== 'video') continue;
    try {
      try {
        const st = fs.statSync(resolveUnder(storageDir, row.path));
        recordings.finish(row.id, {
          bytes: st.size, endedAt: Math.round(st.mtimeMs), status: 'REPAIRED', closeReason: 'server stopped before the stream ended; closed at start-up',
          mutedIntervals: row.mutedIntervals.map((m) => (m.endMs === null ? { startMs: m.startMs, endMs: Math.max(m.startMs, Math.round(st.mtimeMs)) } : m)),
        });
        report.repaired++;
        log.warn({ recordingId: row.id, path: row.path, bytes: st.size }, 'video recording closed after a crash');
      } catch (err) {
        recordings.finish(row.id, { bytes: row.bytes, endedAt: Date.now(), status: 'FAILED', closeReason: `repair failed: ${(err as Error).message}` });
        report.failed++;
        log.error({ err, recordingId: row.id, path: row.path }, 'video recording could not be closed');
      }
    } catch (err) {
      log.error({ err, recordingId: row.id }, 'cannot update the video recording row');
    }
  }
  return report;
}
