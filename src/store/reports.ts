/**
 * Repository of `meeting_reports` (migration 007): one MeetingReport (src/meetings/report.ts) per meeting, as
 * JSON. A report is stored when the last stream of a meeting closes (`final` false: the meeting may go on) and
 * again when the meeting ends (`final` true). All methods are synchronous (better-sqlite3) and throw the
 * SQLite error.
 */
import type { Db } from './db.js';
import type { MeetingReport } from '../meetings/report.js';

export class ReportStore {
  private readonly q;
  /** created_at by meeting (reading it from SQLite walks the report's overflow pages: ~100 ms at 12 MB). */
  private readonly stamps = new Map<string, number | null>();
  /** The database file (a worker thread reads stored reports from it with a connection of its own). */
  readonly file: string;

  constructor(db: Db) {
    this.file = db.name;
    this.q = {
      put: db.prepare(`INSERT INTO meeting_reports (meeting_id, report, final, created_at) VALUES (?, ?, ?, ?)
        ON CONFLICT (meeting_id) DO UPDATE SET report = excluded.report, final = excluded.final, created_at = excluded.created_at`),
      get: db.prepare<[string], { report: string }>('SELECT report FROM meeting_reports WHERE meeting_id = ?'),
      stamp: db.prepare<[string], { created_at: number }>('SELECT created_at FROM meeting_reports INDEXED BY meeting_reports_stamp WHERE meeting_id = ?'),
    };
  }

  /** Store (or replace) the report of `report.meetingId`. */
  put(report: MeetingReport, now = Date.now()): void {
    this.putText(report.meetingId, JSON.stringify(report), report.final, now);
  }

  /** Store (or replace) a report given as its JSON text. */
  putText(meetingId: string, json: string, final: boolean, now = Date.now()): void {
    this.q.put.run(meetingId, json, final ? 1 : 0, now);
    this.stamps.delete(meetingId);
    this.stamps.set(meetingId, now);
  }

  /**
   * A report row of `meetingId` was written at `atMs` by another connection (the render worker writes stored
   * reports, src/meetings/render-worker.ts): the stamp `storedAt` gives from now on.
   */
  noteStored(meetingId: string, atMs: number): void {
    this.stamps.delete(meetingId);
    this.stamps.set(meetingId, atMs);
  }

  /** When the stored report of a meeting was written (Unix ms; it changes with every `put`), or null when none is. */
  storedAt(meetingId: string): number | null {
    const known = this.stamps.get(meetingId);
    if (known !== undefined) return known;
    const at = this.q.stamp.get(meetingId)?.created_at ?? null;
    if (this.stamps.size >= 10_000) this.stamps.delete(this.stamps.keys().next().value!);
    this.stamps.set(meetingId, at);
    return at;
  }

  /** The stored report of a meeting, or null. */
  get(meetingId: string): MeetingReport | null {
    const r = this.q.get.get(meetingId);
    return r ? (JSON.parse(r.report) as MeetingReport) : null;
  }
}
