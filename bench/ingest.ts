/**
 * `npm run bench -- ingest [--streams 500] [--frame-ms 10,20] [--seconds 20] [--warmup 12] [--workers 2]
 *   [--variants meetcore,uws,seed,seed-wav] [--seed-flush-sec 1] [--server-cpus 0] [--client-cpus 1]`
 * `npm run bench -- ingest --ramp [--ramp-start 100] [--ramp-step 100] [--ramp-max 5000] [--ramp-settle 6]
 *   [--ramp-seconds 10] [--ramp-loop-ms 5] [--ramp-backlog-ms 200] [--ramp-late-pct 1] [--frame-ms 20] …`
 *
 * N concurrent real-time LiveKit-like egress streams (stereo 48 kHz s16le speech, paced per stream by
 * `--workers` client processes, bench/_ingest_client.ts), once per `--frame-ms` value (10 and 20 ms frames
 * by default), against each server variant, one after the other, in one run:
 *  - meetcore: the real server process (src/main.ts): uWS → native AudioEngine (analysis, WAV recording
 *    files, stats → SQLite, pipeline logs, bus); recordings are always on;
 *  - uws: the floor: a bare uWS server that receives and discards the same frames (bench/_uws_floor.ts);
 *  - seed: the seed-style pipeline (`ws` + Buffer.concat + RMS in JS, bench/_seed_baseline.ts), no recording;
 *  - seed-wav: the same, also recording the way the seed does (a new WAV file written per flush, every
 *    `--seed-flush-sec` s).
 * The measured window starts `--warmup` seconds after every stream is connected (default 12 s: past the
 * streams' start-up: the opens, the first recording and queue blocks and their first-touch page faults).
 * Per variant: server CPU (utime+stime of the server process, all its threads, /proc/<pid>/stat) per
 * stream-second of audio sent in the window, server cores used (CPU time / wall time), RSS growth per stream,
 * event-loop delay p99 over the window (meetcore: meetcore_event_loop_delay_p99_seconds, 1 ms
 * resolution subtracted, reset by a /metrics read at the window start; the helpers: the same monitor behind GET /loop), late ticks (the load
 * fell behind its schedule) and the largest send backlog (audio the server had not read yet, ms).
 * Targets (reported, not asserted): meetcore ≤ 1.3 × uws and ≤ 0.35 × seed (both seed variants) in CPU per
 * stream-second; ≤ 300 KiB RSS per stream; event-loop p99 ≤ 5 ms at 500 streams (≤ 10 ms at 1,000).
 *
 * --ramp (meetcore only): opens `--ramp-start` streams, then adds `--ramp-step` per step; each step settles
 * `--ramp-settle` s and is measured over `--ramp-seconds` s. It stops at the first step whose event-loop p99
 * passes `--ramp-loop-ms` or where a stream falls behind real time (send backlog over `--ramp-backlog-ms`:
 * the server is not reading fast enough; or late ticks over `--ramp-late-pct` % of the frames sent: the load
 * itself cannot keep up, reported as such). Results: bench/results/ingest-ramp.json.
 * Capacity = the last passing stream count, and that count per server core used (CPU time / wall time).
 * Server and load are pinned with taskset to `--server-cpus` and `--client-cpus` ('none': no pinning).
 */
import { fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, startTestServer } from '../test/helpers/server.js';
import { CLK_TCK, cpuUs, rssKiB } from './_proc.js';
import { printTargets, target, type TargetRow } from './_targets.js';
import { ask, cpuOption, pin, round, sleep, startScript } from './_util.js';

type Variant = 'meetcore' | 'uws' | 'seed' | 'seed-wav';
const VARIANTS: readonly Variant[] = ['meetcore', 'uws', 'seed', 'seed-wav'];

interface Server {
  pid: number;
  port: number;
  /** Event-loop delay p99 (ms) since the previous call. */
  loopP99Ms(): Promise<number>;
  stop(): Promise<void>;
}

interface VariantResult {
  variant: Variant;
  frameMs: number;
  streams: number;
  windowSec: number;
  streamSeconds: number;
  cpuMs: number;
  cpuUsPerStreamSec: number;
  coresUsed: number;
  rssIdleMiB: number;
  rssMiB: number;
  rssKiBPerStream: number;
  loopP99Ms: number;
  lateTicks: number;
  maxBacklogMs: number;
}

