#!/usr/bin/env node
// Runs the uvu test files (TypeScript through tsx), each in its own process with a time limit, and ends with
// a table of every file's result and a plain "N passed, N failed, N skipped" line.
//
// Usage: node scripts/test.mjs [--timeout=SEC] [dir | file | pattern ...]
//   dir      every *.test.ts below it;  file  that file;
//   pattern  anything else: a regular expression matched against the paths of test/**/*.test.ts.
//   Default: test. An argument that selects no file is an error.
// Environment:
//   MEETCORE_TEST_TIMEOUT_SEC  time limit of one file in seconds (default 300; --timeout wins).
//   MEETCORE_TEST_INSTALL=0    never install missing tools; files that need them are skipped.
//   MEETCORE_TEST_APT_GET      the apt-get command to use (default apt-get; for the runner's own tests).
//
// Tools: a file that needs programs declares them at its top, at the start of a line, with
//   requireTools(['ffmpeg', 'ffprobe'], 'apt-get install -y --no-install-recommends ffmpeg');
// (test/helpers/requires.ts; a third argument 'fail' makes a missing tool a failure, not a skip). Before running anything, the runner reads these declarations; for tools not on
// PATH it installs the Debian packages named in the commands when it may (root, or `sudo -n true` works, and
// MEETCORE_TEST_INSTALL is not 0), printing the commands it runs; files whose tools are still missing are
// skipped, one line each with the install command. A file that exits with 77 (requireTools at run time)
// counts as skipped too.
//
// A file that exits 0 without running a test (uvu's "Total:" missing or 0) is counted failed.
// Exit code: 0 when every file that ran passed and at least one test ran; 1 otherwise.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const SKIP_EXIT_CODE = 77;
const DEFAULT_TIMEOUT_SEC = 300;

function fail(message) {
  process.stderr.write(`test runner: ${message}\n`);
  process.exit(1);
}

// ---- arguments ----
let timeoutSec = Number(process.env.MEETCORE_TEST_TIMEOUT_SEC || DEFAULT_TIMEOUT_SEC);
const targets = [];
for (const a of process.argv.slice(2)) {
  const m = /^--timeout=(.+)$/.exec(a);
  if (m) timeoutSec = Number(m[1]);
  else if (a.startsWith('--')) fail(`unknown option ${a}`);
  else targets.push(a);
}
if (!(timeoutSec > 0)) fail(`the time limit must be a positive number of seconds (got ${timeoutSec})`);
if (!targets.length) targets.push('test');

function testFilesUnder(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name.startsWith('.')) continue;
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...testFilesUnder(p));
    else if (e.isFile() && e.name.endsWith('.test.ts')) out.push(p);
  }
  return out.sort();
}

const files = [];
for (const t of targets) {
  let selected;
  const stat = fs.statSync(t, { throwIfNoEntry: false });
  if (stat?.isDirectory()) selected = testFilesUnder(t);
  else if (stat?.isFile()) selected = [t];
  else {
    let re;
    try { re = new RegExp(t); } catch (err) { fail(`${t}: neither a file, a folder nor a valid pattern (${err.message})`); }
    selected = fs.existsSync('test') ? testFilesUnder('test').filter((f) => re.test(f)) : [];
  }
  if (!selected.length) fail(`no test file matches ${JSON.stringify(t)} (a folder with *.test.ts files, a file, or a pattern over test/**/*.test.ts)`);
  for (const f of selected) if (!files.includes(f)) files.push(f);
}

