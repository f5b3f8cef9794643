/**
 * `/egress-video` (PROTOCOL.md §4) against the real server process: Annex-B H.264 and IVF (VP8/VP9) streams
 * made by ffmpeg, sent in frames of odd sizes, stored byte for byte and readable by ffprobe; refused first
 * bytes (close 1007 with the reason, nothing created); 400/401 before the upgrade; muted spans cut at unit
 * boundaries; session association; finalization at shutdown and after a crash. Also unit tests of the
 * first-bytes check and of the mute gate.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type WebSocket from 'ws';
import { http, startTestServer, type TestServer } from '../helpers/server.js';
import { counts as apiCounts, recordingsOf, session } from '../helpers/sessions.js';
import { SECRET, closed, connect, listFiles, open, sendMuted, sha256, signedVideoUrl, videoFixture, waitFor } from './helpers.js';
import { AnnexBFramer, IvfFramer, MuteGate, checkVideoHeader } from '../../src/egress/video.js';
import { requireTools } from '../helpers/requires.js';

requireTools(['ffmpeg', 'ffprobe'], 'apt-get install -y --no-install-recommends ffmpeg');

let server: TestServer;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'meetcore-video-'));

const makeFixture = (codec: 'h264' | 'vp8' | 'vp9', sec = 2): Buffer => videoFixture(codec, sec, { dir: tmp });
const h264 = makeFixture('h264');
const vp8 = makeFixture('vp8');
const vp9 = makeFixture('vp9', 1);
const videoUrl = signedVideoUrl;

/** Send `data` as binary frames whose sizes cycle through `sizes`, then a close frame with no code (1005). */
async function sendChunks(ws: WebSocket, data: Buffer, sizes: number[] = [1, 7, 333, 4099, 2, 65537]): Promise<void> {
  let last: Promise<void> = Promise.resolve();
  for (let off = 0, i = 0; off < data.length; i++) {
    const n = Math.min(sizes[i % sizes.length]!, data.length - off);
    const part = data.subarray(off, off + n);
    last = new Promise<void>((resolve, reject) => ws.send(part, { binary: true }, (err) => (err ? reject(err) : resolve())));
    off += n;
  }
  await last;
}

// Recordings, meetings and participants through GET /api/sessions (test/helpers/sessions.ts).
const rowsOf = recordingsOf;
const doneRow = (s: TestServer, participant: string) => waitFor(async () => (await rowsOf(s, participant)).find((r) => r.status !== 'RECORDING'), `closed recording of ${participant}`);
const counts = async (s: TestServer) => { const c = await apiCounts(s); return [c.sessions, c.participants, c.recordings]; };
function probe(file: string): { codec_name: string; width: number; height: number; nb_read_frames?: string } {
  const out = execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-show_streams', '-of', 'json', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return (JSON.parse(out) as { streams: any[] }).streams[0];
}

