import type { Migration } from './index.js';

/**
 * Stored reports in parts (src/store/reports.ts): a report's UTF-8 bytes are kept in `meeting_report_parts`,
 * 256 KiB a row, keyed by the report's version (its `meeting_reports.created_at`) and position (`seq`), so a
 * writer can commit a 12 MB report part by part, each in a short transaction of its own, instead of holding
 * SQLite's write lock for one 12 MB row (the main connection's small writes waited 33–130 ms behind it).
 * `meeting_reports` keeps one row per meeting (final, created_at) and commits which version is the stored one.
 *
 * Each existing report becomes one part (seq 0) of version created_at; the next write of its meeting
 * replaces it by parts. The index of migration 009 is dropped with the report column (the row is small now:
 * created_at is read without it).
 */
const m: Migration = {
  version: 10,
  name: 'meeting_report_parts',
  sql: `
CREATE TABLE meeting_report_parts (
  meeting_id  TEXT NOT NULL REFERENCES sessions (meeting_id) ON DELETE CASCADE,
  version     INTEGER NOT NULL,
  seq         INTEGER NOT NULL,
  bytes       BLOB NOT NULL,
  PRIMARY KEY (meeting_id, version, seq)
);
INSERT INTO meeting_report_parts (meeting_id, version, seq, bytes)
  SELECT meeting_id, created_at, 0, CAST(report AS BLOB) FROM meeting_reports;
DROP INDEX meeting_reports_stamp;
ALTER TABLE meeting_reports DROP COLUMN report;
`,
};
export default m;