interface Options { streams: number; seconds: number; warmup: number; frameMs: number; workers: number; serverCpus: string | null; clientCpus: string | null; seedFlushSec: number }

async function startVariant(variant: Variant, cpus: string | null, seedFlushSec = 1): Promise<Server> {
  if (variant === 'meetcore') {
    const s = await startTestServer({ EGRESS_ALLOW_UNSIGNED: 'true', LOG_LEVEL: 'info' });
    pin(s.proc.pid, cpus);
    return {
      pid: s.proc.pid!, port: s.port,
      loopP99Ms: async () => {
        const text = await (await fetch(`${s.url}/metrics`)).text();
        const m = /^meetcore_event_loop_delay_p99_seconds\s+(\S+)/m.exec(text);
        return m ? Number(m[1]) * 1000 : NaN;
      },
      stop: async () => { await s.stop(); fs.rmSync(path.dirname(s.dataDir), { recursive: true, force: true }); },
    };
  }
  const wavDir = variant === 'seed-wav' ? fs.mkdtempSync(path.join(os.tmpdir(), 'meetcore-bench-seed-')) : '';
  const s = await startScript(variant === 'uws' ? '_uws_floor.ts' : '_seed_baseline.ts', cpus, wavDir ? { SEED_WAV_DIR: wavDir, SEED_FLUSH_SEC: String(seedFlushSec) } : {});
  return {
    pid: s.pid, port: s.port,
    loopP99Ms: async () => ((await (await fetch(`http://127.0.0.1:${s.port}/loop`)).json()) as { p99Ms: number }).p99Ms,
    stop: async () => { await s.stop(); if (wavDir) fs.rmSync(wavDir, { recursive: true, force: true }); },
  };
}

interface Load { workers: ChildProcess[]; opened: number }

function forkLoad(o: Options): Load {
  const workers = Array.from({ length: o.workers }, () => fork(path.join(ROOT, 'bench', '_ingest_client.ts'), [], { execArgv: ['--import', 'tsx'] }));
  for (const w of workers) pin(w.pid, o.clientCpus);
  return { workers, opened: 0 };
}

/** Open `n` more streams, dealt round-robin to the client processes. */
async function addStreams(load: Load, port: number, n: number, frameMs: number): Promise<void> {
  const frameBytes = (48000 * 4 * frameMs) / 1000;
  const urls = Array.from({ length: n }, (_, k) => {
    const i = load.opened + k;
    return `ws://127.0.0.1:${port}/egress-audio?roomName=bench-${Math.floor(i / 4)}&participant=p${i}&trackId=TR_${i}`;
  });
  const share = (w: number) => urls.filter((_, k) => (load.opened + k) % load.workers.length === w);
  await Promise.all(load.workers.map((w, i) => ask(w, { cmd: 'connect', urls: share(i), frameMs, frameBytes })));
  load.opened += n;
}

interface Counts { sent: number; late: number; maxBacklogBytes: number }
const count = async (load: Load): Promise<Counts> => (await Promise.all(load.workers.map((w) => ask<Counts>(w, { cmd: 'count' }))))
  .reduce((a, b) => ({ sent: a.sent + b.sent, late: a.late + b.late, maxBacklogBytes: Math.max(a.maxBacklogBytes, b.maxBacklogBytes) }), { sent: 0, late: 0, maxBacklogBytes: 0 });

/** One measured window over the streams already open. */
async function window(server: Server, load: Load, seconds: number, frameMs: number, rssIdle: number, variant: Variant): Promise<VariantResult> {
  await server.loopP99Ms(); // starts the loop window
  const c0 = await count(load);
  const cpu0 = cpuUs(server.pid);
  const t0 = performance.now();
  await sleep(seconds * 1000);
  const cpu1 = cpuUs(server.pid);
  const wall = (performance.now() - t0) / 1000;
  const c1 = await count(load);
  const rss = rssKiB(server.pid);
  const loopP99Ms = await server.loopP99Ms();
  const streamSeconds = ((c1.sent - c0.sent) * frameMs) / 1000;
  const streams = load.opened;
  return {
    variant, frameMs, streams, windowSec: round(wall, 2), streamSeconds: round(streamSeconds, 1),
    cpuMs: round((cpu1 - cpu0) / 1000, 0), cpuUsPerStreamSec: round((cpu1 - cpu0) / streamSeconds, 1), coresUsed: round((cpu1 - cpu0) / 1e6 / wall, 3),
    rssIdleMiB: round(rssIdle / 1024, 1), rssMiB: round(rss / 1024, 1), rssKiBPerStream: round((rss - rssIdle) / streams, 1),
    loopP99Ms: round(loopP99Ms, 2), lateTicks: c1.late - c0.late, maxBacklogMs: round((c1.maxBacklogBytes / (48000 * 4)) * 1000, 1),
  };
}

