/**
 * The end of egress-only meetings (EGRESS_SESSION_IDLE_SEC).
 *
 * A meeting opened by `/egress-audio` or `/egress-video` rather than by a LiveKit webhook (`roomSid` null)
 * has no room_finished to end it. It ends once no stream of it is live in this process and its last
 * activity lies the idle time or more in the past. The last activity is the latest `endedAt` of its
 * recordings (a row not closed yet counts by its `startedAt`), else the session start; it is also the
 * session's `endedAt`: the moment the last stream closed, not the moment the rule noticed. Participants
 * still present are marked left at that moment, as room_finished does for LiveKit meetings.
 *
 * When it is checked:
 * - when a stream closes (the owner's 'stream.closed'): a timer for that meeting at last activity + idle time;
 * - every min(60 s, idle time / 2), a sweep of every ACTIVE session without a room SID. This covers what no
 *   timer of this process watches: sessions left ACTIVE by a crash or a shutdown (the start-up repair has
 *   closed their rows with the file's mtime as `endedAt`). So such a session ends at most one sweep
 *   interval after its idle time, and with the same `endedAt`.
 * Which streams are live is asked of the owner (src/meetings), which is told the end (`finish`): nothing is
 * tracked here.
 *
 * A stream of the meeting that starts before then keeps it open (it is live; its close is the new last
 * activity). A stream that names an ENDED egress-only meeting in its URL (`meetingId`) re-opens it
 * ('stream.opened'), so a meeting is never ENDED while it records. Sessions with a room SID (LiveKit) are
 * never touched here.
 */
import type { EgressStreamInfo } from '../context.js';
import type { Meetings } from '../meetings/index.js';
import type { Logger } from '../log.js';
import type { RecordingStore } from '../store/recordings.js';
import type { Session, SessionStore } from '../store/sessions.js';

/** Longest time between two sweeps, ms. */
export const MAX_SWEEP_INTERVAL_MS = 60_000;

/** Sweep period for an idle time: min(60 s, idle / 2), in ms. */
export function sweepIntervalMs(idleMs: number): number {
  return Math.min(MAX_SWEEP_INTERVAL_MS, idleMs / 2);
}

export interface IdleSessionsDeps {
  sessions: SessionStore;
  recordings: RecordingStore;
  /** The owner of live streams: its stream events, its live stream counts, and `finish` when a meeting ends here. */
  meetings: Pick<Meetings, 'on' | 'off' | 'liveStreamCount' | 'finish'>;
  /** Idle time after the last stream closed, ms (EGRESS_SESSION_IDLE_SEC × 1000). */
  idleMs: number;
  log: Logger;
}

/** Ends idle egress-only meetings; `start` once at registration, `stop` at shutdown before the streams close. */
export class IdleSessions {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** At most one pending check per meeting (a meeting whose streams come and go does not pile up timers). */
  private readonly pending = new Map<string, NodeJS.Timeout>();
  private readonly onClosed = (info: EgressStreamInfo): void => this.guard(() => this.watch(info.meetingId));
  private readonly onOpened = (info: EgressStreamInfo): void => {
    this.unwatch(info.meetingId);
    this.guard(() => this.reopen(info.meetingId));
  };

  constructor(private readonly deps: IdleSessionsDeps) {}

  /** Listen to the bus and start the periodic sweep (its timer does not keep the process alive). */
  start(): void {
    this.deps.meetings.on('stream.closed', this.onClosed);
    this.deps.meetings.on('stream.opened', this.onOpened);
    this.timer = setInterval(() => this.guard(() => this.sweep()), sweepIntervalMs(this.deps.idleMs));
    this.timer.unref();
  }

  /** Stop listening and sweeping; pending per-meeting timers do nothing once stopped. Idempotent. */
  stop(): void {
    this.stopped = true;
    this.deps.meetings.off('stream.closed', this.onClosed);
    this.deps.meetings.off('stream.opened', this.onOpened);
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const t of this.pending.values()) clearTimeout(t);
    this.pending.clear();
  }

  private unwatch(meetingId: string): void {
    const t = this.pending.get(meetingId);
    if (t) { clearTimeout(t); this.pending.delete(meetingId); }
  }

  /**
   * End every ACTIVE egress-only session that is idle at `now`.
   * @param now Unix ms.
   * @returns the meetingIds ended.
   * @throws SqliteError when the database fails (the periodic caller logs it).
   */
  sweep(now = Date.now()): string[] {
    const ended: string[] = [];
    for (const s of this.deps.sessions.activeWithoutRoom()) if (this.endIfIdle(s, now)) ended.push(s.meetingId);
    return ended;
  }

  /** Check one meeting now, or again when its idle time will have passed (while nothing of it is live). */
  private watch(meetingId: string): void {
    if (this.stopped) return;
    this.unwatch(meetingId);
    const s = this.deps.sessions.get(meetingId);
    if (!s || s.status !== 'ACTIVE' || s.roomSid !== null || this.deps.meetings.liveStreamCount(meetingId) > 0) return;
    const wait = this.lastActivity(s) + this.deps.idleMs - Date.now();
    if (wait > 0) {
      const t = setTimeout(() => { this.pending.delete(meetingId); this.guard(() => this.watch(meetingId)); }, Math.min(wait + 1, 2 ** 31 - 1));
      t.unref();
      this.pending.set(meetingId, t);
      return;
    }
    this.endIfIdle(s, Date.now());
  }

  /** Latest activity of a session, Unix ms (never before its start). */
  private lastActivity(s: Session): number {
    return Math.max(this.deps.recordings.lastActivity(s.meetingId) ?? s.startedAt, s.startedAt);
  }

  private endIfIdle(s: Session, now: number): boolean {
    const { sessions, log } = this.deps;
    if (s.roomSid !== null || this.deps.meetings.liveStreamCount(s.meetingId) > 0) return false;
    const last = this.lastActivity(s);
    if (now - last < this.deps.idleMs) return false;
    if (!sessions.end(s.meetingId, last)) return false;
    sessions.leaveAll(s.meetingId, last);
    log.info({ meetingId: s.meetingId, room: s.roomName, endedAt: last, idleSec: this.deps.idleMs / 1000 }, 'egress-only meeting ended: no stream since endedAt');
    this.deps.meetings.finish(s.meetingId, last);
    return true;
  }

  /** A stream started in an ENDED egress-only meeting (named by its URL): the meeting is open again. */
  private reopen(meetingId: string): void {
    const s = this.deps.sessions.get(meetingId);
    if (!s || s.status !== 'ENDED' || s.roomSid !== null) return;
    this.deps.sessions.open({ roomName: s.roomName, meetingId });
    this.deps.log.info({ meetingId, room: s.roomName }, 'egress-only meeting re-opened by a new stream');
  }

  /** Bus listeners and timers must not throw: log instead. */
  private guard(fn: () => unknown): void {
    if (this.stopped) return;
    try {
      fn();
    } catch (err) {
      this.deps.log.error({ err }, 'egress-only meeting idle check failed');
    }
  }
}
