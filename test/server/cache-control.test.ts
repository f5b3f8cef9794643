/**
 * Caching headers of the HTTP routes (src/http/router.ts): every reply, JSON, text and errors alike, carries
 * `Cache-Control: no-store` and `Pragma: no-cache` unless its route asks for something else: the tokens of
 * register, login and refresh (RFC 6749 §5.1), API replies, 4xx errors, the 404/405 fallback and HEAD.
 * The built-in pages say `no-cache` themselves (revalidated, never stale) and keep it.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
test.before(async () => { server = await startTestServer(); });
test.after(async () => { await server.stop(); });

/** Fetch and assert the reply's status and that it may not be stored; returns the parsed JSON body (or null). */
async function noStore(method: string, path: string, status: number, init: { body?: unknown; headers?: Record<string, string> } = {}): Promise<any> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${server.url}${path}`, { method, headers, body: init.body === undefined ? undefined : JSON.stringify(init.body) });
  const text = await res.text();
  assert.is(res.status, status, `${method} ${path}: ${text}`);
  assert.is(res.headers.get('cache-control'), 'no-store', `${method} ${path} Cache-Control`);
  assert.is(res.headers.get('pragma'), 'no-cache', `${method} ${path} Pragma`);
  return text && res.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : null;
}

test('register, login and refresh hand out tokens with Cache-Control: no-store and Pragma: no-cache', async () => {
  const email = `cache-${randomBytes(4).toString('hex')}@example.test`;
  const password = 'correct horse battery staple';
  const reg = await noStore('POST', '/auth/register', 201, { body: { organization: 'Cache Org', name: 'Cache', email, password } });
  assert.type(reg.accessToken, 'string');
  const login = await noStore('POST', '/auth/login', 200, { body: { email, password } });
  assert.type(login.refreshToken, 'string');
  const refreshed = await noStore('POST', '/auth/refresh', 200, { body: { refreshToken: login.refreshToken } });
  assert.type(refreshed.accessToken, 'string');
  const bearer = { authorization: `Bearer ${refreshed.accessToken}` };
  const me = await noStore('GET', '/auth/me', 200, { headers: bearer });
  assert.is(me.user.email, email);
  const list = await noStore('GET', '/api/sessions', 200, { headers: bearer });
  assert.equal(list.sessions, []);
  await noStore('HEAD', '/api/sessions', 200, { headers: bearer });
  await noStore('POST', '/auth/logout', 204, { body: { refreshToken: refreshed.refreshToken } });
});

test('other API replies and every kind of error may not be stored either', async () => {
  assert.is((await noStore('GET', '/health', 200)).status, 'ok');
  await noStore('GET', '/metrics', 200);
  assert.is((await noStore('POST', '/auth/login', 401, { body: { email: 'nobody@example.test', password: 'wrong password here' } })).error.code, 'unauthorized');
  assert.is((await noStore('GET', '/api/sessions', 401)).error.code, 'unauthorized');
  assert.is((await noStore('POST', '/auth/login', 400, { body: { email: 'not an e-mail' } })).error.code, 'bad_request');
  assert.is((await noStore('GET', '/no/such/route', 404)).error.code, 'not_found');
  assert.is((await noStore('DELETE', '/health', 405)).error.code, 'method_not_allowed');
});

test('a route that sets its own Cache-Control keeps it (the built-in pages: no-cache)', async () => {
  for (const path of ['/', '/web/app.js', '/host/MT_cache']) {
    const res = await fetch(`${server.url}${path}`);
    assert.is(res.status, 200, path);
    assert.is(res.headers.get('cache-control'), 'no-cache', path);
    assert.is(res.headers.get('pragma'), null, path);
  }
});

test.run();
