/**
 * `npm run bench -- ingest [--streams 500] [--seconds 20] [--warmup 12] [--frame-ms 20] [--workers 2] [--variants meetcore,uws,seed]`
 *
 * N concurrent real-time LiveKit-like egress streams (stereo 48 kHz s16le speech, `--frame-ms` frames,
 * paced per stream by a few client processes) against three servers, one after the other, in one run:
 *  (a) meetcore: the real server process (src/main.ts): uWS → native AudioEngine (analysis, recording
 *      files, stats → SQLite, pipeline logs, bus);
 *  (b) uws: a bare uWS server that receives and discards the same frames (bench/_uws_floor.ts), the floor;
 *  (c) seed: the seed-style pipeline (`ws` + Buffer.concat + RMS in JS, bench/_seed_baseline.ts).
 * The measured window starts `--warmup` seconds after every stream is connected (default 12 s: past the
 * first pass through each stream's 10 s native ring, whose first-touch page faults are a start-up cost).
 * For each: server CPU (utime+stime of the server process, all its threads, from /proc/<pid>/stat) per
 * stream-second of audio sent during the measured window, and RSS growth per stream; for meetcore also the
 * event-loop delay p99 over the window (prom-client's nodejs_eventloop_lag_p99_seconds, reset by a /metrics
 * read at the window start). Targets (reported, not asserted): (a) ≤ 1.3 × (b), (a) ≤ 0.5 × (c),
 * loop p99 ≤ 5 ms at 500 streams.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, startTestServer } from '../test/helpers/server.js';
import { CLK_TCK, cpuUs, rssKiB } from './_proc.js';

type Variant = 'meetcore' | 'uws' | 'seed';

interface Server {
  pid: number;
  port: number;
  /** meetcore only. */
  metricsUrl?: string;
  stop(): Promise<void>;
}

interface VariantResult {
  variant: Variant;
  streams: number;
  windowSec: number;
  streamSeconds: number;
  cpuMs: number;
  cpuUsPerStreamSec: number;
  rssIdleMiB: number;
  rssMiB: number;
  rssKiBPerStream: number;
  loopP99Ms: number | null;
  lateTicks: number;
}


async function startVariant(variant: Variant): Promise<Server> {
  if (variant === 'meetcore') {
    const s = await startTestServer({ EGRESS_ALLOW_UNSIGNED: 'true', LOG_LEVEL: 'info' });
    return {
      pid: s.proc.pid!, port: s.port, metricsUrl: `${s.url}/metrics`,
      stop: async () => { await s.stop(); fs.rmSync(path.dirname(s.dataDir), { recursive: true, force: true }); },
    };
  }
  const script = path.join(ROOT, 'bench', variant === 'uws' ? '_uws_floor.ts' : '_seed_baseline.ts');
  const proc: ChildProcess = spawn(process.execPath, ['--import', 'tsx', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const line = buf.split('\n')[0];
      if (buf.includes('\n')) { try { resolve((JSON.parse(line!) as { port: number }).port); } catch (err) { reject(err as Error); } }
    });
    proc.once('exit', (code) => reject(new Error(`${variant} server exited with ${code}`)));
  });
  return {
    pid: proc.pid!, port,
    stop: () => new Promise<void>((resolve) => { proc.once('exit', () => resolve()); proc.kill('SIGTERM'); }),
  };
}

async function eventLoopP99Ms(metricsUrl: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  const m = /^nodejs_eventloop_lag_p99_seconds\s+(\S+)/m.exec(text);
  return m ? Number(m[1]) * 1000 : NaN;
}

