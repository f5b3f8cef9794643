/**
 * End to end with the real server process and the LiveKit test double: signed webhooks drive a meeting
 * room_started → participant_joined (host and guest) → track_published (audio) → the double receives
 * StartTrackEgress with a signed /egress-audio URL → this test plays LiveKit's egress: it dials that URL and
 * streams speech PCM → the recording exists (GET /api/sessions/:meetingId), linked to the egress → track_unpublished → StopEgress →
 * the egress closes with no code → egress_ended → room_finished ends the session and closes everything.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EgressStatus, TrackSource, TrackType } from 'livekit-server-sdk';
import { STREAM_QUEUE_MS, http, startTestServer, type TestServer } from '../helpers/server.js';
import { SECRET as EGRESS_SECRET, closed, open, parseWav, query, sendPcm, sha256, waitFor } from '../egress/helpers.js';
import { getSession, session as sessionOf } from '../helpers/sessions.js';
import { gain, loadFixture, toStereoBytes } from '../helpers/fixtures.js';
import WebSocket from 'ws';
import { SignalingClient, type ServerMessage } from '../../src/client/index.js';
import { API_KEY, API_SECRET, LivekitDouble, sendEvent } from './double.js';

const PUBLIC_URL = 'https://meet.example.com';
let server: TestServer;
let lk: LivekitDouble;
// The guest speaks 30 dB too quietly, so the host gets volume_low feedback about them.
const speech = toStereoBytes(gain(loadFixture('en-male').samples, -30));

test.before(async () => {
  lk = await LivekitDouble.start();
  server = await startTestServer({
    LIVEKIT_URL: lk.url, LIVEKIT_API_KEY: API_KEY, LIVEKIT_API_SECRET: API_SECRET, EGRESS_SECRET, PUBLIC_URL, AUDIO_STREAM_QUEUE_MS: STREAM_QUEUE_MS,
  });
});
test.after(async () => {
  await server.stop();
  await lk.close();
});

const ROOM = { sid: 'RM_flowRoom1', name: 'design review', creationTime: BigInt(Math.floor(Date.now() / 1000)) };
const host = { sid: 'PA_host', identity: 'hana-1', name: 'Hana', metadata: JSON.stringify({ roles: ['host'], name: 'Hana H.' }), joinedAt: BigInt(Math.floor(Date.now() / 1000)) };
const guest = { sid: 'PA_guest', identity: 'gus-2', name: 'Gus', metadata: JSON.stringify({ roles: [], name: 'Gus G.' }), joinedAt: BigInt(Math.floor(Date.now() / 1000)) };
const audioTrack = { sid: 'TR_gusMic', type: TrackType.AUDIO, source: TrackSource.MICROPHONE, mimeType: 'audio/opus', name: 'mic' };

// Meeting, participant and recording state through GET /api/sessions/:meetingId (test/helpers/sessions.ts).
const session = () => getSession(server, ROOM.sid);
const participants = async () => (await sessionOf(server, ROOM.sid)).participants.sort((a, b) => a.identity.localeCompare(b.identity));
const recordings = async () => (await sessionOf(server, ROOM.sid)).recordings.sort((a, b) => a.id - b.id);

test('room → participants → audio track egress to /egress-audio → stop → room finished', async () => {
  lk.rooms.set(ROOM.name, ROOM.sid);
  let r = await sendEvent(server.url, { event: 'room_started', room: ROOM });
  assert.is(r.status, 200, JSON.stringify(r.body));
  assert.equal(r.body, { ok: true, event: 'room_started', duplicate: false });
  const opened = (await session())!;
  assert.equal(opened, { ...opened, meetingId: ROOM.sid, roomName: ROOM.name, roomSid: ROOM.sid, status: 'ACTIVE', endedAt: null });

  for (const p of [host, guest]) {
    r = await sendEvent(server.url, { event: 'participant_joined', room: ROOM, participant: p });
    assert.is(r.status, 200);
  }
  assert.equal((await participants()).map((p) => [p.identity, p.name, p.roles, p.isHost, p.leftAt]), [
    ['gus-2', 'Gus G.', [], false, null],
    ['hana-1', 'Hana H.', ['host'], true, null],
  ]);

  // A video track starts nothing; the guest's microphone starts a Track Egress.
  r = await sendEvent(server.url, { event: 'track_published', room: ROOM, participant: guest, track: { sid: 'TR_cam', type: TrackType.VIDEO, source: TrackSource.CAMERA } });
  assert.is(r.status, 200);
  r = await sendEvent(server.url, { event: 'track_published', room: ROOM, participant: guest, track: audioTrack });
  assert.is(r.status, 200, JSON.stringify(r.body));
  const start = await lk.waitForCall('StartTrackEgress');
  assert.is(lk.succeeded('StartTrackEgress').length, 1, 'one egress, for the audio track only');
  assert.is(start.claims!.video!.roomRecord, true);
  assert.is(start.claims!.iss, API_KEY);
  assert.match(start.contentType, /^application\/json/);
  assert.is(start.body.roomName, ROOM.name);
  assert.is(start.body.trackId, audioTrack.sid);
  const url = new URL(start.body.websocketUrl as string);
  assert.is(`${url.protocol}//${url.host}${url.pathname}`, 'wss://meet.example.com/egress-audio');
  const q = Object.fromEntries(url.searchParams);
  assert.equal({ ...q, exp: undefined, sig: undefined }, {
    roomName: ROOM.name, participant: guest.identity, trackId: audioTrack.sid, meetingId: ROOM.sid, sampleRate: '48000', channels: '2',
    exp: undefined, sig: undefined,
  });
  assert.ok(Number(q.exp) > Date.now() / 1000 && q.sig);
  const egressId = [...lk.egresses.keys()][0]!;

  // LiveKit's egress dials PUBLIC_URL; here that host is this test server (same path and signed query).
  // The host subscribes to the meeting's feedback with a LiveKit host token from POST /auth/token.
  const minted = await http('POST', `${server.url}/auth/token`, { participantName: 'Hana', roomName: ROOM.name, metadata: { roles: ['host'] } });
  assert.is(minted.status, 200, JSON.stringify(minted.body));
  const hostClient = await new SignalingClient({ url: server.wsUrl, WebSocket, token: minted.body.token }).connect();
  const feedback: ServerMessage[] = [];
  hostClient.on('feedback', (m) => feedback.push(m));
  await hostClient.join(`feedback:${ROOM.sid}`);
  const ws = await open(`${server.wsUrl}${url.pathname}${url.search}`);
  await sendPcm(ws, speech);
  const low = await waitFor(() => feedback.find((m) => m.kind === 'volume_low'), 'volume_low reaches the host', 20_000);
  assert.is(low.participantId, guest.identity);
  assert.is(low.meetingId, ROOM.sid);
  assert.match(String(low.message), /Gus G\. is hard to hear/);
  hostClient.close();
  const rec = await waitFor(async () => (await recordings()).find((x) => x.bytes === speech.length || x.status === 'RECORDING'), 'recording');
  assert.is(rec.participant, guest.identity);
  assert.is(rec.trackId, audioTrack.sid);
  assert.is(rec.status, 'RECORDING');
  assert.is(rec.egressId, egressId, 'the recording is linked to its egress');
  assert.is(rec.egressStatus, 'EGRESS_STARTING');

  r = await sendEvent(server.url, { event: 'egress_started', egressInfo: { egressId, roomId: ROOM.sid, roomName: ROOM.name, status: EgressStatus.EGRESS_ACTIVE, request: { case: 'track', value: { roomName: ROOM.name, trackId: audioTrack.sid, output: { case: 'websocketUrl', value: start.body.websocketUrl } } } } });
  assert.is(r.status, 200);
  assert.is((await recordings())[0]!.egressStatus, 'EGRESS_ACTIVE');

  // Unpublish: meetcore stops the egress; LiveKit then ends the socket with a close frame without a code.
  const wsClosed = closed(ws);
  r = await sendEvent(server.url, { event: 'track_unpublished', room: ROOM, participant: guest, track: audioTrack });
  assert.is(r.status, 200);
  const stop = await lk.waitForCall('StopEgress');
  assert.is(stop.body.egressId, egressId);
  assert.is(stop.claims!.video!.roomRecord, true);
  ws.close();
  await wsClosed;
  const done = await waitFor(async () => (await recordings()).find((x) => x.status === 'COMPLETE'), 'recording closed');
  assert.is(done.bytes, speech.length);
  assert.match(done.closeReason ?? '', /^1005 /);
  assert.is(sha256(parseWav(`${server.storageDir}/${done.path}`).data), sha256(speech), 'the recording holds the streamed PCM');
  assert.is(done.egressStatus, 'EGRESS_ENDING');

  r = await sendEvent(server.url, { event: 'egress_ended', egressInfo: { egressId, roomId: ROOM.sid, roomName: ROOM.name, status: EgressStatus.EGRESS_COMPLETE, endedAt: BigInt(Date.now()) * 1_000_000n, request: { case: 'track', value: { roomName: ROOM.name, trackId: audioTrack.sid } } } });
  assert.is(r.status, 200);
  // A late egress_updated (ACTIVE) does not move a finished egress back.
  r = await sendEvent(server.url, { event: 'egress_updated', egressInfo: { egressId, roomId: ROOM.sid, roomName: ROOM.name, status: EgressStatus.EGRESS_ACTIVE } });
  assert.is(r.status, 200);
  assert.is((await recordings())[0]!.egressStatus, 'EGRESS_COMPLETE');
  // Stays on SQLite: the egress bookkeeping (livekit_egresses: stop requested, ended) is not in the public API.
  const egressRow = query(server, (db) => db.prepare('SELECT * FROM livekit_egresses WHERE egress_id = ?').get(egressId) as { status: string; participant: string; track_sid: string; meeting_id: string; ended_at: number | null; stop_requested_at: number | null });
  assert.equal([egressRow.status, egressRow.participant, egressRow.track_sid, egressRow.meeting_id], ['EGRESS_COMPLETE', guest.identity, audioTrack.sid, ROOM.sid]);
  assert.ok(egressRow.ended_at !== null && egressRow.stop_requested_at !== null);

  r = await sendEvent(server.url, { event: 'participant_left', room: ROOM, participant: guest });
  assert.is(r.status, 200);
  r = await sendEvent(server.url, { event: 'room_finished', room: ROOM });
  assert.is(r.status, 200);
  const s = (await session())!;
  assert.is(s.status, 'ENDED');
  assert.ok(s.endedAt !== null);
  assert.ok(s.participants.every((p) => p.leftAt !== null), 'everyone has left a finished room');
  assert.ok(s.recordings.every((x) => x.status !== 'RECORDING'), 'no recording left open');
  assert.is(lk.succeeded('StopEgress').length, 1, 'nothing left to stop at room end');
  const errors = server.logs.filter((l) => typeof l.level === 'number' && l.level >= 50);
  assert.equal(errors, [], 'no error was logged');
});

test('room_finished stops a track egress still running and its recording closes', async () => {
  const room = { sid: 'RM_flowRoom2', name: 'standup', creationTime: BigInt(Math.floor(Date.now() / 1000)) };
  lk.rooms.set(room.name, room.sid);
  const track = { sid: 'TR_hanaMic', type: TrackType.AUDIO, source: TrackSource.MICROPHONE };
  assert.is((await sendEvent(server.url, { event: 'room_started', room })).status, 200);
  assert.is((await sendEvent(server.url, { event: 'participant_joined', room, participant: host })).status, 200);
  assert.is((await sendEvent(server.url, { event: 'track_published', room, participant: host, track })).status, 200);
  const start = await lk.waitForCall('StartTrackEgress', (c) => c.body.trackId === track.sid);
  const url = new URL(start.body.websocketUrl as string);
  const ws = await open(`${server.wsUrl}${url.pathname}${url.search}`);
  await sendPcm(ws, speech.subarray(0, 48000 * 4));
  await waitFor(async () => (await getSession(server, room.sid))?.recordings.find((x) => x.status === 'RECORDING' && x.egressId !== null), 'recording linked to its egress');

  const wsClosed = closed(ws);
  assert.is((await sendEvent(server.url, { event: 'room_finished', room })).status, 200);
  const stop = await lk.waitForCall('StopEgress', (c) => lk.egresses.get(c.body.egressId)?.trackId === track.sid);
  assert.ok(stop);
  ws.close();
  await wsClosed;
  const s = await waitFor(async () => {
    const x = await sessionOf(server, room.sid);
    return x.recordings.length === 1 && x.recordings[0]!.status === 'COMPLETE' ? x : null;
  }, 'recording closed');
  assert.is(s.recordings[0]!.bytes, 48000 * 4);
  assert.is(s.status, 'ENDED');
  assert.ok(s.participants.length === 1 && s.participants[0]!.leftAt !== null);
});

test.run();
