/**
 * The native audio engine (native/): per-stream queues of 16 KiB blocks from one bounded pool, 10 ms analysis (RMS, peak, clipping, VAD),
 * rolling statistics, overlap detection per meeting, WAV recording and mono segments, on a fixed pool of
 * worker threads. Results come back in batches on the JS thread through one bounded thread-safe function.
 *
 * Arguments are checked here and rejected with TypeError/RangeError before native code sees them (as
 * better-sqlite3 does), so the addon is only ever called with valid primitives.
 */
import { reportNativeCallbackError } from '../faults.js';
import { loadAddon, type NativeEngine, type NativeStream } from './native.js';
import { StatsRows, type StreamIdentity } from './stats.js';
import { SAMPLE_RATES, type PushResult, type ClosedEvent, type EngineEvent, type EngineOptions, type EngineStats, type ErrorEvent, type StreamOptions } from './types.js';

/** Per-stream queue bound: default and range, ms of input (EngineOptions.maxQueueMs, StreamOptions.maxQueueMs). */
export const DEFAULT_QUEUE_MS = 60_000;
export const MIN_QUEUE_MS = 100;
export const MAX_QUEUE_MS = 3_600_000;
/** Bound on the queued input of all streams: default and range, bytes (EngineOptions.maxQueueBytes). */
export const DEFAULT_QUEUE_BYTES = 256 * 1024 * 1024;
export const MIN_QUEUE_BYTES = 16 * 1024;
export const MAX_QUEUE_BYTES = 2 ** 40;
/** Largest push a stream accepts by default (StreamOptions.maxPushBytes), bytes. */
export const MAX_PUSH_BYTES = 64 * 1024 * 1024;

/** Largest accepted StreamOptions.startedAtMs (Unix ms): the start of the year 10000, the native kMaxStartedAtMs
 *  (native/dsp/analysis.h: stream times keep 1/16 ms resolution up there). */
export const MAX_STARTED_AT_MS = 253_402_300_800_000;

function checkInt(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new TypeError(`${name} must be an integer`);
  if (v < min || v > max) throw new RangeError(`${name} must be in ${min}..${max}, got ${v}`);
  return v;
}

function checkString(name: string, v: unknown, max = 256): string {
  if (typeof v !== 'string' || v.length === 0) throw new TypeError(`${name} must be a non-empty string`);
  if (v.length > max) throw new RangeError(`${name} must be at most ${max} characters`);
  if (v.includes('\0')) throw new TypeError(`${name} must not contain NUL`);
  return v;
}

/**
 * A stream of interleaved PCM s16le into the engine. Created by AudioEngine.openStream.
 * All methods are synchronous and cheap; the work happens on the stream's worker thread.
 */
export class AudioStream {
  /** Resolves with the stream's `closed` event once its worker has finalized it. */
  readonly closed: Promise<ClosedEvent>;
  /** @internal */
  resolveClosed!: (e: ClosedEvent) => void;
  private isClosed = false;

  /** @internal */
  constructor(private readonly native: NativeStream, readonly options: Readonly<StreamOptions>) {
    this.closed = new Promise((resolve) => { this.resolveClosed = resolve; });
  }

  /** Engine-wide stream id (also in every event of this stream). */
  get id(): number {
    return this.native.id;
  }

  /**
   * Queue PCM bytes: one memcpy per 16 KiB block touched, safe to call with a uWS message ArrayBuffer that is
   * neutered when the handler returns. Any byte count: a partial sample carries over. A push that brings more
   * than 48 KiB into the queue wakes the stream's worker at once. While muted, nothing is queued and the
   * clock advances.
   * @returns PUSH_OK; PUSH_TOO_BIG (nothing copied or counted) when `chunk` is over
   *   StreamOptions.maxPushBytes; PUSH_OVER_STREAM_BOUND / PUSH_OVER_GLOBAL_BOUND when a queue bound would be
   *   passed: the chunk, and every later one, is lost and counted (`overflowBytes`, ClosedEvent.gaps), the
   *   clock still advances over it; close the stream.
   * @throws TypeError when `chunk` is not a Uint8Array/ArrayBuffer; Error after close().
   */
  push(chunk: Uint8Array | ArrayBuffer): PushResult {
    return this.native.push(chunk);
  }

  /** Bytes pushed so far, muted and dropped ones included (the stream clock in bytes). */
  get receivedBytes(): number {
    return this.native.receivedBytes;
  }

