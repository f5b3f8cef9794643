/**
 * `npm run bench -- meeting [--meetings 50] [--participants 6] [--seconds 40] [--snr dB] [--ingest-cpu µs]
 *   [--baseline FILE] [--save-baseline] [--server-cpus 0] [--client-cpus 1]`
 *
 * M meetings × P participants of real speech (the committed fixtures) streamed at real time through
 * /egress-audio into a real server with feedback on. Each meeting follows a script (src/loadtest/script.ts):
 * participants take turns (one fixture clip each, 1 s apart) and the second turn and every third after it start
 * 2.5 s before the previous one ends (a scripted interruption), with a short backchannel in the turn after each
 * interruption; `--snr` adds seeded white noise at that SNR to every track (the truth stays the clean one).
 * Reports, from one run:
 *  - feedback delivery latency p50/p95/p99 (wall clock of delivery − the stream-clock moment the rule became
 *    true, as stored in feedback_events.latency_ms);
 *  - server CPU per stream-second (utime+stime of the server process over the streaming window);
 *  - event-loop delay p99 (prom-client nodejs_eventloop_lag_p99_seconds at the end);
 *  - speech_overlap precision and recall against the script's truth (src/loadtest/script.ts: talk spurts with
 *    pauses under 300 ms bridged intersecting ≥ 500 ms, the later spurt ≥ 1 s; a detection matches a truth of
 *    the same pair starting within 1 s or intersecting it, each at most once), how many matched ones name the
 *    right interrupter, and how many unmatched ones fall on a scripted backchannel.
 * Targets (reported, not asserted): CPU per stream-second ≤ 1.5 × the ingest figure (meetcore, 20 ms frames,
 * from `--ingest-cpu` or else bench/results/ingest.json), event-loop p99 ≤ 5 ms, delivery p95 ≤ 100 ms,
 * overlap precision and recall unchanged (≥) against the stored baseline (bench/baselines/meeting.json, written
 * by `--save-baseline` from a run's own figures, compared only at the same meetings × participants × seconds,
 * SNR and truth definition; without one they are reported, marked n/a).
 * The server runs on `--server-cpus` and this process (the load) on `--client-cpus` (taskset; 'none' = no pinning).
 */
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import Database from 'better-sqlite3';
import { parseArgs } from 'node:util';
import { toStereoBytes } from '../src/loadtest/fixtures.js';
import { TRUTH, matchOverlaps, meetingScript, type DetectedOverlap } from '../src/loadtest/script.js';
import { ROOT, startTestServer } from '../test/helpers/server.js';
import { SECRET, signedEgressUrl } from '../test/egress/helpers.js';
import { cpuUs } from './_proc.js';
import { printTargets, target } from './_targets.js';
import { cpuOption, pct, pin, round } from './_util.js';

const FRAME_MS = 20;
const FRAME_BYTES = (48000 * FRAME_MS / 1000) * 4;

/** meetcore's CPU µs per stream-second from the last ingest run at 20 ms frames (bench/results/ingest.json), if any. */
function ingestFigure(): { cpuUsPerStreamSec: number; streams: number; at: string } | null {
  try {
    const j = JSON.parse(fs.readFileSync(path.join(ROOT, 'bench', 'results', 'ingest.json'), 'utf8')) as {
      at: string; results: { runs?: { frameMs: number; streams: number; variants: { variant: string; cpuUsPerStreamSec: number }[] }[] };
    };
    const run = j.results.runs?.find((r) => r.frameMs === FRAME_MS && r.variants.some((v) => v.variant === 'meetcore'));
    const v = run?.variants.find((x) => x.variant === 'meetcore');
    return run && v ? { cpuUsPerStreamSec: v.cpuUsPerStreamSec, streams: run.streams, at: j.at } : null;
  } catch { return null; }
}

interface Baseline { meetings: number; participants: number; seconds: number; snrDb?: number | null; truth?: string; precision: number; recall: number; at: string }

