/**
 * The worker thread of src/meetings/render-pool.ts: computes meeting reports and draws timeline pictures off
 * the event loop, stores reports, and replays stored reports for reopened meetings. Messages in: `{id, task}`
 * (RenderTask, StoreTask or SeedTask); out: `{id, bytes}` (the UTF-8 bytes of the result, transferred),
 * `{id, summary}` (StoreTask), `{id, snapshot}` (SeedTask) or `{id, error}` (the message of what threw). One task
 * at a time, in arrival order.
 *
 * SQLite: the worker has its own connection to the server's database file, through a ReportStore of its own
 * (src/store/reports.ts holds the SQL). WAL mode: its reads do not wait for the main connection's writes, and
 * its writes wait for the main connection's short transactions through busy_timeout. A report is written in
 * 256 KiB parts, each its own transaction, with a PART_PAUSE_MS pause between them, so a write of the main
 * connection that comes meanwhile waits for one part at most, not for the whole ~12 MB report.
 *
 * Loaded as a module in a checkout (through tsx) and as a bundled script string in the single executable
 * (scripts/build-binary.ts bundles this file into the asset RENDER_WORKER_ASSET of src/runtime.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { MeetingAnalytics, seedAnalytics, type TimelineSnapshot } from './analytics.js';
import type { MeetingReport } from './report.js';
import { ReportStore } from '../store/reports.js';
import type { RenderTask, RenderWorkerData, ReportSource, ReportSummary, SeedTask, StoreTask } from './render-pool.js';

if (!parentPort) throw new Error('render-worker.ts runs only as a worker thread');
const port = parentPort;
const data = workerData as RenderWorkerData;

/** How long a write of a report part waits for the main connection's write transaction, ms (they are short: a row or a batch). */
const BUSY_TIMEOUT_MS = 10_000;
/**
 * The pause between two parts of a report write, ms: the main connection's write that came while a part was
 * written gets the lock in the pause, instead of waiting in SQLite's busy handler for the whole report.
 */
const PART_PAUSE_MS = 5;

let store: ReportStore | null = null;
/** The stored reports, on this thread's own connection (the server created the file, migrated it and set WAL mode). */
function reports(): ReportStore {
  if (!store) {
    const db = new Database(data.dbFile, { fileMustExist: true, nativeBinding: data.sqliteBinding });
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    store = new ReportStore(db);
  }
  return store;
}

const pauseCell = new Int32Array(new SharedArrayBuffer(4));
/** Sleep PART_PAUSE_MS without leaving the task (this thread runs one task at a time). */
function pause(): void {
  Atomics.wait(pauseCell, 0, 0, PART_PAUSE_MS);
}

/** The stored report's JSON bytes of a meeting. @throws Error when none is stored. */
function storedBytes(meetingId: string): Buffer {
  const bytes = reports().bytes(meetingId);
  if (bytes === null) throw new Error(`no stored report for ${JSON.stringify(meetingId)}`);
  return bytes;
}

/** Compute (or read) the report, write it in parts (src/store/reports.ts, pausing between parts), and sum it up. */
function storeReport(task: StoreTask): ReportSummary {
  const report = reportOf(task.source);
  if ('stored' in task.source && task.final && report.final) {
    return { meetingId: task.meetingId, written: false, final: true, durationMs: report.durationMs, participantCount: report.participants.length, interruptionCount: report.interruptionCount, bytes: 0 };
  }
  if (task.final && !report.final) {
    report.final = true;
    report.generatedAt = task.atMs;
  }
  const bytes = Buffer.from(JSON.stringify(report), 'utf8');
  reports().putBytes(task.meetingId, bytes, report.final, task.atMs, { between: pause });
  return {
    meetingId: task.meetingId, written: true, final: report.final, durationMs: report.durationMs, participantCount: report.participants.length,
    interruptionCount: report.interruptionCount, bytes: bytes.length,
  };
}

/** The stored report's timeline replayed (src/meetings/analytics.ts seedAnalytics) and taken as a snapshot. */
function seed(task: SeedTask): TimelineSnapshot | null {
  const bytes = reports().bytes(task.meetingId);
  if (bytes === null) return null;
  const a = new MeetingAnalytics(task.meetingId);
  seedAnalytics(a, JSON.parse(bytes.toString('utf8')) as MeetingReport);
  return a.snapshot();
}

/** The MeetingReport of a task's source: the stored JSON parsed, or computed from the live timeline. */
function reportOf(source: ReportSource): MeetingReport {
  if ('stored' in source) return JSON.parse(storedBytes(source.stored).toString('utf8')) as MeetingReport;
  const { names, hosts } = source.people;
  const index = new Map<string, number>();
  source.live.ids.forEach((id, i) => index.set(id, i));
  return MeetingAnalytics.fromSnapshot(source.live).report((id) => {
    const i = index.get(id);
    return i === undefined ? { name: null, isHost: false } : { name: names[i] ?? null, isHost: hosts[i] === 1 };
  }, source.nowMs, source.final);
}

/**
 * The picture renderer (./timeline-svg.ts, with vega: a few hundred ms of loading). Loaded by the first picture,
 * or in the background once the worker's first task is answered (`preload`), so that the first picture a host
 * console asks for does not pay for it.
 */
let svg: Promise<typeof import('./timeline-svg.js')> | null = null;
const renderer = () => (svg ??= import('./timeline-svg.js'));
function preload(): void {
  if (!svg) setImmediate(() => { renderer().catch(() => { svg = null; }); });
}

/** The task's result: a stored report's bytes as read, or the text computed. */
async function run(task: RenderTask): Promise<Buffer | string> {
  if (task.kind === 'report') return 'stored' in task.source ? storedBytes(task.source.stored) : JSON.stringify(reportOf(task.source));
  const { renderTimelineSvg } = await renderer();
  return renderTimelineSvg(reportOf(task.source), task.feedback, task.maxMarks);
}

port.on('message', (msg: { id: number; task: RenderTask | StoreTask | SeedTask }) => {
  const { task } = msg;
  if (task.kind === 'store' || task.kind === 'seed') {
    try {
      if (task.kind === 'store') port.postMessage({ id: msg.id, summary: storeReport(task) });
      else {
        // The snapshot's columns are shared memory (src/meetings/analytics.ts): the event loop adopts them, no copy.
        port.postMessage({ id: msg.id, snapshot: seed(task) });
      }
    } catch (err) {
      port.postMessage({ id: msg.id, error: err instanceof Error ? `${err.message}` : String(err) });
    }
    preload();
    return;
  }
  run(task).then((result) => {
    const bytes = typeof result === 'string' ? Buffer.from(result, 'utf8') : result;
    // A Buffer of its own ArrayBuffer (not the shared pool) can be transferred, not copied.
    const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : Uint8Array.prototype.slice.call(bytes);
    port.postMessage({ id: msg.id, bytes: own }, [own.buffer as ArrayBuffer]);
    preload();
  }, (err: unknown) => {
    port.postMessage({ id: msg.id, error: err instanceof Error ? `${err.message}` : String(err) });
    preload();
  });
});
