/**
 * `meetcore bench <signaling|egress|meeting> [options]`: load a meetcore the way real users do and say how
 * much it takes. Without `--target` it starts a local meetcore (a child process of this same program, on a
 * free port with temporary folders; pinned to CPU 0 and the load to the others when `taskset` exists and there
 * are ≥ 2 cores); with `--target URL` it measures that server from the client side and reads its /metrics when
 * reachable. The load runs in worker processes (src/loadtest/worker.ts); each step settles, then is measured;
 * `--ramp` adds load step by step until the service level breaks. Results: a console table,
 * `<out>/<scenario>-<timestamp>.json` and `.html` (src/loadtest/report.ts). Options and their defaults are in
 * USAGE below and the README's "Sizing a deployment".
 * Exit codes: 0 done (a ramp that broke is a result, not a failure), 1 the run failed, 2 a bad option or an
 * unreachable target (`meetcore bench: cannot reach http://…: …`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import { signedUrl } from '../egress/signing.js';
import { selfCommand, version } from '../runtime.js';
import { percentiles } from './hist.js';
import { loopDelayP99, MEETCORE_SERIES, scrape, total, type Scrape } from './metrics.js';
import { noiseText, writeReport } from './report.js';
import type { Baseline, BenchReport, Scenario, ServerFigures, Step } from './types.js';
import { addFigures, emptyFigures, type Transport, type Unit, type WorkerFigures } from './worker.js';

export const USAGE = `usage: meetcore bench <signaling|egress|meeting> [options]
common:    --target URL        a running meetcore (default: start one here)
           --duration S        seconds measured per step (default 50; with --ramp 10)
           --settle S          seconds after adding load before measuring (default 3)
           --out DIR           where the JSON and HTML reports go (default bench/results)
           --json              print only the JSON report
           --workers N         load worker processes (default: cores - 1 here, cores for --target; at least 1)
           --token-file F      access token (Bearer) for a server with REQUIRE_AUTH, POST /api/egress/url and feedback,
                               read from file F (or the BENCH_TOKEN variable; --token T works but shows in ps)
                               (the target's METRICS_TOKEN, if it has one, comes from the BENCH_METRICS_TOKEN variable)
           --ramp              add load step by step until the service level breaks
           --ramp-step N       load added per step (default: the starting load)   --ramp-max N  (default 100 × step)
signaling: --rooms R (10) --participants P (5) --transport ws-json|ws-msgpack|sio (ws-json)
           --ice-rate N (2 ICE messages/s per participant) --chat-rate N (0.2 chats/s per participant)
           --compare           also run the same load on the other two transports, side by side
           service level: --slo-p99-ms (100) relay p99, --slo-errors (0)
egress:    --streams N (20) --frame-ms 10|20 (20)
           --egress-secret-file F  the server's EGRESS_SECRET, read from file F (or BENCH_EGRESS_SECRET; --egress-secret S
                               works but shows in ps); without it the token asks POST /api/egress/url
           --snr DB            add white noise DB below the speech's RMS (egress and meeting; default: clean)
           service level: --slo-backlog-ms (200) a stream's send backlog, --slo-errors (0)
meeting:   --meetings M (3) --participants P (4) --meeting-seconds S (60, the script's length; it loops)
           --frame-ms 10|20 (20), the egress secret as for egress, a token (an owner or admin: the host on feedback:<id>)
           service level: --slo-feedback-p95-ms (200), --slo-backlog-ms (200), --slo-errors (0)
`;

/** A bad option, an unreachable target, a redirect, or an egress URL of another origin: exit code 2. */
export class UsageError extends Error {}

/** Where the secrets come from besides --token and --egress-secret (which every local user sees in `ps`). */
export const SECRET_VARIABLES = { token: 'BENCH_TOKEN', 'egress-secret': 'BENCH_EGRESS_SECRET' } as const;
/** The largest secret file read, bytes. */
const MAX_SECRET_FILE_BYTES = 64 * 1024;

const SCENARIOS: Scenario[] = ['signaling', 'egress', 'meeting'];

export interface BenchOptions {
  scenario: Scenario;
  target: string | null;
  durationSec: number;
  settleSec: number;
  out: string;
  json: boolean;
  workers: number;
  token: string | null;
  ramp: boolean;
  rampStep: number;
  rampMax: number;
  /** The starting load: rooms (signaling), streams (egress) or meetings (meeting). */
  load: number;
  participants: number;
  transport: Transport;
  iceRate: number;
  chatRate: number;
  compare: boolean;
  frameMs: 10 | 20;
  egressSecret: string | null;
  /** The target's METRICS_TOKEN, from the BENCH_METRICS_TOKEN variable only (no flag: it would show in `ps`); null when unset. */
  metricsToken: string | null;
  /** The secret options given on the command line (`--token`, `--egress-secret`): a warning says they show in `ps`. */
  exposedSecrets: string[];
  meetingSeconds: number;
  /** --snr: white noise at this SNR (dB re each stream's speech RMS) in egress and meeting audio; null = clean. */
  snrDb: number | null;
  slo: { p99Ms: number; backlogMs: number; feedbackP95Ms: number; errors: number };
}

