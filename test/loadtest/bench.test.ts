/**
 * `meetcore bench` end to end, as a person runs it (`npx meetcore bench ...` → bin/meetcore.js): short runs of
 * each scenario against an already running test server (`--target`), one with the local server it starts
 * itself, ramps that stop at a deliberately low service level or at --ramp-max, and the exit code 2 of a bad
 * option or an unreachable target. No timing is asserted: the JSON must have the documented fields and figures
 * that follow from the load (messages delivered, audio accepted, overlaps found); the HTML report is checked in
 * chromium by report.test.ts.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { UsageError, parseOptions } from '../../src/loadtest/cli.js';
import type { BenchReport, Step } from '../../src/loadtest/types.js';
import { registerAccount } from '../helpers/auth.js';
import { ROOT, startTestServer, type TestServer } from '../helpers/server.js';

const SECRET = 'bench-test-egress-secret-0123456789';
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'meetcore-bench-test-'));
let server: TestServer;

test.before(async () => {
  server = await startTestServer({ EGRESS_SECRET: SECRET, SIO_MAX_SESSIONS_PER_IP: '1000' });
});
test.after(async () => {
  await server.stop();
  fs.rmSync(out, { recursive: true, force: true });
});

/** Run `npx meetcore bench ...` (bin/meetcore.js) to its end. */
function bench(args: string[], timeoutMs = 120_000, env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/meetcore.js'), 'bench', ...args], { cwd: out, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

async function benchJson(args: string[], env: Record<string, string> = {}): Promise<BenchReport> {
  const r = await bench([...args, '--json', '--out', out], 120_000, env);
  assert.is(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as BenchReport;
}

/** The fields the README's "Sizing a deployment" documents for every step. */
function assertStep(s: Step): void {
  for (const k of ['index', 'load', 'durationSec', 'throughput', 'latency', 'errors', 'server', 'generator', 'held', 'broke']) assert.ok(k in s, `step.${k}`);
  for (const k of ['p50Ms', 'p90Ms', 'p95Ms', 'p99Ms', 'maxMs', 'count']) assert.ok(k in s.latency, `latency.${k}`);
  assert.ok(s.durationSec > 0);
  assert.ok(s.server !== null, 'the test server\'s /metrics is reachable');
  for (const k of ['cpuPct', 'rssMiB', 'eventLoopP99Ms', 'cpuMsPerUnitSec', 'rssKiBPerUnit', 'series']) assert.ok(k in s.server!, `server.${k}`);
  assert.ok(s.server!.rssMiB > 10);
  assert.ok(s.generator.workers >= 1);
}

function assertReport(r: BenchReport, scenario: string): void {
  assert.is(r.tool, 'meetcore bench');
  assert.is(r.schema, 1);
  assert.is(r.scenario, scenario);
  for (const k of ['meetcoreVersion', 'startedAt', 'finishedAt', 'options', 'target', 'machine', 'steps', 'ramp', 'baselines', 'warnings']) assert.ok(k in r, k);
  assert.ok(r.machine.cores >= 1 && r.machine.node === process.versions.node);
  const stamp = r.startedAt.replace(/\.\d+Z$/, 'Z').replaceAll(':', '-');
  for (const ext of ['json', 'html']) assert.ok(fs.existsSync(path.join(out, `${scenario}-${stamp}.${ext}`)), `${scenario}-${stamp}.${ext} written`);
  assert.match(fs.readFileSync(path.join(out, `${scenario}-${stamp}.html`), 'utf8'), /<svg/);
  r.steps.forEach(assertStep);
}

test('signaling against --target: rooms join, ICE and chat are relayed and timed', async () => {
  const r = await benchJson(['signaling', '--target', server.url, '--rooms', '2', '--participants', '3', '--duration', '2', '--settle', '0.5', '--workers', '1']);
  assertReport(r, 'signaling');
  assert.equal(r.target, { url: server.url, local: false, serverVersion: r.meetcoreVersion, metrics: true });
  const [s] = r.steps as [Step];
  assert.equal(s.load, { units: 6, unit: 'participants', rooms: 2, participantsPerRoom: 3 });
  // 6 participants × (2 ICE/s + 0.2 chat/s × 2 listeners) ≈ 14.4 messages/s.
  assert.ok(s.throughput.value > 8 && s.throughput.value < 25, `throughput ${s.throughput.value}`);
  assert.is(s.throughput.unit, 'messages/s');
  assert.ok(s.latency.count > 20 && s.latency.p99Ms! > 0);
  assert.is(s.errors, 0);
  assert.is(s.held, true);
  assert.is(r.ramp, null);
});

test('signaling over Socket.IO with --compare: the three transports side by side', async () => {
  const r = await benchJson(['signaling', '--target', server.url, '--transport', 'sio', '--compare', '--rooms', '1', '--participants', '3', '--duration', '2', '--settle', '0.5', '--workers', '1']);
  assertReport(r, 'signaling');
  assert.equal(r.baselines.map((b) => b.name), ['sio', 'ws-json', 'ws-msgpack']);
  for (const b of r.baselines) assert.ok(b.throughput.value > 3 && b.latency.count > 5, `${b.name}: ${JSON.stringify(b)}`);
});

test('egress against --target with --egress-secret and --snr: real-time streams, audio accepted, nobody behind', async () => {
  const r = await benchJson(['egress', '--target', server.url, '--egress-secret', SECRET, '--streams', '3', '--frame-ms', '10', '--duration', '2', '--settle', '0.5', '--snr', '15']);
  assertReport(r, 'egress');
  assert.is(r.options.snrDb, 15, 'the SNR in the options');
  const [s] = r.steps as [Step];
  assert.equal(s.load, { units: 3, unit: 'streams', streams: 3 });
  assert.is(s.throughput.unit, 'stream-s/s');
  assert.ok(s.throughput.value > 2.5 && s.throughput.value < 3.5, `3 real-time streams: ${s.throughput.value} stream-s/s`);
  assert.is(s.behindRealTime, 0);
  assert.ok((s.server!.series.meetcore_egress_streams ?? 0) >= 3, JSON.stringify(s.server!.series));
  assert.is(s.errors, 0);
});

test('egress with a wrong --egress-secret: every stream refused, exit 1 naming the refusal', async () => {
  const r = await bench(['egress', '--target', server.url, '--egress-secret', 'not-the-secret-0123456789', '--streams', '2', '--duration', '1', '--out', out]);
  assert.is(r.code, 1);
  assert.match(r.stderr, /no egress load could be opened: egress refused: HTTP 401/);
  assert.match(r.stderr, /^meetcore bench: warning: --egress-secret is visible to every local user in the process list \(ps\); use --egress-secret-file FILE or BENCH_EGRESS_SECRET instead$/m);
});

test('meeting against --target, the egress secret from BENCH_EGRESS_SECRET and the token from --token-file: the host hears the scripted overlaps', async () => {
  const host = await registerAccount(server);
  const tokenFile = path.join(out, 'host-token');
  fs.writeFileSync(tokenFile, `${host.accessToken}\n`, { mode: 0o600 });
  const r = await benchJson(['meeting', '--target', server.url, '--token-file', tokenFile, '--meetings', '1', '--participants', '3', '--duration', '12', '--settle', '0.5'], { BENCH_EGRESS_SECRET: SECRET });
  assertReport(r, 'meeting');
  const [s] = r.steps as [Step];
  assert.equal(s.load, { units: 1, unit: 'meetings', meetings: 1, participantsPerMeeting: 3 });
  assert.ok(s.overlap !== undefined && s.overlap.truth >= 1, JSON.stringify(s.overlap));
  assert.ok(s.overlap.truePositives >= 1, `scripted overlaps found: ${JSON.stringify(s.overlap)}`);
  for (const k of ['rightInterrupter', 'backchannels', 'reportedOnBackchannels'] as const) assert.type(s.overlap[k], 'number', k);
  assert.ok(s.latency.count >= 1, 'feedback delivered to the host and timed');
  assert.is(r.options.snrDb, null, 'clean audio by default');
  const stamp = r.startedAt.replace(/\.\d+Z$/, 'Z').replaceAll(':', '-');
  assert.match(fs.readFileSync(path.join(out, `meeting-${stamp}.html`), 'utf8'), /<h2>Overlaps<\/h2><p class="note">Audio: clean \(no noise added\)/);
});

test('without --target: a local meetcore is started, measured and stopped', async () => {
  const r = await benchJson(['signaling', '--rooms', '1', '--participants', '2', '--duration', '2', '--settle', '0.5', '--workers', '1']);
  assertReport(r, 'signaling');
  assert.is(r.target.local, true);
  assert.match(r.target.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.ok(r.steps[0]!.throughput.value > 0);
  const health = await fetch(`${r.target.url}/health`).then(() => 'up', () => 'down');
  assert.is(health, 'down', 'the local server is stopped after the run');
});

test('--ramp stops at the first step over a deliberately low service level', async () => {
  const r = await benchJson(['signaling', '--target', server.url, '--ramp', '--rooms', '1', '--participants', '2', '--duration', '1.5', '--settle', '0.2', '--slo-p99-ms', '0.01', '--workers', '1']);
  assert.is(r.steps.length, 1);
  assert.is(r.steps[0]!.held, false);
  assert.match(r.steps[0]!.broke!, /^relay p99 [0-9.]+ ms > 0\.01 ms$/);
  assert.equal(r.ramp!.slo, { p99Ms: 0.01, errors: 0 });
  assert.is(r.ramp!.held, null);
  assert.is(r.ramp!.brokeAt!.index, 0);
});

test('--ramp adds load per step and ends at --ramp-max with the largest load that held', async () => {
  const r = await benchJson(['egress', '--target', server.url, '--egress-secret', SECRET, '--ramp', '--streams', '1', '--ramp-step', '2', '--ramp-max', '3', '--duration', '1.5', '--settle', '0.2', '--slo-backlog-ms', '5000']);
  assert.equal(r.steps.map((s) => s.load.units), [1, 3]);
  assert.ok(r.steps.every((s) => s.held));
  assert.is(r.ramp!.held!.load.units, 3);
  assert.is(r.ramp!.brokeAt, null);
});

test('bad options are refused with the option named (parseOptions)', () => {
  const cases: [string[], RegExp][] = [
    [['signaling', '--rooms', 'many'], /--rooms must be an integer from 1 to 100000, got "many"/],
    [['signaling', '--streams', '3'], /--streams is not an option of signaling/],
    [['video'], /unknown scenario "video"/],
    [[], /a scenario is required/],
    [['egress', '--frame-ms', '15'], /--frame-ms must be 10 or 20/],
    [['signaling', '--target', 'ftp://x'], /--target must be an http\(s\) URL/],
    [['signaling', '--bogus'], /Unknown option '--bogus'/],
    [['signaling', '--snr', '10'], /--snr is not an option of signaling/],
    [['meeting', '--snr', 'loud'], /--snr must be a number from -30 to 100, got "loud"/],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => parseOptions(args), (err: Error) => err instanceof UsageError && message.test(err.message), args.join(' '));
  }
  const o = parseOptions(['meeting', '--ramp']);
  assert.is(o.durationSec, 10, 'a ramp step measures 10 s by default');
  assert.is(o.rampStep, 3, 'a ramp adds the starting load per step');
  assert.is(o.snrDb, null, 'clean audio by default');
  assert.is(parseOptions(['meeting', '--snr', '12.5']).snrDb, 12.5);
});

test('a bad option, an unreachable target, a meeting without a host token: one line and exit code 2', async () => {
  const closedPort = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const { port } = s.address() as net.AddressInfo; s.close(() => resolve(port)); });
  });
  const cases: [string[], RegExp][] = [
    [['signaling', '--rooms', 'many'], /^meetcore bench: --rooms must be an integer from 1 to 100000, got "many"\nusage: meetcore bench/],
    [['signaling', '--target', `http://127.0.0.1:${closedPort}`, '--duration', '1'], new RegExp(`^meetcore bench: cannot reach http://127\\.0\\.0\\.1:${closedPort}: ECONNREFUSED\n$`)],
    [['meeting', '--target', server.url, '--egress-secret', SECRET], /^meetcore bench: meeting against --target needs --token-file, BENCH_TOKEN or --token/m],
  ];
  for (const [args, message] of cases) {
    const r = await bench([...args, '--out', out], 30_000);
    assert.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  const help = await bench(['--help']);
  assert.is(help.code, 0);
  assert.match(help.stdout, /^usage: meetcore bench <signaling\|egress\|meeting>/);
});

