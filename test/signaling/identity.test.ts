/**
 * With REQUIRE_AUTH=true a socket binds only its own identity with `user:join` (access token: its user id;
 * LiveKit token: its identity), so nobody can take another user's calls (issue case 5). Driven with
 * socket.io-client, written the way the apps meetcore replaces write it, and with the /ws client.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { io as ioClient, type Socket } from 'socket.io-client';
import { AccessToken } from 'livekit-server-sdk';
import { SignalingClient, SignalingClientError } from '../../src/client/index.js';
import { registerAccount, type TestAccount } from '../helpers/auth.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { API_KEY, API_SECRET } from '../livekit/double.js';

let server: TestServer;
let victim: TestAccount;
let caller: TestAccount;

test.before(async () => {
  server = await startTestServer({ REQUIRE_AUTH: 'true', LIVEKIT_URL: 'http://127.0.0.1:9', LIVEKIT_API_KEY: API_KEY, LIVEKIT_API_SECRET: API_SECRET, CALL_RING_TIMEOUT_SEC: '5' });
  victim = await registerAccount(server, { organization: 'Victim Org' });
  caller = await registerAccount(server, { organization: 'Caller Org' });
});
test.after(async () => { await server.stop(); });

/** A socket.io-client connection with a token, as an app would open it; resolves once `connected` arrives. */
async function sio(token: string): Promise<Socket> {
  const s = ioClient(server.url, { transports: ['websocket'], forceNew: true, reconnection: false, query: { token }, auth: { token } });
  await new Promise<void>((resolve, reject) => {
    s.once('connected', () => resolve());
    s.once('connect_error', reject);
  });
  return s;
}

const next = <T = any>(s: Socket, event: string, ms = 3000) => new Promise<T>((resolve, reject) => {
  const t = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
  s.once(event, (m: T) => { clearTimeout(t); resolve(m); });
});

test("a LiveKit-token socket cannot bind the victim's userId, never sees the victim's call and cannot accept it", async () => {
  const lk = new AccessToken(API_KEY, API_SECRET, { identity: 'mallory-x1', ttl: 600 });
  lk.addGrant({ roomJoin: true, room: 'anywhere' });
  const mallory = await sio(await lk.toJwt());
  const target = await sio(victim.accessToken);
  const dialer = await new SignalingClient({ url: server.wsUrl, WebSocket, token: caller.accessToken }).connect();
  try {
    const refused = next(mallory, 'error');
    mallory.emit('user:join', { userId: victim.userId });
    assert.is((await refused).code, 'forbidden');
    const own = next(mallory, 'user:joined');
    mallory.emit('user:join', { userId: 'mallory-x1' });
    assert.is((await own).userId, 'mallory-x1', 'its own identity binds');

    let leaked = false;
    mallory.on('call:incoming', () => { leaked = true; });
    const incoming = next(target, 'call:incoming');
    dialer.call(victim.userId, 'consult-1', { type: 'offer', sdp: 'v=0 secret offer' });
    const inc = await incoming;
    assert.is(inc.fromId, caller.userId);
    const notYours = next(mallory, 'error');
    mallory.emit('call:accept', { roomName: 'consult-1', sdpAnswer: 'v=0 stolen' });
    assert.is((await notYours).code, 'not_in_room');
    await new Promise((r) => setTimeout(r, 200));
    assert.is(leaked, false, 'the offer went to the victim only');
  } finally {
    mallory.disconnect();
    target.disconnect();
    dialer.close();
  }
});

test("an access-token socket binds its own user id only; it is bound at connection already", async () => {
  const c = await new SignalingClient({ url: server.wsUrl, WebSocket, token: caller.accessToken }).connect();
  try {
    const err = await c.bindUser(victim.userId).then(() => null, (e: SignalingClientError) => e);
    assert.is(err?.code, 'forbidden');
    assert.is((await c.bindUser(caller.userId)).userId, caller.userId);
  } finally {
    c.close();
  }
});

test.run();
