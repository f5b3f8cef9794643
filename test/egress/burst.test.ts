/**
 * Lossless ingest under bursts, end to end through the real server: audio that arrives faster than the native
 * worker drains it (what a network stall releases at once) waits in the stream's block queue and is recorded
 * whole, byte for byte; past a queue bound the socket is closed with 4008 (docs/protocol.md) and the row says
 * what was lost (FAILED, `gaps` in GET /api/sessions/:meetingId), never COMPLETE with a hole.
 */
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type WebSocket from 'ws';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { listSessions, session, type RecordingJson } from '../helpers/sessions.js';
import { BYTES_PER_SEC, SECRET, closed, noisePcm as pcm, open, parseWav, sendBurst, sendRealTime, signedEgressUrl, waitFor } from './helpers.js';

/** The close code of a stream past a queue bound (docs/protocol.md), written here independently of src/. */
const QUEUE_BOUND_CODE = 4008;

let server: TestServer;  // the defaults: 60 s of queue per stream, 256 MiB in all
let small: TestServer;   // AUDIO_STREAM_QUEUE_MS=500: 96,000 bytes of 48 kHz stereo per stream
let tight: TestServer;   // AUDIO_QUEUE_MAX_MB=1: 64 blocks of 16 KiB for all streams

test.before(async () => {
  [server, small, tight] = await Promise.all([
    startTestServer({ EGRESS_SECRET: SECRET }),
    startTestServer({ EGRESS_SECRET: SECRET, AUDIO_STREAM_QUEUE_MS: '500' }),
    startTestServer({ EGRESS_SECRET: SECRET, AUDIO_QUEUE_MAX_MB: '1' }),
  ]);
});
test.after(async () => { await Promise.all([server.stop(), small.stop(), tight.stop()]); });

/** The closed rows of a meeting's participants, through GET /api/sessions/:meetingId. */
async function closedRows(s: TestServer, room: string, participants: string[]): Promise<Map<string, RecordingJson>> {
  return waitFor(async () => {
    const meeting = (await listSessions(s)).find((m) => m.roomName === room);
    if (!meeting) return undefined;
    const rows = (await session(s, meeting.meetingId)).recordings.filter((r) => r.status !== 'RECORDING');
    if (rows.length < participants.length) return undefined;
    return new Map(rows.map((r) => [r.participant, r]));
  }, `the closed recordings of ${room}`, 60_000);
}

/** The server's close of `ws`, or a rejection naming `what` after 20 s (a stream never closed fails the test). */
function closedBy(ws: WebSocket, what: string): Promise<{ code: number; reason: string }> {
  return Promise.race([closed(ws), new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`the server did not close ${what} in 20 s`)), 20_000).unref())]);
}

/** Close a socket the client's way (no code) and wait for the server's close. */
async function finish(ws: WebSocket): Promise<void> {
  const done = closed(ws);
  ws.close();
  await done;
}

/** The row is COMPLETE, lists no gap, and its WAV data is exactly `sent`. */
function assertWhole(s: TestServer, row: RecordingJson, sent: Buffer, who: string): void {
  assert.is(row.status, 'COMPLETE', `${who}: status`);
  assert.equal(row.gaps, [], `${who}: no gap`);
  assert.is(row.bytes, sent.length, `${who}: bytes`);
  const wav = parseWav(path.join(s.storageDir, row.path));
  assert.is(wav.dataSize, sent.length, `${who}: WAV data size`);
  assert.ok(wav.data.equals(sent), `${who}: WAV data equals the bytes sent`);
}

test('30 s sent at once on one stream: every byte recorded', async () => {
  const sent = pcm(30, 1);
  const ws = await open(signedEgressUrl(server, { roomName: 'burst-one', participant: 'p' }));
  await sendBurst(ws, sent);
  await finish(ws);
  const rows = await closedRows(server, 'burst-one', ['p']);
  assertWhole(server, rows.get('p')!, sent, 'p');
});

test('20 streams of one meeting, each an 8 s burst then 2 s at real time: all recorded', async () => {
  const names = Array.from({ length: 20 }, (_, i) => `p${i}`);
  const sent = names.map((_, i) => Buffer.concat([pcm(8, 100 + i), pcm(2, 200 + i)]));
  const sockets = await Promise.all(names.map((p) => open(signedEgressUrl(server, { roomName: 'burst-twenty', participant: p }))));
  await Promise.all(sockets.map(async (ws, i) => {
    await sendBurst(ws, sent[i]!.subarray(0, 8 * BYTES_PER_SEC));
    await sendRealTime(ws, sent[i]!.subarray(8 * BYTES_PER_SEC));
    await finish(ws);
  }));
  const rows = await closedRows(server, 'burst-twenty', names);
  names.forEach((p, i) => assertWhole(server, rows.get(p)!, sent[i]!, p));
});

test('3 s at real time, a 2 s burst, 2 s more: byte-identical, nothing missing from the middle', async () => {
  const sent = pcm(7, 3);
  const ws = await open(signedEgressUrl(server, { roomName: 'burst-middle', participant: 'p' }));
  await sendRealTime(ws, sent.subarray(0, 3 * BYTES_PER_SEC));
  await sendBurst(ws, sent.subarray(3 * BYTES_PER_SEC, 5 * BYTES_PER_SEC));
  await sendRealTime(ws, sent.subarray(5 * BYTES_PER_SEC));
  await finish(ws);
  const rows = await closedRows(server, 'burst-middle', ['p']);
  assertWhole(server, rows.get('p')!, sent, 'p');
});

