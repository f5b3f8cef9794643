/**
 * `npm run bench -- meeting [--meetings 50] [--participants 6] [--seconds 40] [--snr dB] [--ingest-cpu µs]
 *   [--baseline FILE] [--save-baseline] [--server-cpus 0] [--client-cpus 1]`
 *
 * M meetings × P participants of real speech (the committed fixtures) streamed at real time through
 * /egress-audio into a real server with feedback on. Each meeting follows a script (src/loadtest/script.ts):
 * participants take turns (one fixture clip each, 1 s apart) and the second turn and every third after it start
 * 2.5 s before the previous one ends (a scripted interruption), with a short backchannel in the turn after each
 * interruption; `--snr` adds seeded white noise at that SNR to every track (the truth stays the clean one).
 * The meetings start one after another, as meetings do: each one's P streams send their first frame in the same
 * tick, and the next meeting starts once the server has opened those (GET /health `egressStreams`); every stream
 * then sends one 20 ms frame per 20 ms from its own start (after a stall of the bench itself, catching up at most
 * 4× real time rather than in one burst the server's ring could not hold). (Opening all M × P streams in the same tick made the
 * server spend seconds on the opens with every socket's input queueing in the kernel; uWS then handed each
 * stream seconds of backlog at once, more than its 1 s ring held then, and the rest was dropped; the ring is now a
 * queue bounded by AUDIO_STREAM_QUEUE_MS, 60 s by default.) After the last frame the sockets are closed and the bench waits until the server has finalized
 * every stream (all audio analysed, the feedback stored) before reading the database.
 * Audio accounting: bytes sent, received (meetcore_egress_received_bytes_total), dropped by full rings
 * (egressOverflowBytes) and recorded (recordings.bytes). A run in which the server did not analyse every byte
 * sent says so: a warning, `audio.complete: false`, the target 'audio lost' NOT met, precision and recall
 * marked as not measuring the detector (and never saved as a baseline). Also reported: how late the sender
 * was (its own stalls send a burst) and the spread of the stream-clock origins within a meeting.
 * Reports, from one run:
 *  - feedback delivery latency p50/p95/p99 (wall clock of delivery − the stream-clock moment the rule became
 *    true, as stored in feedback_events.latency_ms), over all events and per kind;
 *  - server CPU per stream-second (utime+stime of the server process over the streaming window);
 *  - event-loop delay p99 (meetcore_event_loop_delay_p99_seconds at the end: since the previous scrape);
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
import { parseText, total } from '../src/loadtest/metrics.js';
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
      'keep-data': { type: 'boolean', default: false },
    },
  });
  const M = Number(values.meetings), P = Number(values.participants), S = Number(values.seconds);
  const snrDb = values.snr === undefined ? null : Number(values.snr);
  if (!(M >= 1 && P >= 2 && S >= 15) || (snrDb !== null && !(snrDb >= -30 && snrDb <= 100))) throw new Error('usage: meeting [--meetings N≥1] [--participants N≥2] [--seconds S≥15] [--snr dB, -30..100] [--ingest-cpu µs] [--baseline FILE] [--save-baseline] [--server-cpus L|none] [--client-cpus L|none] [--keep-data]');
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
    const streams: { ws: WebSocket; bytes: Buffer; off: number; t0: number | null }[] = [];
    for (const [m, meeting] of meetings.entries()) {
      for (const [i, p] of meeting.participants.entries()) {
        const ws = new WebSocket(signedEgressUrl(server, { roomName: `room-${m}`, participant: p, trackId: `TR_${p}`, meetingId: meeting.id }), { perMessageDeflate: false });
        await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
        streams.push({ ws, bytes: toStereoBytes(meeting.tracks[i]!), off: 0, t0: null });
      }
    }
    const health = async (): Promise<{ egressStreams: number; egressOverflowBytes: number }> => (await fetch(`${server.url}/health`)).json() as Promise<{ egressStreams: number; egressOverflowBytes: number }>;
    await fetch(`${server.url}/metrics`); // a /metrics read resets the event-loop histogram: p99 of the streaming window only
    const cpu0 = cpuUs(server.proc.pid!);
    const t0 = performance.now();
    let lateMs = 0;
    // Frame k of a stream is due at its t0 + k × FRAME_MS. After a stall of this process (a busy machine) the
    // frames overdue are sent at most CATCH_UP per stream and tick (≤ 4× real time with 5 ms ticks), as a real
    // time source catches up, not all in one burst: a burst longer than the server's queue bound (AUDIO_STREAM_QUEUE_MS)
    // would close the stream there, and it is this load generator's stall, not the server's.
    const CATCH_UP = 1;
    const send = (s: (typeof streams)[number], now: number): void => {
      const due = Math.min(s.bytes.length, (Math.floor((now - s.t0!) / FRAME_MS) + 1) * FRAME_BYTES);
      if (s.off < due) lateMs = Math.max(lateMs, now - (s.t0! + (s.off / FRAME_BYTES) * FRAME_MS));
      for (let n = 0; s.off < due && n < CATCH_UP; n++) { s.ws.send(s.bytes.subarray(s.off, s.off + FRAME_BYTES), { binary: true }); s.off += FRAME_BYTES; }
    };
    let started = 0;
    const sending = new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        const now = performance.now();
        let open = 0;
        for (const s of streams) {
          if (s.t0 === null) { open++; continue; }
          send(s, now);
          if (s.off < s.bytes.length) open++;
        }
        if (open === 0) { clearInterval(timer); resolve(); }
      }, 5);
    });
    // Meetings start one after another: one meeting's streams in the same tick (their clocks start together),
    // the next once the server has opened them.
    let openWaitMs = 0;
    for (let m = 0; m < M; m++) {
      const now = performance.now();
      for (const s of streams.slice(m * P, (m + 1) * P)) { s.t0 = now; send(s, now); }
      started += P;
      const w0 = performance.now();
      while ((await health()).egressStreams < started) {
        if (performance.now() - w0 > 30_000) throw new Error(`the server did not open the streams of meeting ${m} within 30 s`);
        await new Promise((r) => setTimeout(r, 5));
      }
      openWaitMs = Math.max(openWaitMs, performance.now() - w0);
    }
    const openedSec = (performance.now() - t0) / 1000;
    await sending;
    const wallSec = (performance.now() - t0) / 1000;
    const cpuSec = (cpuUs(server.proc.pid!) - cpu0) / 1e6;
    const metricsText = await (await fetch(`${server.url}/metrics`)).text();
    const loopP99Ms = Number(/^meetcore_event_loop_delay_p99_seconds\s+(\S+)/m.exec(metricsText)?.[1] ?? NaN) * 1000;
    await Promise.all(streams.map((s) => new Promise<void>((r) => { s.ws.once('close', () => r()); s.ws.close(); setTimeout(r, 5000).unref(); })));
    // Read the database only once the server has finalized every stream (analysed all it received, stored
    // the feedback): a server behind real time still has audio queued after the sockets closed.
    const w0 = performance.now();
    let unfinished = (await health()).egressStreams;
    while (unfinished > 0 && performance.now() - w0 < 120_000) {
      await new Promise((r) => setTimeout(r, 200));
      unfinished = (await health()).egressStreams;
    }
    const drainSec = (performance.now() - w0) / 1000;
    const overflowBytes = (await health()).egressOverflowBytes;
    const receivedBytes = total({ at: 0, values: parseText(await (await fetch(`${server.url}/metrics`)).text()) }, 'meetcore_egress_received_bytes_total') ?? NaN;

    const db = new Database(path.join(server.dataDir, 'meetcore.db'), { readonly: true });
    const recs = db.prepare("SELECT meeting_id, bytes, started_at, status FROM recordings WHERE kind = 'audio'").all() as { meeting_id: string; bytes: number; started_at: number; status: string }[];
    const sentBytes = streams.reduce((a, s) => a + s.off, 0);
    const recordedBytes = recs.reduce((a, r) => a + r.bytes, 0);
    const origins = new Map<string, number[]>();
    for (const r of recs) origins.set(r.meeting_id, [...(origins.get(r.meeting_id) ?? []), r.started_at]);
    const clockSpreadMs = Math.max(0, ...[...origins.values()].map((t) => Math.max(...t) - Math.min(...t)));
    const streamSec = (bytes: number) => round(bytes / FRAME_BYTES * FRAME_MS / 1000, 2);
    const audio = {
      streams: streams.length, opened: recs.length, notFinalized: recs.filter((r) => r.status === 'RECORDING').length + unfinished,
      sentBytes, receivedBytes, overflowBytes, recordedBytes,
      lostStreamSec: streamSec(Math.max(0, sentBytes - recordedBytes)), lostPct: round((100 * Math.max(0, sentBytes - recordedBytes)) / sentBytes, 2),
      senderMaxLateMs: Math.round(lateMs), openSec: round(openedSec, 1), openWaitMaxMs: Math.round(openWaitMs), drainSec: round(drainSec, 1),
      meetingClockSpreadMaxMs: clockSpreadMs,
      complete: false,
    };
    audio.complete = audio.opened === streams.length && audio.notFinalized === 0 && overflowBytes === 0 && receivedBytes === sentBytes && recordedBytes === sentBytes;
    const latencies = (db.prepare('SELECT latency_ms FROM feedback_events ORDER BY latency_ms').all() as { latency_ms: number }[]).map((r) => r.latency_ms);
    const kinds = db.prepare('SELECT kind, COUNT(*) AS n FROM feedback_events GROUP BY kind').all() as { kind: string; n: number }[];
    // Delivery latency per kind (ms, sorted): speech_overlap waits for the VAD and the overlap rule, the others do not.
    const latencyOf = (kind: string) => (db.prepare('SELECT latency_ms FROM feedback_events WHERE kind = ? ORDER BY latency_ms').all(kind) as { latency_ms: number }[]).map((r) => r.latency_ms);
    const deliveryByKind = Object.fromEntries(kinds.map((k) => { const l = latencyOf(k.kind); return [k.kind, { p50: pct(l, 0.5), p95: pct(l, 0.95), events: l.length }]; }));
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
    if (!audio.complete) {
      process.stdout.write(`WARNING: the server did not analyse all the audio sent: ${audio.lostStreamSec} stream-s of ${streamSec(sentBytes)} (${audio.lostPct} %) lost `
        + `(lost past a queue bound ${overflowBytes} bytes, received ${receivedBytes} of ${sentBytes}, recorded ${recordedBytes}, ${audio.notFinalized} streams not finalized). `
        + 'Precision and recall below do not measure the detector; the machine was too busy (or AUDIO_STREAM_QUEUE_MS too small for its stalls).\n');
    }
    const cpuUsPerStreamSec = Math.round((cpuSec * 1e6) / streamSeconds);
    const precision = detected ? round(tp / detected, 3) : NaN;
    const recall = scripted ? round(tp / scripted, 3) : NaN;
    const result = {
      options: { meetings: M, participants: P, seconds: S, snrDb, serverCpus, clientCpus },
      meetings: M, participants: P, seconds: S, wallSec: round(wallSec, 1),
      deliveryMs: { p50: pct(latencies, 0.5), p95: pct(latencies, 0.95), p99: pct(latencies, 0.99), events: latencies.length },
      feedbackByKind: Object.fromEntries(kinds.map((k) => [k.kind, k.n])),
      deliveryMsByKind: deliveryByKind,
      serverCpuUsPerStreamSec: cpuUsPerStreamSec,
      serverCoresUsed: round(cpuSec / wallSec, 2),
      eventLoopP99Ms: round(loopP99Ms, 2),
      audio,
      overlap: { truth: TRUTH, valid: audio.complete, scripted, detected, truePositives: tp, precision, recall, rightInterrupter, backchannels, detectedOnBackchannels: onBackchannels },
      ingest,
      baseline,
      ratios: { cpuOverIngest: ingest ? round(cpuUsPerStreamSec / ingest.cpuUsPerStreamSec, 2) : null },
      targets: [
        target('CPU per stream-second / ingest figure', ingest ? round(cpuUsPerStreamSec / ingest.cpuUsPerStreamSec, 2) : null, '<=', 1.5, '×'),
        target('event-loop p99', round(loopP99Ms, 2), '<=', 5, 'ms'),
        target('feedback delivery p95', pct(latencies, 0.95), '<=', 100, 'ms'),
        target('audio lost (sent, not analysed)', audio.lostStreamSec, '<=', 0, 'stream-s'),
        target('overlap precision (unchanged vs baseline)', precision, '>=', ref?.precision ?? null),
        target('overlap recall (unchanged vs baseline)', recall, '>=', ref?.recall ?? null),
      ],
    };
    console.table([{ 'delivery p50 ms': result.deliveryMs.p50, 'p95 ms': result.deliveryMs.p95, 'p99 ms': result.deliveryMs.p99, events: latencies.length,
      'CPU µs/stream-s': cpuUsPerStreamSec, 'ingest µs/stream-s': ingest?.cpuUsPerStreamSec ?? '—', 'vs ingest': result.ratios.cpuOverIngest ?? '—',
      'cores used': result.serverCoresUsed, 'loop p99 ms': result.eventLoopP99Ms }]);
    console.table(Object.entries(deliveryByKind).map(([kind, d]) => ({ kind, 'delivery p50 ms': d.p50, 'p95 ms': d.p95, events: d.events })));
    console.table([{ 'streams': streams.length, 'sent MB': round(sentBytes / 1e6, 1), 'overflow MB': round(overflowBytes / 1e6, 2), 'recorded MB': round(recordedBytes / 1e6, 1),
      'lost stream-s': audio.lostStreamSec, 'not finalized': audio.notFinalized, 'sender max late ms': audio.senderMaxLateMs, 'opens s': audio.openSec,
      'clock spread max ms': clockSpreadMs, 'drain s': audio.drainSec }]);
    console.table([{ 'audio complete': audio.complete, scripted, detected, 'true positives': tp, precision, recall, 'right interrupter': rightInterrupter, backchannels, 'on backchannels': onBackchannels, 'baseline precision': ref?.precision ?? '—', 'baseline recall': ref?.recall ?? '—' }]);
    if (!ingest) process.stdout.write('no ingest figure: run `npm run bench -- ingest` first (20 ms frames) or pass --ingest-cpu\n');
    if (!baseline) process.stdout.write(`no overlap baseline at ${path.relative(process.cwd(), values.baseline)}: precision and recall reported only (--save-baseline stores this run's)\n`);
    printTargets(result.targets);
    if (values['save-baseline'] && !audio.complete) process.stdout.write('overlap baseline NOT written: this run lost audio\n');
    else if (values['save-baseline']) {
      const b: Baseline = { meetings: M, participants: P, seconds: S, snrDb, truth: TRUTH, precision, recall, at: new Date().toISOString() };
      fs.mkdirSync(path.dirname(values.baseline), { recursive: true });
      fs.writeFileSync(values.baseline, `${JSON.stringify(b, null, 2)}\n`);
      process.stdout.write(`overlap baseline written to ${path.relative(process.cwd(), values.baseline)}\n`);
    }
    return result;
  } finally {
    await server.stop();
    // Each run records M × P × S s of 48 kHz stereo (≈ 0.9 GB at 20 × 6 × 40 s): remove it unless asked.
    const tmp = path.dirname(server.dataDir);
    if (!values['keep-data'] && path.basename(tmp).startsWith('meetcore-test-')) fs.rmSync(tmp, { recursive: true, force: true });
    else process.stdout.write(`server data kept in ${tmp}\n`);
  }
}
