/**
 * Socket.IO acknowledgements, the way apps use them: `socket.timeout(2000).emit("join-room", {...}, cb)` and
 * `emitWithAck` in socket.io-client v4, `call()` in python-socketio (a /usr/bin/python3 subprocess, Debian's
 * python3-socketio). Every event with a direct reply gets it through the ack (with its `type`), an error gets the
 * error object, an event without a direct reply gets `{type:"ok"}`. Also: socket.io-client v2 apps (engine.io
 * protocol 3) are let in (`allowEIO3`).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import type { Socket } from 'socket.io-client';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { eventOf, next, pollingSession, sioClients } from '../helpers/sio.js';

let server: TestServer;
const clients = sioClients(() => server.url);
const connect = clients.connect;

test.before(async () => { server = await startTestServer(); });
test.after.each(() => clients.disconnectAll());
test.after(async () => { await server.stop(); });

test('acks carry the direct reply of every event that has one, and errors', async () => {
  const a = await connect();
  const b = await connect();
  const joined = await a.socket.timeout(2000).emitWithAck('join-room', { roomId: 'ack-room', name: 'A' });
  assert.is(joined.type, 'room-joined');
  assert.is(joined.roomId, 'ack-room');
  assert.is(joined.participantId, a.participantId);
  assert.equal(joined.participants, [{ participantId: a.participantId, name: 'A', role: 'participant' }]);
  // The callback form, with positional arguments (`emit("join-room", roomId, userId)`).
  const viaCb = await new Promise<any>((resolve, reject) => {
    b.socket.timeout(2000).emit('join-room', 'ack-room', 42, (err: Error | null, res: unknown) => (err ? reject(err) : resolve(res)));
  });
  assert.is(viaCb.type, 'room-joined');
  assert.is(viaCb.participants.length, 2);
  assert.is(viaCb.participants.find((p: { participantId: string }) => p.participantId === b.participantId).name, '42');
  const again = await a.socket.timeout(2000).emitWithAck('join-room', 'ack-room');
  assert.equal(again, { type: 'room-joined', roomId: 'ack-room', participantId: a.participantId, alreadyJoined: true });

  const hb = await a.socket.timeout(2000).emitWithAck('heartbeat');
  assert.is(hb.type, 'heartbeat');
  assert.type(hb.ts, 'number');
  const withRid = await a.socket.timeout(2000).emitWithAck('heartbeat', { rid: 'r-1' });
  assert.is(withRid.rid, 'r-1');

  assert.equal(await a.socket.timeout(2000).emitWithAck('user:join', 7), { type: 'user:joined', userId: 7 });
  const offline = await a.socket.timeout(2000).emitWithAck('call:initiate', { toId: 8, callType: 'audio', roomName: 'ack-call', sdpOffer: 'v=0' });
  assert.equal({ type: offline.type, fromId: offline.fromId, reason: offline.reason }, { type: 'call:rejected', fromId: 8, reason: 'offline' });

  // No direct reply: {type:"ok"} once the message was handled (relayed).
  const relayed = next(b.socket, 'offer');
  assert.equal(await a.socket.timeout(2000).emitWithAck('offer', { to: b.participantId, sdp: 'v=0' }), { type: 'ok' });
  await relayed;
  assert.equal(await a.socket.timeout(2000).emitWithAck('chat', { roomId: 'ack-room', text: 'hi' }), { type: 'ok' });
  assert.equal(await a.socket.timeout(2000).emitWithAck('signal', { to: b.participantId, data: { renegotiate: true } }), { type: 'ok' });

  // Errors: the error object, which is also emitted as `error`.
  const errEvent = next(a.socket, 'error');
  const bad = await a.socket.timeout(2000).emitWithAck('user:join', { userId: false });
  assert.equal(bad, { type: 'error', code: 'bad_request', message: 'userId: expected a string or a number' });
  assert.is((await errEvent).code, 'bad_request');
  assert.equal(await a.socket.timeout(2000).emitWithAck('offer', { to: 'nobody', sdp: 'v=0' }),
    { type: 'error', code: 'peer_not_found', message: 'no participant nobody in your rooms' });
  assert.is((await a.socket.timeout(2000).emitWithAck('no-such-event', {})).code, 'unknown_type');
  assert.is((await a.socket.timeout(2000).emitWithAck('join-room', { name: 'no room' })).message, 'roomId: Invalid input: expected string, received undefined');

  const left = await a.socket.timeout(2000).emitWithAck('leave-room', 'ack-room');
  assert.equal(left, { type: 'room-left', roomId: 'ack-room' });
  assert.is((await a.socket.timeout(2000).emitWithAck('leave-room', 'ack-room')).code, 'not_in_room');
});

test('raw polling: an ack id that is not a safe integer is refused with bad_request, never answered 43Infinity', async () => {
  const s = await pollingSession(server.url);
  const refusal = { code: 'bad_request', message: 'ack id: must be an integer from 0 to 9007199254740991; the event was not handled' };
  // 400 digits (Number() gives Infinity) and 2^53 + 1 (Number() gives 2^53, another id).
  for (const id of ['9'.repeat(400), '9007199254740993']) {
    assert.is(await s.send(`42${id}["heartbeat"]`), 200);
    const read = await s.receiveUntil((p) => eventOf(p)?.event === 'error');
    assert.equal(read.map(eventOf).find((e) => e?.event === 'error')?.arg, refusal, `ack id of ${id.length} digits`);
    assert.not.ok(read.some((p) => p.startsWith('43')), `no ack packet: ${JSON.stringify(read).slice(0, 200)}`);
    assert.not.ok(read.some((p) => eventOf(p)?.event === 'heartbeat'), 'the event was not handled');
  }
  // The largest safe id is echoed as it came.
  assert.is(await s.send('429007199254740991["heartbeat"]'), 200);
  const read = await s.receiveUntil((p) => p.startsWith('439007199254740991['));
  assert.is(JSON.parse(read.find((p) => p.startsWith('439007199254740991['))!.slice('439007199254740991'.length))[0].type, 'heartbeat');
});

/** Run a python-socketio client under Debian's /usr/bin/python3; it prints one JSON line per result. */
function python(script: string): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const p = spawn('/usr/bin/python3', ['-c', script, server.url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const timer = setTimeout(() => p.kill('SIGKILL'), 20_000);
    p.on('exit', (code) => { clearTimeout(timer); resolve({ code, out, err }); });
  });
}