test('past its own bound a stream is closed with 4008 and its row says what was lost', async () => {
  const before = pcm(1, 4);
  const big = pcm(200_000 / BYTES_PER_SEC, 5);  // 200,000 bytes in one frame: more than the 96,000-byte bound
  const ws = await open(signedEgressUrl(small, { roomName: 'bound-stream', participant: 'p' }));
  await sendRealTime(ws, before);
  const byServer = closedBy(ws, 'the stream past its bound');
  ws.send(big, { binary: true });
  const c = await byServer;
  assert.is(c.code, QUEUE_BOUND_CODE);
  assert.match(c.reason, /^stream queue bound reached/);
  const row = (await closedRows(small, 'bound-stream', ['p'])).get('p')!;
  assert.is(row.status, 'FAILED');
  assert.equal(row.gaps, [{ offset: before.length, bytes: big.length }]);
  assert.is(row.bytes, before.length);
  assert.match(row.closeReason ?? '', new RegExp(`^4008 .*; ${big.length} bytes lost at data offset ${before.length}$`));
  assert.ok(parseWav(path.join(small.storageDir, row.path)).data.equals(before), 'what came before the loss is recorded');
  const metrics = await (await fetch(`${small.url}/metrics`)).text();
  assert.match(metrics, /\nmeetcore_egress_streams_closed_for_bound_total\{bound="stream"\} 1\n/);
  assert.match(metrics, new RegExp(`\\nmeetcore_egress_ring_overflow_bytes_total ${big.length}\\n`));
});

test('a stream whose start was queued and whose held frames pass its bound: the gap recorded, then 4008, the server unharmed', async () => {
  // The first frame is over the bound and is held until the stream starts (src/egress/audio.ts); the next one is
  // held too when it arrives before the start (most runs). At the start everything held is pushed in order (the
  // refused frames become the gap; pushing after the first refusal used to throw: this test then fails on the
  // start's error log, in the runs where the second frame was held) and only then is the socket ended.
  const big = pcm(200_000 / BYTES_PER_SEC, 7);
  const after = pcm(0.01, 8);
  const ws = await open(signedEgressUrl(small, { roomName: 'bound-queued', participant: 'p' }));
  const byServer = closedBy(ws, 'the queued stream past its bound');
  ws.send(big, { binary: true });
  ws.send(after, { binary: true });
  const c = await byServer;
  assert.is(c.code, QUEUE_BOUND_CODE);
  const row = (await closedRows(small, 'bound-queued', ['p'])).get('p')!;
  assert.is(row.status, 'FAILED');
  // Held, the next frame is pushed after the refused one and lost with it (the engine refuses what follows a
  // loss: one gap); not held yet, it came after the 4008 and was not received (as for any stream).
  assert.equal(row.gaps.length, 1);
  assert.is(row.gaps[0]!.offset, 0);
  assert.ok([big.length, big.length + after.length].includes(row.gaps[0]!.bytes), `gap of ${row.gaps[0]!.bytes} bytes`);
  assert.is(parseWav(path.join(small.storageDir, row.path)).data.length, 0);
  assert.is((await fetch(`${small.url}/health`)).status, 200);
  assert.not.ok(small.logs.some((l) => l.msg === 'cannot start a queued egress stream'), 'the start did not fail');
});

test('past the server bound (all streams) the stream that needed the blocks is closed with 4008', async () => {
  // Two streams hold one block each; a 1 MiB frame needs 63 more: 65 > 64 blocks of AUDIO_QUEUE_MAX_MB=1.
  const a = await open(signedEgressUrl(tight, { roomName: 'bound-global', participant: 'a' }));
  const b = await open(signedEgressUrl(tight, { roomName: 'bound-global', participant: 'b' }));
  const first = pcm(0.1, 6);
  await sendRealTime(a, first);
  await sendRealTime(b, first);
  await waitFor(async () => {
    const m = (await listSessions(tight)).find((x) => x.roomName === 'bound-global');
    return m && m.recordings.length === 2;
  }, 'both streams open');
  const big = pcm(1024 * 1024 / BYTES_PER_SEC, 7);
  const byServer = closedBy(b, 'the stream past the server bound');
  b.send(big, { binary: true });
  const c = await byServer;
  assert.is(c.code, QUEUE_BOUND_CODE);
  assert.match(c.reason, /^server queue bound reached/);
  await finish(a);
  const rows = await closedRows(tight, 'bound-global', ['a', 'b']);
  assertWhole(tight, rows.get('a')!, first, 'a');
  assert.is(rows.get('b')!.status, 'FAILED');
  assert.equal(rows.get('b')!.gaps, [{ offset: first.length, bytes: big.length }]);
  const metrics = await (await fetch(`${tight.url}/metrics`)).text();
  assert.match(metrics, /\nmeetcore_egress_streams_closed_for_bound_total\{bound="global"\} 1\n/);
});

test.run();
