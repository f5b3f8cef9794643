/**
 * The relay fast path's validator (src/signaling/schema.ts parseRelayMessage) against the zod schema it
 * mirrors (clientMessage), over one table of valid and invalid messages: every row is checked as built here, after a
 * JSON round trip (what `meetcore.json` and Socket.IO deliver) and after a msgpack round trip (`meetcore.msgpack`,
 * the server's own Packr options), plus rows given as JSON text (own `__proto__` keys). For offer, answer, ice
 * and signal the two must accept and refuse the same messages and, when they accept, give the same output: equal
 * values, the same keys in the same order (an optional key given as undefined kept), and the same objects passed
 * through by reference. Any other message is left to the schema (the validator returns undefined).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Packr } from 'msgpackr';
import { clientMessage, parseRelayMessage } from '../../src/signaling/schema.js';

const packr = new Packr({ useRecords: false });
const RELAY_TYPES = new Set(['offer', 'answer', 'ice', 'signal']);
const s = (n: number, c = 'a') => c.repeat(n);

type Row = [label: string, message: unknown];

/** `base` with `change` applied (a key set to the REMOVE marker is deleted). */
const REMOVE = Symbol('remove');
function variant(base: Record<string, unknown>, change: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(change)) {
    if (v === REMOVE) delete out[k];
    else out[k] = v;
  }
  return out;
}

const offer = { type: 'offer', to: 'peer-1', sdp: 'v=0\r\n' };
const ice = { type: 'ice', to: 'peer-1', candidate: 'candidate:1 1 udp 2122260223 10.0.0.1 54321 typ host' };
const signal = { type: 'signal', to: 'peer-1', data: { type: 'renegotiate', renegotiate: true } };

/** Changes every relay type gets: rid, to, extra keys, prototype names. */
const common: Row[] = [
  ['plain', {}],
  ['rid string', { rid: 'r-1' }], ['rid 64 chars', { rid: s(64) }], ['rid 65 chars', { rid: s(65) }], ['rid empty', { rid: '' }],
  ['rid number', { rid: 7 }], ['rid -0', { rid: -0 }], ['rid float', { rid: 1.5 }], ['rid NaN', { rid: NaN }], ['rid Infinity', { rid: Infinity }],
  ['rid null', { rid: null }], ['rid true', { rid: true }], ['rid object', { rid: { a: 1 } }], ['rid array', { rid: [1] }], ['rid undefined', { rid: undefined }],
  ['to 128 chars', { to: s(128) }], ['to 129 chars', { to: s(129) }], ['to empty', { to: '' }], ['to number', { to: 5 }], ['to null', { to: null }],
  ['to missing', { to: REMOVE }], ['to object', { to: { id: 'x' } }], ['to non-ASCII', { to: 'pé€r-😀' }], ['to 64 emoji (128 code units)', { to: s(64, '😀') }],
  ['to 65 emoji (130 code units)', { to: s(65, '😀') }], ['to 128 emoji (256 code units)', { to: s(128, '😀') }], ['to 129 emoji', { to: s(129, '😀') }],
  ['to 127 a + 1 emoji', { to: `${s(127)}😀` }], ['to 128 a + 1 emoji', { to: `${s(128)}😀` }], ['to lone surrogates', { to: '\ud800\udc00\ud800'.repeat(60) }],
  ['to one lone surrogate', { to: '\udc00' }], ['rid 64 emoji', { rid: s(64, '😀') }], ['rid 65 emoji', { rid: s(65, '😀') }],
  ['to __proto__', { to: '__proto__' }], ['to constructor', { to: 'constructor' }], ['rid __proto__', { rid: '__proto__' }],
  ['extra key', { extra: 1 }], ['extra from', { from: 'spoofed' }], ['extra constructor', { constructor: 'x' }], ['extra toString', { toString: 'x' }],
  ['extra hasOwnProperty', { hasOwnProperty: 1 }], ['extra nested object', { extra: { deep: [1, 2] } }],
];

const rows: Row[] = [];
for (const base of [offer, { ...offer, type: 'answer' }, ice, signal]) {
  for (const [label, change] of common) rows.push([`${base.type}: ${label}`, variant(base, change as Record<string, unknown>)]);
  rows.push([`${base.type}: type missing`, variant(base, { type: REMOVE })]);
}

