/**
 * Repository of the prosody tables (migration 006): `prosody_segments` (one row per segment Hume answered
 * with predictions: window on the stream clock, Unix ms, and the top emotions as a JSON array of
 * {name, score}) and `prosody_counters` (per meeting: payloads sent, predictions, warnings, errors by code,
 * segments dropped by reason).
 *
 * Counter names: `payloads_sent`, `predictions`, `warnings`, `errors`, `error:<code>` (e.g. `error:E0203`),
 * `dropped`, `dropped:<reason>` (backpressure, lost, timeout, stopped, closed, invalid).
 */
import type { Db } from '../store/db.js';
import type { Emotion } from './protocol.js';

/** One answered segment. */
export interface ProsodySegment {
  meetingId: string;
  participant: string;
  trackId: string;
  payloadId: string;
  segmentIndex: number;
  /** Window on the stream clock, Unix ms. */
  startMs: number;
  endMs: number;
  /** Top emotions, highest first. */
  emotions: Emotion[];
  /** Prediction windows Hume returned for the segment. */
  predictions: number;
  /** Wall clock of the reply, Unix ms. */
  receivedAt: number;
}

interface SegmentRow {
  meeting_id: string; participant: string; track_id: string; payload_id: string; segment_index: number;
  start_ms: number; end_ms: number; emotions: string; predictions: number; received_at: number;
}

/** Reads and writes of the prosody tables. Every write is one statement (no half-written rows). */
export class ProsodyStore {
  private readonly insertStmt;
  private readonly bumpStmt;
  private readonly counterStmt;
  private readonly countersStmt;
  private readonly listStmt;

  constructor(private readonly db: Db) {
    this.insertStmt = db.prepare(`INSERT OR IGNORE INTO prosody_segments
      (meeting_id, participant, track_id, payload_id, segment_index, start_ms, end_ms, emotions, predictions, received_at)
      VALUES (@meetingId, @participant, @trackId, @payloadId, @segmentIndex, @startMs, @endMs, @emotions, @predictions, @receivedAt)`);
    this.bumpStmt = db.prepare(`INSERT INTO prosody_counters (meeting_id, name, count, updated_at) VALUES (?, ?, ?, ?)
      ON CONFLICT (meeting_id, name) DO UPDATE SET count = count + excluded.count, updated_at = excluded.updated_at`);
    this.counterStmt = db.prepare('SELECT count FROM prosody_counters WHERE meeting_id = ? AND name = ?');
    this.countersStmt = db.prepare('SELECT name, count FROM prosody_counters WHERE meeting_id = ? ORDER BY name');
    this.listStmt = db.prepare('SELECT * FROM prosody_segments WHERE meeting_id = ? ORDER BY start_ms, id');
  }

  /** Store an answered segment (a repeated payload id is ignored). */
  insert(s: ProsodySegment): void {
    this.insertStmt.run({ ...s, startMs: Math.round(s.startMs), endMs: Math.round(s.endMs), emotions: JSON.stringify(s.emotions) });
  }

  /** Add `n` to the counters `names` of a meeting, in one transaction. */
  bump(meetingId: string, names: readonly string[], n = 1): void {
    const now = Date.now();
    this.db.transaction(() => { for (const name of names) this.bumpStmt.run(meetingId, name, n, now); })();
  }

  /** One counter of a meeting (0 when never bumped). */
  counter(meetingId: string, name: string): number {
    return (this.counterStmt.get(meetingId, name) as { count: number } | undefined)?.count ?? 0;
  }

  /** Every counter of a meeting, by name. */
  counters(meetingId: string): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.countersStmt.all(meetingId) as { name: string; count: number }[]) out[r.name] = r.count;
    return out;
  }

  /** The answered segments of a meeting, oldest window first. */
  segments(meetingId: string): ProsodySegment[] {
    return (this.listStmt.all(meetingId) as SegmentRow[]).map((r) => ({
      meetingId: r.meeting_id, participant: r.participant, trackId: r.track_id, payloadId: r.payload_id, segmentIndex: r.segment_index,
      startMs: r.start_ms, endMs: r.end_ms, emotions: JSON.parse(r.emotions) as Emotion[], predictions: r.predictions, receivedAt: r.received_at,
    }));
  }
}

/**
 * Prosody payloads sent to Hume for a meeting (every WAV payload written to a Hume socket, resends after a
 * reconnect included). 0 for an unknown meeting. For GET /feedback/metrics/:meetingId `prosodyPayloads`.
 */
export function prosodyPayloads(db: Db, meetingId: string): number {
  const r = db.prepare("SELECT count FROM prosody_counters WHERE meeting_id = ? AND name = 'payloads_sent'").get(meetingId) as { count: number } | undefined;
  return r?.count ?? 0;
}
