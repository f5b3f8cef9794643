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
function bench(args: string[], timeoutMs = 120_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'bin/meetcore.js'), 'bench', ...args], { cwd: out, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

async function benchJson(args: string[]): Promise<BenchReport> {
  const r = await bench([...args, '--json', '--out', out]);
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
});

test('meeting against --target: the host hears the scripted overlaps', async () => {
  const host = await registerAccount(server);
  const r = await benchJson(['meeting', '--target', server.url, '--egress-secret', SECRET, '--token', host.accessToken, '--meetings', '1', '--participants', '3', '--duration', '12', '--settle', '0.5']);
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
    [['meeting', '--target', server.url, '--egress-secret', SECRET], /^meetcore bench: meeting against --target needs --token/],
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

test.run();