for (const type of ['offer', 'answer']) {
  const b = { ...offer, type };
  for (const [label, sdp] of [
    ['SDP 60,000 chars', s(60_000)], ['SDP 60,001 chars', s(60_001)], ['SDP 60,000 emoji', s(60_000, '😀')], ['SDP 60,001 emoji', s(60_001, '😀')],
    ['SDP one emoji', '😀'], ['SDP empty', ''], ['SDP one char', 'x'], ['SDP null', null], ['SDP number', 1],
    ['SDP boolean', false], ['SDP array', ['v=0']], ['SDP object', { type, sdp: 'v=0' }], ['SDP empty object', {}], ['SDP bytes', new Uint8Array([1, 2, 3])],
    ['SDP missing', REMOVE], ['SDP undefined', undefined], ['SDP object with __proto__ name', { constructor: 1, toString: 'x' }],
  ] as const) rows.push([`${type}: ${label}`, variant(b, { sdp })]);
}

for (const [label, change] of [
  ['candidate empty', { candidate: '' }], ['candidate 2048 chars', { candidate: s(2048) }], ['candidate 2049 chars', { candidate: s(2049) }],
  ['candidate 2048 emoji', { candidate: s(2048, '😀') }], ['candidate 2049 emoji', { candidate: s(2049, '😀') }],
  ['candidate init, usernameFragment 256 emoji', { candidate: { candidate: 'c', usernameFragment: s(256, '😀') } }],
  ['candidate init, usernameFragment 257 emoji', { candidate: { candidate: 'c', usernameFragment: s(257, '😀') } }],
  ['sdpMid 64 emoji', { sdpMid: s(64, '😀') }], ['sdpMid 65 emoji', { sdpMid: s(65, '😀') }],
  ['candidate null', { candidate: null }], ['candidate missing', { candidate: REMOVE }], ['candidate undefined', { candidate: undefined }],
  ['candidate number', { candidate: 1 }], ['candidate array', { candidate: ['candidate:1'] }], ['candidate boolean', { candidate: true }],
  ['candidate init', { candidate: { candidate: 'candidate:1', sdpMid: '0', sdpMLineIndex: 0, usernameFragment: 'uf' } }],
  ['candidate init, only candidate', { candidate: { candidate: 'candidate:1' } }],
  ['candidate init, empty candidate', { candidate: { candidate: '' } }],
  ['candidate init, nulls', { candidate: { candidate: 'c', sdpMid: null, sdpMLineIndex: null, usernameFragment: null } }],
  ['candidate init, undefineds', { candidate: { candidate: 'c', sdpMid: undefined, sdpMLineIndex: undefined, usernameFragment: undefined } }],
  ['candidate init, extra keys', { candidate: { candidate: 'c', extra: 1, constructor: 'x', foundation: '1' } }],
  ['candidate init, candidate missing', { candidate: { sdpMid: '0' } }], ['candidate init, candidate null', { candidate: { candidate: null } }],
  ['candidate init, candidate 2049', { candidate: { candidate: s(2049) } }], ['candidate init, candidate number', { candidate: { candidate: 1 } }],
  ['candidate init, sdpMid 64', { candidate: { candidate: 'c', sdpMid: s(64) } }], ['candidate init, sdpMid 65', { candidate: { candidate: 'c', sdpMid: s(65) } }],
  ['candidate init, sdpMid number', { candidate: { candidate: 'c', sdpMid: 0 } }],
  ['candidate init, index 1024', { candidate: { candidate: 'c', sdpMLineIndex: 1024 } }], ['candidate init, index 1025', { candidate: { candidate: 'c', sdpMLineIndex: 1025 } }],
  ['candidate init, index -1', { candidate: { candidate: 'c', sdpMLineIndex: -1 } }], ['candidate init, index 0.5', { candidate: { candidate: 'c', sdpMLineIndex: 0.5 } }],
  ['candidate init, index string', { candidate: { candidate: 'c', sdpMLineIndex: '0' } }],
  ['candidate init, usernameFragment 256', { candidate: { candidate: 'c', usernameFragment: s(256) } }],
  ['candidate init, usernameFragment 257', { candidate: { candidate: 'c', usernameFragment: s(257) } }],
  ['candidate init, usernameFragment number', { candidate: { candidate: 'c', usernameFragment: 1 } }],
  ['sdpMid', { sdpMid: '0' }], ['sdpMid empty', { sdpMid: '' }], ['sdpMid 64', { sdpMid: s(64) }], ['sdpMid 65', { sdpMid: s(65) }], ['sdpMid null', { sdpMid: null }],
  ['sdpMid undefined', { sdpMid: undefined }], ['sdpMid number', { sdpMid: 0 }], ['sdpMid object', { sdpMid: {} }],
  ['sdpMLineIndex 0', { sdpMLineIndex: 0 }], ['sdpMLineIndex -0', { sdpMLineIndex: -0 }], ['sdpMLineIndex 1024', { sdpMLineIndex: 1024 }],
  ['sdpMLineIndex 1025', { sdpMLineIndex: 1025 }], ['sdpMLineIndex -1', { sdpMLineIndex: -1 }], ['sdpMLineIndex 1.5', { sdpMLineIndex: 1.5 }],
  ['sdpMLineIndex NaN', { sdpMLineIndex: NaN }], ['sdpMLineIndex Infinity', { sdpMLineIndex: Infinity }], ['sdpMLineIndex null', { sdpMLineIndex: null }],
  ['sdpMLineIndex undefined', { sdpMLineIndex: undefined }], ['sdpMLineIndex string', { sdpMLineIndex: '1' }], ['sdpMLineIndex 2^60', { sdpMLineIndex: 2 ** 60 }],
  ['all three', { candidate: { candidate: 'c', sdpMid: 'a', sdpMLineIndex: 1 }, sdpMid: 'b', sdpMLineIndex: 2, rid: 3 }],
] as const) rows.push([`ice: ${label}`, variant(ice, change as Record<string, unknown>)]);