/** A local HTTP server answering with `handler`; counts every request and WebSocket upgrade it gets. */
async function fakeServer(handler: http.RequestListener): Promise<{ url: string; hits: string[]; close(): Promise<void> }> {
  const hits: string[] = [];
  const srv = http.createServer((req, res) => { hits.push(`${req.method} ${req.url}`); handler(req, res); });
  srv.on('upgrade', (req, socket) => { hits.push(`upgrade ${req.url}`); socket.destroy(); });
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(srv.address() as net.AddressInfo).port}`, hits, close: () => new Promise((resolve) => { srv.closeAllConnections(); srv.close(() => resolve()); }) };
}

test('a target that redirects: no redirect is followed (GET /health, POST /api/egress/url), exit code 2 naming the redirect', async () => {
  const elsewhere = await fakeServer((_req, res) => { res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok","version":"x","url":"ws://127.0.0.1:1/egress-audio"}'); });
  const redirectsAll = await fakeServer((req, res) => { res.writeHead(302, { location: `${elsewhere.url}${req.url}` }).end(); });
  const redirectsEgress = await fakeServer((req, res) => {
    if (req.url === '/health') res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok","version":"x"}');
    else if (req.url === '/api/egress/url') res.writeHead(307, { location: `${elsewhere.url}/api/egress/url` }).end();
    else res.writeHead(404).end();
  });
  const tokenFile = path.join(out, 'token');
  fs.writeFileSync(tokenFile, 'a-token-for-the-target', { mode: 0o600 });
  try {
    const health = await bench(['signaling', '--target', redirectsAll.url, '--duration', '1', '--workers', '1', '--out', out], 30_000);
    assert.is(health.code, 2, health.stderr);
    assert.is(health.stderr, `meetcore bench: GET ${redirectsAll.url}/health answered 302 (a redirect to ${elsewhere.url}/health): meetcore bench follows no redirect; give --target the server's own URL\n`);
    const egress = await bench(['egress', '--target', redirectsEgress.url, '--token-file', tokenFile, '--streams', '1', '--duration', '1', '--settle', '0', '--workers', '1', '--out', out], 30_000);
    assert.is(egress.code, 2, egress.stderr);
    assert.is(egress.stderr, `meetcore bench: POST ${redirectsEgress.url}/api/egress/url answered 307 (a redirect to ${elsewhere.url}/api/egress/url): meetcore bench follows no redirect; give --target the server's own URL\n`);
    assert.equal(elsewhere.hits, [], 'nothing reached the other origin');
  } finally {
    await Promise.all([elsewhere.close(), redirectsAll.close(), redirectsEgress.close()]);
  }
});

