import type { Migration } from './index.js';

/**
 * When each stored meeting report was written, readable without reading the report: created_at comes after
 * the report's JSON in the row, so SQLite walked the JSON's overflow pages to reach it (~100 ms for a 12 MB
 * report at the analytics bound). The covering index answers `SELECT created_at … WHERE meeting_id = ?`
 * alone (src/store/reports.ts `storedAt`, the version of a stored report).
 */
const m: Migration = {
  version: 9,
  name: 'meeting_report_stamps',
  sql: `CREATE INDEX meeting_reports_stamp ON meeting_reports (meeting_id, created_at);`,
};
export default m;
