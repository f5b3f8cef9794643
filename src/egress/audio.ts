/**
 * `/egress-audio`: the LiveKit Track Egress WebSocket target of PROTOCOL.md §4.
 *
 * Per socket: the query is validated (and its signature checked) in `upgrade`, before anything is created.
 * The first binary frame queues the stream's start: its arrival is `startedAt` (the stream clock origin), and
 * what arrives until the start is held in order (copies). Starts run from the queue, at most START_TURN_MS per
 * turn of the event loop, so a thousand streams opening at once do not hold the loop. A start resolves the
 * meeting, upserts the participant, inserts a `recordings` row (RECORDING) and opens the native AudioStream
 * with its recording path, all in one SQLite transaction: when the file cannot be created or its
 * header written (full disk, read-only folder) the socket is ended with 1011 `cannot start recording: <OS
 * error>` and nothing is left (no session this stream created, no row, no file). Every binary frame,
 * whatever its byte count, goes to `stream.push` as a view of uWS's ArrayBuffer (one memcpy, in native code). Text frames `{"muted":bool}`
 * mute/unmute the stream on the stream clock; anything else is logged and ignored. When the socket closes
 * (1005 at the end of the track, 1006 when the client vanished, 1009 for a frame over 1 MiB, 1001 at
 * shutdown) the stream is closed; its `closed` engine event finalizes the row (COMPLETE, bytes, endedAt,
 * close reason, muted intervals).
 *
 * Input waits in the engine's block queue until a worker writes and analyses it, so a burst (a network stall
 * releasing seconds of audio at once) is recorded whole. When a frame would pass a queue bound
 * (AUDIO_STREAM_QUEUE_MS for the stream, AUDIO_QUEUE_MAX_MB for all streams) it is lost and the socket is
 * closed with 4008 (QUEUE_BOUND_CLOSE_CODE): the row ends FAILED, its close reason says how many bytes were
 * lost where, and `gaps` lists them (offset and length in bytes of the WAV data). A row is never COMPLETE with
 * a hole.
 *
 * A write error during the stream (ENOSPC, EIO, ...) arrives as an `error` event (write_failed, the OS text):
 * the native writer has stopped and cut the file back to its last whole sample frame with matching header
 * sizes. The stream keeps being analysed (feedback goes on) until the socket closes; the row then ends FAILED
 * with `bytes` = the cut file's data bytes and close_reason `<close>; write failed: <OS text>`.
 *
 * Teardown (see `shutdown`): sockets are ended with 1001 (uWS calls `close` at once, which closes each
 * stream), then `engine.close()` drains and finalizes every stream and its ClosedEvents finalize the rows.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_socket_context_t } from 'uWebSockets.js';
import type { AppContext, BusEvents, EgressStreamInfo } from '../context.js';
import { makeDirs } from '../files.js';
import type { Logger } from '../log.js';
import { HttpError } from '../http/errors.js';
import type { AudioEngine, AudioStream } from '../pipeline/engine.js';
import type { StatsRows } from '../pipeline/stats.js';
import { PUSH_OK, PUSH_OVER_GLOBAL_BOUND, PUSH_TOO_BIG, type ClosedEvent, type EngineEvent, type ErrorEvent, type PushResult, type SegmentEvent } from '../pipeline/types.js';
import type { MutedInterval, RecordingStore } from '../store/recordings.js';
import { audioMeetingDir, freeRecordingPath, recordingFileName, removeEmptyDirs, segmentPath } from './names.js';
import type { PipelineLogs } from './pipeline-log.js';
import { EGRESS_AUDIO_PATH, checkEgressAudioQuery, type EgressAudioQuery } from './query.js';
import type { StatsSummaries } from './stats.js';
import { EGRESS_SOCKET_OPTIONS, MAX_FRAME_BYTES, QUEUE_BOUND_CLOSE_CODE, describeClose, readMuteFrame, refuseUpgrade, startFailureReason } from './socket.js';
import { WAV_HEADER_BYTES } from './wav.js';
import { egressMetrics, type EgressMetrics } from './metrics.js';


/** Per-socket state (uWS UserData). */
interface SocketData {
  query: EgressAudioQuery;
  /** Remote address, for logs. */
  remote: string;
  connId: number;
  /** The stream, from its start on (the first binary frame queues the start: `pending` meanwhile). */
  live: LiveStream | null;
  /** From the first binary frame until the stream starts (AudioEgress.startQueued). */
  pending: PendingStart | null;
  /** Mute state announced before the first binary frame. */
  mutedBeforeStart: boolean;
  badTextFrames: number;
}