test.before(async () => {
  server = await startTestServer({ EGRESS_SECRET: SECRET });
});
test.after(async () => {
  await server.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

test('first-bytes check: start codes, IVF header fields, undecided prefixes', () => {
  assert.equal(checkVideoHeader('h264', Buffer.from([0, 0, 0, 1, 0x67])), { ok: true });
  assert.equal(checkVideoHeader('h264', Buffer.from([0, 0, 1])), { ok: true });
  assert.is(checkVideoHeader('h264', Buffer.from([0, 0])), null);
  assert.is(checkVideoHeader('h264', Buffer.from([0, 0, 0])), null);
  assert.match((checkVideoHeader('h264', Buffer.from([0x44])) as { reason: string }).reason, /no start code/);
  assert.match((checkVideoHeader('h264', Buffer.from([0, 0, 0, 0])) as { reason: string }).reason, /no start code/);
  assert.equal(checkVideoHeader('vp8', vp8.subarray(0, 32)), { ok: true });
  assert.equal(checkVideoHeader('vp9', vp9.subarray(0, 32)), { ok: true });
  assert.is(checkVideoHeader('vp8', vp8.subarray(0, 31)), null);
  assert.match((checkVideoHeader('vp9', vp8.subarray(0, 12)) as { reason: string }).reason, /fourcc "VP80" does not match codec=vp9/);
  assert.match((checkVideoHeader('vp8', Buffer.from('DKIX')) as { reason: string }).reason, /not an IVF stream/);
  const v1 = Buffer.from(vp8.subarray(0, 32)); v1.writeUInt16LE(1, 4);
  assert.match((checkVideoHeader('vp8', v1) as { reason: string }).reason, /IVF version 1/);
  const len = Buffer.from(vp8.subarray(0, 32)); len.writeUInt16LE(40, 6);
  assert.match((checkVideoHeader('vp8', len) as { reason: string }).reason, /header length 40/);
});

/** Offsets where IVF frames start. */
function ivfFrameStarts(b: Buffer): number[] {
  const out: number[] = [];
  for (let p = 32; p + 12 <= b.length; p += 12 + b.readUInt32LE(p)) out.push(p);
  return out;
}
/** Offsets where Annex-B units start: each 00 00 01, one leading 00 included; keyed by the index of the 01. */
function annexBStarts(b: Buffer): { one: number; start: number }[] {
  const out: { one: number; start: number }[] = [];
  for (let j = 2; j < b.length; j++) if (b[j] === 1 && b[j - 1] === 0 && b[j - 2] === 0) out.push({ one: j, start: j >= 3 && b[j - 3] === 0 ? j - 3 : j - 2 });
  return out;
}
/** Run a MuteGate over `data` split in `size` chunks, muting before the chunk at offset ≥ muteAt and unmuting at ≥ unmuteAt. */
function gateRun(framer: AnnexBFramer | IvfFramer, data: Buffer, size: number, muteAt: number, unmuteAt: number): { out: Buffer; muteOff: number; unmuteOff: number } {
  const gate = new MuteGate(framer, false);
  const parts: Uint8Array[] = [];
  let muteOff = -1; let unmuteOff = -1;
  for (let off = 0; off < data.length; off += size) {
    if (muteOff < 0 && off >= muteAt) { gate.setMuted(true); muteOff = off; }
    if (unmuteOff < 0 && off >= unmuteAt) { gate.setMuted(false); unmuteOff = off; }
    parts.push(...gate.push(data.subarray(off, off + size)));
  }
  parts.push(...gate.end());
  return { out: Buffer.concat(parts), muteOff, unmuteOff };
}

test('mute gate: cuts H.264 at start codes and IVF at frame headers, for any chunk size', () => {
  for (const size of [1, 2, 3, 5, 17, 1000]) {
    const a = gateRun(new AnnexBFramer(), h264, size, 3000, 7000);
    const starts = annexBStarts(h264);
    const cut = starts.find((s) => s.one >= a.muteOff)!.start;
    const resume = starts.find((s) => s.one >= a.unmuteOff)!.start;
    assert.ok(sha256(a.out) === sha256(Buffer.concat([h264.subarray(0, cut), h264.subarray(resume)])), `h264 chunk ${size}`);
    const v = gateRun(new IvfFramer(), vp8, size, 5000, 12000);
    const frames = ivfFrameStarts(vp8);
    const vcut = frames.find((s) => s >= v.muteOff)!;
    const vresume = frames.find((s) => s >= v.unmuteOff)!;
    assert.ok(sha256(v.out) === sha256(Buffer.concat([vp8.subarray(0, vcut), vp8.subarray(vresume)])), `ivf chunk ${size}`);
  }
  // Muted from the start: H.264 writes nothing, IVF only its 32-byte file header.
  assert.is(new MuteGate(new AnnexBFramer(), true).push(h264).length, 0);
  assert.is(Buffer.concat(new MuteGate(new IvfFramer(), true).push(vp8)).length, 32);
});

test('H.264 Annex-B round-trips byte for byte in odd-sized frames; ffprobe reads it; row and session are right', async () => {
  const room = 'video room/../é';
  const ws = await open(videoUrl(server, { roomName: room, participant: 'alice', trackId: 'TR_v1', codec: 'h264' }));
  const done = closed(ws);
  await sendChunks(ws, h264);
  ws.close();
  assert.is((await done).code, 1005);
  const row = await doneRow(server, 'alice');
  assert.is(row.status, 'COMPLETE');
  assert.is(row.kind, 'video');
  assert.is(row.codec, 'h264');
  assert.is(row.trackId, 'TR_v1');
  assert.is(row.bytes, h264.length);
  assert.is(row.sampleRate, null);
  assert.is(row.durationMs, null);
  assert.match(row.closeReason ?? '', /^1005/);
  assert.ok(row.endedAt! >= row.startedAt);
  assert.is(row.path, `egress/video/${row.meetingId}/${row.startedAt}_video_room_..___alice_TR_v1.h264`);
  const file = path.join(server.storageDir, row.path);
  assert.is(sha256(fs.readFileSync(file)), sha256(h264));
  const p = probe(file);
  assert.is(p.codec_name, 'h264');
  assert.is(p.width, 320);
  assert.is(p.height, 240);
  assert.is(p.nb_read_frames, '30');

  const api = await session(server, row.meetingId);
  assert.is(api.roomName, room);
  assert.ok(api.participants.some((x) => x.identity === 'alice'));
  assert.ok(api.recordings.some((r) => r.id === row.id));
});

test('VP8 and VP9 IVF round-trip byte for byte (1-byte first frames included) into the given meetingId', async () => {
  const meetingId = 'MT_video_given';
  for (const [codec, data, participant] of [['vp8', vp8, 'bob'], ['vp9', vp9, 'carol']] as const) {
    const ws = await open(videoUrl(server, { roomName: 'ivf-room', participant, codec, meetingId }));
    const done = closed(ws);
    await sendChunks(ws, data, [1, 1, 1, 5, 31, 999, 3, 4097]);
    ws.close();
    await done;
    const row = await doneRow(server, participant);
    assert.is(row.status, 'COMPLETE');
    assert.is(row.meetingId, meetingId);
    assert.is(row.codec, codec);
    assert.is(row.trackId, 'video');
    assert.is(row.path, `egress/video/${meetingId}/${row.startedAt}_ivf-room_${participant}_video.ivf`);
    const file = path.join(server.storageDir, row.path);
    assert.is(sha256(fs.readFileSync(file)), sha256(data));
    const p = probe(file);
    assert.is(p.codec_name, codec);
    assert.is(p.width, 320);
  }
  const api = await session(server, meetingId);
  assert.equal(api.recordings.map((r) => `${r.participant}:${r.kind}`), ['bob:video', 'carol:video']);
  assert.equal(api.participants.map((x) => x.identity).sort(), ['bob', 'carol']);
});

test('a frame over 1 MiB closes with 1009 and keeps what was written; a hostile meetingId stays under storage', async () => {
  const ws = await open(videoUrl(server, { roomName: 'big-room', participant: 'jack', codec: 'h264', meetingId: '../../evil' }));
  const done = closed(ws);
  await sendChunks(ws, h264.subarray(0, 5000), [999]);
  ws.send(Buffer.alloc(1024 * 1024 + 1), { binary: true });
  const c = await done;
  assert.is(c.code, 1009);
  const row = await doneRow(server, 'jack');
  assert.is(row.status, 'COMPLETE');
  assert.match(row.closeReason ?? '', /^1009/);
  assert.is(row.meetingId, '../../evil');
  assert.ok(row.path.startsWith('egress/video/.._.._evil/'), row.path);
  assert.is(row.bytes, 5000);
  assert.is(sha256(fs.readFileSync(path.join(server.storageDir, row.path))), sha256(h264.subarray(0, 5000)));
});

test('a video stream joins the ACTIVE session of its room', async () => {
  const first = await open(videoUrl(server, { roomName: 'shared-room', participant: 'dave', codec: 'vp8' }));
  let done = closed(first);
  await sendChunks(first, vp8);
  first.close();
  await done;
  const a = await doneRow(server, 'dave');
  const second = await open(videoUrl(server, { roomName: 'shared-room', participant: 'erin', codec: 'h264' }));
  done = closed(second);
  await sendChunks(second, h264);
  second.close();
  await done;
  const b = await doneRow(server, 'erin');
  assert.is(b.meetingId, a.meetingId);
});

test('a stream whose first bytes fail the check is closed with 1007 and the reason; nothing is created', async () => {
  const before = { counts: await counts(server), files: listFiles(server.storageDir) };
  const badVersion = Buffer.from(vp8); badVersion.writeUInt16LE(1, 4);
  const badLength = Buffer.from(vp8); badLength.writeUInt16LE(40, 6);
  const cases: [string, Buffer, number[], RegExp][] = [
    ['h264', vp8, [4096], /^not Annex-B H\.264: no start code \(00 00 00 01 or 00 00 01\) at byte 0/],
    ['h264', Buffer.concat([Buffer.from([0, 0, 0, 0]), h264]), [1], /no start code/],
    ['vp8', h264, [4096], /^not an IVF stream: signature 00 00 00 01, expected "DKIF"/],
    ['vp9', vp8, [3, 5, 7], /IVF fourcc "VP80" does not match codec=vp9 \(expected VP90\)/],
    ['vp8', badVersion, [4096], /unsupported IVF version 1, expected 0/],
    ['vp8', badLength, [1], /bad IVF header length 40, expected 32/],
  ];
  for (const [i, [codec, data, sizes, reason]] of cases.entries()) {
    const ws = await open(videoUrl(server, { roomName: 'bad-room', participant: `bad${i}`, codec }));
    const done = closed(ws);
    sendChunks(ws, data.subarray(0, 20_000), sizes).catch(() => { /* the server may close first */ });
    const c = await done;
    assert.is(c.code, 1007, `case ${i}`);
    assert.match(c.reason, reason, `case ${i}`);
  }
  // A stream that ends before its first bytes could be checked creates nothing either.
  const short = await open(videoUrl(server, { roomName: 'bad-room', participant: 'short', codec: 'vp8' }));
  const done = closed(short);
  await sendChunks(short, vp8.subarray(0, 20), [20]);
  short.close();
  await done;
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(await counts(server), before.counts);
  assert.equal(listFiles(server.storageDir), before.files);
  assert.ok(server.logs.some((l) => l.msg === 'video egress stream refused'));
});

test('invalid query → 400, bad signature → 401, before the upgrade; nothing is created', async () => {
  const before = { counts: await counts(server), files: listFiles(server.storageDir) };
  const bad: [Record<string, string>, RegExp][] = [
    [{ roomName: 'r' }, /^codec: /],
    [{ roomName: 'r', codec: 'av1' }, /^codec: must be one of h264, vp8, vp9/],
    [{ codec: 'h264' }, /^roomName: /],
    [{ roomName: 'x'.repeat(301), codec: 'h264' }, /^roomName: /],
  ];
  for (const [params, message] of bad) {
    const r = await connect(videoUrl(server, params));
    assert.is(r.refused?.status, 400, JSON.stringify(params));
    assert.is(r.refused!.body.error.code, 'bad_request');
    assert.match(r.refused!.body.error.message, message);
  }
  const dup = await connect(`${videoUrl(server, { roomName: 'r', codec: 'h264' })}&codec=vp8`);
  assert.is(dup.refused?.status, 400);
  assert.match(dup.refused!.body.error.message, /codec: given more than once/);

  const params = { roomName: 'r401', participant: 'p', codec: 'h264' };
  const good = videoUrl(server, params);
  const unauthorized: [string, RegExp][] = [
    [videoUrl(server, params, { secret: 'not-the-secret-0123456789' }), /bad signature/],
    [videoUrl(server, params, { signedPath: '/egress-audio' }), /bad signature/],
    [good.replace('codec=h264', 'codec=vp8'), /bad signature/],
    [good.replace(/&sig=[^&]+/, ''), /missing signature/],
    [videoUrl(server, params, { expSec: Math.floor(Date.now() / 1000) - 5 }), /expired/],
  ];
  for (const [url, reason] of unauthorized) {
    const r = await connect(url);
    assert.is(r.refused?.status, 401, url);
    assert.is(r.refused!.body.error.code, 'unauthorized');
    assert.match(r.refused!.body.error.message, reason);
  }
  assert.equal(await counts(server), before.counts);
  assert.equal(listFiles(server.storageDir), before.files);
});

test('muted spans are not written (cut at frame boundaries), intervals are stored, the file stays readable', async () => {
  const ws = await open(videoUrl(server, { roomName: 'mute-room', participant: 'frank', codec: 'vp8' }));
  const done = closed(ws);
  const size = 1001;
  const muteAt = 6006; const unmuteAt = 13013;
  await sendChunks(ws, vp8.subarray(0, muteAt), [size]);
  await sendMuted(ws, true);
  await sendChunks(ws, vp8.subarray(muteAt, unmuteAt), [size]);
  await sendMuted(ws, false);
  await sendChunks(ws, vp8.subarray(unmuteAt), [size]);
  ws.close();
  await done;
  const row = await doneRow(server, 'frank');
  const frames = ivfFrameStarts(vp8);
  const expected = Buffer.concat([vp8.subarray(0, frames.find((f) => f >= muteAt)), vp8.subarray(frames.find((f) => f >= unmuteAt))]);
  const file = path.join(server.storageDir, row.path);
  assert.is(sha256(fs.readFileSync(file)), sha256(expected));
  assert.is(row.bytes, expected.length);
  assert.is(probe(file).codec_name, 'vp8');
  const intervals = row.mutedIntervals;
  assert.is(intervals.length, 1);
  assert.ok(intervals[0]!.startMs >= row.startedAt && intervals[0]!.endMs! >= intervals[0]!.startMs);

  // Muted before the first frame: an H.264 file stays empty until the unmute's next start code.
  const ws2 = await open(videoUrl(server, { roomName: 'mute-room', participant: 'gina', codec: 'h264' }));
  const done2 = closed(ws2);
  await sendMuted(ws2, true);
  await sendChunks(ws2, h264.subarray(0, 5000), [777]);
  await sendMuted(ws2, false);
  await sendChunks(ws2, h264.subarray(5000), [777]);
  ws2.close();
  await done2;
  const row2 = await doneRow(server, 'gina');
  const starts = annexBStarts(h264);
  const expected2 = h264.subarray(starts.find((s) => s.one >= 5000)!.start);
  assert.is(sha256(fs.readFileSync(path.join(server.storageDir, row2.path))), sha256(expected2));
  assert.is(probe(path.join(server.storageDir, row2.path)).codec_name, 'h264');
  const i2 = row2.mutedIntervals;
  assert.is(i2.length, 1);
  assert.is(i2[0]!.startMs, row2.startedAt);
});

test('shutdown finalizes open video recordings; a crash leaves recordings that the next start closes', async () => {
  const s = await startTestServer({ EGRESS_SECRET: SECRET });
  try {
    const ws = await open(videoUrl(s, { roomName: 'stop-room', participant: 'hank', codec: 'h264' }));
    const done = closed(ws);
    await sendChunks(ws, h264.subarray(0, 6000));
    await waitFor(async () => { const r = (await rowsOf(s, 'hank'))[0]; return r?.status === 'RECORDING' && fs.existsSync(path.join(s.storageDir, r.path)); }, 'recording');
    const health = await http('GET', `${s.url}/health`);
    assert.is(health.body.egressStreams, 1);
    assert.is(await s.stop(), 0);
    assert.is((await done).code, 1001);
  } finally {
    await s.stop().catch(() => undefined);
  }

  // What the stopped server stored, as the next server on the same folders serves it (a recording the shutdown
  // left open would show there as REPAIRED).
  const dirs = { dataDir: s.dataDir, storageDir: s.storageDir };
  const s2 = await startTestServer({ EGRESS_SECRET: SECRET }, dirs);
  try {
    const hank = (await rowsOf(s2, 'hank'))[0]!;
    assert.is(hank.status, 'COMPLETE');
    assert.match(hank.closeReason ?? '', /^1001/);
    assert.is(hank.bytes, 6000);
    assert.is(sha256(fs.readFileSync(path.join(s.storageDir, hank.path))), sha256(h264.subarray(0, 6000)));

    const ws = await open(videoUrl(s2, { roomName: 'crash-room', participant: 'ivan', codec: 'vp8' }));
    await sendChunks(ws, vp8.subarray(0, 9000));
    const live = await waitFor(async () => {
      const r = (await rowsOf(s2, 'ivan'))[0];
      return r && fs.existsSync(path.join(s2.storageDir, r.path)) && fs.statSync(path.join(s2.storageDir, r.path)).size === 9000 ? r : null;
    }, 'bytes on disk');
    assert.is(live.status, 'RECORDING', 'the stream is still open when the server is killed');
  } finally {
    await s2.kill();
  }
  const s3 = await startTestServer({ EGRESS_SECRET: SECRET }, dirs);
  try {
    const row = (await rowsOf(s3, 'ivan'))[0]!;
    assert.is(row.status, 'REPAIRED');
    assert.is(row.bytes, 9000);
    assert.ok(row.endedAt !== null);
  } finally {
    await s3.stop();
  }
});

test.run();