async function closeLoad(load: Load): Promise<void> {
  await Promise.all(load.workers.map((w) => ask(w, { cmd: 'close' }).catch(() => undefined)));
}

async function measure(variant: Variant, o: Options): Promise<VariantResult> {
  const server = await startVariant(variant, o.serverCpus, o.seedFlushSec);
  try {
    await sleep(500);
    const rssIdle = rssKiB(server.pid);
    const load = forkLoad(o);
    try {
      await addStreams(load, server.port, o.streams, o.frameMs);
      await sleep(o.warmup * 1000); // every stream opened, JIT settled, native rings past their first pass
      return await window(server, load, o.seconds, o.frameMs, rssIdle, variant);
    } finally {
      await closeLoad(load);
    }
  } finally {
    await server.stop();
  }
}

/** Event-loop p99 target at a stream count: ≤ 5 ms up to 500 streams, ≤ 10 ms above (the issue's figure at 1,000). */
const loopLimit = (streams: number) => (streams <= 500 ? 5 : 10);

function runTargets(frameMs: number, rs: VariantResult[]): { ratios: Record<string, number | null>; targets: TargetRow[] } {
  const by = (v: Variant) => rs.find((r) => r.variant === v);
  const a = by('meetcore');
  const ratio = (v: Variant) => { const x = by(v); return a && x ? round(a.cpuUsPerStreamSec / x.cpuUsPerStreamSec, 2) : null; };
  const ratios = { meetcoreOverFloor: ratio('uws'), meetcoreOverSeed: ratio('seed'), meetcoreOverSeedWav: ratio('seed-wav') };
  const f = `${frameMs} ms frames, ${a?.streams ?? rs[0]?.streams} streams`;
  return {
    ratios,
    targets: [
      target(`meetcore / floor CPU (${f})`, ratios.meetcoreOverFloor, '<=', 1.3, '×'),
      target(`meetcore / seed CPU (${f})`, ratios.meetcoreOverSeed, '<=', 0.35, '×'),
      target(`meetcore / seed-wav CPU (${f})`, ratios.meetcoreOverSeedWav, '<=', 0.35, '×'),
      target(`meetcore RSS per stream (${f})`, a?.rssKiBPerStream, '<=', 300, 'KiB'),
      target(`meetcore event-loop p99 (${f})`, a?.loopP99Ms, '<=', a ? loopLimit(a.streams) : null, 'ms'),
    ],
  };
}

function printRun(rs: VariantResult[]): void {
  const by = (v: Variant) => rs.find((r) => r.variant === v)?.cpuUsPerStreamSec;
  const vs = (x: number, v: Variant) => { const b = by(v); return b ? round(x / b, 2) : '—'; };
  console.table(Object.fromEntries(rs.map((r) => [r.variant, {
    'frame ms': r.frameMs, streams: r.streams, 'stream-s': r.streamSeconds, 'CPU µs/stream-s': r.cpuUsPerStreamSec, cores: r.coresUsed,
    'vs floor': vs(r.cpuUsPerStreamSec, 'uws'), 'vs seed': vs(r.cpuUsPerStreamSec, 'seed'), 'vs seed-wav': vs(r.cpuUsPerStreamSec, 'seed-wav'),
    'RSS MiB': r.rssMiB, 'RSS KiB/stream': r.rssKiBPerStream, 'loop p99 ms': r.loopP99Ms, 'late ticks': r.lateTicks, 'backlog ms': r.maxBacklogMs,
  }])));
}

interface RampStep extends VariantResult { latePct: number; pass: boolean; reason: string }