/**
 * A stream whose first binary frame has arrived and whose start is queued (`AudioEgress.startQueued`): what
 * arrives meanwhile is kept in order, copied (uWS's ArrayBuffer is valid only during its callback).
 */
interface PendingStart {
  /** Arrival of the first binary frame, Unix ms: the stream clock origin. */
  startedAt: number;
  /** Binary frames (copies) and mute changes (`{"muted":bool}` text frames), in arrival order. */
  items: (ArrayBuffer | boolean)[];
  bytes: number;
  /** The socket; null once it closed (the stream is then started, fed what arrived and closed at once). */
  ws: WebSocket<SocketData> | null;
  /** Why and when the socket closed before the start; null while it is open. */
  closed: { reason: string; atMs: number } | null;
}

/** A stream opened in the engine and not yet finalized. */
interface LiveStream {
  info: EgressStreamInfo;
  stream: AudioStream;
  sampleRate: number;
  /** Bytes per sample frame (all channels). */
  frameBytes: number;
  muted: boolean;
  mutedIntervals: MutedInterval[];
  /** Why the socket closed; null while it is open. */
  closeReason: string | null;
  /** Wall clock of the socket close, Unix ms. */
  socketClosedAt: number | null;
  /** First write failure reported by the engine (the row ends FAILED). */
  writeError: string | null;
  /** Why audio was lost past a queue bound (the socket was closed with 4008, the row ends FAILED); null: none. */
  boundReason: string | null;
  ws: WebSocket<SocketData> | null;
  /** Binary frames received (bytes are counted natively: `stream.receivedBytes`). */
  frames: number;
}

/** What one pipeline log `flush` line reports for a meeting. */
interface MeetingFigures {
  stats: number;
  segments: number;
  overlaps: number;
  errors: number;
  /** The latest stats report of each stream (copied from the row). */
  streams: Map<number, StreamFigures>;
}

/** What a pipeline log `flush` line keeps of a stream's latest stats report. */
interface StreamFigures {
  streamId: number;
  participantId: string;
  tMs: number;
  recordedBytes: number;
  overflowBytes: number;
  speaking: boolean;
  rmsDbfs: number | null;
}

/** Period of the participant_stats writes and pipeline log lines, ms (the native writer flushes ≤ 1 s apart). */
export const FLUSH_INTERVAL_MS = 1000;

/**
 * Stream starts run from a queue, at most this long per turn of the event loop, ms (a start is a SQLite
 * transaction, a file created and its header written: ~0.3–1.5 ms; 1,000 streams opening at once would hold
 * the loop a second).
 */
const START_TURN_MS = 2;
/**
 * A queued stream is started at once, out of turn, when what it sent meanwhile passes this many bytes (1.4 s of
 * 48 kHz stereo), or when all queued streams together pass PENDING_TOTAL_BYTES: what waits in JS stays bounded.
 */
const PENDING_STREAM_BYTES = 256 * 1024;
/** Closed streams finalized together (their summaries written in one transaction) before the time is checked. */
const FINALIZE_CHUNK = 16;
const PENDING_TOTAL_BYTES = 64 * 1024 * 1024;

export interface AudioEgressDeps {
  ctx: AppContext;
  recordings: RecordingStore;
  stats: StatsSummaries;
  pipelineLogs: PipelineLogs;
  log: Logger;
}

/** The `/egress-audio` handler and the bookkeeping of its streams. */
export class AudioEgress {
  private engine: AudioEngine | null = null;
  private readonly sockets = new Set<WebSocket<SocketData>>();
  private readonly streams = new Map<number, LiveStream>();
  /** Bytes and frames received by the streams already closed (for `meetcore_egress_received_*_total`). */
  private closedBytes = 0;
  private closedFrames = 0;
  /** Absolute recording paths of live streams (two streams never share a file). */
  private readonly pathsInUse = new Set<string>();
  private readonly pendingWrites = new Set<Promise<void>>();
  /** Pipeline log figures gathered since the last flush, by meeting. */
  private readonly pendingFigures = new Map<string, MeetingFigures>();
  private flushTimer: NodeJS.Timeout | null = null;
  private nextConnId = 1;
  /** Sockets whose stream start is queued, in arrival order (`startQueued`). */
  private readonly starting = new Set<SocketData>();
  private startsScheduled = false;
  /** Streams the engine reported closed, to finalize in order (`finalizeQueued`). */
  private readonly closing: ClosedEvent[] = [];
  private finalizeScheduled = false;
  /** Bytes held by the queued starts. */
  private pendingBytes = 0;
  /** False once shutdown began: upgrades get 503. */
  private accepting = true;
  /** True once shutdown finished: late engine batches are ignored (the database is closing). */
  private finished = false;

