/**
 * The single executable (`npm run build:binary` → dist/meetcore) on its own: copied alone into an empty folder
 * and run there with a clean environment (only PATH, pointing at an empty folder: no `node`, no
 * node_modules reachable, and meetcore's variables). It must serve /health, /ws signaling, Socket.IO and
 * egress audio as `npm start` does, run `meetcore bench` (workers included), finalize a recording on SIGTERM,
 * and reuse its extracted addons on the next start; `meetcore check` must fail naming STORAGE_DIR when that
 * folder is read-only. The binary is built
 * here unless dist/meetcore is newer than every source (scripts/build-binary.ts binaryIsFresh).
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { SignalingClient } from '../../src/client/index.js';
import { BINARY, binaryIsFresh, buildBinary } from '../../scripts/build-binary.js';
import { registerAndLogin } from '../helpers/auth.js';
import { STREAM_QUEUE_MS, ROOT, http, startTestServer, type SpawnAs, type TestServer } from '../helpers/server.js';
import { sioConnect } from '../helpers/sio.js';
import { mountTmpfs, unmount } from '../helpers/mount.js';
import { FRAME_BYTES, SECRET, closed, open, parseWav, sendPcm, sha256, signedEgressUrl, speechFixtures, waitFor } from '../egress/helpers.js';

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'meetcore-binary-test-'));
const home = path.join(work, 'vps');            // the binary alone
const emptyBin = path.join(work, 'empty-bin');  // PATH: nothing in it
const dirs = { dataDir: path.join(work, 'data'), storageDir: path.join(work, 'storage') };
const readOnly = path.join(work, 'ro');
let binary = '';
let as: SpawnAs;
const [speech] = speechFixtures();

test.before(async () => {
  if (!binaryIsFresh()) {
    for (const line of await buildBinary({ smoke: false })) console.log(line);
  }
  fs.mkdirSync(home, { recursive: true });
  fs.mkdirSync(emptyBin, { recursive: true });
  binary = path.join(home, 'meetcore');
  fs.copyFileSync(BINARY, binary);
  fs.chmodSync(binary, 0o755);
  assert.equal(fs.readdirSync(home), ['meetcore']);
  as = { command: [binary], cwd: home, baseEnv: { PATH: emptyBin } };
});
test.after(() => {
  unmount(readOnly);
  fs.rmSync(work, { recursive: true, force: true });
});

/** Run the binary with the clean environment and `env`; returns exit code and output. */
function run(args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(binary, args, { cwd: home, env: { PATH: emptyBin, ...env }, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('--version answers without any configuration, and nothing outside the folder is needed', () => {
  const r = run(['--version']);
  assert.is(r.status, 0, r.stderr);
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.is(r.stdout.trim(), `meetcore ${pkg.version} (node ${process.versions.node}, single executable)`);
  assert.is.not(spawnSync('/bin/sh', ['-c', 'command -v node'], { env: { PATH: emptyBin } }).status, 0, 'no node on the PATH the binary gets');
});

test('serves /health, /ws, Socket.IO and egress audio; SIGTERM finalizes the recording; the next start reuses the addons', async () => {
  const env = { EGRESS_SECRET: SECRET, AUDIO_STREAM_QUEUE_MS: STREAM_QUEUE_MS };
  let server: TestServer = await startTestServer(env, dirs, as);
  const clients: SignalingClient[] = [];
  try {
    const nativeLog = () => server.logs.find((l) => l.msg === 'native addons') as { dir: string; written: string[]; reused: string[] } | undefined;
    const first = await waitFor(nativeLog, '"native addons" log line');
    assert.equal([...first.written].sort(), ['better_sqlite3.node', 'meetcore_audio.node', `uws_linux_x64_${process.versions.modules}.node`]);
    assert.equal(first.reused, []);
    assert.ok(first.dir.startsWith(path.join(dirs.dataDir, 'native') + path.sep), first.dir);
    assert.is(fs.statSync(first.dir).mode & 0o777, 0o700);

    const health = await http('GET', `${server.url}/health`);
    assert.is(health.status, 200);
    assert.is(health.body.status, 'ok');

    // /ws: two clients in a room, an offer relayed.
    for (let i = 0; i < 2; i++) clients.push(await new SignalingClient({ url: server.wsUrl, WebSocket, timeoutMs: 5000 }).connect());
    const [a, b] = clients as [SignalingClient, SignalingClient];
    await a.join('binary-room', 'Alice');
    await b.join('binary-room', 'Bob');
    const offer = b.next('offer');
    a.offer(b.participantId!, { type: 'offer', sdp: 'v=0 from the binary test' });
    assert.equal(await offer, { type: 'offer', from: a.participantId, sdp: { type: 'offer', sdp: 'v=0 from the binary test' } });

    // Socket.IO: a socket.io-client connects and joins the same room.
    const { socket, participantId } = await sioConnect(server.url);
    try {
      const seen = a.next('user-connected');
      socket.emit('join-room', { roomId: 'binary-room', name: 'Sio' });
      assert.is((await seen).participantId, participantId);
    } finally {
      socket.disconnect();
    }

    // Egress: one stream of real speech, closed by the client; one left open for SIGTERM.
    const auth = await registerAndLogin(server);
    const done = await open(signedEgressUrl(server, { roomName: 'binary-egress', participant: 'alice', trackId: 'TR_a' }));
    await sendPcm(done, speech);
    const doneClosed = closed(done);
    done.close();
    await doneClosed;
    const { meetingId } = await poll(async () => {
      const list = await http('GET', `${server.url}/api/sessions`, undefined, auth);
      return (list.body.sessions as { meetingId: string; roomName: string }[]).find((s) => s.roomName === 'binary-egress');
    }, 'the session in GET /api/sessions');
    const complete = await pollRecording(server, meetingId, auth, 'alice', (r) => r.status === 'COMPLETE');
    assert.is(complete.bytes, speech.length);
    const wav = parseWav(path.join(dirs.storageDir, complete.path));
    assert.equal([wav.format, wav.channels, wav.sampleRate, wav.byteRate, wav.blockAlign, wav.bitsPerSample], [1, 2, 48000, 192000, 4, 16]);
    assert.is(wav.dataSize, speech.length);
    assert.is(wav.riffSize, wav.fileSize - 8);
    assert.is(sha256(wav.data), sha256(speech));

    const open2 = await open(signedEgressUrl(server, { roomName: 'binary-egress', participant: 'bob', trackId: 'TR_b', meetingId }));
    const partial = speech.subarray(0, FRAME_BYTES * 150);
    await sendPcm(open2, partial);
    const recording = await pollRecording(server, meetingId, auth, 'bob', () => true);
    const bobFile = path.join(dirs.storageDir, recording.path);
    await waitFor(() => fs.existsSync(bobFile) && fs.statSync(bobFile).size >= 44 + partial.length, 'bob\'s audio written');
    const shutdown = closed(open2);
    for (const c of clients.splice(0)) c.close();
    assert.is(await server.stop(), 0, 'SIGTERM: graceful exit');
    assert.equal(await shutdown, { code: 1001, reason: 'server shutting down' });
    const final = parseWav(bobFile);
    assert.is(final.dataSize, partial.length);
    assert.is(final.riffSize, final.fileSize - 8);
    assert.is(sha256(final.data), sha256(partial));

    // Second start, same DATA_DIR: the addons are found intact and reused; the data is still there.
    server = await startTestServer(env, dirs, as);
    const second = await waitFor(nativeLog, '"native addons" log line');
    assert.is(second.dir, first.dir);
    assert.equal(second.written, []);
    assert.is(second.reused.length, 3);
    const bob = await pollRecording(server, meetingId, auth, 'bob', (r) => r.status === 'COMPLETE');
    assert.is(bob.bytes, partial.length);
    assert.match(bob.closeReason ?? '', /^1001 /);

    // The load tool is in the binary too: its worker processes are the binary again (no node on PATH).
    const load = await runAsync(['bench', 'signaling', '--target', server.url, '--rooms', '1', '--participants', '2', '--duration', '1', '--settle', '0.2', '--workers', '1', '--json', '--out', path.join(work, 'bench')]);
    assert.is(load.status, 0, load.stderr);
    const report = JSON.parse(load.stdout) as { steps: { throughput: { value: number }; errors: number }[] };
    assert.ok(report.steps[0]!.throughput.value > 0 && report.steps[0]!.errors === 0, load.stdout.slice(0, 500));
    assert.ok(fs.readdirSync(path.join(work, 'bench')).some((f) => f.endsWith('.html')));

    // An addon altered on disk is written again from the binary (checked by sha256).
    assert.is(await server.stop(), 0);
    const audio = path.join(first.dir, 'meetcore_audio.node');
    fs.chmodSync(audio, 0o600);
    fs.appendFileSync(audio, 'tampered');
    server = await startTestServer(env, dirs, as);
    const third = await waitFor(nativeLog, '"native addons" log line');
    assert.equal(third.written, ['meetcore_audio.node']);
    assert.is((await http('GET', `${server.url}/health`)).status, 200);
  } finally {
    for (const c of clients) c.close();
    await server.stop();
  }
});

/** Run the binary without blocking this process (the server under test lives in it). */
function runAsync(args: string[], env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(binary, args, { cwd: home, env: { PATH: emptyBin, ...env } });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('exit', (status) => { clearTimeout(timer); resolve({ status, stdout, stderr }); });
  });
}

interface RecordingView { participant: string; path: string; bytes: number; status: string; closeReason: string | null }

/** Poll the async `fn` until it returns a value (or throw after 15 s naming `what`). */
async function poll<T>(fn: () => Promise<T | undefined>, what: string): Promise<T> {
  const until = Date.now() + 15_000;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Poll GET /api/sessions/:meetingId until `participant`'s recording satisfies `ok`. */
function pollRecording(server: TestServer, meetingId: string, auth: Record<string, string>, participant: string, ok: (r: RecordingView) => boolean): Promise<RecordingView> {
  return poll(async () => {
    const res = await http('GET', `${server.url}/api/sessions/${meetingId}`, undefined, auth);
    const r = (res.body.recordings as RecordingView[] | undefined)?.find((x) => x.participant === participant);
    return r && ok(r) ? r : undefined;
  }, `the recording of ${participant} in GET /api/sessions/${meetingId}`);
}

/** The uid of `nobody` (another local user; changing owners needs root, as CI runs). */
const nobody = Number(spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim());
const modeOf = (file: string): string => (fs.lstatSync(file).mode & 0o7777).toString(8);

/** Serve with DATA_DIR `dataDir` until the binary exits (killed after 20 s): exit code and stderr. */
function serve(dataDir: string): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(binary, [], { cwd: home, env: { PATH: emptyBin, HOST: '127.0.0.1', PORT: '0', DATA_DIR: dataDir, STORAGE_DIR: path.join(work, 'storage-private') }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('exit', (status) => { clearTimeout(timer); resolve({ status, stderr }); });
  });
}

test('DATA_DIR, native/ and native/<hash>/ are created 0700 and must stay private; the database is 0600', async () => {
  const dataDir = path.join(work, 'private', 'data');
  const server = await startTestServer({}, { dataDir, storageDir: path.join(work, 'private', 'storage') }, as);
  const hashDir = (await waitFor(() => server.logs.find((l) => l.msg === 'native addons') as { dir: string } | undefined, '"native addons" log line')).dir;
  const nativeDir = path.dirname(hashDir);
  try {
    assert.is(nativeDir, path.join(dataDir, 'native'));
    for (const d of [dataDir, nativeDir, hashDir]) assert.is(modeOf(d), '700', d);
    for (const f of ['meetcore.db', 'meetcore.db-wal', 'meetcore.db-shm', 'secrets.json']) assert.is(modeOf(path.join(dataDir, f)), '600', f);
  } finally {
    assert.is(await server.stop(), 0);
  }
  const uid = process.getuid!();
  const refused = async (why: string): Promise<void> => {
    const r = await serve(dataDir);
    assert.is(r.status, 1, r.stderr);
    assert.is(r.stderr, `meetcore: configuration error: DATA_DIR: ${why}\n`);
  };
  for (const dir of [dataDir, nativeDir, hashDir]) {
    fs.chownSync(dir, nobody, nobody);
    await refused(`${dir} is owned by uid ${nobody}, not by the running user (uid ${uid})`);
    fs.chownSync(dir, uid, 0);
    fs.chmodSync(dir, 0o770);
    await refused(`${dir} is writable by group or others (mode 0770); chmod go-w it`);
    fs.chmodSync(dir, 0o700);
  }
  // <hash>/ replaced by a symbolic link to a private folder holding the very same addons: still refused.
  const elsewhere = path.join(work, 'private', 'elsewhere');
  fs.renameSync(hashDir, elsewhere);
  fs.symlinkSync(elsewhere, hashDir);
  await refused(`${hashDir} is a symbolic link (to ${elsewhere}); give the real folder`);
  fs.unlinkSync(hashDir);
  fs.renameSync(elsewhere, hashDir);

  // Addon files that hash right but are a symbolic link (not followed: O_NOFOLLOW) or another user's (who
  // could change them after the check) are written again as regular files of this user.
  const audio = path.join(hashDir, 'meetcore_audio.node');
  const sqlite = path.join(hashDir, 'better_sqlite3.node');
  const copy = path.join(work, 'private', 'meetcore_audio.node');
  fs.renameSync(audio, copy);
  fs.symlinkSync(copy, audio);
  fs.chownSync(sqlite, nobody, nobody);
  const again = await startTestServer({}, { dataDir, storageDir: path.join(work, 'private', 'storage') }, as);
  try {
    const log = await waitFor(() => again.logs.find((l) => l.msg === 'native addons') as { written: string[]; reused: string[] } | undefined, '"native addons" log line');
    assert.equal([...log.written].sort(), ['better_sqlite3.node', 'meetcore_audio.node']);
    assert.is(log.reused.length, 1);
    for (const f of [audio, sqlite]) {
      const st = fs.lstatSync(f);
      assert.ok(st.isFile() && st.uid === uid, f);
      assert.is(modeOf(f), '500', f);
    }
    assert.is((await http('GET', `${again.url}/health`)).status, 200);
  } finally {
    await again.stop();
  }
});

test('`meetcore check` passes on good folders and fails naming STORAGE_DIR when it is read-only', () => {
  const good = run(['check'], { DATA_DIR: dirs.dataDir, STORAGE_DIR: path.join(work, 'storage-ok'), PORT: '0' });
  assert.is(good.status, 0, good.stderr);
  assert.match(good.stdout, /^ok +STORAGE_DIR /m);
  assert.match(good.stdout, /^off +LiveKit /m);
  mountTmpfs(readOnly, 'size=1m,ro');
  const bad = run(['check'], { DATA_DIR: dirs.dataDir, STORAGE_DIR: readOnly, PORT: '0' });
  assert.is(bad.status, 1);
  assert.match(bad.stdout, /^FAIL STORAGE_DIR /m);
  assert.match(bad.stderr, new RegExp(`meetcore check: failed: STORAGE_DIR: ${readOnly} is not writable \\(EROFS`));
});

test('`meetcore check` fails naming PORT when the port is taken', async () => {
  const taken = net.createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const port = (taken.address() as net.AddressInfo).port;
  try {
    const r = await runAsync(['check'], { DATA_DIR: dirs.dataDir, STORAGE_DIR: path.join(work, 'storage-ok'), HOST: '127.0.0.1', PORT: String(port) });
    assert.is(r.status, 1);
    assert.match(r.stdout, new RegExp(`^FAIL PORT +127\\.0\\.0\\.1:${port} cannot be bound \\(EADDRINUSE\\)`, 'm'));
    assert.match(r.stderr, /^meetcore check: failed: PORT: /m);
  } finally {
    taken.close();
  }
});

test('a bad variable stops `meetcore check` and the server with the variable\'s name', () => {
  const r = run(['check'], { DATA_DIR: dirs.dataDir, PORT: 'eighty' });
  assert.is(r.status, 1);
  assert.match(r.stderr, /^meetcore: configuration error: PORT: invalid value "eighty"/);
});

test('`npm run build:release` packs the binary, turnserver.conf, the unit, the environment template and INSTALL', () => {
  const r = spawnSync('npm', ['run', '--silent', 'build:release'], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  assert.is(r.status, 0, r.stderr);
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const name = `meetcore-${pkg.version}-linux-x64`;
  const archive = path.join(ROOT, 'dist', `${name}.tar.gz`);
  assert.match(r.stdout, new RegExp(`dist/${name}\\.tar\\.gz: [0-9.]+ MiB, sha256 [0-9a-f]{64}`));
  const out = path.join(work, 'release');
  fs.mkdirSync(out);
  assert.is(spawnSync('tar', ['-xzf', archive, '-C', out]).status, 0);
  assert.equal(fs.readdirSync(path.join(out, name)).sort(), ['INSTALL', 'meetcore', 'meetcore.env', 'meetcore.service', 'turnserver.conf']);
  assert.is(sha256(fs.readFileSync(path.join(out, name, 'meetcore'))), sha256(fs.readFileSync(BINARY)));
  assert.is(fs.statSync(path.join(out, name, 'meetcore')).mode & 0o111, 0o111);
  assert.is(fs.readFileSync(path.join(out, name, 'meetcore.service'), 'utf8'), fs.readFileSync(path.join(ROOT, 'deploy/meetcore.service'), 'utf8'));
});

test.run();
