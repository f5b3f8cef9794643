/**
 * The trust boundary between two organizations A and B on one server, tried as B would (README "Who may do
 * what"): B cannot take A's room name, receive A's feedback (before or after A's meeting exists), own A's next
 * meeting, or write egress into A's meeting; inside A, a member is not a host. A feedback subscription ends when
 * its token expires, and logging out closes that login's sockets.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import path from 'node:path';
import Database from 'better-sqlite3';
import WebSocket from 'ws';
import { AccessToken } from 'livekit-server-sdk';
import { io as ioClient } from 'socket.io-client';
import { SignalingClient, SignalingClientError } from '../../src/client/index.js';
import { registerAccount, tryJoin, type TestAccount } from '../helpers/auth.js';
import { http, startTestServer, type TestServer } from '../helpers/server.js';
import { API_KEY, API_SECRET, sendEvent } from '../livekit/double.js';

let server: TestServer;
let a: TestAccount;
let b: TestAccount;
/** A's room "clinic" as LiveKit knows it (namespaced by meetcore). */
let roomA = '';
const now = () => BigInt(Math.floor(Date.now() / 1000));

test.before(async () => {
  server = await startTestServer({ LIVEKIT_URL: 'http://127.0.0.1:9', LIVEKIT_API_KEY: API_KEY, LIVEKIT_API_SECRET: API_SECRET, AUTO_EGRESS: 'false' });
  a = await registerAccount(server, { organization: 'Clinic A' });
  b = await registerAccount(server, { organization: 'Clinic B' });
  const t = await http('POST', `${server.url}/auth/token`, { participantName: 'Ana', roomName: 'clinic' }, a.headers);
  assert.is(t.status, 200, JSON.stringify(t.body));
  roomA = t.body.roomName;
  assert.is((await sendEvent(server.url, { event: 'room_started', room: { sid: 'RM_A1', name: roomA, creationTime: now() } })).status, 200);
});
test.after(async () => { await server.stop(); });

/** Another account made a member of `org` with `role`, straight in the server's SQLite file (there is no invite endpoint). */
async function memberOf(org: TestAccount, role: 'admin' | 'member'): Promise<TestAccount> {
  const other = await registerAccount(server, { organization: 'Elsewhere' });
  const db = new Database(path.join(server.dataDir, 'meetcore.db'));
  try {
    db.prepare('INSERT INTO memberships (user_id, org_id, role, created_at) VALUES (?, ?, ?, ?)').run(other.userId, org.orgId, role, Date.now());
  } finally {
    db.close();
  }
  const login = await http('POST', `${server.url}/auth/login`, { email: other.email, password: other.password, organizationId: org.orgId });
  assert.is(login.status, 200, JSON.stringify(login.body));
  return { ...other, orgId: org.orgId, accessToken: login.body.accessToken, refreshToken: login.body.refreshToken, headers: { authorization: `Bearer ${login.body.accessToken}` } };
}

test("case 1: B's host token for A's room name is a token for B's own room and does not open A's feedback", async () => {
  const t = await http('POST', `${server.url}/auth/token`, { participantName: 'Bob', roomName: 'clinic', metadata: { roles: ['host'] } }, b.headers);
  assert.is(t.status, 200);
  assert.is(t.body.roomName, `${b.orgId}:clinic`);
  assert.is.not(t.body.roomName, roomA);
  assert.is(await tryJoin(server, 'feedback:RM_A1', t.body.token), 'forbidden');
  // Asking for A's namespaced name outright gives B a room inside B's namespace, never A's.
  const direct = await http('POST', `${server.url}/auth/token`, { participantName: 'Bob', roomName: roomA, metadata: { roles: ['host'] } }, b.headers);
  assert.is(direct.body.roomName, `${b.orgId}:${roomA}`);
  assert.is(await tryJoin(server, 'feedback:RM_A1', direct.body.token), 'forbidden');
  // Anonymous callers (REQUIRE_AUTH=false) cannot ask for a name in an organization's namespace.
  const anon = await http('POST', `${server.url}/auth/token`, { participantName: 'Eve', roomName: roomA, metadata: { roles: ['host'] } });
  assert.is(anon.status, 403);
  assert.match(anon.body.error.message, /^roomName: /);
});

