/**
 * Regression test of the installed uWebSockets.js for the asynchronous-upgrade cork bug
 * (uNetworking/uWebSockets.js#1108, fixed in uWS by uNetworking/uWebSockets#1929): an upgrade handler that
 * awaits work done on libuv's thread pool (jose's `jwtVerify`, whose HMAC runs in WebCrypto) and then
 * completes the upgrade with `res.cork(() => res.upgrade(...))`. A uWS with the bug closes many of those
 * WebSockets right after `open`: the client gets the 101, then a FIN without a close frame (1006).
 *
 * The app is a bare uWS app in a child process started with MALLOC_PERTURB_=16: glibc fills freed memory with
 * 0x10, so the stale state word reads "Connection: close, no response pending" (HTTP_CONNECTION_CLOSE = 16,
 * HTTP_RESPONSE_PENDING = 8 clear) instead of whatever the heap last held, and the bug shows on most sockets
 * instead of rarely. Each client waits for the server's greeting sent in `open`, then for the echo of its own
 * message, then closes with 1000; anything else counts as a lost socket. The synchronous upgrade of the same
 * app is the control.
 *
 * What the installed package is expected to do is KNOWN_CORK_BUG below, measured and recorded in the README
 * ("uWebSockets.js provenance"): a package listed there must still lose sockets (so that this test notices when
 * a new package fixes the bug, and the upgrade path can go back to jose's asynchronous jwtVerify); any other
 * package must lose none. The last test runs the real server under the same heap filling: its /ws and
 * Socket.IO websocket upgrades with `?token=` are decided synchronously (src/signaling/ws.ts, socketio.ts) and
 * must all complete a round trip (`join-room` → `room-joined`, `user:join` → `user:joined`).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { SignJWT } from 'jose';
import { io as ioClient } from 'socket.io-client';
import WebSocket from 'ws';
import { registerAccount, tryJoin } from '../helpers/auth.js';
import { ROOT, startTestServer } from '../helpers/server.js';

const CLIENTS = 60;
const AT_ONCE = 10;
/** The real server loses fewer sockets to the bug than the bare app (2 to 15 of 120 when its upgrade awaited), so more clients. */
const REAL_CLIENTS = 120;
const SECRET = 'uws-cork-regression-secret';
const PERTURB = { MALLOC_PERTURB_: '16' };

/** Installed uWebSockets.js packages (`name@version` of node_modules/uWebSockets.js) measured to have the bug. */
const KNOWN_CORK_BUG = new Set(['uwebsockets@3.0.6']);
const installedPkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules/uWebSockets.js/package.json'), 'utf8')) as { name: string; version: string };
const installed = `${installedPkg.name}@${installedPkg.version}`;

/** The uWS app: `/async` awaits jose's jwtVerify of `?token=`, then corks the upgrade; `/sync` upgrades in the handler. */
const SERVER = `
import uWS from 'uWebSockets.js';
import { jwtVerify } from 'jose';
const key = new TextEncoder().encode(${JSON.stringify(SECRET)});
const handlers = {
  open: (ws) => ws.send('hello'),
  message: (ws, message, isBinary) => ws.send(message, isBinary),
};
uWS.App()
  .ws('/async', {
    ...handlers,
    upgrade: async (res, req, context) => {
      const headers = ['sec-websocket-key', 'sec-websocket-protocol', 'sec-websocket-extensions'].map((h) => req.getHeader(h));
      const token = new URLSearchParams(req.getQuery() ?? '').get('token') ?? '';
      let aborted = false;
      res.onAborted(() => { aborted = true; });
      let ok = true;
      try { await jwtVerify(token, key, { algorithms: ['HS256'] }); } catch { ok = false; }
      if (aborted) return;
      res.cork(() => {
        if (ok) res.upgrade({}, headers[0], headers[1], headers[2], context);
        else res.writeStatus('401 Unauthorized').end();
      });
    },
  })
  .ws('/sync', handlers)
  .listen('127.0.0.1', 0, (socket) => {
    if (!socket) { console.error('listen failed'); process.exit(1); }
    console.log('port ' + uWS.us_socket_local_port(socket));
  });
`;

async function startServer(): Promise<{ port: number; proc: ChildProcess }> {
  const proc = spawn(process.execPath, ['--input-type=module', '-e', SERVER], {
    cwd: ROOT,
    env: { ...process.env, ...PERTURB },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`uWS app did not listen within 10 s: ${err}`)), 10_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /port (\d+)/.exec(out);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`uWS app exited with ${code}: ${err}`)); });
  });
  return { port, proc };
}

/** One client: 'ok' after greeting, echo and a clean close; otherwise what went wrong (e.g. 'close 1006 after open'). */
function session(url: string): Promise<string> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    let stage = 'connecting';
    const timer = setTimeout(() => { ws.terminate(); resolve(`timeout while ${stage}`); }, 5_000);
    ws.on('open', () => { stage = 'open'; });
    ws.on('message', (data) => {
      const text = data.toString();
      if (stage === 'open' && text === 'hello') { stage = 'greeted'; ws.send('ping'); }
      else if (stage === 'greeted' && text === 'ping') { stage = 'echoed'; ws.close(1000); }
    });
    ws.on('error', () => { /* the close event says what happened */ });
    ws.on('close', (code) => {
      clearTimeout(timer);
      resolve(stage === 'echoed' && code === 1000 ? 'ok' : `close ${code} after ${stage}`);
    });
  });
}

