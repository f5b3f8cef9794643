/**
 * The typed face of the native audio engine (native/addon). This file is the contract between the addon
 * and the rest of meetcore: src/egress feeds streams, src/feedback and src/hume consume the events.
 *
 * Time: every `...Ms` field that names a moment is Unix epoch milliseconds on the *stream clock* of
 * PROTOCOL.md §4: `startedAtMs + sampleIndex / sampleRate * 1000`, so streams sent faster than real time
 * still line up across participants. Durations are milliseconds. Levels are dBFS (0 = full scale of s16,
 * 32767), `null` where nothing was measured (no samples, or no speech in the window).
 */

/** Sample rates LiveKit egress and meetcore accept (PROTOCOL.md §4). */
export const SAMPLE_RATES = [8000, 16000, 24000, 32000, 44100, 48000] as const;
export type SampleRate = (typeof SAMPLE_RATES)[number];

export interface EngineOptions {
  /** Native worker threads (AUDIO_THREADS), 1..16. Streams of one meeting always share one thread. */
  threads: number;
  /** Stream-time interval between `stats` events per stream, ms (default 250, range 50..1000). */
  statsIntervalMs?: number;
  /** Minimum run of simultaneous speech of two non-excluded, unmuted streams of one meeting before an
   *  `overlap` start event, ms (FEEDBACK_OVERLAP_MS, default 500). */
  overlapMinMs?: number;
  /** Bound of the queue of event batches waiting for the JS thread (default 1024); a full queue drops the
   *  batch and counts it in `engine.stats().droppedBatches`, it never blocks a worker. */
  maxQueuedBatches?: number;
  /**
   * Default bound on each stream's queued input, milliseconds of input (default 60000, range 100..3600000;
   * AUDIO_STREAM_QUEUE_MS). Input waits in 16 KiB blocks from one pool shared by all streams (a stream drained
   * as it arrives holds one or two); a burst grows the queue up to this bound. A push past it is lost: see
   * AudioStream.push.
   */
  maxQueueMs?: number;
  /** Bound on the queued input of all streams together, bytes (default 256 MiB, range 16 KiB..1 TiB;
   *  AUDIO_QUEUE_MAX_MB). A push needing a block past it is lost: see AudioStream.push. */
  maxQueueBytes?: number;
}

/**
 * What AudioStream.push did with a chunk (the values cross from native/addon/module.cc).
 * - PUSH_OK: queued (or, while muted, counted on the stream clock);
 * - PUSH_TOO_BIG: over StreamOptions.maxPushBytes: refused whole, not copied, not counted;
 * - PUSH_OVER_STREAM_BOUND / PUSH_OVER_GLOBAL_BOUND: the stream's queue bound (maxQueueMs) or the engine's
 *   (maxQueueBytes) would be passed: the chunk is lost, counted (`overflowBytes`) and becomes a gap of the
 *   recording (ClosedEvent.gaps); every later push of the stream is lost the same way, so the caller closes it.
 */
export const PUSH_OK = 0;
export const PUSH_TOO_BIG = 1;
export const PUSH_OVER_STREAM_BOUND = 2;
export const PUSH_OVER_GLOBAL_BOUND = 3;
export type PushResult = typeof PUSH_OK | typeof PUSH_TOO_BIG | typeof PUSH_OVER_STREAM_BOUND | typeof PUSH_OVER_GLOBAL_BOUND;

/** Bytes of the recording's data that are missing: `bytes` belonging at data offset `offset` (bytes of the WAV
 *  data, header excluded) were lost (a queue bound closed the stream, or the writer failed). */
export interface RecordingGap {
  offset: number;
  bytes: number;
}

