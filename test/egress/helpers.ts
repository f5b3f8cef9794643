/**
 * Test helpers for the egress area: an independent implementation of the PROTOCOL.md §4 URL signature, a
 * LiveKit-like egress client on the `ws` package (stereo 48 kHz s16le, 10 ms frames of 1920 bytes, sent
 * faster than real time, `{"muted":bool}` text frames, a close frame with no code), a tiny WAV parser,
 * ffprobe, a read-only view of the SQLite file (only for what the public API does not show: meeting, participant
 * and recording state is asserted through test/helpers/sessions.ts), and the committed speech fixtures.
 */
import { createHash, createHmac } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import WebSocket from 'ws';
import { ROOT, type TestServer } from '../helpers/server.js';
import { loadFixture, toStereoBytes } from '../helpers/fixtures.js';

export const SECRET = 'egress-test-secret-0123456789abcdef';
/** 10 ms of 48 kHz stereo s16le. */
export const FRAME_BYTES = 1920;
export const BYTES_PER_SEC = 48000 * 4;

/** `ws://host/egress-audio?...&exp&sig` signed as PROTOCOL.md §4 says (written independently of src/). */
export function signedEgressUrl(server: TestServer, params: Record<string, string>, opts: { secret?: string; expSec?: number } = {}): string {
  const all: Record<string, string> = { ...params, exp: String(opts.expSec ?? Math.floor(Date.now() / 1000) + 600) };
  const q = Object.keys(all).sort().map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(all[k]!)}`).join('&');
  const sig = createHmac('sha256', opts.secret ?? SECRET).update(`/egress-audio?${q}`).digest('base64url');
  return `${server.wsUrl}/egress-audio?${q}&sig=${sig}`;
}

export interface Refused { status: number; body: any }

/** `ws://host/egress-video?...&exp&sig`, signed like the audio URL but over the path `/egress-video` (PROTOCOL.md §4). */
export function signedVideoUrl(server: TestServer, params: Record<string, string>, opts: { secret?: string; expSec?: number; signedPath?: string } = {}): string {
  const all: Record<string, string> = { ...params, exp: String(opts.expSec ?? Math.floor(Date.now() / 1000) + 600) };
  const q = Object.keys(all).sort().map((k) => `${encodeURIComponent(k)}=${encodeURIComponent(all[k]!)}`).join('&');
  const sig = createHmac('sha256', opts.secret ?? SECRET).update(`${opts.signedPath ?? '/egress-video'}?${q}`).digest('base64url');
  return `${server.wsUrl}/egress-video?${q}&sig=${sig}`;
}

/**
 * A video stream made by ffmpeg from a test pattern: Annex-B H.264 or IVF (VP8/VP9), `sec` seconds at 15 fps.
 * @param opts.size frame size (default 320x240); opts.bitrate VP8/VP9 bit rate (default ffmpeg's); opts.dir
 *   where the file is made.
 */
export function videoFixture(codec: 'h264' | 'vp8' | 'vp9', sec: number, opts: { dir: string; size?: string; bitrate?: string; pattern?: string }): Buffer {
  const size = opts.size ?? '320x240';
  const out = path.join(opts.dir, `fixture-${codec}-${sec}-${size}-${opts.bitrate ?? 'default'}.${codec === 'h264' ? 'h264' : 'ivf'}`);
  const enc = codec === 'h264'
    ? ['-c:v', 'libx264', ...(opts.bitrate ? ['-preset', 'ultrafast', '-b:v', opts.bitrate] : []), '-bsf:v', 'h264_mp4toannexb', '-f', 'h264']
    : ['-c:v', codec === 'vp8' ? 'libvpx' : 'libvpx-vp9', ...(opts.bitrate ? ['-b:v', opts.bitrate, '-deadline', 'realtime', '-cpu-used', '8'] : []), '-f', 'ivf'];
  execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'lavfi', '-i', `${opts.pattern ?? 'testsrc'}=size=${size}:rate=15`, '-t', String(sec), ...enc, out]);
  return fs.readFileSync(out);
}

/** Connect; resolves the open socket, or the HTTP refusal (status + parsed JSON body). */
export function connect(url: string): Promise<{ ws: WebSocket; refused?: undefined } | { ws?: undefined; refused: Refused }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    ws.once('open', () => resolve({ ws }));
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (d: Buffer) => { text += d.toString(); });
      res.on('end', () => {
        let body: unknown = text;
        try { body = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ refused: { status: res.statusCode ?? 0, body } });
        ws.terminate();
      });
    });
    ws.once('error', reject);
  });
}

/** Open a socket that must be accepted. */
export async function open(url: string): Promise<WebSocket> {
  const r = await connect(url);
  if (!r.ws) throw new Error(`refused: ${r.refused.status} ${JSON.stringify(r.refused.body)}`);
  return r.ws;
}

/** Resolves with the close code and reason the client saw. */
export function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve({ code: -1, reason: 'already closed' });
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

/**
 * Send `pcm` as binary frames of `frameBytes` (the last one may be shorter), as fast as the socket drains
 * (faster than real time), keeping at most ~1 MiB buffered.
 */
