/**
 * Repository of stored meeting reports, the one home of their SQL: one MeetingReport (src/meetings/report.ts)
 * per meeting, as JSON. A report is stored when the last stream of a meeting closes (`final` false: the
 * meeting may go on) and again when the meeting ends (`final` true). Used on the server's connection (the
 * event loop: `storedAt`, `get` when the render worker fails) and on the render worker's own connection to the
 * same WAL database (src/meetings/render-worker.ts: writes and reads of stored reports).
 *
 * Tables (migrations 007, 010): `meeting_reports (meeting_id, final, created_at)` says which report is stored;
 * `meeting_report_parts (meeting_id, version, seq, bytes)` holds its UTF-8 bytes in parts of REPORT_PART_BYTES,
 * version = the row's created_at (the report's version: it changes with every write, src/meetings/index.ts).
 *
 * Why parts: at the analytics bound a report is ~12 MB. Written as one row, SQLite held the write lock for the
 * whole statement, and a small write of the server's connection (stats, recording progress) waited behind it
 * in SQLite's busy handler, which sleeps in steps of 1, 2, 5, 10, 15, 20, 25… ms: 33–130 ms with the event loop
 * blocked. Written in 256 KiB parts, each its own transaction, with a pause between them (`between`), such a
 * write waits for one part at most: 6–8 ms against 79–84 ms for the report as one part, measured by
 * `npm run bench -- report-store` on a 2-core machine (11–37 ms against 210–338 ms with the machine loaded).
 *
 * Consistency: the parts of a new version are written beside the stored ones, then one short transaction
 * points `meeting_reports` at the new version, then the old parts are deleted. A read is one statement (one
 * snapshot in WAL mode) joining the row with the parts of its version, so a reader sees the old report or the
 * new one whole, never a mix. Parts of a version no row points at (a write cut by a crash) are never read and
 * are deleted by the next write of their meeting. One writer per meeting at a time (the render worker writes
 * in order).
 *
 * All methods are synchronous (better-sqlite3) and throw the SQLite error.
 */
import type { Db } from './db.js';
import type { MeetingReport } from '../meetings/report.js';

/** Bytes of report per `meeting_report_parts` row (the last part of a report may be shorter). */
export const REPORT_PART_BYTES = 256 * 1024;

/** How a report is written (`ReportStore.putBytes`). */
export interface ReportWriteOptions {
  /**
   * Called after each part is committed and between the deletions of old parts, outside any transaction: the
   * render worker pauses there (~5 ms) so that the server's connection gets the write lock at once. Exceptions
   * it throws abort the write (the parts written so far are leftovers the next write deletes).
   */
  between?: () => void;
  /** Bytes per part (default REPORT_PART_BYTES; bench/report-store.ts compares with one part for the whole report). */
  partBytes?: number;
}

/** Identifies a part row (its bytes not read). */
interface PartKey { version: number; seq: number }

/** Meetings whose stamp `storedAt` keeps in memory. */
const MAX_STAMPS = 10_000;

export class ReportStore {
  private readonly q;
  /** created_at by meeting (at most MAX_STAMPS kept): `storedAt` is asked for at every report request. */
  private readonly stamps = new Map<string, number | null>();
  /** The database file (a worker thread reads stored reports from it with a connection of its own). */
  readonly file: string;

  /** Prepares the statements on `db` (a connection migrated to version 10 or later). */
  constructor(db: Db) {
    this.file = db.name;
    this.q = {
      stamp: db.prepare<[string], number>('SELECT created_at FROM meeting_reports WHERE meeting_id = ?').pluck(),
      read: db.prepare<[string], Buffer>(`SELECT p.bytes FROM meeting_reports r
        JOIN meeting_report_parts p ON p.meeting_id = r.meeting_id AND p.version = r.created_at
        WHERE r.meeting_id = ? ORDER BY p.seq`).pluck(),
      // Keys only: answered from the primary key's index, the parts' bytes are not read.
      otherParts: db.prepare<[string, number | null], PartKey>('SELECT version, seq FROM meeting_report_parts WHERE meeting_id = ? AND version IS NOT ?'),
      insertPart: db.prepare<[string, number, number, Buffer]>('INSERT INTO meeting_report_parts (meeting_id, version, seq, bytes) VALUES (?, ?, ?, ?)'),
      deletePart: db.prepare<[string, number, number]>('DELETE FROM meeting_report_parts WHERE meeting_id = ? AND version = ? AND seq = ?'),
      commit: db.prepare<[string, number, number]>(`INSERT INTO meeting_reports (meeting_id, final, created_at) VALUES (?, ?, ?)
        ON CONFLICT (meeting_id) DO UPDATE SET final = excluded.final, created_at = excluded.created_at`),
    };
  }

