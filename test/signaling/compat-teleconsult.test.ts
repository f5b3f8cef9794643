/**
 * The simple-peer teleconsultation app, as it is written: plain socket.io-client, a doctor and a patient in a
 * consultation room, chat, and simple-peer's own signal objects relayed untouched (a `signal {to, data}` event
 * beside `offer`/`answer` carrying renegotiate and transceiverRequest objects); GET /api/webrtc/stats.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Socket } from 'socket.io-client';
import { http, startTestServer, type TestServer } from '../helpers/server.js';
import { registerAccount } from '../helpers/auth.js';
import { next, sioClients } from '../helpers/sio.js';

let server: TestServer;
const clients = sioClients(() => server.url);
const connect = clients.connect;

test.before(async () => { server = await startTestServer(); });
test.after.each(() => clients.disconnectAll());
test.after(async () => { await server.stop(); });

test('doctor and patient: join, chat, simple-peer signals relayed untouched, stats, leave', async () => {
  const doctor = await connect();
  const patient = await connect();
  const dj = next(doctor.socket, 'room-joined');
  doctor.socket.emit('join-room', { roomId: 'consult-42', name: 'Dr. Silva', role: 'doctor' });
  await dj;
  const pj = next(patient.socket, 'room-joined');
  const arrived = next(doctor.socket, 'user-connected');
  patient.socket.emit('join-room', { roomId: 'consult-42', name: 'Patient', role: 'patient' });
  assert.is((await pj).participants.length, 2);
  assert.is((await arrived).role, 'patient');

  const chats = [next(doctor.socket, 'chat'), next(patient.socket, 'chat')];
  patient.socket.emit('chat', { roomId: 'consult-42', text: 'Good morning, doctor' });
  for (const c of await Promise.all(chats)) assert.equal({ from: c.from, name: c.name, text: c.text }, { from: patient.participantId, name: 'Patient', text: 'Good morning, doctor' });
  const chat2 = next(patient.socket, 'chat');
  doctor.socket.emit('chat', 'consult-42', 'Hello');
  assert.is((await chat2).text, 'Hello');

  // simple-peer: peer.on('signal', data => socket.emit('signal', {to, data})); socket.on('signal', ({data}) => peer.signal(data))
  const signals = [
    { type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n' },
    { type: 'candidate', candidate: { candidate: 'candidate:1 1 udp 2122260223 192.0.2.1 54400 typ host', sdpMLineIndex: 0, sdpMid: '0' } },
    { type: 'renegotiate', renegotiate: true },
    { type: 'transceiverRequest', transceiverRequest: { kind: 'video', init: { direction: 'sendrecv' } } },
  ];
  for (const data of signals) {
    const got = next(patient.socket, 'signal');
    doctor.socket.emit('signal', { to: patient.participantId, data });
    assert.equal(await got, { from: doctor.participantId, data });
  }
  const back = next(doctor.socket, 'signal');
  patient.socket.emit('signal', doctor.participantId, { type: 'answer', sdp: 'v=0 answer' });
  assert.equal(await back, { from: patient.participantId, data: { type: 'answer', sdp: 'v=0 answer' } });

  // The same objects through offer/answer: sdp as an object is relayed as it came.
  for (const sdp of [{ renegotiate: true }, { transceiverRequest: { kind: 'video' } }, { type: 'offer', sdp: 'v=0 whole' }]) {
    const got = next(patient.socket, 'offer');
    doctor.socket.emit('offer', { to: patient.participantId, sdp });
    assert.equal(await got, { from: doctor.participantId, sdp });
  }
  const ans = next(doctor.socket, 'answer');
  patient.socket.emit('answer', { to: doctor.participantId, sdp: { type: 'answer', sdp: 'v=0 a', extra: 1 } });
  assert.equal((await ans).sdp, { type: 'answer', sdp: 'v=0 a', extra: 1 });

  const err = next(doctor.socket, 'error');
  doctor.socket.emit('signal', { to: patient.participantId, data: 'not an object' });
  const e = await err;
  assert.equal({ code: e.code, message: e.message }, { code: 'bad_request', message: 'data: expected an object' });
  const err2 = next(doctor.socket, 'error');
  doctor.socket.emit('signal', { to: 'nobody', data: {} });
  assert.is((await err2).code, 'peer_not_found');

  const stats = await http('GET', `${server.url}/api/webrtc/stats`);
  assert.is(stats.status, 200);
  assert.is(stats.body.rooms, 1);
  assert.is(stats.body.connections, 2);
  assert.equal(stats.body.participantsByRoom, { 'consult-42': 2 });

  const gone = next(doctor.socket, 'user-disconnected');
  patient.socket.emit('leave-room', { roomId: 'consult-42' });
  assert.is((await gone).participantId, patient.participantId);
  const after = await http('GET', `${server.url}/api/webrtc/stats`);
  assert.equal(after.body.participantsByRoom, { 'consult-42': 1 });
});

test("GET /api/webrtc/stats lists only the rooms the caller may see (another organization's rooms are hidden)", async () => {
  const clinicA = await registerAccount(server, { organization: 'Clinic A' });
  const clinicB = await registerAccount(server, { organization: 'Clinic B' });
  const { socket } = await connect({ query: { token: clinicA.accessToken } });
  const room = `${clinicA.orgId}:consult-private`;
  const j = next(socket, 'room-joined');
  socket.emit('join-room', { roomId: room, name: 'Dr. A' });
  await j;
  const a = await http('GET', `${server.url}/api/webrtc/stats`, undefined, clinicA.headers);
  assert.is(a.body.participantsByRoom[room], 1);
  const b = await http('GET', `${server.url}/api/webrtc/stats`, undefined, clinicB.headers);
  assert.is(b.status, 200);
  assert.is(b.body.participantsByRoom[room], undefined);
  assert.is(b.body.rooms, Object.keys(b.body.participantsByRoom).length);
  assert.ok(!Object.keys(b.body.participantsByRoom).some((k) => k.startsWith(`${clinicA.orgId}:`)));
});

test.run();
