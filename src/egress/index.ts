/**
 * The egress area: `/egress-audio` (LiveKit Track Egress target, PROTOCOL.md §4), `/egress-video` (video.ts),
 * `POST /api/egress/url`,
 * `GET /api/sessions[/:meetingId]`, start-up repair of recordings cut by a crash, the end of idle
 * egress-only meetings (idle.ts), and graceful shutdown of every egress stream.
 *
 * `registerEgress(ctx)` creates the native AudioEngine (src/pipeline/engine.ts) with one callback that
 * forwards each event batch on `ctx.bus` ('audio.events') and keeps recordings, participant_stats and the
 * pipeline logs up to date. When the addon cannot be loaded the rest of the server still runs and
 * `/egress-audio` answers 503 `unavailable`.
 */
import type { AppContext } from '../context.js';
import { registerSessionsApi } from '../http/sessions.js';
import { RecordingStore } from '../store/recordings.js';
import { StatsStore } from '../store/stats.js';
import { AudioEgress } from './audio.js';
import { IdleSessions } from './idle.js';
import { PipelineLogs } from './pipeline-log.js';
import { EGRESS_AUDIO_PATH, egressAudioUrl, egressUrlRequestSchema, type EgressUrlRequest } from './query.js';
import { isDenial, livekitRoomName, mayWriteMeeting } from '../auth/authorization.js';
import { HttpError } from '../http/errors.js';
import type { Principal } from '../http/router.js';
import { parse } from '../http/validate.js';
import { repairRecordings } from './repair.js';
import { StatsSummaries } from './stats.js';
import { EGRESS_VIDEO_PATH, VideoEgress, closeInterruptedVideoRecordings } from './video.js';
import { AudioEngine } from '../pipeline/engine.js';
import type { StatsRows } from '../pipeline/stats.js';
import type { EngineEvent } from '../pipeline/types.js';
import { Counter, Gauge } from 'prom-client';
import type { EgressKind } from './metrics.js';

export { egressAudioUrl } from './query.js';

/** Stream time between per-stream stats events, ms: the resolution at which the feedback rules see a change. */
const STATS_INTERVAL_MS = 100;

/**
 * Wire the egress area into the server. Runs the start-up repair synchronously before accepting streams.
 * @throws nothing: an engine that cannot be created is logged and leaves `/egress-audio` at 503.
 */
export function registerEgress(ctx: AppContext): void {
  const log = ctx.log.child({ area: 'egress' });
  const recordings = new RecordingStore(ctx.db);
  const statsStore = new StatsStore(ctx.db);

  const report = repairRecordings(ctx.config.STORAGE_DIR, recordings, log);
  if (report.repaired || report.failed || report.orphansFixed || report.unreadable) log.warn(report, 'start-up repair of egress recordings');
  const videoReport = closeInterruptedVideoRecordings(ctx.config.STORAGE_DIR, recordings, log);
  if (videoReport.repaired || videoReport.failed) log.warn(videoReport, 'start-up close of interrupted video recordings');

  const egress = new AudioEgress({
    ctx, recordings, stats: new StatsSummaries(statsStore), pipelineLogs: new PipelineLogs(ctx.config.STORAGE_DIR, log), log,
  });
  const engine = createEngine(ctx, (events, stats) => egress.onEngineEvents(events, stats), log);
  egress.setEngine(engine);
  egress.register(ctx.app);
  const video = new VideoEgress({ ctx, recordings, log: log.child({ kind: 'video' }) });
  video.register(ctx.app);
  ctx.router.websocket(EGRESS_AUDIO_PATH);
  ctx.router.websocket(EGRESS_VIDEO_PATH);
  ctx.setCounter('egressStreams', () => egress.streamCount + video.streamCount);
  registerEngineMetrics(ctx, engine, () => ({ audio: egress.streamCount, video: video.streamCount }));
  const idle = new IdleSessions({
    sessions: ctx.sessions, recordings, meetings: ctx.meetings, idleMs: ctx.config.EGRESS_SESSION_IDLE_SEC * 1000, log,
  });
  idle.start();
  // Before the streams close: a shutdown leaves meetings ACTIVE (the next start's sweep ends the idle ones).
  ctx.onShutdown('sockets', () => idle.stop());
  ctx.onShutdown('sockets', () => egress.shutdown());
  ctx.onShutdown('sockets', () => video.shutdown());

  ctx.router.post('/api/egress/url', (req) => {
    const body = parse(egressUrlRequestSchema, req.body);
    return { json: { url: egressAudioUrl(ctx.config, { ...(req.body as EgressUrlRequest), roomName: egressRoomFor(ctx, req.principal, body) }) } };
  }, { body: 'json', auth: 'bearer' });
  registerSessionsApi(ctx, recordings, statsStore);
}

/**
 * Series read at scrape time: open egress streams by kind, and counters mirroring the native engine's own
 * monotonic counts (each scrape adds what is new since the last one): event batches dropped because the queue
 * to the JS thread was full, audio input lost past a queue bound, streams closed for a bound; and the queue
 * now (queued bytes, blocks in use and free). Also `egressDroppedBatches` and `egressOverflowBytes` in GET /health. Without an engine only the streams gauge exists.
 */
