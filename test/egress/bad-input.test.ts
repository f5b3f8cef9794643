/**
 * Every bad input of PROTOCOL.md §4 against the real server process: its error, and nothing lost or
 * created by it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { STREAM_QUEUE_MS, startTestServer, type TestServer } from '../helpers/server.js';
import {
  FRAME_BYTES, SECRET, closed, connect, listFiles, open, parseWav, sendMuted, sendPcm, sha256, signedEgressUrl, speechFixtures, waitFor,
} from './helpers.js';
import { allRecordings, closedRecordingOf, counts as apiCounts } from '../helpers/sessions.js';

let server: TestServer;
const [speech] = speechFixtures();

test.before(async () => { server = await startTestServer({ EGRESS_SECRET: SECRET, AUDIO_STREAM_QUEUE_MS: STREAM_QUEUE_MS }); });
test.after(async () => { await server.stop(); });

// Recordings, meetings and participants through GET /api/sessions (test/helpers/sessions.ts).
const rows = () => allRecordings(server);
const closedRow = (participant: string) => closedRecordingOf(server, participant);
const counts = async () => { const c = await apiCounts(server); return [c.sessions, c.participants, c.recordings]; };
const storageFiles = () => listFiles(server.storageDir);

test('invalid query parameters get 400 JSON before the upgrade, and nothing is created', async () => {
  const before = { counts: await counts(), files: storageFiles() };
  const cases: [Record<string, string>, RegExp][] = [
    [{ participant: 'p' }, /^roomName: is required/],
    [{ roomName: '' }, /^roomName: /],
    [{ roomName: 'x'.repeat(301) }, /^roomName: /],
    [{ roomName: 'r', sampleRate: '44101' }, /^sampleRate: must be one of 8000, 16000, 24000, 32000, 44100, 48000/],
    [{ roomName: 'r', channels: '3' }, /^channels: must be 1 or 2/],
    [{ roomName: 'r', groupSeconds: '60' }, /^groupSeconds: must be a number from 0.5 to 5$/],
    [{ roomName: 'r', groupSeconds: '0.1' }, /^groupSeconds: must be a number from 0.5 to 5$/],
    [{ roomName: 'r', groupSeconds: '1'.repeat(400) }, /^groupSeconds: must be a number from 0.5 to 5$/],
    [{ roomName: 'r', channels: '1'.repeat(400) }, /^channels: must be 1 or 2$/],
  ];
  const urls = cases.map(([params, message]) => [signedEgressUrl(server, params), params, message] as const);
  // A signed URL whose exp is past any representable date.
  urls.push([signedEgressUrl(server, { roomName: 'r' }, { expSec: 1e20 }), { exp: '1e20' }, /^exp: must be an integer from 1 to 8640000000000 \(Unix seconds\)$/]);
  for (const [url, params, message] of urls) {
    const r = await connect(url);
    assert.ok(r.refused, JSON.stringify(params));
    assert.is(r.refused!.status, 400, JSON.stringify(params));
    assert.is(r.refused!.body.error.code, 'bad_request');
    assert.match(r.refused!.body.error.message, message);
  }
  assert.equal(await counts(), before.counts);
  assert.equal(storageFiles(), before.files);
});

test('bad, missing and expired signatures get 401 JSON, and nothing is created', async () => {
  const before = { counts: await counts(), files: storageFiles() };
  const good = signedEgressUrl(server, { roomName: 'r401', participant: 'p' });
  const urls = [
    signedEgressUrl(server, { roomName: 'r401', participant: 'p' }, { secret: 'not-the-secret-0123456789' }),
    good.replace('participant=p', 'participant=q'),
    good.replace(/&sig=[^&]+/, ''),
    signedEgressUrl(server, { roomName: 'r401', participant: 'p' }, { expSec: Math.floor(Date.now() / 1000) - 5 }),
  ];
  const reasons = [/bad signature/, /bad signature/, /missing signature/, /expired/];
  for (const [i, url] of urls.entries()) {
    const r = await connect(url);
    assert.ok(r.refused, url);
    assert.is(r.refused!.status, 401);
    assert.is(r.refused!.body.error.code, 'unauthorized');
    assert.match(r.refused!.body.error.message, reasons[i]!);
  }
  assert.equal(await counts(), before.counts);
  assert.equal(storageFiles(), before.files);
});

test('a 2 MiB frame closes the socket with 1009 and the file written so far stays valid', async () => {
  const ws = await open(signedEgressUrl(server, { roomName: 'big', participant: 'big-frame' }));
  const head = speech.subarray(0, FRAME_BYTES * 20);
  await sendPcm(ws, head);
  const done = closed(ws);
  ws.send(Buffer.alloc(2 * 1024 * 1024, 1), { binary: true });
  assert.equal(await done, { code: 1009, reason: 'frame over 1 MiB' });
  const row = await waitFor(() => closedRow('big-frame'), 'row closed');
  assert.is(row.status, 'COMPLETE');
  assert.match(row.closeReason ?? '', /^1009 /);
  const wav = parseWav(path.join(server.storageDir, row.path));
  assert.is(sha256(wav.data), sha256(head));
  assert.is(wav.dataSize, head.length);
  assert.is(wav.riffSize, wav.fileSize - 8);
  assert.is(row.bytes, head.length);
});

test('4097-byte frames (odd sizes, samples split across frames) give a recording identical to the input', async () => {
  const ws = await open(signedEgressUrl(server, { roomName: 'odd', participant: 'odd-frames' }));
  await sendPcm(ws, speech, 4097);
  const done = closed(ws);
  ws.close();
  await done;
  const row = await waitFor(() => closedRow('odd-frames'), 'row closed');
  const wav = parseWav(path.join(server.storageDir, row.path));
  assert.is(wav.dataSize, speech.length);
  assert.is(sha256(wav.data), sha256(speech));
});

test('text frames that are not {"muted":bool} are logged and ignored; the socket stays open', async () => {
  const ws = await open(signedEgressUrl(server, { roomName: 'text', participant: 'bad-text' }));
  const part = FRAME_BYTES * 30;
  const junk = ['{not json', '{"muted":"yes"}', '[]', 'null', 'hello', '{"mute":true}'];
  for (const [i, frame] of junk.entries()) {
    await sendPcm(ws, speech.subarray(i * part, (i + 1) * part));
    ws.send(frame, { binary: false });
  }
  await sendPcm(ws, speech.subarray(junk.length * part, (junk.length + 1) * part));
  await sendMuted(ws, true); // still honoured after the junk
  await sendPcm(ws, speech.subarray((junk.length + 1) * part, (junk.length + 2) * part));
  await new Promise((r) => setTimeout(r, 100));
  assert.is(ws.readyState, ws.OPEN);
  const done = closed(ws);
  ws.close();
  await done;
  const row = await waitFor(() => closedRow('bad-text'), 'row closed');
  const wav = parseWav(path.join(server.storageDir, row.path));
  assert.is(sha256(wav.data), sha256(speech.subarray(0, (junk.length + 1) * part)));
  assert.is(row.mutedIntervals.length, 1);
  // The server's log lines reach the test through a pipe: wait for them rather than read them at once.
  const warned = () => server.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('ignored egress text frame')).length;
  await waitFor(() => warned() >= 5, `5 warnings logged (${warned()} so far)`).catch(() => undefined);
  assert.ok(warned() >= 5, `logged ${warned()} warnings`);
});

test('"../" and NUL in participant/trackId are sanitized and the file stays under the storage root', async () => {
  const outside = path.join(path.dirname(server.storageDir), 'escaped');
  const ws = await open(signedEgressUrl(server, { roomName: '../../r', participant: '../../../escaped/\u0000evil', trackId: '../\u0000', meetingId: '..' }));
  const pcm = speech.subarray(0, FRAME_BYTES * 5);
  await sendPcm(ws, pcm);
  const done = closed(ws);
  ws.close();
  await done;
  // The identity keeps everything but control characters (NUL → U+FFFD); the file name keeps [A-Za-z0-9._-].
  const row = await waitFor(() => closedRow('../../../escaped/\ufffdevil'), 'row closed');
  assert.is(row.meetingId, '..');
  assert.is(row.trackId, '../\ufffd');
  assert.match(row.path, /^egress\/audio\/__\/\d+_\.\._\.\._r_\.\._\.\._\.\._escaped__evil_\.\.__\.wav$/);
  const file = path.resolve(server.storageDir, row.path);
  assert.ok(file.startsWith(server.storageDir + path.sep));
  assert.is(sha256(parseWav(file).data), sha256(pcm));
  assert.not.ok(fs.existsSync(outside));
  assert.ok(storageFiles().every((f) => !f.split(path.sep).includes('..')));
});

test('a client killed mid-stream: the file is valid, holds a frame-aligned prefix of the input, and the row is closed', async () => {
  const ws = await open(signedEgressUrl(server, { roomName: 'killed', participant: 'killed-client' }));
  await sendPcm(ws, speech.subarray(0, FRAME_BYTES * 100));
  (ws as unknown as { _socket: { destroy(): void } })._socket.destroy();
  const row = await waitFor(() => closedRow('killed-client'), 'row closed');
  assert.is(row.status, 'COMPLETE');
  assert.match(row.closeReason ?? '', /^1006 /);
  const wav = parseWav(path.join(server.storageDir, row.path));
  assert.is(wav.riffSize, wav.fileSize - 8);
  assert.is(wav.dataSize, wav.data.length);
  assert.is(wav.data.length % 4, 0);
  assert.is(row.bytes, wav.data.length);
  assert.is(sha256(wav.data), sha256(speech.subarray(0, wav.data.length)));
});

test('a socket that closes before any audio creates nothing', async () => {
  const before = (await rows()).length;
  const ws = await open(signedEgressUrl(server, { roomName: 'empty', participant: 'nobody' }));
  await sendMuted(ws, true);
  const done = closed(ws);
  ws.close();
  await done;
  await new Promise((r) => setTimeout(r, 100));
  assert.is((await rows()).length, before);
  assert.ok(!storageFiles().some((f) => f.includes('nobody')));
});

test.run();
