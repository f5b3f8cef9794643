/**
 * The Hume area (PROTOCOL.md §5, §7): prosody of every non-host participant track through Hume's streaming
 * API (REFERENCE.md, v0).
 *
 * Segments come from the native engine: with HUME_API_KEY set, src/egress opens every audio stream with
 * `segments` on, and each `segment` event (mono s16le WAV of `groupSeconds` ≤ 5 s, on the 'audio.events' bus
 * event) becomes one payload (`payload_id` = `<recordingId>:<segment index>`) on the track's own socket
 * (HumeTrack: bounded in-flight window and queue, reconnect with backoff, stop after repeated configuration
 * errors). Live streams and hosts are asked of the meetings owner (src/meetings); its 'stream.closed' ends a
 * track.
 *
 * Each answered segment: its top 5 emotions (scores averaged over Hume's prediction windows) are stored in
 * `prosody_segments` and sent to the hosts of the meeting (signaling room `feedback:<meetingId>`) as
 * `{type:"prosody", meetingId, participantId, window:{start,end}, emotions:[{name,score}]}` (window on the
 * stream clock, Unix ms). Payloads sent, replies, errors by code and dropped segments by reason are counted
 * per meeting in `prosody_counters` and in Prometheus counters `meetcore_hume_*`.
 *
 * Without HUME_API_KEY nothing is created, no socket is opened (the start-up log line of src/server.ts says so).
 */
import { feedbackRoom } from '../auth/authorization.js';
import { Counter, Gauge } from 'prom-client';
import type { AppContext, EgressStreamInfo } from '../context.js';
import type { Logger } from '../log.js';
import type { EngineEvent, SegmentEvent } from '../pipeline/types.js';
import { HumeTrack, type DropReason, type SegmentJob, type TrackOptions, type TrackSink } from './client.js';
import { ACCOUNT_ERROR_CODES, topEmotions, type Prediction } from './protocol.js';
import { ProsodyStore } from './store.js';
import { splitWav } from './wav.js';

export { prosodyPayloads, ProsodyStore } from './store.js';

/** Log the first few occurrences of a repeated event, then every `every`-th. */
const worthLogging = (n: number, every = 50): boolean => n <= 3 || n % every === 0;

interface Metrics {
  payloads: Counter;
  replies: Counter<'kind'>;
  errors: Counter<'code'>;
  dropped: Counter<'reason'>;
  connections: Counter;
}

/** Hume streaming for all tracks of the server. */
export class HumeService implements TrackSink {
  private readonly tracks = new Map<number, HumeTrack>();
  private readonly store: ProsodyStore;
  private readonly metrics: Metrics;
  private readonly logCounts = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  private accountStopped: string | null = null;
  private refusals = 0;
  private accountErrors = 0;
  private closed = false;

  constructor(private readonly ctx: AppContext, private readonly opts: TrackOptions, private readonly log: Logger) {
    this.store = new ProsodyStore(ctx.db);
    const registers = [ctx.metrics];
    this.metrics = {
      payloads: new Counter({ name: 'meetcore_hume_payloads_sent_total', help: 'Prosody payloads written to Hume sockets (resends included)', registers }),
      replies: new Counter({ name: 'meetcore_hume_replies_total', help: 'Hume replies by kind (predictions, warning, error, unreadable)', labelNames: ['kind'], registers }),
      errors: new Counter({ name: 'meetcore_hume_errors_total', help: 'Hume {error, code} replies by code (http_<status> for a refused upgrade)', labelNames: ['code'], registers }),
      dropped: new Counter({ name: 'meetcore_hume_segments_dropped_total', help: 'Segments not answered by Hume, by reason', labelNames: ['reason'], registers }),
      connections: new Counter({ name: 'meetcore_hume_connections_total', help: 'Hume sockets opened', registers }),
    };
    const tracks = this.tracks;
    new Gauge({ name: 'meetcore_hume_in_flight', help: 'Payloads sent to Hume and not yet answered', registers, collect() { this.set([...tracks.values()].reduce((n, t) => n + t.inFlightCount, 0)); } });
    this.timer = setInterval(() => { for (const t of [...this.tracks.values()]) t.checkTimeouts(); }, 1000);
    this.timer.unref();
  }

  /** Live tracks (for tests and /health-like reporting). */
  get trackCount(): number { return this.tracks.size; }

  /** An egress stream closed (the owner's 'stream.closed'): its track sends what is left, then closes its socket. */
  streamClosed(info: EgressStreamInfo): void {
    if (info.kind === 'audio') this.tracks.get(info.streamId)?.end();
  }

  /** Handle one engine batch: every `segment` event becomes one or more payloads. */
  events(events: EngineEvent[]): void {
    if (this.closed) return;
    for (const e of events) if (e.type === 'segment') this.segment(e);
  }

