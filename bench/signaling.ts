/**
 * `npm run bench -- signaling [--rooms 100] [--participants 10] [--seconds 8] [--warmup 3] [--window 1]
 *   [--workers 2] [--targets ws-json,ws-msgpack,meetcore-sio,plain-sio] [--idle 10000] [--idle-targets ws-json,plain-sio]`
 *
 * Relay: R rooms × P participants, each participant sending ICE-sized `ice` messages (~200 bytes) to the
 * next one in its room in a closed loop (`--window` messages in flight per sender), from `--workers` client
 * processes (bench/_signaling_client.ts), against one fresh server per target, one after the other, with
 * the same client load:
 *  - ws-json / ws-msgpack: meetcore's /ws (the real server process, src/main.ts) with each subprotocol;
 *  - meetcore-sio: meetcore's Socket.IO endpoint (/socket.io/ on the same uWS app);
 *  - plain-sio: a plain Socket.IO server on node:http (bench/_sio_plain.ts), the seeds' choice.
 * Reported per target over the measured window: delivered messages/s, p50/p99 relay latency (sender to
 * receiver, same client process clock), and server CPU (utime+stime from /proc/<pid>/stat) per delivered
 * message. meetcore runs with its per-socket rate limit raised (WS_RATE_PER_SEC) so that the closed loop is
 * not throttled; the token bucket is still checked on every message.
 * Idle: `--idle` sockets (joined 10 per room, then silent) opened from the client processes; server RSS
 * growth (VmRSS) divided by the socket count. Targets (reported, not asserted): /ws ≥ 2.5 × plain-sio
 * delivered messages/s with a lower p99; ≤ 10 KB RSS per idle /ws connection.
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, startTestServer } from '../test/helpers/server.js';
import { CLK_TCK, cpuUs, rssKiB } from './_proc.js';

type Target = 'ws-json' | 'ws-msgpack' | 'meetcore-sio' | 'plain-sio';
const TARGETS: readonly Target[] = ['ws-json', 'ws-msgpack', 'meetcore-sio', 'plain-sio'];

interface Server { pid: number; url: string; stop(): Promise<void> }

interface RelayResult {
  target: Target;
  sockets: number;
  windowSec: number;
  delivered: number;
  msgsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  serverCpuUsPerMsg: number;
  errors: number;
}

interface IdleResult { target: Target; sockets: number; rssBeforeMiB: number; rssAfterMiB: number; rssKiBPerConnection: number }


async function startServer(target: Target, participants: number): Promise<Server> {
  if (target !== 'plain-sio') {
    const s = await startTestServer({
      LOG_LEVEL: 'info', STUN_SERVERS: '[]', WS_RATE_PER_SEC: '100000', WS_RATE_BURST: '100000',
      ROOM_MAX_PARTICIPANTS: String(Math.max(50, participants)),
    });
    return { pid: s.proc.pid!, url: `ws://127.0.0.1:${s.port}`, stop: async () => { await s.stop(); fs.rmSync(path.dirname(s.dataDir), { recursive: true, force: true }); } };
  }
  const proc: ChildProcess = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench', '_sio_plain.ts')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) { try { resolve((JSON.parse(buf.split('\n')[0]!) as { port: number }).port); } catch (err) { reject(err as Error); } }
    });
    proc.once('exit', (code) => reject(new Error(`plain-sio server exited with ${code}`)));
  });
  return { pid: proc.pid!, url: `http://127.0.0.1:${port}`, stop: () => new Promise<void>((resolve) => { proc.once('exit', () => resolve()); proc.kill('SIGTERM'); }) };
}

function ask<T>(w: ChildProcess, msg: object): Promise<T> {
  return new Promise((resolve, reject) => {
    w.once('message', (m) => {
      const r = m as T & { ok?: boolean; error?: string };
      if (r.ok === false) reject(new Error(r.error)); else resolve(r);
    });
    w.once('error', reject);
    w.send(msg);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;

/** Percentile of the merged log-scale histogram of bench/_signaling_client.ts (bucket b ≈ 1.023^b µs), ms. */
function percentile(hist: number[], p: number): number {
  const total = hist.reduce((a, b) => a + b, 0);
  let seen = 0;
  for (let b = 0; b < hist.length; b++) {
    seen += hist[b]!;
    if (seen >= total * p) return 1.023 ** (b + 0.5) / 1000;
  }
  return NaN;
}