async function ramp(o: Options, r: { start: number; step: number; max: number; settle: number; seconds: number; loopMs: number; backlogMs: number; latePct: number }): Promise<object> {
  const server = await startVariant('meetcore', o.serverCpus);
  const steps: RampStep[] = [];
  let stop = 'reached --ramp-max';
  try {
    await sleep(500);
    const rssIdle = rssKiB(server.pid);
    const load = forkLoad(o);
    try {
      for (let n = r.start; n <= r.max; n += r.step) {
        await addStreams(load, server.port, n - load.opened, o.frameMs);
        await sleep(r.settle * 1000);
        const w = await window(server, load, r.seconds, o.frameMs, rssIdle, 'meetcore');
        const reasons: string[] = [];
        if (!(w.loopP99Ms <= r.loopMs)) reasons.push(`loop p99 ${w.loopP99Ms} ms > ${r.loopMs} ms`);
        if (w.maxBacklogMs > r.backlogMs) reasons.push(`a stream fell behind (server backlog ${w.maxBacklogMs} ms > ${r.backlogMs} ms)`);
        const latePct = round((100 * w.lateTicks) / Math.max(1, (w.streamSeconds * 1000) / o.frameMs), 2);
        if (latePct > r.latePct) reasons.push(`the load fell behind (${w.lateTicks} late ticks, ${latePct} % of frames): load-limited, not a server result`);
        const step: RampStep = { ...w, latePct, pass: reasons.length === 0, reason: reasons.join('; ') };
        steps.push(step);
        process.stderr.write(`ingest --ramp: ${n} streams: loop p99 ${w.loopP99Ms} ms, backlog ${w.maxBacklogMs} ms, late ${w.lateTicks}, ${w.coresUsed} cores → ${step.pass ? 'pass' : `stop: ${step.reason}`}\n`);
        if (!step.pass) { stop = step.reason; break; }
      }
    } finally {
      await closeLoad(load);
    }
  } finally {
    await server.stop();
  }
  const last = [...steps].reverse().find((s) => s.pass) ?? null;
  const capacity = last?.streams ?? 0;
  const perCore = last && last.coresUsed > 0 ? Math.round(capacity / last.coresUsed) : null;
  console.table(steps.map((s) => ({
    streams: s.streams, 'CPU µs/stream-s': s.cpuUsPerStreamSec, 'cores used': s.coresUsed, 'RSS KiB/stream': s.rssKiBPerStream,
    'loop p99 ms': s.loopP99Ms, 'backlog ms': s.maxBacklogMs, 'late ticks': s.lateTicks, 'late %': s.latePct, pass: s.pass ? 'pass' : 'STOP',
  })));
  process.stdout.write(`capacity (${o.frameMs} ms frames): ${capacity} streams with loop p99 ≤ ${r.loopMs} ms and no stream behind, at ${last?.coresUsed ?? '—'} server cores used → ${perCore ?? '—'} streams per core (stopped: ${stop})\n`);
  const targets = [
    target(`streams at loop p99 ≤ ${r.loopMs} ms (${o.frameMs} ms frames)`, capacity, '>=', null, 'streams'),
    target(`streams per server core used (${o.frameMs} ms frames)`, perCore, '>=', null, 'streams/core'),
  ];
  return { frameMs: o.frameMs, ramp: r, steps, capacity, coresUsed: last?.coresUsed ?? null, streamsPerCore: perCore, stoppedBy: stop, targets };
}

/** `--ramp` results go to bench/results/ingest-ramp.json, leaving ingest.json (read by the meeting bench) alone. */
export const resultName = (args: string[]): string => (args.includes('--ramp') ? 'ingest-ramp' : 'ingest');