  private segment(e: SegmentEvent): void {
    const info = this.ctx.meetings.audioStream(e.streamId);
    if (!info) return;
    if (this.ctx.meetings.isHost(info.meetingId, info.participant)) {
      this.bump(info.meetingId, ['skipped_host']);
      return;
    }
    let pieces;
    try {
      pieces = splitWav(e.wav);
    } catch (err) {
      this.bump(info.meetingId, ['segments', 'dropped', 'dropped:invalid']);
      this.metrics.dropped.inc({ reason: 'invalid' });
      this.log.warn({ streamId: e.streamId, index: e.index, err: (err as Error).message }, 'segment is not a WAV file; not sent to Hume');
      return;
    }
    const track = this.track(info);
    pieces.forEach((p, i) => {
      const job: SegmentJob = {
        payloadId: pieces.length === 1 ? `${info.recordingId}:${e.index}` : `${info.recordingId}:${e.index}.${i}`,
        meetingId: info.meetingId, participantId: info.participant, trackId: info.trackId, streamId: info.streamId,
        segmentIndex: e.index, startMs: e.startMs + p.offsetMs, endMs: Math.min(e.endMs, e.startMs + p.offsetMs + p.durationMs),
        wav: p.wav, attempts: 0,
      };
      this.bump(info.meetingId, ['segments']);
      track.enqueue(job);
    });
  }

  private track(info: EgressStreamInfo): HumeTrack {
    let t = this.tracks.get(info.streamId);
    if (!t) {
      const key = `${info.meetingId}/${info.participant}/${info.trackId}#${info.streamId}`;
      t = new HumeTrack(key, { meetingId: info.meetingId, participantId: info.participant, trackId: info.trackId, streamId: info.streamId }, this.opts, this, this.log);
      this.tracks.set(info.streamId, t);
      if (this.accountStopped) t.stop(this.accountStopped);
    }
    return t;
  }

  // ---- TrackSink ----

  sent(job: SegmentJob): void {
    this.metrics.payloads.inc();
    this.bump(job.meetingId, ['payloads_sent']);
  }

  predictions(job: SegmentJob, predictions: Prediction[]): void {
    this.metrics.replies.inc({ kind: 'predictions' });
    this.accountErrors = 0;
    const emotions = topEmotions(predictions);
    if (emotions.length === 0) {
      this.bump(job.meetingId, ['predictions_empty']);
      return;
    }
    try {
      this.store.insert({
        meetingId: job.meetingId, participant: job.participantId, trackId: job.trackId, payloadId: job.payloadId, segmentIndex: job.segmentIndex,
        startMs: job.startMs, endMs: job.endMs, emotions, predictions: predictions.length, receivedAt: Date.now(),
      });
      this.bump(job.meetingId, ['predictions']);
    } catch (err) {
      this.log.error({ err, payloadId: job.payloadId }, 'cannot store prosody predictions');
    }
    this.ctx.services.signaling?.publish(feedbackRoom(job.meetingId), {
      type: 'prosody', meetingId: job.meetingId, participantId: job.participantId,
      window: { start: Math.round(job.startMs), end: Math.round(job.endMs) }, emotions,
    });
  }

  warning(job: SegmentJob | null, code: string, message: string): void {
    this.metrics.replies.inc({ kind: 'warning' });
    this.accountErrors = 0;
    if (job) this.bump(job.meetingId, ['warnings', `warning:${code}`]);
    this.log.debug({ payloadId: job?.payloadId, code, message }, 'Hume warning');
  }

  error(track: HumeTrack, job: SegmentJob | null, code: string, message: string): void {
    this.metrics.replies.inc({ kind: 'error' });
    this.metrics.errors.inc({ code });
    this.bump(track.info.meetingId, ['errors', `error:${code}`]);
    const n = this.count(`error:${track.key}:${code}`);
    if (worthLogging(n)) this.log.warn({ track: track.key, payloadId: job?.payloadId, code, message, count: n }, 'Hume error reply');
    if (ACCOUNT_ERROR_CODES.has(code)) {
      this.accountErrors++;
      if (this.accountErrors >= this.opts.maxConfigErrors) this.stopAll(`${this.accountErrors} consecutive account errors from Hume (${code}: ${message})`);
    }
  }

  dropped(job: SegmentJob, reason: DropReason): void {
    this.metrics.dropped.inc({ reason });
    this.bump(job.meetingId, ['dropped', `dropped:${reason}`]);
    const n = this.count(`dropped:${job.streamId}:${reason}`);
    if (reason !== 'stopped' && reason !== 'closed' && worthLogging(n)) {
      this.log.warn({ payloadId: job.payloadId, participantId: job.participantId, reason, count: n }, 'prosody segment dropped');
    }
  }

