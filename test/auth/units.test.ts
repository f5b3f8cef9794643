/**
 * In-process units of src/auth: scrypt password strings, the failure limiter's sliding window, the
 * session_logs writer, TokenService claim checks, and the synchronous HS256 verifier against jose's.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHmac } from 'node:crypto';
import { SignJWT, jwtVerify } from 'jose';
import { openDatabase } from '../../src/store/db.js';
import { AccountStore, FailureLimiter, logSession } from '../../src/auth/accounts.js';
import { hashPassword, needsRehash, verifyPassword } from '../../src/auth/passwords.js';
import { TokenError, TokenService, verifyHs256Jwt } from '../../src/auth/tokens.js';

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
  const a = t.verifyAccess(access);
  assert.equal({ ...a, jti: 'x' }, { userId: 'u', orgId: 'o', role: 'admin', sessionId: 's', jti: 'x', exp: now + 60 });
  assert.equal(t.verifyRefresh(refresh), { jti: 'j', familyId: 'f', userId: 'u', orgId: 'o', exp: now + 120 });
  assert.throws(() => t.verifyAccess(refresh), (err: unknown) => err instanceof TokenError, 'accepted a refresh token as access');
  assert.throws(() => t.verifyRefresh(access), (err: unknown) => err instanceof TokenError, 'accepted an access token as refresh');
  const badRole = await new SignJWT({ org: 'o', sid: 's', role: 'root', typ: 'access' }).setProtectedHeader({ alg: 'HS256' })
    .setIssuer('meetcore').setSubject('u').setJti('j').setIssuedAt(now).setExpirationTime(now + 60).sign(new TextEncoder().encode('a'.repeat(32)));
  assert.throws(() => t.verifyAccess(badRole), (err: unknown) => err instanceof TokenError, 'accepted an unknown role');
  const otherIssuer = await new SignJWT({ org: 'o', sid: 's', role: 'owner', typ: 'access' }).setProtectedHeader({ alg: 'HS256' })
    .setIssuer('someone').setSubject('u').setJti('j').setIssuedAt(now).setExpirationTime(now + 60).sign(new TextEncoder().encode('a'.repeat(32)));
  assert.throws(() => t.verifyAccess(otherIssuer), (err: unknown) => err instanceof TokenError, 'accepted another issuer');
});

test('verifyHs256Jwt accepts and refuses what jose jwtVerify (HS256 only) does', async () => {
  const key = new TextEncoder().encode('k'.repeat(32));
  const now = Math.floor(Date.now() / 1000);
  const b64 = (o: unknown) => Buffer.from(typeof o === 'string' ? o : JSON.stringify(o)).toString('base64url');
  const claims = { iss: 'meetcore', sub: 'u', jti: 'j', iat: now, exp: now + 60 };
  const signed = (payload: Record<string, unknown>, header: Record<string, unknown> = { alg: 'HS256' }) =>
    new SignJWT(payload).setProtectedHeader(header as { alg: string }).sign(key);
  /** Signed by hand, for what jose will not sign. */
  const raw = (header: unknown, payload: unknown) => { const hp = `${b64(header)}.${b64(payload)}`; return `${hp}.${createHmac('sha256', key).update(hp).digest('base64url')}`; };
  const good = await signed(claims);
  const [h, p, sig] = good.split('.') as [string, string, string];
  const flip = (c: string) => (c === 'A' ? 'B' : 'A');
  // [what, token, ours accepts, jose accepts (when it differs: we only take the canonical base64url form)]
  const cases: [string, string, boolean, boolean?][] = [
    ['valid', good, true],
    ['valid with typ JWT', await signed(claims, { alg: 'HS256', typ: 'JWT' }), true],
    ['alg none', `${b64({ alg: 'none' })}.${p}.`, false],
    ['HS512', await signed(claims, { alg: 'HS512' }), false],
    ['other key', await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode('x'.repeat(32))), false],
    ['tampered payload', `${h}.${b64({ ...claims, sub: 'v' })}.${sig}`, false],
    ['signature altered', `${h}.${p}.${flip(sig[0]!)}${sig.slice(1)}`, false],
    ['signature padded', `${h}.${p}.${sig}=`, false, true],
    ['no signature', `${h}.${p}.`, false],
    ['two parts', `${h}.${p}`, false],
    ['four parts', `${good}.x`, false],
    ['signed by hand (control)', raw({ alg: 'HS256' }, claims), true],
    ['crit header', raw({ alg: 'HS256', crit: ['exp'], exp: 1 }, claims), false],
    ['payload not an object', raw({ alg: 'HS256' }, [claims]), false],
    ['payload not JSON', raw({ alg: 'HS256' }, 'not json'), false],
    ['expired', await signed({ ...claims, exp: now - 1 }), false],
    ['exp = now', await signed({ ...claims, exp: now }), false],
    ['exp not a number', await signed({ ...claims, exp: String(now + 60) }), false],
    ['iat not a number', await signed({ ...claims, iat: 'yesterday' }), false],
    ['nbf in the future', await signed({ ...claims, nbf: now + 30 }), false],
    ['nbf now', await signed({ ...claims, nbf: now }), true],
    ['missing exp', await signed({ iss: 'meetcore', sub: 'u', jti: 'j', iat: now }), false],
    ['missing jti', await signed({ iss: 'meetcore', sub: 'u', iat: now, exp: now + 60 }), false],
    ['other issuer', await signed({ ...claims, iss: 'someone' }), false],
    ['no issuer', await signed({ sub: 'u', jti: 'j', iat: now, exp: now + 60 }), false],
  ];
  const opts = { issuer: 'meetcore', requiredClaims: ['exp', 'iat', 'sub', 'jti'] };
  for (const [what, token, ok, joseOk = ok] of cases) {
    let ours = true;
    try { verifyHs256Jwt(token, key, opts); } catch (err) { assert.instance(err, TokenError, what); ours = false; }
    const jose = await jwtVerify(token, key, { algorithms: ['HS256'], ...opts }).then(() => true, () => false);
    assert.is(ours, ok, what);
    assert.is(jose, joseOk, `${what} (jose)`);
  }
  // The clock tolerance (LiveKit tokens: 10 s) widens exp and nbf both ways, as jose's clockTolerance.
  const lk = { issuer: 'meetcore', requiredClaims: ['exp', 'sub'], clockToleranceSec: 10 };
  for (const [payload, ok] of [[{ ...claims, exp: now - 5 }, true], [{ ...claims, exp: now - 15 }, false], [{ ...claims, nbf: now + 5 }, true], [{ ...claims, nbf: now + 15 }, false]] as const) {
    const token = await signed(payload);
    let ours = true;
    try { verifyHs256Jwt(token, key, lk); } catch { ours = false; }
    assert.is(ours, ok, JSON.stringify(payload));
    assert.is(await jwtVerify(token, key, { algorithms: ['HS256'], issuer: 'meetcore', requiredClaims: ['exp', 'sub'], clockTolerance: 10 }).then(() => true, () => false), ok);
  }
});

test.run();
