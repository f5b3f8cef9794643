/**
 * In-process units of src/auth: scrypt password strings, the failure limiter's sliding window, the
 * session_logs writer, and TokenService claim checks.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SignJWT } from 'jose';
import { openDatabase } from '../../src/store/db.js';
import { AccountStore, FailureLimiter, logSession } from '../../src/auth/accounts.js';
import { hashPassword, needsRehash, verifyPassword } from '../../src/auth/passwords.js';
import { TokenError, TokenService } from '../../src/auth/tokens.js';

const FAST = { N: 1024, r: 8, p: 1 };

test('scrypt: self-describing string, salted, verifies only the right password', async () => {
  const a = await hashPassword('pässword', FAST);
  const b = await hashPassword('pässword', FAST);
  assert.match(a, /^scrypt\$1024\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
  assert.ok(a !== b, 'a fresh salt each time');
  assert.ok(await verifyPassword('pässword', a));
  assert.ok(await verifyPassword('pa\u0308ssword', a), 'NFC-normalized');
  assert.not.ok(await verifyPassword('password', a));
  assert.not.ok(await verifyPassword('', a));
  assert.ok(needsRehash(a), 'other than the default parameters');
  assert.not.ok(needsRehash(await hashPassword('x')));
});

test('scrypt: malformed or hostile stored strings verify false without throwing', async () => {
  const good = await hashPassword('pw', FAST);
  const parts = good.split('$');
  for (const stored of ['', 'plain', 'bcrypt$x', good.replace('scrypt', 'scryptx'), [...parts.slice(0, 1), '1000', ...parts.slice(2)].join('$'),
    [...parts.slice(0, 1), String(2 ** 30), ...parts.slice(2)].join('$'), [...parts.slice(0, 4), '', parts[5]].join('$'), parts.slice(0, 5).join('$')]) {
    assert.is(await verifyPassword('pw', stored), false, stored);
  }
});

test('FailureLimiter: limit within the window, slides, release and clear', () => {
  const l = new FailureLimiter(3, 1000);
  assert.is(l.retryAfterMs('k', 0), 0);
  l.hit('k', 0); l.hit('k', 100); l.hit('k', 200);
  assert.is(l.retryAfterMs('k', 300), 700);
  assert.is(l.retryAfterMs('other', 300), 0);
  assert.is(l.retryAfterMs('k', 1000), 0, 'the first hit left the window');
  l.hit('k', 1000);
  assert.is(l.retryAfterMs('k', 1050), 50);
  l.release('k', 1000);
  assert.is(l.retryAfterMs('k', 1050), 0);
  l.hit('k', 1060);
  l.clear('k');
  assert.is(l.retryAfterMs('k', 1070), 0);
});

test('FailureLimiter: memory is bounded by maxKeys', () => {
  const l = new FailureLimiter(2, 60_000, 100);
  for (let i = 0; i < 1000; i++) l.hit(`k${i}`, i);
  assert.ok((l as unknown as { hits: Map<string, number[]> }).hits.size <= 100);
  l.hit('last', 1000); l.hit('last', 1001);
  assert.ok(l.retryAfterMs('last', 1002) > 0, 'the newest keys are kept');
});

test('logSession writes one session_logs row; bad entries write nothing', () => {
  const db = openDatabase(':memory:');
  const id = logSession(db, { actor: 'Ana', room: 'room-1', ip: '203.0.113.9', kind: 'livekit_token', at: 1234 });
  assert.equal(db.prepare('SELECT * FROM session_logs WHERE id = ?').get(id),
    { id, at: 1234, actor: 'Ana', room: 'room-1', ip: '203.0.113.9', kind: 'livekit_token', user_id: null, org_id: null });
  assert.throws(() => logSession(db, { actor: '', kind: 'x' }), RangeError);
  assert.is((db.prepare('SELECT count(*) AS n FROM session_logs').get() as { n: number }).n, 1);
  db.close();
});

test('AccountStore: rotate once, family revocation, pruning of expired rows', () => {
  const db = openDatabase(':memory:');
  db.prepare("INSERT INTO organizations VALUES ('o', 'Org', 0)").run();
  db.prepare("INSERT INTO users VALUES ('u', 'u@example.com', 'U', 'scrypt$x', 0)").run();
  const s = new AccountStore(db);
  const row = (id: string, expiresAt: number) => ({ id, familyId: 'f', userId: 'u', orgId: 'o', tokenHash: `h-${id}`, issuedAt: 0, expiresAt });
  s.insertRefresh(row('a', 5000));
  assert.ok(s.rotate('a', row('b', 9000), 10));
  assert.not.ok(s.rotate('a', row('c', 9000), 11), 'a rotated token does not rotate again');
  assert.is(s.refreshToken('c'), null, 'nothing written by the refused rotation');
  assert.is(s.refreshToken('a')!.rotatedAt, 10);
  assert.not.ok(s.familyRevoked('f'));
  assert.is(s.revokeFamily('f', 'logout', 20), 2);
  assert.ok(s.familyRevoked('f'));
  assert.is(s.revokeFamily('f', 'logout', 30), 0, 'idempotent');
  assert.is(s.pruneExpired(6000), 1);
  assert.is(s.refreshToken('a'), null);
  assert.ok(s.refreshToken('b'));
  assert.throws(() => db.prepare("INSERT INTO users VALUES ('v', 'Upper@example.com', 'V', 'x', 0)").run(), /CHECK/, 'e-mails are stored lower-cased');
  db.close();
});

test('TokenService: kinds, required claims and lifetimes', async () => {
  const t = new TokenService({ JWT_ACCESS_SECRET: 'a'.repeat(32), JWT_REFRESH_SECRET: 'a'.repeat(32), JWT_ACCESS_TTL: 60, JWT_REFRESH_TTL: 120 });
  const now = Math.floor(Date.now() / 1000);
  const access = await t.signAccess({ userId: 'u', orgId: 'o', role: 'admin', sessionId: 's' }, now);
  const refresh = await t.signRefresh({ jti: 'j', familyId: 'f', userId: 'u', orgId: 'o' }, now);
  const a = await t.verifyAccess(access);
  assert.equal({ ...a, jti: 'x' }, { userId: 'u', orgId: 'o', role: 'admin', sessionId: 's', jti: 'x', exp: now + 60 });
  assert.equal(await t.verifyRefresh(refresh), { jti: 'j', familyId: 'f', userId: 'u', orgId: 'o', exp: now + 120 });
  for (const p of [t.verifyAccess(refresh), t.verifyRefresh(access)]) {
    try { await p; assert.unreachable('accepted the other kind'); } catch (err) { assert.instance(err, TokenError); }
  }
  const badRole = await new SignJWT({ org: 'o', sid: 's', role: 'root', typ: 'access' }).setProtectedHeader({ alg: 'HS256' })
    .setIssuer('meetcore').setSubject('u').setJti('j').setIssuedAt(now).setExpirationTime(now + 60).sign(new TextEncoder().encode('a'.repeat(32)));
  try { await t.verifyAccess(badRole); assert.unreachable('accepted an unknown role'); } catch (err) { assert.instance(err, TokenError); }
  const otherIssuer = await new SignJWT({ org: 'o', sid: 's', role: 'owner', typ: 'access' }).setProtectedHeader({ alg: 'HS256' })
    .setIssuer('someone').setSubject('u').setJti('j').setIssuedAt(now).setExpirationTime(now + 60).sign(new TextEncoder().encode('a'.repeat(32)));
  try { await t.verifyAccess(otherIssuer); assert.unreachable('accepted another issuer'); } catch (err) { assert.instance(err, TokenError); }
});

test.run();