for (const [label, data] of [
  ['data empty object', {}], ['data array', []], ['data null', null], ['data string', 'x'], ['data number', 1], ['data missing', REMOVE],
  ['data undefined', undefined], ['data nested', { sdp: { type: 'offer', sdp: 'v=0' }, candidate: null }], ['data bytes', new Uint8Array([0])],
  ['data with prototype names', { constructor: 'x', toString: 1, valueOf: null, hasOwnProperty: [] }],
] as const) rows.push([`signal: ${label}`, variant(signal, { data })]);

// Not objects, other types, and inherited keys (only as built: JSON and msgpack give plain objects).
rows.push(['null', null], ['array', [offer]], ['string', 'offer'], ['number', 1], ['empty object', {}]);
rows.push(['unknown type', { ...offer, type: 'offer2' }], ['type number', { ...offer, type: 1 }], ['type Offer', { ...offer, type: 'Offer' }]);
rows.push(['chat (not relayed)', { type: 'chat', roomId: 'r', text: 'hi' }], ['ice:candidate (not relayed)', { type: 'ice:candidate', roomName: 'r', candidate: 'c' }]);
rows.push(['heartbeat (not relayed)', { type: 'heartbeat' }], ['join-room (not relayed)', { type: 'join-room', roomId: 'r' }]);
rows.push(['offer with inherited to and sdp', Object.assign(Object.create({ to: 'inherited', sdp: 'v=0' }), { type: 'offer' })]);
rows.push(['offer with inherited rid', Object.assign(Object.create({ rid: 'inherited' }), offer)]);
rows.push(['offer with inherited type', Object.assign(Object.create({ type: 'offer' }), { to: 'a', sdp: 'x' })]);
rows.push(['offer with a null prototype', Object.assign(Object.create(null), offer)]);
rows.push(['ice with an inherited candidate field', { ...ice, candidate: Object.assign(Object.create({ sdpMid: 'inherited' }), { candidate: 'c' }) }]);