export interface StreamOptions {
  /** Streams with the same meetingId are analysed on one worker thread and share one overlap timeline. */
  meetingId: string;
  /** Identity of the speaker, reported in overlap events. */
  participantId: string;
  sampleRate: SampleRate;
  channels: 1 | 2;
  /** Length of mono segments in seconds (0.5..5); segments are emitted only when `segments` is true. */
  groupSeconds: number;
  /** Emit `segment` events (mono s16le WAV of groupSeconds of unmuted audio). Default false. */
  segments?: boolean;
  /** Stream clock origin, Unix ms (arrival of the first frame); 0..253402300800000 (before the year 10000), else openStream throws RangeError. */
  startedAtMs: number;
  /** When set, the worker thread writes the recording here: RIFF/WAVE PCM header + the bytes exactly as
   *  pushed (muted spans excluded), in 64 KiB block writes, header sizes patched at every flush (≤ 1 s
   *  apart). The file must not exist: openStream creates it and writes the header synchronously, and throws
   *  ("cannot create recording <path>: <strerror>", or "cannot write recording <path>: <strerror>" after
   *  removing the file again) when it cannot. A later write error stops the recording (see ErrorEvent). */
  recordingPath?: string;
  /** Bound on this stream's queued input, milliseconds of input (100..3600000; default
   *  EngineOptions.maxQueueMs). See PushResult for what happens past it. */
  maxQueueMs?: number;
  /** Largest push accepted, bytes (1..64 MiB, default 64 MiB). A bigger chunk is refused whole: push returns
   *  PUSH_TOO_BIG, nothing is copied and the stream clock does not advance (the egress closes such a socket with 1009). */
  maxPushBytes?: number;
  /** Excluded from overlap detection (meeting hosts). Default false. Can be changed with setExcluded. */
  excluded?: boolean;
}

/**
 * Periodic per-stream measurements, at least every `statsIntervalMs` of stream time. Delivered as packed rows
 * (StatsRows in ./stats.ts, one cursor implementing this interface), not as objects in the events array.
 */
export interface StatsEvent {
  type: 'stats';
  streamId: number;
  meetingId: string;
  participantId: string;
  /** Stream time of the end of the last analysed frame. */
  tMs: number;
  /** Speech decision of the last decided frame (each decided once final: at most 100 ms after its frame, at once in steady speech). */
  speaking: boolean;
  /** The stream is muted ({"muted":true} from LiveKit): nothing is analysed, the clock still advances. */
  muted: boolean;
  /** RMS over the frames of this interval (dBFS). */
  rmsDbfs: number | null;
  /** Peak absolute sample of this interval (dBFS). */
  peakDbfs: number | null;
  /** Samples at ±32767/-32768 in this interval (after downmix: either channel clipped counts). */
  clippedSamples: number;
  /** Samples (per channel) analysed in this interval. */
  samples: number;
  /** Fraction 0..1 of the last 10 s of stream time judged speech. */
  speechCoverage10s: number;
  /** Speech in the last 3 s of stream time, ms. */
  speechMs3s: number;
  /** RMS over speech frames of the last 3 s (dBFS), null without speech. */
  rmsDbfs3s: number | null;
  /** Fraction 0..1 of clipped samples over the last 3 s. */
  clippedRatio3s: number;
  /** Exponential moving average of frame RMS over speech frames (dBFS, time constant ~1 s). */
  rmsEmaDbfs: number | null;
  /** Adaptive noise floor estimate of the VAD (dBFS). */
  noiseFloorDbfs: number;
  /** Stream time of the last speech frame, null if never. */
  lastSpokeAtMs: number | null;
  /** Start of the current talk spurt (stream time), null when not speaking. */
  speechStartedAtMs: number | null;
  /** Input bytes lost past a queue bound (the stream's or the server's), since the stream opened. */
  overflowBytes: number;
  /**
   * Recording data bytes the kernel accepted so far (muted spans excluded; up to 64 KiB still in the native
   * writer's buffer are not counted yet). After a write error: the data bytes the cut file keeps.
   */
  recordedBytes: number;
}

/** A mono WAV segment of `groupSeconds` of unmuted audio (downmixed, same sample rate). */
export interface SegmentEvent {
  type: 'segment';
  streamId: number;
  meetingId: string;
  participantId: string;
  /** 0-based index within the stream. */
  index: number;
  startMs: number;
  endMs: number;
  /** A complete RIFF/WAVE file: 44-byte PCM header + mono s16le samples. */
  wav: Uint8Array;
}

