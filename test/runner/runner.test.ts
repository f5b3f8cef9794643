/**
 * scripts/test.mjs on fixture test files in a temporary folder: one process per file with a time limit, a
 * result line per file, every argument taken, a run of no test is a failure, and files that declare a missing
 * tool (requireTools) are skipped with the install command, or run after the runner installed the tool.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT } from '../helpers/server.js';

const RUNNER = path.join(ROOT, 'scripts/test.mjs');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meetcore-runner-'));
const bin = path.join(dir, 'bin');
fs.mkdirSync(bin);
fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'));
const REQUIRES = path.join(ROOT, 'test/helpers/requires.ts');

function write(rel: string, text: string): string {
  const file = path.join(dir, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  return file;
}
const head = "import { test } from 'uvu';\nimport * as assert from 'uvu/assert';\n";
const pass = write('a/pass.test.ts', `${head}test('one', () => assert.ok(true));\ntest('two', () => assert.ok(true));\ntest.run();\n`);
const failing = write('a/fail.test.ts', `${head}test('good', () => assert.ok(true));\ntest('bad', () => assert.is(1, 2));\ntest.run();\n`);
const needs = write('b/needs-tool.test.ts', `import { requireTools } from '${REQUIRES}';\n${head}`
  + "requireTools(['meetcore-fake-tool'], 'apt-get install -y --no-install-recommends meetcore-fake-pkg');\n"
  + "test('uses the tool', () => assert.ok(true));\ntest.run();\n");
const mustHave = write('b/must-have.test.ts', `import { requireTools } from '${REQUIRES}';\n${head}`
  + "requireTools(['meetcore-fake-tool'], 'apt-get install -y --no-install-recommends meetcore-fake-pkg', 'fail');\n"
  + "test('uses the tool', () => assert.ok(true));\ntest.run();\n");
const quoted = write('a2/quoted.test.ts', `${head}const text = "requireTools(['meetcore-fake-tool'], 'apt-get install -y --no-install-recommends meetcore-fake-pkg')";\n`
  + "test('mentions requireTools in a string only', () => assert.ok(text.length > 0));\ntest.run();\n");
const norun = write('d/norun.test.ts', `${head}test('registered but never run', () => assert.ok(true));\n`);
const empty = write('d/empty.test.ts', `${head}test.run();\n`);
const hang = write('c/hang.test.ts', `${head}test('never ends', () => new Promise(() => { setInterval(() => {}, 1000); }));\ntest.run();\n`);

interface Run { code: number | null; out: string; seconds: number }

function runner(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [RUNNER, ...args], {
      cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH}`, MEETCORE_TEST_INSTALL: '0', ...env },
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('close', (code) => resolve({ code, out: out.replace(/\x1b\[[0-9;]*m/g, ''), seconds: (Date.now() - started) / 1000 }));
  });
}

/** The summary table row of a file: [passed, failed, skipped, note]. */
function row(out: string, file: string): [number, number, number, string] {
  const line = out.split('\n').reverse().find((l) => l.startsWith(`${file} `));
  assert.ok(line, `no summary row for ${file} in:\n${out}`);
  const m = /^\S+\s+(\d+)\s+(\d+)\s+(\d+)\s+[\d.]+\s*(.*)$/.exec(line!)!;
  assert.ok(m, `unreadable row: ${line}`);
  return [Number(m[1]), Number(m[2]), Number(m[3]), m[4]!];
}

test('every file runs in its own process and gets a row; a failing file does not stop the others', async () => {
  const r = await runner([path.join(dir, 'a'), needs]);
  assert.is(r.code, 1, r.out);
  assert.equal(row(r.out, failing).slice(0, 3), [1, 1, 0]);
  assert.equal(row(r.out, pass).slice(0, 3), [2, 0, 0]);
  assert.equal(row(r.out, needs).slice(0, 3), [0, 0, 1]);
  assert.match(r.out, `SKIP ${needs}: missing meetcore-fake-tool; install with: apt-get install -y --no-install-recommends meetcore-fake-pkg`);
  assert.match(r.out, 'not installing missing test tools (MEETCORE_TEST_INSTALL=0)');
  assert.match(r.out, /3 passed, 1 failed, 1 skipped \(3 files\)/);
});

