/**
 * A full disk under STORAGE_DIR, against the real server process: STORAGE_DIR is a 256 KiB tmpfs that the test
 * fills (a filler file written until ENOSPC, then shortened to leave a chosen number of bytes).
 *
 * - Mid-recording (audio, then IVF and H.264 video): the row ends FAILED with the OS error in close_reason,
 *   `bytes` counts only what reached the file, the file is a prefix of the input cut at a whole unit (WAV: a
 *   whole sample frame, header sizes matching the file; IVF: a whole frame; H.264: right before a start
 *   code), and ffprobe reads it.
 * - Full before the stream starts, or STORAGE_DIR remounted read-only: the socket is closed with 1011 and the
 *   OS error as reason; no recording file (not even an empty one), no recording, no session the stream would
 *   have created, no participant (GET /api/sessions).
 *
 * Mounting needs root (CI runs as root): without it every test here fails saying so (test/helpers/mount.ts).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type WebSocket from 'ws';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { fillDisk, mountTmpfs, unmount } from '../helpers/mount.js';
import {
  BYTES_PER_SEC, FRAME_BYTES, SECRET, closed, ffprobe, listFiles, open, parseWav, sendPcm, sha256, signedEgressUrl,
  signedVideoUrl, speechFixtures, videoFixture, waitFor,
} from './helpers.js';
import { closedRecordingOf, counts, listSessions, session } from '../helpers/sessions.js';
import { requireTools } from '../helpers/requires.js';

requireTools(['ffmpeg', 'ffprobe'], 'apt-get install -y --no-install-recommends ffmpeg');

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'meetcore-disk-full-'));
const storage = path.join(root, 'storage');
const [speech] = speechFixtures();
let server: TestServer | null = null;
let mounted = false;

/** The server, started on first use with STORAGE_DIR on a fresh 256 KiB tmpfs (throws when mounting is not permitted). */
async function serverOnTmpfs(): Promise<TestServer> {
  if (!mounted) {
    mountTmpfs(storage, 'size=256k');
    mounted = true;
  }
  server ??= await startTestServer({ EGRESS_SECRET: SECRET }, { dataDir: path.join(root, 'data'), storageDir: storage });
  return server;
}

/** Remove what earlier tests left on the tmpfs (recordings, pipeline logs, filler). */
function clearStorage(): void {
  for (const name of fs.readdirSync(storage)) fs.rmSync(path.join(storage, name), { recursive: true, force: true });
}

test.after(async () => {
  await server?.stop();
  if (mounted) unmount(storage);
  fs.rmSync(root, { recursive: true, force: true });
});

/** The closed recording of a participant, through GET /api/sessions (test/helpers/sessions.ts). */
const rowOf = closedRecordingOf;

/**
 * Send `data` in binary frames of `size` bytes until done or the server closes the socket, waiting `pauseMs`
 * after each frame (so that a write error the server meets on the way ends the socket before the data does).
 */
async function sendUntilClosed(ws: WebSocket, data: Buffer, size: number, pauseMs = 0): Promise<void> {
  for (let off = 0; off < data.length && ws.readyState === ws.OPEN; off += size) {
    await new Promise<void>((resolve) => ws.send(data.subarray(off, off + size), { binary: true }, () => resolve()));
    if (pauseMs > 0) await new Promise((r) => setTimeout(r, pauseMs));
  }
}

/** Ends of the whole units of an IVF stream: the 32-byte file header, then each frame (12-byte header + payload). */
function ivfUnitEnds(b: Buffer): number[] {
  const out = [32];
  for (let p = 32; p + 12 <= b.length; p += 12 + b.readUInt32LE(p)) out.push(p + 12 + b.readUInt32LE(p));
  return out;
}

