/**
 * Benchmark baseline for `npm run bench -- ingest`, variants seed and seed-wav: the seed-style pipeline
 * meetcore replaces: the `ws` package on node:http, each binary message appended with Buffer.concat, then cut
 * into 10 ms frames whose RMS (dBFS, stereo downmixed) is computed in JS with readInt16LE.
 * With SEED_WAV_DIR set (variant seed-wav) it also records the way the seed does: the received PCM is kept in
 * a list of chunks and every SEED_FLUSH_SEC (default 1) each stream flushes it as a new WAV file (44-byte
 * header + Buffer.concat of the chunks, fs.promises.writeFile) in that folder.
 * `GET /loop` answers its event-loop delay p99 since the previous read (bench/_loop.ts).
 * Prints `{"port":N}` once listening. Run: node --import tsx bench/_seed_baseline.ts
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { WebSocketServer } from 'ws';
import { readLoop } from './_loop.js';

const FRAME_BYTES = 1920; // 10 ms of 48 kHz stereo s16le
const WAV_DIR = process.env.SEED_WAV_DIR ?? '';
const FLUSH_MS = Number(process.env.SEED_FLUSH_SEC ?? '1') * 1000;
const server = http.createServer((req, res) => {
  if (req.url === '/loop') { res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(readLoop())); return; }
  res.writeHead(404).end();
});
const wss = new WebSocketServer({ server, path: '/egress-audio', maxPayload: 1024 * 1024 });
let sink = 0;
let nextId = 0;

function rmsDbfs(frame: Buffer): number {
  let sum = 0;
  for (let i = 0; i + 3 < frame.length; i += 4) {
    const m = (frame.readInt16LE(i) + frame.readInt16LE(i + 2)) / 2;
    sum += m * m;
  }
  const rms = Math.sqrt(sum / (frame.length / 4));
  return rms > 0 ? 20 * Math.log10(rms / 32767) : -Infinity;
}

function wavHeader(dataBytes: number): Buffer {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0); h.writeUInt32LE(36 + dataBytes, 4); h.write('WAVE', 8);
  h.write('fmt ', 12); h.writeUInt32LE(16, 16); h.writeUInt16LE(1, 20); h.writeUInt16LE(2, 22);
  h.writeUInt32LE(48000, 24); h.writeUInt32LE(48000 * 4, 28); h.writeUInt16LE(4, 32); h.writeUInt16LE(16, 34);
  h.write('data', 36); h.writeUInt32LE(dataBytes, 40);
  return h;
}

wss.on('connection', (ws) => {
  let pending = Buffer.alloc(0);
  const id = nextId++;
  let chunks: Buffer[] = [];
  let bytes = 0;
  let part = 0;
  const flush = () => {
    if (!bytes) return;
    const file = path.join(WAV_DIR, `stream-${id}-${part++}.wav`);
    const data = Buffer.concat([wavHeader(bytes), ...chunks]);
    chunks = [];
    bytes = 0;
    fs.promises.writeFile(file, data).catch((err: Error) => process.stderr.write(`seed-wav: ${err.message}\n`));
  };
  const timer = WAV_DIR ? setInterval(flush, FLUSH_MS) : null;
  ws.on('message', (data: Buffer, isBinary) => {
    if (!isBinary) return;
    if (WAV_DIR) { chunks.push(data); bytes += data.length; }
    pending = Buffer.concat([pending, data]);
    while (pending.length >= FRAME_BYTES) {
      sink += rmsDbfs(pending.subarray(0, FRAME_BYTES));
      pending = pending.subarray(FRAME_BYTES);
    }
  });
  ws.on('close', () => { if (timer) clearInterval(timer); flush(); });
});
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof addr === 'object' && addr ? addr.port : 0 })}\n`);
});
process.on('SIGTERM', () => { process.stdout.write(`${JSON.stringify({ sink: Number.isFinite(sink) })}\n`); process.exit(0); });
