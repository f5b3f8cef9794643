/**
 * Start-up check of DATA_DIR and STORAGE_DIR (src/config.ts checkWritableDirs), against the real `meetcore`
 * process: a folder on a read-only tmpfs stops the start with exit code 1 and a one-line error naming the
 * variable. Root ignores mode bits, so only a read-only mount shows that the check really creates a file.
 * Mounting needs root (CI runs as root): without it the tests fail saying so (test/helpers/mount.ts).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT } from '../helpers/server.js';
import { mountTmpfs, unmount } from '../helpers/mount.js';
import { checkWritableDir, ConfigError } from '../../src/config.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'meetcore-writable-'));
const readOnly = path.join(root, 'ro');
let mounted = false;

/** A read-only tmpfs at `readOnly` (mounted on first use), mode 0700: a private DATA_DIR but for being read-only. */
function readOnlyMount(): string {
  if (!mounted) {
    mountTmpfs(readOnly, 'size=1m,ro,mode=0700');
    mounted = true;
  }
  return readOnly;
}

test.after(() => {
  if (mounted) unmount(readOnly);
  fs.rmSync(root, { recursive: true, force: true });
});

/** Run `meetcore` (serve) with `env` until it exits (killed after 20 s); its exit code, stderr and stdout. */
function runServer(env: Record<string, string>): Promise<{ code: number | null; stderr: string; stdout: string }> {
  return new Promise((resolve) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/main.ts')], {
      cwd: ROOT, env: { ...process.env, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    let stdout = '';
    proc.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    proc.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
    proc.once('exit', (code) => { clearTimeout(timer); resolve({ code, stderr, stdout }); });
  });
}

const secrets = { JWT_ACCESS_SECRET: 'a'.repeat(32), JWT_REFRESH_SECRET: 'b'.repeat(32), EGRESS_SECRET: 'c'.repeat(32) };

test('STORAGE_DIR on a read-only mount: exit code 1, stderr names STORAGE_DIR and the OS error; nothing listens', async () => {
  const ro = readOnlyMount();
  const r = await runServer({ DATA_DIR: path.join(root, 'data1'), STORAGE_DIR: ro });
  assert.is(r.code, 1);
  assert.is(r.stderr, `meetcore: configuration error: STORAGE_DIR: ${ro} is not writable (EROFS: read-only file system)\n`);
  assert.not.match(r.stdout, /meetcore listening/);
});

test('a STORAGE_DIR that would have to be created on a read-only mount: "cannot be created"', async () => {
  const ro = readOnlyMount();
  const r = await runServer({ DATA_DIR: path.join(root, 'data2'), STORAGE_DIR: path.join(ro, 'storage') });
  assert.is(r.code, 1);
  assert.is(r.stderr, `meetcore: configuration error: STORAGE_DIR: ${path.join(ro, 'storage')} cannot be created (EROFS: read-only file system)\n`);
});

test('DATA_DIR on a read-only mount: exit code 1 naming DATA_DIR, with every secret given (nothing to store) and without', async () => {
  const ro = readOnlyMount();
  const given = await runServer({ ...secrets, DATA_DIR: ro, STORAGE_DIR: path.join(root, 'storage3') });
  assert.is(given.code, 1);
  assert.is(given.stderr, `meetcore: configuration error: DATA_DIR: ${ro} is not writable (EROFS: read-only file system)\n`);
  const generated = await runServer({ DATA_DIR: ro, STORAGE_DIR: path.join(root, 'storage4') });
  assert.is(generated.code, 1);
  assert.is(generated.stderr, `meetcore: configuration error: DATA_DIR: ${ro} is not writable (EROFS: read-only file system): cannot store the generated secrets\n`);
});

test('checkWritableDir creates a missing folder and leaves no probe file behind', () => {
  const dir = path.join(root, 'fresh', 'deeper');
  checkWritableDir('STORAGE_DIR', dir);
  assert.ok(fs.statSync(dir).isDirectory());
  assert.equal(fs.readdirSync(dir), []);
  const file = path.join(root, 'a-file');
  fs.writeFileSync(file, '');
  try {
    checkWritableDir('STORAGE_DIR', path.join(file, 'sub'));
    assert.unreachable('a folder under a file accepted');
  } catch (err) {
    assert.instance(err, ConfigError);
    assert.is((err as ConfigError).variable, 'STORAGE_DIR');
    assert.match((err as Error).message, /^STORAGE_DIR: .*a-file\/sub cannot be created \(ENOTDIR: not a directory\)$/);
  }
});

test.run();