test('POST /api/egress/url returning a URL of another origin: no audio sent there, exit code 2 naming both origins', async () => {
  const elsewhere = await fakeServer((_req, res) => { res.writeHead(404).end(); });
  const wsElsewhere = elsewhere.url.replace(/^http/, 'ws');
  const target = await fakeServer((req, res) => {
    if (req.url === '/health') res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok","version":"x"}');
    else if (req.url === '/api/egress/url') res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ url: `${wsElsewhere}/egress-audio?roomName=r&participant=p0&trackId=t&exp=9999999999&sig=x` }));
    else res.writeHead(404).end();
  });
  try {
    const r = await bench(['egress', '--target', target.url, '--streams', '1', '--duration', '1', '--settle', '0', '--workers', '1', '--out', out], 30_000, { BENCH_TOKEN: 'a-token-for-the-target' });
    assert.is(r.code, 2, r.stderr);
    assert.is(r.stderr, `meetcore bench: POST ${target.url}/api/egress/url returned a URL on ${wsElsewhere}, not on ${target.url.replace(/^http/, 'ws')}: meetcore bench streams audio only to the server it was given; give --target the server's public URL (its PUBLIC_URL)\n`);
    assert.equal(elsewhere.hits, [], 'no stream opened on the other origin');
    assert.ok(target.hits.includes('POST /api/egress/url'), 'the token came from BENCH_TOKEN (else: exit 2 asking for one)');
  } finally {
    await Promise.all([elsewhere.close(), target.close()]);
  }
});

