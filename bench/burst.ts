/**
 * `npm run bench -- burst [--rounds N]`: lossless ingest under bursts, through the real server (recordings on).
 * The cases of issue 19, each in its own meeting, one after another on one server:
 * - `one-30s`: one stream sends 30 s of 48 kHz stereo at once (what a network stall releases);
 * - `twenty-8s+2s`: 20 streams of one meeting, each an 8 s burst then 2 s at real time;
 * - `middle-2s`: 3 s at real time, a 2 s burst, 2 s more at real time;
 * - `opens-1000` (`--opens N`, default 1,000): N streams connected, then their first 10 ms frames sent at once
 *   (their starts come together), 0.5 s more each in 100 ms frames at real time, and all closed at once, beside
 *   a stream of another meeting at real time (10 ms frames) from before the connects to after the closes. It
 *   also reports the server's longest event-loop block (`meetcore_event_loop_delay_max_seconds`) in each phase:
 *   connects, starts, data, closes (target for starts and closes: 5 ms per turn, issue 19).
 * `--only <case|opens>` runs one case.
 * Per case: bytes sent and recorded (the WAV data compared byte for byte with what was sent), lost bytes
 * (GET /health `egressOverflowBytes`), the server's RSS before, at its peak (sampled every 20 ms) and after
 * every stream is finalized and 1 s has passed (the queue blocks handed back), the largest queued bytes and
 * blocks in use seen in GET /metrics (sampled every 50 ms, so a shorter peak can be missed), and the wall time. Prints a table
 * and returns the rows (written to bench/results/burst.json).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type WebSocket from 'ws';
import { startTestServer, type TestServer } from '../test/helpers/server.js';
import { BYTES_PER_SEC, SECRET, closed, noisePcm, open, parseWav, query, sendBurst, sendRealTime, signedEgressUrl, waitFor } from '../test/egress/helpers.js';
import { rssKiB } from './_proc.js';
import { round, sleep } from './_util.js';

interface Case {
  name: string;
  streams: number;
  /** What each stream sends: [mode, seconds] in order. */
  plan: ['burst' | 'realtime', number][];
}

const CASES: Case[] = [
  { name: 'one-30s', streams: 1, plan: [['burst', 30]] },
  { name: 'twenty-8s+2s', streams: 20, plan: [['burst', 8], ['realtime', 2]] },
  { name: 'middle-2s', streams: 1, plan: [['realtime', 3], ['burst', 2], ['realtime', 2]] },
];

interface Row {
  case: string;
  streams: number;
  sentBytes: number;
  recordedBytes: number;
  identical: boolean;
  lostBytes: number;
  rssBeforeMiB: number;
  rssPeakMiB: number;
  rssFinalMiB: number;
  /** Largest queued bytes and queue blocks in use seen (GET /metrics, sampled every 50 ms). */
  queuedPeakMiB: number;
  blocksPeak: number;
  wallSec: number;
  /**
   * opens-N only: the server's longest event-loop block, ms, while the sockets connected; from the first frames
   * (all at once) until every stream started; while the rest streamed in 100 ms frames; from the closes (all
   * at once) until every row was finalized.
   */
  loopMaxMs?: { connects: number; starts: number; data: number; closes: number };
}

/** The server's longest event-loop block since the previous scrape, ms (src/loop-delay.ts). */
async function loopMaxMs(server: TestServer): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return Number(/\nmeetcore_event_loop_delay_max_seconds (\S+)/.exec(text)?.[1] ?? NaN) * 1000;
}

/** Every stream of `room` finalized: participant, path and bytes of each row. */
function finalized(server: TestServer, room: string, streams: number, what: string): Promise<{ participant: string; path: string; bytes: number }[]> {
  return waitFor(() => query(server, (db) => {
    const r = db.prepare("SELECT r.participant, r.path, r.bytes FROM recordings r JOIN sessions s ON s.meeting_id = r.meeting_id WHERE s.room_name = ? AND r.status != 'RECORDING'").all(room) as { participant: string; path: string; bytes: number }[];
    return r.length === streams ? r : undefined;
  }), what, 120_000);
}

/** Streams open in the engine now (GET /health `egressStreams`). */
async function streamsNow(server: TestServer): Promise<number> {
  return ((await (await fetch(`${server.url}/health`)).json()) as { egressStreams: number }).egressStreams;
}