  private readonly metrics: EgressMetrics;

  constructor(private readonly deps: AudioEgressDeps) {
    this.metrics = egressMetrics(deps.ctx.metrics);
    // Read at scrape time, so the per-frame path stays a push and a field increment.
    this.metrics.audioTotals = () => {
      let bytes = this.closedBytes, frames = this.closedFrames;
      for (const s of this.streams.values()) { bytes += s.stream.receivedBytes; frames += s.frames; }
      return { bytes, frames };
    };
  }

  /** The engine is created by the caller with `onEngineEvents` as its callback; null = unavailable (503). */
  setEngine(engine: AudioEngine | null): void {
    this.engine = engine;
  }

  /** Streams open in the engine (for /health `egressStreams`). */
  get streamCount(): number {
    return this.streams.size;
  }

  /** Streams of one meeting open in the engine (from the first binary frame until the row is closed). */
  streamsOfMeeting(meetingId: string): number {
    let n = 0;
    for (const s of this.streams.values()) if (s.info.meetingId === meetingId) n++;
    return n;
  }

  /**
   * Follow the meetings owner: a participant who becomes a host (or stops being one) is excluded from (or
   * included in) overlap feedback at once on the native timeline of each of their live streams; a finished
   * meeting's sockets still open are ended (1000), which closes their recordings.
   */
  private follow(): void {
    const { meetings } = this.deps.ctx;
    meetings.on('participant.roles', (meetingId, participantId, isHost) => {
      for (const live of this.streams.values()) {
        if (live.info.meetingId === meetingId && live.info.participant === participantId) live.stream.setExcluded(isHost);
      }
    });
    meetings.on('meeting.finished', (meetingId) => {
      // Queued starts first: a socket whose first frame came before the end is one of the meeting's streams.
      this.startQueued(true);
      for (const live of [...this.streams.values()]) {
        if (live.info.meetingId === meetingId && live.ws) {
          this.deps.log.info({ streamId: live.info.streamId, meetingId }, 'meeting finished: ending its egress socket');
          live.ws.end(1000, 'meeting finished');
        }
      }
    });
  }

  /** Register the WebSocket route on the uWS app and start the once-a-second flush. */
  register(app: TemplatedApp): void {
    this.follow();
    this.flushTimer = setInterval(() => this.flush(), FLUSH_INTERVAL_MS);
    this.flushTimer.unref();
    app.ws<SocketData>(EGRESS_AUDIO_PATH, {
      ...EGRESS_SOCKET_OPTIONS,
      upgrade: (res, req, context) => this.upgrade(res, req, context),
      open: (ws) => { this.sockets.add(ws); },
      message: (ws, message, isBinary) => this.message(ws, message, isBinary),
      close: (ws, code, message) => this.close(ws, code, message),
    });
  }

  /** Validate before upgrading; everything here is synchronous, so no onAborted is needed. */
  private upgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void {
    const rawQuery = req.getQuery() ?? '';
    const key = req.getHeader('sec-websocket-key');
    const protocol = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    const remote = Buffer.from(res.getRemoteAddressAsText()).toString();
    let query: EgressAudioQuery;
    try {
      if (!this.accepting) throw new HttpError('unavailable', 'server is shutting down');
      if (!this.engine) throw new HttpError('unavailable', 'the native audio engine is not available');
      query = checkEgressAudioQuery(rawQuery, { secret: this.deps.ctx.config.EGRESS_SECRET, allowUnsigned: this.deps.ctx.config.EGRESS_ALLOW_UNSIGNED });
    } catch (err) {
      refuseUpgrade(res, err, this.deps.log, 'egress', remote);
      return;
    }
    const data: SocketData = { query, remote, connId: this.nextConnId++, live: null, pending: null, mutedBeforeStart: false, badTextFrames: 0 };
    res.cork(() => { res.upgrade<SocketData>(data, key, protocol, extensions, context); });
  }

