import type { Migration } from './index.js';

/**
 * Feedback events for hosts (PROTOCOL.md §5), kept FEEDBACK_TTL_DAYS: `ts` is the stream-clock moment the rule
 * became true, `created_at` the wall clock of delivery (the TTL counts from it), `latency_ms` the delivery delay
 * after `ts` (clamped at 0 for meetings streamed faster than real time).
 */
const m: Migration = {
  version: 5,
  name: 'feedback',
  sql: `
CREATE TABLE feedback_events (
  id             TEXT PRIMARY KEY,
  meeting_id     TEXT NOT NULL,
  kind           TEXT NOT NULL,
  severity       TEXT NOT NULL,
  participant_id TEXT NOT NULL,
  ts             INTEGER NOT NULL,
  window_start   INTEGER NOT NULL,
  window_end     INTEGER NOT NULL,
  message        TEXT NOT NULL,
  tips           TEXT NOT NULL,
  metadata       TEXT NOT NULL,
  latency_ms     INTEGER NOT NULL,
  created_at     INTEGER NOT NULL
);
CREATE INDEX feedback_events_meeting ON feedback_events (meeting_id, ts);
CREATE INDEX feedback_events_created ON feedback_events (created_at);
`,
};
export default m;