/** The `opens-N` case (module comment). */
async function runOpens(server: TestServer, n: number, round_: number): Promise<Row> {
  const pid = server.proc.pid!;
  const room = `burst-opens-${round_}`;
  const rtRoom = `burst-opens-rt-${round_}`;
  const lostBefore = (await health(server)).egressOverflowBytes;
  const rssBefore = rssKiB(pid);
  let peak = rssBefore;
  const sampler = setInterval(() => { peak = Math.max(peak, rssKiB(pid)); }, 20);
  const t0 = Date.now();
  const FIRST = BYTES_PER_SEC / 100;
  const FRAME = BYTES_PER_SEC / 10;
  const sent = Array.from({ length: n }, (_, i) => noisePcm(0.51, round_ * 100_000 + i + 1));
  const rtSent = noisePcm(12, round_ * 100_000 + 99_999);
  const rt = await open(signedEgressUrl(server, { roomName: rtRoom, participant: 'realtime' }));
  const rtDone = sendRealTime(rt, rtSent).then(async () => { const c = closed(rt); rt.close(); await c; });
  await sleep(1000);
  await loopMaxMs(server);
  const sockets: WebSocket[] = [];
  for (let i = 0; i < n; i += 100) sockets.push(...await Promise.all(sent.slice(i, i + 100).map((_, k) => open(signedEgressUrl(server, { roomName: room, participant: `p${i + k}` })))));
  const loop: Record<'connects' | 'starts' | 'data' | 'closes', number> = { connects: await loopMaxMs(server), starts: NaN, data: NaN, closes: NaN };
  // Every first frame (10 ms) at once: the starts come together.
  sockets.forEach((ws, i) => ws.send(sent[i]!.subarray(0, FIRST), { binary: true }));
  await waitFor(async () => (await streamsNow(server)) >= n + 1, `opens-${n}: every stream started`, 60_000);
  loop.starts = await loopMaxMs(server);
  // The rest in 100 ms frames at real time (the data path), then every close at once.
  for (let off = FIRST; off < sent[0]!.length; off += FRAME) {
    sockets.forEach((ws, i) => ws.send(sent[i]!.subarray(off, off + FRAME), { binary: true }));
    await sleep(100);
  }
  loop.data = await loopMaxMs(server);
  await Promise.all(sockets.map((ws) => { const c = closed(ws); ws.close(); return c; }));
  const rows = await finalized(server, room, n, `opens-${n}: every stream finalized`);
  loop.closes = await loopMaxMs(server);
  await rtDone;
  const [rtRow] = await finalized(server, rtRoom, 1, `opens-${n}: the real-time stream finalized`);
  const wallSec = (Date.now() - t0) / 1000;
  await sleep(1000);
  clearInterval(sampler);
  let recordedBytes = 0;
  let identical = true;
  for (const r of rows) {
    const data = parseWav(path.join(server.storageDir, r.path)).data;
    recordedBytes += data.length;
    identical &&= data.equals(sent[Number(r.participant.slice(1))]!);
  }
  const rtData = parseWav(path.join(server.storageDir, rtRow!.path)).data;
  recordedBytes += rtData.length;
  identical &&= rtData.equals(rtSent);
  return {
    case: `opens-${n}`, streams: n + 1, sentBytes: sent.reduce((k, b) => k + b.length, rtSent.length), recordedBytes, identical,
    lostBytes: (await health(server)).egressOverflowBytes - lostBefore,
    rssBeforeMiB: round(rssBefore / 1024, 1), rssPeakMiB: round(peak / 1024, 1), rssFinalMiB: round(rssKiB(pid) / 1024, 1),
    queuedPeakMiB: NaN, blocksPeak: NaN, wallSec: round(wallSec, 2),
    loopMaxMs: { connects: round(loop.connects, 1), starts: round(loop.starts, 1), data: round(loop.data, 1), closes: round(loop.closes, 1) },
  };
}

/** Queued bytes and blocks in use now, from GET /metrics. */
async function queueNow(server: TestServer): Promise<{ queued: number; blocks: number }> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const v = (re: RegExp): number => Number(re.exec(text)?.[1] ?? 0);
  return { queued: v(/\nmeetcore_egress_queued_bytes (\S+)/), blocks: v(/\nmeetcore_egress_queue_blocks\{state="in_use"\} (\S+)/) };
}

async function health(server: TestServer): Promise<{ egressOverflowBytes: number }> {
  return (await fetch(`${server.url}/health`)).json() as Promise<{ egressOverflowBytes: number }>;
}

