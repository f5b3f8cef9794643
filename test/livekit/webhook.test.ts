/**
 * POST /livekit/webhook with the real server: refused deliveries (401/400, nothing changed), de-duplication
 * by event id, deliveries out of order converging, and LiveKit failures during StartTrackEgress (5xx → 503 and
 * a retry does the work; 4xx → acknowledged).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TrackType } from 'livekit-server-sdk';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { SECRET as EGRESS_SECRET, query } from '../egress/helpers.js';
import { counts, getSession, listSessions } from '../helpers/sessions.js';
import { API_KEY, API_SECRET, LivekitDouble, postWebhook, sendEvent, signWebhook, webhookBody } from './double.js';

let server: TestServer;
let lk: LivekitDouble;

test.before(async () => {
  lk = await LivekitDouble.start();
  server = await startTestServer({ LIVEKIT_URL: lk.url, LIVEKIT_API_KEY: API_KEY, LIVEKIT_API_SECRET: API_SECRET, EGRESS_SECRET, AUTO_EGRESS: 'true' });
});
test.after(async () => {
  await server.stop();
  await lk.close();
});

const now = () => BigInt(Math.floor(Date.now() / 1000));
// Meetings and participants through GET /api/sessions(/:meetingId) (test/helpers/sessions.ts).
const sessionOf = (sid: string) => getSession(server, sid);
const participantOf = async (sid: string, identity: string) => (await getSession(server, sid))?.participants.find((p) => p.identity === identity);
// Stays on SQLite: LiveKit's bookkeeping (livekit_webhook_events, livekit_rooms, livekit_egresses) is not in the public API.
const count = (table: string) => query(server, (db) => (db.prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n);

test('refused deliveries: 401 for no/bad/expired signature or a tampered body, 400 for a signed non-event; nothing stored', async () => {
  const body = webhookBody({ event: 'room_started', room: { sid: 'RM_refused', name: 'refused', creationTime: now() } });
  const tampered = body.replace('"refused"', '"tampered"');
  const cases: [string, string | null, string][] = [
    ['no Authorization', null, body],
    ['empty Authorization', '', body],
    ['not a JWT', 'hello', body],
    ['tampered body (signature of the original)', await signWebhook(body), tampered],
    ['hash of another body', await signWebhook(body, { hashOf: body + ' ' }), body],
    ['wrong secret', await signWebhook(body, { apiSecret: 'another-secret-0123456789abcdefghij' }), body],
    ['wrong key (iss)', await signWebhook(body, { apiKey: 'APIother' }), body],
    ['expired', await signWebhook(body, { nbfSec: -600, expSec: -300 }), body],
    ['not yet valid', await signWebhook(body, { nbfSec: 120, expSec: 420 }), body],
  ];
  for (const [what, auth, sent] of cases) {
    const r = await postWebhook(server.url, sent, auth);
    assert.is(r.status, 401, `${what}: ${JSON.stringify(r.body)}`);
    assert.is(r.body.error.code, 'unauthorized', what);
  }
  for (const bad of ['{not json', '{"event":5}', '[]']) {
    const r = await postWebhook(server.url, bad, await signWebhook(bad));
    assert.is(r.status, 400, `${bad}: ${JSON.stringify(r.body)}`);
    assert.is(r.body.error.code, 'bad_request');
  }
  assert.is((await counts(server)).sessions, 0);
  assert.is(count('livekit_webhook_events'), 0);
  assert.is(count('livekit_rooms'), 0);
  // The same body with a valid signature is accepted: the refusals were about the signature only.
  const ok = await postWebhook(server.url, body);
  assert.is(ok.status, 200);
  assert.is((await sessionOf('RM_refused'))?.status, 'ACTIVE');
});

test('the same event twice has one effect', async () => {
  const room = { sid: 'RM_dup', name: 'dup', creationTime: now() };
  const started = webhookBody({ event: 'room_started', room });
  assert.equal((await postWebhook(server.url, started)).body, { ok: true, event: 'room_started', duplicate: false });
  assert.equal((await postWebhook(server.url, started)).body, { ok: true, event: 'room_started', duplicate: true });

  const p = { identity: 'dana', name: 'Dana', metadata: '{"roles":["host"]}', joinedAt: now() };
  const joined = webhookBody({ event: 'participant_joined', room, participant: p });
  assert.is((await postWebhook(server.url, joined)).status, 200);
  assert.is((await sendEvent(server.url, { event: 'participant_left', room, participant: p })).status, 200);
  const leftAt = (await participantOf(room.sid, 'dana'))!.leftAt;
  assert.ok(leftAt !== null);
  // LiveKit retries the join (same id): it was handled, so Dana stays gone.
  assert.is((await postWebhook(server.url, joined)).body.duplicate, true);
  assert.is((await participantOf(room.sid, 'dana'))!.leftAt, leftAt);

  // One egress per track: a retry of track_published (same id) and a second event for the same track.
  lk.rooms.set(room.name, room.sid);
  const track = { sid: 'TR_dup', type: TrackType.AUDIO };
  const p2 = { identity: 'eli', joinedAt: now() };
  const published = webhookBody({ event: 'track_published', room, participant: p2, track });
  const before = lk.succeeded('StartTrackEgress').length;
  assert.is((await postWebhook(server.url, published)).status, 200);
  assert.is((await postWebhook(server.url, published)).body.duplicate, true);
  assert.is((await sendEvent(server.url, { event: 'track_published', room, participant: p2, track })).status, 200);
  assert.is(lk.succeeded('StartTrackEgress').length, before + 1);
  assert.is(count("livekit_egresses WHERE track_sid = 'TR_dup'"), 1);
  const unpublished = webhookBody({ event: 'track_unpublished', room, participant: p2, track });
  const stops = lk.succeeded('StopEgress').length;
  assert.is((await postWebhook(server.url, unpublished)).status, 200);
  assert.is((await postWebhook(server.url, unpublished)).body.duplicate, true);
  assert.is(lk.succeeded('StopEgress').length, stops + 1);
});

test('out-of-order deliveries converge', async () => {
  const room = { sid: 'RM_ooo', name: 'ooo', creationTime: now() };
  const zoe = { identity: 'zoe', name: 'Zoe', metadata: JSON.stringify({ roles: ['host'], name: 'Zoe Z.' }), joinedAt: now() };
  const yan = { identity: 'yan', name: 'Yan', joinedAt: now() };
  // participant_joined before room_started creates the session.
  assert.is((await sendEvent(server.url, { event: 'participant_joined', room, participant: zoe })).status, 200);
  const opened = await sessionOf(room.sid);
  assert.is(opened?.status, 'ACTIVE');
  assert.is(opened?.roomName, 'ooo');
  const zoeIn = opened?.participants.find((p) => p.identity === 'zoe');
  assert.equal([zoeIn?.name, zoeIn?.isHost], ['Zoe Z.', true]);
  assert.is((await sendEvent(server.url, { event: 'room_started', room })).status, 200);
  assert.is((await sessionOf(room.sid))?.status, 'ACTIVE');
  assert.is((await listSessions(server)).filter((x) => x.meetingId === 'RM_ooo').length, 1);
  // participant_left before participant_joined: Yan ends up gone.
  assert.is((await sendEvent(server.url, { event: 'participant_left', room, participant: yan })).status, 200);
  assert.is((await sendEvent(server.url, { event: 'participant_joined', room, participant: yan })).status, 200);
  const yanIn = (await participantOf(room.sid, 'yan'))!;
  assert.ok(yanIn.leftAt !== null);
  assert.is(yanIn.name, 'Yan');

  // room_finished before room_started: the late room_started does not re-open the meeting, a late join stays out.
  const room2 = { sid: 'RM_ooo2', name: 'ooo2', creationTime: now() };
  assert.is((await sendEvent(server.url, { event: 'room_finished', room: room2 })).status, 200);
  assert.is((await sessionOf(room2.sid))?.status, 'ENDED');
  assert.is((await sendEvent(server.url, { event: 'room_started', room: room2 })).status, 200);
  assert.is((await sessionOf(room2.sid))?.status, 'ENDED');
  assert.is((await sendEvent(server.url, { event: 'participant_joined', room: room2, participant: zoe })).status, 200);
  assert.ok((await participantOf(room2.sid, 'zoe'))!.leftAt !== null);
  // An audio track of a finished room starts no egress.
  const starts = lk.succeeded('StartTrackEgress').length;
  assert.is((await sendEvent(server.url, { event: 'track_published', room: room2, participant: zoe, track: { sid: 'TR_late', type: TrackType.AUDIO } })).status, 200);
  assert.is(lk.succeeded('StartTrackEgress').length, starts);

  // egress_ended before egress_started: the egress stays ended.
  const info = (status: number) => ({ egressId: 'EG_ooo', roomId: room.sid, roomName: room.name, status, request: { case: 'track' as const, value: { roomName: room.name, trackId: 'TR_x' } } });
  assert.is((await sendEvent(server.url, { event: 'egress_ended', egressInfo: info(3) })).status, 200);
  assert.is((await sendEvent(server.url, { event: 'egress_started', egressInfo: info(1) })).status, 200);
  // Stays on SQLite: no recording carries this egress, so its status shows nowhere in the public API.
  assert.is(query(server, (db) => (db.prepare("SELECT status FROM livekit_egresses WHERE egress_id = 'EG_ooo'").get() as { status: string }).status), 'EGRESS_COMPLETE');

  // Unknown events are acknowledged and ignored.
  const r = await sendEvent(server.url, { event: 'ingress_started', ingressInfo: { ingressId: 'IN_1' } });
  assert.equal(r.body, { ok: true, event: 'ingress_started', duplicate: false });
});

test('LiveKit down during StartTrackEgress: 503, then the retry of the same event starts the egress; a 4xx is acknowledged', async () => {
  const room = { sid: 'RM_retry', name: 'retry', creationTime: now() };
  lk.rooms.set(room.name, room.sid);
  const p = { identity: 'rita', joinedAt: now() };
  const track = { sid: 'TR_retry', type: TrackType.AUDIO };
  const body = webhookBody({ event: 'track_published', room, participant: p, track });
  const id = JSON.parse(body).id as string;
  lk.failNext('StartTrackEgress', { status: 503, json: false, msg: 'egress service unavailable' });
  const first = await postWebhook(server.url, body);
  assert.is(first.status, 503, JSON.stringify(first.body));
  assert.is(first.body.error.code, 'unavailable');
  assert.is(count(`livekit_webhook_events WHERE id = '${id}'`), 0, 'the id is not kept, so the retry is not a duplicate');
  const retry = await postWebhook(server.url, body);
  assert.equal(retry.body, { ok: true, event: 'track_published', duplicate: false });
  assert.ok(lk.succeeded('StartTrackEgress').some((c) => c.body.trackId === 'TR_retry'));
  assert.is(count("livekit_egresses WHERE track_sid = 'TR_retry'"), 1);

  lk.failNext('StartTrackEgress', { status: 404, code: 'not_found', msg: 'track not found' });
  const refused = await sendEvent(server.url, { event: 'track_published', room, participant: p, track: { sid: 'TR_gone', type: TrackType.AUDIO } });
  assert.is(refused.status, 200);
  assert.is(count("livekit_egresses WHERE track_sid = 'TR_gone'"), 0);
});

test.run();
