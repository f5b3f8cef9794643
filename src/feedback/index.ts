/**
 * Real-time feedback for meeting hosts (PROTOCOL.md §5). Listens to the native engine's batches on the bus
 * ('audio.stats' packed stats rows, 'audio.events' overlaps), runs the rules of ./rules.ts per meeting, and for each finding: builds the event
 * (message and tips in FEEDBACK_LOCALE), sends it to the signaling room `feedback:<meetingId>` (/ws and
 * Socket.IO), and stores it with its delivery latency (wall clock of delivery minus the stream-clock moment
 * the rule became true). Routes: `GET /feedback/:meetingId?since=`, `GET /feedback/debug/:meetingId`,
 * `GET /feedback/metrics/:meetingId` (bearer).
 *
 * Everything here runs on the JS thread once per engine batch; the audio work is on the addon's threads.
 */
import { createHash, randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { AppContext, EgressStreamInfo, JoinDecision } from '../context.js';
import type { Principal } from '../http/router.js';
import { HttpError } from '../http/errors.js';
import { parseQuery, queryInteger } from '../http/validate.js';
import type { StatsRows } from '../pipeline/stats.js';
import type { EngineEvent, OverlapEvent, StatsEvent } from '../pipeline/types.js';
import { FeedbackStore, type FeedbackEvent } from '../store/feedback.js';
import { feedbackRoom, mayReadMeeting } from '../auth/authorization.js';
import { versionedReply } from '../http/versioned.js';
import { describe, SEVERITY, type Locale } from './messages.js';
import { FEEDBACK_KINDS, MeetingRules, type Finding, type RuleThresholds } from './rules.js';
import { Counter, Histogram } from 'prom-client';

export { feedbackRoom } from '../auth/authorization.js';

/** Sweep interval of expired feedback rows, ms. */
const SWEEP_MS = 60 * 60 * 1000;

/** Per-participant live view for GET /feedback/debug/:meetingId. */
interface LiveParticipant {
  participantId: string;
  speaking: boolean;
  muted: boolean;
  speechCoverage10s: number;
  rmsDbfs3s: number | null;
  rmsEmaDbfs: number | null;
  lastSpokeAt: number | null;
  tMs: number;
}

/** Extra figures for the metrics route (e.g. Hume payloads, wired by src/hume). */
export type MeetingFigures = (meetingId: string) => Record<string, unknown>;

/** The feedback area's service: the rule state of every live meeting. */
export class FeedbackService {
  private readonly meetings = new Map<string, { rules: MeetingRules; live: Map<string, LiveParticipant>; overlaps: Map<string, string> }>();
  private readonly thresholds: RuleThresholds;
  readonly store: FeedbackStore;
  private extraFigures: MeetingFigures = () => ({ prosodyPayloads: 0 });
  private readonly eventsTotal: Counter<'kind'>;
  private readonly latency: Histogram;

  constructor(private readonly ctx: AppContext) {
    const c = ctx.config;
    this.thresholds = {
      volumeLowDbfs: c.FEEDBACK_VOLUME_LOW_DBFS, volumeHighDbfs: c.FEEDBACK_VOLUME_HIGH_DBFS, clippedRatio: 0.01,
      silenceMs: c.FEEDBACK_SILENCE_SEC * 1000, monologueMs: c.FEEDBACK_MONOLOGUE_SEC * 1000, cooldownMs: c.FEEDBACK_COOLDOWN_SEC * 1000,
    };
    this.store = new FeedbackStore(ctx.db, c.FEEDBACK_TTL_DAYS * 86_400_000);
    const registers = [ctx.metrics];
    this.eventsTotal = new Counter({ name: 'meetcore_feedback_events_total', help: 'Feedback events delivered to hosts, by kind', labelNames: ['kind'], registers });
    for (const kind of FEEDBACK_KINDS) this.eventsTotal.inc({ kind }, 0);
    this.latency = new Histogram({
      name: 'meetcore_feedback_delivery_latency_seconds', help: 'Wall clock of a feedback delivery minus the stream-clock moment it describes, seconds',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10], registers,
    });
  }

  /** Add figures to GET /feedback/metrics (e.g. `{prosodyPayloads}` from src/hume). */
  setExtraFigures(fn: MeetingFigures): void {
    this.extraFigures = fn;
  }

  opened(info: EgressStreamInfo): void {
    if (info.kind !== 'audio') return;
    this.meeting(info.meetingId).rules.open(info.participant, info.startedAt);
  }

  closed(info: EgressStreamInfo): void {
    if (info.kind !== 'audio') return;
    const m = this.meetings.get(info.meetingId);
    if (!m) return;
    m.rules.close(info.participant);
    m.live.delete(info.participant);
    if (m.rules.openStreams === 0) this.meetings.delete(info.meetingId);
  }

  /** The events of one engine batch. Never throws (a failure is logged). */
  events(batch: EngineEvent[]): void {
    for (const e of batch) {
      try {
        if (e.type === 'overlap') this.onOverlap(e);
      } catch (err) {
        this.ctx.log.error({ err, type: e.type }, 'feedback rule evaluation failed');
      }
    }
  }

  /** The stats rows of one engine batch (read through the row cursor, nothing kept). Never throws. */
  stats(rows: StatsRows): void {
    for (let i = 0; i < rows.length; i++) {
      try {
        this.onStats(rows.row(i));
      } catch (err) {
        this.ctx.log.error({ err, type: 'stats' }, 'feedback rule evaluation failed');
      }
    }
  }

  /** The live view of a meeting's participants (empty when no stream is open). */
  debug(meetingId: string): LiveParticipant[] {
    return [...(this.meetings.get(meetingId)?.live.values() ?? [])];
  }

  metrics(meetingId: string): Record<string, unknown> {
    return { ...this.store.metrics(meetingId), ...this.extraFigures(meetingId) };
  }

  private meeting(meetingId: string) {
    let m = this.meetings.get(meetingId);
    if (!m) {
      m = { rules: new MeetingRules(this.thresholds, (id) => this.ctx.meetings.isHost(meetingId, id)), live: new Map(), overlaps: new Map() };
      this.meetings.set(meetingId, m);
    }
    return m;
  }

  private onStats(e: StatsEvent): void {
    // Only live streams (the owner's): a late event must not revive a meeting.
    if (!this.ctx.meetings.audioStream(e.streamId)) return;
    const m = this.meeting(e.meetingId);
    let live = m.live.get(e.participantId);
    if (!live) {
      live = { participantId: e.participantId, speaking: false, muted: false, speechCoverage10s: 0, rmsDbfs3s: null, rmsEmaDbfs: null, lastSpokeAt: null, tMs: 0 };
      m.live.set(e.participantId, live);
    }
    live.speaking = e.speaking;
    live.muted = e.muted;
    live.speechCoverage10s = e.speechCoverage10s;
    live.rmsDbfs3s = e.rmsDbfs3s;
    live.rmsEmaDbfs = e.rmsEmaDbfs;
    live.lastSpokeAt = e.lastSpokeAtMs;
    live.tMs = e.tMs;
    const findings = m.rules.stats(e);
    for (let i = 0; i < findings.length; i++) this.deliver(e.meetingId, findings[i]!);
  }

  private onOverlap(e: OverlapEvent): void {
    const m = this.meeting(e.meetingId);
    const { finding, end } = m.rules.overlap(e);
    if (finding) {
      const id = this.deliver(e.meetingId, finding);
      if (finding.overlapKey) m.overlaps.set(finding.overlapKey, id);
    }
    if (end) {
      const id = m.overlaps.get(end.overlapKey);
      if (id) {
        m.overlaps.delete(end.overlapKey);
        this.store.update(id, { overlapMs: end.overlapMs, ended: true }, end.endMs);
      }
    }
  }

  private name(meetingId: string, participantId: string): string {
    return this.ctx.sessions.participant(meetingId, participantId)?.name ?? participantId;
  }

  /** Build, send and store one event; returns its id. */
  private deliver(meetingId: string, f: Finding): string {
    const md = f.metadata;
    const others = Array.isArray(md.participants) ? (md.participants as string[]).filter((p) => p !== f.participantId) : [];
    const text = describe(this.ctx.config.FEEDBACK_LOCALE as Locale, f.kind, {
      name: this.name(meetingId, f.participantId),
      rmsDbfs: typeof md.rmsDbfs === 'number' ? md.rmsDbfs : null,
      silentSec: typeof md.silentMs === 'number' ? Math.round(md.silentMs / 1000) : undefined,
      overlapSec: typeof md.overlapMs === 'number' ? Math.round(md.overlapMs / 100) / 10 : undefined,
      otherName: others[0] ? this.name(meetingId, others[0]) : undefined,
      floorMin: typeof md.floorMs === 'number' ? Math.round(md.floorMs / 6000) / 10 : undefined,
    });
    const event: FeedbackEvent = {
      type: 'feedback', id: randomUUID(), kind: f.kind, severity: SEVERITY[f.kind], ts: f.atMs, meetingId,
      participantId: f.participantId, window: f.window, message: text.message, tips: text.tips, metadata: md,
    };
    this.ctx.services.signaling?.publish(feedbackRoom(meetingId), { ...event });
    const now = Date.now();
    this.eventsTotal.inc({ kind: f.kind });
    this.latency.observe(Math.max(0, now - f.atMs) / 1000);
    this.store.insert(event, now - f.atMs, now);
    return event.id;
  }
}

