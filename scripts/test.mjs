#!/usr/bin/env node
// Runs the uvu suites under test/ (TypeScript through tsx) and ends with a plain "N passed, N failed" line.
// Usage: node scripts/test.mjs [dir-or-pattern...]; exit code 1 when a test failed.
import { spawn } from 'node:child_process';

const args = process.argv.slice(2);
const target = args[0] ?? 'test';
const child = spawn(process.execPath, ['--import', 'tsx', 'node_modules/uvu/bin.js', target, '\\.test\\.ts$'], { stdio: ['ignore', 'pipe', 'inherit'] });
let out = '';
child.stdout.on('data', (d) => { process.stdout.write(d); out += d.toString(); });
child.on('exit', (code, signal) => {
  const plain = out.replace(/\x1b\[[0-9;]*m/g, '');
  const total = Number(/Total:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  const passed = Number(/Passed:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  const skipped = Number(/Skipped:\s+(\d+)/.exec(plain)?.[1] ?? 0);
  const failed = code === 0 ? total - passed - skipped : Math.max(1, total - passed - skipped);
  process.stdout.write(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  process.exit(code ?? (signal ? 1 : 0));
});
