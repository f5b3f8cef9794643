/**
 * Client process of `npm run bench -- ingest` (forked with an IPC channel): holds a share of the LiveKit-like
 * egress streams and sends each one real-time PCM (stereo 48 kHz s16le) in `frameMs` frames, paced against
 * the clock with per-stream phases spread over one frame period (golden-ratio spacing, so the server sees
 * unsynchronized streams, as from LiveKit, also when streams are added step by step by `--ramp`).
 *
 * The PCM is the speech fixtures, looped. Messages from the parent:
 *  {cmd:'connect', urls, frameMs, frameBytes} → {connected:n}: opens more streams (added to those already
 *    open; a new stream starts sending from the moment it opens);
 *  {cmd:'count'} → {sent, late, maxBacklogBytes}: frames sent, late ticks (a stream more than 2 frames behind
 *    its schedule when the sender got to it: the load itself fell behind), and the largest send backlog of any
 *    stream (ws bufferedAmount: bytes the server has not read yet) since the previous count;
 *  {cmd:'close'} → {closed:n}.
 */
import WebSocket from 'ws';
import { speechFixtures } from '../test/egress/helpers.js';

interface Stream { ws: WebSocket; phaseMs: number; sent: number; offset: number }

const reply = (m: object) => process.send!(m);
const streams: Stream[] = [];
const pcm = Buffer.concat(speechFixtures());
const PHI = 0.6180339887498949;
let frameMs = 20;
let frameBytes = 3840;
let timer: NodeJS.Timeout | null = null;
let t0 = 0;
let sent = 0;
let late = 0;
let maxBacklog = 0;
let opened = 0;

const dueOf = (s: Stream, now: number) => Math.floor((now - s.phaseMs) / frameMs) + 1;

function tick(): void {
  const now = performance.now() - t0;
  for (const s of streams) {
    const due = dueOf(s, now);
    if (due - s.sent > 2) late++;
    while (s.sent < due) {
      if (s.offset + frameBytes > pcm.length) s.offset = 0;
      s.ws.send(pcm.subarray(s.offset, s.offset + frameBytes), { binary: true });
      s.offset += frameBytes;
      s.sent++;
      sent++;
    }
    const b = s.ws.bufferedAmount;
    if (b > maxBacklog) maxBacklog = b;
  }
}

process.on('message', async (m: { cmd: string; urls?: string[]; frameMs?: number; frameBytes?: number }) => {
  if (m.cmd === 'connect') {
    frameMs = m.frameMs!;
    frameBytes = m.frameBytes!;
    if (!timer) t0 = performance.now();
    const added = await Promise.all(m.urls!.map((url) => new Promise<Stream>((resolve, reject) => {
      const k = opened++;
      const ws = new WebSocket(url, { perMessageDeflate: false });
      // Each stream starts at a different place of the speech (a whole number of frames in).
      const offset = (k * 7919 * frameBytes) % (pcm.length - (pcm.length % frameBytes));
      ws.once('open', () => {
        const s: Stream = { ws, phaseMs: ((k * PHI) % 1) * frameMs, sent: 0, offset };
        s.sent = dueOf(s, performance.now() - t0) - 1; // its first frame is the one due now
        resolve(s);
      });
      ws.once('error', reject);
    })));
    streams.push(...added);
    if (!timer) timer = setInterval(tick, 2);
    reply({ connected: added.length });
  } else if (m.cmd === 'count') {
    reply({ sent, late, maxBacklogBytes: maxBacklog });
    maxBacklog = 0;
  } else if (m.cmd === 'close') {
    if (timer) clearInterval(timer);
    await Promise.all(streams.map((s) => new Promise<void>((resolve) => {
      s.ws.once('close', () => resolve());
      s.ws.close();
      setTimeout(resolve, 3000).unref();
    })));
    reply({ closed: streams.length });
    process.exit(0);
  }
});
