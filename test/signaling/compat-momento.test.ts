/**
 * Momento Live, as its users wrote it: plain socket.io-client, `join-room` with positional arguments
 * (`emit("join-room", roomId, name)`), offer/answer/ice by participant id, heartbeats, leave; and its
 * `GET /health` reading `uptime` (seconds).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Socket } from 'socket.io-client';
import { http, startTestServer, type TestServer } from '../helpers/server.js';
import { next, sioClients } from '../helpers/sio.js';

let server: TestServer;
const clients = sioClients(() => server.url);
const connect = clients.connect;

test.before(async () => { server = await startTestServer(); });
test.after.each(() => clients.disconnectAll());
test.after(async () => { await server.stop(); });

test('GET /health has uptime (seconds) beside uptimeSec', async () => {
  const r = await http('GET', `${server.url}/health`);
  assert.is(r.status, 200);
  assert.type(r.body.uptime, 'number');
  assert.is(r.body.uptime, r.body.uptimeSec);
  assert.ok(r.body.uptime >= 0 && r.body.uptime < 600, 'seconds, not ms');
});

test('room flow: positional join-room, offer/answer/ice, heartbeat, leave', async () => {
  const host = await connect();
  const guest = await connect();
  const joinedHost = next(host.socket, 'room-joined');
  host.socket.emit('join-room', 'momento-live', 'Host');
  const jh = await joinedHost;
  assert.is(jh.roomId, 'momento-live');
  assert.equal(jh.participants, [{ participantId: host.participantId, name: 'Host', role: 'participant' }]);

  const seen = next(host.socket, 'user-connected');
  const joinedGuest = next(guest.socket, 'room-joined');
  guest.socket.emit('join-room', 'momento-live', 'Viewer 7');
  assert.is((await joinedGuest).participants.length, 2);
  const uc = await seen;
  assert.equal({ participantId: uc.participantId, name: uc.name }, { participantId: guest.participantId, name: 'Viewer 7' });

  const offer = next(guest.socket, 'offer');
  host.socket.emit('offer', { to: guest.participantId, sdp: { type: 'offer', sdp: 'v=0 momento offer' } });
  assert.equal(await offer, { from: host.participantId, sdp: { type: 'offer', sdp: 'v=0 momento offer' } });
  const answer = next(host.socket, 'answer');
  guest.socket.emit('answer', { to: host.participantId, sdp: { type: 'answer', sdp: 'v=0 momento answer' } });
  assert.equal(await answer, { from: guest.participantId, sdp: { type: 'answer', sdp: 'v=0 momento answer' } });
  const ice = next(guest.socket, 'ice');
  const cand = { candidate: 'candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host', sdpMid: '0', sdpMLineIndex: 0 };
  host.socket.emit('ice', { to: guest.participantId, candidate: cand });
  assert.equal(await ice, { from: host.participantId, candidate: cand, sdpMid: '0', sdpMLineIndex: 0 });

  const beat = next(host.socket, 'heartbeat');
  const roomBeat = next(guest.socket, 'user-heartbeat');
  host.socket.emit('heartbeat');
  assert.type((await beat).ts, 'number');
  assert.is((await roomBeat).participantId, host.participantId);

  const gone = next(host.socket, 'user-disconnected');
  const left = next(guest.socket, 'room-left');
  guest.socket.emit('leave-room', 'momento-live');
  assert.is((await left).roomId, 'momento-live');
  assert.is((await gone).participantId, guest.participantId);
  const h = await http('GET', `${server.url}/health`);
  assert.is(h.body.rooms, 1);
});

test.run();