  /** Mute or unmute from this point of the input on (ordered with push). */
  setMuted(muted: boolean): void {
    this.native.setMuted(Boolean(muted));
  }

  /** Exclude from (or include in) overlap detection from this point on, e.g. for a meeting host. */
  setExcluded(excluded: boolean): void {
    this.native.setExcluded(Boolean(excluded));
  }

  /** Input bytes of this stream lost past a queue bound (also in its stats and `closed` event). */
  get overflowBytes(): number {
    return this.native.overflowBytes;
  }

  /** This stream's queue bound in bytes (StreamOptions.maxQueueMs of input, rounded up to a whole sample frame). */
  get queueBoundBytes(): number {
    return this.native.queueBoundBytes;
  }

  /** Bytes queued now, not yet drained by the worker. */
  get queuedBytes(): number {
    return this.native.queuedBytes;
  }

  /** Idempotent. The worker analyses what was pushed, finalizes the recording and emits `closed`. */
  close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.native.close();
  }
}

/** See the module comment. One per process is the intended use. */
export class AudioEngine {
  private native: NativeEngine | null;
  private readonly streams = new Map<number, AudioStream>();
  /** Identity of every stream whose rows may still be read (kept one batch past its `closed`). */
  private readonly identities = new Map<number, StreamIdentity>();
  private forget: number[] = [];
  private readonly identity = (id: number): StreamIdentity | undefined => this.identities.get(id);
  /** Default queue bound of the streams, ms of input (EngineOptions.maxQueueMs). */
  private readonly maxQueueMs: number;

  /**
   * @param options threads 1..16; statsIntervalMs 50..1000 (default 250); overlapMinMs 50..10000 (default 500);
   *   maxQueuedBatches 1..65536 (default 1024); maxQueueMs (default queue bound per stream, ms of input)
   *   100..3600000 (default 60000); maxQueueBytes (bound of all queues together, bytes) 16 KiB..1 TiB
   *   (default 256 MiB).
   * @param onEvents called on the JS thread with each batch: its segment/overlap/closed/error events, and its
   *   stats reports as packed rows (StatsRows, src/pipeline/stats.ts; possibly empty). A listener must not
   *   throw: an error is rethrown on the next tick as an uncaught exception marked as the addon's
   *   (src/faults.ts), which stops the server.
   * @throws TypeError/RangeError for bad options; Error when the addon is not built.
   */
  constructor(options: EngineOptions, private readonly onEvents: (events: EngineEvent[], stats: StatsRows) => void) {
    const threads = checkInt('threads', options.threads, 1, 16);
    const statsIntervalMs = checkInt('statsIntervalMs', options.statsIntervalMs ?? 250, 50, 1000);
    const overlapMinMs = checkInt('overlapMinMs', options.overlapMinMs ?? 500, 50, 10000);
    const maxQueuedBatches = checkInt('maxQueuedBatches', options.maxQueuedBatches ?? 1024, 1, 65536);
    this.maxQueueMs = checkInt('maxQueueMs', options.maxQueueMs ?? DEFAULT_QUEUE_MS, MIN_QUEUE_MS, MAX_QUEUE_MS);
    const maxQueueBytes = checkInt('maxQueueBytes', options.maxQueueBytes ?? DEFAULT_QUEUE_BYTES, MIN_QUEUE_BYTES, MAX_QUEUE_BYTES);
    if (typeof onEvents !== 'function') throw new TypeError('onEvents must be a function');
    const addon = loadAddon();
    this.native = new addon.AudioEngine({ threads, statsIntervalMs, overlapMinMs, maxQueuedBatches, maxQueueBytes }, (events, stats) => {
      try {
        this.dispatch(events, stats);
      } catch (err) {
        reportNativeCallbackError(err);
      }
    });
  }

