/**
 * The worker thread of src/meetings/render-pool.ts: computes meeting reports and draws timeline pictures off
 * the event loop. Messages in: `{id, task}` (RenderTask); out: `{id, bytes}` (the UTF-8 bytes of the result,
 * transferred) or `{id, error}` (the message of what threw). One task at a time, in arrival order.
 *
 * Loaded as a module in a checkout (through tsx) and as a bundled script string in the single executable
 * (scripts/build-binary.ts bundles this file into the asset RENDER_WORKER_ASSET of src/runtime.ts).
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { MeetingAnalytics } from './analytics.js';
import type { MeetingReport } from './report.js';
import type { RenderTask, RenderWorkerData, ReportSource } from './render-pool.js';

if (!parentPort) throw new Error('render-worker.ts runs only as a worker thread');
const port = parentPort;
const data = workerData as RenderWorkerData;

let db: Database.Database | null = null;
/** The stored report's JSON text of a meeting (a read-only connection of this thread). @throws Error when none is stored. */
function storedText(meetingId: string): string {
  db ??= new Database(data.dbFile, { readonly: true, fileMustExist: true, nativeBinding: data.sqliteBinding });
  const row = db.prepare<[string], { report: string }>('SELECT report FROM meeting_reports WHERE meeting_id = ?').get(meetingId);
  if (!row) throw new Error(`no stored report for ${JSON.stringify(meetingId)}`);
  return row.report;
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

port.on('message', (msg: { id: number; task: RenderTask }) => {
  run(msg.task).then((text) => {
    const bytes = Buffer.from(text, 'utf8');
    // A Buffer of its own ArrayBuffer (not the shared pool) can be transferred, not copied.
    const own = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : Uint8Array.prototype.slice.call(bytes);
    port.postMessage({ id: msg.id, bytes: own }, [own.buffer as ArrayBuffer]);
  }, (err: unknown) => {
    port.postMessage({ id: msg.id, error: err instanceof Error ? `${err.message}` : String(err) });
  });
});