  /**
   * Per frame: nothing but the push. The native stream counts the bytes (the stream clock, `receivedBytes`)
   * and refuses a frame over MAX_FRAME_BYTES whole (PUSH_TOO_BIG, nothing copied); everything else (the first
   * frame, text frames, oversized frames, a queue bound reached) takes the slow path.
   */
  private message(ws: WebSocket<SocketData>, message: ArrayBuffer, isBinary: boolean): void {
    const live = ws.getUserData().live;
    if (live !== null && isBinary) {
      const r = live.stream.push(message);
      if (r === PUSH_OK) { live.frames++; return; }
      if (r !== PUSH_TOO_BIG) { live.frames++; this.overBound(ws, live, r); return; }
    }
    this.slowMessage(ws, message, isBinary);
  }

  /**
   * A push passed a queue bound: the frame is lost (and every later one would be), so the socket is closed
   * with 4008 and a reason naming the bound; the engine's `closed` event lists the gap for the row.
   */
  private overBound(ws: WebSocket<SocketData> | null, live: LiveStream, r: PushResult): void {
    if (live.boundReason !== null) return;
    live.boundReason = r === PUSH_OVER_GLOBAL_BOUND
      ? `server queue bound reached (AUDIO_QUEUE_MAX_MB=${this.deps.ctx.config.AUDIO_QUEUE_MAX_MB})`
      : `stream queue bound reached (AUDIO_STREAM_QUEUE_MS=${this.deps.ctx.config.AUDIO_STREAM_QUEUE_MS})`;
    this.deps.log.warn({ streamId: live.info.streamId, meetingId: live.info.meetingId, lostBytes: live.stream.overflowBytes, queuedBytes: live.stream.queuedBytes, reason: live.boundReason },
      'egress audio arrived faster than it could be written: closing with 4008');
    ws?.end(QUEUE_BOUND_CLOSE_CODE, live.boundReason);
  }

  private slowMessage(ws: WebSocket<SocketData>, message: ArrayBuffer, isBinary: boolean): void {
    const d = ws.getUserData();
    if (message.byteLength > MAX_FRAME_BYTES) {
      this.deps.log.warn({ remote: d.remote, room: d.query.roomName, bytes: message.byteLength }, 'egress frame over 1 MiB: closing with 1009');
      ws.end(1009, 'frame over 1 MiB');
      return;
    }
    if (isBinary) {
      if (d.live) {
        const r = d.live.stream.push(message);  // the ArrayBuffer itself: no view to allocate per frame
        d.live.frames++;
        if (r !== PUSH_OK) this.overBound(ws, d.live, r);
      } else this.queueStart(ws, d, message.slice(0));
      return;
    }
    this.text(d, message);
  }

  /**
   * Hold `frame` (a copy) for the stream's start; the first frame queues the start (its arrival is the stream
   * clock origin). Starts run in turns of at most START_TURN_MS (`startQueued`); one whose held bytes pass
   * PENDING_STREAM_BYTES, or all of them past PENDING_TOTAL_BYTES, starts at once.
   */
  private queueStart(ws: WebSocket<SocketData>, d: SocketData, frame: ArrayBuffer): void {
    let p = d.pending;
    if (!p) {
      p = d.pending = { startedAt: Date.now(), items: [], bytes: 0, ws, closed: null };
      this.starting.add(d);
      if (!this.startsScheduled) {
        this.startsScheduled = true;
        setImmediate(() => this.startQueued());
      }
    }
    p.items.push(frame);
    p.bytes += frame.byteLength;
    this.pendingBytes += frame.byteLength;
    if (p.bytes > PENDING_STREAM_BYTES || this.pendingBytes > PENDING_TOTAL_BYTES) this.begin(d);
  }

  /** Start queued streams for at most START_TURN_MS (all of them with `all`), the rest at the next turn. */
  private startQueued(all = false): void {
    this.startsScheduled = false;
    const until = performance.now() + START_TURN_MS;
    for (const d of this.starting) {
      try {
        this.begin(d);
      } catch (err) {
        this.deps.log.error({ err, remote: d.remote, room: d.query.roomName }, 'cannot start a queued egress stream');
      }
      if (!all && performance.now() >= until) break;
    }
    if (this.starting.size > 0 && !this.startsScheduled) {
      this.startsScheduled = true;
      setImmediate(() => this.startQueued());
    }
  }

