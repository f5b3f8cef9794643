/**
 * `npm run bench -- burst [--rounds N]`: lossless ingest under bursts, through the real server (recordings on).
 * The cases of issue 19, each in its own meeting, one after another on one server:
 * - `one-30s`: one stream sends 30 s of 48 kHz stereo at once (what a network stall releases);
 * - `twenty-8s+2s`: 20 streams of one meeting, each an 8 s burst then 2 s at real time;
 * - `middle-2s`: 3 s at real time, a 2 s burst, 2 s more at real time.
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
  const { values } = parseArgs({ args, options: { rounds: { type: 'string', default: '1' } } });
  const rounds = Math.max(1, Number(values.rounds) || 1);
  const server = await startTestServer({ EGRESS_SECRET: SECRET });
  const out: Row[] = [];
  try {
    for (let r = 0; r < rounds; r++) for (const c of CASES) out.push(await runCase(server, c, r));
  } finally {
    await server.stop();
    fs.rmSync(server.storageDir, { recursive: true, force: true });
  }
  console.table(out.map((r) => ({
    case: r.case, streams: r.streams, 'sent MB': round(r.sentBytes / 1e6, 2), 'recorded MB': round(r.recordedBytes / 1e6, 2),
    'recorded = sent': r.identical && r.recordedBytes === r.sentBytes ? 'yes (byte for byte)' : 'NO', 'lost bytes': r.lostBytes,
    'RSS before MiB': r.rssBeforeMiB, 'RSS peak MiB': r.rssPeakMiB, 'RSS final MiB': r.rssFinalMiB, 'queued peak MiB': r.queuedPeakMiB, 'blocks peak': r.blocksPeak, 'wall s': r.wallSec,
  })));
  return { cases: out };
}