function registerEngineMetrics(ctx: AppContext, engine: AudioEngine | null, streams: () => Record<EgressKind, number>): void {
  const registers = [ctx.metrics];
  new Gauge({
    name: 'meetcore_egress_streams', help: 'Egress streams open now, by kind (audio, video)', labelNames: ['kind'], registers,
    collect() { for (const [kind, n] of Object.entries(streams())) this.set({ kind }, n); },
  });
  if (!engine) return;
  const mirror = (name: string, help: string, read: () => number) => {
    let seen = 0;
    new Counter({
      name, help, registers,
      collect() {
        const v = read();
        if (v > seen) { this.inc(v - seen); seen = v; }
      },
    });
  };
  mirror('meetcore_engine_dropped_batches_total', 'Native audio engine event batches dropped because the queue to the JS thread was full (stats lost; closed/error events kept for the next batch)', () => engine.stats().droppedBatches);
  mirror('meetcore_egress_ring_overflow_bytes_total', 'Audio input bytes lost because a queue bound was reached (the stream was closed with 4008)', () => engine.stats().overflowBytes);
  new Gauge({
    name: 'meetcore_egress_queued_bytes', help: 'Audio input bytes received and not yet written and analysed, all streams', registers,
    collect() { this.set(engine.stats().queuedBytes); },
  });
  new Gauge({
    name: 'meetcore_egress_queue_blocks', help: 'Queue blocks (16 KiB) of the audio engine, by state (in_use: holding queued input; free: kept for reuse)', labelNames: ['state'], registers,
    collect() { const s = engine.stats(); this.set({ state: 'in_use' }, s.blocksInUse); this.set({ state: 'free' }, s.blocksFree); },
  });
  const closedForBound = new Counter({
    name: 'meetcore_egress_streams_closed_for_bound_total', help: 'Audio streams closed (4008) because a queue bound was reached, by bound (stream: AUDIO_STREAM_QUEUE_MS; global: AUDIO_QUEUE_MAX_MB)', labelNames: ['bound'], registers,
    collect() {
      const s = engine.stats();
      for (const [bound, v] of [['stream', s.streamsOverStreamBound], ['global', s.streamsOverGlobalBound]] as const) {
        const prev = boundSeen[bound];
        if (v > prev) { this.inc({ bound }, v - prev); boundSeen[bound] = v; }
      }
    },
  });
  const boundSeen = { stream: 0, global: 0 };
  closedForBound.inc({ bound: 'stream' }, 0);
  closedForBound.inc({ bound: 'global' }, 0);
  ctx.setCounter('egressDroppedBatches', () => engine.stats().droppedBatches);
  ctx.setCounter('egressOverflowBytes', () => engine.stats().overflowBytes);
}

/**
 * The room name a signed egress URL may carry for this caller (POST /api/egress/url): with `meetingId`, that
 * meeting's room, when the caller may write into it (`mayWriteMeeting`; unknown or another organization's
 * meeting: 404, as for reading); without, the requested name in the caller's namespace (`livekitRoomName`).
 * @throws HttpError 404 not_found, 400 bad_request (roomName of another room than the meeting's), 403.
 */
function egressRoomFor(ctx: AppContext, principal: Principal | undefined, body: { roomName: string; meetingId?: string }): string {
  const room = livekitRoomName(principal, body.roomName);
  if (isDenial(room)) throw new HttpError(room.code, room.message);
  if (body.meetingId === undefined) return room;
  const meeting = ctx.sessions.get(body.meetingId);
  if (!meeting || !mayWriteMeeting(principal, meeting)) {
    throw new HttpError('not_found', `meetingId: no meeting ${JSON.stringify(body.meetingId)} (omit it to use the room's active meeting or open one)`);
  }
  if (body.roomName !== meeting.roomName && room !== meeting.roomName) {
    throw new HttpError('bad_request', `roomName: meeting ${body.meetingId} is in another room`);
  }
  return meeting.roomName;
}

/** Create the native engine; null (logged) when the addon cannot be loaded. */
function createEngine(ctx: AppContext, onEvents: (events: EngineEvent[], stats: StatsRows) => void, log: AppContext['log']): AudioEngine | null {
  try {
    return new AudioEngine({
      threads: ctx.config.AUDIO_THREADS, maxQueueMs: ctx.config.AUDIO_STREAM_QUEUE_MS, maxQueueBytes: ctx.config.AUDIO_QUEUE_MAX_MB * 1024 * 1024, overlapMinMs: ctx.config.FEEDBACK_OVERLAP_MS, statsIntervalMs: STATS_INTERVAL_MS,
    }, onEvents);
  } catch (err) {
    log.error({ err }, 'native audio engine unavailable: /egress-audio answers 503 (build it with `npm install` or `npx node-gyp rebuild`)');
    return null;
  }
}