export async function run(args: string[]): Promise<object> {
  const { values } = parseArgs({
    args,
    options: {
      meetings: { type: 'string', default: '50' }, participants: { type: 'string', default: '6' }, seconds: { type: 'string', default: '40' }, snr: { type: 'string' },
      'ingest-cpu': { type: 'string' }, baseline: { type: 'string', default: path.join(ROOT, 'bench', 'baselines', 'meeting.json') },
      'save-baseline': { type: 'boolean', default: false }, 'server-cpus': { type: 'string' }, 'client-cpus': { type: 'string' },
    },
  });
  const M = Number(values.meetings), P = Number(values.participants), S = Number(values.seconds);
  const snrDb = values.snr === undefined ? null : Number(values.snr);
  if (!(M >= 1 && P >= 2 && S >= 15) || (snrDb !== null && !(snrDb >= -30 && snrDb <= 100))) throw new Error('usage: meeting [--meetings N≥1] [--participants N≥2] [--seconds S≥15] [--snr dB, -30..100] [--ingest-cpu µs] [--baseline FILE] [--save-baseline] [--server-cpus L|none] [--client-cpus L|none]');
  const serverCpus = cpuOption(values['server-cpus'], '0');
  const clientCpus = cpuOption(values['client-cpus'], '1');
  process.stdout.write(`meeting: ${M} meetings × ${P} participants, ${S} s of real-time speech each, ${snrDb === null ? 'clean' : `white noise at SNR ${snrDb} dB`}…\n`);
  const server = await startTestServer({ EGRESS_SECRET: SECRET });
  pin(server.proc.pid, serverCpus);
  pin(process.pid, clientCpus);
  try {
    const meetings = Array.from({ length: M }, (_, m) => {
      const participants = Array.from({ length: P }, (_, i) => `p${i}`);
      return { id: `MT_bench_${m}`, participants, ...meetingScript(participants, S, m, { snrDb }) };
    });
    const streams: { ws: WebSocket; bytes: Buffer; off: number; phase: number }[] = [];
    for (const [m, meeting] of meetings.entries()) {
      for (const [i, p] of meeting.participants.entries()) {
        const ws = new WebSocket(signedEgressUrl(server, { roomName: `room-${m}`, participant: p, trackId: `TR_${p}`, meetingId: meeting.id }), { perMessageDeflate: false });
        await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
        streams.push({ ws, bytes: toStereoBytes(meeting.tracks[i]!), off: 0, phase: 0 });
      }
    }
    // One meeting's streams send in the same tick (their clocks start together); meetings are spread over a frame.
    streams.forEach((s, k) => { s.phase = (Math.floor(k / P) / M) * FRAME_MS; });
    await fetch(`${server.url}/metrics`); // a /metrics read resets the event-loop histogram: p99 of the streaming window only
    const cpu0 = cpuUs(server.proc.pid!);
    const t0 = performance.now();
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const now = performance.now() - t0;
        let open = 0;
        for (const s of streams) {
          const due = Math.min(s.bytes.length, (Math.floor((now - s.phase) / FRAME_MS) + 1) * FRAME_BYTES);
          while (s.off < due) { s.ws.send(s.bytes.subarray(s.off, s.off + FRAME_BYTES), { binary: true }); s.off += FRAME_BYTES; }
          if (s.off < s.bytes.length) open++;
        }
        if (open === 0) { clearInterval(timer); resolve(); }
      }, 5);
    });
    const wallSec = (performance.now() - t0) / 1000;
    const cpuSec = (cpuUs(server.proc.pid!) - cpu0) / 1e6;
    const metricsText = await (await fetch(`${server.url}/metrics`)).text();
    const loopP99Ms = Number(/^nodejs_eventloop_lag_p99_seconds\s+(\S+)/m.exec(metricsText)?.[1] ?? NaN) * 1000;
    await Promise.all(streams.map((s) => new Promise<void>((r) => { s.ws.once('close', () => r()); s.ws.close(); setTimeout(r, 5000).unref(); })));
    await new Promise((r) => setTimeout(r, 1500));

    const db = new Database(path.join(server.dataDir, 'meetcore.db'), { readonly: true });
    const latencies = (db.prepare('SELECT latency_ms FROM feedback_events ORDER BY latency_ms').all() as { latency_ms: number }[]).map((r) => r.latency_ms);
    const kinds = db.prepare('SELECT kind, COUNT(*) AS n FROM feedback_events GROUP BY kind').all() as { kind: string; n: number }[];
    let tp = 0, detected = 0, scripted = 0, rightInterrupter = 0, backchannels = 0, onBackchannels = 0;
    for (const meeting of meetings) {
      const origin = (db.prepare('SELECT MIN(started_at) AS t FROM recordings WHERE meeting_id = ?').get(meeting.id) as { t: number }).t;
      const found = (db.prepare("SELECT participant_id, metadata, window_start, window_end FROM feedback_events WHERE meeting_id = ? AND kind = 'speech_overlap'").all(meeting.id) as { participant_id: string; metadata: string; window_start: number; window_end: number }[])
        .map((r): DetectedOverlap => ({ by: r.participant_id, pair: (JSON.parse(r.metadata) as { participants: string[] }).participants, startMs: r.window_start - origin, endMs: r.window_end - origin }));
      detected += found.length;
      scripted += meeting.overlaps.length;
      backchannels += meeting.backchannels.length;
      const r = matchOverlaps(meeting.overlaps, found);
      tp += r.matched;
      rightInterrupter += r.rightInterrupter;
      onBackchannels += matchOverlaps(meeting.backchannels.map((b) => ({ a: b.to, b: b.by, startMs: b.startMs, endMs: b.endMs })), r.unmatched).matched;
    }
    db.close();
    const streamSeconds = M * P * S;
    const ingestArg = values['ingest-cpu'] !== undefined ? Number(values['ingest-cpu']) : null;
    const ingest = ingestArg !== null ? { cpuUsPerStreamSec: ingestArg, streams: null, at: 'option --ingest-cpu' } : ingestFigure();
    let baseline: Baseline | null = null;
    try { baseline = JSON.parse(fs.readFileSync(values.baseline, 'utf8')) as Baseline; } catch { /* none stored */ }
    // Precision and recall depend on the scripts, hence on the scale, the noise and the truth's definition:
    // compare only with a baseline of the same ones.
    const sameScale = baseline !== null && baseline.meetings === M && baseline.participants === P && baseline.seconds === S;
    const sameTruth = baseline !== null && baseline.truth === TRUTH && (baseline.snrDb ?? null) === snrDb;
    if (baseline && !sameScale) process.stdout.write(`overlap baseline is for ${baseline.meetings} × ${baseline.participants} × ${baseline.seconds} s, this run ${M} × ${P} × ${S} s: not compared\n`);
    else if (baseline && !sameTruth) process.stdout.write(`overlap baseline is for ${baseline.truth ? `truth ${baseline.truth}` : 'an older truth'}, SNR ${baseline.snrDb ?? 'clean'}; this run truth ${TRUTH}, SNR ${snrDb ?? 'clean'}: not compared\n`);
    const ref = sameScale && sameTruth ? baseline : null;
    const cpuUsPerStreamSec = Math.round((cpuSec * 1e6) / streamSeconds);
    const precision = detected ? round(tp / detected, 3) : NaN;
    const recall = scripted ? round(tp / scripted, 3) : NaN;
    const result = {
      options: { meetings: M, participants: P, seconds: S, snrDb, serverCpus, clientCpus },
      meetings: M, participants: P, seconds: S, wallSec: round(wallSec, 1),
      deliveryMs: { p50: pct(latencies, 0.5), p95: pct(latencies, 0.95), p99: pct(latencies, 0.99), events: latencies.length },
      feedbackByKind: Object.fromEntries(kinds.map((k) => [k.kind, k.n])),
      serverCpuUsPerStreamSec: cpuUsPerStreamSec,
      serverCoresUsed: round(cpuSec / wallSec, 2),
      eventLoopP99Ms: round(loopP99Ms, 2),
      overlap: { truth: TRUTH, scripted, detected, truePositives: tp, precision, recall, rightInterrupter, backchannels, detectedOnBackchannels: onBackchannels },
      ingest,
      baseline,
      ratios: { cpuOverIngest: ingest ? round(cpuUsPerStreamSec / ingest.cpuUsPerStreamSec, 2) : null },
      targets: [
        target('CPU per stream-second / ingest figure', ingest ? round(cpuUsPerStreamSec / ingest.cpuUsPerStreamSec, 2) : null, '<=', 1.5, '×'),
        target('event-loop p99', round(loopP99Ms, 2), '<=', 5, 'ms'),
        target('feedback delivery p95', pct(latencies, 0.95), '<=', 100, 'ms'),
        target('overlap precision (unchanged vs baseline)', precision, '>=', ref?.precision ?? null),
        target('overlap recall (unchanged vs baseline)', recall, '>=', ref?.recall ?? null),
      ],
    };
    console.table([{ 'delivery p50 ms': result.deliveryMs.p50, 'p95 ms': result.deliveryMs.p95, 'p99 ms': result.deliveryMs.p99, events: latencies.length,
      'CPU µs/stream-s': cpuUsPerStreamSec, 'ingest µs/stream-s': ingest?.cpuUsPerStreamSec ?? '—', 'vs ingest': result.ratios.cpuOverIngest ?? '—',
      'cores used': result.serverCoresUsed, 'loop p99 ms': result.eventLoopP99Ms }]);
    console.table([{ scripted, detected, 'true positives': tp, precision, recall, 'right interrupter': rightInterrupter, backchannels, 'on backchannels': onBackchannels, 'baseline precision': ref?.precision ?? '—', 'baseline recall': ref?.recall ?? '—' }]);
    if (!ingest) process.stdout.write('no ingest figure: run `npm run bench -- ingest` first (20 ms frames) or pass --ingest-cpu\n');
    if (!baseline) process.stdout.write(`no overlap baseline at ${path.relative(process.cwd(), values.baseline)}: precision and recall reported only (--save-baseline stores this run's)\n`);
    printTargets(result.targets);
    if (values['save-baseline']) {
      const b: Baseline = { meetings: M, participants: P, seconds: S, snrDb, truth: TRUTH, precision, recall, at: new Date().toISOString() };
      fs.mkdirSync(path.dirname(values.baseline), { recursive: true });
      fs.writeFileSync(values.baseline, `${JSON.stringify(b, null, 2)}\n`);
      process.stdout.write(`overlap baseline written to ${path.relative(process.cwd(), values.baseline)}\n`);
    }
    return result;
  } finally {
    await server.stop();
  }
}
