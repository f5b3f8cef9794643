/**
 * `npm run bench -- signaling [--rooms 100] [--participants 10] [--rate 20000] [--modes rate,flat] [--seconds 8]
 *   [--warmup 3] [--window 1] [--workers 2] [--repeat 1] [--targets ws-json,ws-msgpack,uws-floor,meetcore-sio,plain-sio]
 *   [--server-cpus 0] [--client-cpus 1] [--idle 10000] [--idle-targets ws-json,plain-sio]`
 *
 * Relay: R rooms × P participants, each participant sending ICE-sized `ice` messages (~200 bytes) to the
 * next one in its room, from `--workers` client processes (bench/_signaling_client.ts), against one fresh
 * server per target, one after the other, with the same client load:
 *  - ws-json / ws-msgpack: meetcore's /ws (the real server process, src/main.ts) with each subprotocol;
 *  - uws-floor: a raw uWS relay (bench/_uws_relay.ts): parse the JSON, forward to the peer, nothing else;
 *  - meetcore-sio: meetcore's Socket.IO endpoint (/socket.io/ on the same uWS app);
 *  - plain-sio: a plain Socket.IO server on node:http (bench/_sio_plain.ts), the seeds' choice.
 * Each target is measured in two modes on the same connections: `rate`: a fixed total of `--rate` messages/s
 * spread over every sender (open loop; chosen so that no server saturates: a target that delivers under 98 %
 * of it is marked saturated), and `flat`: flat out, a closed loop with `--window` messages in flight per sender.
 * Reported per target and mode over the measured window: server CPU (utime+stime from /proc/<pid>/stat) per
 * relayed message, delivered messages/s, p50/p99 relay latency (sender to receiver, same client process
 * clock) and the ratios to plain Socket.IO. `--repeat N` measures the whole list of targets N times over (one
 * pass after the other, so each pass compares neighbours in time): each figure is then the median over the passes
 * and each ratio the median of the passes' own ratios, which a machine shared with other work needs. The server runs on `--server-cpus` and the clients on
 * `--client-cpus` (taskset; 'none': no pinning), so the load never takes the server's core.
 * meetcore runs with its per-socket rate limit raised (WS_RATE_PER_SEC) so that the load is not throttled (the
 * token bucket is still checked on every message), its Socket.IO session caps raised (SIO_MAX_SESSIONS_PER_IP,
 * SIO_MAX_SESSIONS) and REQUIRE_AUTH=false.
 * Idle: `--idle` sockets (joined 10 per room, then silent) opened from the client processes; server RSS
 * growth (VmRSS) divided by the socket count.
 * Targets (reported, not asserted), on CPU per relayed message at the fixed rate: /ws ≤ 1.15 × uws-floor,
 * meetcore Socket.IO ≤ 1.0 × plain Socket.IO (the flat-out figures are reported beside them); also reported:
 * /ws ≥ 2.5 × plain-sio delivered messages/s flat out, ≤ 10 KB RSS per idle /ws connection.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, startTestServer } from '../test/helpers/server.js';
import { CLK_TCK, cpuUs, rssKiB } from './_proc.js';
import { printTargets, target, type TargetRow } from './_targets.js';
import { ask, cpuOption, pin, round, sleep, startScript } from './_util.js';

type Target = 'ws-json' | 'ws-msgpack' | 'uws-floor' | 'meetcore-sio' | 'plain-sio';
const TARGETS: readonly Target[] = ['ws-json', 'ws-msgpack', 'uws-floor', 'meetcore-sio', 'plain-sio'];
type Mode = 'rate' | 'flat';

interface Server { pid: number; url: string; stop(): Promise<void> }

interface RelayResult {
  target: Target;
  mode: Mode;
  /** Which pass of `--repeat` (1…); 0 in a median over the passes. */
  pass: number;
  /** Offered total messages/s (rate mode), null flat out. */
  offeredPerSec: number | null;
  saturated: boolean;
  sockets: number;
  windowSec: number;
  delivered: number;
  msgsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  serverCpuUsPerMsg: number;
  serverCoresUsed: number;
  errors: number;
}

