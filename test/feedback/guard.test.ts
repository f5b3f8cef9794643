/**
 * Who may join `feedback:<meetingId>`: a host's LiveKit token of that meeting's room, or an owner/admin
 * access token; not a guest's LiveKit token, not a host token of another room, not an anonymous socket.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { AccessToken } from 'livekit-server-sdk';
import { registerAccount, tryJoin } from '../helpers/auth.js';
import { http, startTestServer, type TestServer } from '../helpers/server.js';
import { API_KEY, API_SECRET, sendEvent } from '../livekit/double.js';

const KEY = API_KEY;
const SECRET = API_SECRET;
let server: TestServer;

test.before(async () => {
  server = await startTestServer({ LIVEKIT_URL: 'http://127.0.0.1:9', LIVEKIT_API_KEY: KEY, LIVEKIT_API_SECRET: SECRET, AUTO_EGRESS: 'false' });
  // Two meetings of no organization, opened by LiveKit.
  for (const [sid, name] of [['RM_standup', 'standup'], ['RM_unowned', 'unowned']]) {
    assert.is((await sendEvent(server.url, { event: 'room_started', room: { sid, name } })).status, 200);
  }
});
test.after(async () => { await server.stop(); });

/** A LiveKit token as LiveKit clients carry it, signed with the project's secret. */
async function livekitToken(room: string, roles: string[]): Promise<string> {
  const at = new AccessToken(KEY, SECRET, { identity: `id-${roles.join('') || 'guest'}`, metadata: JSON.stringify({ roles }) });
  at.addGrant({ roomJoin: true, room });
  return at.toJwt();
}

test('a host LiveKit token of the room joins; a guest token, another room or no token do not', async () => {
  assert.is(await tryJoin(server, 'feedback:RM_standup', await livekitToken('standup', ['host'])), 'joined');
  assert.is(await tryJoin(server, 'feedback:RM_standup', await livekitToken('standup', [])), 'forbidden');
  assert.is(await tryJoin(server, 'feedback:RM_standup', await livekitToken('other-room', ['host'])), 'forbidden');
  assert.is(await tryJoin(server, 'feedback:RM_standup'), 'unauthorized');
  assert.is(await tryJoin(server, 'feedback:standup', await livekitToken('standup', ['host'])), 'not_found', 'feedback rooms are named by meetingId, not room name');
  assert.is(await tryJoin(server, 'standup'), 'joined', 'ordinary rooms stay open');
});

test('an owner access token joins the feedback room of a meeting no organization owns', async () => {
  const owner = await registerAccount(server);
  assert.is(await tryJoin(server, 'feedback:RM_unowned', owner.accessToken), 'joined');
});

test('feedback routes: bearer required; a bad since or meetingId is a 400 naming it; an unknown meeting is empty', async () => {
  const owner = await registerAccount(server);
  for (const path of ['/feedback/MT_x', '/feedback/debug/MT_x', '/feedback/metrics/MT_x']) {
    assert.is((await http('GET', `${server.url}${path}`)).status, 401, path);
  }
  const bad = await http('GET', `${server.url}/feedback/MT_x?since=yesterday`, undefined, owner.headers);
  assert.is(bad.status, 400);
  assert.match(bad.body.error.message, /^since:/);
  assert.is((await http('GET', `${server.url}/feedback/MT_x?limit=0`, undefined, owner.headers)).status, 400);
  assert.is((await http('GET', `${server.url}/feedback/${'m'.repeat(129)}`, undefined, owner.headers)).status, 400);
  const empty = await http('GET', `${server.url}/feedback/MT_x`, undefined, owner.headers);
  assert.equal(empty.body, { meetingId: 'MT_x', events: [] });
  const metrics = await http('GET', `${server.url}/feedback/metrics/MT_x`, undefined, owner.headers);
  assert.equal(metrics.body, { meetingId: 'MT_x', counts: {}, latencyMs: { avg: null, p95: null }, prosodyPayloads: 0 });
  assert.equal((await http('GET', `${server.url}/feedback/debug/MT_x`, undefined, owner.headers)).body, { meetingId: 'MT_x', participants: [], report: null });
});

test.run();
