/**
 * The one owner of meeting, participant and stream state (issue 14; mediasoup's habit: one home per object,
 * the others subscribe).
 *
 * What it holds, and who tells it:
 * - participants (display name, roles, host or not): written through `upsertParticipant` by the LiveKit webhooks
 *   and by `/egress-audio` (stored in `participants` through the SessionStore; cached in memory while the
 *   meeting is live, so `isHost` costs a map lookup per stats report, not a query);
 * - live egress streams (audio and video, their mute state): `streamOpened`, `streamMuted`, `streamClosed`
 *   from src/egress;
 * - the end of the meeting: `finish` from the LiveKit webhook room_finished and from the idle rule of
 *   egress-only meetings (src/egress/idle.ts);
 * - the conversation timeline of each live meeting (src/meetings/analytics.ts): the native engine's 'speech'
 *   and 'overlap' events and the stats reports' stream time, read from the bus.
 *
 * What it tells (typed events, `MeetingEvents`): `participant.roles` (a participant became a host or stopped
 * being one: src/egress calls `AudioStream.setExcluded` on their live streams at once), `stream.opened`,
 * `stream.muted`, `stream.closed`, `meeting.finished` (the audio and video egress end their sockets still open,
 * 1000) and
 * `meeting.report` (the final report was stored (src/store/reports.ts): its ReportSummary; src/feedback tells the
 * hosts, who read the report from GET /api/sessions/:meetingId/report).
 *
 * Reports: `reportJson(meetingId)` is the live report while the meeting has a timeline in memory, else the
 * stored one. When the last stream of a meeting closes, its report is stored (`final: false`, the meeting may go on);
 * when the meeting has finished and no stream is left, the final report is stored and announced, and the
 * meeting's memory is released. A stream that opens later for a meeting whose timeline was released starts
 * from the stored report's timeline. At most MAX_IDLE_MEETINGS meetings without a live stream are kept in
 * memory; beyond that the oldest is released (its report is already stored).
 *
 * Off the event loop (at the analytics bound a report is ~12 MB of JSON): the routes' reports and pictures
 * (`reportJson`, `timelineSvg`) are computed in a worker thread (./render-pool.ts) and kept per `reportVersion`.
 * Stored reports are computed AND written by that worker (its own connection to the same SQLite file, WAL mode,
 * busy_timeout): the event loop only snapshots the timeline (typed arrays) and notes the row's stamp. A reopened
 * meeting's stored report is parsed and replayed in the worker, which returns a TimelineSnapshot; the event loop
 * only takes it back (`MeetingAnalytics.fromSnapshot`, its shared columns adopted). Rules that keep this consistent:
 * - the worker runs stores in the order they were asked for, so of two stores of a meeting the later one is
 *   the row left (a final report asked for after a `final: false` one is never overwritten by it);
 * - while a reopened meeting's timeline is being parsed (`seeding`), everything that would touch its timeline
 *   (engine events, stream time, streams opened and closed, the store at its last stream's close, the final
 *   report) is queued in arrival order and applied once the seed is in (the routes serve the stored report
 *   meanwhile); if the worker fails, the stored report is replayed on the event loop instead;
 * - the final report is asked for once per end (`finalizing`): a second `finish` or a last stream closing
 *   while it is being made does not store it again, and its `final` flag is set by the worker whatever the
 *   snapshot said. A stream that opens while it is being made keeps the meeting in memory (it goes on, not
 *   finished: the next end stores it again); one that opened and closed meanwhile changed the timeline, so the
 *   final report is made and stored again once this one is written (only that one is announced).
 */
import { EventEmitter } from 'node:events';
import type { EgressStreamInfo } from '../context.js';
import type { Logger } from '../log.js';
import type { StatsRows } from '../pipeline/stats.js';
import type { EngineEvent } from '../pipeline/types.js';
import type { ReportStore } from '../store/reports.js';
import type { Participant, SessionStore } from '../store/sessions.js';
import { MeetingAnalytics, seedAnalytics, type TimelineSnapshot } from './analytics.js';
import { RenderPool, VersionCache, type ReportSource, type ReportSummary } from './render-pool.js';
import type { TimelineFeedback } from './timeline-svg.js';