// ---- tools ----
/** requireTools([...], '...') calls of a file: [{tools, install}]. */
function declarations(file) {
  const text = fs.readFileSync(file, 'utf8');
  const out = [];
  // Only calls that start a line: a test's source may hold the text of a call in a string (test/runner).
  for (const m of text.matchAll(/^requireTools\(\s*\[([^\]]*)\]\s*,\s*(['"`])([^'"`]*)\2\s*(?:,\s*(['"`])(skip|fail)\4\s*)?\)/gm)) {
    const tools = [...m[1].matchAll(/(['"`])([^'"`]+)\1/g)].map((x) => x[2]);
    out.push({ tools, install: m[3], onMissing: m[5] ?? 'skip' });
  }
  return out;
}

function onPath(tool) {
  return (process.env.PATH ?? '').split(path.delimiter).filter(Boolean).some((dir) => {
    try { fs.accessSync(path.join(dir, tool), fs.constants.X_OK); return true; } catch { return false; }
  });
}

/** Debian packages named by an install command ("apt-get install -y --no-install-recommends a b" → [a, b]). */
function packagesOf(install) {
  const words = install.trim().split(/\s+/);
  const i = words.indexOf('install');
  return i < 0 ? [] : words.slice(i + 1).filter((w) => !w.startsWith('-'));
}

/** Tools a file declares that are not on PATH: [{tool, install, onMissing}]. */
function missingOf(file) {
  return declarations(file).flatMap((d) => d.tools.filter((t) => !onPath(t)).map((tool) => ({ tool, install: d.install, onMissing: d.onMissing })));
}

function mayInstall() {
  if (process.env.MEETCORE_TEST_INSTALL === '0') return { ok: false, why: 'MEETCORE_TEST_INSTALL=0' };
  if (process.platform !== 'linux') return { ok: false, why: 'not Linux' };
  if (process.getuid?.() === 0) return { ok: true, sudo: [] };
  if (spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0) return { ok: true, sudo: ['sudo', '-n'] };
  return { ok: false, why: 'not root and no password-less sudo' };
}

function run(argv) {
  process.stdout.write(`test runner: ${argv.join(' ')}\n`);
  const r = spawnSync(argv[0], argv.slice(1), { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  return r.status === 0;
}

const wanted = new Set(files.flatMap((f) => missingOf(f).flatMap((m) => packagesOf(m.install))));
if (wanted.size) {
  const can = mayInstall();
  if (can.ok) {
    const apt = (process.env.MEETCORE_TEST_APT_GET || 'apt-get').split(/\s+/);
    const pkgs = [...wanted].sort();
    process.stdout.write(`test runner: installing the Debian packages of missing test tools (opt out: MEETCORE_TEST_INSTALL=0): ${pkgs.join(' ')}\n`);
    if (!run([...can.sudo, ...apt, 'update', '-qq']) || !run([...can.sudo, ...apt, 'install', '-y', '--no-install-recommends', ...pkgs])) {
      process.stdout.write('test runner: the installation failed; the files that need these tools are skipped\n');
    }
  } else {
    process.stdout.write(`test runner: not installing missing test tools (${can.why})\n`);
  }
}

// ---- running ----
const results = [];
const strip = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');

function runFile(file) {
  return new Promise((resolve) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', file], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => { process.stdout.write(d); out += d.toString(); });
    child.stderr.on('data', (d) => { process.stderr.write(d); err += d.toString(); });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try { process.kill(-child.pid, 'SIGKILL'); } catch { child.kill('SIGKILL'); }
    }, timeoutSec * 1000);
    // 'close' waits for the pipes; a leftover grandchild holding them must not stall the run, so the result
    // is taken at most 2 s after the file's process exited.
    let done = false;
    const finish = (code, signal) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      const seconds = (Date.now() - started) / 1000;
      const plain = strip(out);
      const num = (re) => Number(re.exec(plain)?.[1] ?? 0);
      const total = num(/Total:\s+(\d+)/);
      const passed = num(/Passed:\s+(\d+)/);
      const skipped = num(/Skipped:\s+(\d+)/);
      let failed = Math.max(0, total - passed - skipped);
      let note = '';
      if (timedOut) { failed = Math.max(1, failed); note = `timed out after ${timeoutSec} s`; }
      else if (code === SKIP_EXIT_CODE) note = `skipped: ${strip(err).trim().split('\n').pop()}`;
      else if (code !== 0) { failed = Math.max(1, failed); if (!total) note = `exit ${code ?? signal} before reporting`; }
      // A file that exits 0 having run no test (it registered none, or never called test.run()) guards nothing:
      // a failure. A file with nothing to run here says why and exits 77 (requireTools), which is a skip.
      else if (!/Total:\s+\d+/.test(plain) || total === 0) { failed = 1; note = 'ran no test (no test registered, or test.run() never called)'; }
      resolve({ file, passed, failed, skipped: code === SKIP_EXIT_CODE && !timedOut ? Math.max(1, skipped) : skipped, seconds, note, ran: code !== SKIP_EXIT_CODE || timedOut });
    };
    child.on('close', finish);
    child.on('exit', (code, signal) => { setTimeout(() => finish(code, signal), 2000).unref(); });
  });
}

for (const file of files) {
  // Tools declared with 'fail' do not skip the file: it runs and fails with requireTools' message.
  const missing = missingOf(file).filter((m) => m.onMissing === 'skip');
  if (missing.length) {
    const installs = [...new Set(missing.map((m) => m.install))].join('; ');
    const tools = [...new Set(missing.map((m) => m.tool))].join(', ');
    process.stdout.write(`SKIP ${file}: missing ${tools}; install with: ${installs}\n`);
    results.push({ file, passed: 0, failed: 0, skipped: 1, seconds: 0, note: `skipped: missing ${tools} (${installs})`, ran: false });
    continue;
  }
  process.stdout.write(`\n— ${file}\n`);
  results.push(await runFile(file));
}

// ---- report ----
const width = Math.max(4, ...results.map((r) => r.file.length));
const row = (c) => `${c[0].padEnd(width)}  ${c[1].padStart(6)}  ${c[2].padStart(6)}  ${c[3].padStart(7)}  ${c[4].padStart(7)}  ${c[5]}`;
const lines = [row(['file', 'passed', 'failed', 'skipped', 'seconds', ''])];
for (const r of results) lines.push(row([r.file, String(r.passed), String(r.failed), String(r.skipped), r.seconds.toFixed(1), r.note]));
const sum = (k) => results.reduce((n, r) => n + r[k], 0);
const passed = sum('passed');
const failed = sum('failed');
const skipped = sum('skipped');
process.stdout.write(`\n${lines.join('\n')}\n\n${passed} passed, ${failed} failed, ${skipped} skipped (${results.length} files)\n`);
if (passed + failed === 0) {
  process.stdout.write('test runner: no test ran\n');
  process.exit(1);
}
process.exit(failed ? 1 : 0);