export async function sendPcm(ws: WebSocket, pcm: Buffer, frameBytes = FRAME_BYTES): Promise<void> {
  let last: Promise<void> = Promise.resolve();
  for (let off = 0; off < pcm.length; off += frameBytes) {
    last = new Promise<void>((resolve, reject) => ws.send(pcm.subarray(off, Math.min(off + frameBytes, pcm.length)), { binary: true }, (err) => (err ? reject(err) : resolve())));
    if (ws.bufferedAmount > 1 << 20) await new Promise<void>((r) => setTimeout(r, 2));
  }
  await last;
}

/** `sec` seconds of 48 kHz stereo s16le, every byte from a seeded xorshift (no two seconds alike). */
export function noisePcm(sec: number, seed: number): Buffer {
  const b = Buffer.alloc(Math.round(sec * BYTES_PER_SEC));
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < b.length; i += 4) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    b.writeUInt32LE(x, i);
  }
  return b;
}

/** Send all of `bytes` in 10 ms frames at once, without waiting for anything (a stall releasing its backlog). */
export function sendBurst(ws: WebSocket, bytes: Buffer): Promise<void> {
  let last!: Promise<void>;
  for (let off = 0; off < bytes.length; off += FRAME_BYTES) {
    last = new Promise((resolve, reject) => ws.send(bytes.subarray(off, off + FRAME_BYTES), { binary: true }, (err) => (err ? reject(err) : resolve())));
  }
  return last;
}

/** Send `bytes` in 10 ms frames at real time (each frame when its time has come). */
export async function sendRealTime(ws: WebSocket, bytes: Buffer): Promise<void> {
  const start = Date.now();
  let off = 0;
  while (off < bytes.length) {
    const due = Math.min(bytes.length, Math.floor(((Date.now() - start) / 10) + 1) * FRAME_BYTES);
    for (; off < due; off += FRAME_BYTES) ws.send(bytes.subarray(off, off + FRAME_BYTES), { binary: true });
    await new Promise((r) => setTimeout(r, 10));
  }
  await new Promise<void>((resolve, reject) => ws.send(Buffer.alloc(0), { binary: true }, (err) => (err ? reject(err) : resolve())));
}

export function sendMuted(ws: WebSocket, muted: boolean): Promise<void> {
  return new Promise((resolve, reject) => ws.send(JSON.stringify({ muted }), { binary: false }, (err) => (err ? reject(err) : resolve())));
}

export function sha256(b: Uint8Array): string {
  return createHash('sha256').update(b).digest('hex');
}

export interface ParsedWav {
  riffSize: number;
  format: number;
  channels: number;
  sampleRate: number;
  byteRate: number;
  blockAlign: number;
  bitsPerSample: number;
  dataSize: number;
  data: Buffer;
  fileSize: number;
}

/** Parse a canonical 44-byte-header PCM WAV (fails the test on anything else). */
export function parseWav(file: string): ParsedWav {
  const b = fs.readFileSync(file);
  if (b.length < 44 || b.toString('latin1', 0, 4) !== 'RIFF' || b.toString('latin1', 8, 12) !== 'WAVE'
    || b.toString('latin1', 12, 16) !== 'fmt ' || b.toString('latin1', 36, 40) !== 'data') {
    throw new Error(`${file} is not a 44-byte-header WAV`);
  }
  return {
    riffSize: b.readUInt32LE(4), format: b.readUInt16LE(20), channels: b.readUInt16LE(22), sampleRate: b.readUInt32LE(24),
    byteRate: b.readUInt32LE(28), blockAlign: b.readUInt16LE(32), bitsPerSample: b.readUInt16LE(34), dataSize: b.readUInt32LE(40),
    data: b.subarray(44), fileSize: b.length,
  };
}

/** ffprobe's view of the first stream (codec_name, sample_rate, channels, duration). */
export function ffprobe(file: string): { codec_name: string; sample_rate: string; channels: number; duration: string; bits_per_sample: number } {
  const out = execFileSync('ffprobe', ['-v', 'error', '-show_streams', '-of', 'json', file], { encoding: 'utf8' });
  return (JSON.parse(out) as { streams: any[] }).streams[0];
}

/** The SQLite file of a test server, opened read-only. */
export function readDb(server: Pick<TestServer, 'dataDir'>): Database.Database {
  return new Database(path.join(server.dataDir, 'meetcore.db'), { readonly: true, fileMustExist: true });
}

/** Run `fn` on a fresh read-only connection. */
export function query<T>(server: Pick<TestServer, 'dataDir'>, fn: (db: Database.Database) => T): T {
  const db = readDb(server);
  try { return fn(db); } finally { db.close(); }
}

/** Poll `fn` (sync or async) until it returns a truthy value (or throw after `timeoutMs`). */
export async function waitFor<T>(fn: () => T | undefined | null | false | Promise<T | undefined | null | false>, what: string, timeoutMs = 10_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Every file under `dir` (recursive), as paths relative to it. */
export function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((d) => d.isFile()).map((d) => path.relative(dir, path.join(d.parentPath, d.name)));
}

/**
 * The committed speech fixtures (test/fixtures/en-male.s16 and en-female.s16: mono s16le 48 kHz, made with
 * espeak-ng by make-fixtures.sh) as LiveKit sends them: stereo, each sample duplicated into both channels.
 * @returns [en-male, en-female] stereo PCM buffers.
 */
export function speechFixtures(): [Buffer, Buffer] {
  return [toStereoBytes(loadFixture('en-male').samples), toStereoBytes(loadFixture('en-female').samples)];
}
