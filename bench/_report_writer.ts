/**
 * The writer thread of bench/report-store.ts, in the render worker's place (src/meetings/render-worker.ts):
 * its own connection to the bench's database, a ReportStore on it, and a synchronous pause (Atomics.wait)
 * between parts. Message in: `{version, partBytes}` (partBytes 0: the whole report as one part); out:
 * `{ms}` (the write's duration, ms) or `{error}`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { ReportStore } from '../src/store/reports.js';

/** What bench/report-store.ts gives the thread. */
export interface WriterData { file: string; meetingId: string; reportBytes: number; pauseMs: number }

if (!parentPort) throw new Error('_report_writer.ts runs only as a worker thread');
const port = parentPort;
const { file, meetingId, reportBytes, pauseMs } = workerData as WriterData;
const db = new Database(file, { fileMustExist: true });
db.pragma('busy_timeout = 10000');
const store = new ReportStore(db);
const bytes = Buffer.alloc(reportBytes, '{"spurts":[{"participantId":"p1","startMs":1767225600000,"endMs":1767225600500}]}');
const cell = new Int32Array(new SharedArrayBuffer(4));
const between = () => { Atomics.wait(cell, 0, 0, pauseMs); };

port.on('message', (m: { version: number; partBytes: number }) => {
  try {
    const t0 = performance.now();
    store.putBytes(meetingId, bytes, false, m.version, { between, partBytes: m.partBytes || bytes.length });
    port.postMessage({ ms: performance.now() - t0 });
  } catch (err) {
    port.postMessage({ error: err instanceof Error ? err.message : String(err) });
  }
});