/** Meetings without a live stream whose timeline stays in memory (their report is stored meanwhile). */
export const MAX_IDLE_MEETINGS = 200;
/** Meetings whose last store's created_at is kept (`Meetings.stamp`). */
const STAMPS_KEPT = 10_000;
/** Participants read into a live meeting per turn of the event loop (`Meetings.loadPeople`). */
const PEOPLE_PAGE = 500;

/** The typed events of the owner. Listeners are synchronous; one that throws is logged and skipped. */
export interface MeetingEvents {
  /** A participant's host flag changed (LiveKit metadata roles, or a later upsert). */
  'participant.roles': [meetingId: string, participantId: string, isHost: boolean];
  'stream.opened': [info: EgressStreamInfo];
  /** A signaling socket muted/unmuted its egress stream (text frame {"muted":bool}); `atMs` on the stream clock. */
  'stream.muted': [info: EgressStreamInfo, muted: boolean, atMs: number];
  /** The stream ended and its recording row is closed; `reason` as in recordings.close_reason. */
  'stream.closed': [info: EgressStreamInfo, reason: string];
  /** The meeting ended (room_finished, or idle egress-only meeting) at `endedAtMs` (Unix ms). */
  'meeting.finished': [meetingId: string, endedAtMs: number];
  /** The final report of a meeting was stored (its figures; the report itself is GET /api/sessions/:meetingId/report). */
  'meeting.report': [summary: ReportSummary];
}

/** What the owner knows of a participant. */
export interface Person {
  name: string | null;
  isHost: boolean;
}

interface LiveStream {
  info: EgressStreamInfo;
  muted: boolean;
}

interface LiveMeeting {
  meetingId: string;
  /** Live streams by recordingId (video streams have no engine streamId). */
  streams: Map<number, LiveStream>;
  people: Map<string, Person>;
  analytics: MeetingAnalytics;
  /** Non-null while the stored timeline is being parsed in the worker: what arrived meanwhile, in order. */
  seeding: (() => void)[] | null;
  /** Non-null while the final report is being made and stored: its source (the routes serve it meanwhile). */
  finalizing: ReportSource | null;
  /** Which keeping in memory this is (grows over the server's life): with analytics.version, the report's version. */
  epoch: number;
  /** The worker's input for the report at `version` (a picture and a report of one version share it). */
  snapshot: { version: number; source: ReportSource } | null;
  /** Reports stored (or being made for storing) so far: only the latest one is stored. */
  stores: number;
  /** The `stores` number of the report last stored (equal to `stores`: the meeting may leave memory). */
  stored: number;
  /** Set by `finish`: the final report is made once no stream is left. */
  finishedAtMs: number | null;
  /** A stored final report being superseded (stored again with a stream that came and went): announced if that fails. */
  superseded?: { summary: ReportSummary; atMs: number } | null;
}

export interface MeetingsDeps {
  sessions: SessionStore;
  reports: ReportStore;
  log: Logger;
}

/** The owner. One per server (AppContext.meetings). */
export class Meetings extends EventEmitter<MeetingEvents> {
  private readonly live = new Map<string, LiveMeeting>();
  /** Audio streams by engine streamId (the engine's events name them so). */
  private readonly audio = new Map<number, LiveStream>();
  private readonly recordings = new Set<number>();
  private epochs = 0;
  /** The render worker (started at the first report or picture asked for) and its results per report version. */
  private readonly renders: RenderPool;
  private readonly rendered = new VersionCache(32);
  /**
   * The last created_at given to a store of each meeting (at most STAMPS_KEPT, oldest dropped): two stores
   * asked for in one millisecond, before the first is written, get different versions (a report's parts are
   * keyed by it: src/store/reports.ts refuses to write the stored version again).
   */
  private readonly stamps = new Map<string, number>();

  constructor(private readonly deps: MeetingsDeps) {
    super();
    this.renders = new RenderPool(deps.reports.file);
  }

  /** Stop the render worker (server shutdown). */
  async close(): Promise<void> {
    await this.renders.close();
  }

  // ---------------------------------------------------------------------------------------- participants