function ask<T>(w: ChildProcess, msg: object): Promise<T> {
  return new Promise((resolve, reject) => {
    w.once('message', (m) => resolve(m as T));
    w.once('error', reject);
    w.send(msg);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function measure(variant: Variant, o: { streams: number; seconds: number; warmup: number; frameMs: number; workers: number }): Promise<VariantResult> {
  const server = await startVariant(variant);
  try {
    await sleep(500);
    const rssIdle = rssKiB(server.pid);
    const frameBytes = (48000 * 4 * o.frameMs) / 1000;
    const workers = Array.from({ length: o.workers }, () => fork(path.join(ROOT, 'bench', '_ingest_client.ts'), [], { execArgv: ['--import', 'tsx'] }));
    const urls = Array.from({ length: o.streams }, (_, i) =>
      `ws://127.0.0.1:${server.port}/egress-audio?roomName=bench-${i % Math.ceil(o.streams / 4)}&participant=p${i}&trackId=TR_${i}`);
    const share = (w: number) => urls.filter((_, i) => i % o.workers === w);
    await Promise.all(workers.map((w, i) => ask(w, { cmd: 'connect', urls: share(i), frameMs: o.frameMs, frameBytes })));
    await sleep(o.warmup * 1000); // every stream opened, JIT settled, native rings past their first pass
    const count = async () => (await Promise.all(workers.map((w) => ask<{ sent: number; late: number }>(w, { cmd: 'count' }))))
      .reduce((a, b) => ({ sent: a.sent + b.sent, late: a.late + b.late }), { sent: 0, late: 0 });
    if (server.metricsUrl) await eventLoopP99Ms(server.metricsUrl);
    const c0 = await count();
    const cpu0 = cpuUs(server.pid);
    const t0 = performance.now();
    await sleep(o.seconds * 1000);
    const cpu1 = cpuUs(server.pid);
    const c1 = await count();
    const windowSec = (performance.now() - t0) / 1000;
    const rss = rssKiB(server.pid);
    const loopP99Ms = server.metricsUrl ? await eventLoopP99Ms(server.metricsUrl) : null;
    await Promise.all(workers.map((w) => ask(w, { cmd: 'close' })));
    const streamSeconds = ((c1.sent - c0.sent) * o.frameMs) / 1000;
    return {
      variant, streams: o.streams, windowSec: round(windowSec, 2), streamSeconds: round(streamSeconds, 1),
      cpuMs: round((cpu1 - cpu0) / 1000, 0), cpuUsPerStreamSec: round((cpu1 - cpu0) / streamSeconds, 1),
      rssIdleMiB: round(rssIdle / 1024, 1), rssMiB: round(rss / 1024, 1), rssKiBPerStream: round((rss - rssIdle) / o.streams, 1),
      loopP99Ms: loopP99Ms === null ? null : round(loopP99Ms, 2), lateTicks: c1.late - c0.late,
    };
  } finally {
    await server.stop();
  }
}

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;

/** Run the benchmark; prints the table and returns the figures (written to bench/results/ingest.json by bench/index.ts). */
export async function run(args: string[]): Promise<object> {
  const { values } = parseArgs({
    args,
    options: {
      streams: { type: 'string', default: '500' }, seconds: { type: 'string', default: '20' }, warmup: { type: 'string', default: '12' }, 'frame-ms': { type: 'string', default: '20' },
      workers: { type: 'string', default: '2' }, variants: { type: 'string', default: 'meetcore,uws,seed' },
    },
  });
  const o = { streams: Number(values.streams), seconds: Number(values.seconds), warmup: Number(values.warmup), frameMs: Number(values['frame-ms']), workers: Number(values.workers) };
  if (!(o.streams >= 1 && o.seconds > 0 && o.warmup >= 0 && (o.frameMs === 10 || o.frameMs === 20) && o.workers >= 1)) {
    throw new Error('usage: ingest [--streams N≥1] [--seconds S>0] [--warmup S≥0] [--frame-ms 10|20] [--workers N≥1] [--variants meetcore,uws,seed]');
  }
  const variants = values.variants.split(',').map((v) => v.trim()) as Variant[];
  const results: VariantResult[] = [];
  for (const v of variants) {
    process.stderr.write(`ingest: ${v}, ${o.streams} streams, ${o.warmup} s warm-up + ${o.seconds} s measured, ${o.frameMs} ms frames…\n`);
    results.push(await measure(v, o));
  }
  const by = (v: Variant) => results.find((r) => r.variant === v)?.cpuUsPerStreamSec;
  const a = by('meetcore');
  const b = by('uws');
  const c = by('seed');
  const ratios = {
    meetcoreOverUws: a && b ? round(a / b, 2) : null,
    meetcoreOverSeed: a && c ? round(a / c, 2) : null,
  };
  console.table(results.map((r) => ({
    variant: r.variant, streams: r.streams, 'stream-s': r.streamSeconds, 'CPU ms': r.cpuMs, 'CPU µs/stream-s': r.cpuUsPerStreamSec,
    'vs uws': b ? round(r.cpuUsPerStreamSec / b, 2) : '', 'vs seed': c ? round(r.cpuUsPerStreamSec / c, 2) : '',
    'RSS MiB': r.rssMiB, 'RSS KiB/stream': r.rssKiBPerStream, 'loop p99 ms': r.loopP99Ms ?? '', 'late ticks': r.lateTicks,
  })));
  const meet = results.find((r) => r.variant === 'meetcore');
  console.table({
    '(a) ≤ 1.3 × (b)': { target: 1.3, measured: ratios.meetcoreOverUws, met: ratios.meetcoreOverUws !== null ? ratios.meetcoreOverUws <= 1.3 : '' },
    '(a) ≤ 0.5 × (c)': { target: 0.5, measured: ratios.meetcoreOverSeed, met: ratios.meetcoreOverSeed !== null ? ratios.meetcoreOverSeed <= 0.5 : '' },
    'loop p99 ≤ 5 ms': { target: 5, measured: meet?.loopP99Ms ?? null, met: meet?.loopP99Ms != null ? meet.loopP99Ms <= 5 : '' },
  });
  return { options: o, clkTck: CLK_TCK, results, ratios };
}