interface Load { rooms: number; participants: number; window: number; workers: number }

/** Fork the client processes and open (and join) every socket; rooms are dealt round-robin. */
async function openClients(target: Target, server: Server, load: Load): Promise<{ workers: ChildProcess[]; sockets: number }> {
  const kind = target === 'ws-json' || target === 'ws-msgpack' ? target : 'sio';
  const url = kind === 'sio' ? server.url.replace(/^ws:/, 'http:') : server.url;
  const workers = Array.from({ length: load.workers }, () => fork(path.join(ROOT, 'bench', '_signaling_client.ts'), [], { execArgv: ['--import', 'tsx'] }));
  const rooms = Array.from({ length: load.rooms }, (_, i) => `bench-${i}`);
  const replies = await Promise.all(workers.map((w, i) => ask<{ sockets: number }>(w, {
    cmd: 'setup', kind, url, rooms: rooms.filter((_, r) => r % load.workers === i), participants: load.participants, window: load.window,
  })));
  return { workers, sockets: replies.reduce((a, r) => a + r.sockets, 0) };
}

async function relay(target: Target, load: Load, seconds: number, warmup: number): Promise<RelayResult> {
  const server = await startServer(target, load.participants);
  try {
    const { workers, sockets } = await openClients(target, server, load);
    await Promise.all(workers.map((w) => ask(w, { cmd: 'start' })));
    await sleep(warmup * 1000);
    await Promise.all(workers.map((w) => ask(w, { cmd: 'mark' })));
    const cpu0 = cpuUs(server.pid);
    const t0 = performance.now();
    await sleep(seconds * 1000);
    const got = await Promise.all(workers.map((w) => ask<{ delivered: number; errors: number; hist: number[] }>(w, { cmd: 'collect' })));
    const windowSec = (performance.now() - t0) / 1000;
    const cpu1 = cpuUs(server.pid);
    await Promise.all(workers.map((w) => ask(w, { cmd: 'close' })));
    const hist = got[0]!.hist.map((_, b) => got.reduce((a, g) => a + g.hist[b]!, 0));
    const delivered = got.reduce((a, g) => a + g.delivered, 0);
    return {
      target, sockets, windowSec: round(windowSec, 2), delivered, msgsPerSec: Math.round(delivered / windowSec),
      p50Ms: round(percentile(hist, 0.5), 2), p99Ms: round(percentile(hist, 0.99), 2),
      serverCpuUsPerMsg: round((cpu1 - cpu0) / Math.max(1, delivered), 2), errors: got.reduce((a, g) => a + g.errors, 0),
    };
  } finally {
    await server.stop();
  }
}

async function idle(target: Target, count: number, workers: number): Promise<IdleResult> {
  const server = await startServer(target, 10);
  try {
    // Warm the server (JIT, lazily created structures) with a small round of sockets first.
    const warm = await openClients(target, server, { rooms: 10, participants: 10, window: 1, workers: 1 });
    await Promise.all(warm.workers.map((w) => ask(w, { cmd: 'close' })));
    await sleep(1500);
    const before = rssKiB(server.pid);
    const { workers: ws, sockets } = await openClients(target, server, { rooms: Math.ceil(count / 10), participants: 10, window: 1, workers });
    await sleep(3000);
    const after = rssKiB(server.pid);
    await Promise.all(ws.map((w) => ask(w, { cmd: 'close' })));
    return {
      target, sockets, rssBeforeMiB: round(before / 1024, 1), rssAfterMiB: round(after / 1024, 1),
      rssKiBPerConnection: round((after - before) / sockets, 2),
    };
  } finally {
    await server.stop();
  }
}

function targets(list: string): Target[] {
  const t = list.split(',').map((s) => s.trim()).filter(Boolean);
  for (const x of t) if (!TARGETS.includes(x as Target)) throw new Error(`unknown target ${x}; one of ${TARGETS.join(', ')}`);
  return t as Target[];
}