  /** Start the queued stream of `d`, feed it what arrived meanwhile in order, and close it when its socket did. */
  private begin(d: SocketData): void {
    const p = d.pending;
    if (!p) return;
    this.starting.delete(d);
    d.pending = null;
    this.pendingBytes -= p.bytes;
    const live = this.start(p.ws, d, p.startedAt);
    if (!live) return;
    // Everything held is pushed, even past a bound (the engine records what it refuses as gaps); the socket is
    // ended with 4008 only afterwards (ending it closes the stream at once).
    for (const item of p.items) {
      if (typeof item === 'boolean') { this.setMuted(live, item); continue; }
      const r = live.stream.push(item);
      live.frames++;
      if (r !== PUSH_OK && r !== PUSH_TOO_BIG) this.overBound(null, live, r);
    }
    if (live.boundReason !== null && live.ws) live.ws.end(QUEUE_BOUND_CLOSE_CODE, live.boundReason);
    if (p.closed) {
      live.ws = null;
      live.closeReason = p.closed.reason;
      live.socketClosedAt = p.closed.atMs;
      live.stream.close();
    }
  }

  /** Stream clock of the next sample to arrive, Unix ms. */
  private clockMs(live: LiveStream): number {
    return live.info.startedAt + Math.round((Math.floor(live.stream.receivedBytes / live.frameBytes) * 1000) / live.sampleRate);
  }

  /**
   * Open the stream whose first binary frame arrived at `startedAt` (Unix ms). Returns null (and ends the
   * socket, when still open, with 1011 and a reason naming the OS error, e.g. "cannot start recording: No space
   * left on device") on failure.
   *
   * The session resolution, the participant upsert, the row insert and the opening of the recording (the
   * native writer creates the file and writes its header) run in one SQLite transaction: when the file cannot
   * be created or its header written, everything is rolled back, so a refused stream leaves no session it
   * created (ACTIVE or not), no participant change, no row and no file (the native writer removes a file whose
   * header it could not write; a meeting folder made for it is removed when still empty).
   */
  private start(ws: WebSocket<SocketData> | null, d: SocketData, startedAt: number): LiveStream | null {
    const { ctx, recordings, log } = this.deps;
    const q = d.query;
    const made: { stream?: AudioStream; dir?: string; createdDir?: string } = {};
    try {
      const { session, participantId, trackId, file, relPath, row, mutedIntervals } = ctx.db.transaction(() => {
        const session = ctx.sessions.resolve(q.roomName, q.meetingId);
        const participantId = q.participant ?? q.trackId ?? `anonymous-${d.connId}`;
        const trackId = q.trackId ?? 'audio';
        const participant = ctx.meetings.upsertParticipant({ meetingId: session.meetingId, identity: participantId });
        made.dir = audioMeetingDir(ctx.config.STORAGE_DIR, session.meetingId);
        made.createdDir = makeDirs(made.dir);
        const file = freeRecordingPath(made.dir, this.pathsInUse, (n) => recordingFileName(startedAt, q.roomName, participantId, trackId, n));
        const mutedIntervals: MutedInterval[] = d.mutedBeforeStart ? [{ startMs: startedAt, endMs: null }] : [];
        const relPath = path.relative(ctx.config.STORAGE_DIR, file).split(path.sep).join('/');
        const row = recordings.insert({
          meetingId: session.meetingId, participant: participantId, trackId, kind: 'audio', codec: 'pcm_s16le', path: relPath,
          sampleRate: q.sampleRate, channels: q.channels, startedAt, mutedIntervals,
        });
        // Last: it creates the file. Throws (and the transaction rolls back) when it cannot.
        made.stream = this.engine!.openStream({
          meetingId: session.meetingId, participantId, sampleRate: q.sampleRate, channels: q.channels,
          groupSeconds: q.groupSeconds, segments: ctx.config.SEGMENT_FILES || Boolean(ctx.config.HUME_API_KEY),
          startedAtMs: startedAt, recordingPath: file, excluded: participant.isHost, maxPushBytes: MAX_FRAME_BYTES,
        });
        return { session, participantId, trackId, file, relPath, row, mutedIntervals };
      })();
      const stream = made.stream!;
      if (d.mutedBeforeStart) stream.setMuted(true);
      const info: EgressStreamInfo = {
        streamId: stream.id, kind: 'audio', meetingId: session.meetingId, roomName: q.roomName, participant: participantId,
        trackId, startedAt, recordingId: row.id, path: file,
      };
      const live: LiveStream = {
        info, stream, sampleRate: q.sampleRate, frameBytes: q.channels * 2, muted: d.mutedBeforeStart,
        mutedIntervals, closeReason: null, socketClosedAt: null, writeError: null, boundReason: null, ws, frames: 0,
      };
      d.live = live;
      this.streams.set(stream.id, live);
      this.pathsInUse.add(file);
      this.deps.stats.addStream(stream.id, q.sampleRate, startedAt, session.meetingId, participantId);
      this.deps.pipelineLogs.write(info.meetingId, {
        event: 'opened', streamId: info.streamId, participantId, trackId, recordingId: row.id, path: relPath,
        sampleRate: q.sampleRate, channels: q.channels, groupSeconds: q.groupSeconds, startedAt,
      });
      log.info({ streamId: info.streamId, meetingId: info.meetingId, room: q.roomName, participantId, trackId, path: relPath, remote: d.remote }, 'egress stream opened');
      ctx.meetings.streamOpened(info);
      return live;
    } catch (err) {
      made.stream?.close();  // only when the commit itself failed after the file was opened
      if (made.dir) removeEmptyDirs(made.dir, made.createdDir);
      const reason = startFailureReason(err);
      log.error({ err, room: q.roomName, participant: q.participant, remote: d.remote, reason }, 'cannot start the egress stream');
      ws?.end(1011, reason);
      return null;
    }
  }