/** Messages as JSON text (as `meetcore.json` frames): own `__proto__` keys cannot be built as object literals. */
const jsonRows: [string, string][] = [
  ['offer with an own __proto__ key', '{"type":"offer","to":"a","sdp":"x","__proto__":{"to":"b","rid":"r"}}'],
  ['offer with __proto__ as sdp', '{"type":"offer","to":"a","sdp":{"__proto__":{"x":1}}}'],
  ['signal with __proto__ in data', '{"type":"signal","to":"a","data":{"__proto__":{"polluted":true},"constructor":{"prototype":{}}}}'],
  ['ice with __proto__ in the candidate', '{"type":"ice","to":"a","candidate":{"candidate":"c","__proto__":{"sdpMid":"x"}}}'],
  ['ice with __proto__ null', '{"type":"ice","to":"a","candidate":null,"__proto__":null}'],
  ['offer with to __proto__', '{"type":"offer","to":"__proto__","sdp":"x"}'],
  ['duplicate keys (the last wins)', '{"type":"offer","to":"a","sdp":"x","sdp":""}'],
  ['offer as an array', '["offer","a","x"]'],
];

/** The nested key lists of a value (to compare key order, which equality does not). */
function keyShape(v: unknown): unknown {
  if (typeof v !== 'object' || v === null || ArrayBuffer.isView(v)) return typeof v;
  if (Array.isArray(v)) return v.map(keyShape);
  return Object.keys(v).map((k) => [k, keyShape((v as Record<string, unknown>)[k])]);
}

/** Both parsers over one message: same verdict; for an accepted relay message, the same output. */
function compare(label: string, input: unknown): void {
  const z = clientMessage.safeParse(input);
  const f = parseRelayMessage(input);
  const type = input && typeof input === 'object' ? (input as { type?: unknown }).type : undefined;
  if (typeof type !== 'string' || !RELAY_TYPES.has(type)) {
    assert.is(f, undefined, `${label}: not a relay type, left to the schema`);
    return;
  }
  assert.is(f !== undefined, z.success, `${label}: the fast path ${f !== undefined ? 'accepts' : 'refuses'} what the schema ${z.success ? 'accepts' : 'refuses'}`);
  if (!z.success || f === undefined) return;
  assert.equal(f, z.data, `${label}: same output`);
  assert.equal(keyShape(f), keyShape(z.data), `${label}: same keys in the same order`);
  for (const key of Object.keys(z.data)) {
    const given = (input as Record<string, unknown>)[key];
    const zv = (z.data as Record<string, unknown>)[key];
    const fv = (f as Record<string, unknown>)[key];
    assert.is(fv === given, zv === given, `${label}: ${key} passed through by reference exactly when the schema does`);
  }
}

/** The row as the transports deliver it: as built, through JSON, through msgpack (those that survive the trip). */
function deliveries(message: unknown): [string, unknown][] {
  const out: [string, unknown][] = [['object', message]];
  const text = JSON.stringify(message);
  if (text !== undefined) out.push(['json', JSON.parse(text)]);
  out.push(['msgpack', packr.unpack(packr.pack(message))]);
  return out;
}

test('the table covers accepted and refused messages of every relay type in every encoding', () => {
  const verdicts = new Map<string, Set<boolean>>();
  for (const [, message] of rows) {
    for (const [how, m] of deliveries(message)) {
      const type = (m as { type?: unknown } | null)?.type;
      if (typeof type !== 'string' || !RELAY_TYPES.has(type)) continue;
      const key = `${type}/${how}`;
      if (!verdicts.has(key)) verdicts.set(key, new Set());
      verdicts.get(key)!.add(clientMessage.safeParse(m).success);
    }
  }
  for (const type of RELAY_TYPES) {
    for (const how of ['object', 'json', 'msgpack']) assert.equal(verdicts.get(`${type}/${how}`), new Set([true, false]), `${type} as ${how}: both valid and invalid rows`);
  }
});

test('fast path and schema agree on every row, as built, as JSON and as msgpack', () => {
  for (const [label, message] of rows) {
    for (const [how, m] of deliveries(message)) compare(`${label} (${how})`, m);
  }
});

test('fast path and schema agree on JSON text with own __proto__ keys (and through msgpack)', () => {
  for (const [label, text] of jsonRows) {
    const parsed = JSON.parse(text) as unknown;
    compare(`${label} (json)`, parsed);
    compare(`${label} (msgpack)`, packr.unpack(packr.pack(parsed)));
  }
  // The JSON object's own __proto__ never becomes its prototype, on either path.
  const m = parseRelayMessage(JSON.parse(jsonRows[0]![1]));
  assert.equal(m, { type: 'offer', to: 'a', sdp: 'x' });
  assert.is(Object.getPrototypeOf(m), Object.prototype);
});

test.run();
