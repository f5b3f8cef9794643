/**
 * Accounts against the real server process (PROTOCOL.md §1 /auth/*): register, login, refresh with rotation
 * and re-use detection, logout, me; identical 401s, throttling, roles; and every kind of forged or misused
 * JWT (alg none, other secret, other algorithm, expired, no exp, access/refresh swapped) refused with 401.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import { SignJWT, decodeJwt } from 'jose';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { http, startTestServer, type TestServer } from '../helpers/server.js';
import { registerAccount } from '../helpers/auth.js';

const ACCESS_SECRET = 'test-access-secret-0123456789abcdef';
const REFRESH_SECRET = 'test-refresh-secret-0123456789abcdef';
const enc = (s: string) => new TextEncoder().encode(s);

let server: TestServer;

test.before(async () => {
  server = await startTestServer({ JWT_ACCESS_SECRET: ACCESS_SECRET, JWT_REFRESH_SECRET: REFRESH_SECRET, JWT_ACCESS_TTL: '600' });
});
test.after(async () => { await server.stop(); });

const post = (p: string, body: unknown, headers: Record<string, string> = {}) => http('POST', `${server.url}${p}`, body, headers);
const me = (token: string) => http('GET', `${server.url}/auth/me`, undefined, { authorization: `Bearer ${token}` });

/** Run `fn` on a writable connection to the server's database (test set-up only). */
function withDb<T>(fn: (db: Database.Database) => T): T {
  const db = new Database(path.join(server.dataDir, 'meetcore.db'));
  db.pragma('busy_timeout = 5000');
  try { return fn(db); } finally { db.close(); }
}

