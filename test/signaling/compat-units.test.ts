/**
 * Units of the compatibility layer: Socket.IO argument mapping (compat-socketio.ts) and the id comparison of
 * `user:join` with a token (numeric ids compared as strings, src/auth/authorization.ts bindableUserId).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fromSocketIo } from '../../src/signaling/compat-socketio.js';
import { bindableUserId, isDenial } from '../../src/auth/authorization.js';
import type { Principal } from '../../src/http/router.js';

test('fromSocketIo: objects, bare and positional values, acks', () => {
  const ack = () => {};
  assert.equal(fromSocketIo('join-room', [{ roomId: 'r', name: 'n' }]), { body: { roomId: 'r', name: 'n' }, ack: null });
  assert.equal(fromSocketIo('user:join', [123]), { body: { userId: 123 }, ack: null });
  assert.equal(fromSocketIo('join-room', ['r', 42, ack]), { body: { roomId: 'r', name: '42' }, ack });
  assert.equal(fromSocketIo('signal', ['p', { renegotiate: true }]), { body: { to: 'p', data: { renegotiate: true } }, ack: null });
  assert.equal(fromSocketIo('heartbeat', [ack]), { body: {}, ack });
  assert.equal(fromSocketIo('call:initiate', ['x']).body, {}, 'no positions: an empty message (bad_request names the field)');
  assert.equal(fromSocketIo('join-room', [['r']]).body, {});
});

test('bindableUserId compares ids as strings: a token of identity "123" may bind 123', () => {
  const lk: Principal = { kind: 'livekit', identity: '123', room: 'r' };
  assert.is(bindableUserId(lk, 123), '123');
  assert.is(bindableUserId(lk, '123'), '123');
  assert.ok(isDenial(bindableUserId(lk, 124)));
  assert.is(bindableUserId(null, 7), '7');
});

test.run();