/** Run the benchmark; prints the tables and returns the figures (written to bench/results/ingest.json by bench/index.ts). */
export async function run(args: string[]): Promise<object> {
  const { values } = parseArgs({
    args,
    options: {
      streams: { type: 'string', default: '500' }, seconds: { type: 'string', default: '20' }, warmup: { type: 'string', default: '12' },
      'frame-ms': { type: 'string', default: '10,20' }, workers: { type: 'string', default: '2' }, variants: { type: 'string', default: VARIANTS.join(',') },
      'server-cpus': { type: 'string' }, 'client-cpus': { type: 'string' }, 'seed-flush-sec': { type: 'string', default: '1' },
      ramp: { type: 'boolean', default: false }, 'ramp-start': { type: 'string', default: '100' }, 'ramp-step': { type: 'string', default: '100' },
      'ramp-max': { type: 'string', default: '5000' }, 'ramp-settle': { type: 'string', default: '6' }, 'ramp-seconds': { type: 'string', default: '10' },
      'ramp-loop-ms': { type: 'string', default: '5' }, 'ramp-backlog-ms': { type: 'string', default: '200' }, 'ramp-late-pct': { type: 'string', default: '1' },
    },
  });
  const frames = values['frame-ms'].split(',').map((x) => Number(x.trim()));
  const base = {
    streams: Number(values.streams), seconds: Number(values.seconds), warmup: Number(values.warmup), workers: Number(values.workers),
    serverCpus: cpuOption(values['server-cpus'], '0'), clientCpus: cpuOption(values['client-cpus'], '1'), seedFlushSec: Number(values['seed-flush-sec']),
  };
  const variants = values.variants.split(',').map((v) => v.trim()).filter(Boolean) as Variant[];
  const rampOpts = {
    start: Number(values['ramp-start']), step: Number(values['ramp-step']), max: Number(values['ramp-max']), settle: Number(values['ramp-settle']),
    seconds: Number(values['ramp-seconds']), loopMs: Number(values['ramp-loop-ms']), backlogMs: Number(values['ramp-backlog-ms']),
    latePct: Number(values['ramp-late-pct']),
  };
  if (!(base.seedFlushSec > 0 && base.streams >= 1 && base.seconds > 0 && base.warmup >= 0 && base.workers >= 1 && frames.length && frames.every((f) => f === 10 || f === 20)
    && variants.every((v) => VARIANTS.includes(v)) && rampOpts.start >= 1 && rampOpts.step >= 1 && rampOpts.max >= rampOpts.start && rampOpts.seconds > 0 && rampOpts.settle >= 0)) {
    throw new Error(`usage: ingest [--streams N≥1] [--frame-ms 10,20] [--seconds S>0] [--warmup S≥0] [--workers N≥1] [--variants ${VARIANTS.join(',')}] [--seed-flush-sec S] [--server-cpus L|none] [--client-cpus L|none]\n`
      + '       ingest --ramp [--ramp-start N] [--ramp-step N] [--ramp-max N] [--ramp-settle S] [--ramp-seconds S] [--ramp-loop-ms MS] [--ramp-backlog-ms MS] [--ramp-late-pct P] [--frame-ms 10|20]');
  }
  process.stderr.write(`ingest: server on cpus ${base.serverCpus ?? 'any'}, load on cpus ${base.clientCpus ?? 'any'}\n`);

  if (values.ramp) {
    const ramps: object[] = [];
    const targets: TargetRow[] = [];
    for (const frameMs of frames) {
      process.stderr.write(`ingest --ramp: meetcore, ${frameMs} ms frames, from ${rampOpts.start} streams by ${rampOpts.step}…\n`);
      const r = await ramp({ ...base, frameMs }, rampOpts) as { targets: TargetRow[] };
      ramps.push(r);
      targets.push(...r.targets);
    }
    printTargets(targets, 'capacity (reported)');
    return { mode: 'ramp', options: { ...base, frames, ramp: rampOpts }, clkTck: CLK_TCK, ramps, targets };
  }

  const runs: { frameMs: number; streams: number; variants: VariantResult[]; ratios: Record<string, number | null>; targets: TargetRow[] }[] = [];
  for (const frameMs of frames) {
    const rs: VariantResult[] = [];
    for (const v of variants) {
      process.stderr.write(`ingest: ${v}, ${base.streams} streams, ${frameMs} ms frames, ${base.warmup} s warm-up + ${base.seconds} s measured…\n`);
      rs.push(await measure(v, { ...base, frameMs }));
    }
    printRun(rs);
    runs.push({ frameMs, streams: base.streams, variants: rs, ...runTargets(frameMs, rs) });
  }
  const targets = runs.flatMap((r) => r.targets);
  printTargets(targets);
  return { mode: 'compare', options: { ...base, frames, variants }, clkTck: CLK_TCK, runs, targets };
}
