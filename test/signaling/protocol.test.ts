/**
 * /ws signaling against the real server process: every event of PROTOCOL.md §2 with two and three clients,
 * over JSON and msgpack, Socket.IO interop, error codes, and what bad input does (and does not) change.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { io as ioClient, type Socket } from 'socket.io-client';
import { SignalingClient, SignalingClientError } from '../../src/client/index.js';
import { http, startTestServer, type TestServer } from '../helpers/server.js';
import { registerAndLogin } from '../helpers/auth.js';

let server: TestServer;
const clients: SignalingClient[] = [];

async function client(format: 'json' | 'msgpack' = 'json'): Promise<SignalingClient> {
  const c = new SignalingClient({ url: server.wsUrl, format, WebSocket, timeoutMs: 5000 });
  clients.push(c);
  return c.connect();
}

test.before(async () => {
  server = await startTestServer({ STUN_SERVERS: '["stun:127.0.0.1:3478"]', TURN_URLS: 'turn:127.0.0.1:3478', TURN_SECRET: 'test-turn-secret', CALL_RING_TIMEOUT_SEC: '1' });
});
test.after.each(() => { for (const c of clients.splice(0)) c.close(); });
test.after(async () => { await server.stop(); });

for (const format of ['json', 'msgpack'] as const) {
  test(`${format}: join, presence, relay of offer/answer/ice, chat, heartbeat, leave with three clients`, async () => {
    const [a, b, c] = [await client(format), await client(format), await client(format)];
    const room = `room-${format}`;
    const iceMsg = a.next('ice-servers');  // sent right after room-joined
    const ja = await a.join(room, 'Alice', 'host');
    assert.is(ja.participantId, a.participantId);
    assert.equal(ja.participants, [{ participantId: a.participantId, name: 'Alice', role: 'host' }]);
    const seenByA = a.next('user-connected');
    const jb = await b.join(room, 'Bob');
    assert.is(jb.participants.length, 2);
    const uc = await seenByA;
    assert.equal({ roomId: uc.roomId, participantId: uc.participantId, name: uc.name, role: uc.role }, { roomId: room, participantId: b.participantId, name: 'Bob', role: 'participant' });
    const ice = (await iceMsg).iceServers as { urls: string[]; username?: string }[];
    assert.ok(ice.some((s) => s.username?.endsWith(`:${a.participantId}`)), 'TURN REST credential for the participant');
    const list = c.next('room-participants');
    await c.join(room, 'Carol');
    assert.is(((await list).participants as unknown[]).length, 3);

    const offer = b.next('offer');
    a.offer(b.participantId!, { type: 'offer', sdp: 'v=0 offer' });
    assert.equal(await offer, { type: 'offer', from: a.participantId, sdp: { type: 'offer', sdp: 'v=0 offer' } });
    const answer = a.next('answer');
    b.answer(a.participantId!, 'v=0 answer');
    assert.is((await answer).sdp, 'v=0 answer');
    const cand = b.next('ice');
    a.ice(b.participantId!, 'candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host', '0', 0);
    assert.equal(await cand, { type: 'ice', from: a.participantId, candidate: 'candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host', sdpMid: '0', sdpMLineIndex: 0 });

    const chats = [a.next('chat'), b.next('chat'), c.next('chat')];
    c.chat(room, 'hello from Carol');
    for (const m of await Promise.all(chats)) {
      assert.is(m.text, 'hello from Carol');
      assert.is(m.from, c.participantId);
      assert.is(m.name, 'Carol');
      assert.type(m.id, 'string');
      assert.type(m.ts, 'number');
    }
    const hbRoom = b.next('user-heartbeat');
    const hb = await a.heartbeat();
    assert.type(hb.ts, 'number');
    assert.is((await hbRoom).participantId, a.participantId);

    const gone = a.next('user-disconnected');
    await c.leave(room);
    assert.is((await gone).participantId, c.participantId);
    const gone2 = a.next('user-disconnected');
    b.close();
    assert.is((await gone2).participantId, b.participantId, 'a closed socket is announced at once');
  });
}

test('JSON and msgpack clients in one room see each other', async () => {
  const j = await client('json');
  const m = await client('msgpack');
  await j.join('mixed', 'J');
  await m.join('mixed', 'M');
  const got = m.next('chat');
  j.chat('mixed', 'ünïcödé ✓');
  assert.is((await got).text, 'ünïcödé ✓');
  const got2 = j.next('offer');
  m.offer(j.participantId!, 'sdp-from-msgpack');
  assert.is((await got2).sdp, 'sdp-from-msgpack');
});

test('chat history (last 100) is part of room-joined', async () => {
  const a = await client();
  await a.join('history');
  for (let i = 0; i < 105; i++) a.chat('history', `m${i}`);
  await a.heartbeat();
  const b = await client();
  const j = await b.join('history') as unknown as { chat: { text: string }[] };
  assert.is(j.chat.length, 100);
  assert.is(j.chat[0]!.text, 'm5');
  assert.is(j.chat[99]!.text, 'm104');
});

test('a socket.io-client and a /ws client talk in one room', async () => {
  const sio: Socket = ioClient(server.url, { transports: ['websocket'], forceNew: true });
  try {
    const connected = await new Promise<{ participantId: string }>((resolve) => sio.once('connected', resolve));
    const ws = await client();
    await ws.join('bridge', 'WS');
    const seen = ws.next('user-connected');
    const joined = new Promise<{ participants: unknown[] }>((resolve) => sio.once('room-joined', resolve));
    sio.emit('join-room', { roomId: 'bridge', name: 'SIO' });
    assert.is((await joined).participants.length, 2);
    assert.is((await seen).participantId, connected.participantId);
    const chat = ws.next('chat');
    sio.emit('chat', { roomId: 'bridge', text: 'from socket.io' });
    assert.is((await chat).name, 'SIO');
    const offer = new Promise<{ from: string; sdp: string }>((resolve) => sio.once('offer', resolve));
    ws.offer(connected.participantId, 'sdp-for-sio');
    assert.equal(await offer, { from: ws.participantId, sdp: 'sdp-for-sio' });
    const err = new Promise<{ code: string }>((resolve) => sio.once('error', resolve));
    sio.emit('no-such-event', {});
    assert.is((await err).code, 'unknown_type');
    const left = ws.next('user-disconnected');
    sio.disconnect();
    assert.is((await left).participantId, connected.participantId);
  } finally {
    sio.disconnect();
  }
});

test('1:1 call: initiate → incoming, accept → answer, ice:candidate, end; offline callee; ring timeout', async () => {
  const caller = await client();
  const callee = await client('msgpack');
  await caller.bindUser('u-caller');
  await callee.bindUser('u-callee');
  const incoming = callee.next('call:incoming');
  caller.call('u-callee', 'call-1', 'offer-sdp', 'audio');
  const inc = await incoming;
  assert.is(inc.fromId, 'u-caller');
  assert.is(inc.callType, 'audio');
  assert.is(inc.sdpOffer, 'offer-sdp');
  assert.ok(Array.isArray(inc.iceServers));
  const answer = caller.next('call:answer');
  callee.acceptCall('call-1', 'answer-sdp');
  assert.is((await answer).sdpAnswer, 'answer-sdp');
  const cand = caller.next('ice:candidate');
  callee.send({ type: 'ice:candidate', roomName: 'call-1', candidate: 'c1', sdpMLineIndex: 0, sdpMid: '0' });
  assert.is((await cand).candidate, 'c1');
  const ended = callee.next('call:ended');
  caller.endCall('call-1', 'bye');
  assert.is((await ended).reason, 'bye');

  const rejected = caller.next('call:rejected');
  caller.call('u-nobody', 'call-2', 'sdp');
  assert.is((await rejected).reason, 'offline');

  const rej2 = caller.next('call:rejected');
  callee.next('call:incoming').then(() => callee.rejectCall('call-3', 'busy'), () => undefined);
  caller.call('u-callee', 'call-3', 'sdp');
  assert.is((await rej2).reason, 'busy');

  const t1 = caller.next('call:ended', () => true, 5000);
  const t2 = callee.next('call:ended', () => true, 5000);
  caller.call('u-callee', 'call-4', 'sdp');
  assert.is((await t1).reason, 'timeout');
  assert.is((await t2).reason, 'timeout');
});

test('group call: each online member gets call:incoming with groupId; offline ones are reported', async () => {
  const [a, b, c] = [await client(), await client(), await client()];
  await a.bindUser('g-a');
  await b.bindUser('g-b');
  await c.bindUser('g-c');
  const ib = b.next('call:incoming');
  const ic = c.next('call:incoming');
  const off = a.next('call:rejected');
  a.send({ type: 'group_call:initiate', groupId: 'grp1', callType: 'video', roomName: 'group-1', memberIds: ['g-b', 'g-c', 'g-offline'] });
  for (const m of await Promise.all([ib, ic])) {
    assert.is(m.groupId, 'grp1');
    assert.is(m.fromId, 'g-a');
  }
  assert.is((await off).fromId, 'g-offline');
});

test('error codes: bad_request, unknown_type, not_in_room, peer_not_found, room_full; the socket stays open', async () => {
  const a = await client();
  const expectError = async (msg: Record<string, unknown>, code: string) => {
    try {
      await a.request(msg as { type: string });
      assert.unreachable(`${JSON.stringify(msg)} accepted`);
    } catch (err) {
      assert.instance(err, SignalingClientError);
      assert.is((err as SignalingClientError).code, code, JSON.stringify(msg));
    }
  };
  await expectError({ type: 'nope' }, 'unknown_type');
  await expectError({ type: 'join-room' }, 'bad_request');
  await expectError({ type: 'join-room', roomId: 42 }, 'bad_request');
  await expectError({ type: 'join-room', roomId: '../etc' }, 'bad_request');
  await expectError({ type: 'join-room', roomId: 'a\u0000b' }, 'bad_request');
  await expectError({ type: 'join-room', roomId: 'ok', name: 'x'.repeat(10_000) }, 'bad_request');
  await expectError({ type: 'chat', roomId: 'elsewhere', text: 'hi' }, 'not_in_room');
  await expectError({ type: 'chat', roomId: 'elsewhere', text: '' }, 'bad_request');
  await expectError({ type: 'leave-room', roomId: 'elsewhere' }, 'not_in_room');
  await expectError({ type: 'offer', to: 'nobody', sdp: 'x' }, 'peer_not_found');
  // Relay to a peer of another room is refused.
  const b = await client();
  await a.join('r-a');
  await b.join('r-b');
  await expectError({ type: 'offer', to: b.participantId, sdp: 'x' }, 'peer_not_found');
  // Invalid JSON text: an error reply, the socket stays open.
  const raw = new WebSocket(`${server.wsUrl}/ws`, 'meetcore.json');
  await new Promise((r) => raw.once('message', r));  // connected (may arrive in the same tick as 'open')
  const reply = new Promise<any>((r) => raw.once('message', (d) => r(JSON.parse(d.toString()))));
  raw.send('{not json');
  assert.is((await reply).code, 'bad_request');
  assert.is(raw.readyState, WebSocket.OPEN);
  raw.close();
  assert.is((await a.heartbeat()).type, 'heartbeat', 'still usable after errors');
});

test('room_full at ROOM_MAX_PARTICIPANTS', async () => {
  const small = await startTestServer({ ROOM_MAX_PARTICIPANTS: '2' });
  try {
    const mk = () => new SignalingClient({ url: small.wsUrl, WebSocket }).connect();
    const [a, b, c] = [await mk(), await mk(), await mk()];
    await a.join('full');
    await b.join('full');
    try {
      await c.join('full');
      assert.unreachable('third participant joined');
    } catch (err) {
      assert.is((err as SignalingClientError).code, 'room_full');
    }
    for (const x of [a, b, c]) x.close();
  } finally {
    await small.stop();
  }
});

test('HTTP: rooms with join link and QR, ice servers, TURN credentials, stats', async () => {
  const created = await http('POST', `${server.url}/api/rooms`, { name: 'Consultation' });
  assert.is(created.status, 201);
  assert.match(created.body.roomId, /^rm_/);
  assert.is(created.body.joinURL, `http://localhost:${server.port === 3001 ? 3001 : 3001}/participant/${created.body.roomId}`.replace('localhost:3001', new URL(created.body.joinURL).host));
  assert.match(created.body.qrDataUrl, /^data:image\/png;base64,/);
  const got = await http('GET', `${server.url}/api/rooms/${created.body.roomId}`);
  assert.equal({ ...got.body, createdAt: 0 }, { roomId: created.body.roomId, name: 'Consultation', joinURL: created.body.joinURL, isActive: false, participantCount: 0, createdAt: 0 });
  const svg = await fetch(`${server.url}/api/rooms/${created.body.roomId}/qr.svg`);
  assert.is(svg.headers.get('content-type'), 'image/svg+xml');
  assert.match(await svg.text(), /^<svg/);
  assert.is((await http('GET', `${server.url}/api/rooms/rm_missing`)).status, 404);
  assert.is((await http('POST', `${server.url}/api/rooms`, { maxParticipants: 'many' })).status, 400);
  assert.is((await http('POST', `${server.url}/api/rooms`, 'name=x', { 'content-type': 'application/x-www-form-urlencoded' })).status, 415);
  assert.is((await http('POST', `${server.url}/api/rooms`, '{"name":', {})).status, 400);
  assert.is((await http('POST', `${server.url}/api/rooms`, JSON.stringify({ name: 'x'.repeat(70_000) }))).status, 413);

  for (const url of [`${server.url}/api/ice-servers/alice`, `${server.url}/api/ice-servers?userId=alice`]) {
    const r = await http('GET', url);
    assert.is(r.body.success, true);
    assert.equal(r.body.iceServers[0], { urls: ['stun:127.0.0.1:3478'] });
    assert.match(r.body.iceServers[1].username, /^\d+:alice$/);
    assert.is(r.body.ttlSec, 86400);
  }
  assert.is((await http('GET', `${server.url}/api/ice-servers`)).status, 400);
  const cred = await http('POST', `${server.url}/api/turn-credentials`, { userId: 'bob', ttlSec: 600 });
  const [expiry, user] = cred.body.username.split(':');
  assert.is(user, 'bob');
  assert.ok(Math.abs(Number(expiry) - (Date.now() / 1000 + 600)) < 5, 'username carries the expiry');
  const { createHmac } = await import('node:crypto');
  assert.is(cred.body.credential, createHmac('sha1', 'test-turn-secret').update(cred.body.username).digest('base64'));
  assert.is((await http('POST', `${server.url}/api/turn-credentials`, { userId: 'a:b' })).status, 400);

  const a = await client();
  await a.join('stats-room');
  const auth = await registerAndLogin(server);
  const stats = await http('GET', `${server.url}/api/stats`, undefined, auth);
  assert.ok(stats.body.rooms.some((r: { roomId: string; participants: number }) => r.roomId === 'stats-room' && r.participants === 1));
  assert.ok((await http('GET', `${server.url}/api/admin/calls/stats`, undefined, auth)).body.calls);
});

test('after 2,000 connect/join/disconnect cycles rooms and connections are back to zero', async () => {
  const before = (await http('GET', `${server.url}/health`)).body;
  for (let batch = 0; batch < 40; batch++) {
    await Promise.all(Array.from({ length: 50 }, async (_, i) => {
      const c = new SignalingClient({ url: server.wsUrl, WebSocket });
      await c.connect();
      await c.join(`cycle-${i % 7}`, `n${i}`);
      c.close();
    }));
  }
  let h = (await http('GET', `${server.url}/health`)).body;
  for (let i = 0; i < 50 && (h.rooms !== before.rooms || h.connections !== before.connections); i++) {
    await new Promise((r) => setTimeout(r, 100));
    h = (await http('GET', `${server.url}/health`)).body;
  }
  assert.is(h.rooms, before.rooms);
  assert.is(h.connections, before.connections);
  assert.is(server.proc.exitCode, null, 'server alive');
});

test.run();