/** Parse and check the command line. @throws UsageError naming the bad option. */
export function parseOptions(argv: string[], env: Record<string, string | undefined> = process.env): BenchOptions {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv, allowPositionals: true, strict: true,
      options: {
        target: { type: 'string' }, duration: { type: 'string' }, settle: { type: 'string' }, out: { type: 'string' },
        json: { type: 'boolean' }, workers: { type: 'string' }, token: { type: 'string' }, 'token-file': { type: 'string' }, ramp: { type: 'boolean' },
        'ramp-step': { type: 'string' }, 'ramp-max': { type: 'string' }, rooms: { type: 'string' }, participants: { type: 'string' },
        transport: { type: 'string' }, 'ice-rate': { type: 'string' }, 'chat-rate': { type: 'string' }, compare: { type: 'boolean' },
        streams: { type: 'string' }, 'frame-ms': { type: 'string' }, 'egress-secret': { type: 'string' }, 'egress-secret-file': { type: 'string' }, meetings: { type: 'string' },
        'meeting-seconds': { type: 'string' }, 'slo-p99-ms': { type: 'string' }, 'slo-backlog-ms': { type: 'string' },
        'slo-feedback-p95-ms': { type: 'string' }, 'slo-errors': { type: 'string' }, snr: { type: 'string' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const { values: v, positionals } = parsed;
  const scenario = positionals[0] as Scenario;
  if (!SCENARIOS.includes(scenario)) throw new UsageError(positionals[0] ? `unknown scenario ${JSON.stringify(positionals[0])}` : 'a scenario is required');
  if (positionals.length > 1) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[1])}`);
  const num = (name: string, value: string | undefined, def: number, min: number, max: number, integer = true): number => {
    if (value === undefined) return def;
    const n = Number(value);
    if (!Number.isFinite(n) || n < min || n > max || (integer && !Number.isInteger(n))) throw new UsageError(`--${name} must be ${integer ? 'an integer' : 'a number'} from ${min} to ${max}, got ${JSON.stringify(value)}`);
    return n;
  };
  const onlyFor = (names: string[], scenarios: Scenario[]): void => {
    for (const n of names) if ((v as Record<string, unknown>)[n] !== undefined && !scenarios.includes(scenario)) throw new UsageError(`--${n} is not an option of ${scenario}`);
  };
  onlyFor(['rooms', 'transport', 'ice-rate', 'chat-rate', 'compare', 'slo-p99-ms'], ['signaling']);
  onlyFor(['streams'], ['egress']);
  onlyFor(['meetings', 'meeting-seconds', 'slo-feedback-p95-ms'], ['meeting']);
  onlyFor(['frame-ms', 'egress-secret', 'egress-secret-file', 'slo-backlog-ms', 'snr'], ['egress', 'meeting']);
  /** A secret from --<flag>-file, else --<flag> (noted in `exposed`), else its variable (SECRET_VARIABLES); null when none. */
  const exposed: string[] = [];
  const secret = (flag: keyof typeof SECRET_VARIABLES): string | null => {
    const given = (v as Record<string, string | undefined>)[flag];
    const file = (v as Record<string, string | undefined>)[`${flag}-file`];
    if (given !== undefined && file !== undefined) throw new UsageError(`give --${flag} or --${flag}-file, not both`);
    if (file !== undefined) return readSecretFile(`--${flag}-file`, file);
    if (given !== undefined) { exposed.push(`--${flag}`); return given; }
    return env[SECRET_VARIABLES[flag]] || null;
  };
  const token = secret('token');
  const egressSecret = secret('egress-secret');
  let target: string | null = null;
  if (v.target !== undefined) {
    let u: URL;
    try { u = new URL(v.target); } catch { throw new UsageError(`--target must be an http(s) URL, got ${JSON.stringify(v.target)}`); }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new UsageError(`--target must be an http(s) URL, got ${JSON.stringify(v.target)}`);
    target = u.origin;
  }
  const transport = (v.transport ?? 'ws-json') as Transport;
  if (!['ws-json', 'ws-msgpack', 'sio'].includes(transport)) throw new UsageError(`--transport must be ws-json, ws-msgpack or sio, got ${JSON.stringify(v.transport)}`);
  const frameMs = num('frame-ms', v['frame-ms'], 20, 10, 20);
  if (frameMs !== 10 && frameMs !== 20) throw new UsageError('--frame-ms must be 10 or 20');
  const ramp = v.ramp ?? false;
  const load = scenario === 'signaling' ? num('rooms', v.rooms, 10, 1, 100_000) : scenario === 'egress' ? num('streams', v.streams, 20, 1, 100_000) : num('meetings', v.meetings, 3, 1, 10_000);
  const rampStep = num('ramp-step', v['ramp-step'], load, 1, 100_000);
  const cores = os.availableParallelism();
  return {
    scenario, target, ramp, load, rampStep,
    rampMax: num('ramp-max', v['ramp-max'], rampStep * 100, load, 10_000_000),
    durationSec: num('duration', v.duration, ramp ? 10 : 50, 1, 86_400, false),
    settleSec: num('settle', v.settle, 3, 0, 3600, false),
    out: v.out ?? path.join('bench', 'results'),
    json: v.json ?? false,
    workers: num('workers', v.workers, Math.max(1, target ? cores : cores - 1), 1, 256),
    token,
    participants: num('participants', v.participants, scenario === 'signaling' ? 5 : 4, 2, 1000),
    transport,
    iceRate: num('ice-rate', v['ice-rate'], 2, 0, 1000, false),
    chatRate: num('chat-rate', v['chat-rate'], 0.2, 0, 1000, false),
    compare: v.compare ?? false,
    frameMs,
    egressSecret,
    metricsToken: env.BENCH_METRICS_TOKEN || null,
    exposedSecrets: exposed,
    meetingSeconds: num('meeting-seconds', v['meeting-seconds'], 60, 20, 3600),
    snrDb: v.snr === undefined ? null : num('snr', v.snr, 0, -30, 100, false),
    slo: {
      p99Ms: num('slo-p99-ms', v['slo-p99-ms'], 100, 0.01, 1e7, false),
      backlogMs: num('slo-backlog-ms', v['slo-backlog-ms'], 200, 1, 1e7, false),
      feedbackP95Ms: num('slo-feedback-p95-ms', v['slo-feedback-p95-ms'], 200, 0.01, 1e7, false),
      errors: num('slo-errors', v['slo-errors'], 0, 0, 1e9),
    },
  };
}

/**
 * A secret kept in a file (the token or the egress secret): its text without the trailing newline.
 * @throws UsageError naming the option when the file cannot be read, is over 64 KiB or is empty.
 */
function readSecretFile(option: string, file: string): string {
  let text: string;
  try {
    if (fs.statSync(file).size > MAX_SECRET_FILE_BYTES) throw new UsageError(`${option} ${file} is over ${MAX_SECRET_FILE_BYTES} bytes: not a secret file`);
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(`${option} ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const value = text.replace(/\r?\n$/, '');
  if (!value) throw new UsageError(`${option} ${file} is empty`);
  return value;
}