function probeVideo(file: string): { codec_name: string; nb_read_frames: string } {
  const out = execFileSync('ffprobe', ['-v', 'error', '-count_frames', '-show_streams', '-of', 'json', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return (JSON.parse(out) as { streams: { codec_name: string; nb_read_frames: string }[] }).streams[0]!;
}

test('audio: the disk fills mid-recording → FAILED with the OS error; bytes = the file\'s data = the header sizes, whole frames, a prefix of the input', async () => {
  const s = await serverOnTmpfs();
  clearStorage();
  const free = fillDisk(storage, 96 * 1024);
  const pcm = speech.subarray(0, 2 * BYTES_PER_SEC);  // 375 KiB: far more than fits
  assert.ok(free < pcm.length / 2, `free ${free}`);
  const ws = await open(signedEgressUrl(s, { roomName: 'full-room', participant: 'fa', trackId: 'TR_fa' }));
  const done = closed(ws);
  await sendPcm(ws, pcm);
  ws.close();
  assert.is((await done).code, 1005, 'the stream itself goes on: only the recording failed');
  const row = await waitFor(() => rowOf(s, 'fa'), 'row closed');
  assert.is(row.status, 'FAILED');
  assert.is(row.closeReason, '1005 end of track (no close code); write failed: No space left on device');
  const file = path.join(storage, row.path);
  const wav = parseWav(file);
  assert.ok(row.bytes > 0 && row.bytes < pcm.length, `bytes ${row.bytes}`);
  assert.is(row.bytes, wav.fileSize - 44, 'bytes = file size - header');
  assert.is(wav.dataSize, wav.fileSize - 44, 'header data size = data on disk');
  assert.is(wav.riffSize, wav.fileSize - 8);
  assert.is(wav.data.length % wav.blockAlign, 0, 'whole sample frames');
  assert.is(sha256(wav.data), sha256(pcm.subarray(0, wav.data.length)), 'the data is a prefix of the input');
  assert.equal(row.gaps, [{ offset: row.bytes, bytes: pcm.length - row.bytes }], 'the row lists everything after the cut as missing');
  const probe = ffprobe(file);
  assert.is(probe.codec_name, 'pcm_s16le');
  assert.ok(Math.abs(Number(probe.duration) - row.bytes / BYTES_PER_SEC) < 0.01, `duration ${probe.duration}`);
  await waitFor(() => s.logs.some((l) => l.msg === 'audio engine error' && l.code === 'write_failed' && l.message === 'No space left on device'), 'the engine error in the log');
});

for (const codec of ['vp8', 'h264'] as const) {
  test(`video ${codec}: the disk fills mid-recording → socket 1011, FAILED with the OS error; bytes = file size, cut at a whole unit`, async () => {
    const s = await serverOnTmpfs();
    clearStorage();
    const data = videoFixture(codec, 2, { dir: root, size: '640x360', bitrate: '1M', pattern: 'testsrc2' });
    const free = fillDisk(storage, 48 * 1024);
    assert.ok(free < data.length / 2, `free ${free}, stream ${data.length}`);
    const participant = `fv-${codec}`;
    const ws = await open(signedVideoUrl(s, { roomName: 'full-video', participant, codec }));
    const done = closed(ws);
    await sendUntilClosed(ws, data, 4099, 5);
    if (ws.readyState === ws.OPEN) ws.close();
    const c = await done;
    assert.is(c.code, 1011);
    assert.is(c.reason, 'recording write failed: ENOSPC: no space left on device');
    const row = await waitFor(() => rowOf(s, participant), 'row closed');
    assert.is(row.status, 'FAILED');
    assert.match(row.closeReason ?? '', /; write failed: ENOSPC: no space left on device$/);
    const file = path.join(storage, row.path);
    const written = fs.readFileSync(file);
    assert.ok(row.bytes > 0 && row.bytes < data.length, `bytes ${row.bytes}`);
    assert.is(row.bytes, written.length, 'bytes = file size');
    assert.is(sha256(written), sha256(data.subarray(0, written.length)), 'the file is a prefix of the input');
    if (codec === 'vp8') {
      const ends = ivfUnitEnds(data);
      assert.ok(ends.includes(written.length), `${written.length} is not the end of an IVF frame`);
      assert.is(probeVideo(file).nb_read_frames, String(ends.indexOf(written.length)), 'ffprobe reads every whole frame');
    } else {
      const at = written.length;
      const startCode = data[at] === 0 && data[at + 1] === 0 && (data[at + 2] === 1 || (data[at + 2] === 0 && data[at + 3] === 1));
      assert.ok(startCode, `the cut at ${at} is not right before a start code`);
      assert.is(probeVideo(file).codec_name, 'h264');
    }
  });
}

test('the disk is full before the stream starts: 1011 with the OS error; no file, no row, no session or participant left', async () => {
  const s = await serverOnTmpfs();
  clearStorage();
  fillDisk(storage, 0);
  const existing = (await listSessions(s)).find((x) => x.roomName === 'full-room' && x.status === 'ACTIVE');
  assert.ok(existing, 'the room of the first test still has its ACTIVE session');
  const before = await counts(s);
  const cases = [
    { url: signedEgressUrl(s, { roomName: 'new-room', participant: 'nb-audio' }), reason: 'cannot start recording: No space left on device' },
    // A room with an ACTIVE session: the session stays as it was (the rollback only undoes this stream's changes).
    { url: signedEgressUrl(s, { roomName: 'full-room', participant: 'nb-audio2' }), reason: 'cannot start recording: No space left on device' },
    { url: signedVideoUrl(s, { roomName: 'new-room', participant: 'nb-video', codec: 'vp8' }), reason: 'cannot start recording: ENOSPC: no space left on device', video: true },
  ];
  const vp8 = videoFixture('vp8', 1, { dir: root });
  for (const c of cases) {
    const ws = await open(c.url);
    const done = closed(ws);
    await sendUntilClosed(ws, c.video ? vp8 : speech.subarray(0, 20 * FRAME_BYTES), c.video ? 1000 : FRAME_BYTES);
    const r = await done;
    assert.is(r.code, 1011);
    assert.is(r.reason, c.reason);
  }
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(listFiles(storage), ['filler.bin'], 'no recording file, not even an empty one');
  assert.ok(!fs.existsSync(path.join(storage, 'egress')), 'the folders made for the refused streams are removed');
  assert.equal(await counts(s), before, 'no session, participant or recording added');
  assert.is((await session(s, existing.meetingId)).status, 'ACTIVE');
  await waitFor(() => s.logs.some((l) => l.msg === 'cannot start the egress stream' && l.reason === 'cannot start recording: No space left on device'), 'the refusal in the log');
});

test('STORAGE_DIR turned read-only while running: 1011 naming EROFS; no file, no row, no session left', async () => {
  const s = await serverOnTmpfs();
  clearStorage();
  const before = await counts(s);
  execFileSync('mount', ['-o', 'remount,ro', storage]);
  try {
    for (const [url, data, size] of [
      [signedEgressUrl(s, { roomName: 'ro-room', participant: 'ro-audio' }), speech.subarray(0, 5 * FRAME_BYTES), FRAME_BYTES],
      [signedVideoUrl(s, { roomName: 'ro-room', participant: 'ro-video', codec: 'vp8' }), videoFixture('vp8', 1, { dir: root }), 1000],
    ] as const) {
      const ws = await open(url);
      const done = closed(ws);
      await sendUntilClosed(ws, data, size);
      const r = await done;
      assert.is(r.code, 1011);
      assert.is(r.reason, 'cannot start recording: EROFS: read-only file system');
    }
  } finally {
    execFileSync('mount', ['-o', 'remount,rw', storage]);
  }
  assert.equal(listFiles(storage), []);
  assert.equal(await counts(s), before);
});

test.run();