  /** Store (or replace) the report of `report.meetingId` as version `version` (Unix ms; see `putBytes`). */
  put(report: MeetingReport, version = Date.now(), options: ReportWriteOptions = {}): void {
    this.putBytes(report.meetingId, Buffer.from(JSON.stringify(report), 'utf8'), report.final, version, options);
  }

  /**
   * Store (or replace) a meeting's report given as its JSON's UTF-8 bytes, as version `version` (its
   * created_at, Unix ms), in parts (module comment): leftover parts of versions no row points at are deleted,
   * the parts written (each INSERT its own transaction, `options.between` after each), the row pointed at the
   * new version in one short transaction, and the previous version's parts deleted one per transaction.
   * @param version must differ from the stored report's version (the server makes it increase: `storedAt` + 1 at least).
   * @throws RangeError when `version` is the stored report's version; the SQLite error (a foreign key: no
   *   `sessions` row for the meeting; SQLITE_BUSY after busy_timeout).
   */
  putBytes(meetingId: string, bytes: Buffer, final: boolean, version: number, options: ReportWriteOptions = {}): void {
    const { between, partBytes = REPORT_PART_BYTES } = options;
    const stored = this.q.stamp.get(meetingId) ?? null;
    if (stored === version) throw new RangeError(`report version ${version} of ${JSON.stringify(meetingId)} is the stored one`);
    this.deleteParts(meetingId, stored, between);
    // At least one part, so that an empty report reads back as empty, not as none.
    for (let seq = 0, off = 0; seq === 0 || off < bytes.length; seq++, off += partBytes) {
      this.q.insertPart.run(meetingId, version, seq, bytes.subarray(off, off + partBytes));
      between?.();
    }
    this.q.commit.run(meetingId, final ? 1 : 0, version);
    this.noteStored(meetingId, version);
    this.deleteParts(meetingId, version, between);
  }

  /**
   * A report of `meetingId` was written as version `atMs` by another connection (the render worker writes
   * stored reports, src/meetings/render-worker.ts): the stamp `storedAt` gives from now on.
   */
  noteStored(meetingId: string, atMs: number): void {
    this.remember(meetingId, atMs);
  }

  /**
   * Forget what `storedAt` knows of a meeting: the next call reads the row. For a write of another connection
   * whose outcome is unknown (it failed, possibly after its row was pointed at the new version).
   */
  forget(meetingId: string): void {
    this.stamps.delete(meetingId);
  }

  /** When the stored report of a meeting was written (Unix ms; its version: it changes with every write), or null when none is. */
  storedAt(meetingId: string): number | null {
    const known = this.stamps.get(meetingId);
    if (known !== undefined) return known;
    const at = this.q.stamp.get(meetingId) ?? null;
    this.remember(meetingId, at);
    return at;
  }

  /** Keep a meeting's stamp, newest last; the oldest goes beyond MAX_STAMPS. */
  private remember(meetingId: string, at: number | null): void {
    this.stamps.delete(meetingId);
    if (this.stamps.size >= MAX_STAMPS) this.stamps.delete(this.stamps.keys().next().value!);
    this.stamps.set(meetingId, at);
  }

  /** The stored report of a meeting as its JSON's UTF-8 bytes (one statement: one consistent snapshot), or null when none is stored. */
  bytes(meetingId: string): Buffer | null {
    const parts = this.q.read.all(meetingId);
    return parts.length ? Buffer.concat(parts) : null;
  }

  /** The stored report of a meeting, or null. @throws SyntaxError when the stored JSON does not parse. */
  get(meetingId: string): MeetingReport | null {
    const b = this.bytes(meetingId);
    return b ? (JSON.parse(b.toString('utf8')) as MeetingReport) : null;
  }

  /** Delete the parts of `meetingId` whose version is not `keep` (null: all), one per transaction, `between` between them. */
  private deleteParts(meetingId: string, keep: number | null, between: (() => void) | undefined): void {
    const doomed = this.q.otherParts.all(meetingId, keep);
    doomed.forEach((p, i) => {
      if (i > 0) between?.();
      this.q.deletePart.run(meetingId, p.version, p.seq);
    });
  }
}