test('python-socketio call() for join-room gets room-joined', async () => {
  const watcher = await connect();
  await watcher.socket.timeout(2000).emitWithAck('join-room', 'py-room');
  const arrived = next(watcher.socket, 'user-connected', 15_000);
  const r = await python(`
import json, sys
try:
    import socketio
except ImportError:
    print(json.dumps({"missing": "python3-socketio (apt-get install python3-socketio python3-websocket)"})); sys.exit(3)
sio = socketio.Client(reconnection=False)
sio.connect(sys.argv[1], transports=["websocket"], wait_timeout=5)
print(json.dumps(sio.call("join-room", {"roomId": "py-room", "name": "Python"}, timeout=5)))
print(json.dumps(sio.call("join-room", ("py-room-2", "Python"), timeout=5)))
print(json.dumps(sio.call("user:join", 31337, timeout=5)))
print(json.dumps(sio.call("heartbeat", timeout=5)))
sio.disconnect()
`);
  assert.is(r.code, 0, `python exited ${r.code}: ${r.out}\n${r.err}`);
  const [joined, joined2, user, hb] = r.out.trim().split('\n').map((l) => JSON.parse(l));
  assert.is(joined.type, 'room-joined');
  assert.is(joined.roomId, 'py-room');
  assert.is(joined.participants.length, 2);
  assert.is(joined2.roomId, 'py-room-2');
  assert.equal(user, { type: 'user:joined', userId: 31337 });
  assert.is(hb.type, 'heartbeat');
  assert.is((await arrived).name, 'Python');
});

test('engine.io protocol 3 (socket.io-client v2) handshakes are accepted', async () => {
  const res = await fetch(`${server.url}/socket.io/?EIO=3&transport=polling&t=x`);
  const body = await res.text();
  assert.is(res.status, 200, body);
  assert.match(body, /"sid":"/);
  assert.match(body, /^\d+:0\{/, 'EIO 3 payload framing (length:packet)');
});

test('a socket.io-client v2 app joins a room and gets its ack', async () => {
  const require = createRequire(import.meta.url);
  let ioV2: (url: string, opts: Record<string, unknown>) => any;
  try {
    ioV2 = require('socket.io-client-v2');
  } catch {
    throw new Error('socket.io-client v2 is not installed: add "socket.io-client-v2": "npm:socket.io-client@^2.5.0" to devDependencies and run npm install');
  }
  const socket = ioV2(server.url, { transports: ['websocket'], forceNew: true, reconnection: false });
  try {
    const connected = await new Promise<{ participantId: string }>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('v2 client: no "connected" within 5 s')), 5000);
      socket.once('connected', (m: { participantId: string }) => { clearTimeout(t); resolve(m); });
    });
    const joined = await new Promise<any>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('v2 client: no ack within 5 s')), 5000);
      socket.emit('join-room', 'v2-room', 'Legacy', (res: unknown) => { clearTimeout(t); resolve(res); });
    });
    assert.is(joined.type, 'room-joined');
    assert.equal(joined.participants, [{ participantId: connected.participantId, name: 'Legacy', role: 'participant' }]);
  } finally {
    socket.close();
  }
});

test.run();