  private text(d: SocketData, message: ArrayBuffer): void {
    const muted = readMuteFrame(message, d, this.deps.log, 'egress');
    if (muted === null) return;
    if (d.pending) { d.pending.items.push(muted); return; }
    if (!d.live) { d.mutedBeforeStart = muted; return; }
    this.setMuted(d.live, muted);
  }


  private setMuted(live: LiveStream, muted: boolean): void {
    if (live.muted === muted) return;
    const at = this.clockMs(live);
    live.muted = muted;
    live.stream.setMuted(muted);
    if (muted) live.mutedIntervals.push({ startMs: at, endMs: null });
    else live.mutedIntervals[live.mutedIntervals.length - 1]!.endMs = at;
    this.deps.recordings.setMutedIntervals(live.info.recordingId, live.mutedIntervals);
    this.deps.pipelineLogs.write(live.info.meetingId, { event: muted ? 'muted' : 'unmuted', streamId: live.info.streamId, atMs: at });
    this.deps.ctx.meetings.streamMuted(live.info, muted, at);
  }

  private close(ws: WebSocket<SocketData>, code: number, message: ArrayBuffer): void {
    this.sockets.delete(ws);
    const d = ws.getUserData();
    const reason = describeClose(code, message);
    const live = d.live;
    if (d.pending) {
      // Its start is queued: it starts, takes what arrived and closes then.
      d.pending.ws = null;
      d.pending.closed = { reason, atMs: Date.now() };
      this.deps.log.info({ remote: d.remote, room: d.query.roomName, bytesIn: d.pending.bytes, reason }, 'egress socket closed before its stream started');
      return;
    }
    if (!live) {
      this.deps.log.info({ remote: d.remote, room: d.query.roomName, reason }, 'egress socket closed before any audio');
      return;
    }
    live.ws = null;
    live.closeReason = reason;
    live.socketClosedAt = Date.now();
    this.deps.log.info({ streamId: live.info.streamId, meetingId: live.info.meetingId, bytesIn: live.stream.receivedBytes, reason }, 'egress socket closed');
    live.stream.close();
  }

  /**
   * The engine's batch callback: forwards the batch on the bus ('audio.stats' with the packed stats rows,
   * then 'audio.events'), folds stats into the participant summaries and this second's pipeline log figures
   * (both written by `flush`, once a second), writes segment files (SEGMENT_FILES) and finalizes closed
   * streams.
   */
  onEngineEvents(events: EngineEvent[], stats: StatsRows): void {
    if (this.finished) return;
    if (stats.length) this.emit('audio.stats', stats);
    if (events.length) this.emit('audio.events', events);
    try {
      if (stats.length) this.handleStats(stats);
      if (events.length) this.handleEvents(events);
    } catch (err) {
      // The engine rethrows a listener's exception as an uncaught one: log instead of taking the server down.
      this.deps.log.error({ err }, 'failed to handle an audio engine batch');
    }
  }

  /** Fold a batch's stats rows: no allocation per report beyond one figures entry per stream and second. */
  private handleStats(rows: StatsRows): void {
    const now = Date.now();
    for (let i = 0; i < rows.length; i++) {
      const e = rows.row(i);
      if (!this.streams.has(e.streamId)) continue;
      this.deps.stats.fold(e, now);
      const t = this.figures(e.meetingId);
      t.stats++;
      let f = t.streams.get(e.streamId);
      if (!f) t.streams.set(e.streamId, (f = { streamId: e.streamId, participantId: e.participantId, tMs: 0, recordedBytes: 0, overflowBytes: 0, speaking: false, rmsDbfs: null }));
      f.tMs = e.tMs;
      f.recordedBytes = e.recordedBytes;
      f.overflowBytes = e.overflowBytes;
      f.speaking = e.speaking;
      f.rmsDbfs = e.rmsDbfs;
    }
  }

