/**
 * coturn for real: a `turnserver` started from the project's turnserver.conf (with loopback-only overrides
 * given here on the command line, never in the shipped file) and `turnutils_uclient` allocating relays with
 * the TURN REST credentials meetcore hands out (POST /api/turn-credentials, GET /api/ice-servers).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHmac } from 'node:crypto';
import { coturnAvailable, startCoturn, uclient, type Coturn } from './coturn.js';
import { http, startTestServer, type TestServer } from '../helpers/server.js';

const SECRET = 'turn-test-secret-0123456789';
let turn: Coturn;
let server: TestServer;

/** base64(HMAC-SHA1(secret, username)): the coturn TURN REST formula (REFERENCE.md), computed independently. */
const sign = (secret: string, username: string) => createHmac('sha1', secret).update(username).digest('base64');

test.before(async () => {
  if (!coturnAvailable()) throw new Error('turnserver/turnutils_uclient not found: apt-get install coturn');
  turn = await startCoturn({ secret: SECRET, allowLoopbackPeers: true });
  server = await startTestServer({ TURN_URLS: `turn:127.0.0.1:${turn.port}`, TURN_SECRET: SECRET, TURN_TTL: '3600', STUN_SERVERS: '[]' });
});
test.after(async () => {
  await server?.stop();
  await turn?.stop();
});

test('a credential from POST /api/turn-credentials has the TURN REST shape and coturn relays with it', async () => {
  const before = Math.floor(Date.now() / 1000);
  const r = await http('POST', `${server.url}/api/turn-credentials`, { userId: 'alice', ttlSec: 600 });
  assert.is(r.status, 200);
  assert.equal(r.body.urls, [`turn:127.0.0.1:${turn.port}`]);
  assert.is(r.body.ttlSec, 600);
  const m = /^(\d+):alice$/.exec(r.body.username);
  assert.ok(m, `username ${r.body.username}`);
  const expiry = Number(m![1]);
  assert.ok(expiry >= before + 600 && expiry <= Math.floor(Date.now() / 1000) + 600, `expiry ${expiry}`);
  assert.is(r.body.credential, sign(SECRET, r.body.username));

  const out = await uclient(turn.port, r.body.username, r.body.credential);
  assert.is(out.code, 0, out.text);
  assert.ok(out.received > 0, `relayed messages received: ${out.received}\n${out.text}`);
});

test('the TURN entry of GET /api/ice-servers/:userId is accepted by coturn', async () => {
  const r = await http('GET', `${server.url}/api/ice-servers/bob`);
  assert.is(r.status, 200);
  const entry = (r.body.iceServers as { urls: string[]; username?: string; credential?: string }[]).find((s) => s.username);
  assert.ok(entry, JSON.stringify(r.body));
  assert.match(entry!.username!, /^\d+:bob$/);
  const out = await uclient(turn.port, entry!.username!, entry!.credential!);
  assert.is(out.code, 0, out.text);
  assert.ok(out.received > 0, out.text);
});

test('an expired credential is refused (correctly signed, expiry in the past)', async () => {
  const username = `${Math.floor(Date.now() / 1000) - 60}:alice`;
  const out = await uclient(turn.port, username, sign(SECRET, username));
  assert.is.not(out.code, 0, out.text);
  assert.is(out.received, 0);
  assert.ok(turn.log().includes(`<${username}>`), 'coturn logged the refused username');
});

test('forged credentials are refused: wrong secret, and a changed userId with a real credential', async () => {
  const r = await http('POST', `${server.url}/api/turn-credentials`, { userId: 'carol', ttlSec: 600 });
  assert.is(r.status, 200);
  const wrongSecret = await uclient(turn.port, r.body.username, sign('not-the-secret', r.body.username));
  assert.is.not(wrongSecret.code, 0, wrongSecret.text);
  const renamed = (r.body.username as string).replace(/:carol$/, ':mallory');
  const swapped = await uclient(turn.port, renamed, r.body.credential);
  assert.is.not(swapped.code, 0, swapped.text);
  const extended = `${Number((r.body.username as string).split(':')[0]) + 86400}:carol`;
  const longer = await uclient(turn.port, extended, r.body.credential);
  assert.is.not(longer.code, 0, longer.text);
  // The genuine credential still works on the same server, so the refusals above are about the credentials.
  const genuine = await uclient(turn.port, r.body.username, r.body.credential);
  assert.is(genuine.code, 0, genuine.text);
});

test('POST /api/turn-credentials rejects a bad body: missing userId, ":" in userId, ttlSec out of range, not JSON', async () => {
  for (const body of [{}, { userId: 'a:b' }, { userId: 'alice', ttlSec: 5 }, { userId: 'alice', ttlSec: 'long' }, { userId: 'x'.repeat(500) }]) {
    const r = await http('POST', `${server.url}/api/turn-credentials`, body);
    assert.is(r.status, 400, JSON.stringify(body));
    assert.is(r.body.error.code, 'bad_request');
  }
  const r = await http('POST', `${server.url}/api/turn-credentials`, 'userId=alice', { 'content-type': 'application/x-www-form-urlencoded' });
  assert.is(r.status, 415);
});

test('the shipped turnserver.conf refuses loopback peers (no allow-loopback-peers, denied-peer-ip 127/8)', async () => {
  const strict = await startCoturn({ secret: SECRET, allowLoopbackPeers: false });
  try {
    const r = await http('POST', `${server.url}/api/turn-credentials`, { userId: 'dave' });
    const out = await uclient(strict.port, r.body.username, r.body.credential);
    assert.is(out.received, 0, out.text);
    assert.match(out.text, /403 \(Forbidden IP\)/);
  } finally {
    await strict.stop();
  }
});

test.run();