interface IdleResult { target: Target; sockets: number; rssBeforeMiB: number; rssAfterMiB: number; rssKiBPerConnection: number }


async function startServer(target: Target, participants: number, cpus: string | null): Promise<Server> {
  if (target === 'plain-sio' || target === 'uws-floor') {
    const p = await startScript(target === 'plain-sio' ? '_sio_plain.ts' : '_uws_relay.ts', cpus);
    return { pid: p.pid, url: `${target === 'plain-sio' ? 'http' : 'ws'}://127.0.0.1:${p.port}`, stop: p.stop };
  }
  const s = await startTestServer({
    LOG_LEVEL: 'info', STUN_SERVERS: '[]', WS_RATE_PER_SEC: '100000', WS_RATE_BURST: '100000',
    ROOM_MAX_PARTICIPANTS: String(Math.max(50, participants)),
    REQUIRE_AUTH: 'false', SIO_MAX_SESSIONS_PER_IP: '1000000', SIO_MAX_SESSIONS: '10000000',
  });
  pin(s.proc.pid, cpus);
  return { pid: s.proc.pid!, url: `ws://127.0.0.1:${s.port}`, stop: async () => { await s.stop(); fs.rmSync(path.dirname(s.dataDir), { recursive: true, force: true }); } };
}

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

interface Load { rooms: number; participants: number; window: number; workers: number; clientCpus: string | null }

/** Fork the client processes and open (and join) every socket; rooms are dealt round-robin. */
async function openClients(target: Target, server: Server, load: Load): Promise<{ workers: ChildProcess[]; sockets: number }> {
  const kind = target === 'ws-json' || target === 'ws-msgpack' ? target : target === 'uws-floor' ? 'ws-json' : 'sio';
  const url = kind === 'sio' ? server.url.replace(/^ws:/, 'http:') : server.url;
  const workers = Array.from({ length: load.workers }, () => fork(path.join(ROOT, 'bench', '_signaling_client.ts'), [], { execArgv: ['--import', 'tsx'] }));
  for (const w of workers) pin(w.pid, load.clientCpus);
  const rooms = Array.from({ length: load.rooms }, (_, i) => `bench-${i}`);
  const replies = await Promise.all(workers.map((w, i) => ask<{ sockets: number }>(w, {
    cmd: 'setup', kind, url, rooms: rooms.filter((_, r) => r % load.workers === i), participants: load.participants, window: load.window,
  })));
  return { workers, sockets: replies.reduce((a, r) => a + r.sockets, 0) };
}

async function relay(target: Target, load: Load, o: { seconds: number; warmup: number; rate: number; modes: Mode[]; serverCpus: string | null }): Promise<RelayResult[]> {
  const server = await startServer(target, load.participants, o.serverCpus);
  const out: RelayResult[] = [];
  try {
    const { workers, sockets } = await openClients(target, server, load);
    try {
      for (const mode of o.modes) {
        const offered = mode === 'rate' ? o.rate : null;
        process.stderr.write(`signaling: ${target}, ${mode === 'rate' ? `${o.rate} msgs/s` : `flat out, window ${load.window}`}, ${sockets} sockets, ${o.warmup} s warm-up + ${o.seconds} s…\n`);
        await Promise.all(workers.map((w) => ask(w, { cmd: 'start', rate: offered ? offered / sockets : 0 })));
        await sleep(o.warmup * 1000);
        await Promise.all(workers.map((w) => ask(w, { cmd: 'mark' })));
        const cpu0 = cpuUs(server.pid);
        const t0 = performance.now();
        await sleep(o.seconds * 1000);
        const got = await Promise.all(workers.map((w) => ask<{ delivered: number; sent: number; errors: number; hist: number[] }>(w, { cmd: 'collect' })));
        const windowSec = (performance.now() - t0) / 1000;
        const cpu1 = cpuUs(server.pid);
        await Promise.all(workers.map((w) => ask(w, { cmd: 'stop' })));
        await sleep(1000); // let the messages in flight drain before the next mode
        const hist = got[0]!.hist.map((_, b) => got.reduce((a, g) => a + g.hist[b]!, 0));
        const delivered = got.reduce((a, g) => a + g.delivered, 0);
        const msgsPerSec = Math.round(delivered / windowSec);
        out.push({
          target, mode, pass: 0, offeredPerSec: offered, saturated: offered !== null && msgsPerSec < 0.98 * offered, sockets, windowSec: round(windowSec, 2), delivered, msgsPerSec,
          p50Ms: round(percentile(hist, 0.5), 2), p99Ms: round(percentile(hist, 0.99), 2),
          serverCpuUsPerMsg: round((cpu1 - cpu0) / Math.max(1, delivered), 2), serverCoresUsed: round((cpu1 - cpu0) / 1e6 / windowSec, 3),
          errors: got.reduce((a, g) => a + g.errors, 0),
        });
      }
    } finally {
      await Promise.all(workers.map((w) => ask(w, { cmd: 'close' }).catch(() => undefined)));
    }
  } finally {
    await server.stop();
  }
  return out;
}