async function run(url: string): Promise<Map<string, number>> {
  const outcomes = new Map<string, number>();
  for (let done = 0; done < CLIENTS; done += AT_ONCE) {
    const batch = await Promise.all(Array.from({ length: AT_ONCE }, () => session(url)));
    for (const o of batch) outcomes.set(o, (outcomes.get(o) ?? 0) + 1);
  }
  return outcomes;
}

test(`the README's "uWebSockets.js provenance" records the installed ${installed} and the sha256 of the binary it loads`, () => {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('### uWebSockets.js provenance');
  assert.ok(start >= 0, 'README has no "uWebSockets.js provenance" section');
  const section = readme.slice(start, readme.indexOf('\n#', start + 1));
  const binary = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  const sha256 = createHash('sha256').update(fs.readFileSync(path.join(ROOT, 'node_modules/uWebSockets.js', binary))).digest('hex');
  assert.ok(section.includes(`npm:${installed}`), `the section does not name npm:${installed}`);
  assert.ok(section.includes(sha256), `the section does not record ${binary}'s sha256 ${sha256}`);
});

let server: { port: number; proc: ChildProcess };
test.before(async () => { server = await startServer(); });
test.after(() => { server?.proc.kill('SIGKILL'); });

test(`control: ${CLIENTS} synchronous upgrades all open, greet, echo and close with 1000`, async () => {
  const outcomes = await run(`ws://127.0.0.1:${server.port}/sync`);
  assert.equal(Object.fromEntries(outcomes), { ok: CLIENTS });
});

test(`${installed}: upgrades corked after an awaited jose jwtVerify ${KNOWN_CORK_BUG.has(installed) ? 'still lose sockets (known bug)' : 'all open, greet, echo and close with 1000'}`, async () => {
  const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(SECRET));
  const outcomes = Object.fromEntries(await run(`ws://127.0.0.1:${server.port}/async?token=${token}`));
  if (KNOWN_CORK_BUG.has(installed)) {
    assert.ok((outcomes.ok ?? 0) < CLIENTS, `${installed} no longer loses sockets after an asynchronous upgrade: take it off KNOWN_CORK_BUG, update the README and go back to jwtVerify in the upgrade path`);
    assert.ok(Object.keys(outcomes).every((o) => o === 'ok' || o.startsWith('close 1006 after')), `outcomes: ${JSON.stringify(outcomes)}`);
  } else {
    assert.equal(outcomes, { ok: CLIENTS }, `outcomes: ${JSON.stringify(outcomes)}`);
  }
});

test('the asynchronous path really checks the token: a forged one gets 401, no WebSocket', async () => {
  const forged = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode('another secret'));
  const status = await new Promise<number>((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/async?token=${forged}`);
    ws.on('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); ws.terminate(); });
    ws.on('open', () => { resolve(101); ws.terminate(); });
    ws.on('error', () => { /* answered above */ });
  });
  assert.is(status, 401);
});

/** One socket.io-client v4 over the websocket transport with `?token=`: 'joined' after the `user:join` round trip. */
function sioJoin(url: string, token: string, userId: string): Promise<string> {
  return new Promise((resolve) => {
    const s = ioClient(url, { transports: ['websocket'], query: { token }, forceNew: true, reconnection: false });
    let settled = false;
    const done = (outcome: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
      s.disconnect();
    };
    const timer = setTimeout(() => done('timeout'), 5_000);
    s.once('connected', () => s.emit('user:join', { userId }));
    s.once('user:joined', () => done('joined'));
    s.once('connect_error', (err: Error) => done(`connect_error ${err.message}`));
    s.once('disconnect', (reason: string) => done(`disconnect ${reason}`));
  });
}

test(`the real server under the same heap filling: ${REAL_CLIENTS} /ws and ${REAL_CLIENTS} Socket.IO websocket connections with ?token= all complete a round trip`, async () => {
  const real = await startTestServer({ ...PERTURB, REQUIRE_AUTH: 'true' });
  try {
    const account = await registerAccount(real);
    const count = async (one: (i: number) => Promise<string>) => {
      const outcomes = new Map<string, number>();
      for (let done = 0; done < REAL_CLIENTS; done += AT_ONCE) {
        for (const o of await Promise.all(Array.from({ length: AT_ONCE }, (_, i) => one(done + i)))) outcomes.set(o, (outcomes.get(o) ?? 0) + 1);
      }
      return Object.fromEntries(outcomes);
    };
    assert.equal(await count((i) => tryJoin(real, `cork-${i}`, account.accessToken).then((o) => o ?? 'closed before room-joined', (err: Error) => `error ${err.message}`)), { joined: REAL_CLIENTS }, '/ws');
    assert.equal(await count(() => sioJoin(real.url, account.accessToken, account.userId)), { joined: REAL_CLIENTS }, 'Socket.IO');
  } finally {
    await real.stop();
  }
});

test.run();
