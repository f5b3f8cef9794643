/**
 * REQUIRE_AUTH=true against the real server process: /ws refuses a missing or bad `?token=` with HTTP 401
 * before the upgrade and connects with an access token or a LiveKit room token of the configured project
 * (which HTTP bearer routes do not accept); optional* routes need a bearer token. The server
 * runs with the SAME secret for access and refresh tokens, so the signature does not keep the two kinds
 * apart (the `typ` claim and each kind's required claims do; accounts.test.ts isolates the `typ` check).
 * Last: the per-IP login throttle (20 failures), which blocks this client for the rest of the window.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { io as ioClient } from 'socket.io-client';
import { AccessToken } from 'livekit-server-sdk';
import { http, startTestServer, type TestServer } from '../helpers/server.js';
import { registerAccount } from '../helpers/auth.js';

let server: TestServer;
const SECRET = 'one-secret-for-both-0123456789abcdef';
const LK = { LIVEKIT_URL: 'ws://127.0.0.1:9', LIVEKIT_API_KEY: 'APItestkey', LIVEKIT_API_SECRET: 'livekit-test-secret-0123456789abcdef' };

test.before(async () => {
  server = await startTestServer({ REQUIRE_AUTH: 'true', JWT_ACCESS_SECRET: SECRET, JWT_REFRESH_SECRET: SECRET, AUTO_EGRESS: 'false', ...LK });
});
test.after(async () => { await server.stop(); });

/** Open /ws; resolves with the first message, or with the HTTP status of a refused upgrade. */
function dial(query: string): Promise<{ status: number; body?: any; first?: any }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${server.wsUrl}/ws${query}`, 'meetcore.json');
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    ws.once('message', (data) => { resolve({ status: 101, first: JSON.parse(data.toString()) }); ws.close(); });
    ws.once('error', (err) => { if (!String(err.message).includes('Unexpected server response')) reject(err); });
  });
}

test('/ws: no token → 401 before upgrade; bad, refresh or expired-session tokens → 401; access token → connected', async () => {
  const acct = await registerAccount(server);
  const none = await dial('');
  assert.is(none.status, 401);
  assert.is(none.body.error.code, 'unauthorized');
  assert.is((await dial('?token=not-a-jwt')).status, 401);
  assert.is((await dial(`?token=${acct.refreshToken}`)).status, 401, 'refresh token is not an access token');
  const ok = await dial(`?token=${acct.accessToken}`);
  assert.is(ok.status, 101);
  assert.is(ok.first.type, 'connected');
  assert.type(ok.first.participantId, 'string');
  // after logout, that session's access token no longer opens sockets
  assert.is((await http('POST', `${server.url}/auth/logout`, { refreshToken: acct.refreshToken })).status, 204);
  assert.is((await dial(`?token=${acct.accessToken}`)).status, 401);
});

test('/ws accepts a LiveKit room token of this project; HTTP bearer routes do not', async () => {
  const mint = async (secret: string, grant = { roomJoin: true, room: 'standup' }) => {
    const t = new AccessToken(LK.LIVEKIT_API_KEY, secret, { identity: 'lk-ana', name: 'Ana', metadata: JSON.stringify({ roles: ['host'] }), ttl: 600 });
    t.addGrant(grant);
    return t.toJwt();
  };
  const good = await mint(LK.LIVEKIT_API_SECRET);
  const ok = await dial(`?token=${good}`);
  assert.is(ok.status, 101);
  assert.is(ok.first.type, 'connected');
  assert.is((await dial(`?token=${await mint('another-secret-0123456789abcdef0')}`)).status, 401);
  assert.is((await dial(`?token=${await mint(LK.LIVEKIT_API_SECRET, { roomJoin: false, room: 'standup' })}`)).status, 401, 'not a room-join token');
  for (const p of ['/api/sessions', '/api/ice-servers/ana', '/auth/me']) {
    assert.is((await http('GET', `${server.url}${p}`, undefined, { authorization: `Bearer ${good}` })).status, 401, p);
  }
});

test('Socket.IO handshake: refused (401, no session) without ?token= or with a bad one, accepted with an access token', async () => {
  const acct = await registerAccount(server);
  const attempt = (opts: { query?: { token: string }; auth?: { token: string } }) => new Promise<string>((resolve) => {
    const s = ioClient(server.url, { transports: ['websocket'], reconnection: false, ...opts });
    s.once('connect', () => { s.close(); resolve('connected'); });
    s.once('connect_error', (err: Error & { description?: { message?: string } }) => { s.close(); resolve(`${err.message}: ${err.description?.message ?? ''}`); });
  });
  // Refused at the engine.io handshake (an HTTP 401 instead of the upgrade): socket.io-client reports a websocket error.
  assert.match(await attempt({}), /websocket error: .*401/);
  assert.match(await attempt({ query: { token: acct.refreshToken } }), /websocket error: .*401/);
  assert.match(await attempt({ auth: { token: acct.accessToken } }), /websocket error: .*401/, 'auth.token alone comes after the handshake: too late');
  assert.is(await attempt({ query: { token: acct.accessToken } }), 'connected');
  assert.is(await attempt({ query: { token: acct.accessToken }, auth: { token: acct.accessToken } }), 'connected');
});

test('same secret for both kinds: access and refresh tokens are still not interchangeable', async () => {
  const acct = await registerAccount(server);
  assert.is((await http('GET', `${server.url}/auth/me`, undefined, { authorization: `Bearer ${acct.refreshToken}` })).status, 401);
  assert.is((await http('POST', `${server.url}/auth/refresh`, { refreshToken: acct.accessToken })).status, 401);
  assert.is((await http('GET', `${server.url}/auth/me`, undefined, acct.headers)).status, 200);
});

test('optional* routes need a bearer token when REQUIRE_AUTH=true; /auth/* and /health stay open', async () => {
  const acct = await registerAccount(server);
  const noToken = await http('GET', `${server.url}/api/ice-servers/alice`);
  assert.is(noToken.status, 401);
  assert.is(noToken.body.error.code, 'unauthorized');
  assert.is((await http('POST', `${server.url}/api/rooms`, {})).status, 401);
  assert.is((await http('GET', `${server.url}/api/ice-servers/alice`, undefined, acct.headers)).status, 200);
  assert.is((await http('POST', `${server.url}/api/rooms`, {}, acct.headers)).status, 201);
  assert.is((await http('GET', `${server.url}/health`)).status, 200);
});

test('per-IP throttle: 20 failed logins with different e-mails → 429 for any e-mail from that IP', async () => {
  const acct = await registerAccount(server);
  for (let i = 0; i < 20; i++) {
    const r = await http('POST', `${server.url}/auth/login`, { email: `spray-${i}@example.com`, password: 'password-spray' });
    assert.is(r.status, 401, `attempt ${i}`);
  }
  const blocked = await http('POST', `${server.url}/auth/login`, { email: acct.email, password: acct.password });
  assert.is(blocked.status, 429);
  assert.ok(Number(blocked.headers.get('retry-after')) > 0);
  // tokens already issued keep working
  assert.is((await http('GET', `${server.url}/auth/me`, undefined, acct.headers)).status, 200);
});

test.run();
