/**
 * `npm run bench -- report-store [--runs 5] [--mb 12] [--pause-ms 5] [--every-ms 2]`: how long the server's
 * small SQLite writes wait while another thread stores a report at the analytics bound (~12 MB), the way the
 * render worker does (src/meetings/render-worker.ts, src/store/reports.ts). A writer thread
 * (bench/_report_writer.ts, its own connection, WAL, busy_timeout) writes the report `--runs` times per variant
 * while this thread upserts a one-row table every `--every-ms` (as the stats and recording-progress writes
 * do) and times each upsert: a wait is the event loop blocked in SQLite's busy handler (it sleeps 1, 2, 5,
 * 10, 15, 20, 25… ms).
 * Variants: `one` (the whole report as one part: one 12 MB INSERT, as before migration 010) and `parts`
 * (256 KiB parts, each its own transaction, `--pause-ms` between them). Per run: the write's duration and the
 * longest main-thread write (each variant's runs replace a report written the same way, after one write not
 * counted). Target (reported, not asserted): with parts, the longest wait ≤ 20 ms.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import { openDatabase } from '../src/store/db.js';
import { SessionStore } from '../src/store/sessions.js';
import { REPORT_PART_BYTES } from '../src/store/reports.js';
import type { WriterData } from './_report_writer.js';
import { printTargets, target } from './_targets.js';
import { round } from './_util.js';

interface Run { writeMs: number; worstMainWriteMs: number; mainWrites: number }

export async function run(args: string[]): Promise<object> {
  const { values } = parseArgs({ args, options: {
    runs: { type: 'string', default: '5' }, mb: { type: 'string', default: '12' }, 'pause-ms': { type: 'string', default: '5' }, 'every-ms': { type: 'string', default: '2' },
  } });
  const runs = Number(values.runs);
  const everyMs = Number(values['every-ms']);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meetcore-bench-reports-'));
  const file = path.join(dir, 'meetcore.db');
  const db = openDatabase(file);
  const meetingId = 'bench';
  new SessionStore(db).open({ roomName: 'bench', meetingId });
  db.exec('CREATE TABLE bench_small (k INTEGER PRIMARY KEY, v INTEGER)');
  const upsert = db.prepare('INSERT INTO bench_small (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v');
  const data: WriterData = { file, meetingId, reportBytes: Math.round(Number(values.mb) * 1e6), pauseMs: Number(values['pause-ms']) };
  // A checkout runs TypeScript: the thread registers tsx's loader before importing its entry (as src/meetings/render-pool.ts).
  const writer = new Worker(`import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(new URL('./_report_writer.ts', import.meta.url).href)}); })`, { eval: true, workerData: data });
  let version = 0;
  /** One report write, the main thread writing meanwhile. */
  const measure = async (partBytes: number): Promise<Run> => {
    let worst = 0, n = 0;
    const timer = setInterval(() => {
      const t = performance.now();
      upsert.run(n++ % 100, n);
      worst = Math.max(worst, performance.now() - t);
    }, everyMs);
    const reply = await new Promise<{ ms?: number; error?: string }>((resolve) => { writer.once('message', resolve); writer.postMessage({ version: ++version, partBytes }); });
    await new Promise((r) => setTimeout(r, 50));
    clearInterval(timer);
    if (reply.error !== undefined) throw new Error(reply.error);
    return { writeMs: round(reply.ms!, 1), worstMainWriteMs: round(worst, 1), mainWrites: n };
  };
  const results: Record<'one' | 'parts', Run[]> = { one: [], parts: [] };
  try {
    // Each variant replaces a report it wrote itself: a first write (not counted) replaces the other variant's.
    for (const [v, partBytes] of [['one', 0], ['parts', REPORT_PART_BYTES]] as const) {
      await measure(partBytes);
      for (let i = 0; i < runs; i++) results[v].push(await measure(partBytes));
    }
  } finally {
    await writer.terminate();
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const summary = Object.fromEntries((['one', 'parts'] as const).map((v) => {
    const worst = results[v].map((r) => r.worstMainWriteMs);
    return [v, { worstMainWriteMs: worst, maxMs: Math.max(...worst), medianMs: [...worst].sort((a, b) => a - b)[Math.floor(worst.length / 2)]!, writeMs: results[v].map((r) => r.writeMs) }];
  }));
  process.stdout.write(`report of ${values.mb} MB, ${runs} runs per variant, main-thread upsert every ${everyMs} ms, pause between parts ${values['pause-ms']} ms\n`);
  console.table(Object.fromEntries(Object.entries(summary).map(([v, s]) => [v, {
    'longest main write per run (ms)': s.worstMainWriteMs.join(', '), 'median (ms)': s.medianMs, 'max (ms)': s.maxMs, 'report write (ms)': s.writeMs.join(', '),
  }])));
  const targets = [target('longest main-thread write during a report write, parts', summary.parts!.maxMs, '<=', 20, 'ms')];
  printTargets(targets);
  return { runs: results, summary, targets };
}
