/**
 * Units of src/hume (WAV reading and cutting, reply parsing, top emotions, the prosody store on the real
 * migrations) and the conformance of the Hume double to REFERENCE.md (auth, error codes, replies).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { openDatabase, migrate } from '../../src/store/db.js';
import { migrations } from '../../src/store/migrations/index.js';
import { SessionStore } from '../../src/store/sessions.js';
import { parseReply, prosodyRequest, topEmotions } from '../../src/hume/protocol.js';
import { ProsodyStore, prosodyPayloads } from '../../src/hume/store.js';
import { readWav, splitWav, wavHeader } from '../../src/hume/wav.js';
import { EMOTIONS, startHumeDouble } from './double.js';

const fmt = { format: 1, channels: 1, sampleRate: 16000, bitsPerSample: 16, blockAlign: 2 };
const monoWav = (ms: number, sampleRate = 16000) => {
  const data = Buffer.alloc(Math.round((ms * sampleRate) / 1000) * 2);
  for (let i = 0; i < data.length / 2; i++) data.writeInt16LE((i * 37) % 2000 - 1000, i * 2);
  return Buffer.concat([wavHeader({ ...fmt, sampleRate }, data.length), data]);
};

test('readWav: canonical header, chunks before data, odd chunk padding; errors for non-WAV', () => {
  const w = readWav(monoWav(1000));
  assert.equal([w.format, w.channels, w.sampleRate, w.bitsPerSample, w.dataOffset, w.dataBytes, w.durationMs], [1, 1, 16000, 16, 44, 32000, 1000]);
  // A LIST chunk of odd size (padded) between fmt and data.
  const plain = monoWav(500);
  const list = Buffer.concat([Buffer.from('LIST'), Buffer.from([3, 0, 0, 0]), Buffer.from('abc'), Buffer.from([0])]);
  const withList = Buffer.concat([plain.subarray(0, 36), list, plain.subarray(36)]);
  const l = readWav(withList);
  assert.is(l.dataOffset, 44 + list.length);
  assert.is(l.durationMs, 500);
  assert.throws(() => readWav(Buffer.from('not a wav file at all')), /RIFF/);
  assert.throws(() => readWav(plain.subarray(0, 36)), /no data chunk/);
});

test('splitWav: ≤ 5 s passes unchanged; longer audio is cut into complete WAV files of ≤ 5 s', () => {
  const five = monoWav(5000);
  const one = splitWav(five);
  assert.is(one.length, 1);
  assert.ok(one[0]!.wav.equals(five));
  const long = monoWav(12_345);
  const pieces = splitWav(long);
  assert.equal(pieces.map((p) => p.offsetMs), [0, 5000, 10_000]);
  assert.equal(pieces.map((p) => Math.round(p.durationMs)), [5000, 5000, 2345]);
  let data = Buffer.alloc(0);
  for (const p of pieces) {
    const w = readWav(p.wav);
    assert.ok(w.durationMs <= 5000);
    assert.is(p.wav.readUInt32LE(4), p.wav.length - 8, 'RIFF size');
    data = Buffer.concat([data, p.wav.subarray(w.dataOffset)]);
  }
  assert.ok(data.equals(long.subarray(44)), 'the pieces hold exactly the original samples');
  assert.throws(() => splitWav(wavHeader(fmt, 0)), /no audio/);
});

test('prosodyRequest: the v0 request shape with base64 WAV and payload_id', () => {
  const wav = monoWav(100);
  const r = JSON.parse(prosodyRequest(wav, '7:3'));
  assert.equal(Object.keys(r).sort(), ['data', 'models', 'payload_id']);
  assert.equal(r.models, { prosody: {} });
  assert.is(r.payload_id, '7:3');
  assert.ok(Buffer.from(r.data, 'base64').equals(wav));
});

test('parseReply: predictions, errors, warnings (top level and inside prosody), unreadable replies', () => {
  const pred = { time: { begin: 0, end: 1.5 }, emotions: [{ name: 'Joy', score: 0.5 }] };
  assert.equal(parseReply(JSON.stringify({ payload_id: 'a', prosody: { predictions: [pred] } })), { kind: 'predictions', payloadId: 'a', predictions: [pred] });
  assert.equal(parseReply(JSON.stringify({ prosody: { predictions: [] } })), { kind: 'predictions', payloadId: undefined, predictions: [] });
  assert.equal(parseReply(JSON.stringify({ error: 'too long', code: 'E0203', payload_id: 'b' })), { kind: 'error', payloadId: 'b', code: 'E0203', message: 'too long' });
  assert.equal(parseReply(JSON.stringify({ error: 'no code' })), { kind: 'error', payloadId: undefined, code: 'unknown', message: 'no code' });
  assert.equal(parseReply(JSON.stringify({ warning: 'No speech detected.', code: 'W0105' })), { kind: 'warning', payloadId: undefined, code: 'W0105', message: 'No speech detected.' });
  assert.equal(parseReply(JSON.stringify({ payload_id: 'c', prosody: { warning: 'No speech detected.', code: 'W0105' } })), { kind: 'warning', payloadId: 'c', code: 'W0105', message: 'No speech detected.' });
  assert.is(parseReply('<html>').kind, 'invalid');
  assert.is(parseReply('null').kind, 'invalid');
  assert.is(parseReply(JSON.stringify({ prosody: { predictions: [{ emotions: [{ name: 'Joy', score: 'high' }] }] } })).kind, 'invalid');
  assert.is(parseReply(JSON.stringify({ face: {} })).kind, 'invalid');
});

test('topEmotions: duration-weighted mean over predictions, top 5, highest first; empty without predictions', () => {
  const names = ['A', 'B', 'C', 'D', 'E', 'F'];
  const p1 = { time: { begin: 0, end: 3 }, emotions: names.map((name, i) => ({ name, score: i / 10 })) }; // F highest
  const p2 = { time: { begin: 3, end: 4 }, emotions: names.map((name, i) => ({ name, score: (5 - i) / 10 })) }; // A highest
  const top = topEmotions([p1, p2]);
  // weights 3:1 → score(i) = (3 * i/10 + (5 - i)/10) / 4
  const want = names.map((name, i) => ({ name, score: Math.round(((3 * i) / 10 + (5 - i) / 10) / 4 * 1e4) / 1e4 })).sort((a, b) => b.score - a.score).slice(0, 5);
  assert.equal(top, want);
  assert.is(top[0]!.name, 'F');
  // Without times: equal weights.
  assert.equal(topEmotions([{ emotions: [{ name: 'X', score: 0.2 }] }, { emotions: [{ name: 'X', score: 0.4 }] }]), [{ name: 'X', score: 0.3 }]);
  assert.equal(topEmotions([]), []);
});

test('store: migration 6 on the real list (with a gap in versions), rows, counters and prosodyPayloads', () => {
  const db = openDatabase(':memory:');
  try {
    assert.is(db.pragma('user_version', { simple: true }), Math.max(...migrations.map((m) => m.version)));
    new SessionStore(db).open({ roomName: 'r', meetingId: 'MT_1' });
    const store = new ProsodyStore(db);
    assert.is(prosodyPayloads(db, 'MT_1'), 0);
    store.bump('MT_1', ['payloads_sent', 'segments']);
    store.bump('MT_1', ['payloads_sent']);
    assert.is(prosodyPayloads(db, 'MT_1'), 2);
    assert.equal(store.counters('MT_1'), { payloads_sent: 2, segments: 1 });
    const seg = {
      meetingId: 'MT_1', participant: 'alice', trackId: 'TR', payloadId: '1:0', segmentIndex: 0, startMs: 1000.4, endMs: 3000.6,
      emotions: [{ name: 'Joy', score: 0.9 }], predictions: 2, receivedAt: 5,
    };
    store.insert(seg);
    store.insert({ ...seg, emotions: [] }); // the same payload again: ignored
    assert.equal(store.segments('MT_1'), [{ ...seg, startMs: 1000, endMs: 3001 }]);
    // A row for an unknown meeting is refused whole (foreign key), nothing half-written.
    assert.throws(() => store.insert({ ...seg, meetingId: 'MT_none', payloadId: '9:9' }), /FOREIGN KEY/);
    assert.is(store.segments('MT_none').length, 0);
  } finally { db.close(); }
  // The runner does not need contiguous versions: 1, 2 then 6.
  const gap = openDatabase(':memory:', migrations.filter((m) => m.version <= 2 || m.version === 6));
  try {
    assert.is(gap.pragma('user_version', { simple: true }), 6);
    assert.ok(gap.prepare("SELECT name FROM sqlite_master WHERE name = 'prosody_counters'").get());
    migrate(gap, migrations.filter((m) => m.version <= 2 || m.version === 6)); // idempotent
    // Migrations added later below the highest applied version still run (schema_migrations records them).
    migrate(gap, migrations);
    assert.ok(gap.prepare("SELECT name FROM sqlite_master WHERE name = 'feedback_events'").get(), '005 applied after 006');
    assert.equal((gap.prepare('SELECT version FROM schema_migrations ORDER BY version').all() as { version: number }[]).map((r) => r.version), migrations.map((m) => m.version).sort((a, b) => a - b));
    assert.is(gap.pragma('user_version', { simple: true }), Math.max(...migrations.map((m) => m.version)));
  } finally { gap.close(); }
});

/** One request/reply exchange with the double. */
function exchange(ws: WebSocket, text: string): Promise<any> {
  return new Promise((resolve) => { ws.once('message', (d) => resolve(JSON.parse(d.toString()))); ws.send(text); });
}

