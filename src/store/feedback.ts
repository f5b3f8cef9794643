/**
 * Repository of `feedback_events` (migration 005): the feedback sent to hosts, kept for a TTL counted from
 * delivery. Expired rows are removed on every insert and by `sweep()` on a timer (src/feedback).
 */
import type { Db } from './db.js';

/** A feedback event as sent to hosts (PROTOCOL.md §5) plus its delivery latency. */
export interface FeedbackEvent {
  type: 'feedback';
  id: string;
  kind: string;
  severity: 'info' | 'warning';
  /** Stream-clock moment the rule became true, Unix ms. */
  ts: number;
  meetingId: string;
  participantId: string;
  window: { start: number; end: number };
  message: string;
  tips: string[];
  metadata: Record<string, unknown>;
}

interface Row {
  id: string; meeting_id: string; kind: string; severity: string; participant_id: string; ts: number;
  window_start: number; window_end: number; message: string; tips: string; metadata: string; latency_ms: number; created_at: number;
}

const toEvent = (r: Row): FeedbackEvent => ({
  type: 'feedback', id: r.id, kind: r.kind, severity: r.severity as 'info' | 'warning', ts: r.ts, meetingId: r.meeting_id,
  participantId: r.participant_id, window: { start: r.window_start, end: r.window_end }, message: r.message,
  tips: JSON.parse(r.tips) as string[], metadata: JSON.parse(r.metadata) as Record<string, unknown>,
});

export class FeedbackStore {
  private readonly stmts;

  /** @param ttlMs how long an event is kept after delivery (FEEDBACK_TTL_DAYS × 86 400 000). */
  constructor(private readonly db: Db, private readonly ttlMs: number) {
    this.stmts = {
      insert: db.prepare(`INSERT INTO feedback_events (id, meeting_id, kind, severity, participant_id, ts, window_start, window_end,
        message, tips, metadata, latency_ms, created_at) VALUES (@id, @meetingId, @kind, @severity, @participantId, @ts, @windowStart,
        @windowEnd, @message, @tips, @metadata, @latencyMs, @createdAt)`),
      sweep: db.prepare('DELETE FROM feedback_events WHERE created_at < ?'),
      since: db.prepare('SELECT * FROM feedback_events WHERE meeting_id = ? AND ts > ? ORDER BY ts, rowid LIMIT ?'),
      get: db.prepare('SELECT * FROM feedback_events WHERE id = ?'),
      update: db.prepare('UPDATE feedback_events SET metadata = ?, window_end = ? WHERE id = ?'),
      version: db.prepare<[string], { n: number; last: number | null }>('SELECT COUNT(*) AS n, MAX(rowid) AS last FROM feedback_events WHERE meeting_id = ?'),
      counts: db.prepare('SELECT kind, COUNT(*) AS n FROM feedback_events WHERE meeting_id = ? GROUP BY kind'),
      latencies: db.prepare('SELECT latency_ms FROM feedback_events WHERE meeting_id = ? ORDER BY latency_ms'),
    };
  }

  /**
   * Store a delivered event and remove the expired ones, in one transaction.
   * @param latencyMs delivery delay after `event.ts`, ms (≥ 0).
   * @param now wall clock of delivery, Unix ms.
   */
  insert(event: FeedbackEvent, latencyMs: number, now = Date.now()): void {
    this.db.transaction(() => {
      this.stmts.sweep.run(now - this.ttlMs);
      this.stmts.insert.run({
        id: event.id, meetingId: event.meetingId, kind: event.kind, severity: event.severity, participantId: event.participantId,
        ts: event.ts, windowStart: event.window.start, windowEnd: event.window.end, message: event.message,
        tips: JSON.stringify(event.tips), metadata: JSON.stringify(event.metadata), latencyMs: Math.max(0, Math.round(latencyMs)), createdAt: now,
      });
    })();
  }

  /** Merge `metadata` into a stored event and move its window end (an overlap that ended). False if gone. */
  update(id: string, metadata: Record<string, unknown>, windowEnd: number): boolean {
    const row = this.stmts.get.get(id) as Row | undefined;
    if (!row) return false;
    const merged = { ...(JSON.parse(row.metadata) as Record<string, unknown>), ...metadata };
    this.stmts.update.run(JSON.stringify(merged), windowEnd, id);
    return true;
  }

  /** Remove events delivered more than the TTL before `now`; returns how many. */
  sweep(now = Date.now()): number {
    return this.stmts.sweep.run(now - this.ttlMs).changes;
  }

  /** A text that changes when an event of the meeting is stored or removed (their count and latest rowid). */
  version(meetingId: string): string {
    const r = this.stmts.version.get(meetingId) as { n: number; last: number | null } | undefined;
    return `${r?.n ?? 0}-${r?.last ?? 0}`;
  }

  /** Events of a meeting with `ts` after `sinceMs`, oldest first (at most `limit`). */
  list(meetingId: string, sinceMs = 0, limit = 1000): FeedbackEvent[] {
    return (this.stmts.since.all(meetingId, sinceMs, limit) as Row[]).map(toEvent);
  }

  /** Counts by kind and delivery latency (avg, p95; nearest-rank) of a meeting's stored events. */
  metrics(meetingId: string): { counts: Record<string, number>; latencyMs: { avg: number | null; p95: number | null } } {
    const counts: Record<string, number> = {};
    for (const r of this.stmts.counts.all(meetingId) as { kind: string; n: number }[]) counts[r.kind] = r.n;
    const l = (this.stmts.latencies.all(meetingId) as { latency_ms: number }[]).map((r) => r.latency_ms);
    if (l.length === 0) return { counts, latencyMs: { avg: null, p95: null } };
    const avg = l.reduce((a, b) => a + b, 0) / l.length;
    const p95 = l[Math.min(l.length - 1, Math.ceil(0.95 * l.length) - 1)]!;
    return { counts, latencyMs: { avg: Math.round(avg * 10) / 10, p95 } };
  }
}
