/**
 * Benchmark baseline for `npm run bench -- ingest`, variant (c): the seed-style pipeline meetcore replaces:
 * the `ws` package on node:http, each binary message appended with Buffer.concat, then cut into 10 ms
 * frames whose RMS (dBFS, stereo downmixed) is computed in JS with readInt16LE. Prints `{"port":N}` once
 * listening. Run: node --import tsx bench/_seed_baseline.ts
 */
import http from 'node:http';
import { WebSocketServer } from 'ws';

const FRAME_BYTES = 1920; // 10 ms of 48 kHz stereo s16le
const server = http.createServer((_req, res) => { res.writeHead(404).end(); });
const wss = new WebSocketServer({ server, path: '/egress-audio', maxPayload: 1024 * 1024 });
let sink = 0;

function rmsDbfs(frame: Buffer): number {
  let sum = 0;
  for (let i = 0; i + 3 < frame.length; i += 4) {
    const m = (frame.readInt16LE(i) + frame.readInt16LE(i + 2)) / 2;
    sum += m * m;
  }
  const rms = Math.sqrt(sum / (frame.length / 4));
  return rms > 0 ? 20 * Math.log10(rms / 32767) : -Infinity;
}

wss.on('connection', (ws) => {
  let pending = Buffer.alloc(0);
  ws.on('message', (data: Buffer, isBinary) => {
    if (!isBinary) return;
    pending = Buffer.concat([pending, data]);
    while (pending.length >= FRAME_BYTES) {
      sink += rmsDbfs(pending.subarray(0, FRAME_BYTES));
      pending = pending.subarray(FRAME_BYTES);
    }
  });
});
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof addr === 'object' && addr ? addr.port : 0 })}\n`);
});
process.on('SIGTERM', () => { process.stdout.write(`${JSON.stringify({ sink: Number.isFinite(sink) })}\n`); process.exit(0); });