test("feedback room: A's host token and A's owner and admin join; A's member, a guest token, B's owner and B's admin do not", async () => {
  const host = await http('POST', `${server.url}/auth/token`, { participantName: 'Hana', roomName: 'clinic', metadata: { roles: ['host'] } }, a.headers);
  const guest = await http('POST', `${server.url}/auth/token`, { participantName: 'Gus', roomName: 'clinic' }, a.headers);
  assert.is(await tryJoin(server, 'feedback:RM_A1', host.body.token), 'joined');
  assert.is(await tryJoin(server, 'feedback:RM_A1', a.accessToken), 'joined');
  assert.is(await tryJoin(server, 'feedback:RM_A1', (await memberOf(a, 'admin')).accessToken), 'joined');
  assert.is(await tryJoin(server, 'feedback:RM_A1', (await memberOf(a, 'member')).accessToken), 'forbidden');
  assert.is(await tryJoin(server, 'feedback:RM_A1', guest.body.token), 'forbidden');
  assert.is(await tryJoin(server, 'feedback:RM_A1', b.accessToken), 'forbidden');
  assert.is(await tryJoin(server, 'feedback:RM_A1', (await memberOf(b, 'admin')).accessToken), 'forbidden');
  assert.is(await tryJoin(server, 'feedback:RM_A1'), 'unauthorized');
  // A member may not mint a host token at all.
  const m = await memberOf(a, 'member');
  assert.is((await http('POST', `${server.url}/auth/token`, { participantName: 'Mo', roomName: 'clinic', metadata: { roles: ['host'] } }, m.headers)).status, 403);
});

test('case 2: a feedback room of a meeting that does not exist yet is not_found; once it opens only its hosts get in', async () => {
  assert.is(await tryJoin(server, 'feedback:RM_A2', b.accessToken), 'not_found');
  assert.is(await tryJoin(server, 'feedback:RM_A2', a.accessToken), 'not_found');
  assert.is((await sendEvent(server.url, { event: 'room_started', room: { sid: 'RM_A2', name: roomA, creationTime: now() } })).status, 200);
  assert.is(await tryJoin(server, 'feedback:RM_A2', b.accessToken), 'forbidden');
  assert.is(await tryJoin(server, 'feedback:RM_A2', a.accessToken), 'joined');
});

test("case 3: tokens B mints for A's room name before A's next room_started do not make the meeting B's", async () => {
  for (const roomName of ['clinic', roomA]) {
    assert.is((await http('POST', `${server.url}/auth/token`, { participantName: 'Bob', roomName }, b.headers)).status, 200);
  }
  assert.is((await sendEvent(server.url, { event: 'room_started', room: { sid: 'RM_A3', name: roomA, creationTime: now() } })).status, 200);
  const own = await http('GET', `${server.url}/api/sessions/RM_A3`, undefined, a.headers);
  assert.is(own.status, 200);
  assert.is(own.body.orgId, a.orgId);
  assert.is((await http('GET', `${server.url}/api/sessions/RM_A3`, undefined, b.headers)).status, 404);
});

test("case 4: B cannot get an egress URL into A's meeting; A can, and B's own room stays B's", async () => {
  const intoA = await http('POST', `${server.url}/api/egress/url`, { roomName: 'clinic', meetingId: 'RM_A1', participant: 'x' }, b.headers);
  assert.is(intoA.status, 404);
  assert.is(intoA.body.error.code, 'not_found');
  const byName = await http('POST', `${server.url}/api/egress/url`, { roomName: roomA, participant: 'x' }, b.headers);
  assert.is(byName.status, 200);
  assert.is(new URL(byName.body.url).searchParams.get('roomName'), `${b.orgId}:${roomA}`, "B's URL names a room in B's namespace");
  const own = await http('POST', `${server.url}/api/egress/url`, { roomName: 'clinic', meetingId: 'RM_A1', participant: 'x' }, a.headers);
  assert.is(own.status, 200, JSON.stringify(own.body));
  const q = new URL(own.body.url).searchParams;
  assert.is(q.get('roomName'), roomA);
  assert.is(q.get('meetingId'), 'RM_A1');
  assert.is((await http('POST', `${server.url}/api/egress/url`, { roomName: 'clinic', meetingId: 'MT_nothing', participant: 'x' }, a.headers)).status, 404, 'an unknown meetingId');
  assert.is((await http('POST', `${server.url}/api/egress/url`, { roomName: 'other', meetingId: 'RM_A1', participant: 'x' }, a.headers)).status, 400, 'another room than the meeting\'s');
});