  /**
   * Insert or refresh a participant (SessionStore.upsertParticipant: `roles` undefined keeps the stored roles;
   * a participant is a host when its roles contain "host"), and announce `participant.roles` when the host
   * flag changed for a participant with a live meeting.
   * @returns the stored participant.
   * @throws the SQLite error.
   */
  upsertParticipant(p: { meetingId: string; identity: string; name?: string | null; roles?: string[]; joinedAt?: number }): Participant {
    const before = this.live.get(p.meetingId)?.people.get(p.identity);
    const stored = this.deps.sessions.upsertParticipant(p);
    const m = this.live.get(p.meetingId);
    if (m) {
      m.people.set(p.identity, { name: stored.name, isHost: stored.isHost });
      this.onTimeline(m, (a) => a.touch());
    }
    if (m && before && before.isHost !== stored.isHost) this.fire('participant.roles', p.meetingId, p.identity, stored.isHost);
    else if (m && !before && stored.isHost) this.fire('participant.roles', p.meetingId, p.identity, true);
    return stored;
  }

  /** Name and host flag of a participant (cached while the meeting is live; unknown: no name, not a host). */
  person(meetingId: string, participantId: string): Person {
    const m = this.live.get(meetingId);
    const known = m?.people.get(participantId);
    if (known) return known;
    const p = this.deps.sessions.participant(meetingId, participantId);
    const person = { name: p?.name ?? null, isHost: p?.isHost ?? false };
    if (m) m.people.set(participantId, person);
    return person;
  }

  isHost(meetingId: string, participantId: string): boolean {
    return this.person(meetingId, participantId).isHost;
  }

  // ------------------------------------------------------------------------------------------- streams

  /** An egress stream started (its recording row exists). */
  streamOpened(info: EgressStreamInfo): void {
    const m = this.meeting(info.meetingId);
    const s: LiveStream = { info, muted: false };
    m.streams.set(info.recordingId, s);
    this.recordings.add(info.recordingId);
    if (info.kind === 'audio') {
      this.audio.set(info.streamId, s);
      this.onTimeline(m, (a) => a.streamOpened(info.participant, info.startedAt));
    }
    this.fire('stream.opened', info);
  }

  streamMuted(info: EgressStreamInfo, muted: boolean, atMs: number): void {
    const s = this.live.get(info.meetingId)?.streams.get(info.recordingId);
    if (s) s.muted = muted;
    this.fire('stream.muted', info, muted, atMs);
  }

  /**
   * An egress stream ended and its row is closed. `endMs`: the stream time reached (audio: the engine's
   * ClosedEvent.endMs).
   */
  streamClosed(info: EgressStreamInfo, reason: string, endMs?: number): void {
    const m = this.live.get(info.meetingId);
    this.recordings.delete(info.recordingId);
    if (info.kind === 'audio') this.audio.delete(info.streamId);
    if (m) {
      m.streams.delete(info.recordingId);
      if (info.kind === 'audio' && endMs !== undefined) this.onTimeline(m, (a) => a.streamClosed(info.participant, endMs));
    }
    this.fire('stream.closed', info, reason);
    if (m && m.streams.size === 0) this.lastStreamClosed(m);
  }

  /** The live audio stream of an engine streamId, or null (not opened here, or closed). */
  audioStream(streamId: number): EgressStreamInfo | null {
    return this.audio.get(streamId)?.info ?? null;
  }

  /** Live streams (audio and video) of a meeting. */
  liveStreamCount(meetingId: string): number {
    return this.live.get(meetingId)?.streams.size ?? 0;
  }

  /** Whether the recording row's stream is open right now. */
  isRecordingLive(recordingId: number): boolean {
    return this.recordings.has(recordingId);
  }

  // ------------------------------------------------------------------------------------------ the end

  /**
   * The meeting ended at `endedAtMs`. Announces `meeting.finished` (egress ends the sockets still open); the
   * final report is stored and announced once no stream of the meeting is left (at once when none is).
   */
  finish(meetingId: string, endedAtMs: number): void {
    const m = this.live.get(meetingId);
    if (m) m.finishedAtMs ??= endedAtMs;
    this.fire('meeting.finished', meetingId, endedAtMs);
    if (!m) {
      // No timeline in memory: a stored report becomes final as it is (the worker reads it and leaves a final one alone).
      if (this.deps.reports.storedAt(meetingId) === null) return;
      const atMs = this.stamp(meetingId);
      this.renders.store({ kind: 'store', meetingId, source: { stored: meetingId }, final: true, atMs }).then((summary) => {
        if (summary.written) this.stored(summary, atMs);
      }).catch((err: unknown) => {
        this.deps.reports.forget(meetingId);
        this.deps.log.error({ err, meetingId }, 'cannot store the final meeting report');
      });
      return;
    }
    if (m.streams.size === 0) this.finalize(m);
  }

