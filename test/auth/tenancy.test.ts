/**
 * Meetings belong to the organization their room name is namespaced with (a member's POST /auth/token): its sessions,
 * recordings and feedback are visible to that organization only (another one gets 404, as for an unknown id),
 * and only its owners/admins may join `feedback:<meetingId>`. Meetings of no organization are the operator's: by
 * default the owners and admins of the first organization read, write and host them; no other account
 * (UNSCOPED_MEETINGS_ORG, UNSCOPED_MEETINGS_ROLES).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { SignalingClient, SignalingClientError } from '../../src/client/index.js';
import { inviteAccount, registerAccount, tryJoin, type TestAccount } from '../helpers/auth.js';
import { http, startTestServer, type TestServer } from '../helpers/server.js';
import { API_KEY, API_SECRET, sendEvent } from '../livekit/double.js';

let server: TestServer;
let a: TestAccount;
let b: TestAccount;
const now = () => BigInt(Math.floor(Date.now() / 1000));

test.before(async () => {
  server = await startTestServer({ LIVEKIT_URL: 'http://127.0.0.1:9', LIVEKIT_API_KEY: API_KEY, LIVEKIT_API_SECRET: API_SECRET, AUTO_EGRESS: 'false' });
  a = await registerAccount(server, { organization: 'Clinic A' });
  b = await registerAccount(server, { organization: 'Clinic B' });
  // A member of A issues the room's token; LiveKit then reports the room.
  const token = await http('POST', `${server.url}/auth/token`, { participantName: 'Ana', roomName: 'clinic-a' }, a.headers);
  assert.is(token.status, 200, JSON.stringify(token.body));
  assert.is(token.body.roomName, `${a.orgId}:clinic-a`, "a member's room name is namespaced with its organization");
  assert.is((await sendEvent(server.url, { event: 'room_started', room: { sid: 'RM_clinicA', name: token.body.roomName, creationTime: now() } })).status, 200);
  assert.is((await sendEvent(server.url, { event: 'room_started', room: { sid: 'RM_lobby', name: 'lobby', creationTime: now() } })).status, 200);
});
test.after(async () => { await server.stop(); });

const ids = async (who: TestAccount) => ((await http('GET', `${server.url}/api/sessions`, undefined, who.headers)).body.sessions as { meetingId: string }[]).map((s) => s.meetingId).sort();

test("sessions: each organization lists its own meetings; those of none only the first organization's owners and admins; another one gets 404", async () => {
  assert.equal(await ids(a), ['RM_clinicA', 'RM_lobby']);
  assert.equal(await ids(b), [], 'a stranger lists no meeting of no organization');
  const own = await http('GET', `${server.url}/api/sessions/RM_clinicA`, undefined, a.headers);
  assert.is(own.status, 200);
  assert.is(own.body.orgId, a.orgId);
  assert.is((await http('GET', `${server.url}/api/sessions/RM_clinicA`, undefined, b.headers)).status, 404);
  assert.is((await http('GET', `${server.url}/api/sessions/RM_lobby`, undefined, a.headers)).status, 200);
  assert.is((await http('GET', `${server.url}/api/sessions/RM_lobby`, undefined, b.headers)).status, 404);
});

test("a meeting of no organization: the first organization's admin reads, writes and hosts it; a stranger and a plain member do not", async () => {
  const admin = await inviteAccount(server, a, 'admin');
  const member = await inviteAccount(server, a, 'member');
  const read = (who: TestAccount, path: string) => http('GET', `${server.url}${path}`, undefined, who.headers);
  for (const path of ['/api/sessions/RM_lobby', '/feedback/RM_lobby', '/feedback/debug/RM_lobby', '/feedback/metrics/RM_lobby']) {
    assert.is((await read(admin, path)).status, 200, `admin ${path}`);
    assert.is((await read(b, path)).status, 404, `stranger ${path}`);
    assert.is((await read(member, path)).status, 404, `member ${path}`);
  }
  assert.ok((await ids(admin)).includes('RM_lobby'));
  assert.not.ok((await ids(member)).includes('RM_lobby'));
  assert.is(await tryJoin(server, 'feedback:RM_lobby', admin.accessToken), 'joined');
  assert.is(await tryJoin(server, 'feedback:RM_lobby', b.accessToken), 'forbidden', "a stranger's owner token does not join its host feedback room");
  assert.is(await tryJoin(server, 'feedback:RM_lobby', member.accessToken), 'forbidden');
  const egress = (who: TestAccount) => http('POST', `${server.url}/api/egress/url`, { roomName: 'lobby', meetingId: 'RM_lobby', participant: 'p' }, who.headers);
  assert.is((await egress(admin)).status, 200, 'the first organization writes into it');
  assert.is((await egress(b)).status, 404, 'a stranger does not');
  const stats = async (who: TestAccount) => ((await http('GET', `${server.url}/api/stats`, undefined, who.headers)).body.rooms as { roomId: string }[]).map((r) => r.roomId);
  const holder = await new SignalingClient({ url: server.wsUrl, WebSocket, token: a.accessToken }).connect();
  try {
    await holder.join('feedback:RM_lobby');
    assert.ok((await stats(admin)).includes('feedback:RM_lobby'));
    assert.not.ok((await stats(b)).includes('feedback:RM_lobby'), "a stranger's statistics leave it out");
  } finally {
    holder.close();
  }
});

test("a host demoted to member leaves a meeting's feedback room at once (room-left forbidden)", async () => {
  const admin = await inviteAccount(server, a, 'admin');
  const c = await new SignalingClient({ url: server.wsUrl, WebSocket, token: admin.accessToken }).connect();
  try {
    await c.join('feedback:RM_clinicA');
    const left = c.next('room-left', (m) => m.roomId === 'feedback:RM_clinicA', 5000);
    assert.is((await http('PATCH', `${server.url}/api/org/members/${admin.userId}`, { role: 'member' }, a.headers)).status, 200);
    assert.is((await left).code, 'forbidden');
  } finally {
    c.close();
  }
});

test('feedback routes: 404 for another organization, 200 for the owning one', async () => {
  for (const path of ['/feedback/RM_clinicA', '/feedback/debug/RM_clinicA', '/feedback/metrics/RM_clinicA']) {
    assert.is((await http('GET', `${server.url}${path}`, undefined, b.headers)).status, 404, path);
    assert.is((await http('GET', `${server.url}${path}`, undefined, a.headers)).status, 200, path);
  }
});

test("feedback room: the owning organization's owner joins, another organization's owner is forbidden", async () => {
  const join = async (who: TestAccount) => {
    const c = await new SignalingClient({ url: server.wsUrl, WebSocket, token: who.accessToken }).connect();
    try { await c.join('feedback:RM_clinicA'); return 'joined'; } catch (err) { return (err as SignalingClientError).code; } finally { c.close(); }
  };
  assert.is(await join(a), 'joined');
  assert.is(await join(b), 'forbidden');
});

test('UNSCOPED_MEETINGS_ORG names another organization: its owner reads and hosts meetings of no organization, the first one no longer does', async () => {
  await server.stop();
  server = await startTestServer({
    LIVEKIT_URL: 'http://127.0.0.1:9', LIVEKIT_API_KEY: API_KEY, LIVEKIT_API_SECRET: API_SECRET, AUTO_EGRESS: 'false', UNSCOPED_MEETINGS_ORG: b.orgId,
  }, { dataDir: server.dataDir, storageDir: server.storageDir });
  assert.equal(await ids(b), ['RM_lobby']);
  assert.equal(await ids(a), ['RM_clinicA']);
  assert.is((await http('GET', `${server.url}/api/sessions/RM_lobby`, undefined, a.headers)).status, 404);
  assert.is(await tryJoin(server, 'feedback:RM_lobby', b.accessToken), 'joined');
  assert.is(await tryJoin(server, 'feedback:RM_lobby', a.accessToken), 'forbidden');
});

test.run();