  private handleEvents(events: EngineEvent[]): void {
    let closed: ClosedEvent[] | null = null;
    for (const e of events) {
      switch (e.type) {
        case 'segment':
          this.figures(e.meetingId).segments++;
          if (this.deps.ctx.config.SEGMENT_FILES) this.writeSegment(e);
          break;
        case 'overlap': this.figures(e.meetingId).overlaps++; break;
        case 'error': this.figures(e.meetingId).errors++; this.engineError(e); break;
        case 'closed': (closed ??= []).push(e); break;
      }
    }
    if (closed) {
      for (const e of closed) this.closing.push(e);
      if (!this.finalizeScheduled) {
        this.finalizeScheduled = true;
        setImmediate(() => this.finalizeQueued());
      }
    }
  }

  /**
   * Finalize the streams the engine reported closed, in order and FINALIZE_CHUNK at a time (their final
   * participant summaries first, in one transaction), for at most START_TURN_MS (all of them with `all`), the
   * rest at the next turn: a thousand streams closing at once do not hold the loop.
   */
  private finalizeQueued(all = false): void {
    this.finalizeScheduled = false;
    const until = performance.now() + START_TURN_MS;
    let done = 0;
    while (done < this.closing.length) {
      const chunk = this.closing.slice(done, done + FINALIZE_CHUNK);
      try {
        this.deps.stats.flushStreams(chunk.map((e) => e.streamId));
      } catch (err) {
        this.deps.log.error({ err }, 'cannot store participant stats (kept for the next flush)');
      }
      for (const e of chunk) {
        try {
          this.finalize(e);
        } catch (err) {
          this.deps.log.error({ err, streamId: e.streamId }, 'cannot finalize an egress stream');
        }
      }
      done += chunk.length;
      if (!all && performance.now() >= until) break;
    }
    this.closing.splice(0, done);
    if (this.closing.length > 0 && !this.finalizeScheduled) {
      this.finalizeScheduled = true;
      setImmediate(() => this.finalizeQueued());
    }
  }

  /** This second's pipeline log figures of a meeting. */
  private figures(meetingId: string): MeetingFigures {
    let t = this.pendingFigures.get(meetingId);
    if (!t) this.pendingFigures.set(meetingId, (t = { stats: 0, segments: 0, overlaps: 0, errors: 0, streams: new Map() }));
    return t;
  }

  /** Write the pending participant summaries (one transaction) and one pipeline log line per meeting. */
  flush(): void {
    this.flushStats();
    for (const meetingId of [...this.pendingFigures.keys()]) this.flushFigures(meetingId);
  }

  private flushStats(): void {
    try {
      this.deps.stats.flush();
    } catch (err) {
      this.deps.log.error({ err }, 'cannot store participant stats (kept for the next flush)');
    }
  }

  private flushFigures(meetingId: string): void {
    const t = this.pendingFigures.get(meetingId);
    if (!t) return;
    this.pendingFigures.delete(meetingId);
    this.deps.pipelineLogs.write(meetingId, {
      event: 'flush', stats: t.stats, segments: t.segments, overlaps: t.overlaps, errors: t.errors,
      streams: [...t.streams.values()],
    });
  }

  private engineError(e: ErrorEvent): void {
    const live = this.streams.get(e.streamId);
    this.deps.log.error({ streamId: e.streamId, meetingId: e.meetingId, code: e.code, message: e.message }, 'audio engine error');
    if (live && e.code === 'write_failed') {
      if (live.writeError === null) this.metrics.recordingWriteErrors.inc({ kind: 'audio' });
      live.writeError ??= e.message;
    }
  }



  private writeSegment(e: SegmentEvent): void {
    const live = this.streams.get(e.streamId);
    if (!live) return;
    const file = segmentPath(live.info.path, e.index);
    const p = fs.promises.writeFile(file, e.wav).catch(async (err: unknown) => {
      this.deps.log.error({ err, file }, 'cannot write segment file');
      await fs.promises.rm(file, { force: true }).catch(() => { /* logged above */ });  // no empty or partial segment left
    }).finally(() => { this.pendingWrites.delete(p); });
    this.pendingWrites.add(p);
  }

