/**
 * Registration and membership management through the public API (README "Accounts", "Who may do what"):
 * REGISTRATION=first|open|closed, invitations (single use, expiring, only a hash stored), accepting one as a new
 * or an existing account, listing and removing members (their sockets close), and role changes by owners only.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import WebSocket from 'ws';
import { SignalingClient } from '../../src/client/index.js';
import { inviteAccount, registerAccount, type TestAccount } from '../helpers/auth.js';
import { http, startTestServer, type TestServer } from '../helpers/server.js';

const servers: TestServer[] = [];
test.after(async () => { await Promise.all(servers.map((s) => s.stop())); });

async function start(env: Record<string, string>): Promise<TestServer> {
  const s = await startTestServer(env);
  servers.push(s);
  return s;
}

const registration = (server: TestServer, email = `r-${randomBytes(4).toString('hex')}@example.test`) =>
  http('POST', `${server.url}/auth/register`, { organization: 'Org', name: 'Reg', email, password: 'correct horse battery staple' });

const invite = (server: TestServer, who: TestAccount, body: unknown) => http('POST', `${server.url}/api/org/invitations`, body, who.headers);
const accept = (server: TestServer, body: unknown, headers: Record<string, string> = {}) => http('POST', `${server.url}/auth/invitations/accept`, body, headers);
const me = async (server: TestServer, who: { headers: Record<string, string> }) => http('GET', `${server.url}/auth/me`, undefined, who.headers);

// ---------------------------------------------------------------------------------------------------------
// Registration

let first: TestServer;
let owner: TestAccount;

test('REGISTRATION unset (first): the first account registers, then registration answers 403 naming the setting', async () => {
  first = await start({ REGISTRATION: '' });
  owner = await registerAccount(first, { organization: 'First' });
  const second = await registration(first);
  assert.is(second.status, 403, JSON.stringify(second.body));
  assert.is(second.body.error.code, 'forbidden');
  assert.match(second.body.error.message, /registration is closed.*REGISTRATION=first.*invitation/);
  // Three registrations racing on a fresh server: exactly one gets in.
  const racing = await start({ REGISTRATION: 'first' });
  const both = await Promise.all([registration(racing), registration(racing), registration(racing)]);
  assert.equal(both.map((r) => r.status).sort(), [201, 403, 403], JSON.stringify(both.map((r) => r.body)));
});

test('REGISTRATION=closed: nobody registers, not even the first account; open: everyone does', async () => {
  const closed = await start({ REGISTRATION: 'closed' });
  const r = await registration(closed);
  assert.is(r.status, 403);
  assert.match(r.body.error.message, /REGISTRATION=closed/);
  const open = await start({ REGISTRATION: 'open' });
  assert.is((await registration(open)).status, 201);
  assert.is((await registration(open)).status, 201);
});

// ---------------------------------------------------------------------------------------------------------
// Invitations (on the `first` server: registration is closed there, invitations still work)

test('invite → accept makes an account of that organization with that role; the token is single use', async () => {
  const email = `Bob-${randomBytes(3).toString('hex')}@Example.test`;
  const inv = await invite(first, owner, { email, role: 'admin' });
  assert.is(inv.status, 201, JSON.stringify(inv.body));
  assert.match(inv.body.token, /^[A-Za-z0-9_-]{43}$/);
  assert.match(inv.body.acceptUrl, /^http:\/\/localhost:\d+\/auth\/invitations\/accept$/, 'on PUBLIC_URL');
  assert.equal(Object.keys(inv.body.invitation).sort(), ['acceptedAt', 'createdAt', 'email', 'expiresAt', 'id', 'invitedBy', 'organizationId', 'revokedAt', 'role']);
  assert.is(inv.body.invitation.email, email.toLowerCase());
  assert.is(inv.body.invitation.organizationId, owner.orgId);
  const hours = (inv.body.invitation.expiresAt - inv.body.invitation.createdAt) / 3_600_000;
  assert.is(hours, 72, 'INVITATION_TTL_HOURS default');
  // Only a hash of the token is stored.
  const db = new Database(path.join(first.dataDir, 'meetcore.db'), { readonly: true });
  try {
    const row = db.prepare('SELECT * FROM invitations WHERE id = ?').get(inv.body.invitation.id) as Record<string, unknown>;
    assert.not.ok(Object.values(row).includes(inv.body.token), 'the token itself is not stored');
  } finally {
    db.close();
  }
  const listed = await http('GET', `${first.url}/api/org/invitations`, undefined, owner.headers);
  assert.equal(listed.body.invitations.map((i: { id: string }) => i.id), [inv.body.invitation.id]);

  const ok = await accept(first, { token: inv.body.token, name: 'Bob', password: 'bob password 123' });
  assert.is(ok.status, 201, JSON.stringify(ok.body));
  assert.is(ok.body.role, 'admin');
  assert.is(ok.body.organization.id, owner.orgId);
  assert.is((await me(first, { headers: { authorization: `Bearer ${ok.body.accessToken}` } })).body.role, 'admin');
  const login = await http('POST', `${first.url}/auth/login`, { email, password: 'bob password 123' });
  assert.is(login.status, 200);
  const bob = await me(first, { headers: { authorization: `Bearer ${login.body.accessToken}` } });
  assert.is(bob.body.role, 'admin');
  assert.is(bob.body.organization.id, owner.orgId);
  assert.equal((await http('GET', `${first.url}/api/org/invitations`, undefined, owner.headers)).body.invitations, [], 'a used invitation is no longer pending');

  const again = await accept(first, { token: inv.body.token, name: 'Mallory', password: 'mallory password' });
  assert.is(again.status, 400);
  assert.match(again.body.error.message, /^token: this invitation was already used/);
});

test('invitation inputs: bad e-mail, unknown role, malformed or unknown token, missing name, short password → 4xx naming the field', async () => {
  const badEmail = await invite(first, owner, { email: 'not-an-address', role: 'member' });
  assert.is(badEmail.status, 400);
  assert.match(badEmail.body.error.message, /^email:/);
  const badRole = await invite(first, owner, { email: 'x@example.test', role: 'superuser' });
  assert.is(badRole.status, 400);
  assert.match(badRole.body.error.message, /^role: must be one of owner, admin, member/);
  const extra = await invite(first, owner, { email: 'x@example.test', role: 'member', orgId: 'org_BBBBBBBBBBBBBBBB' });
  assert.is(extra.status, 400, 'no field picks another organization');
  const already = await invite(first, owner, { email: owner.email, role: 'member' });
  assert.is(already.status, 409);
  assert.match(already.body.error.message, /^email:/);

  const malformed = await accept(first, { token: 'abc', name: 'X', password: 'long enough password' });
  assert.is(malformed.status, 400);
  assert.match(malformed.body.error.message, /^token:/);
  const unknown = await accept(first, { token: randomBytes(32).toString('base64url'), name: 'X', password: 'long enough password' });
  assert.is(unknown.status, 404);
  assert.match(unknown.body.error.message, /^token: no such invitation/);

  const inv = await invite(first, owner, { email: `new-${randomBytes(3).toString('hex')}@example.test`, role: 'member' });
  const noName = await accept(first, { token: inv.body.token, password: 'long enough password' });
  assert.is(noName.status, 400);
  assert.match(noName.body.error.message, /^name:/);
  const short = await accept(first, { token: inv.body.token, name: 'X', password: 'short' });
  assert.is(short.status, 400);
  assert.match(short.body.error.message, /^password: must be at least 8 characters/);
  assert.is((await accept(first, { token: inv.body.token, name: 'X', password: 'long enough password' })).status, 201, 'refused attempts did not use it');
});

test('an expired invitation is refused (INVITATION_TTL_HOURS)', async () => {
  const s = await start({ INVITATION_TTL_HOURS: '0.0003' }); // 1.08 s
  const o = await registerAccount(s);
  const inv = await invite(s, o, { email: 'late@example.test', role: 'member' });
  assert.is(inv.status, 201);
  assert.is(inv.body.invitation.expiresAt - inv.body.invitation.createdAt, 1080);
  await new Promise((r) => setTimeout(r, 1300));
  const late = await accept(s, { token: inv.body.token, name: 'Late', password: 'long enough password' });
  assert.is(late.status, 400);
  assert.match(late.body.error.message, /^token: this invitation has expired/);
  assert.equal((await http('GET', `${s.url}/api/org/invitations`, undefined, o.headers)).body.invitations, []);
});

test('who invites: owners any role, admins admin or member (not owner), members nobody', async () => {
  const admin = await inviteAccount(first, owner, 'admin');
  const member = await inviteAccount(first, owner, 'member');
  const m = await invite(first, member, { email: 'someone@example.test', role: 'member' });
  assert.is(m.status, 403);
  assert.match(m.body.error.message, /only an owner or an admin may invite/);
  assert.is((await http('GET', `${first.url}/api/org/invitations`, undefined, member.headers)).status, 403);
  const a = await invite(first, admin, { email: 'boss@example.test', role: 'owner' });
  assert.is(a.status, 403);
  assert.match(a.body.error.message, /^role: only an owner may invite an owner/);
  assert.is((await invite(first, admin, { email: 'helper@example.test', role: 'admin' })).status, 201);
  const coOwner = await invite(first, owner, { email: 'co-owner@example.test', role: 'owner' });
  assert.is(coOwner.status, 201);
  // Withdrawing takes the same right: an admin cannot withdraw an owner's invitation, its owner can.
  const byAdmin = await http('DELETE', `${first.url}/api/org/invitations/${coOwner.body.invitation.id}`, undefined, admin.headers);
  assert.is(byAdmin.status, 403);
  assert.match(byAdmin.body.error.message, /^role: only an owner may invite an owner/);
  assert.is((await http('DELETE', `${first.url}/api/org/invitations/${coOwner.body.invitation.id}`, undefined, owner.headers)).status, 204);
  assert.is((await invite(first, admin, { email: 'nobody@example.test', role: 'member' })).status, 201);
  assert.is((await http('POST', `${first.url}/api/org/invitations`, { email: 'anon@example.test', role: 'member' })).status, 401);
});

// ---------------------------------------------------------------------------------------------------------
// Several organizations (REGISTRATION=open)

let multi: TestServer;
let a: TestAccount;
let b: TestAccount;

test('an existing account accepts with its password or its own access token, not without proof nor with another token', async () => {
  multi = await start({});
  a = await registerAccount(multi, { organization: 'A' });
  b = await registerAccount(multi, { organization: 'B' });
  const stranger = await registerAccount(multi, { organization: 'C' });
  const inv = await invite(multi, a, { email: b.email, role: 'member' });
  assert.is(inv.status, 201);
  const bare = await accept(multi, { token: inv.body.token });
  assert.is(bare.status, 401);
  assert.match(bare.body.error.message, /^password:/);
  const failedLogins = () => multi.logs.filter((l) => l.msg === 'failed login').length;
  const failedBefore = failedLogins();
  const wrong = await accept(multi, { token: inv.body.token, password: 'not the password' });
  assert.is(wrong.status, 401);
  // The log line comes through the server's stdout, which may be read after the reply: waited for, 5 s at most.
  for (let t0 = Date.now(); failedLogins() < failedBefore + 1 && Date.now() - t0 < 5000;) await new Promise((r) => setTimeout(r, 20));
  assert.is(failedLogins(), failedBefore + 1, 'a wrong password on accept is logged as a failed login');
  const other = await accept(multi, { token: inv.body.token }, stranger.headers);
  assert.is(other.status, 403);
  assert.match(other.body.error.message, /another e-mail address/);
  const ok = await accept(multi, { token: inv.body.token }, b.headers);
  assert.is(ok.status, 200, JSON.stringify(ok.body));
  assert.is(ok.body.user.id, b.userId);
  assert.is(ok.body.organization.id, a.orgId);
  const inA = await http('POST', `${multi.url}/auth/login`, { email: b.email, password: b.password, organizationId: a.orgId });
  assert.is((await me(multi, { headers: { authorization: `Bearer ${inA.body.accessToken}` } })).body.role, 'member');
  assert.is((await me(multi, b)).body.organization.id, b.orgId, "b's own organization is unchanged");
  // Password proof works too (another invitation, into C).
  const inv2 = await invite(multi, stranger, { email: a.email, role: 'admin' });
  const byPassword = await accept(multi, { token: inv2.body.token, password: a.password });
  assert.is(byPassword.status, 200, JSON.stringify(byPassword.body));
  assert.is(byPassword.body.role, 'admin');
});

test('members are listed per organization; ids never cross organizations (404 for another organization\'s member or invitation)', async () => {
  const list = await http('GET', `${multi.url}/api/org/members`, undefined, a.headers);
  assert.is(list.status, 200);
  assert.is(list.body.organizationId, a.orgId);
  assert.equal(list.body.members.map((m: { userId: string; role: string }) => [m.userId, m.role]), [[a.userId, 'owner'], [b.userId, 'member']]);
  assert.equal(Object.keys(list.body.members[0]).sort(), ['email', 'joinedAt', 'name', 'role', 'userId']);
  const ofB = await http('GET', `${multi.url}/api/org/members`, undefined, b.headers);
  assert.equal(ofB.body.members.map((m: { userId: string }) => m.userId), [b.userId], "B's token lists B's organization");

  // B's owner (b) cannot remove or re-role A's owner, nor withdraw A's invitation.
  const del = await http('DELETE', `${multi.url}/api/org/members/${a.userId}`, undefined, b.headers);
  assert.is(del.status, 404);
  assert.match(del.body.error.message, /^userId: no member/);
  const patch = await http('PATCH', `${multi.url}/api/org/members/${a.userId}`, { role: 'member' }, b.headers);
  assert.is(patch.status, 404);
  const inv = await invite(multi, a, { email: 'pending@example.test', role: 'member' });
  const withdraw = await http('DELETE', `${multi.url}/api/org/invitations/${inv.body.invitation.id}`, undefined, b.headers);
  assert.is(withdraw.status, 404);
  assert.match(withdraw.body.error.message, /^invitationId:/);
  assert.is((await http('DELETE', `${multi.url}/api/org/members/usr_${'x'.repeat(70)}`, undefined, a.headers)).body.error.message, 'userId: must be at most 64 characters');
  // A withdraws its own invitation: it can no longer be accepted.
  assert.is((await http('DELETE', `${multi.url}/api/org/invitations/${inv.body.invitation.id}`, undefined, a.headers)).status, 204);
  const late = await accept(multi, { token: inv.body.token, name: 'P', password: 'long enough password' });
  assert.is(late.status, 400);
  assert.match(late.body.error.message, /^token: this invitation was withdrawn/);
});

test("removing a member closes that member's live /ws socket (1008) and ends its logins in that organization", async () => {
  const victim = await inviteAccount(multi, a, 'admin');
  const c = await new SignalingClient({ url: multi.wsUrl, WebSocket, token: victim.accessToken }).connect();
  try {
    await c.join(`${a.orgId}:standup`);
    const closed = c.next('close', () => true, 5000);
    const admin = await inviteAccount(multi, a, 'admin');
    const del = await http('DELETE', `${multi.url}/api/org/members/${victim.userId}`, undefined, admin.headers);
    assert.is(del.status, 204, JSON.stringify(del.body));
    const ev = await closed;
    assert.is(ev.code, 1008);
    assert.is(ev.reason, 'session revoked');
  } finally {
    c.close();
  }
  assert.is((await me(multi, victim)).status, 401, 'its access token stops working');
  assert.is((await http('POST', `${multi.url}/auth/refresh`, { refreshToken: victim.refreshToken })).status, 401, 'its refresh token too');
  const members = (await http('GET', `${multi.url}/api/org/members`, undefined, a.headers)).body.members as { userId: string }[];
  assert.not.ok(members.some((m) => m.userId === victim.userId));
  assert.is((await http('DELETE', `${multi.url}/api/org/members/${victim.userId}`, undefined, a.headers)).status, 404, 'removed once');
});

test('roles: only an owner changes them; admins cannot remove owners; the last owner is neither demoted nor removed', async () => {
  const admin = await inviteAccount(multi, a, 'admin');
  const member = await inviteAccount(multi, a, 'member');
  const byAdmin = await http('PATCH', `${multi.url}/api/org/members/${member.userId}`, { role: 'admin' }, admin.headers);
  assert.is(byAdmin.status, 403);
  assert.match(byAdmin.body.error.message, /only an owner may change roles/);
  const byMember = await http('PATCH', `${multi.url}/api/org/members/${member.userId}`, { role: 'admin' }, member.headers);
  assert.is(byMember.status, 403);
  const badRole = await http('PATCH', `${multi.url}/api/org/members/${member.userId}`, { role: 'root' }, a.headers);
  assert.is(badRole.status, 400);
  assert.match(badRole.body.error.message, /^role:/);

  const up = await http('PATCH', `${multi.url}/api/org/members/${member.userId}`, { role: 'admin' }, a.headers);
  assert.is(up.status, 200, JSON.stringify(up.body));
  assert.is(up.body.role, 'admin');
  assert.is((await me(multi, member)).body.role, 'admin', 'counts at once, with the same access token');

  const lastDemote = await http('PATCH', `${multi.url}/api/org/members/${a.userId}`, { role: 'admin' }, a.headers);
  assert.is(lastDemote.status, 403);
  assert.match(lastDemote.body.error.message, /last owner/);
  const lastRemove = await http('DELETE', `${multi.url}/api/org/members/${a.userId}`, undefined, a.headers);
  assert.is(lastRemove.status, 403);
  assert.match(lastRemove.body.error.message, /last owner/);
  const adminRemovesOwner = await http('DELETE', `${multi.url}/api/org/members/${a.userId}`, undefined, admin.headers);
  assert.is(adminRemovesOwner.status, 403);
  assert.match(adminRemovesOwner.body.error.message, /only an owner may remove an owner/);
  const memberRemoves = await http('DELETE', `${multi.url}/api/org/members/${admin.userId}`, undefined, (await inviteAccount(multi, a, 'member')).headers);
  assert.is(memberRemoves.status, 403);

  // With a second owner, the first may step down.
  assert.is((await http('PATCH', `${multi.url}/api/org/members/${admin.userId}`, { role: 'owner' }, a.headers)).status, 200);
  const stepDown = await http('PATCH', `${multi.url}/api/org/members/${a.userId}`, { role: 'admin' }, a.headers);
  assert.is(stepDown.status, 200);
  assert.is((await me(multi, a)).body.role, 'admin');
  assert.is((await http('PATCH', `${multi.url}/api/org/members/${member.userId}`, { role: 'member' }, a.headers)).status, 403, 'no longer an owner');
});

test.run();