test('secrets: from --token-file / --egress-secret-file, the variables, or the flags; not a flag and a file at once', () => {
  const file = path.join(out, 'secret');
  fs.writeFileSync(file, 'from-the-file-0123456789\r\n');
  const empty = path.join(out, 'empty');
  fs.writeFileSync(empty, '\n');
  const env = { BENCH_TOKEN: 'from-env-token', BENCH_EGRESS_SECRET: 'from-env-secret-0123456789' };
  let o = parseOptions(['egress', '--egress-secret-file', file], env);
  assert.is(o.egressSecret, 'from-the-file-0123456789');
  assert.is(o.token, 'from-env-token');
  assert.equal(o.exposedSecrets, []);
  o = parseOptions(['meeting', '--token', 'on-the-command-line'], env);
  assert.is(o.token, 'on-the-command-line');
  assert.is(o.egressSecret, 'from-env-secret-0123456789');
  assert.equal(o.exposedSecrets, ['--token']);
  assert.is(parseOptions(['signaling'], {}).token, null);
  const cases: [string[], RegExp][] = [
    [['egress', '--token', 'x', '--token-file', file], /^give --token or --token-file, not both$/],
    [['egress', '--egress-secret-file', empty], new RegExp(`^--egress-secret-file ${empty} is empty$`)],
    [['egress', '--token-file', path.join(out, 'missing')], /^--token-file .*missing cannot be read \(ENOENT\)$/],
    [['signaling', '--egress-secret-file', file], /--egress-secret-file is not an option of signaling/],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => parseOptions(args, {}), (err: Error) => err instanceof UsageError && message.test(err.message), args.join(' '));
  }
});

test.run();