// ------------------------------------------------------------------------------------------- target

/**
 * fetch that never follows a redirect: the load tool talks to the server it was given and no other (a 3xx
 * could send the token or the audio elsewhere).
 * @throws UsageError `"POST http://…/api/egress/url answered 302 (a redirect to https://…): meetcore bench
 *   follows no redirect; give --target the server's own URL"`; the fetch error when it cannot connect.
 */
export async function fetchNoRedirect(url: string, init: RequestInit = {}): Promise<Response> {
  const res = await fetch(url, { ...init, redirect: 'manual' });
  if (res.status >= 300 && res.status < 400) {
    const location = res.headers.get('location');
    throw new UsageError(`${init.method ?? 'GET'} ${url} answered ${res.status} (a redirect${location ? ` to ${location}` : ''}): meetcore bench follows no redirect; give --target the server's own URL`);
  }
  return res;
}

interface Target { url: string; local: boolean; serverVersion: string | null; egressSecret: string | null; token: string | null; stop(): Promise<void>; pid: number | null }

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address() as net.AddressInfo; s.close(() => resolve(port)); });
  });
}

function hasTaskset(): boolean {
  return spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status === 0;
}

/** GET /health of `url`; @throws UsageError when it does not answer 200 within 5 s. */
async function health(url: string): Promise<{ version?: string }> {
  let res: Response;
  try {
    res = await fetchNoRedirect(`${url}/health`, { signal: AbortSignal.timeout(5000) });
  } catch (err) {
    if (err instanceof UsageError) throw err;
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    throw new UsageError(`cannot reach ${url}: ${cause?.code ?? cause?.message ?? (err as Error).message}`);
  }
  if (res.status !== 200) throw new UsageError(`cannot reach ${url}: GET /health answered ${res.status}`);
  return (await res.json()) as { version?: string };
}

