/**
 * The end of egress-only meetings with the real server process and EGRESS_SESSION_IDLE_SEC=1: a meeting
 * opened by /egress-audio ends one idle time after its last stream closed, with endedAt = that close; a
 * stream opened before then keeps it ACTIVE; a LiveKit meeting (roomSid set by room_started) is left to
 * room_finished; a meeting left ACTIVE by a crash is ended by the next start's sweep.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type WebSocket from 'ws';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { closedRecordingOf, recordingsOf, session, type SessionJson } from '../helpers/sessions.js';
import { API_KEY, API_SECRET, sendEvent } from '../livekit/double.js';
import { FRAME_BYTES, SECRET, closed, open, sendPcm, signedEgressUrl, speechFixtures, waitFor } from './helpers.js';

const IDLE_MS = 1000;
const env = {
  EGRESS_SECRET: SECRET, EGRESS_SESSION_IDLE_SEC: String(IDLE_MS / 1000),
  // LiveKit configured (webhooks accepted) but never called: no auto egress.
  LIVEKIT_URL: 'http://127.0.0.1:9', LIVEKIT_API_KEY: API_KEY, LIVEKIT_API_SECRET: API_SECRET, AUTO_EGRESS: 'false',
};
const [speech] = speechFixtures();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let server: TestServer;

test.before(async () => { server = await startTestServer(env); });
test.after(async () => { await server.stop(); });

/** Open a signed /egress-audio stream and send `ms` of speech (faster than real time); the socket stays open. */
async function stream(s: TestServer, params: Record<string, string>, ms = 300): Promise<WebSocket> {
  const ws = await open(signedEgressUrl(s, params));
  await sendPcm(ws, speech.subarray(0, FRAME_BYTES * (ms / 10)));
  return ws;
}

/** Close like LiveKit (no code) and wait until the API shows the recording closed; returns the client's close time. */
async function close(s: TestServer, ws: WebSocket, participant: string): Promise<number> {
  const done = closed(ws);
  const at = Date.now();
  ws.close();
  await done;
  await waitFor(() => closedRecordingOf(s, participant), `${participant}'s recording closed`);
  return at;
}

const meetingOf = (s: TestServer, participant: string) =>
  waitFor(async () => (await recordingsOf(s, participant))[0]?.meetingId, `${participant}'s meeting`);

/** Poll the API until the session has `status`; returns it and when it was first seen so. */
async function waitStatus(s: TestServer, meetingId: string, status: SessionJson['status'], timeoutMs = 5000): Promise<{ ended: SessionJson; seenAt: number }> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const j = await session(s, meetingId);
    if (j.status === status) return { ended: j, seenAt: Date.now() };
    if (Date.now() > until) throw new Error(`${meetingId} still ${j.status} after ${timeoutMs} ms`);
    await sleep(50);
  }
}
const waitEnded = (s: TestServer, meetingId: string) => waitStatus(s, meetingId, 'ENDED');

test('an egress-only meeting ends one idle time after its last stream closed, endedAt = the close', async () => {
  const ws = await stream(server, { roomName: 'idle-one', participant: 'solo', trackId: 'TR_solo' });
  const meetingId = await meetingOf(server, 'solo');
  assert.is((await session(server, meetingId)).status, 'ACTIVE');
  const closedAt = await close(server, ws, 'solo');
  const { ended, seenAt } = await waitEnded(server, meetingId);
  assert.is(ended.roomSid, null);
  const rec = ended.recordings.find((r) => r.participant === 'solo')!;
  assert.is(ended.endedAt, rec.endedAt, 'endedAt is the moment the last stream closed');
  assert.ok(Math.abs(ended.endedAt! - closedAt) < 500, `endedAt ${ended.endedAt} vs client close ${closedAt}`);
  assert.ok(seenAt >= ended.endedAt! + IDLE_MS, `ENDED seen ${seenAt - ended.endedAt!} ms after the close, before the idle time`);
  assert.ok(seenAt <= ended.endedAt! + IDLE_MS + 2000, `ENDED only ${seenAt - ended.endedAt!} ms after the close`);
  assert.equal(ended.participants.map((p) => p.leftAt), [ended.endedAt], 'participants left at the end');
  // A new stream of that room is a new meeting.
  const again = await stream(server, { roomName: 'idle-one', participant: 'solo-2', trackId: 'TR_solo2' });
  assert.is.not(await meetingOf(server, 'solo-2'), meetingId);
  await close(server, again, 'solo-2');
});

