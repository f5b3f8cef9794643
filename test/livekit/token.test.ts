/**
 * POST /auth/token with the real server: the token decodes (jose) to the right identity, name, metadata and
 * grants for that room only, with the configured TTL; every issue is a `session_logs` row; bad names and
 * metadata are 400 with nothing logged. Also: AUTO_EGRESS=false starts no
 * egress, and without LiveKit settings both LiveKit routes answer 503.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { jwtVerify, decodeJwt } from 'jose';
import { TrackType } from 'livekit-server-sdk';
import { http, startTestServer, type TestServer } from '../helpers/server.js';
import { query } from '../egress/helpers.js';
import { session } from '../helpers/sessions.js';
import { API_KEY, API_SECRET, LivekitDouble, sendEvent } from './double.js';

let server: TestServer;
let lk: LivekitDouble;
const TTL = 900;

test.before(async () => {
  lk = await LivekitDouble.start();
  server = await startTestServer({ LIVEKIT_URL: lk.url, LIVEKIT_API_KEY: API_KEY, LIVEKIT_API_SECRET: API_SECRET, LIVEKIT_TOKEN_TTL: String(TTL), AUTO_EGRESS: 'false' });
});
test.after(async () => {
  await server.stop();
  await lk.close();
});

interface LogRow { at: number; actor: string; room: string | null; ip: string | null; kind: string; user_id: string | null }
// Stays on SQLite: the token audit log (session_logs) has no public read route.
const logs = () => query(server, (db) => db.prepare('SELECT * FROM session_logs ORDER BY id').all() as LogRow[]);
const verify = async (token: string) => (await jwtVerify(token, new TextEncoder().encode(API_SECRET), { issuer: API_KEY, algorithms: ['HS256'] })).payload as Record<string, any>;

test('a token for a generated room: identity, name, grants for that room only, TTL; logged', async () => {
  const before = Date.now();
  const r = await http('POST', `${server.url}/auth/token`, { participantName: 'Alice' });
  assert.is(r.status, 200, JSON.stringify(r.body));
  assert.equal(Object.keys(r.body).sort(), ['roomName', 'token', 'url']);
  assert.match(r.body.roomName, /^room-[A-Za-z0-9_-]{12}$/);
  assert.is(r.body.url, lk.url);
  const c = await verify(r.body.token);
  assert.is(c.iss, API_KEY);
  assert.match(c.sub, /^Alice-[A-Za-z0-9_-]{6}$/);
  assert.is(c.name, 'Alice');
  assert.is(c.metadata, undefined);
  assert.equal(c.video, { roomJoin: true, room: r.body.roomName, canPublish: true, canSubscribe: true });
  assert.is(c.exp - c.nbf, TTL);
  assert.ok(Math.abs(c.nbf * 1000 - before) < 5000);

  const rows = logs();
  assert.is(rows.length, 1);
  assert.is(rows[0]!.kind, 'livekit_token');
  assert.is(rows[0]!.actor, c.sub);
  assert.is(rows[0]!.room, r.body.roomName);
  assert.match(rows[0]!.ip ?? '', /127\.0\.0\.1|::1/);
  assert.ok(rows[0]!.at >= before && rows[0]!.at <= Date.now());

  const again = await http('POST', `${server.url}/auth/token`, { participantName: 'Alice' });
  assert.is.not(again.body.roomName, r.body.roomName, 'each generated room name is new');
  assert.is.not(decodeJwt(again.body.token).sub, c.sub, 'identities are unique per issue');
});

test('a host token for a named room carries the metadata', async () => {
  const metadata = { roles: ['host'], name: 'Hana H.', lang: 'pt-BR' };
  const r = await http('POST', `${server.url}/auth/token`, { participantName: '  Hana  ', roomName: 'board meeting', metadata });
  assert.is(r.status, 200, JSON.stringify(r.body));
  assert.is(r.body.roomName, 'board meeting');
  const c = await verify(r.body.token);
  assert.is(c.name, 'Hana');
  assert.equal(JSON.parse(c.metadata), metadata);
  assert.equal(c.video, { roomJoin: true, room: 'board meeting', canPublish: true, canSubscribe: true });
  const guest = await http('POST', `${server.url}/auth/token`, { participantName: 'Gus', roomName: 'board meeting', metadata: { name: 'Gus' } });
  assert.is(guest.status, 200);

  assert.equal(JSON.parse((await verify(guest.body.token)).metadata), { name: 'Gus' }, 'a guest token carries no roles');
});

test('bad names and metadata: 400 naming the field, nothing logged', async () => {
  const logged = logs().length;
  const cases: [string, unknown, RegExp][] = [
    ['1 char', { participantName: 'A' }, /^participantName: /],
    ['65 chars', { participantName: 'x'.repeat(65) }, /^participantName: /],
    ['blank', { participantName: '   ' }, /^participantName: /],
    ['missing', {}, /^participantName: is required/],
    ['not a string', { participantName: 42 }, /^participantName: /],
    ['control character', { participantName: 'bad\u0000name' }, /^participantName: /],
    ['empty room', { participantName: 'Alice', roomName: '' }, /^roomName: /],
    ['long room', { participantName: 'Alice', roomName: 'r'.repeat(129) }, /^roomName: /],
    ['metadata array', { participantName: 'Alice', metadata: [{ roles: ['host'] }] }, /^metadata: must be a JSON object/],
    ['metadata string', { participantName: 'Alice', metadata: '{"roles":["host"]}' }, /^metadata: must be a JSON object/],
    ['metadata null', { participantName: 'Alice', metadata: null }, /^metadata: /],
    ['metadata over 4 KiB', { participantName: 'Alice', metadata: { notes: 'n'.repeat(4096) } }, /^metadata: must be at most 4096 bytes/],
    ['roles not an array', { participantName: 'Alice', metadata: { roles: 'host' } }, /^metadata\.roles: /],
    ['roles not strings', { participantName: 'Alice', metadata: { roles: [1] } }, /^metadata\.roles: /],
  ];
  for (const [what, body, message] of cases) {
    const r = await http('POST', `${server.url}/auth/token`, body);
    assert.is(r.status, 400, `${what}: ${JSON.stringify(r.body)}`);
    assert.is(r.body.error.code, 'bad_request', what);
    assert.match(r.body.error.message, message, what);
  }
  // Limits are inclusive: 2 and 64 characters (code points), metadata of exactly 4096 bytes.
  const two = await http('POST', `${server.url}/auth/token`, { participantName: 'Bo' });
  const sixtyFour = await http('POST', `${server.url}/auth/token`, { participantName: 'é'.repeat(64) });
  const filler = 4096 - JSON.stringify({ notes: '' }).length;
  const exact = await http('POST', `${server.url}/auth/token`, { participantName: 'Alice', metadata: { notes: 'n'.repeat(filler) } });
  assert.equal([two.status, sixtyFour.status, exact.status], [200, 200, 200]);
  assert.is(logs().length, logged + 3);

  const notJson = await http('POST', `${server.url}/auth/token`, 'participantName=Alice', { 'content-type': 'application/x-www-form-urlencoded' });
  assert.is(notJson.status, 415);
  const broken = await http('POST', `${server.url}/auth/token`, '{"participantName":', { 'content-type': 'application/json' });
  assert.is(broken.status, 400);
  assert.is(logs().length, logged + 3);
});

test('AUTO_EGRESS=false: an audio track starts no egress', async () => {
  const room = { sid: 'RM_noauto', name: 'noauto', creationTime: BigInt(Math.floor(Date.now() / 1000)) };
  assert.is((await sendEvent(server.url, { event: 'room_started', room })).status, 200);
  assert.is((await sendEvent(server.url, { event: 'track_published', room, participant: { identity: 'ann' }, track: { sid: 'TR_a', type: TrackType.AUDIO } })).status, 200);
  assert.is(lk.calls.length, 0);
  assert.is((await session(server, room.sid)).status, 'ACTIVE');
});

test('without LiveKit settings both routes answer 503', async () => {
  const off = await startTestServer({});
  try {
    const t = await http('POST', `${off.url}/auth/token`, { participantName: 'Alice' });
    assert.is(t.status, 503);
    assert.is(t.body.error.code, 'unavailable');
    const w = await http('POST', `${off.url}/livekit/webhook`, '{}', { 'content-type': 'application/webhook+json', authorization: 'x' });
    assert.is(w.status, 503);
    assert.is(w.body.error.code, 'unavailable');
  } finally {
    await off.stop();
  }
});

test.run();