/** Start a local meetcore for the run (temporary folders, removed afterwards). */
async function startLocal(pin: boolean): Promise<Target> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meetcore-bench-'));
  const egressSecret = randomBytes(24).toString('base64url');
  const [cmd, ...args] = selfCommand();
  const command = pin ? ['taskset', '-c', '0', cmd!, ...args] : [cmd!, ...args];
  const child: ChildProcess = spawn(command[0]!, [...command.slice(1), 'serve'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: {
      ...process.env, HOST: '127.0.0.1', PORT: String(port), DATA_DIR: path.join(dir, 'data'), STORAGE_DIR: path.join(dir, 'storage'),
      EGRESS_SECRET: egressSecret, LOG_LEVEL: 'warn', REQUIRE_AUTH: 'false', SIO_MAX_SESSIONS_PER_IP: '1000000', SIO_MAX_SESSIONS: '1000000',
      PUBLIC_URL: `http://127.0.0.1:${port}`,
    },
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const url = `http://127.0.0.1:${port}`;
  const until = Date.now() + 30_000;
  let h: { version?: string } | null = null;
  while (!h) {
    if (child.exitCode !== null) throw new Error(`the local meetcore exited with ${child.exitCode}: ${stderr.trim()}`);
    if (Date.now() > until) throw new Error('the local meetcore did not answer /health within 30 s');
    try { h = await health(url); } catch { await new Promise((r) => setTimeout(r, 100)); }
  }
  // The meeting scenario's host: the server's first account owns its first organization, whose owners host meetings
  // of no organization (UNSCOPED_MEETINGS_ORG=first; REGISTRATION=first lets this one account register).
  const email = `bench-${randomBytes(4).toString('hex')}@example.test`;
  const password = randomBytes(12).toString('base64url');
  await fetchNoRedirect(`${url}/auth/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ organization: 'bench', name: 'bench host', email, password }) });
  const login = (await (await fetchNoRedirect(`${url}/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ email, password }) })).json()) as { accessToken?: string };
  return {
    url, local: true, serverVersion: h.version ?? null, egressSecret, token: login.accessToken ?? null, pid: child.pid ?? null,
    stop: async () => {
      if (child.exitCode === null) { child.kill('SIGTERM'); await new Promise((r) => child.once('exit', r)); }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

// ------------------------------------------------------------------------------------------- workers

interface Worker { child: ChildProcess; pending: ((m: any) => void)[] }

/**
 * Worker processes that have not answered yet (still loading). When this process exits they get SIGTERM: a
 * worker that answers exits by itself when told to close or when this process is gone, but one still loading its
 * modules when a run ends early (a refused target right after the start) was seen stuck there for minutes,
 * holding the stderr it shares with this process.
 */
const loadingWorkers = new Set<ChildProcess>();
process.once('exit', () => { for (const child of loadingWorkers) child.kill('SIGTERM'); });

function startWorkers(n: number, pin: boolean): Worker[] {
  const [cmd, ...args] = selfCommand();
  const cpus = os.availableParallelism();
  return Array.from({ length: n }, () => {
    const command = pin ? ['taskset', '-c', cpus > 2 ? `1-${cpus - 1}` : '1', cmd!, ...args] : [cmd!, ...args];
    const child = spawn(command[0]!, [...command.slice(1), '__bench-worker'], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    loadingWorkers.add(child);
    child.once('exit', () => loadingWorkers.delete(child));
    const w: Worker = { child, pending: [] };
    child.on('message', (m: { type: string; message?: string }) => {
      loadingWorkers.delete(child);
      if (m.type === 'error') { process.stderr.write(`meetcore bench: worker: ${m.message}\n`); return; }
      w.pending.shift()?.(m);
    });
    return w;
  });
}

function ask<T>(w: Worker, m: object): Promise<T> {
  return new Promise((resolve, reject) => {
    w.pending.push(resolve);
    w.child.send(m, (err) => { if (err) reject(err); });
  });
}

// ------------------------------------------------------------------------------------------- units

let nextUnit = 0;

/** Make `count` new units of the scenario (URLs signed or asked for; unique room, stream and meeting names). */
async function makeUnits(o: BenchOptions, t: Target, count: number, transport: Transport): Promise<Unit[]> {
  const run = randomBytes(3).toString('hex');
  const units: Unit[] = [];
  for (let i = 0; i < count; i++) {
    const k = nextUnit++;
    if (o.scenario === 'signaling') {
      units.push({ kind: 'room', baseUrl: t.url, transport, roomId: `bench-${run}-${k}`, participants: o.participants, iceRate: o.iceRate, chatRate: o.chatRate, token: t.local ? null : t.token });
    } else if (o.scenario === 'egress') {
      units.push({ kind: 'stream', url: await egressUrl(o, t, { roomName: `bench-${run}-${k}`, participant: `p${k}`, trackId: `TR_bench_${k}` }), frameMs: o.frameMs, seed: k, snrDb: o.snrDb });
    } else {
      const meetingId = `MT_bench_${run}_${k}`;
      const participants = Array.from({ length: o.participants }, (_, j) => `p${j}`);
      const urls = [];
      for (const p of participants) urls.push(await egressUrl(o, t, { roomName: `bench-${run}-${k}`, participant: p, trackId: `TR_${p}`, meetingId }));
      units.push({ kind: 'meeting', meetingId, urls, participants, frameMs: o.frameMs, seconds: o.meetingSeconds, seed: k, hostWsUrl: t.url.replace(/^http/, 'ws'), hostToken: t.token!, minOverlapMs: 500, snrDb: o.snrDb });
    }
  }
  return units;
}

/**
 * A signed /egress-audio URL: signed here with the egress secret (a local server's own, else the one given),
 * else from POST /api/egress/url with the token.
 * @throws UsageError when that answer redirects, or its URL is not on the target's origin (http→ws,
 *   https→wss, same host and port): the audio goes to the server given and no other.
 */
async function egressUrl(o: BenchOptions, t: Target, params: Record<string, string>): Promise<string> {
  const secret = t.egressSecret ?? o.egressSecret;
  const wsOrigin = t.url.replace(/^http/, 'ws');
  if (secret) return signedUrl(secret, wsOrigin, '/egress-audio', { ...params, sampleRate: 48000, channels: 2 }, 86_400);
  const res = await fetchNoRedirect(`${t.url}/api/egress/url`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${t.token}` }, body: JSON.stringify(params) });
  if (res.status !== 200) throw new Error(`POST /api/egress/url answered ${res.status}: ${await res.text()}`);
  const url = ((await res.json()) as { url?: unknown }).url;
  let origin: string | null = null;
  try { origin = new URL(String(url)).origin; } catch { /* reported below */ }
  if (origin !== wsOrigin) {
    throw new UsageError(`POST ${t.url}/api/egress/url returned a URL on ${origin ?? JSON.stringify(String(url).slice(0, 80))}, not on ${wsOrigin}: meetcore bench streams audio only to the server it was given; give --target the server's public URL (its PUBLIC_URL)`);
  }
  return String(url);
}

// ------------------------------------------------------------------------------------------- steps

function serverFigures(a: Scrape | null, b: Scrape | null, units: number): ServerFigures | null {
  if (!a || !b) return null;
  const seconds = (b.at - a.at) / 1000;
  const cpu = (total(b, 'process_cpu_seconds_total') ?? 0) - (total(a, 'process_cpu_seconds_total') ?? 0);
  const rss = total(b, 'process_resident_memory_bytes') ?? 0;
  const lag = loopDelayP99(b);
  const series: Record<string, number> = {};
  for (const name of MEETCORE_SERIES) { const x = total(b, name); if (x !== null) series[name] = x; }
  return {
    cpuPct: round((cpu / seconds) * 100, 1), rssMiB: round(rss / 2 ** 20, 1), eventLoopP99Ms: lag === null ? null : round(lag * 1000, 2),
    cpuMsPerUnitSec: round((cpu * 1000) / (seconds * units), 3), rssKiBPerUnit: round(rss / 1024 / units, 1), series,
  };
}

function round(x: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

interface Progress { update(text: Record<string, string>, fraction: number): void; stop(): void }

function progress(o: BenchOptions): Progress {
  if (o.json) return { update: () => {}, stop: () => {} };
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar({
      format: '{step} {bar} {percentage}% | {load} | {throughput} | p99 {p99} | errors {errors} | load CPU {gen}',
      stream: process.stderr, hideCursor: true, clearOnComplete: false, barsize: 20,
    }, cliProgress.Presets.shades_classic);
    let started = false;
    return {
      update: (t, f) => { if (!started) { bar.start(1000, 0, t); started = true; } bar.update(Math.round(f * 1000), t); },
      stop: () => { if (started) bar.stop(); },
    };
  }
  let last = 0;
  return {
    update: (t, f) => {
      if (performance.now() - last < 5000 && f < 1) return;
      last = performance.now();
      process.stderr.write(`${t.step} ${Math.round(f * 100)}% | ${t.load} | ${t.throughput} | p99 ${t.p99} | errors ${t.errors} | load CPU ${t.gen}\n`);
    },
    stop: () => {},
  };
}

async function collect(workers: Worker[]): Promise<{ sum: WorkerFigures; perWorker: WorkerFigures[] }> {
  const perWorker = await Promise.all(workers.map((w) => ask<WorkerFigures & { type: string }>(w, { cmd: 'collect' })));
  const sum = emptyFigures();
  for (const f of perWorker) addFigures(sum, f);
  return { sum, perWorker };
}

function unitName(o: BenchOptions): Step['load']['unit'] {
  return o.scenario === 'signaling' ? 'participants' : o.scenario === 'egress' ? 'streams' : 'meetings';
}

/** One measured step at the current load. */
async function measure(o: BenchOptions, t: Target, workers: Worker[], index: number, loadUnits: number, bar: Progress, label: string): Promise<Step> {
  await new Promise((r) => setTimeout(r, o.settleSec * 1000));
  await Promise.all(workers.map((w) => ask(w, { cmd: 'mark' })));
  const before = await scrape(t.url, metricsHeaders(o));
  const t0 = performance.now();
  const units = o.scenario === 'signaling' ? loadUnits * o.participants : loadUnits;
  const unit = unitName(o);
  for (;;) {
    const elapsed = (performance.now() - t0) / 1000;
    if (elapsed >= o.durationSec) break;
    await new Promise((r) => setTimeout(r, Math.min(1000, (o.durationSec - elapsed) * 1000)));
    const { sum } = await collect(workers);
    const secs = sum.wallUs / 1e6 || 1;
    const p = percentiles(sum.hist);
    bar.update({
      step: label, load: `${units} ${unit}`,
      throughput: o.scenario === 'signaling' ? `${Math.round(sum.delivered / secs)} msg/s` : `${round(sum.acceptedBytes / 192_000 / secs, 1)} stream-s/s`,
      p99: p.p99Ms === null ? '—' : `${p.p99Ms} ms`, errors: String(sum.errors), gen: `${Math.round((sum.cpuUs / sum.wallUs) * 100)}%`,
    }, Math.min(1, (performance.now() - t0) / 1000 / o.durationSec));
  }
  const { sum, perWorker } = await collect(workers);
  const after = await scrape(t.url, metricsHeaders(o));
  const secs = sum.wallUs / 1e6;
  const latency = percentiles(sum.hist);
  const saturated = perWorker.some((f) => f.cpuUs / f.wallUs > 0.9 || f.timerLateP99Ms > 50);
  const step: Step = {
    index,
    load: o.scenario === 'signaling' ? { units, unit, rooms: loadUnits, participantsPerRoom: o.participants }
      : o.scenario === 'egress' ? { units, unit, streams: loadUnits } : { units, unit, meetings: loadUnits, participantsPerMeeting: o.participants },
    durationSec: round(secs, 2),
    throughput: o.scenario === 'signaling' ? { value: round(sum.delivered / secs, 1), unit: 'messages/s' } : { value: round(sum.acceptedBytes / 192_000 / secs, 2), unit: 'stream-s/s' },
    latency, errors: sum.errors,
    server: serverFigures(before, after, o.scenario === 'meeting' ? loadUnits * o.participants : units),
    generator: { cpuPct: round((sum.cpuUs / sum.wallUs) * 100, 1), workers: workers.length, saturated },
    held: true, broke: null,
  };
  if (o.scenario !== 'signaling') step.behindRealTime = sum.behindRealTime;
  if (o.scenario === 'meeting') {
    const ov = sum.overlap;
    step.overlap = {
      truth: ov.truth, reported: ov.reported, truePositives: ov.truePositives,
      precision: ov.reported ? round(ov.truePositives / ov.reported, 3) : null, recall: ov.truth ? round(ov.truePositives / ov.truth, 3) : null,
      rightInterrupter: ov.rightInterrupter, backchannels: ov.backchannels, reportedOnBackchannels: ov.onBackchannels,
    };
  }
  const why: string[] = [];
  if (step.errors > o.slo.errors) why.push(`${step.errors} errors > ${o.slo.errors}`);
  if (o.scenario === 'signaling' && (latency.p99Ms ?? Infinity) > o.slo.p99Ms) why.push(`relay p99 ${latency.p99Ms ?? 'n/a'} ms > ${o.slo.p99Ms} ms`);
  if (o.scenario !== 'signaling' && (step.behindRealTime ?? 0) > 0) why.push(`${step.behindRealTime} streams behind real time (backlog > ${o.slo.backlogMs} ms)`);
  if (o.scenario === 'meeting' && latency.count > 0 && (latency.p95Ms ?? 0) > o.slo.feedbackP95Ms) why.push(`feedback p95 ${latency.p95Ms} ms > ${o.slo.feedbackP95Ms} ms`);
  if (why.length) { step.held = false; step.broke = why.join('; '); }
  return step;
}

/** Add `count` units to the workers (round-robin by unit); @throws Error when none of them opened. */
async function addLoad(o: BenchOptions, t: Target, workers: Worker[], count: number, transport: Transport): Promise<number> {
  const units = await makeUnits(o, t, count, transport);
  const shares: Unit[][] = workers.map(() => []);
  units.forEach((u, i) => shares[i % workers.length]!.push(u));
  const replies = await Promise.all(workers.map((w, i) => ask<{ opened: number; errors: number; messages: string[] }>(w, { cmd: 'add', units: shares[i], backlogLimitMs: o.slo.backlogMs })));
  const opened = replies.reduce((n, r) => n + r.opened, 0);
  if (opened === 0 && count > 0) throw new Error(`no ${o.scenario} load could be opened: ${[...new Set(replies.flatMap((r) => r.messages))].join('; ')}`);
  return replies.reduce((n, r) => n + r.errors, 0);
}

function machine(): BenchReport['machine'] {
  return { hostname: os.hostname(), platform: os.platform(), arch: os.arch(), cpuModel: os.cpus()[0]?.model ?? 'unknown', cores: os.availableParallelism(), memoryGiB: round(os.totalmem() / 2 ** 30, 1), node: process.versions.node };
}

/** The headers of a /metrics scrape: `Authorization: Bearer <BENCH_METRICS_TOKEN>` when set (the server's METRICS_TOKEN). */
export function metricsHeaders(o: Pick<BenchOptions, 'metricsToken'>): Record<string, string> {
  return o.metricsToken ? { authorization: `Bearer ${o.metricsToken}` } : {};
}

/** Run the benchmark; returns the report (also written to `o.out`). */
export async function runScenario(o: BenchOptions): Promise<{ report: BenchReport; files: { json: string; html: string } }> {
  const startedAt = new Date().toISOString();
  const pin = !o.target && os.availableParallelism() >= 2 && hasTaskset();
  const target: Target = o.target
    ? { url: o.target, local: false, serverVersion: (await health(o.target)).version ?? null, egressSecret: null, token: o.token, pid: null, stop: async () => {} }
    : await startLocal(pin);
  const warnings: string[] = [];
  if (o.scenario !== 'signaling' && !o.egressSecret && !target.egressSecret && !o.token) throw new UsageError(`${o.scenario} against --target needs the server's EGRESS_SECRET (--egress-secret-file, BENCH_EGRESS_SECRET or --egress-secret) or a token for POST /api/egress/url (--token-file, BENCH_TOKEN or --token)`);
  if (o.scenario === 'meeting' && !o.token && !target.token) throw new UsageError('meeting against --target needs --token-file, BENCH_TOKEN or --token: an access token of an owner or admin (the host listening on feedback:<meetingId>)');
  const metricsReachable = (await scrape(target.url, metricsHeaders(o))) !== null;
  if (!metricsReachable) warnings.push(`${target.url}/metrics is not reachable (METRICS_LOCAL_ONLY, or METRICS_TOKEN without BENCH_METRICS_TOKEN?): no server CPU, RSS or event-loop figures`);
  const workers = startWorkers(o.workers, pin);
  const bar = progress(o);
  const steps: Step[] = [];
  const baselines: Baseline[] = [];
  let held: Step | null = null, brokeAt: Step | null = null, generatorLimited: Step | null = null;
  try {
    let load = 0;
    for (let index = 0; ; index++) {
      const next = index === 0 ? o.load : load + o.rampStep;
      if (next > o.rampMax && index > 0) break;
      await addLoad(o, target, workers, next - load, o.transport);
      load = next;
      const step = await measure(o, target, workers, index, load, bar, o.ramp ? `step ${index + 1}` : o.scenario);
      steps.push(step);
      if (step.generator.saturated) warnings.push(`step ${index + 1}: the load generator saturated (CPU ${step.generator.cpuPct}% over ${workers.length} workers, or its timers ran late): the server may have more headroom than this step shows; use more --workers or another machine`);
      if (!o.ramp) break;
      if (!step.held) { brokeAt = step; break; }
      // A saturated generator did not offer the step's load: that step says nothing of the server, and more
      // load would measure the generator. Stop; the largest load that held is the step before.
      if (step.generator.saturated) { generatorLimited = step; break; }
      held = step;
    }
    if (o.compare && o.scenario === 'signaling') {
      baselines.push({ name: o.transport, throughput: steps.at(-1)!.throughput, latency: steps.at(-1)!.latency, cpuPct: steps.at(-1)!.server?.cpuPct ?? null });
      for (const other of (['ws-json', 'ws-msgpack', 'sio'] as const).filter((x) => x !== o.transport)) {
        const more = startWorkers(o.workers, pin);
        try {
          await addLoad(o, target, more, o.load, other);
          for (const w of workers) w.child.send({ cmd: 'close' });
          workers.splice(0, workers.length, ...more);
          const s = await measure(o, target, workers, steps.length, o.load, bar, other);
          baselines.push({ name: other, throughput: s.throughput, latency: s.latency, cpuPct: s.server?.cpuPct ?? null });
        } catch (err) {
          warnings.push(`--compare ${other}: ${(err as Error).message}`);
        }
      }
    }
  } finally {
    bar.stop();
    for (const w of workers) { try { w.child.send({ cmd: 'close' }); } catch { /* gone */ } }
    await target.stop();
  }
  const report: BenchReport = {
    tool: 'meetcore bench', schema: 1, meetcoreVersion: version(), scenario: o.scenario, startedAt, finishedAt: new Date().toISOString(),
    options: optionsRecord(o),
    target: { url: target.url, local: target.local, serverVersion: target.serverVersion, metrics: metricsReachable },
    machine: machine(), steps,
    ramp: o.ramp ? { slo: sloRecord(o), held, brokeAt, reason: brokeAt?.broke ?? (generatorLimited ? `the load generator saturated at ${generatorLimited.load.units} ${generatorLimited.load.unit} (the server had not broken): run more --workers or from another machine to go further` : null) } : null,
    baselines, warnings: [...new Set(warnings)],
  };
  const files = await writeReport(report, o.out);
  return { report, files };
}

function sloRecord(o: BenchOptions): Record<string, number> {
  if (o.scenario === 'signaling') return { p99Ms: o.slo.p99Ms, errors: o.slo.errors };
  if (o.scenario === 'egress') return { backlogMs: o.slo.backlogMs, errors: o.slo.errors };
  return { feedbackP95Ms: o.slo.feedbackP95Ms, backlogMs: o.slo.backlogMs, errors: o.slo.errors };
}

function optionsRecord(o: BenchOptions): Record<string, string | number | boolean | null> {
  const { slo, exposedSecrets: _exposed, ...rest } = o;
  return { ...rest, token: o.token ? '(set)' : null, egressSecret: o.egressSecret ? '(set)' : null, metricsToken: o.metricsToken ? '(set)' : null, sloP99Ms: slo.p99Ms, sloBacklogMs: slo.backlogMs, sloFeedbackP95Ms: slo.feedbackP95Ms, sloErrors: slo.errors };
}

/** The console table of a report's steps. */
export function table(report: BenchReport): string {
  const rows = report.steps.map((s) => ({
    step: String(s.index + 1), load: `${s.load.units} ${s.load.unit}`, throughput: `${s.throughput.value} ${s.throughput.unit}`,
    p50: s.latency.p50Ms === null ? '—' : `${s.latency.p50Ms} ms`, p99: s.latency.p99Ms === null ? '—' : `${s.latency.p99Ms} ms`, errors: String(s.errors),
    'server CPU': s.server ? `${s.server.cpuPct}%` : '—', RSS: s.server ? `${s.server.rssMiB} MiB` : '—',
    'loop p99': s.server?.eventLoopP99Ms != null ? `${s.server.eventLoopP99Ms} ms` : '—', 'load CPU': `${s.generator.cpuPct}%`,
    held: s.held ? 'yes' : `no: ${s.broke}`,
  }));
  const cols = Object.keys(rows[0] ?? { step: '' });
  const width = (c: string) => Math.max(c.length, ...rows.map((r) => (r as Record<string, string>)[c]!.length));
  const line = (r: Record<string, string>) => cols.map((c) => (r[c] ?? '').padEnd(width(c))).join('  ');
  return [line(Object.fromEntries(cols.map((c) => [c, c]))), ...rows.map((r) => line(r))].join('\n');
}

/** `meetcore bench ...`: returns the exit code. */
export async function runBench(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  let o: BenchOptions;
  try {
    o = parseOptions(argv);
  } catch (err) {
    process.stderr.write(`meetcore bench: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  for (const flag of o.exposedSecrets) {
    const name = flag.slice(2) as keyof typeof SECRET_VARIABLES;
    process.stderr.write(`meetcore bench: warning: ${flag} is visible to every local user in the process list (ps); use --${name}-file FILE or ${SECRET_VARIABLES[name]} instead\n`);
  }
  try {
    const { report, files } = await runScenario(o);
    if (o.json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      return 0;
    }
    process.stdout.write(`\nmeetcore bench ${o.scenario} against ${report.target.url}${report.target.local ? ' (local)' : ''}\n${table(report)}\n`);
    if (report.ramp) {
      process.stdout.write(report.ramp.held
        ? `largest load that held: ${report.ramp.held.load.units} ${report.ramp.held.load.unit}${report.ramp.brokeAt ? ` (at ${report.ramp.brokeAt.load.units}: ${report.ramp.reason})` : report.ramp.reason ? ` (${report.ramp.reason})` : ' (the ramp reached --ramp-max)'}\n`
        : `no load held: ${report.ramp.reason}\n`);
    }
    for (const s of report.steps) {
      const ov = s.overlap;
      if (ov) process.stdout.write(`step ${s.index + 1} overlaps (${noiseText(report)}): truth ${ov.truth}, reported ${ov.reported}, matched ${ov.truePositives} (right interrupter ${ov.rightInterrupter}), precision ${ov.precision ?? '—'}, recall ${ov.recall ?? '—'}; backchannels ${ov.backchannels}, reported on them ${ov.reportedOnBackchannels}\n`);
    }
    for (const b of report.baselines) process.stdout.write(`  ${b.name}: ${b.throughput.value} ${b.throughput.unit}, p99 ${b.latency.p99Ms ?? '—'} ms, server CPU ${b.cpuPct ?? '—'}%\n`);
    for (const w of report.warnings) process.stdout.write(`warning: ${w}\n`);
    process.stdout.write(`report: ${files.html}\n        ${files.json}\n`);
    return 0;
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`meetcore bench: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`meetcore bench: ${(err as Error).stack ?? err}\n`);
    return 1;
  }
}
