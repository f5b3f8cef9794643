/**
 * Client process of `npm run bench -- ingest` (forked with an IPC channel): holds a share of the LiveKit-like egress streams and sends
 * each one real-time PCM (stereo 48 kHz s16le) in `frameMs` frames, paced against the clock with per-stream
 * phases spread over one frame period (so the server sees unsynchronized streams, as from LiveKit).
 *
 * The PCM is the speech fixtures, looped. Messages from the parent: {cmd:'connect', urls, frameMs,
 * frameBytes} → {connected:n};
 * {cmd:'count'} → {sent:n, late:n}; {cmd:'close'} → {closed:n}.
 */
import WebSocket from 'ws';
import { speechFixtures } from '../test/egress/helpers.js';

interface Stream { ws: WebSocket; phaseMs: number; sent: number; offset: number }

const reply = (m: object) => process.send!(m);
let streams: Stream[] = [];
const pcm = Buffer.concat(speechFixtures());
let frameMs = 20;
let frameBytes = 3840;
let timer: NodeJS.Timeout | null = null;
let t0 = 0;
let sent = 0;
let late = 0;

function tick(): void {
  const now = performance.now() - t0;
  for (const s of streams) {
    const due = Math.floor((now - s.phaseMs) / frameMs) + 1;
    if (due - s.sent > 2) late++;
    while (s.sent < due) {
      if (s.offset + frameBytes > pcm.length) s.offset = 0;
      s.ws.send(pcm.subarray(s.offset, s.offset + frameBytes), { binary: true });
      s.offset += frameBytes;
      s.sent++;
      sent++;
    }
  }
}

process.on('message', async (m: { cmd: string; urls?: string[]; frameMs?: number; frameBytes?: number }) => {
  if (m.cmd === 'connect') {
    frameMs = m.frameMs!;
    frameBytes = m.frameBytes!;
    const n = m.urls!.length;
    streams = await Promise.all(m.urls!.map((url, i) => new Promise<Stream>((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      // Each stream starts at a different place of the speech (a whole number of frames in).
      const offset = (i * 7919 * frameBytes) % (pcm.length - (pcm.length % frameBytes));
      ws.once('open', () => resolve({ ws, phaseMs: (i / n) * frameMs, sent: 0, offset }));
      ws.once('error', reject);
    })));
    t0 = performance.now();
    timer = setInterval(tick, 2);
    reply({ connected: streams.length });
  } else if (m.cmd === 'count') {
    reply({ sent, late });
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
