/**
 * engine.io handshakes (new Socket.IO sessions) against the real server: capped per client address
 * (SIO_MAX_SESSIONS_PER_IP) and in total (SIO_MAX_SESSIONS) with 429 `rate_limited`, counted until the session
 * closes; with REQUIRE_AUTH=true a handshake without a valid `?token=` gets 401 and creates no session.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'node:http';
import WebSocket from 'ws';
import { io as ioClient, type Socket } from 'socket.io-client';
import { http, startTestServer, type TestServer } from '../helpers/server.js';
import { registerAccount } from '../helpers/auth.js';
import { addressKey } from '../../src/signaling/sessions.js';

let open: TestServer;    // REQUIRE_AUTH=false, 2 sessions per address, 3 in all
let authed: TestServer;  // REQUIRE_AUTH=true, 2 sessions per address

test.before(async () => {
  [open, authed] = await Promise.all([
    startTestServer({ SIO_MAX_SESSIONS_PER_IP: '2', SIO_MAX_SESSIONS: '3' }),
    startTestServer({ REQUIRE_AUTH: 'true', SIO_MAX_SESSIONS_PER_IP: '2' }),
  ]);
});
test.after(async () => { await Promise.all([open.stop(), authed.stop()]); });

/** GET /socket.io/?EIO=4&transport=polling[&query] from a given loopback address. */
function handshake(server: TestServer, query = '', localAddress = '127.0.0.1'): Promise<{ status: number; text: string; json?: any; sid?: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${server.url}/socket.io/?EIO=4&transport=polling${query}`, { localAddress, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { text += d; });
      res.on('end', () => {
        let json: any;
        try { json = JSON.parse(text); } catch { /* engine.io payload */ }
        const sid = res.statusCode === 200 && text.startsWith('0') ? JSON.parse(text.slice(1)).sid as string : undefined;
        resolve({ status: res.statusCode ?? 0, text, json, sid });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** End a polling session the way a client does: an engine.io close packet ("1"). */
async function closeSession(server: TestServer, sid: string): Promise<void> {
  const r = await http('POST', `${server.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, '1', { 'content-type': 'text/plain;charset=UTF-8' });
  assert.is(r.body, 'ok');
}

async function metric(server: TestServer, series: string): Promise<number> {
  const text = (await http('GET', `${server.url}/metrics`)).body as string;
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.split(' ')[1]) : NaN;
}
const sessions = (server: TestServer) => metric(server, 'meetcore_signaling_sio_sessions');

test('addressKey: IPv4 as is (also IPv4-mapped), IPv6 by /64', () => {
  assert.is(addressKey('127.0.0.1'), '127.0.0.1');
  assert.is(addressKey('::ffff:10.1.2.3'), '10.1.2.3');
  assert.is(addressKey('0000:0000:0000:0000:0000:ffff:7f00:0001'), '127.0.0.1');
  assert.is(addressKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
  assert.is(addressKey('2001:DB8:1:2::9'), '2001:db8:1:2::/64');
});

test('per address: the cap-th+1 handshake gets 429 rate_limited; a closed session frees its slot', async () => {
  const a = await handshake(open);
  const b = await handshake(open);
  assert.is(a.status, 200);
  assert.is(b.status, 200);
  const c = await handshake(open);
  assert.is(c.status, 429);
  assert.is(c.json.error.code, 'rate_limited');
  assert.match(c.json.error.message, /SIO_MAX_SESSIONS_PER_IP/);
  // What socket.io-client sees: connect_error "xhr poll error" with the status as `description` and the body
  // on `context.responseText` (read it in the handler: the request is aborted right after, which clears it).
  const s: Socket = ioClient(open.url, { transports: ['polling'], forceNew: true, reconnection: false });
  const err = await new Promise<any>((r) => s.once('connect_error', (e: any) => r({ message: e.message, description: e.description, body: e.context?.responseText })));
  s.close();
  assert.is(err.message, 'xhr poll error');
  assert.is(err.description, 429);
  assert.is(JSON.parse(err.body).error.code, 'rate_limited');
  // websocket-only clients: the upgrade is refused with the same status.
  const ws = new WebSocket(`${open.wsUrl}/socket.io/?EIO=4&transport=websocket`);
  const status = await new Promise<number>((r) => ws.once('unexpected-response', (_req, res) => { r(res.statusCode ?? 0); res.resume(); }));
  ws.on('error', () => {});
  assert.is(status, 429);
  assert.is(await sessions(open), 2);
  await closeSession(open, a.sid!);
  assert.ok(await waitFor(async () => (await sessions(open)) === 1), 'the closed session is no longer counted');
  const d = await handshake(open);
  assert.is(d.status, 200, 'a slot is free again');
  await closeSession(open, b.sid!);
  await closeSession(open, d.sid!);
  assert.ok(await waitFor(async () => (await sessions(open)) === 0));
});

test('in total: over SIO_MAX_SESSIONS every address gets 429, counted by reason', async () => {
  const perIp = await metric(open, 'meetcore_signaling_sio_handshakes_refused_total{reason="per_ip"}');
  const got = [await handshake(open, '', '127.0.0.1'), await handshake(open, '', '127.0.0.1'), await handshake(open, '', '127.0.0.2')];
  assert.equal(got.map((g) => g.status), [200, 200, 200]);
  const full = await handshake(open, '', '127.0.0.3');
  assert.is(full.status, 429);
  assert.is(full.json.error.code, 'rate_limited');
  assert.match(full.json.error.message, /SIO_MAX_SESSIONS\)/);
  assert.is((await handshake(open, '', '127.0.0.1')).status, 429);
  assert.is(await metric(open, 'meetcore_signaling_sio_handshakes_refused_total{reason="total"}'), 1);
  assert.is(await metric(open, 'meetcore_signaling_sio_handshakes_refused_total{reason="per_ip"}'), perIp + 1);
  assert.is(await sessions(open), 3);
  for (const g of got) await closeSession(open, g.sid!);
  assert.ok(await waitFor(async () => (await sessions(open)) === 0));
});