test('a second stream opened before the idle time keeps the meeting ACTIVE; it ends after that one closes', async () => {
  const a = await stream(server, { roomName: 'idle-two', participant: 'first', trackId: 'TR_first' });
  const meetingId = await meetingOf(server, 'first');
  const firstClosed = await close(server, a, 'first');
  await sleep(IDLE_MS * 0.4);
  // Same room, no meetingId: the room's ACTIVE session.
  const b = await stream(server, { roomName: 'idle-two', participant: 'second', trackId: 'TR_second' });
  assert.is(await meetingOf(server, 'second'), meetingId);
  await sleep(IDLE_MS * 1.8 - (Date.now() - firstClosed));
  const during = await session(server, meetingId);
  assert.is(during.status, 'ACTIVE', `${Date.now() - firstClosed} ms after the first close, with the second stream open`);
  assert.is(during.endedAt, null);
  await sendPcm(b, speech.subarray(0, FRAME_BYTES * 10));
  const secondClosed = await close(server, b, 'second');
  const { ended, seenAt } = await waitEnded(server, meetingId);
  const rec = ended.recordings.find((r) => r.participant === 'second')!;
  assert.is(ended.endedAt, rec.endedAt);
  assert.ok(Math.abs(ended.endedAt! - secondClosed) < 500, `endedAt ${ended.endedAt} vs second close ${secondClosed}`);
  assert.ok(seenAt >= ended.endedAt! + IDLE_MS);
});

test('a stream naming an ended egress-only meeting re-opens it', async () => {
  const a = await stream(server, { roomName: 'idle-three', participant: 'p3', trackId: 'TR_p3' });
  const meetingId = await meetingOf(server, 'p3');
  await close(server, a, 'p3');
  await waitEnded(server, meetingId);
  const b = await stream(server, { roomName: 'idle-three', participant: 'p3b', trackId: 'TR_p3b', meetingId });
  const { ended: reopened } = await waitStatus(server, meetingId, 'ACTIVE');
  assert.is(reopened.endedAt, null);
  const closedAt = await close(server, b, 'p3b');
  const { ended } = await waitEnded(server, meetingId);
  assert.ok(Math.abs(ended.endedAt! - closedAt) < 500);
});

test('a LiveKit meeting (roomSid from room_started) is not ended by the idle rule', async () => {
  const room = { sid: 'RM_idle_livekit', name: 'idle-livekit', creationTime: BigInt(Math.floor(Date.now() / 1000)) };
  assert.is((await sendEvent(server.url, { event: 'room_started', room })).status, 200);
  const ws = await stream(server, { roomName: room.name, participant: 'lk', trackId: 'TR_lk', meetingId: room.sid });
  await close(server, ws, 'lk');
  await sleep(IDLE_MS * 2.5);
  const s = await session(server, room.sid);
  assert.is(s.roomSid, room.sid);
  assert.is(s.status, 'ACTIVE');
  assert.is(s.endedAt, null);
  assert.is((await sendEvent(server.url, { event: 'room_finished', room })).status, 200);
  assert.is((await session(server, room.sid)).status, 'ENDED');
});

test('a meeting left ACTIVE by a crash is ended by the next start, endedAt = its last close', async () => {
  const s1 = await startTestServer(env);
  const ws = await stream(s1, { roomName: 'idle-crash', participant: 'crashy', trackId: 'TR_crash' });
  const meetingId = await meetingOf(s1, 'crashy');
  await close(s1, ws, 'crashy');
  const atKill = await session(s1, meetingId);
  await s1.kill(); // before the idle time: nothing of this process ends it
  assert.is(atKill.status, 'ACTIVE');
  const lastClose = atKill.recordings[0]!.endedAt;
  assert.ok(lastClose !== null);
  const s2 = await startTestServer(env, { dataDir: s1.dataDir, storageDir: s1.storageDir });
  try {
    const { ended } = await waitEnded(s2, meetingId);
    assert.is(ended.endedAt, lastClose);
  } finally {
    await s2.stop();
  }
});

test.run();