test('the Hume double follows REFERENCE.md: key check, error codes, replies with payload_id', async () => {
  const double = await startHumeDouble({ apiKey: 'k' });
  try {
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(double.url, { headers: { 'X-Hume-Api-Key': 'wrong' } });
      ws.on('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); ws.terminate(); });
      ws.on('error', () => { /* terminated */ });
    });
    assert.is(status, 401);
    const ws = new WebSocket(double.url, { headers: { 'X-Hume-Api-Key': 'k' } });
    await new Promise((r) => ws.once('open', r));
    const b64 = (b: Buffer) => b.toString('base64');
    assert.is((await exchange(ws, '{nope')).code, 'E0100');
    assert.is((await exchange(ws, JSON.stringify({ data: b64(monoWav(100)), payload_id: 'x' }))).code, 'E0101');
    assert.equal(await exchange(ws, JSON.stringify({ models: { prosody: {} }, data: '!!!', payload_id: 'y' })), { error: 'Invalid base64 data.', code: 'E0201', payload_id: 'y' });
    assert.is((await exchange(ws, JSON.stringify({ models: { prosody: {} }, data: b64(Buffer.from('hello world!')) }))).code, 'E0200');
    assert.is((await exchange(ws, JSON.stringify({ models: { prosody: {} }, data: b64(wavHeader(fmt, 0)) }))).code, 'E0202');
    const tooLong = await exchange(ws, JSON.stringify({ models: { prosody: {} }, data: b64(monoWav(5001)), payload_id: 'long' }));
    assert.equal([tooLong.code, tooLong.payload_id], ['E0203', 'long']);
    const ok = await exchange(ws, prosodyRequest(monoWav(5000), 'p1'));
    assert.is(ok.payload_id, 'p1');
    assert.is(ok.prosody.predictions.length, 2);
    assert.equal(ok.prosody.predictions[1].time, { begin: 2.5, end: 5 });
    assert.equal(ok.prosody.predictions[0].emotions.map((e: { name: string }) => e.name), [...EMOTIONS]);
    const noId = await exchange(ws, JSON.stringify({ models: { prosody: {} }, data: b64(monoWav(300)) }));
    assert.ok(!('payload_id' in noId) && Array.isArray(noId.prosody.predictions));
    // Ten identical configuration errors close the socket.
    const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    for (let i = 0; i < 10; i++) ws.send('{bad');
    assert.is(await closed, 1008);
  } finally {
    await double.close();
  }
});

test.run();