test("signaling rooms in A's namespace: A's members and the room's LiveKit tokens join, B does not; B's stats do not list them", async () => {
  const guest = await http('POST', `${server.url}/auth/token`, { participantName: 'Gus', roomName: 'clinic' }, a.headers);
  const member = await memberOf(a, 'member');
  const holder = await new SignalingClient({ url: server.wsUrl, WebSocket, token: a.accessToken }).connect();
  try {
    await holder.join(roomA);
    await holder.join('feedback:RM_A1');
    assert.is(await tryJoin(server, roomA, member.accessToken), 'joined');
    assert.is(await tryJoin(server, roomA, guest.body.token), 'joined');
    assert.is(await tryJoin(server, roomA, b.accessToken), 'forbidden');
    assert.is(await tryJoin(server, roomA), 'unauthorized');
    assert.is(await tryJoin(server, `${a.orgId}:elsewhere`, guest.body.token), 'forbidden', "a LiveKit token opens its own room only");
    const listed = async (who: TestAccount) => ((await http('GET', `${server.url}/api/stats`, undefined, who.headers)).body.rooms as { roomId: string }[]).map((r) => r.roomId);
    assert.ok((await listed(a)).includes(roomA));
    assert.ok((await listed(a)).includes('feedback:RM_A1'));
    assert.not.ok((await listed(b)).includes(roomA));
    assert.not.ok((await listed(b)).includes('feedback:RM_A1'));
  } finally {
    holder.close();
  }
});

test('a membership removed while connected: the next join closes the socket (1008 "session revoked")', async () => {
  const admin = await memberOf(a, 'admin');
  const c = await new SignalingClient({ url: server.wsUrl, WebSocket, token: admin.accessToken }).connect();
  try {
    await c.join('feedback:RM_A1');
    const db = new Database(path.join(server.dataDir, 'meetcore.db'));
    try { db.prepare('DELETE FROM memberships WHERE user_id = ? AND org_id = ?').run(admin.userId, a.orgId); } finally { db.close(); }
    const closed = c.next('close', () => true, 5000);
    const err = await c.join('feedback:RM_A2').then(() => null, (e: Error) => e);
    assert.ok(err, 'the join is refused');
    const ev = await closed;
    assert.is(ev.code, 1008);
    assert.is(ev.reason, 'session revoked');
  } finally {
    c.close();
  }
});

test('a feedback subscription ends when its token expires: room-left {code: "unauthorized"}', async () => {
  const at = new AccessToken(API_KEY, API_SECRET, { identity: 'short-host', ttl: 2, metadata: JSON.stringify({ roles: ['host'] }) });
  at.addGrant({ roomJoin: true, room: roomA });
  const c = await new SignalingClient({ url: server.wsUrl, WebSocket, token: await at.toJwt() }).connect();
  try {
    await c.join('feedback:RM_A1');
    const left = await c.next('room-left', (m) => m.roomId === 'feedback:RM_A1', 6000);
    assert.is(left.code, 'unauthorized');
    assert.match(String(left.reason), /expired/);
    // Joining again with the expired token is refused.
    const again = await c.join('feedback:RM_A1').then(() => 'joined', (err: SignalingClientError) => err.code);
    assert.is(again, 'unauthorized');
  } finally {
    c.close();
  }
});

test("logout closes that login's open sockets (1008 \"logged out\"); another login's socket stays open", async () => {
  const second = await http('POST', `${server.url}/auth/login`, { email: a.email, password: a.password });
  const mine = await new SignalingClient({ url: server.wsUrl, WebSocket, token: second.body.accessToken }).connect();
  const other = await new SignalingClient({ url: server.wsUrl, WebSocket, token: a.accessToken }).connect();
  try {
    await mine.join('feedback:RM_A1');
    const closed = mine.next('close', () => true, 5000);
    assert.is((await http('POST', `${server.url}/auth/logout`, { refreshToken: second.body.refreshToken })).status, 204);
    const ev = await closed;
    assert.is(ev.code, 1008);
    assert.is(ev.reason, 'logged out');
    assert.is((await other.heartbeat()).type, 'heartbeat', 'the other login is untouched');
  } finally {
    mine.close();
    other.close();
  }
});

test('logout disconnects a socket.io-client opened with that login (reason "io server disconnect")', async () => {
  const login = await http('POST', `${server.url}/auth/login`, { email: a.email, password: a.password });
  const token = login.body.accessToken as string;
  const s = ioClient(server.url, { transports: ['websocket'], forceNew: true, reconnection: false, query: { token }, auth: { token } });
  try {
    await new Promise<void>((resolve, reject) => { s.once('connected', () => resolve()); s.once('connect_error', reject); });
    const gone = new Promise<string>((resolve) => s.once('disconnect', resolve));
    assert.is((await http('POST', `${server.url}/auth/logout`, { refreshToken: login.body.refreshToken })).status, 204);
    assert.is(await gone, 'io server disconnect');
  } finally {
    s.disconnect();
  }
});

test.run();