  /** Close a stream's row once the engine reports it closed (idempotent per stream). */
  private finalize(e: ClosedEvent): void {
    const live = this.streams.get(e.streamId);
    if (!live) return;
    this.streams.delete(e.streamId);
    this.closedBytes += live.stream.receivedBytes;
    this.closedFrames += live.frames;
    this.pathsInUse.delete(live.info.path);
    this.deps.stats.removeStream(e.streamId);
    const open = live.mutedIntervals[live.mutedIntervals.length - 1];
    if (open && open.endMs === null) open.endMs = Math.max(open.startMs, Math.round(e.endMs));
    const reason = live.closeReason ?? 'closed by the engine';
    if (live.ws) live.ws.end(1011, 'stream closed');
    // Never COMPLETE with a hole: lost audio (a bound, a write failure) ends the row FAILED with its gaps listed.
    const lostBytes = e.gaps.reduce((n, g) => n + g.bytes, 0);
    let closeReason = reason;
    if (live.writeError) closeReason += `; write failed: ${live.writeError}`;
    else if (lostBytes > 0) closeReason += `; ${lostBytes} bytes lost at data offset ${e.gaps[0]!.offset}${e.gaps.length > 1 ? ` (${e.gaps.length} gaps)` : ''}`;
    try {
      this.deps.recordings.finish(live.info.recordingId, {
        bytes: e.recordedBytes, endedAt: live.socketClosedAt ?? Date.now(), status: live.writeError || lostBytes > 0 ? 'FAILED' : 'COMPLETE',
        closeReason, mutedIntervals: live.mutedIntervals, gaps: e.gaps,
      });
    } catch (err) {
      this.deps.log.error({ err, recordingId: live.info.recordingId }, 'cannot close the recording row');
    }
    const meetingId = live.info.meetingId;
    this.flushFigures(meetingId);
    this.deps.pipelineLogs.write(meetingId, {
      event: 'closed', streamId: e.streamId, participantId: e.participantId, recordedBytes: e.recordedBytes, endMs: e.endMs,
      overflowBytes: e.overflowBytes, gaps: e.gaps, bytesIn: live.stream.receivedBytes, reason,
    });
    this.deps.log.info({ streamId: e.streamId, meetingId, recordedBytes: e.recordedBytes, bytesIn: live.stream.receivedBytes, overflowBytes: e.overflowBytes, reason }, 'egress recording closed');
    this.deps.ctx.meetings.streamClosed(live.info, reason, e.endMs);
    if (this.streamsOfMeeting(meetingId) === 0) {
      this.deps.stats.forgetMeeting(meetingId);
      const p = this.deps.pipelineLogs.close(meetingId).finally(() => { this.pendingWrites.delete(p); });
      this.pendingWrites.add(p);
    }
  }

  /**
   * Graceful shutdown: refuse new upgrades, end every socket with 1001 (uWS runs `close` at once, which
   * closes each stream), drain and finalize every stream through `engine.close()`, then wait for segment and
   * pipeline log writes. A stream the engine did not report is closed from its file size.
   */
  async shutdown(): Promise<void> {
    this.accepting = false;
    for (const ws of [...this.sockets]) ws.end(1001, 'server shutting down');
    // Streams whose start is queued are started now (fed what they sent, and closed): nothing they sent is lost.
    this.startQueued(true);
    const closed = this.engine?.close() ?? [];
    this.closing.push(...closed);
    this.finalizeQueued(true);
    for (const live of [...this.streams.values()]) {
      let recordedBytes = 0;
      try { recordedBytes = Math.max(0, fs.statSync(live.info.path).size - WAV_HEADER_BYTES); } catch { /* missing file: 0 */ }
      this.finalize({
        type: 'closed', streamId: live.info.streamId, meetingId: live.info.meetingId, participantId: live.info.participant,
        recordedBytes, endMs: this.clockMs(live), overflowBytes: 0, gaps: [],
      });
    }
    this.flush();
    if (this.flushTimer) clearInterval(this.flushTimer);
    this.finished = true;
    while (this.pendingWrites.size > 0) await Promise.all([...this.pendingWrites]);
    await this.deps.pipelineLogs.closeAll();
  }

  /** Emit on the bus; a throwing listener is logged, never propagated into uWS or the engine callback. */
  private emit<K extends keyof BusEvents>(name: K, ...args: BusEvents[K]): void {
    try {
      (this.deps.ctx.bus.emit as (n: string, ...a: unknown[]) => boolean)(name, ...args);
    } catch (err) {
      this.deps.log.error({ err, event: name }, 'a bus listener threw');
    }
  }
}