/** Latest `since` accepted, Unix ms: the end of ECMAScript's time range. */
const MAX_SINCE_MS = 8_640_000_000_000_000;

/** `?since=` (events after it, Unix ms, default 0) and `?limit=` (1..5000 events, default 1000). */
const sinceQuery = z.object({
  since: queryInteger(0, MAX_SINCE_MS, 'Unix milliseconds').default(0),
  limit: queryInteger(1, 5000).default(1000),
});

/** `?report=false`: the live view without the report (`report: null`); default true. */
const debugQuery = z.object({
  report: z.enum(['true', 'false'], { message: "must be 'true' or 'false'" }).transform((v) => v === 'true').default(true),
});

/**
 * Wire the feedback area: bus listeners, the TTL sweep timer, the routes.
 * @returns the service (src/hume adds its figures to the metrics through it).
 */
export function registerFeedback(ctx: AppContext): FeedbackService {
  const service = new FeedbackService(ctx);
  ctx.meetings.on('stream.opened', (info) => service.opened(info));
  ctx.meetings.on('stream.closed', (info) => service.closed(info));
  // The final report's figures go to the hosts as it is stored; the report itself (up to ~12 MB at the
  // analytics bound) is read from its route, not pushed through every socket of the room.
  ctx.meetings.on('meeting.report', (s) => {
    ctx.services.signaling?.publish(feedbackRoom(s.meetingId), {
      type: 'meeting_report', meetingId: s.meetingId, final: s.final, durationMs: s.durationMs, participantCount: s.participantCount,
      interruptionCount: s.interruptionCount, reportUrl: `/api/sessions/${encodeURIComponent(s.meetingId)}/report`,
    });
  });
  ctx.bus.on('audio.stats', (rows) => service.stats(rows));
  ctx.bus.on('audio.events', (batch) => service.events(batch));
  const timer = setInterval(() => {
    try {
      const n = service.store.sweep();
      if (n) ctx.log.info({ removed: n }, 'expired feedback events removed');
    } catch (err) {
      ctx.log.error({ err }, 'feedback sweep failed');
    }
  }, Math.min(SWEEP_MS, ctx.config.FEEDBACK_TTL_DAYS * 86_400_000));
  timer.unref();
  ctx.onShutdown('services', () => clearInterval(timer));

  /** The meetingId of a request: 400 when malformed, 404 when it is another organization's meeting. */
  const meetingOf = (req: { params: Record<string, string | undefined>; principal?: Principal }) => {
    const id = req.params.meetingId;
    if (!id || id.length > 128) throw new HttpError('bad_request', 'meetingId: 1..128 characters');
    const session = ctx.sessions.get(id);
    if (session && !mayReadMeeting(req.principal, session)) throw new HttpError('not_found', `no meeting ${JSON.stringify(id)}`);
    return id;
  };
  ctx.router.get('/feedback/debug/:meetingId', async (req) => {
    const meetingId = meetingOf(req);
    const { report: withReport } = parseQuery(debugQuery, req.query);
    const head = `{"meetingId":${JSON.stringify(meetingId)},"participants":${JSON.stringify(service.debug(meetingId))},"report":`;
    // The report is computed off the event loop and kept per version (src/meetings/index.ts reportJson).
    const report = withReport ? ctx.meetings.reportJson(meetingId) : null;
    const version = `${report?.version ?? 'none'}.${createHash('sha256').update(head).digest('base64url').slice(0, 16)}`;
    const bytes = report ? report.bytes.then((r) => [Buffer.from(head), r, Buffer.from('}')]) : Promise.resolve([Buffer.from(`${head}null}`)]);
    return versionedReply(req, { version, bytes }, 'application/json');
  }, { auth: 'bearer' });
  ctx.router.get('/feedback/metrics/:meetingId', (req) => ({ json: { meetingId: meetingOf(req), ...service.metrics(req.params.meetingId!) } }), { auth: 'bearer' });
  ctx.router.get('/feedback/:meetingId', (req) => {
    const meetingId = meetingOf(req);
    const q = parseQuery(sinceQuery, req.query);
    return { json: { meetingId, events: service.store.list(meetingId, q.since, q.limit) } };
  }, { auth: 'bearer' });
  return service;
}