/** Run the benchmark; prints the tables and returns the figures (bench/index.ts writes bench/results/signaling.json). */
export async function run(args: string[]): Promise<object> {
  const { values } = parseArgs({
    args,
    options: {
      rooms: { type: 'string', default: '100' }, participants: { type: 'string', default: '10' }, seconds: { type: 'string', default: '8' },
      warmup: { type: 'string', default: '3' }, window: { type: 'string', default: '1' }, workers: { type: 'string', default: '2' },
      targets: { type: 'string', default: TARGETS.join(',') }, idle: { type: 'string', default: '10000' }, 'idle-targets': { type: 'string', default: 'ws-json,plain-sio' },
    },
  });
  const load: Load = { rooms: Number(values.rooms), participants: Number(values.participants), window: Number(values.window), workers: Number(values.workers) };
  const seconds = Number(values.seconds);
  const warmup = Number(values.warmup);
  const idleCount = Number(values.idle);
  if (!(load.rooms >= 1 && load.participants >= 2 && load.window >= 1 && load.workers >= 1 && seconds > 0 && warmup >= 0 && idleCount >= 0)) {
    throw new Error('usage: signaling [--rooms N≥1] [--participants N≥2] [--seconds S>0] [--warmup S≥0] [--window N≥1] [--workers N≥1] [--targets …] [--idle N≥0] [--idle-targets …]');
  }
  const fdLimit = Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim());
  if (idleCount > 0 && Number.isFinite(fdLimit) && fdLimit < idleCount + 1000) {
    process.stderr.write(`signaling: ulimit -n is ${fdLimit}; ${idleCount} idle sockets need more (raise it: ulimit -n ${idleCount * 2})\n`);
  }

  const relayResults: RelayResult[] = [];
  for (const t of targets(values.targets)) {
    process.stderr.write(`signaling: ${t}, ${load.rooms} rooms × ${load.participants}, window ${load.window}, ${warmup} s warm-up + ${seconds} s…\n`);
    relayResults.push(await relay(t, load, seconds, warmup));
  }
  const idleResults: IdleResult[] = [];
  if (idleCount > 0) {
    for (const t of targets(values['idle-targets'])) {
      process.stderr.write(`signaling: ${t}, ${idleCount} idle sockets…\n`);
      idleResults.push(await idle(t, idleCount, load.workers));
    }
  }

  const plain = relayResults.find((r) => r.target === 'plain-sio');
  const vs = (r: RelayResult) => (plain ? round(r.msgsPerSec / plain.msgsPerSec, 2) : '');
  console.table(relayResults.map((r) => ({
    target: r.target, sockets: r.sockets, 'delivered/s': r.msgsPerSec, 'vs plain-sio': vs(r), 'p50 ms': r.p50Ms, 'p99 ms': r.p99Ms,
    'server CPU µs/msg': r.serverCpuUsPerMsg, errors: r.errors,
  })));
  if (idleResults.length) console.table(idleResults.map((r) => ({ target: r.target, sockets: r.sockets, 'RSS before MiB': r.rssBeforeMiB, 'RSS after MiB': r.rssAfterMiB, 'KiB/connection': r.rssKiBPerConnection })));
  const ws = relayResults.find((r) => r.target === 'ws-json');
  const wsIdle = idleResults.find((r) => r.target === 'ws-json');
  const ratio = ws && plain ? round(ws.msgsPerSec / plain.msgsPerSec, 2) : null;
  const goals = {
    '/ws ≥ 2.5 × plain-sio msgs/s': { target: 2.5, measured: ratio, met: ratio !== null ? ratio >= 2.5 : '' },
    '/ws p99 < plain-sio p99': { target: plain?.p99Ms ?? '', measured: ws?.p99Ms ?? '', met: ws && plain ? ws.p99Ms < plain.p99Ms : '' },
    '≤ 10 KB RSS per idle /ws connection': { target: 10, measured: wsIdle?.rssKiBPerConnection ?? '', met: wsIdle ? wsIdle.rssKiBPerConnection * 1.024 <= 10 : '' },
  };
  console.table(goals);
  return { options: { ...load, seconds, warmup, idle: idleCount }, clkTck: CLK_TCK, relay: relayResults, idle: idleResults, goals };
}