  /**
   * Open a stream (see StreamOptions for units and defaults).
   * @throws TypeError/RangeError for bad options; Error when the engine is closed, or when the recording file
   *   cannot be created (it exists, the folder is missing or read-only: "cannot create recording <path>:
   *   <strerror>") or its header cannot be written (full disk: "cannot write recording <path>: No space left
   *   on device"; no file is left behind).
   */
  openStream(options: StreamOptions): AudioStream {
    if (!this.native) throw new Error('the audio engine is closed');
    checkString('meetingId', options.meetingId);
    checkString('participantId', options.participantId);
    if (!(SAMPLE_RATES as readonly number[]).includes(options.sampleRate)) throw new RangeError(`sampleRate must be one of ${SAMPLE_RATES.join(', ')}`);
    if (options.channels !== 1 && options.channels !== 2) throw new RangeError('channels must be 1 or 2');
    if (typeof options.groupSeconds !== 'number' || !(options.groupSeconds >= 0.5 && options.groupSeconds <= 5)) throw new RangeError('groupSeconds must be in 0.5..5');
    if (typeof options.startedAtMs !== 'number' || !Number.isFinite(options.startedAtMs)) throw new TypeError('startedAtMs must be a finite number');
    if (options.startedAtMs < 0 || options.startedAtMs > MAX_STARTED_AT_MS) throw new RangeError(`startedAtMs must be in 0..${MAX_STARTED_AT_MS} (Unix ms, before the year 10000), got ${options.startedAtMs}`);
    const maxQueueMs = checkInt('maxQueueMs', options.maxQueueMs ?? this.maxQueueMs, MIN_QUEUE_MS, MAX_QUEUE_MS);
    const maxPushBytes = checkInt('maxPushBytes', options.maxPushBytes ?? MAX_PUSH_BYTES, 1, MAX_PUSH_BYTES);
    if (options.recordingPath !== undefined) checkString('recordingPath', options.recordingPath, 4096);
    const native = this.native.openStream({
      meetingId: options.meetingId, participantId: options.participantId, sampleRate: options.sampleRate,
      channels: options.channels, groupSeconds: options.groupSeconds, segments: Boolean(options.segments),
      startedAtMs: options.startedAtMs, recordingPath: options.recordingPath ?? '', maxQueueMs, maxPushBytes,
      excluded: Boolean(options.excluded),
    });
    const stream = new AudioStream(native, Object.freeze({ ...options }));
    if (this.streams.size === 0) this.native.ref();
    this.streams.set(stream.id, stream);
    this.identities.set(stream.id, { meetingId: options.meetingId, participantId: options.participantId });
    return stream;
  }

  /** Open streams, threads, dropped batches, bytes lost past a bound, queue figures (after close(): the final counts). */
  stats(): EngineStats {
    if (this.native) this.last = this.native.stats();
    return { ...this.last, streams: this.native ? this.last.streams : 0 };
  }
  private last: EngineStats = {
    streams: 0, threads: 0, droppedBatches: 0, overflowBytes: 0, queuedBytes: 0, blocksInUse: 0, blocksFree: 0, blockBytes: 0,
    streamsOverStreamBound: 0, streamsOverGlobalBound: 0,
  };

  /**
   * Finalize every open stream (recordings complete), join the worker threads; idempotent. Returns the
   * `closed` events of the streams it finalized; they also resolve each stream's `closed` promise, and are
   * NOT delivered again through onEvents.
   */
  close(): ClosedEvent[] {
    if (!this.native) return [];
    const native = this.native;
    this.native = null;
    const final = native.close();
    this.last = { ...native.stats(), streams: 0 };
    const closed: ClosedEvent[] = [];
    const errors: ErrorEvent[] = [];
    for (const e of final) {
      if (e.type === 'closed') {
        closed.push(e);
        this.settle(e);
      } else {
        errors.push(e);
      }
    }
    // `error` events kept from batches the full queue dropped are never lost: delivered here.
    if (errors.length) this.onEvents(errors, StatsRows.empty);
    return closed;
  }

  private dispatch(events: EngineEvent[], stats: Float64Array | null): void {
    for (const id of this.forget) this.identities.delete(id);
    this.forget.length = 0;
    let out = events;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      if (e.type !== 'closed') continue;
      this.forget.push(e.streamId);
      if (this.streams.has(e.streamId)) {
        this.settle(e);
      } else {
        out = out.filter((x) => x !== e);  // already settled by close(): rare
      }
    }
    const rows = stats ? new StatsRows(stats, this.identity) : StatsRows.empty;
    if (out.length || rows.length) this.onEvents(out, rows);
  }

  private settle(e: ClosedEvent): void {
    const s = this.streams.get(e.streamId);
    if (!s) return;
    this.streams.delete(e.streamId);
    if (this.streams.size === 0) this.native?.unref();
    s.resolveClosed(e);
  }
}