const count = (table: string) => withDb((db) => (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n);

test('register → login → me → refresh → logout', async () => {
  const reg = await post('/auth/register', { organization: 'Acme', name: 'Ana', email: 'Ana.Owner@Example.COM', password: 'hunter2hunter2' });
  assert.is(reg.status, 201);
  assert.is(reg.body.user.email, 'ana.owner@example.com');
  assert.is(reg.body.user.name, 'Ana');
  assert.is(reg.body.organization.name, 'Acme');
  assert.type(reg.body.accessToken, 'string');
  assert.type(reg.body.refreshToken, 'string');
  assert.not.ok('passwordHash' in reg.body.user);
  const claims = decodeJwt(reg.body.accessToken);
  assert.is(claims.typ, 'access');
  assert.is(claims.sub, reg.body.user.id);
  assert.is(claims.exp! - claims.iat!, 600);

  // e-mail is case-insensitive
  const login = await post('/auth/login', { email: 'ANA.owner@example.com', password: 'hunter2hunter2' });
  assert.is(login.status, 200);
  assert.equal(Object.keys(login.body).sort(), ['accessToken', 'expiresInSec', 'refreshToken']);
  assert.is(login.body.expiresInSec, 600);

  const who = await me(login.body.accessToken);
  assert.is(who.status, 200);
  assert.equal(who.body.user, reg.body.user);
  assert.equal(who.body.organization, reg.body.organization);
  assert.is(who.body.role, 'owner');

  // only the SHA-256 of refresh tokens is stored
  const rows = withDb((db) => db.prepare('SELECT token_hash FROM refresh_tokens WHERE user_id = ?').all(reg.body.user.id) as { token_hash: string }[]);
  assert.is(rows.length, 2);
  assert.ok(rows.some((r) => r.token_hash === createHash('sha256').update(login.body.refreshToken).digest('hex')));
  assert.ok(withDb((db) => db.prepare('SELECT password_hash FROM users WHERE id = ?').get(reg.body.user.id) as { password_hash: string }).password_hash.startsWith('scrypt$'));

  const next = await post('/auth/refresh', { refreshToken: login.body.refreshToken });
  assert.is(next.status, 200);
  assert.ok(next.body.refreshToken !== login.body.refreshToken);
  assert.is((await me(next.body.accessToken)).status, 200);

  const out = await post('/auth/logout', { refreshToken: next.body.refreshToken });
  assert.is(out.status, 204);
  assert.is((await post('/auth/refresh', { refreshToken: next.body.refreshToken })).status, 401);
  // the access tokens of the signed-out session stop working too; another session is unaffected
  assert.is((await me(next.body.accessToken)).status, 401);
  assert.is((await me(login.body.accessToken)).status, 401);
  assert.is((await me(reg.body.accessToken)).status, 200);
  assert.is((await post('/auth/logout', { refreshToken: next.body.refreshToken })).status, 204, 'logout is idempotent');
});

test('duplicate e-mail (any case) → 409 and nothing written', async () => {
  await registerAccount(server, { email: 'dup@example.com' });
  const before = [count('users'), count('organizations'), count('memberships'), count('refresh_tokens')];
  const r = await post('/auth/register', { organization: 'Other', name: 'Dup', email: ' DUP@example.com ', password: 'another-password' });
  assert.is(r.status, 409);
  assert.is(r.body.error.code, 'conflict');
  assert.equal([count('users'), count('organizations'), count('memberships'), count('refresh_tokens')], before);
});

test('bad register and login bodies → 400/415 naming the field, nothing written', async () => {
  const before = count('users');
  const ok = { organization: 'Org', name: 'N', email: 'valid@example.com', password: 'long enough pw' };
  for (const [body, field] of [
    [{ ...ok, email: 'not-an-email' }, 'email'],
    [{ ...ok, password: 'short' }, 'password'],
    [{ ...ok, password: 'x'.repeat(257) }, 'password'],
    [{ ...ok, organization: '' }, 'organization'],
    [{ ...ok, organization: '   ' }, 'organization'],
    [{ email: 'a@b.co', password: 'long enough pw', name: 'N' }, 'organization'],
    [{ ...ok, name: 42 }, 'name'],
  ] as const) {
    const r = await post('/auth/register', body);
    assert.is(r.status, 400, JSON.stringify(body));
    assert.is(r.body.error.code, 'bad_request');
    assert.match(r.body.error.message, new RegExp(`^${field}:`));
  }
  assert.is(count('users'), before);
  assert.is((await post('/auth/login', { email: 'a@b.co' })).status, 400);
  assert.is((await post('/auth/login', 'email=a@b.co', { 'content-type': 'application/x-www-form-urlencoded' })).status, 415);
  assert.is((await post('/auth/refresh', {})).status, 400);
  assert.is((await post('/auth/logout', { refreshToken: 7 })).status, 400);
});

test('unknown e-mail and wrong password get the identical 401', async () => {
  const acct = await registerAccount(server);
  const wrong = await post('/auth/login', { email: acct.email, password: 'wrong password!' });
  const unknown = await post('/auth/login', { email: 'nobody-here@example.com', password: 'wrong password!' });
  assert.is(wrong.status, 401);
  assert.is(unknown.status, 401);
  assert.equal(wrong.body, unknown.body);
  assert.is(wrong.body.error.code, 'unauthorized');
});

test('brute force on one e-mail → 429 with Retry-After, even with the right password; unknown e-mails too', async () => {
  const acct = await registerAccount(server);
  for (let i = 0; i < 5; i++) assert.is((await post('/auth/login', { email: acct.email, password: `guess-${i}-guess` })).status, 401);
  const blocked = await post('/auth/login', { email: acct.email, password: acct.password });
  assert.is(blocked.status, 429);
  assert.is(blocked.body.error.code, 'rate_limited');
  const retry = Number(blocked.headers.get('retry-after'));
  assert.ok(retry > 800 && retry <= 900, `Retry-After ${retry}`);
  // other accounts are not affected
  const other = await registerAccount(server);
  assert.is((await post('/auth/login', { email: other.email, password: other.password })).status, 200);
  // the same for an e-mail nobody registered: no way to tell which e-mails exist
  for (let i = 0; i < 5; i++) assert.is((await post('/auth/login', { email: 'ghost@example.com', password: `guess-${i}-guess` })).status, 401);
  assert.is((await post('/auth/login', { email: 'ghost@example.com', password: 'guess-x-guess' })).status, 429);
});

test('refresh re-use revokes the whole family, the newest token included', async () => {
  const acct = await registerAccount(server);
  const r1 = acct.refreshToken;
  const p2 = await post('/auth/refresh', { refreshToken: r1 });
  assert.is(p2.status, 200);
  const p3 = await post('/auth/refresh', { refreshToken: p2.body.refreshToken });
  assert.is(p3.status, 200);
  // r1 was rotated: presenting it again is re-use
  const reuse = await post('/auth/refresh', { refreshToken: r1 });
  assert.is(reuse.status, 401);
  assert.is(reuse.body.error.code, 'unauthorized');
  assert.is((await post('/auth/refresh', { refreshToken: p3.body.refreshToken })).status, 401, 'newest refresh token revoked');
  assert.is((await me(p3.body.accessToken)).status, 401, 'access tokens of the family revoked');
  const fam = decodeJwt(r1).sid as string;
  const rows = withDb((db) => db.prepare('SELECT revoked_at, revoke_reason FROM refresh_tokens WHERE family_id = ?').all(fam) as { revoked_at: number | null; revoke_reason: string | null }[]);
  assert.is(rows.length, 3);
  assert.ok(rows.every((r) => r.revoked_at !== null && r.revoke_reason === 'reuse'));
  // a fresh login still works
  assert.is((await post('/auth/login', { email: acct.email, password: acct.password })).status, 200);
});

test('two concurrent refreshes of one token never yield two live sessions', async () => {
  const acct = await registerAccount(server);
  const results = await Promise.all([0, 1, 2].map(() => post('/auth/refresh', { refreshToken: acct.refreshToken })));
  const ok = results.filter((r) => r.status === 200);
  assert.ok(results.every((r) => r.status === 200 || r.status === 401), results.map((r) => r.status).join());
  assert.is(ok.length, 1, 'exactly one rotation wins');
  // the losers presented a rotated token: re-use, so the winner's family is revoked as well
  assert.is((await post('/auth/refresh', { refreshToken: ok[0]!.body.refreshToken })).status, 401);
});

test('a refresh token whose row is unknown or whose hash differs is refused', async () => {
  const acct = await registerAccount(server);
  const c = decodeJwt(acct.refreshToken);
  const now = Math.floor(Date.now() / 1000);
  const forged = await new SignJWT({ org: c.org, sid: c.sid, typ: 'refresh' }).setProtectedHeader({ alg: 'HS256' })
    .setIssuer('meetcore').setSubject(c.sub!).setJti('no-such-row').setIssuedAt(now).setExpirationTime(now + 600).sign(enc(REFRESH_SECRET));
  assert.is((await post('/auth/refresh', { refreshToken: forged })).status, 401);
  const sameJti = await new SignJWT({ org: c.org, sid: c.sid, typ: 'refresh', extra: 1 }).setProtectedHeader({ alg: 'HS256' })
    .setIssuer('meetcore').setSubject(c.sub!).setJti(c.jti!).setIssuedAt(now).setExpirationTime(now + 600).sign(enc(REFRESH_SECRET));
  assert.is((await post('/auth/refresh', { refreshToken: sameJti })).status, 401);
  assert.is((await post('/auth/logout', { refreshToken: 'garbage' })).status, 401);
  assert.is((await post('/auth/refresh', { refreshToken: acct.refreshToken })).status, 200, 'the real one still works');
});

test('forged and misused JWTs → 401; a correctly re-signed copy passes (control)', async () => {
  const acct = await registerAccount(server);
  const c = decodeJwt(acct.accessToken);
  const now = Math.floor(Date.now() / 1000);
  const claims = { org: c.org, role: c.role, sid: c.sid, typ: 'access' };
  const build = (payload: Record<string, unknown> = claims) => new SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer('meetcore').setSubject(c.sub!).setJti('j1').setIssuedAt(now);
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

  const control = await build().setExpirationTime(now + 300).sign(enc(ACCESS_SECRET));
  assert.is((await me(control)).status, 200);

  const cases: [string, string][] = [
    ['alg none', `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...claims, iss: 'meetcore', sub: c.sub, jti: 'j1', iat: now, exp: now + 300 })}.`],
    ['other secret', await build().setExpirationTime(now + 300).sign(enc('some-other-secret-0123456789abcdef'))],
    ['HS512 with the right secret', await new SignJWT(claims).setProtectedHeader({ alg: 'HS512' }).setIssuer('meetcore').setSubject(c.sub!).setJti('j1').setIssuedAt(now).setExpirationTime(now + 300).sign(enc(ACCESS_SECRET))],
    ['expired', await build().setExpirationTime(now - 5).sign(enc(ACCESS_SECRET))],
    ['missing exp', await build().sign(enc(ACCESS_SECRET))],
    ['missing typ', await build({ org: c.org, role: c.role, sid: c.sid }).setExpirationTime(now + 300).sign(enc(ACCESS_SECRET))],
    ['typ refresh signed with the access secret', await build({ ...claims, typ: 'refresh' }).setExpirationTime(now + 300).sign(enc(ACCESS_SECRET))],
    ['a real refresh token used as access token', acct.refreshToken],
    ['tampered payload', (() => { const [h, , s] = control.split('.'); return `${h}.${b64({ ...claims, role: 'owner', iss: 'meetcore', sub: 'usr_someone_else', jti: 'j1', iat: now, exp: now + 300 })}.${s}`; })()],
    ['not a JWT', 'abc.def'],
  ];
  for (const [what, token] of cases) {
    const r = await me(token);
    assert.is(r.status, 401, what);
    assert.is(r.body.error.code, 'unauthorized', what);
  }
  // and the reverse: access tokens are not refresh tokens
  assert.is((await post('/auth/refresh', { refreshToken: acct.accessToken })).status, 401);
  const accessTypedRefresh = await new SignJWT({ org: c.org, sid: c.sid, typ: 'access' }).setProtectedHeader({ alg: 'HS256' })
    .setIssuer('meetcore').setSubject(c.sub!).setJti(decodeJwt(acct.refreshToken).jti!).setIssuedAt(now).setExpirationTime(now + 600).sign(enc(REFRESH_SECRET));
  assert.is((await post('/auth/refresh', { refreshToken: accessTypedRefresh })).status, 401);
  assert.is((await post('/auth/logout', { refreshToken: acct.accessToken })).status, 401);
});

test('bearer and admin routes: 401 without or with a bad Authorization, 403 for a member, 200 for the owner', async () => {
  for (const p of ['/auth/me', '/api/sessions', '/api/stats', '/api/admin/calls/stats']) {
    const r = await http('GET', `${server.url}${p}`);
    assert.is(r.status, 401, p);
    assert.is(r.body.error.code, 'unauthorized', p);
  }
  assert.is((await post('/api/egress/url', { roomName: 'r' })).status, 401);
  const owner = await registerAccount(server, { organization: 'Owner Org' });
  for (const h of [`Basic ${owner.accessToken}`, 'Bearer', `Bearer ${owner.accessToken} extra`, owner.accessToken]) {
    assert.is((await http('GET', `${server.url}/api/sessions`, undefined, { authorization: h })).status, 401, h);
  }
  assert.is((await http('GET', `${server.url}/api/sessions`, undefined, owner.headers)).status, 200);
  assert.is((await http('GET', `${server.url}/api/stats`, undefined, owner.headers)).status, 200);
  assert.is((await http('GET', `${server.url}/api/stats`, undefined, { authorization: `bearer ${owner.accessToken}` })).status, 200, 'scheme is case-insensitive');

  // a second user joins the owner's organization as a member (no invitation endpoint yet: set up in SQLite)
  const bob = await registerAccount(server, { organization: 'Bob Org' });
  withDb((db) => db.prepare("INSERT INTO memberships (user_id, org_id, role, created_at) VALUES (?, ?, 'member', ?)").run(bob.userId, owner.orgId, Date.now()));
  const asMember = await post('/auth/login', { email: bob.email, password: bob.password, organizationId: owner.orgId });
  assert.is(asMember.status, 200);
  const memberAuth = { authorization: `Bearer ${asMember.body.accessToken}` };
  const who = await http('GET', `${server.url}/auth/me`, undefined, memberAuth);
  assert.is(who.body.role, 'member');
  assert.is(who.body.organization.id, owner.orgId);
  for (const p of ['/api/stats', '/api/admin/calls/stats']) {
    const r = await http('GET', `${server.url}${p}`, undefined, memberAuth);
    assert.is(r.status, 403, p);
    assert.is(r.body.error.code, 'forbidden');
  }
  assert.is((await http('GET', `${server.url}/api/sessions`, undefined, memberAuth)).status, 200, 'bearer routes are open to members');
  // the role is read at each request: a promotion applies to tokens already issued
  withDb((db) => db.prepare("UPDATE memberships SET role = 'admin' WHERE user_id = ? AND org_id = ?").run(bob.userId, owner.orgId));
  assert.is((await http('GET', `${server.url}/api/stats`, undefined, memberAuth)).status, 200);
  // removing the membership ends access with that token, and its refresh
  withDb((db) => db.prepare('DELETE FROM memberships WHERE user_id = ? AND org_id = ?').run(bob.userId, owner.orgId));
  assert.is((await http('GET', `${server.url}/api/sessions`, undefined, memberAuth)).status, 401);
  assert.is((await post('/auth/refresh', { refreshToken: asMember.body.refreshToken })).status, 401);
  // an organization the user is not a member of
  const notMember = await post('/auth/login', { email: bob.email, password: bob.password, organizationId: owner.orgId });
  assert.is(notMember.status, 403);
  assert.is(notMember.body.error.code, 'forbidden');
});

test.run();