  // ------------------------------------------------------------------------------------------- engine

  /** The engine's events of one batch: talk spurts and interruptions go to their meeting's timeline. */
  engineEvents(events: readonly EngineEvent[]): void {
    for (const e of events) {
      if (e.type !== 'speech' && e.type !== 'overlap') continue;
      const m = this.live.get(e.meetingId);
      if (!m) continue;
      if (m.seeding) m.seeding.push(e.type === 'speech' ? () => m.analytics.speech(e) : () => m.analytics.overlap(e));
      else if (e.type === 'speech') m.analytics.speech(e);
      else m.analytics.overlap(e);
    }
  }

  /** The stats rows of one batch: the stream time reached extends each meeting's span. */
  engineStats(rows: StatsRows): void {
    let last: LiveMeeting | undefined;
    for (let i = 0; i < rows.length; i++) {
      const r = rows.row(i);
      if (!last || last.meetingId !== r.meetingId) last = this.live.get(r.meetingId);
      if (last?.seeding) {
        const m = last, tMs = r.tMs;
        m.seeding!.push(() => m.analytics.progress(tMs));
      } else last?.analytics.progress(r.tMs);
    }
  }

  // ------------------------------------------------------------------------------------------- reports

  /**
   * The version of a meeting's report: `L<epoch>.<analytics version>` while its timeline is in memory,
   * `F<epoch>.<store number>` while its final report is being stored (the routes serve that report),
   * `S<stored at>` for a stored report (also while a reopened meeting's stored timeline is being replayed),
   * null when it has none. Equal versions give the same report (but for
   * `generatedAt`); it is the ETag of the report routes.
   */
  reportVersion(meetingId: string): string | null {
    const m = this.live.get(meetingId);
    if (m?.finalizing) return `F${m.epoch}.${m.stores}`;
    if (m && !m.seeding) return `L${m.epoch}.${m.analytics.version}`;
    const at = this.deps.reports.storedAt(meetingId);
    return at === null ? null : `S${at}`;
  }

  /**
   * The report as JSON bytes, computed in the render worker (the event loop only snapshots the timeline) and
   * kept per version: concurrent and later requests of the same version share one computation.
   * @returns the version and the bytes to come, or null when the meeting has no report (no audio yet).
   * @throws (the promise) Error when the worker failed.
   */
  reportJson(meetingId: string): { version: string; bytes: Promise<Buffer> } | null {
    const version = this.reportVersion(meetingId);
    if (version === null) return null;
    return {
      version,
      bytes: this.rendered.get(`report:${meetingId}`, version, () => this.renders.run({ kind: 'report', source: this.reportSource(meetingId) })),
    };
  }

  /**
   * The timeline picture (src/meetings/timeline-svg.ts) as SVG bytes, drawn in the render worker and kept per
   * version (the report's, or `none` before any audio, with `feedback.version`).
   * @param feedback the meeting's feedback events: a text that changes with them, and their list (read only
   *   when the picture must be drawn).
   * @param maxMarks marks of one kind drawn one by one (beyond: merged per lane, and the picture says so).
   */
  timelineSvg(meetingId: string, feedback: { version: string; list: () => TimelineFeedback[] }, maxMarks: number): { version: string; bytes: Promise<Buffer> } {
    const version = `${this.reportVersion(meetingId) ?? 'none'}.f${feedback.version}`;
    return {
      version,
      bytes: this.rendered.get(`timeline:${meetingId}`, version, () => this.renders.run({ kind: 'timeline', source: this.reportSource(meetingId), feedback: feedback.list(), maxMarks })),
    };
  }

  // ------------------------------------------------------------------------------------------ private