test('REQUIRE_AUTH=true: no or a bad ?token= → 401 and no session; a valid access token → a session, still capped', async () => {
  const acct = await registerAccount(authed);
  for (let i = 0; i < 4; i++) {
    const r = await handshake(authed);
    assert.is(r.status, 401);
    assert.is(r.json.error.code, 'unauthorized');
    assert.match(r.json.error.message, /\?token=/);
  }
  const bad = await handshake(authed, `&token=${acct.refreshToken}`);
  assert.is(bad.status, 401);
  assert.is(bad.json.error.message, 'invalid or expired token');
  assert.is(await sessions(authed), 0, 'refused handshakes created no session');
  const ok = [await handshake(authed, `&token=${acct.accessToken}`), await handshake(authed, `&token=${acct.accessToken}`)];
  assert.equal(ok.map((g) => g.status), [200, 200]);
  assert.is(await sessions(authed), 2);
  assert.is((await handshake(authed, `&token=${acct.accessToken}`)).status, 429);
  assert.is((await handshake(authed)).status, 401, 'no token: the auth error, not the cap');
  assert.is(await metric(authed, 'meetcore_signaling_sio_handshakes_refused_total{reason="unauthorized"}'), 6);
  for (const g of ok) await closeSession(authed, g.sid!);
  assert.ok(await waitFor(async () => (await sessions(authed)) === 0));
});

test('REQUIRE_AUTH=true with socket.io-client: query {token} connects (the token names the user); auth {token} alone is refused at the handshake', async () => {
  const acct = await registerAccount(authed);
  const attempt = (opts: { query?: { token: string }; auth?: { token: string } }) => new Promise<{ s: Socket; result: string; err?: any }>((resolve) => {
    const s = ioClient(authed.url, { forceNew: true, reconnection: false, ...opts });
    s.once('connected', () => resolve({ s, result: 'connected' }));
    s.once('connect_error', (err) => { s.close(); resolve({ s, result: err.message, err }); });
  });
  const refused = await attempt({ auth: { token: acct.accessToken } });
  assert.is(refused.result, 'xhr poll error');
  assert.is(refused.err.description, 401);
  const both = await attempt({ query: { token: acct.accessToken }, auth: { token: acct.refreshToken } });
  assert.is(both.result, 'unauthorized: invalid or expired token', 'an auth.token that is there must be valid');
  const ok = await attempt({ query: { token: acct.accessToken } });
  assert.is(ok.result, 'connected');
  const err = new Promise<{ code: string }>((r) => ok.s.once('error', r));
  ok.s.emit('user:join', { userId: 'someone-else' });
  assert.is((await err).code, 'forbidden', 'the handshake token bound the socket to its user');
  const joined = new Promise<{ userId: string }>((r) => ok.s.once('user:joined', r));
  ok.s.emit('user:join', { userId: acct.userId });
  assert.is((await joined).userId, acct.userId);
  ok.s.disconnect();
});

async function waitFor(cond: () => Promise<boolean>, ms = 5000): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 50))) if (await cond()) return true;
  return cond();
}

test.run();
