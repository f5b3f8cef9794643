/**
 * Numeric query parameters of the HTTP routes (`GET /api/sessions?limit=&offset=`,
 * `GET /feedback/:meetingId?since=&limit=`): a value out of range, too long to be a number, not an integer, or
 * a parameter given twice gets 400 `bad_request` naming the parameter and its range, never a 500; the
 * server logs no unhandled error. The bounds themselves are accepted.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { registerAccount, type TestAccount } from '../helpers/auth.js';
import { http, startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let owner: TestAccount;

test.before(async () => {
  server = await startTestServer();
  owner = await registerAccount(server);
});
test.after(async () => { await server.stop(); });

const unhandled = () => server.logs.filter((l) => l.msg === 'unhandled error in HTTP handler');

/** GET `path` as the owner; asserts a 400 bad_request whose message matches `message`. */
async function refused(path: string, message: RegExp): Promise<void> {
  const r = await http('GET', `${server.url}${path}`, undefined, owner.headers);
  assert.is(r.status, 400, `${path}: ${JSON.stringify(r.body)}`);
  assert.is(r.body.error.code, 'bad_request', path);
  assert.match(r.body.error.message, message, path);
}

test('GET /api/sessions: offset and limit out of range or malformed get 400 naming the parameter and its range', async () => {
  const offsetRange = /^offset: must be an integer from 0 to 1000000000$/;
  const limitRange = /^limit: must be an integer from 1 to 500$/;
  await refused('/api/sessions?offset=99999999999999999999', offsetRange);
  await refused('/api/sessions?offset=9223372036854775807', offsetRange);
  await refused('/api/sessions?offset=1000000001', offsetRange);
  await refused(`/api/sessions?offset=${'9'.repeat(400)}`, offsetRange);
  await refused('/api/sessions?offset=-1', offsetRange);
  await refused('/api/sessions?offset=1e3', offsetRange);
  await refused('/api/sessions?offset=', offsetRange);
  await refused('/api/sessions?limit=0', limitRange);
  await refused('/api/sessions?limit=501', limitRange);
  await refused('/api/sessions?limit=99999999999999999999', limitRange);
  await refused('/api/sessions?limit=2.5', limitRange);
  await refused('/api/sessions?offset=1&offset=2', /^offset: given more than once$/);
  assert.equal(unhandled(), []);
});

test('GET /api/sessions: the bounds are accepted', async () => {
  const r = await http('GET', `${server.url}/api/sessions?offset=1000000000&limit=500`, undefined, owner.headers);
  assert.is(r.status, 200);
  assert.equal(r.body, { sessions: [], limit: 500, offset: 1000000000 });
  const d = await http('GET', `${server.url}/api/sessions`, undefined, owner.headers);
  assert.is(d.status, 200);
  assert.is(d.body.limit, 100);
  assert.is(d.body.offset, 0);
});

test('GET /feedback/:meetingId: since and limit out of range or malformed get 400 naming the parameter and its range', async () => {
  const sinceRange = /^since: must be an integer from 0 to 8640000000000000 \(Unix milliseconds\)$/;
  await refused('/feedback/MT_q?since=99999999999999999999', sinceRange);
  await refused('/feedback/MT_q?since=8640000000000001', sinceRange);
  await refused('/feedback/MT_q?since=-5', sinceRange);
  await refused('/feedback/MT_q?limit=5001', /^limit: must be an integer from 1 to 5000$/);
  await refused('/feedback/MT_q?limit=99999999999999999999', /^limit: must be an integer from 1 to 5000$/);
  await refused('/feedback/MT_q?since=1&since=2', /^since: given more than once$/);
  const ok = await http('GET', `${server.url}/feedback/MT_q?since=8640000000000000&limit=5000`, undefined, owner.headers);
  assert.is(ok.status, 200);
  assert.equal(ok.body, { meetingId: 'MT_q', events: [] });
  assert.equal(unhandled(), []);
});

test.run();