/**
 * A talk spurt of one stream: its speech (unmuted; hosts too) with pauses under 300 ms bridged, the speech an
 * annotator would mark. Emitted once the spurt is over (300 ms of silence after it, or the stream's end).
 */
export interface SpeechEvent {
  type: 'speech';
  streamId: number;
  meetingId: string;
  participantId: string;
  /** Stream time of the spurt's first speech frame. */
  startMs: number;
  /** Stream time of the end of its last speech frame. */
  endMs: number;
}

/**
 * An interruption: the talk spurts (see SpeechEvent) of two unmuted streams of one meeting intersecting for
 * `overlapMinMs` or more, the later speaker's spurt lasting 1 s or more (a shorter one is a backchannel and is
 * never reported).
 */
export interface OverlapEvent {
  type: 'overlap';
  meetingId: string;
  /** start: the run reached overlapMinMs; ongoing: about every second while it lasts; end: it stopped. */
  phase: 'start' | 'ongoing' | 'end';
  /** The two participants, the one who started speaking first first. */
  participants: [string, string];
  /** The one whose talk spurt started later (the interrupter). */
  laterParticipantId: string;
  /** Stream time the simultaneous speech began. */
  startMs: number;
  /** Stream time of this report (for start: the moment the rule became true). */
  tMs: number;
  /**
   * Simultaneous speech so far, ms (end: in total). A start is emitted by the interrupter's stream as soon as
   * its spurt has lasted 1 s and overlapMinMs has been counted, possibly before the other stream's decisions
   * up to tMs are final: its overlapMs is at least overlapMinMs but may be less than tMs − startMs.
   */
  overlapMs: number;
  /** One of the two streams was excluded (a host) when the start was emitted: no feedback about it. */
  excluded: boolean;
}

/** The stream is finished: its queue drained, recording header final, file closed. Emitted once per stream. */
export interface ClosedEvent {
  type: 'closed';
  streamId: number;
  meetingId: string;
  participantId: string;
  /**
   * Recording data bytes in the file (which is 44 bytes longer); only bytes the kernel accepted. After a
   * write error, the file was cut back to its last whole sample frame and this is that length.
   */
  recordedBytes: number;
  /** Stream time reached (startedAtMs + all samples pushed, muted ones included). */
  endMs: number;
  /** Input bytes lost past a queue bound (PushResult). */
  overflowBytes: number;
  /** What the recording lacks, in data order: bytes lost past a bound, and after a write failure everything
   *  from the cut on. Empty when every unmuted byte pushed is in the file. */
  gaps: RecordingGap[];
}

/**
 * A failure on a worker thread; the stream keeps analysing if it can. `write_failed` (once per stream): the
 * recording stopped for good; `message` is the OS text (strerror, e.g. "No space left on device"), prefixed
 * by the step ("updating the WAV header: ...", "closing the file: ...") when it was not a data write.
 */
export interface ErrorEvent {
  type: 'error';
  streamId: number;
  meetingId: string;
  code: 'write_failed' | 'overflow' | 'internal';
  message: string;
}

/** The events of a batch delivered as objects (stats reports come packed, see StatsEvent). */
export type EngineEvent = SegmentEvent | SpeechEvent | OverlapEvent | ClosedEvent | ErrorEvent;

export interface EngineStats {
  streams: number;
  threads: number;
  /** Event batches dropped because the JS queue was full. */
  droppedBatches: number;
  /** Input bytes lost past a queue bound, summed over every stream this engine opened. */
  overflowBytes: number;
  /** Bytes queued now in all streams (pushed, not yet drained by a worker). */
  queuedBytes: number;
  /** Blocks (blockBytes each) holding queued input now, and kept free for reuse. */
  blocksInUse: number;
  blocksFree: number;
  blockBytes: number;
  /** Streams that passed their own queue bound, and the engine's, since it started. */
  streamsOverStreamBound: number;
  streamsOverGlobalBound: number;
}