  /** What the worker computes a report from: the live timeline's snapshot, the stored report (the worker reads it), or an empty timeline. */
  private reportSource(meetingId: string): ReportSource {
    const m = this.live.get(meetingId);
    if (m?.finalizing) return m.finalizing;
    if ((!m || m.seeding) && this.deps.reports.storedAt(meetingId) !== null) return { stored: meetingId };
    if (m?.snapshot && m.snapshot.version === m.analytics.version) return m.snapshot.source;
    const live = (m?.analytics ?? new MeetingAnalytics(meetingId)).snapshot();
    const names: (string | null)[] = [];
    const hosts = new Uint8Array(live.ids.length);
    live.ids.forEach((id, i) => {
      const p = this.person(meetingId, id);
      names.push(p.name);
      hosts[i] = p.isHost ? 1 : 0;
    });
    const source: ReportSource = { live, people: { names, hosts }, nowMs: Date.now(), final: false };
    if (m) m.snapshot = { version: m.analytics.version, source };
    return source;
  }

  private meeting(meetingId: string): LiveMeeting {
    let m = this.live.get(meetingId);
    if (m) return m;
    m = {
      meetingId, streams: new Map(), people: new Map(), analytics: new MeetingAnalytics(meetingId), seeding: null, finalizing: null,
      epoch: ++this.epochs, snapshot: null, stores: 0, stored: 0, finishedAtMs: null,
    };
    this.live.set(meetingId, m);
    if (this.deps.reports.storedAt(meetingId) !== null) {
      this.seed(m);
      // A reopened meeting may have thousands of participants: read from the next turn on, not in the stream's
      // opening (`person` reads one participant meanwhile).
      setImmediate(() => this.loadPeople(m, null));
    } else this.loadPeople(m, null);
    return m;
  }

  /**
   * Read the participants of `m` into `m.people` (those already there are kept), PEOPLE_PAGE after `after` now
   * and the next pages one per turn: a reopened meeting at the analytics bound has 5,000 (~15 ms in one read).
   */
  private loadPeople(m: LiveMeeting, after: Participant | null): void {
    if (this.live.get(m.meetingId) !== m) return;
    const page = this.deps.sessions.participantsPage(m.meetingId, after, PEOPLE_PAGE);
    for (const p of page) if (!m.people.has(p.identity)) m.people.set(p.identity, { name: p.name, isHost: p.isHost });
    if (page.length === PEOPLE_PAGE) setImmediate(() => this.loadPeople(m, page[page.length - 1]!));
  }

  /** Reopen `m` from its stored report, parsed and replayed in the worker; what arrives meanwhile is queued (class comment). */
  private seed(m: LiveMeeting): void {
    const queued: (() => void)[] = [];
    m.seeding = queued;
    const apply = (snapshot: TimelineSnapshot | null) => {
      if (snapshot) m.analytics = MeetingAnalytics.fromSnapshot(snapshot);
      // A new epoch: versions of the seeded timeline are not those of the empty one.
      m.epoch = ++this.epochs;
      m.snapshot = null;
      m.seeding = null;
      for (const op of queued) op();
    };
    this.renders.seed(m.meetingId).then(apply, (err: unknown) => {
      this.deps.log.error({ err, meetingId: m.meetingId }, 'cannot replay the stored report in the worker: replaying it here');
      try {
        const row = this.deps.reports.get(m.meetingId);
        if (row) seedAnalytics(m.analytics, row);
      } catch (e) {
        this.deps.log.error({ err: e, meetingId: m.meetingId }, 'cannot replay the stored report');
      }
      apply(null);
    });
  }

  /** Apply `op` to the meeting's timeline now, or after its seed when it is being reopened. */
  private onTimeline(m: LiveMeeting, op: (a: MeetingAnalytics) => void): void {
    if (m.seeding) m.seeding.push(() => op(m.analytics));
    else op(m.analytics);
  }

  /**
   * created_at for the next stored report of a meeting: now, but always after the stored one (the `S` version
   * changes) and after the one given to the previous store (it may not be written yet).
   */
  private stamp(meetingId: string): number {
    const atMs = Math.max(Date.now(), (this.deps.reports.storedAt(meetingId) ?? 0) + 1, (this.stamps.get(meetingId) ?? 0) + 1);
    this.stamps.delete(meetingId);
    if (this.stamps.size >= STAMPS_KEPT) this.stamps.delete(this.stamps.keys().next().value!);
    this.stamps.set(meetingId, atMs);
    return atMs;
  }