async function idle(target: Target, count: number, workers: number, cpus: { server: string | null; client: string | null }): Promise<IdleResult> {
  const server = await startServer(target, 10, cpus.server);
  try {
    // Warm the server (JIT, lazily created structures) with a small round of sockets first.
    const warm = await openClients(target, server, { rooms: 10, participants: 10, window: 1, workers: 1, clientCpus: cpus.client });
    await Promise.all(warm.workers.map((w) => ask(w, { cmd: 'close' })));
    await sleep(1500);
    const before = rssKiB(server.pid);
    const { workers: ws, sockets } = await openClients(target, server, { rooms: Math.ceil(count / 10), participants: 10, window: 1, workers, clientCpus: cpus.client });
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

type Ratios = Record<string, Record<string, { cpuVsPlainSio: number | null; cpuVsFloor: number | null; msgsVsPlainSio: number | null }>>;

/** Target rows of one mode: CPU per relayed message against the floor and against plain Socket.IO. */
function modeTargets(mode: Mode, rate: number, ratios: Ratios): TargetRow[] {
  const label = mode === 'rate' ? `at ${rate} msgs/s` : 'flat out';
  return [
    target(`/ws / raw-uWS floor, server CPU per message (${label})`, ratios[mode]?.['ws-json']?.cpuVsFloor, '<=', 1.15, '×'),
    target(`meetcore Socket.IO / plain Socket.IO, server CPU per message (${label})`, ratios[mode]?.['meetcore-sio']?.cpuVsPlainSio, '<=', 1.0, '×'),
  ];
}

const median = (xs: number[]) => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (!v.length) return NaN;
  return v.length % 2 ? v[(v.length - 1) / 2]! : (v[v.length / 2 - 1]! + v[v.length / 2]!) / 2;
};

/** One target and mode over every pass: the median of each figure (saturated when any pass was, errors summed). */
function medianResult(rs: RelayResult[]): RelayResult {
  const m = (f: (r: RelayResult) => number, digits: number) => round(median(rs.map(f)), digits);
  return {
    ...rs[0]!, pass: 0, saturated: rs.some((r) => r.saturated), windowSec: m((r) => r.windowSec, 2), delivered: m((r) => r.delivered, 0),
    msgsPerSec: m((r) => r.msgsPerSec, 0), p50Ms: m((r) => r.p50Ms, 2), p99Ms: m((r) => r.p99Ms, 2),
    serverCpuUsPerMsg: m((r) => r.serverCpuUsPerMsg, 2), serverCoresUsed: m((r) => r.serverCoresUsed, 3), errors: rs.reduce((a, r) => a + r.errors, 0),
  };
}

/** The median over the passes of `a`'s figure over `b`'s in the same pass (null when either target was not run). */
function passRatio(all: RelayResult[], mode: Mode, a: Target, b: Target, f: (r: RelayResult) => number): number | null {
  const ratios: number[] = [];
  for (const x of all) {
    if (x.mode !== mode || x.target !== a) continue;
    const y = all.find((r) => r.mode === mode && r.target === b && r.pass === x.pass);
    if (y) ratios.push(f(x) / f(y));
  }
  return ratios.length ? round(median(ratios), 2) : null;
}

/** Run the benchmark; prints the tables and returns the figures (bench/index.ts writes bench/results/signaling.json). */
export async function run(args: string[]): Promise<object> {
  const { values } = parseArgs({
    args,
    options: {
      rooms: { type: 'string', default: '100' }, participants: { type: 'string', default: '10' }, seconds: { type: 'string', default: '8' },
      warmup: { type: 'string', default: '3' }, window: { type: 'string', default: '1' }, workers: { type: 'string', default: '2' },
      rate: { type: 'string', default: '20000' }, modes: { type: 'string', default: 'rate,flat' },
      'server-cpus': { type: 'string' }, 'client-cpus': { type: 'string' }, repeat: { type: 'string', default: '1' },
      targets: { type: 'string', default: TARGETS.join(',') }, idle: { type: 'string', default: '10000' }, 'idle-targets': { type: 'string', default: 'ws-json,plain-sio' },
    },
  });
  const serverCpus = cpuOption(values['server-cpus'], '0');
  const clientCpus = cpuOption(values['client-cpus'], '1');
  const load: Load = { rooms: Number(values.rooms), participants: Number(values.participants), window: Number(values.window), workers: Number(values.workers), clientCpus };
  const seconds = Number(values.seconds);
  const warmup = Number(values.warmup);
  const idleCount = Number(values.idle);
  const rate = Number(values.rate);
  const repeat = Number(values.repeat);
  const modes = values.modes.split(',').map((m) => m.trim()).filter(Boolean) as Mode[];
  if (!(load.rooms >= 1 && load.participants >= 2 && load.window >= 1 && load.workers >= 1 && seconds > 0 && warmup >= 0 && idleCount >= 0 && rate > 0
    && Number.isInteger(repeat) && repeat >= 1
    && modes.length && modes.every((m) => m === 'rate' || m === 'flat'))) {
    throw new Error('usage: signaling [--rooms N≥1] [--participants N≥2] [--rate MSGS/S>0] [--modes rate,flat] [--seconds S>0] [--warmup S≥0] [--window N≥1] [--workers N≥1] [--repeat N≥1] [--targets …] [--server-cpus L|none] [--client-cpus L|none] [--idle N≥0] [--idle-targets …]');
  }
  const fdLimit = Number(execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim());
  if (idleCount > 0 && Number.isFinite(fdLimit) && fdLimit < idleCount + 1000) {
    process.stderr.write(`signaling: ulimit -n is ${fdLimit}; ${idleCount} idle sockets need more (raise it: ulimit -n ${idleCount * 2})\n`);
  }
  process.stderr.write(`signaling: server on cpus ${serverCpus ?? 'any'}, clients on cpus ${clientCpus ?? 'any'}\n`);

  const passes: RelayResult[] = [];
  for (let pass = 1; pass <= repeat; pass++) {
    if (repeat > 1) process.stderr.write(`signaling: pass ${pass} of ${repeat}\n`);
    for (const t of targets(values.targets)) passes.push(...(await relay(t, load, { seconds, warmup, rate, modes, serverCpus })).map((r) => ({ ...r, pass })));
  }
  const relayResults: RelayResult[] = [];
  for (const mode of modes) {
    for (const t of targets(values.targets)) {
      const rs = passes.filter((r) => r.mode === mode && r.target === t);
      if (rs.length) relayResults.push(repeat === 1 ? rs[0]! : medianResult(rs));
    }
  }
  const idleResults: IdleResult[] = [];
  if (idleCount > 0) {
    for (const t of targets(values['idle-targets'])) {
      process.stderr.write(`signaling: ${t}, ${idleCount} idle sockets…\n`);
      idleResults.push(await idle(t, idleCount, load.workers, { server: serverCpus, client: clientCpus }));
    }
  }

  const ratios: Ratios = {};
  const cpu = (r: RelayResult) => r.serverCpuUsPerMsg;
  for (const mode of modes) {
    const rs = relayResults.filter((r) => r.mode === mode);
    if (!rs.length) continue;
    ratios[mode] = Object.fromEntries(rs.map((r) => [r.target, {
      cpuVsPlainSio: passRatio(passes, mode, r.target, 'plain-sio', cpu),
      cpuVsFloor: passRatio(passes, mode, r.target, 'uws-floor', cpu),
      msgsVsPlainSio: passRatio(passes, mode, r.target, 'plain-sio', (x) => x.msgsPerSec),
    }]));
    if (repeat > 1) {
      process.stdout.write(`relay, ${mode}: server CPU µs/msg per pass (ws-json / uws-floor in the same pass)\n`);
      console.table(Object.fromEntries(Array.from({ length: repeat }, (_, i) => i + 1).map((pass) => {
        const at = (t: Target) => passes.find((r) => r.mode === mode && r.target === t && r.pass === pass);
        const ws = at('ws-json'), floor = at('uws-floor');
        return [`pass ${pass}`, Object.fromEntries([
          ...rs.map((r) => [r.target, at(r.target)?.serverCpuUsPerMsg ?? '—']),
          ['ws-json / floor', ws && floor ? round(ws.serverCpuUsPerMsg / floor.serverCpuUsPerMsg, 2) : '—'],
        ])];
      })));
    }
    process.stdout.write(`relay, ${mode === 'rate' ? `fixed rate ${rate} msgs/s` : `flat out (window ${load.window})`}${repeat > 1 ? `, medians over ${repeat} passes` : ''}:\n`);
    console.table(Object.fromEntries(rs.map((r) => [r.target, {
      sockets: r.sockets, 'server CPU µs/msg': r.serverCpuUsPerMsg, 'vs floor': ratios[mode]![r.target]!.cpuVsFloor ?? '—', 'vs plain-sio': ratios[mode]![r.target]!.cpuVsPlainSio ?? '—',
      'server cores': r.serverCoresUsed, 'delivered/s': r.msgsPerSec, 'msgs vs plain-sio': ratios[mode]![r.target]!.msgsVsPlainSio ?? '—',
      'p50 ms': r.p50Ms, 'p99 ms': r.p99Ms, saturated: mode === 'rate' ? (r.saturated ? 'YES' : 'no') : '—', errors: r.errors,
    }])));
  }
  if (idleResults.length) console.table(idleResults.map((r) => ({ target: r.target, sockets: r.sockets, 'RSS before MiB': r.rssBeforeMiB, 'RSS after MiB': r.rssAfterMiB, 'KiB/connection': r.rssKiBPerConnection })));
  const flatWs = relayResults.find((r) => r.target === 'ws-json' && r.mode === 'flat');
  const flatPlain = relayResults.find((r) => r.target === 'plain-sio' && r.mode === 'flat');
  const wsIdle = idleResults.find((r) => r.target === 'ws-json');
  const targetRows = [
    ...modes.flatMap((m) => modeTargets(m, rate, ratios)),
    target('/ws / plain Socket.IO delivered msgs/s (flat out)', flatWs && flatPlain ? round(flatWs.msgsPerSec / flatPlain.msgsPerSec, 2) : null, '>=', 2.5, '×'),
    // RSS falling while sockets open is GC noise (too few sockets to show): not a measurement.
    target('RSS per idle /ws connection', wsIdle && wsIdle.rssKiBPerConnection >= 0 ? round(wsIdle.rssKiBPerConnection * 1.024, 2) : null, '<=', 10, 'KB'),
  ];
  if (wsIdle && wsIdle.rssKiBPerConnection < 0) process.stdout.write(`idle /ws RSS fell while ${wsIdle.sockets} sockets opened (GC noise): open more (--idle 10000)\n`);
  const saturated = relayResults.filter((r) => r.saturated).map((r) => r.target);
  if (saturated.length) process.stdout.write(`saturated at ${rate} msgs/s (delivered < 98 %): ${saturated.join(', ')}: lower --rate for a fair per-message comparison\n`);
  printTargets(targetRows);
  return { options: { ...load, seconds, warmup, rate, modes, repeat, serverCpus, idle: idleCount }, clkTck: CLK_TCK, relay: relayResults, passes: repeat > 1 ? passes : undefined, ratios, idle: idleResults, targets: targetRows };
}
