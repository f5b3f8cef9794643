/**
 * Units of the LiveKit area (no server process): participant metadata parsing, the host-role policy of
 * POST /auth/token, the egress status merge of LivekitStore, and the fidelity of the LiveKit test double
 * to livekit-server-sdk's own clients (grants checked, errors as the SDK reads them).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { EgressClient, RoomServiceClient, TwirpError } from 'livekit-server-sdk';
import { LivekitStore } from '../../src/livekit/store.js';
import { parseParticipantMetadata } from '../../src/livekit/tokens.js';
import { openDatabase } from '../../src/store/db.js';
import { API_KEY, API_SECRET, LivekitDouble } from './double.js';

test('parseParticipantMetadata: roles and name from a JSON object, null otherwise', () => {
  assert.equal(parseParticipantMetadata('{"roles":["host","x",3],"name":"Hana"}'), { roles: ['host', 'x'], name: 'Hana' });
  assert.equal(parseParticipantMetadata('{"other":1}'), {});
  for (const bad of ['', undefined, null, 'not json', '[1]', '"host"', 'null']) assert.is(parseParticipantMetadata(bad), null, String(bad));
});

test('LivekitStore: egress status only moves forward, known fields are kept, event ids are claimed once', () => {
  const db = openDatabase(':memory:');
  const s = new LivekitStore(db);
  s.upsertEgress({ egressId: 'EG_1', meetingId: 'RM_1', roomName: 'r', participant: 'p', trackSid: 'TR_1', status: 'EGRESS_STARTING' }, 1);
  assert.is(s.activeEgressForTrack('RM_1', 'TR_1')?.egressId, 'EG_1');
  s.upsertEgress({ egressId: 'EG_1', status: 'EGRESS_ACTIVE', startedAt: 10 }, 2);
  s.upsertEgress({ egressId: 'EG_1', status: 'EGRESS_STARTING' }, 3);
  assert.is(s.egress('EG_1')!.status, 'EGRESS_ACTIVE');
  s.upsertEgress({ egressId: 'EG_1', status: 'EGRESS_FAILED', error: 'boom', endedAt: 20 }, 4);
  s.upsertEgress({ egressId: 'EG_1', status: 'EGRESS_COMPLETE' }, 5);
  s.upsertEgress({ egressId: 'EG_1', status: 'EGRESS_ACTIVE', meetingId: 'RM_x', participant: 'q' }, 6);
  const e = s.egress('EG_1')!;
  assert.equal([e.status, e.error, e.meetingId, e.participant, e.trackSid, e.startedAt, e.endedAt], ['EGRESS_FAILED', 'boom', 'RM_1', 'p', 'TR_1', 10, 20]);
  assert.is(s.activeEgressForTrack('RM_1', 'TR_1'), null);
  assert.is(s.latestEgressForTrack('RM_1', 'TR_1')?.egressId, 'EG_1');

  assert.is(s.claimEvent('EV_1', 'room_started', 'RM_1', 1000, 5000), true);
  assert.is(s.claimEvent('EV_1', 'room_started', 'RM_1', 1000, 6000), false);
  s.releaseEvent('EV_1');
  assert.is(s.claimEvent('EV_1', 'room_started', 'RM_1', 1000, 7000), true);
  assert.is(s.pruneEvents(7001), 1);
  assert.is(s.claimEvent('EV_1', 'room_started', 'RM_1', 1000, 8000), true);

  s.markRoomStarted('RM_1', 'r', 500);
  s.markRoomStarted('RM_1', 'r', 400);
  s.markRoomFinished('RM_1', 'r', 900);
  s.markRoomFinished('RM_1', 'r', 950);
  assert.equal(s.room('RM_1'), { roomSid: 'RM_1', roomName: 'r', startedAt: 400, finishedAt: 900 });
  db.close();
});

test('the LiveKit double speaks Twirp to livekit-server-sdk: grants checked, calls recorded, errors readable', async () => {
  const lk = await LivekitDouble.start();
  try {
    lk.rooms.set('r1', 'RM_r1');
    const egress = new EgressClient(lk.url, API_KEY, API_SECRET);
    const info = await egress.startTrackEgress('r1', 'wss://example.com/egress-audio?x=1', 'TR_1');
    assert.match(info.egressId, /^EG_/);
    assert.is(info.roomId, 'RM_r1');
    assert.is(info.request.case, 'track');
    const listed = await egress.listEgress({ roomName: 'r1' });
    assert.equal(listed.map((e) => e.egressId), [info.egressId]);
    const stopped = await egress.stopEgress(info.egressId);
    assert.is(stopped.status, 2, 'EGRESS_ENDING');
    try {
      await egress.stopEgress(info.egressId);
      assert.unreachable('stopped twice');
    } catch (err) {
      assert.instance(err, TwirpError);
      assert.equal([(err as TwirpError).status, (err as TwirpError).code], [412, 'failed_precondition']);
    }
    try {
      await egress.stopEgress('EG_nope');
      assert.unreachable('unknown egress');
    } catch (err) {
      assert.equal([(err as TwirpError).status, (err as TwirpError).code], [404, 'not_found']);
    }
    const start = lk.calls.find((c) => c.method === 'StartTrackEgress')!;
    assert.equal(start.body, { roomName: 'r1', trackId: 'TR_1', websocketUrl: 'wss://example.com/egress-audio?x=1' });
    assert.match(start.contentType, /^application\/json;charset=UTF-8$/i);
    assert.is(start.claims!.video!.roomRecord, true);

    const rooms = new RoomServiceClient(lk.url, API_KEY, API_SECRET);
    assert.equal((await rooms.listRooms()).map((r) => [r.name, r.sid]), [['r1', 'RM_r1']]);
    assert.equal(await rooms.listParticipants('r1'), []);
    await rooms.removeParticipant('r1', 'someone');
    await rooms.mutePublishedTrack('r1', 'someone', 'TR_1', true);
    await rooms.updateParticipant('r1', 'someone', { metadata: '{"roles":["host"]}' });
    assert.equal(lk.calls.filter((c) => c.service === 'RoomService').map((c) => [c.method, c.status, c.claims?.video?.room ?? null]), [
      ['ListRooms', 200, null], ['ListParticipants', 200, 'r1'], ['RemoveParticipant', 200, 'r1'], ['MutePublishedTrack', 200, 'r1'], ['UpdateParticipant', 200, 'r1'],
    ]);

    const wrong = new EgressClient(lk.url, API_KEY, 'another-secret-0123456789abcdefghij');
    try {
      await wrong.startTrackEgress('r1', 'wss://example.com/egress-audio', 'TR_2');
      assert.unreachable('wrong secret accepted');
    } catch (err) {
      assert.equal([(err as TwirpError).status, (err as TwirpError).code], [401, 'unauthenticated']);
    }
    lk.failNext('StartTrackEgress', { status: 503, json: false, msg: 'down' });
    try {
      await egress.startTrackEgress('r1', 'wss://example.com/egress-audio', 'TR_3');
      assert.unreachable('injected failure ignored');
    } catch (err) {
      assert.is((err as TwirpError).status, 503);
    }
  } finally {
    await lk.close();
  }
});

test.run();
