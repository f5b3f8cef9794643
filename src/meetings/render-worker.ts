/**
 * The worker thread of src/meetings/render-pool.ts: computes meeting reports and draws timeline pictures off
 * the event loop, stores reports, and replays stored reports for reopened meetings. Messages in: `{id, task}`
 * (RenderTask, StoreTask or SeedTask); out: `{id, bytes}` (the UTF-8 bytes of the result, transferred),
 * `{id, summary}` (StoreTask), `{id, snapshot}` (SeedTask) or `{id, error}` (the message of what threw). One task
 * at a time, in arrival order.
 *
 * SQLite: the worker has its own connection to the server's database file (WAL mode: its reads do not wait for
 * the main connection's writes, and its writes wait for the main connection's short transactions through
 * busy_timeout). The report is stringified before its statement runs, so the write lock is held only while
 * SQLite writes the row's pages; a write of the main connection that comes meanwhile waits that long.
 *
 * Loaded as a module in a checkout (through tsx) and as a bundled script string in the single executable
 * (scripts/build-binary.ts bundles this file into the asset RENDER_WORKER_ASSET of src/runtime.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { MeetingAnalytics, seedAnalytics, type TimelineSnapshot } from './analytics.js';
import type { MeetingReport } from './report.js';
import type { RenderTask, RenderWorkerData, ReportSource, ReportSummary, SeedTask, StoreTask } from './render-pool.js';

if (!parentPort) throw new Error('render-worker.ts runs only as a worker thread');
const port = parentPort;
const data = workerData as RenderWorkerData;

/** How long a report write waits for the main connection's write transaction, ms (they are short: a row or a batch). */
const BUSY_TIMEOUT_MS = 10_000;

let db: Database.Database | null = null;
/** This thread's connection (the server created the file and set WAL mode). */
function conn(): Database.Database {
  if (!db) {
    db = new Database(data.dbFile, { fileMustExist: true, nativeBinding: data.sqliteBinding });
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  }
  return db;
}

/** The stored report's JSON text of a meeting, or null when none is stored. */
function storedTextOrNull(meetingId: string): string | null {
  return conn().prepare<[string], { report: string }>('SELECT report FROM meeting_reports WHERE meeting_id = ?').get(meetingId)?.report ?? null;
}

/** The stored report's JSON text of a meeting. @throws Error when none is stored. */
function storedText(meetingId: string): string {
  const text = storedTextOrNull(meetingId);
  if (text === null) throw new Error(`no stored report for ${JSON.stringify(meetingId)}`);
  return text;
}

/** Compute (or read) the report, write its row (same statement as src/store/reports.ts), and sum it up. */
function store(task: StoreTask): ReportSummary {
  const report = reportOf(task.source);
  if ('stored' in task.source && task.final && report.final) {
    return { meetingId: task.meetingId, written: false, final: true, durationMs: report.durationMs, participantCount: report.participants.length, interruptionCount: report.interruptionCount, bytes: 0 };
  }
  if (task.final && !report.final) {
    report.final = true;
    report.generatedAt = task.atMs;
  }
  const json = JSON.stringify(report);
  conn().prepare(`INSERT INTO meeting_reports (meeting_id, report, final, created_at) VALUES (?, ?, ?, ?)
    ON CONFLICT (meeting_id) DO UPDATE SET report = excluded.report, final = excluded.final, created_at = excluded.created_at`)
    .run(task.meetingId, json, report.final ? 1 : 0, task.atMs);
  return {
    meetingId: task.meetingId, written: true, final: report.final, durationMs: report.durationMs, participantCount: report.participants.length,
    interruptionCount: report.interruptionCount, bytes: Buffer.byteLength(json),
  };
}

/** The stored report's timeline replayed (src/meetings/analytics.ts seedAnalytics) and taken as a snapshot. */
function seed(task: SeedTask): TimelineSnapshot | null {
  const text = storedTextOrNull(task.meetingId);
  if (text === null) return null;
  const a = new MeetingAnalytics(task.meetingId);
  seedAnalytics(a, JSON.parse(text) as MeetingReport);
  return a.snapshot();
}

/** The MeetingReport of a task's source: the stored JSON parsed, or computed from the live timeline. */
function reportOf(source: ReportSource): MeetingReport {
  if ('stored' in source) return JSON.parse(storedText(source.stored)) as MeetingReport;
  const { names, hosts } = source.people;
  const index = new Map<string, number>();
  source.live.ids.forEach((id, i) => index.set(id, i));
  return MeetingAnalytics.fromSnapshot(source.live).report((id) => {
    const i = index.get(id);
    return i === undefined ? { name: null, isHost: false } : { name: names[i] ?? null, isHost: hosts[i] === 1 };
  }, source.nowMs, source.final);
}

async function run(task: RenderTask): Promise<string> {
  if (task.kind === 'report') return 'stored' in task.source ? storedText(task.source.stored) : JSON.stringify(reportOf(task.source));
  // vega is loaded with the first picture, not with the worker.
  const { renderTimelineSvg } = await import('./timeline-svg.js');
  return renderTimelineSvg(reportOf(task.source), task.feedback, task.maxMarks);
}

port.on('message', (msg: { id: number; task: RenderTask | StoreTask | SeedTask }) => {
  const { task } = msg;
  if (task.kind === 'store' || task.kind === 'seed') {
    try {
      if (task.kind === 'store') port.postMessage({ id: msg.id, summary: store(task) });
      else {
        const snapshot = seed(task);
        const transfer = snapshot ? [snapshot.talkMs, snapshot.made, snapshot.spurtWho, snapshot.spurtStart, snapshot.spurtEnd, snapshot.markBy, snapshot.markOf, snapshot.markTimes].map((c) => c.buffer as ArrayBuffer) : [];
        port.postMessage({ id: msg.id, snapshot }, transfer);
      }
    } catch (err) {
      port.postMessage({ id: msg.id, error: err instanceof Error ? `${err.message}` : String(err) });
    }
    return;
  }
  run(task).then((text) => {
    const bytes = Buffer.from(text, 'utf8');
    // A Buffer of its own ArrayBuffer (not the shared pool) can be transferred, not copied.
    const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : Uint8Array.prototype.slice.call(bytes);
    port.postMessage({ id: msg.id, bytes: own }, [own.buffer as ArrayBuffer]);
  }, (err: unknown) => {
    port.postMessage({ id: msg.id, error: err instanceof Error ? `${err.message}` : String(err) });
  });
});