  unreadable(track: HumeTrack, reason: string, sample: string): void {
    this.metrics.replies.inc({ kind: 'unreadable' });
    this.bump(track.info.meetingId, ['unreadable_replies']);
    const n = this.count(`unreadable:${track.key}`);
    if (worthLogging(n)) this.log.warn({ track: track.key, reason, sample, count: n }, 'unreadable Hume reply ignored');
  }

  refused(track: HumeTrack, status: number): void {
    const code = `http_${status}`;
    this.metrics.errors.inc({ code });
    this.bump(track.info.meetingId, ['errors', `error:${code}`]);
    this.log.warn({ track: track.key, status }, status === 401 || status === 403 ? 'Hume refused the API key (check HUME_API_KEY)' : 'Hume refused the WebSocket upgrade');
    if (status === 401 || status === 403) {
      this.refusals++;
      if (this.refusals >= this.opts.maxConfigErrors) this.stopAll(`Hume refused the API key ${this.refusals} times (HTTP ${status})`);
    }
  }

  opened(track: HumeTrack): void {
    this.refusals = 0;
    this.metrics.connections.inc();
    this.log.info({ track: track.key, connection: track.connections }, track.connections === 1 ? 'Hume socket open' : 'Hume socket reopened');
  }

  disconnected(track: HumeTrack, code: number, reason: string, retryInMs: number): void {
    this.log.warn({ track: track.key, code, reason, retryInMs, inQueue: track.queuedCount }, 'Hume socket closed; reconnecting with backoff on the next segment');
  }

  stopped(track: HumeTrack, reason: string): void {
    this.log.error({ track: track.key, reason }, 'stopped sending to Hume for this track');
  }

  finished(track: HumeTrack): void {
    this.tracks.delete(track.info.streamId);
    for (const k of [...this.logCounts.keys()]) if (k.includes(track.key) || k.includes(`:${track.info.streamId}:`)) this.logCounts.delete(k);
  }

  // ---- lifecycle ----

  /** Stop every track (and future ones) for an account-wide failure; logged once. */
  private stopAll(reason: string): void {
    if (this.accountStopped) return;
    this.accountStopped = reason;
    this.log.error({ reason }, 'stopped sending to Hume for every track (fix the Hume configuration and restart)');
    for (const t of [...this.tracks.values()]) t.stop(reason);
  }

  /** Close every socket (1000); what is queued or in flight is dropped as `closed`. */
  shutdown(): void {
    if (this.closed) return;
    for (const t of [...this.tracks.values()]) t.finish('closed');
    this.closed = true;
    clearInterval(this.timer);
  }

  private bump(meetingId: string, names: string[]): void {
    if (this.closed) return;
    try {
      this.store.bump(meetingId, names);
    } catch (err) {
      this.log.error({ err, meetingId, names }, 'cannot store prosody counters');
    }
  }

  private count(key: string): number {
    const n = (this.logCounts.get(key) ?? 0) + 1;
    this.logCounts.set(key, n);
    return n;
  }
}

/**
 * Wire the Hume area: with HUME_API_KEY, listen to egress streams and engine segments and stream them to
 * HUME_STREAM_URL; without it, do nothing (the start-up log says prosody is off).
 * @throws nothing.
 */
export function registerHume(ctx: AppContext): HumeService | null {
  const c = ctx.config;
  if (!c.HUME_API_KEY) return null;
  const log = ctx.log.child({ area: 'hume' });
  const service = new HumeService(ctx, {
    url: c.HUME_STREAM_URL, apiKey: c.HUME_API_KEY, maxInFlight: c.HUME_MAX_IN_FLIGHT, maxQueued: c.HUME_MAX_IN_FLIGHT,
    maxConfigErrors: c.HUME_MAX_CONFIG_ERRORS, replyTimeoutMs: c.HUME_REPLY_TIMEOUT_SEC * 1000,
  }, log);
  const guard = (what: string, fn: () => void): void => {
    try { fn(); } catch (err) { log.error({ err, event: what }, 'Hume area failed to handle a bus event'); }
  };
  ctx.meetings.on('stream.closed', (info) => guard('stream.closed', () => service.streamClosed(info)));
  ctx.bus.on('audio.events', (events) => guard('audio.events', () => service.events(events)));
  ctx.onShutdown('services', () => service.shutdown());
  log.info({ url: c.HUME_STREAM_URL, maxInFlight: c.HUME_MAX_IN_FLIGHT, maxConfigErrors: c.HUME_MAX_CONFIG_ERRORS }, 'Hume prosody streaming on');
  return service;
}