  private lastStreamClosed(m: LiveMeeting): void {
    if (m.seeding) {
      m.seeding.push(() => { if (m.streams.size === 0) this.lastStreamClosed(m); });
      return;
    }
    if (m.finishedAtMs !== null) {
      this.finalize(m);
      return;
    }
    // The report is made and written by the render worker (at the bound ~100 ms of folding, 12 MB of JSON
    // written in 256 KiB parts); the worker writes stores in order, so a later store (or the final report) is the one left.
    const seq = ++m.stores;
    const atMs = this.stamp(m.meetingId);
    this.renders.store({ kind: 'store', meetingId: m.meetingId, source: this.reportSource(m.meetingId), final: false, atMs }).then((summary) => {
      this.deps.reports.noteStored(m.meetingId, atMs);
      this.deps.log.debug({ ...summary }, 'meeting report stored');
      if (seq === m.stores) m.stored = seq;
      this.releaseIdle();
    }).catch((err: unknown) => {
      // The timeline stays in memory: nothing is lost.
      this.deps.reports.forget(m.meetingId);
      this.deps.log.error({ err, meetingId: m.meetingId }, 'cannot store the meeting report');
    });
  }

  /** Bound the meetings kept without a live stream (their reports are stored): the oldest are released. */
  private releaseIdle(): void {
    let idle = 0;
    for (const x of this.live.values()) if (x.streams.size === 0) idle++;
    for (const x of this.live.values()) {
      if (idle <= MAX_IDLE_MEETINGS) break;
      if (x.streams.size === 0 && x.stored === x.stores && !x.seeding && !x.finalizing) { this.live.delete(x.meetingId); idle--; }
    }
  }

  /** Make and store the final report in the worker (once per end: class comment), then announce it and release the meeting. */
  private finalize(m: LiveMeeting): void {
    if (m.seeding) {
      m.seeding.push(() => { if (m.streams.size === 0) this.finalize(m); });
      return;
    }
    if (m.finalizing) return;
    const seq = ++m.stores;
    const atMs = this.stamp(m.meetingId);
    const source = this.reportSource(m.meetingId);
    // nowMs = the row's stamp: what the routes serve meanwhile is the report being stored, byte for byte.
    const final: ReportSource = 'live' in source ? { ...source, nowMs: atMs, final: true } : source;
    const version = m.analytics.version;
    m.finalizing = final;
    this.renders.store({ kind: 'store', meetingId: m.meetingId, source: final, final: true, atMs }).then((summary) => {
      m.finalizing = null;
      if (seq === m.stores) m.stored = seq;
      if (this.live.get(m.meetingId) === m) {
        if (m.streams.size > 0) m.finishedAtMs = null;
        else if ('live' in final && m.analytics.version !== version) {
          // A stream opened and closed while this report was being stored: its audio is not in it. Store again
          // (the row just written is superseded; only the report that holds everything is announced).
          this.deps.reports.noteStored(m.meetingId, atMs);
          m.superseded = { summary, atMs };
          this.finalize(m);
          return;
        } else this.live.delete(m.meetingId);
      }
      m.superseded = null;
      this.stored(summary, atMs);
    }, (err: unknown) => {
      // The timeline stays in memory: the next end (or the last stream closing) tries again.
      m.finalizing = null;
      this.deps.reports.forget(m.meetingId);
      this.deps.log.error({ err, meetingId: m.meetingId }, 'cannot store the final meeting report');
      // The final report this one was to supersede is stored: the hosts are told of it.
      if (m.superseded) this.stored(m.superseded.summary, m.superseded.atMs);
      m.superseded = null;
    });
  }

  /** A final report was written by the worker at `atMs`: note its stamp, log it, announce it. */
  private stored(summary: ReportSummary, atMs: number): void {
    this.deps.reports.noteStored(summary.meetingId, atMs);
    this.deps.log.info({ ...summary }, 'meeting report stored');
    this.fire('meeting.report', summary);
  }

  /** Emit to every listener; one that throws is logged and the others still run. */
  private fire<K extends keyof MeetingEvents>(name: K, ...args: MeetingEvents[K]): void {
    for (const fn of this.listeners(name) as ((...a: MeetingEvents[K]) => void)[]) {
      try {
        fn(...args);
      } catch (err) {
        this.deps.log.error({ err, event: name }, 'a meetings listener threw');
      }
    }
  }
}
