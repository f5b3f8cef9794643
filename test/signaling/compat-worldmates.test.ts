/**
 * WorldMates, as its app does it: plain socket.io-client, `user:join` with a bare numeric user id, 1:1 and group
 * calls addressed by numeric ids (which must come back as numbers), `fromName` on `call:incoming`, reject, end,
 * ring timeout; and its HTTP calls: GET /api/health, POST /api/turn-credentials {userId: 123, ttl},
 * GET /api/admin/calls/stats with a duration per call.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Socket } from 'socket.io-client';
import { http, startTestServer, type TestServer } from '../helpers/server.js';
import { registerAccount } from '../helpers/auth.js';
import { next, none, sioConnect } from '../helpers/sio.js';

let server: TestServer;
const sockets: Socket[] = [];

/** A WorldMates client: connect, then `socket.emit("user:join", id)` (a bare number) or `{userId, name}`. */
async function user(id: number, name?: string, opts: Record<string, unknown> = {}): Promise<Socket> {
  const { socket } = await sioConnect(server.url, opts);
  sockets.push(socket);
  const joined = next(socket, 'user:joined');
  if (name) socket.emit('user:join', { userId: id, name });
  else socket.emit('user:join', id);
  const j = await joined;
  assert.is(j.userId, id, 'user:joined echoes the id as a number');
  return socket;
}

test.before(async () => {
  server = await startTestServer({ CALL_RING_TIMEOUT_SEC: '1', TURN_URLS: 'turn:127.0.0.1:3478', TURN_SECRET: 'test-turn-secret' });
});
test.after.each(() => { for (const s of sockets.splice(0)) s.disconnect(); });
test.after(async () => { await server.stop(); });

test('GET /api/health is /health with uptime', async () => {
  const r = await http('GET', `${server.url}/api/health`);
  assert.is(r.status, 200);
  assert.is(r.body.status, 'ok');
  assert.type(r.body.uptime, 'number');
  assert.type(r.body.uptimeSec, 'number');
  assert.type(r.body.connections, 'number');
});

test('POST /api/turn-credentials {userId: 123, ttl: 3600}; bad ttl names the field and type', async () => {
  const r = await http('POST', `${server.url}/api/turn-credentials`, { userId: 123, ttl: 3600 });
  assert.is(r.status, 200, JSON.stringify(r.body));
  assert.is(r.body.ttlSec, 3600);
  assert.match(r.body.username, /^\d+:123$/);
  const s = await http('POST', `${server.url}/api/turn-credentials`, { userId: '123', ttlSec: 600 });
  assert.is(s.body.ttlSec, 600);
  const bad = await http('POST', `${server.url}/api/turn-credentials`, { userId: 123, ttl: 'an hour' });
  assert.is(bad.status, 400);
  assert.is(bad.body.error.message, 'ttl: expected a number of seconds');
  const badId = await http('POST', `${server.url}/api/turn-credentials`, { userId: true });
  assert.is(badId.body.error.message, 'userId: expected a string or a number');
});

test('1:1 call with numeric ids: incoming (fromName), accept, ice, end; ids come back as numbers; stats with duration', async () => {
  const owner = await registerAccount(server);
  const alice = await user(101, 'Alice');
  const bob = await user(202);
  const incoming = next(bob, 'call:incoming');
  alice.emit('call:initiate', { toId: 202, callType: 'video', roomName: 'wm-101-202', sdpOffer: { type: 'offer', sdp: 'v=0 wm' } });
  const inc = await incoming;
  assert.is(inc.fromId, 101);
  assert.is(inc.fromName, 'Alice');
  assert.equal(inc.sdpOffer, { type: 'offer', sdp: 'v=0 wm' });
  assert.ok(Array.isArray(inc.iceServers));

  const answer = next(alice, 'call:answer');
  bob.emit('call:accept', { roomName: 'wm-101-202', sdpAnswer: { type: 'answer', sdp: 'v=0 wm answer' } });
  const ans = await answer;
  assert.is(ans.fromId, 202);
  const cand = next(bob, 'ice:candidate');
  alice.emit('ice:candidate', { roomName: 'wm-101-202', candidate: 'candidate:1 1 udp 1 192.0.2.1 1 typ host', sdpMLineIndex: 0, sdpMid: '0' });
  assert.is((await cand).fromId, 101);

  await new Promise((r) => setTimeout(r, 1100));
  const stats = await http('GET', `${server.url}/api/admin/calls/stats`, undefined, owner.headers);
  assert.is(stats.status, 200);
  const call = stats.body.calls.find((c: { roomName: string }) => c.roomName === 'wm-101-202');
  assert.ok(call, JSON.stringify(stats.body));
  assert.type(call.startedAt, 'number');
  assert.ok(call.durationSec >= 1, `durationSec ${call.durationSec}`);
  assert.is(call.state, 'active');
  assert.ok(!(await none(alice, 'call:ended', 1200)), 'an accepted call does not time out');

  const ended = next(bob, 'call:ended');
  alice.emit('call:end', { roomName: 'wm-101-202' });
  const e = await ended;
  assert.is(e.fromId, 101);
  assert.is(e.reason, 'ended');
});