test('requireTools text inside a string is not a declaration (this file holds such strings)', async () => {
  const r = await runner([quoted], { MEETCORE_TEST_INSTALL: '1', MEETCORE_TEST_APT_GET: '/bin/false' });
  assert.is(r.code, 0, r.out);
  assert.equal(row(r.out, quoted).slice(0, 3), [1, 0, 0]);
  assert.not.match(r.out, 'installing');
});

test('all passing files: exit 0', async () => {
  const r = await runner([pass]);
  assert.is(r.code, 0, r.out);
  assert.match(r.out, /2 passed, 0 failed, 0 skipped \(1 files\)/);
});

test('an argument that selects nothing is an error, even beside one that does', async () => {
  const r = await runner(['no-such-test-file-pattern-xyz']);
  assert.is(r.code, 1, r.out);
  assert.match(r.out, 'no test file matches "no-such-test-file-pattern-xyz"');
  const r2 = await runner([pass, path.join(dir, 'bin')]);
  assert.is(r2.code, 1, r2.out);
  assert.match(r2.out, 'no test file matches');
});

test('a run where every file was skipped ran no test: exit 1', async () => {
  const r = await runner([needs]);
  assert.is(r.code, 1, r.out);
  assert.match(r.out, 'no test ran');
});

test("a tool declared with 'fail' is not skipped: the file runs and fails with the install command", async () => {
  const r = await runner([mustHave, pass]);
  assert.is(r.code, 1, r.out);
  assert.is(row(r.out, mustHave)[1], 1);
  assert.match(r.out, 'missing meetcore-fake-tool; install with: apt-get install -y --no-install-recommends meetcore-fake-pkg');
  assert.not.match(r.out, `SKIP ${mustHave}`);
});

test('a file that registers tests but never calls test.run(), or runs none, is counted failed', async () => {
  const r = await runner([norun, empty, pass]);
  assert.is(r.code, 1, r.out);
  const [p1, f1, , note1] = row(r.out, norun);
  assert.equal([p1, f1], [0, 1]);
  assert.match(note1, 'ran no test');
  assert.equal(row(r.out, empty).slice(0, 2), [0, 1]);
  assert.equal(row(r.out, pass).slice(0, 3), [2, 0, 0]);
});

test('a file over the time limit is killed and counted failed', async () => {
  // Only the hanging file: on 2 busy cores even a passing file may need 2 s to start.
  const r = await runner(['--timeout=2', hang]);
  assert.is(r.code, 1, r.out);
  const [, failed, , note] = row(r.out, hang);
  assert.is(failed, 1);
  assert.match(note, 'timed out after 2 s');
  assert.ok(r.seconds < 15, `took ${r.seconds} s`);
  const viaEnv = await runner([hang], { MEETCORE_TEST_TIMEOUT_SEC: '2' });
  assert.match(row(viaEnv.out, hang)[3], 'timed out after 2 s');
});

test('as root, the runner installs the packages of missing tools (printing the command) and then runs the file', async () => {
  if (process.getuid?.() !== 0) { console.log('  (not root: install path not checked)'); return; }
  const log = path.join(dir, 'apt.log');
  const fakeApt = write('fake-apt-get', `#!/bin/sh\necho "$@" >> '${log}'\nif [ "$1" = install ]; then printf '#!/bin/sh\\n' > '${bin}/meetcore-fake-tool'; chmod +x '${bin}/meetcore-fake-tool'; fi\n`);
  fs.chmodSync(fakeApt, 0o755);
  const r = await runner([needs], { MEETCORE_TEST_INSTALL: '1', MEETCORE_TEST_APT_GET: fakeApt });
  assert.is(r.code, 0, r.out);
  assert.match(r.out, `test runner: ${fakeApt} install -y --no-install-recommends meetcore-fake-pkg`);
  assert.equal(fs.readFileSync(log, 'utf8').trim().split('\n'), ['update -qq', 'install -y --no-install-recommends meetcore-fake-pkg']);
  assert.equal(row(r.out, needs).slice(0, 3), [1, 0, 0]);
  fs.rmSync(path.join(bin, 'meetcore-fake-tool'));
});

test('requireTools run directly (not through the runner) exits 77 with the install command', async () => {
  const r = await new Promise<Run>((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', needs], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('close', (code) => resolve({ code, out, seconds: 0 }));
  });
  assert.is(r.code, 77, r.out);
  assert.match(r.out, 'SKIP: missing meetcore-fake-tool; install with: apt-get install -y --no-install-recommends meetcore-fake-pkg');
});

test.after(() => { fs.rmSync(dir, { recursive: true, force: true }); });

test.run();
