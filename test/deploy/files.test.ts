/**
 * The deployment files of deploy/: the systemd unit passes `systemd-analyze verify` (Debian's systemd) with no
 * warning and carries the hardening the README promises; the environment template lists every variable
 * meetcore reads, once, and each default it shows is one meetcore accepts.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CONFIG_VARIABLES, loadConfig } from '../../src/config.js';
import { requireTools } from '../helpers/requires.js';
import { ROOT } from '../helpers/server.js';

requireTools(['systemd-analyze'], 'apt-get install -y --no-install-recommends systemd');

const unit = fs.readFileSync(path.join(ROOT, 'deploy/meetcore.service'), 'utf8');
const template = fs.readFileSync(path.join(ROOT, 'deploy/meetcore.env'), 'utf8');
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'meetcore-deploy-'));
test.after(() => fs.rmSync(work, { recursive: true, force: true }));

/** `Key=value` lines of one [Section] of the unit (later lines of a key win, as in systemd). */
function section(name: string): Map<string, string> {
  const out = new Map<string, string>();
  let current = '';
  for (const line of unit.split('\n')) {
    const m = /^\[(.+)\]$/.exec(line.trim());
    if (m) { current = m[1]!; continue; }
    if (current !== name || !line.trim() || line.startsWith('#')) continue;
    const i = line.indexOf('=');
    out.set(line.slice(0, i).trim(), line.slice(i + 1).trim());
  }
  return out;
}

test('systemd-analyze verify accepts the unit without a warning', () => {
  // verify checks that ExecStart= exists and is executable: point it at a real executable for the check.
  const file = path.join(work, 'meetcore.service');
  fs.writeFileSync(file, unit.replaceAll('/opt/meetcore/meetcore', '/bin/true'));
  const r = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  // systemd only warns (exit 0) about a value it cannot parse or a key it does not know: none may appear.
  assert.is(r.stderr.split('\n').filter((l) => l.includes('meetcore.service')).join('\n'), '');
});

test('the unit runs as a dedicated user, hardened, after coturn, with time to finalize recordings', () => {
  const unitSection = section('Unit');
  const service = section('Service');
  assert.match(unitSection.get('After') ?? '', /\bcoturn\.service\b/);
  assert.is(service.get('User'), 'meetcore');
  assert.is(service.get('StateDirectory'), 'meetcore');
  assert.match(service.get('Environment') ?? '', /DATA_DIR=\/var\/lib\/meetcore\/data STORAGE_DIR=\/var\/lib\/meetcore\/storage/);
  assert.is(service.get('ProtectSystem'), 'strict');
  assert.is(service.get('NoNewPrivileges'), 'yes');
  assert.is(service.get('Restart'), 'on-failure');
  assert.is(service.get('KillSignal'), 'SIGTERM');
  assert.ok(Number.parseInt(service.get('TimeoutStopSec') ?? '0', 10) >= 30, 'at least 30 s to finalize recordings');
  assert.is(service.get('ExecStart'), '/opt/meetcore/meetcore');
  assert.is(service.get('ExecStartPre'), '/opt/meetcore/meetcore check');
  assert.is(service.get('EnvironmentFile'), '/etc/meetcore/meetcore.env');
  // V8 writes machine code at run time: this one would stop meetcore from starting.
  assert.not.ok(service.has('MemoryDenyWriteExecute'));
});

test('the environment template lists every variable once, and its defaults are valid', () => {
  const lines = template.split('\n').map((l) => /^#?([A-Z][A-Z0-9_]+)=(.*)$/.exec(l)).filter((m): m is RegExpExecArray => m !== null);
  const names = lines.map((m) => m[1]!);
  assert.equal([...names].sort(), [...CONFIG_VARIABLES].sort());
  // Uncomment every line that shows a value: meetcore must accept them all (quotes read as systemd reads them).
  const env: Record<string, string> = { DATA_DIR: path.join(work, 'data'), STORAGE_DIR: path.join(work, 'storage') };
  for (const m of lines) {
    if (m[2] === '' || m[1] === 'DATA_DIR' || m[1] === 'STORAGE_DIR') continue;
    env[m[1]!] = m[2]!.replace(/^'(.*)'$/, '$1');
  }
  const config = loadConfig(env, work);
  assert.equal(config.STUN_SERVERS, ['stun:stun.l.google.com:19302']);
  assert.is(config.PUBLIC_URL, 'https://meet.example.com');
  assert.is(config.turnEnabled, false, 'TURN_SECRET is left for the user');
});

test.run();
