/**
 * DATA_DIR must be private to the user meetcore runs as (src/config.ts checkPrivateDir), in a checkout as in
 * the single executable: the real server process (`tsx src/main.ts`) refuses to start, exit code 1 and one
 * line naming DATA_DIR, the folder and what is wrong, when DATA_DIR is owned by another user, writable by its
 * group, or a symbolic link; a fresh DATA_DIR is created 0700 and the database with its -wal and -shm 0600;
 * an older install's 0644 database is set to 0600. Changing a folder's owner needs root (CI runs as root).
 * The binary's own folders (`native/`, `native/<hash>/`) are tested in test/deploy/binary.test.ts.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT, http, startTestServer } from '../helpers/server.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'meetcore-datadir-'));
test.after(() => fs.rmSync(root, { recursive: true, force: true }));

/** The uid of `nobody` (another local user). */
const nobody = Number(spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim());

/** Run the server with DATA_DIR `dataDir` until it exits (killed after 20 s): exit code and stderr. */
function runServer(dataDir: string): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/main.ts')], {
      cwd: ROOT, env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', DATA_DIR: dataDir, STORAGE_DIR: path.join(root, 'storage') },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    proc.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    proc.once('exit', (code) => { clearTimeout(timer); resolve({ code, stderr }); });
  });
}

const mode = (file: string): number => fs.statSync(file).mode & 0o7777;

test('a fresh DATA_DIR is created 0700; meetcore.db, its -wal and -shm and secrets.json are 0600', async () => {
  const server = await startTestServer();
  try {
    assert.is((await http('GET', `${server.url}/health`)).status, 200);
    assert.is(mode(server.dataDir).toString(8), '700');
    for (const f of ['meetcore.db', 'meetcore.db-wal', 'meetcore.db-shm', 'secrets.json']) assert.is(mode(path.join(server.dataDir, f)).toString(8), '600', f);
  } finally {
    await server.stop();
  }
});

test('an older install (DATA_DIR 0755, meetcore.db 0644) starts, and its database becomes 0600', async () => {
  const first = await startTestServer();
  assert.is(await first.stop(), 0);
  fs.chmodSync(first.dataDir, 0o755);
  fs.chmodSync(path.join(first.dataDir, 'meetcore.db'), 0o644);
  const again = await startTestServer({}, { dataDir: first.dataDir, storageDir: first.storageDir });
  try {
    assert.is(mode(path.join(first.dataDir, 'meetcore.db')).toString(8), '600');
    assert.is(mode(first.dataDir).toString(8), '755', 'a folder no one else can write keeps its mode');
  } finally {
    await again.stop();
  }
});

test('DATA_DIR owned by another user: exit code 1 naming the folder and its owner', async () => {
  const dir = path.join(root, 'foreign');
  fs.mkdirSync(dir, { mode: 0o700 });
  fs.chownSync(dir, nobody, nobody);
  const r = await runServer(dir);
  assert.is(r.code, 1, r.stderr);
  assert.is(r.stderr, `meetcore: configuration error: DATA_DIR: ${dir} is owned by uid ${nobody}, not by the running user (uid ${process.getuid!()})\n`);
  assert.not.ok(fs.existsSync(path.join(dir, 'meetcore.db')), 'nothing written in it');
});

test('DATA_DIR writable by its group, or by others: exit code 1 naming the mode', async () => {
  for (const bits of [0o770, 0o1777]) {
    const dir = path.join(root, `open-${bits.toString(8)}`);
    fs.mkdirSync(dir);
    fs.chmodSync(dir, bits);
    const r = await runServer(dir);
    assert.is(r.code, 1, r.stderr);
    assert.is(r.stderr, `meetcore: configuration error: DATA_DIR: ${dir} is writable by group or others (mode ${bits.toString(8).padStart(4, '0')}); chmod go-w it\n`);
    assert.not.ok(fs.existsSync(path.join(dir, 'secrets.json')), 'no secret stored in it');
  }
});

test('DATA_DIR a symbolic link (even to a private folder): exit code 1; the link is not followed', async () => {
  const real = path.join(root, 'real');
  fs.mkdirSync(real, { mode: 0o700 });
  const link = path.join(root, 'link');
  fs.symlinkSync(real, link);
  const r = await runServer(link);
  assert.is(r.code, 1, r.stderr);
  assert.is(r.stderr, `meetcore: configuration error: DATA_DIR: ${link} is a symbolic link (to ${real}); give the real folder\n`);
  assert.equal(fs.readdirSync(real), []);
});

test.run();
