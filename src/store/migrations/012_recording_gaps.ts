/**
 * `recordings.gaps`: what a recording lacks, a JSON array of `{ "offset": bytes, "bytes": bytes }` in data
 * order (offsets in bytes of the WAV data, header excluded). Filled when audio was lost past a queue bound
 * (the stream was closed with 4008, docs/protocol.md) or after a write failure (everything from the cut on);
 * `[]` for a recording that holds every unmuted byte received, and for the rows written before this migration.
 */
import type { Migration } from './index.js';

const m: Migration = {
  version: 12,
  name: 'recording_gaps',
  sql: `
ALTER TABLE recordings ADD COLUMN gaps TEXT NOT NULL DEFAULT '[]';
`,
};
export default m;
