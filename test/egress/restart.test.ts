/**
 * Crash and shutdown with the real server process: SIGKILL mid-stream leaves a recording RECORDING and a file
 * whose sizes may lag; the next start repairs both. SIGTERM mid-stream closes the egress sockets with 1001,
 * finalizes the file and closes the recording COMPLETE. Recording state is read through GET /api/sessions of
 * the running server (after an exit: of the next server started on the same folders).
 */
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { STREAM_QUEUE_MS, startTestServer, type TestServer } from '../helpers/server.js';
import { allRecordings, session } from '../helpers/sessions.js';
import { BYTES_PER_SEC, FRAME_BYTES, SECRET, closed, open, parseWav, sendMuted, sendPcm, sha256, signedEgressUrl, speechFixtures, waitFor } from './helpers.js';

const [speech] = speechFixtures();

/** The only recording of a server, through GET /api/sessions (undefined before it exists). */
const theRecording = async (s: TestServer) => (await allRecordings(s))[0];

/** Wait until the native writer has flushed `bytes` of data to the file (flushes are at most 1 s apart). */
async function flushed(file: string, bytes: number): Promise<void> {
  await waitFor(() => fs.existsSync(file) && fs.statSync(file).size >= 44 + bytes, `${bytes} bytes flushed to ${file}`);
}

test('SIGKILL mid-stream: the next start repairs the file sizes and closes the row as REPAIRED', async () => {
  const s1 = await startTestServer({ EGRESS_SECRET: SECRET, AUDIO_STREAM_QUEUE_MS: STREAM_QUEUE_MS });
  const ws = await open(signedEgressUrl(s1, { roomName: 'crash', participant: 'crashy', trackId: 'TR_1' }));
  ws.on('error', () => { /* the server dies under it */ });
  const recorded = speech.subarray(0, FRAME_BYTES * 150); // 1.5 s
  await sendPcm(ws, recorded);
  await sendMuted(ws, true);
  await sendPcm(ws, speech.subarray(recorded.length, recorded.length + FRAME_BYTES * 20)); // muted: not recorded
  const row = await waitFor(() => theRecording(s1), 'recording');
  const file = path.join(s1.storageDir, row.path);
  await flushed(file, recorded.length);
  const beforeKill = await waitFor(async () => { const r = (await theRecording(s1))!; return r.mutedIntervals.length === 1 ? r : null; }, 'muted interval stored');
  assert.is(beforeKill.status, 'RECORDING', 'the stream is still open when the server is killed');
  await s1.kill();

  // The crash window between a data write and its header patch, made deterministic: the header lags one
  // flush behind and half a sample frame trails.
  const fd = fs.openSync(file, 'r+');
  const lag = Buffer.alloc(4);
  lag.writeUInt32LE(recorded.length - FRAME_BYTES * 50);
  fs.writeSync(fd, lag, 0, 4, 40);
  fs.writeSync(fd, Buffer.from([1, 2, 3]), 0, 3, 44 + recorded.length);
  fs.closeSync(fd);
  const mtime = Math.round(fs.statSync(file).mtimeMs);
  // An orphan file (no row) with wrong sizes and a partial frame is fixed as well.
  const orphanDir = path.join(s1.storageDir, 'egress', 'audio', 'MT_orphan');
  fs.mkdirSync(orphanDir, { recursive: true });
  const orphan = path.join(orphanDir, '1_r_p_t.wav');
  const orphanData = speech.subarray(0, FRAME_BYTES * 10);
  const orphanHeader = Buffer.from(fs.readFileSync(file).subarray(0, 44));
  orphanHeader.writeUInt32LE(0xffffffff, 4);
  orphanHeader.writeUInt32LE(0, 40);
  fs.writeFileSync(orphan, Buffer.concat([orphanHeader, orphanData, Buffer.from([9])]));

  const s2 = await startTestServer({ EGRESS_SECRET: SECRET, AUDIO_STREAM_QUEUE_MS: STREAM_QUEUE_MS }, { dataDir: s1.dataDir, storageDir: s1.storageDir });
  try {
    const repaired = (await session(s2, row.meetingId)).recordings.find((r) => r.id === row.id)!;
    assert.is(repaired.status, 'REPAIRED');
    assert.is(repaired.bytes, recorded.length);
    assert.is(repaired.endedAt, mtime);
    assert.match(repaired.closeReason ?? '', /repaired/);
    const muted = repaired.mutedIntervals;
    assert.is(muted.length, 1);
    assert.is(muted[0]!.startMs, repaired.startedAt + (recorded.length / BYTES_PER_SEC) * 1000);
    assert.ok(muted[0]!.endMs !== null && muted[0]!.endMs >= muted[0]!.startMs);
    const wav = parseWav(file);
    assert.is(wav.dataSize, recorded.length);
    assert.is(wav.riffSize, wav.fileSize - 8);
    assert.is(wav.fileSize, 44 + recorded.length);
    assert.is(sha256(wav.data), sha256(recorded));
    const o = parseWav(orphan);
    assert.equal([o.dataSize, o.riffSize, o.fileSize], [orphanData.length, 36 + orphanData.length, 44 + orphanData.length]);
  } finally {
    await s2.stop();
  }
});

test('SIGTERM mid-stream: egress sockets get 1001, the file is final and the row COMPLETE', async () => {
  const s = await startTestServer({ EGRESS_SECRET: SECRET, AUDIO_STREAM_QUEUE_MS: STREAM_QUEUE_MS });
  const ws = await open(signedEgressUrl(s, { roomName: 'term', participant: 'terminated' }));
  const sent = speech.subarray(0, FRAME_BYTES * 120);
  await sendPcm(ws, sent);
  const row = await waitFor(() => theRecording(s), 'recording');
  const file = path.join(s.storageDir, row.path);
  await flushed(file, sent.length);
  const done = closed(ws);
  assert.is(await s.stop(), 0);
  assert.equal(await done, { code: 1001, reason: 'server shutting down' });
  // What the stopped server stored, as the next server on the same folders serves it (a recording the shutdown
  // left open would show there as REPAIRED).
  const next = await startTestServer({ EGRESS_SECRET: SECRET, AUDIO_STREAM_QUEUE_MS: STREAM_QUEUE_MS }, { dataDir: s.dataDir, storageDir: s.storageDir });
  let final;
  try {
    final = (await session(next, row.meetingId)).recordings.find((r) => r.id === row.id)!;
  } finally {
    await next.stop();
  }
  assert.is(final.status, 'COMPLETE');
  assert.match(final.closeReason ?? '', /^1001 /);
  assert.is(final.bytes, sent.length);
  const wav = parseWav(file);
  assert.is(wav.dataSize, sent.length);
  assert.is(wav.riffSize, wav.fileSize - 8);
  assert.is(sha256(wav.data), sha256(sent));
});

test.run();
