/**
 * The decisions of src/auth/authorization.ts, one by one, as the README's "Who may do what" table states them.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  bindableUserId, isDenial, livekitRoomName, mayAcceptInvitation, mayChangeRole, mayHostMeeting, mayInvite, mayIssueLivekitToken, mayJoinRoom,
  mayReadMeeting, mayRegister, mayRemoveMember, maySeeRoom, mayWriteMeeting, orgOfRoomName, readableMeetings, setUnscopedMeetingsPolicy,
} from '../../src/auth/authorization.js';
import type { Principal } from '../../src/http/router.js';

const A = 'org_AAAAAAAAAAAAAAAA';
const B = 'org_BBBBBBBBBBBBBBBB';
const user = (orgId: string, role: 'owner' | 'admin' | 'member', extra: Partial<Principal> = {}): Principal => ({ kind: 'user', userId: `u-${orgId}-${role}`, orgId, role, ...extra });
const lk = (room: string, roles: string[] = [], extra: Partial<Principal> = {}): Principal => ({ kind: 'livekit', identity: `id-${roles.join('')}`, room, roles, ...extra });
const meetingA = { meetingId: 'RM_a', roomName: `${A}:clinic`, orgId: A };
const meetingNone = { meetingId: 'RM_n', roomName: 'lobby', orgId: null };
// The operator's rule for meetings of no organization: the owners and admins of A (the default, A being the first).
setUnscopedMeetingsPolicy({ orgId: () => A, roles: ['owner', 'admin'] });

test('room names: members get their namespace, anonymous callers none and never an organization\'s', () => {
  assert.is(livekitRoomName(user(A, 'member'), 'clinic'), `${A}:clinic`);
  assert.is(livekitRoomName(user(A, 'member'), `${A}:clinic`), `${A}:clinic`, 'idempotent');
  assert.is(livekitRoomName(user(B, 'owner'), `${A}:clinic`), `${B}:${A}:clinic`);
  assert.is(livekitRoomName(null, 'lobby'), 'lobby');
  assert.ok(isDenial(livekitRoomName(null, `${A}:clinic`)));
  assert.is(orgOfRoomName(`${A}:clinic`), A);
  assert.is(orgOfRoomName(`${B}:${A}:clinic`), B);
  assert.is(orgOfRoomName('lobby'), null);
  assert.is(orgOfRoomName('org_short:clinic'), null);
  assert.ok(isDenial(livekitRoomName(user('org_other-form', 'owner'), 'clinic')), 'an organization id of another form is refused, not shared');
});

test('host tokens: anonymous on an open server, owners and admins; not members or LiveKit tokens', () => {
  assert.is(mayIssueLivekitToken(undefined, ['host']), null);
  assert.is(mayIssueLivekitToken(user(A, 'owner'), ['host']), null);
  assert.is(mayIssueLivekitToken(user(A, 'admin'), ['host']), null);
  assert.is(mayIssueLivekitToken(user(A, 'member'), ['guest']), null);
  assert.is(mayIssueLivekitToken(user(A, 'member'), ['host'])?.code, 'forbidden');
  assert.is(mayIssueLivekitToken(lk('lobby', ['host']), ['host'])?.code, 'forbidden');
});

test("signaling rooms: an organization's namespace is its members' and its room's LiveKit tokens'; others are open", () => {
  const none = () => null;
  assert.is(mayJoinRoom(null, 'lobby', none), null);
  assert.is(mayJoinRoom(user(B, 'member'), 'lobby', none), null);
  assert.is(mayJoinRoom(user(A, 'member'), `${A}:clinic`, none), null);
  assert.is(mayJoinRoom(lk(`${A}:clinic`), `${A}:clinic`, none), null);
  assert.is(mayJoinRoom(user(B, 'owner'), `${A}:clinic`, none)?.code, 'forbidden');
  assert.is(mayJoinRoom(lk(`${A}:clinic`), `${A}:other`, none)?.code, 'forbidden');
  assert.is(mayJoinRoom(null, `${A}:clinic`, none)?.code, 'unauthorized');
  const meetings = (id: string) => (id === 'RM_a' ? meetingA : null);
  assert.is(mayJoinRoom(user(A, 'owner'), 'feedback:RM_a', meetings), null);
  assert.is(mayJoinRoom(user(B, 'owner'), 'feedback:RM_a', meetings)?.code, 'forbidden');
  assert.is(mayJoinRoom(user(A, 'owner'), 'feedback:RM_x', meetings)?.code, 'not_found');
  // Live statistics show the same rooms.
  assert.ok(maySeeRoom(user(A, 'admin'), `${A}:clinic`, meetings));
  assert.not.ok(maySeeRoom(user(B, 'admin'), `${A}:clinic`, meetings));
  assert.ok(maySeeRoom(user(B, 'admin'), 'lobby', meetings));
  assert.ok(maySeeRoom(user(A, 'admin'), 'feedback:RM_a', meetings));
  assert.not.ok(maySeeRoom(user(B, 'admin'), 'feedback:RM_a', meetings));
  assert.not.ok(maySeeRoom(user(A, 'admin'), 'feedback:RM_x', meetings));
});

test("reading and writing a meeting: its organization's members; one of none: the roles of the organization the operator names", () => {
  assert.ok(mayReadMeeting(user(A, 'member'), meetingA));
  assert.not.ok(mayReadMeeting(user(B, 'owner'), meetingA));
  assert.not.ok(mayReadMeeting(user(B, 'owner'), meetingNone), "another organization's owner: not every account");
  assert.not.ok(mayReadMeeting(user(A, 'member'), meetingNone), 'a role the rule does not name');
  assert.ok(mayReadMeeting(user(A, 'admin'), meetingNone));
  assert.ok(mayReadMeeting(user(A, 'owner'), meetingNone));
  assert.ok(mayReadMeeting(null, meetingNone), 'anonymous on an open server (REQUIRE_AUTH=false) unchanged');
  assert.ok(mayReadMeeting(lk('lobby'), meetingNone), 'a LiveKit token of that very room');
  assert.ok(mayWriteMeeting(user(A, 'admin'), meetingNone));
  assert.not.ok(mayWriteMeeting(user(B, 'owner'), meetingNone));
  assert.equal(readableMeetings(user(A, 'admin')), { orgId: A, unscoped: true });
  assert.equal(readableMeetings(user(A, 'member')), { orgId: A, unscoped: false });
  assert.equal(readableMeetings(user(B, 'owner')), { orgId: B, unscoped: false });
  assert.is(readableMeetings(null), null, 'no authenticator: all');
  const meetings = (id: string) => (id === 'RM_n' ? meetingNone : null);
  assert.ok(maySeeRoom(user(A, 'admin'), 'feedback:RM_n', meetings));
  assert.not.ok(maySeeRoom(user(B, 'admin'), 'feedback:RM_n', meetings));
  setUnscopedMeetingsPolicy({ orgId: () => null, roles: ['owner', 'admin', 'member'] });
  assert.not.ok(mayReadMeeting(user(A, 'owner'), meetingNone), 'UNSCOPED_MEETINGS_ORG=none: no account');
  setUnscopedMeetingsPolicy({ orgId: () => B, roles: ['owner', 'admin', 'member'] });
  assert.ok(mayReadMeeting(user(B, 'member'), meetingNone), 'another organization and every role, when the operator says so');
  assert.not.ok(mayReadMeeting(user(A, 'owner'), meetingNone));
  setUnscopedMeetingsPolicy({ orgId: () => A, roles: ['owner', 'admin'] });
  assert.ok(mayReadMeeting(null, meetingA), 'routes without an authenticator are open');
  assert.ok(mayReadMeeting(lk(meetingA.roomName), meetingA));
  assert.not.ok(mayReadMeeting(lk(`${A}:other`), meetingA), 'a LiveKit token reads its own room only');
  assert.ok(mayWriteMeeting(user(A, 'member'), meetingA));
  assert.not.ok(mayWriteMeeting(user(B, 'admin'), meetingA));
  assert.not.ok(mayWriteMeeting(null, meetingNone), 'writing needs a signed-in user');
});

test('hosting (feedback): the meeting must exist; a host of its room, or an owner/admin of its organization; never an expired token', () => {
  const t = 1_000_000;
  assert.is(mayHostMeeting(user(A, 'owner'), meetingA, 'RM_a', t), null);
  assert.is(mayHostMeeting(user(A, 'admin'), meetingA, 'RM_a', t), null);
  assert.is(mayHostMeeting(lk(meetingA.roomName, ['host']), meetingA, 'RM_a', t), null);
  assert.is(mayHostMeeting(user(A, 'admin'), meetingNone, 'RM_n', t), null, "an admin of the rule's organization for a meeting of none");
  assert.is(mayHostMeeting(user(B, 'owner'), meetingNone, 'RM_n', t)?.code, 'forbidden', 'not the owner of any organization');
  setUnscopedMeetingsPolicy({ orgId: () => A, roles: ['owner', 'admin', 'member'] });
  assert.is(mayHostMeeting(user(A, 'member'), meetingNone, 'RM_n', t)?.code, 'forbidden', 'members the rule lets read do not host');
  setUnscopedMeetingsPolicy({ orgId: () => A, roles: ['owner', 'admin'] });
  assert.is(mayHostMeeting(user(A, 'member'), meetingA, 'RM_a', t)?.code, 'forbidden');
  assert.is(mayHostMeeting(user(B, 'owner'), meetingA, 'RM_a', t)?.code, 'forbidden');
  assert.is(mayHostMeeting(lk(meetingA.roomName, []), meetingA, 'RM_a', t)?.code, 'forbidden');
  assert.is(mayHostMeeting(lk(`${B}:clinic`, ['host']), meetingA, 'RM_a', t)?.code, 'forbidden');
  assert.is(mayHostMeeting(lk('RM_a', ['host']), meetingA, 'RM_a', t)?.code, 'forbidden', 'a room named like the meetingId is another room');
  const legacy = { meetingId: 'RM_l', roomName: 'clinic', orgId: A };
  assert.is(mayHostMeeting(lk('clinic', ['host']), legacy, 'RM_l', t)?.code, 'forbidden', "an un-namespaced token never hosts an organization's meeting");
  assert.is(mayHostMeeting(user(A, 'owner'), null, 'RM_x', t)?.code, 'not_found');
  assert.is(mayHostMeeting(null, meetingA, 'RM_a', t)?.code, 'unauthorized');
  assert.is(mayHostMeeting(user(A, 'owner', { expiresAt: t }), meetingA, 'RM_a', t)?.code, 'unauthorized');
  assert.is(mayHostMeeting(user(A, 'owner', { expiresAt: t + 1 }), meetingA, 'RM_a', t), null);
});

test('registration: first while there is no account, open always, closed never', () => {
  assert.is(mayRegister('first', false), null);
  assert.match(mayRegister('first', true)!.message, /REGISTRATION=first/);
  assert.is(mayRegister('first', true)!.code, 'forbidden');
  assert.is(mayRegister('open', true), null);
  assert.is(mayRegister('closed', false)?.code, 'forbidden');
});

test('membership: owners invite any role, admins not owners, members none; removals and role changes stay in the organization', () => {
  assert.is(mayInvite(user(A, 'owner'), 'owner'), null);
  assert.is(mayInvite(user(A, 'admin'), 'admin'), null);
  assert.is(mayInvite(user(A, 'admin'), 'owner')?.code, 'forbidden');
  assert.is(mayInvite(user(A, 'member'), 'member')?.code, 'forbidden');
  assert.is(mayInvite(lk('lobby', ['host']), 'member')?.code, 'unauthorized');
  assert.is(mayInvite(null, 'member')?.code, 'unauthorized');
  const m = (orgId: string, role: 'owner' | 'admin' | 'member', userId = `u-${orgId}-${role}`) => ({ userId, orgId, role });
  assert.is(mayRemoveMember(user(A, 'admin'), m(A, 'member'), 'x', 1), null);
  assert.is(mayRemoveMember(user(A, 'admin'), m(A, 'owner'), 'x', 2)?.code, 'forbidden');
  assert.is(mayRemoveMember(user(A, 'owner'), m(A, 'owner', 'u-other'), 'x', 2), null);
  assert.match(mayRemoveMember(user(A, 'owner'), m(A, 'owner'), 'x', 1)!.message, /last owner/);
  assert.is(mayRemoveMember(user(A, 'member'), m(A, 'member'), 'x', 1), null, 'anyone may leave');
  assert.is(mayRemoveMember(user(A, 'member'), m(A, 'admin'), 'x', 1)?.code, 'forbidden');
  assert.is(mayRemoveMember(user(B, 'owner'), m(A, 'member'), 'x', 1)?.code, 'not_found', "another organization's member is unknown");
  assert.is(mayRemoveMember(user(B, 'owner'), null, 'x', 1)?.code, 'not_found');
  assert.is(mayChangeRole(user(A, 'owner'), m(A, 'member'), 'x', 'owner', 1), null);
  assert.is(mayChangeRole(user(A, 'admin'), m(A, 'member'), 'x', 'admin', 1)?.code, 'forbidden');
  assert.match(mayChangeRole(user(A, 'owner'), m(A, 'owner'), 'x', 'admin', 1)!.message, /last owner/);
  assert.is(mayChangeRole(user(A, 'owner'), m(A, 'owner'), 'x', 'admin', 2), null);
  assert.is(mayChangeRole(user(B, 'owner'), m(A, 'member'), 'x', 'admin', 1)?.code, 'not_found');
  const inv = { email: 'a@x.test', expiresAt: 2000, acceptedAt: null, revokedAt: null };
  assert.is(mayAcceptInvitation(inv, null, 1000), null);
  assert.is(mayAcceptInvitation(inv, { email: 'a@x.test' }, 1000), null);
  assert.is(mayAcceptInvitation(inv, { email: 'b@x.test' }, 1000)?.code, 'forbidden');
  assert.match(mayAcceptInvitation(inv, null, 2000)!.message, /^token: .*expired/);
  assert.match(mayAcceptInvitation({ ...inv, acceptedAt: 1 }, null, 1000)!.message, /^token: .*already used/);
  assert.match(mayAcceptInvitation({ ...inv, revokedAt: 1 }, null, 1000)!.message, /^token: .*withdrawn/);
});

test("user:join: a token binds its own id only; anonymous sockets any", () => {
  assert.is(bindableUserId(user(A, 'member'), `u-${A}-member`), `u-${A}-member`);
  assert.ok(isDenial(bindableUserId(user(A, 'member'), 'victim')));
  assert.is(bindableUserId(lk('r'), 'id-'), 'id-');
  assert.ok(isDenial(bindableUserId(lk('r'), 'victim')));
  assert.is(bindableUserId(null, 'anyone'), 'anyone');
});

test.run();