async function runCase(server: TestServer, c: Case, round_: number): Promise<Row> {
  const pid = server.proc.pid!;
  const room = `burst-${c.name}-${round_}`;
  const lostBefore = (await health(server)).egressOverflowBytes;
  const rssBefore = rssKiB(pid);
  let peak = rssBefore;
  const sampler = setInterval(() => { peak = Math.max(peak, rssKiB(pid)); }, 20);
  let queuedPeak = 0, blocksPeak = 0;
  const queueSampler = setInterval(() => {
    void queueNow(server).then((q) => { queuedPeak = Math.max(queuedPeak, q.queued); blocksPeak = Math.max(blocksPeak, q.blocks); }, () => {});
  }, 50);
  const t0 = Date.now();
  const sent = Array.from({ length: c.streams }, (_, i) => Buffer.concat(c.plan.map(([, sec], k) => noisePcm(sec, round_ * 1000 + i * 10 + k + 1))));
  const sockets: WebSocket[] = await Promise.all(sent.map((_, i) => open(signedEgressUrl(server, { roomName: room, participant: `p${i}` }))));
  await Promise.all(sockets.map(async (ws, i) => {
    let off = 0;
    for (const [mode, sec] of c.plan) {
      const part = sent[i]!.subarray(off, off + sec * BYTES_PER_SEC);
      off += part.length;
      await (mode === 'burst' ? sendBurst(ws, part) : sendRealTime(ws, part));
    }
    const done = closed(ws);
    ws.close();
    await done;
  }));
  const rows = await waitFor(() => query(server, (db) => {
    const r = db.prepare("SELECT r.participant, r.path, r.bytes FROM recordings r JOIN sessions s ON s.meeting_id = r.meeting_id WHERE s.room_name = ? AND r.status != 'RECORDING'").all(room) as { participant: string; path: string; bytes: number }[];
    return r.length === c.streams ? r : undefined;
  }), `${c.name}: every stream finalized`, 120_000);
  const wallSec = (Date.now() - t0) / 1000;
  await sleep(1000);
  clearInterval(sampler);
  clearInterval(queueSampler);
  let recordedBytes = 0;
  let identical = true;
  for (const r of rows) {
    const i = Number(r.participant.slice(1));
    const data = parseWav(path.join(server.storageDir, r.path)).data;
    recordedBytes += data.length;
    identical &&= data.equals(sent[i]!);
  }
  return {
    case: c.name, streams: c.streams, sentBytes: sent.reduce((n, b) => n + b.length, 0), recordedBytes, identical,
    lostBytes: (await health(server)).egressOverflowBytes - lostBefore,
    rssBeforeMiB: round(rssBefore / 1024, 1), rssPeakMiB: round(peak / 1024, 1), rssFinalMiB: round(rssKiB(pid) / 1024, 1),
    queuedPeakMiB: round(queuedPeak / 1048576, 2), blocksPeak, wallSec: round(wallSec, 2),
  };
}

/** Runs every case `--rounds` times (default 1) on one server; returns the rows. */
export async function run(args: string[]): Promise<object> {
  const { values } = parseArgs({ args, options: { rounds: { type: 'string', default: '1' }, opens: { type: 'string', default: '1000' }, only: { type: 'string' } } });
  const rounds = Math.max(1, Number(values.rounds) || 1);
  const opens = Math.max(1, Number(values.opens) || 1000);
  const only = values.only;
  const server = await startTestServer({ EGRESS_SECRET: SECRET });
  const out: Row[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      for (const c of CASES) if (!only || only === c.name) out.push(await runCase(server, c, r));
      if (!only || only === 'opens') out.push(await runOpens(server, opens, r));
    }
  } finally {
    await server.stop();
    fs.rmSync(server.storageDir, { recursive: true, force: true });
  }
  console.table(out.map((r) => ({
    case: r.case, streams: r.streams, 'sent MB': round(r.sentBytes / 1e6, 2), 'recorded MB': round(r.recordedBytes / 1e6, 2),
    'recorded = sent': r.identical && r.recordedBytes === r.sentBytes ? 'yes (byte for byte)' : 'NO', 'lost bytes': r.lostBytes,
    'RSS before MiB': r.rssBeforeMiB, 'RSS peak MiB': r.rssPeakMiB, 'RSS final MiB': r.rssFinalMiB, 'queued peak MiB': r.queuedPeakMiB, 'blocks peak': r.blocksPeak, 'wall s': r.wallSec,
    'loop max ms: connects / starts / data / closes': r.loopMaxMs ? `${r.loopMaxMs.connects} / ${r.loopMaxMs.starts} / ${r.loopMaxMs.data} / ${r.loopMaxMs.closes}` : '',
  })));
  return { cases: out };
}