test('reject, offline callee, ring timeout; string ids stay strings', async () => {
  const carol = await user(303);
  const dave = await user(404, 'Dave');
  const incoming = next(carol, 'call:incoming');
  dave.emit('call:initiate', { toId: 303, callType: 'audio', roomName: 'wm-r', sdpOffer: 'v=0' });
  await incoming;
  const rejected = next(dave, 'call:rejected');
  carol.emit('call:reject', { roomName: 'wm-r', reason: 'busy' });
  const rj = await rejected;
  assert.equal({ fromId: rj.fromId, reason: rj.reason }, { fromId: 303, reason: 'busy' });

  const offline = next(dave, 'call:rejected');
  dave.emit('call:initiate', { toId: 999, callType: 'audio', roomName: 'wm-off', sdpOffer: 'v=0' });
  const off = await offline;
  assert.equal({ fromId: off.fromId, reason: off.reason }, { fromId: 999, reason: 'offline' });

  const ring = [next(carol, 'call:ended', 3000), next(dave, 'call:ended', 3000)];
  dave.emit('call:initiate', { toId: 303, callType: 'audio', roomName: 'wm-t', sdpOffer: 'v=0' });
  for (const m of await Promise.all(ring)) assert.is(m.reason, 'timeout');

  // The same user addressed as a string gets string ids back.
  const { socket: eve } = await sioConnect(server.url);
  sockets.push(eve);
  const ej = next(eve, 'user:joined');
  eve.emit('user:join', 'u-505');
  assert.is((await ej).userId, 'u-505');
  const inc = next(carol, 'call:incoming');
  eve.emit('call:initiate', { toId: '303', callType: 'audio', roomName: 'wm-s', sdpOffer: 'v=0' });
  assert.is((await inc).fromId, 'u-505');
  const rj2 = next(eve, 'call:rejected');
  carol.emit('call:reject', { roomName: 'wm-s' });
  assert.is((await rj2).fromId, 303, 'the callee bound 303 as a number');
});

test('group call with numeric memberIds; a bad id names the field and type', async () => {
  const [a, b, c] = [await user(1, 'Ann'), await user(2), await user(3)];
  const incs = [next(b, 'call:incoming'), next(c, 'call:incoming')];
  const off = next(a, 'call:rejected');
  a.emit('group_call:initiate', { groupId: 'g-7', callType: 'video', roomName: 'wm-group-7', memberIds: [1, 2, 3, 4] });
  for (const inc of await Promise.all(incs)) {
    assert.is(inc.groupId, 'g-7');
    assert.is(inc.fromId, 1);
    assert.is(inc.fromName, 'Ann');
    assert.equal(inc.memberIds, [1, 2, 3, 4]);
  }
  const o = await off;
  assert.equal({ fromId: o.fromId, reason: o.reason }, { fromId: 4, reason: 'offline' });
  const answer = next(a, 'call:answer');
  b.emit('call:accept', { roomName: 'wm-group-7', sdpAnswer: 'v=0 b' });
  assert.is((await answer).fromId, 2);
  const endB = next(b, 'call:ended');
  const endC = next(c, 'call:ended');
  a.emit('call:end', { roomName: 'wm-group-7' });
  assert.is((await endB).fromId, 1);
  assert.is((await endC).fromId, 1);

  const err = next(a, 'error');
  a.emit('group_call:initiate', { groupId: 'g', callType: 'audio', roomName: 'wm-bad', memberIds: [2, true] });
  const e = await err;
  assert.is(e.code, 'bad_request');
  assert.is(e.message, 'memberIds.1: expected a string or a number');
});

test('fromName from the token when user:join gave none; the token user may bind its own id as string', async () => {
  const acct = await registerAccount(server, { name: 'Dr. Token' });
  const { socket: me } = await sioConnect(server.url, { query: { token: acct.accessToken } });
  sockets.push(me);
  const j = next(me, 'user:joined');
  me.emit('user:join', acct.userId);
  assert.is((await j).userId, acct.userId);
  const other = await user(777);
  const inc = next(other, 'call:incoming');
  me.emit('call:initiate', { toId: 777, callType: 'audio', roomName: 'wm-token', sdpOffer: 'v=0' });
  const m = await inc;
  assert.is(m.fromName, 'Dr. Token');
  assert.is(m.fromId, acct.userId);
  const denied = next(me, 'error');
  me.emit('user:join', 12345);
  assert.is((await denied).code, 'forbidden');
});

test.run();
