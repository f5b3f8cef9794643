/**
 * Reports and timeline pictures at the analytics bound (issue 18): 50,000 talk spurts, 50,000 interruptions and
 * 5,000 participants must not stop the server's event loop.
 *
 * How the meeting gets there: streaming 50,000 spurts would take many minutes, so the test lets a real server
 * create two meetings through /egress-audio, stops it, stores a report for each with a 50,000-spurt timeline
 * (through the server's ReportStore, in parts) and the 5,000 participants' rows into its SQLite file, and
 * starts it again on the same DATA_DIR. One meeting stays stored (its report and picture come from the stored JSON); a new egress stream
 * for the other makes the server reopen it, replaying the stored timeline into the live analytics (its report
 * is computed from the timeline).
 *
 * Measured from before the reopening stream opens (the stored report is parsed and replayed in the render
 * worker), while a real-time egress stream of a third meeting sends speech paced at 10 ms a frame, pictures,
 * reports and debug views of both meetings are asked for in parallel. Then, beside another real-time stream,
 * the reopened meeting's last stream closes (its report so far is stored) and the meeting ends (LiveKit's
 * room_finished webhook): its final report (both computed and written to SQLite by the worker) must be stored
 * with the right counts, the loop still unblocked. Probes: the server's own event-loop
 * delay (`meetcore_event_loop_delay_max_seconds` of GET /metrics, the largest since the previous
 * scrape, src/loop-delay.ts) is printed against the 50 ms target and must stay under the regression
 * bound below, and the real-time stream's recording must hold every byte sent.
 * Also: the picture says how its marks were aggregated, a second request with the ETag gets 304, and a
 * principal over TIMELINE_RATE_PER_MIN gets 429 with Retry-After.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type WebSocket from 'ws';
import { inviteAccount, type TestAccount } from '../helpers/auth.js';
import { concat, loadFixture, silence, toStereoBytes } from '../helpers/fixtures.js';
import { http, startTestServer, type TestServer } from '../helpers/server.js';
import { apiAccount, recordingsOf } from '../helpers/sessions.js';
import { ReportStore } from '../../src/store/reports.js';
import { FRAME_BYTES, SECRET, closed, open, sendPcm, signedEgressUrl, waitFor } from '../egress/helpers.js';
import { API_KEY, API_SECRET, sendEvent } from '../livekit/double.js';

const SPURTS = 50_000;
const PEOPLE = 5_000;
const RATE = 40;
const T0 = 1_767_225_600_000;
const tag = `${process.pid}`;
const LIVE = `MT_bound_live_${tag}`;
const STORED = `MT_bound_stored_${tag}`;
const OTHER = `MT_bound_rt_${tag}`;
/** A one-second meeting whose picture warms the render worker up (its picture renderer loaded) before the measure. */
const WARM = `MT_bound_warm_${tag}`;

let server: TestServer;
let owner: TestAccount;
/** The reopening stream of LIVE, left open by the first test: the second closes it while measured. */
let live: WebSocket;
const env = {
  EGRESS_SECRET: SECRET, TIMELINE_RATE_PER_MIN: String(RATE),
  // room_finished webhooks are accepted (no LiveKit server is called: AUTO_EGRESS off).
  LIVEKIT_URL: 'http://127.0.0.1:9', LIVEKIT_API_KEY: API_KEY, LIVEKIT_API_SECRET: API_SECRET, AUTO_EGRESS: 'false',
};

/** A stored report of `meetingId` at the bound: spurts of 0.5 s and 2 s every 0.7 s, each with an interruption. */
function boundReport(meetingId: string): string {
  const spurts = [];
  const interruptions = [];
  for (let i = 0; i < SPURTS; i++) {
    const startMs = T0 + i * 700;
    spurts.push({ participantId: `p${i % PEOPLE}`, startMs, endMs: startMs + (i % 3 === 0 ? 500 : 2000) });
    interruptions.push({ byParticipantId: `p${i % PEOPLE}`, ofParticipantId: `p${(i + 1) % PEOPLE}`, startMs, endMs: startMs + 300, overlapMs: 300 });
  }
  const participants = Array.from({ length: PEOPLE }, (_, i) => ({
    participantId: `p${i}`, name: `Person ${i}`, isHost: false, talkTimeMs: 0, talkSharePercent: 0, turnCount: 0, longestMonologueMs: 0,
    interruptionsMadeCount: 0, interruptionsReceivedCount: 0, interruptedCounts: {}, interruptedByCounts: {}, backchannelCount: 0, patienceMs: null,
  }));
  const endMs = T0 + SPURTS * 700 + 2000;
  return JSON.stringify({
    meetingId, final: false, startedAtMs: T0, endedAtMs: endMs, durationMs: endMs - T0, speechMs: 0, silenceSharePercent: 0,
    speakerSwitchCount: 0, speakerSwitchesPerMin: 0, interruptionCount: SPURTS, backchannelCount: 0, participants,
    timeline: { spurts, interruptions, backchannels: [] }, generatedAt: endMs,
  });
}

/** One second of silence through /egress-audio for `meetingId` (creates the meeting), closed. */
async function touch(s: TestServer, meetingId: string, participant: string): Promise<void> {
  const ws = await open(signedEgressUrl(s, { roomName: `room-${meetingId}`, participant, trackId: `TR_${participant}`, meetingId }));
  await sendPcm(ws, toStereoBytes(silence(1000)));
  ws.close();
  await closed(ws);
}

/** `pcm` sent in 10 ms frames at real time (frame n leaves at n × 10 ms). */
async function sendRealTime(ws: WebSocket, pcm: Buffer): Promise<number> {
  const t0 = performance.now();
  let sent = 0;
  for (let off = 0, n = 0; off < pcm.length; off += FRAME_BYTES, n++) {
    const wait = t0 + n * 10 - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const frame = pcm.subarray(off, Math.min(off + FRAME_BYTES, pcm.length));
    ws.send(frame, { binary: true });
    sent += frame.length;
  }
  return sent;
}

/**
 * The target for the longest block is 50 ms (measured alone on a 2-core machine: 37–47 ms; a loaded
 * machine reads more). A speed target is not a unit-test assertion here (it would fail on a busy CI machine):
 * the test prints the figure against the target and fails on what the work done on the loop costs instead,
 * 280 ms to 8.8 s when any of the three is back on it (a picture or report rendered, a report written or a
 * stored report replayed on the event loop).
 */
const TARGET_BLOCK_MS = 50;
const REGRESSION_BLOCK_MS = 200;

/**
 * The server's longest event-loop block since the previous scrape, ms: `meetcore_event_loop_delay_max_seconds`,
 * the largest delay (src/loop-delay.ts: 1 ms sampling, the interval already subtracted; a block of B ms reads B − 1 to B).
 */
async function loopLagMaxMs(): Promise<number> {
  const r = await fetch(`${server.url}/metrics`);
  const m = /^meetcore_event_loop_delay_max_seconds (\S+)$/m.exec(await r.text());
  if (!m) throw new Error('no meetcore_event_loop_delay_max_seconds in /metrics');
  return Number(m[1]) * 1000;
}

test.before(async () => {
  const first = await startTestServer(env);
  // The first account: its organization's owners read meetings of no organization (UNSCOPED_MEETINGS_ORG=first).
  owner = await apiAccount(first);
  await touch(first, LIVE, 'p0');
  await touch(first, STORED, 'p0');
  await touch(first, WARM, 'p0');
  await first.stop();
  const db = new Database(path.join(first.dataDir, 'meetcore.db'));
  try {
    const person = db.prepare('INSERT OR IGNORE INTO participants (meeting_id, identity, name, joined_at) VALUES (?, ?, ?, ?)');
    // STORED's participants also have a recording and a stats row each (speech_ms = their number).
    const recording = db.prepare(`INSERT INTO recordings (meeting_id, participant, track_id, kind, codec, path, sample_rate, channels, bytes, started_at, ended_at, status)
      VALUES (?, ?, ?, 'audio', 'pcm_s16le', ?, 48000, 2, 192000, ?, ?, 'COMPLETE')`);
    const stats = db.prepare('INSERT OR REPLACE INTO participant_stats (meeting_id, participant, updated_at, speech_ms, analysed_ms) VALUES (?, ?, ?, ?, ?)');
    db.transaction(() => {
      for (const id of [LIVE, STORED]) for (let i = 0; i < PEOPLE; i++) person.run(id, `p${i}`, `Person ${i}`, T0 + i);
      for (let i = 0; i < PEOPLE; i++) {
        recording.run(STORED, `p${i}`, `TR_seed_${i}`, `seed/${tag}/${i}.wav`, T0 + i, T0 + i + 1000);
        stats.run(STORED, `p${i}`, T0, i, 1000);
      }
    })();
    // Stored as the server stores them (in parts: src/store/reports.ts).
    const reports = new ReportStore(db);
    for (const id of [LIVE, STORED]) reports.putBytes(id, Buffer.from(boundReport(id), 'utf8'), false, Date.now());
  } finally {
    db.close();
  }
  server = await startTestServer(env, { dataDir: first.dataDir, storageDir: first.storageDir });
});
test.after(async () => { await server?.stop(); });

test('50,000 spurts, 5,000 participants: pictures and reports served in parallel, event loop never blocked > 50 ms, a real-time stream loses nothing', async () => {
  const auth = owner.headers;
  // The render worker is started (the first report asked for: the stored one of the meeting about to reopen,
  // whose version changes with the reopening) and its picture renderer loaded (a small meeting's picture), so
  // what follows measures the reopen and the load, not the worker's start.
  const warm = await fetch(`${server.url}/api/sessions/${LIVE}/report`, { headers: auth });
  assert.is(warm.status, 200);
  await warm.arrayBuffer();
  const storedTag = warm.headers.get('etag')!;
  const warmPicture = await fetch(`${server.url}/api/sessions/${WARM}/timeline.svg`, { headers: auth });
  assert.is(warmPicture.status, 200, await warmPicture.text());
  await new Promise((r) => setTimeout(r, 500));
  await loopLagMaxMs(); // resets the delay histogram: what follows is measured
  // The live meeting is reopened from its stored timeline by a new stream (kept open, silent, meanwhile).
  live = await open(signedEgressUrl(server, { roomName: `room-${LIVE}`, participant: 'p1', trackId: 'TR_p1', meetingId: LIVE }));
  const liveSilence = sendRealTime(live, toStereoBytes(silence(12_000)));
  // The routes serve the stored report (its ETag) until the stored timeline is replayed: asked with that ETag,
  // 304 until then. The live report below is the replayed timeline's.
  await waitFor(async () => {
    const r = await fetch(`${server.url}/api/sessions/${LIVE}/report`, { headers: { ...auth, 'if-none-match': storedTag } });
    await r.arrayBuffer();
    return r.status === 200 || (await new Promise((res) => setTimeout(res, 100)), false);
  }, 'the stored timeline replayed (the report\'s version changed)', 30_000);

  const speech = toStereoBytes(concat(loadFixture('en-male').samples, silence(1000)));
  const rt = await open(signedEgressUrl(server, { roomName: `room-${OTHER}`, participant: 'realtime', trackId: 'TR_rt', meetingId: OTHER }));
  const streaming = sendRealTime(rt, speech);
  await new Promise((r) => setTimeout(r, 300));
  const get = (p: string) => fetch(`${server.url}${p}`, { headers: auth }).then(async (r) => ({ status: r.status, headers: r.headers, text: await r.text() }));
  const routes = [LIVE, STORED].flatMap((id) => [`/api/sessions/${id}/timeline.svg`, `/api/sessions/${id}/report`, `/feedback/debug/${id}`]);
  const replies = await Promise.all([...routes, ...routes].map(get));
  const sent = await streaming;
  rt.close();
  await closed(rt);
  const lagMs = await loopLagMaxMs();
  await liveSilence;

  for (const [i, r] of replies.entries()) assert.is(r.status, 200, `${routes[i % routes.length]}: ${r.status} ${r.text.slice(0, 300)}`);
  console.log(`event loop: largest block ${lagMs.toFixed(1)} ms while the pictures and reports were served (target ≤ ${TARGET_BLOCK_MS} ms)`);
  assert.ok(lagMs <= REGRESSION_BLOCK_MS, `the event loop was blocked ${lagMs.toFixed(1)} ms: work on a 50,000-spurt meeting is back on the loop (≤ ${REGRESSION_BLOCK_MS} ms allowed, target ${TARGET_BLOCK_MS})`);
  const recorded = await waitFor(async () => (await recordingsOf(server, 'realtime')).find((r) => r.status !== 'RECORDING'), 'the real-time recording');
  assert.is(recorded.bytes, sent, `real-time stream: ${sent} bytes sent, ${recorded.bytes} recorded`);

  for (const id of [LIVE, STORED]) {
    const svg = replies[routes.indexOf(`/api/sessions/${id}/timeline.svg`)]!;
    assert.ok(svg.text.startsWith('<svg'), `${id}: not an SVG: ${svg.text.slice(0, 200)}`);
    assert.match(svg.text, /50,000 talk spurts drawn as [\d,]+ bars/, `${id}: the picture says how its spurts were drawn`);
    assert.match(svg.text, /4,96\d participants in one lane &quot;others&quot;/);
    assert.ok(svg.text.length < 5_000_000, `${id}: SVG of ${svg.text.length} bytes`);
    const report = JSON.parse(replies[routes.indexOf(`/api/sessions/${id}/report`)]!.text);
    assert.is(report.timeline.spurts.length, SPURTS);
    assert.is(report.timeline.interruptions.length, SPURTS);
    assert.ok(report.participants.length >= PEOPLE, `${id}: ${report.participants.length} participants`);
    const debug = JSON.parse(replies[routes.indexOf(`/feedback/debug/${id}`)]!.text);
    assert.is(debug.report.timeline.spurts.length, SPURTS);
  }
  // Computed from the replayed timeline (the stored row said 0 ms for everyone): p3's 10 spurts.
  const liveReport = JSON.parse(replies[routes.indexOf(`/api/sessions/${LIVE}/report`)]!.text);
  let p3 = 0;
  for (let i = 3; i < SPURTS; i += PEOPLE) p3 += i % 3 === 0 ? 500 : 2000;
  assert.is(liveReport.participants.find((p: { participantId: string }) => p.participantId === 'p3').talkTimeMs, p3);
  assert.is(liveReport.interruptionCount, SPURTS);
});

test('the 50,000-spurt meeting\'s last stream closes, then it ends (room_finished): its final report is stored with its counts, event loop never blocked > 50 ms, a real-time stream loses nothing', async () => {
  await loopLagMaxMs(); // resets the delay histogram: what follows is measured
  const speech = toStereoBytes(concat(loadFixture('en-male').samples, silence(1000)));
  const rt = await open(signedEgressUrl(server, { roomName: `room-${OTHER}_2`, participant: 'realtime2', trackId: 'TR_rt2', meetingId: `${OTHER}_2` }));
  const streaming = sendRealTime(rt, speech);
  await new Promise((r) => setTimeout(r, 300));
  // The last stream of LIVE closes: its report so far (final: false) is stored.
  const before = Date.now();
  live.close();
  await closed(live);
  const db = new Database(path.join(server.dataDir, 'meetcore.db'), { readonly: true });
  const row = db.prepare<[string], { final: number; created_at: number }>('SELECT final, created_at FROM meeting_reports WHERE meeting_id = ?');
  await waitFor(() => (row.get(LIVE)?.created_at ?? 0) >= before, 'the report stored at the last stream\'s close', 30_000);
  const ended = await sendEvent(server.url, { event: 'room_finished', room: { sid: LIVE, name: `room-${LIVE}` } });
  assert.is(ended.status, 200, JSON.stringify(ended.body));
  // Stored, not only served: the row in SQLite becomes the final one.
  try {
    const finalRow = db.prepare<[string], { final: number }>('SELECT final FROM meeting_reports WHERE meeting_id = ?');
    await waitFor(() => finalRow.get(LIVE)?.final === 1, 'the final report row', 30_000);
  } finally {
    db.close();
  }
  const sent = await streaming;
  rt.close();
  await closed(rt);
  const lagMs = await loopLagMaxMs();
  console.log(`event loop: largest block ${lagMs.toFixed(1)} ms while the meeting ended and its final report was stored (target ≤ ${TARGET_BLOCK_MS} ms)`);
  assert.ok(lagMs <= REGRESSION_BLOCK_MS, `the event loop was blocked ${lagMs.toFixed(1)} ms: work on a 50,000-spurt meeting is back on the loop (≤ ${REGRESSION_BLOCK_MS} ms allowed, target ${TARGET_BLOCK_MS})`);
  const recorded = await waitFor(async () => (await recordingsOf(server, 'realtime2')).find((r) => r.status !== 'RECORDING'), 'the real-time recording');
  assert.is(recorded.bytes, sent, `real-time stream: ${sent} bytes sent, ${recorded.bytes} recorded`);

  // Once the server has taken the write in (the ETag is the stored row's), the route serves the row.
  const report = await waitFor(async () => {
    const r = await fetch(`${server.url}/api/sessions/${LIVE}/report`, { headers: owner.headers });
    const body = await r.text();
    assert.is(r.status, 200);
    return /^W\/"S\d+"$/.test(r.headers.get('etag') ?? '') && JSON.parse(body) as Record<string, any>;
  }, 'the stored final report served');
  assert.is(report.final, true);
  assert.is(report.timeline.spurts.length, SPURTS);
  assert.is(report.timeline.interruptions.length, SPURTS);
  assert.is(report.interruptionCount, SPURTS);
  assert.ok(report.participants.length >= PEOPLE, `${report.participants.length} participants`);
  let p3 = 0;
  for (let i = 3; i < SPURTS; i += PEOPLE) p3 += i % 3 === 0 ? 500 : 2000;
  assert.is(report.participants.find((p: { participantId: string }) => p.participantId === 'p3').talkTimeMs, p3);
});

test('5,000 participants and 5,000 recordings through GET /api/sessions/:meetingId and the list: every row in order, event loop never blocked > 50 ms, a real-time stream loses nothing', async () => {
  await loopLagMaxMs(); // resets the delay histogram: what follows is measured
  const speech = toStereoBytes(concat(loadFixture('en-male').samples, silence(1000)));
  const rt = await open(signedEgressUrl(server, { roomName: `room-${OTHER}_3`, participant: 'realtime3', trackId: 'TR_rt3', meetingId: `${OTHER}_3` }));
  const streaming = sendRealTime(rt, speech);
  await new Promise((r) => setTimeout(r, 300));
  const get = (p: string) => fetch(`${server.url}${p}`, { headers: owner.headers }).then(async (r) => ({ status: r.status, text: await r.text() }));
  const routes = [`/api/sessions/${STORED}`, `/api/sessions/${LIVE}`, '/api/sessions?limit=500'];
  const replies = await Promise.all([...routes, ...routes, ...routes].map(get));
  const sent = await streaming;
  rt.close();
  await closed(rt);
  const lagMs = await loopLagMaxMs();
  for (const [i, r] of replies.entries()) assert.is(r.status, 200, `${routes[i % routes.length]}: ${r.status} ${r.text.slice(0, 300)}`);
  console.log(`event loop: largest block ${lagMs.toFixed(1)} ms while meetings of 5,000 participants were listed (target ≤ ${TARGET_BLOCK_MS} ms)`);
  assert.ok(lagMs <= REGRESSION_BLOCK_MS, `the event loop was blocked ${lagMs.toFixed(1)} ms: a meeting of 5,000 participants is read in one block (≤ ${REGRESSION_BLOCK_MS} ms allowed, target ${TARGET_BLOCK_MS})`);
  const recorded = await waitFor(async () => (await recordingsOf(server, 'realtime3')).find((r) => r.status !== 'RECORDING'), 'the real-time recording');
  assert.is(recorded.bytes, sent, `real-time stream: ${sent} bytes sent, ${recorded.bytes} recorded`);

  type Person = { identity: string; joinedAt: number; stats: { speechMs: number } | null };
  type Meeting = { meetingId: string; participantCount: number; recordingCount: number; participants: Person[]; recordings: { id: number; startedAt: number; participant: string }[] };
  const stored = JSON.parse(replies[0]!.text) as Meeting;
  assert.is(stored.participantCount, PEOPLE);
  assert.is(stored.participants.length, PEOPLE);
  assert.is(new Set(stored.participants.map((p) => p.identity)).size, PEOPLE, 'each participant once');
  const inJoinOrder = stored.participants.every((p, i, all) => i === 0 || all[i - 1]!.joinedAt < p.joinedAt || (all[i - 1]!.joinedAt === p.joinedAt && all[i - 1]!.identity < p.identity));
  assert.ok(inJoinOrder, 'participants in join order');
  for (const i of [1, 249, 250, 251, 4999]) assert.is(stored.participants.find((p) => p.identity === `p${i}`)?.stats?.speechMs, i, `p${i}'s stats`);
  assert.is(stored.recordingCount, PEOPLE + 1);
  assert.is(stored.recordings.length, PEOPLE + 1);
  assert.is(new Set(stored.recordings.map((r) => r.id)).size, PEOPLE + 1, 'each recording once');
  assert.ok(stored.recordings.every((r, i, all) => i === 0 || all[i - 1]!.startedAt < r.startedAt || (all[i - 1]!.startedAt === r.startedAt && all[i - 1]!.id < r.id)), 'recordings oldest first');
  assert.is(JSON.parse(replies[1]!.text).participants.length, PEOPLE);
  // The list: the first 50 of each, and the counts.
  const listed = (JSON.parse(replies[2]!.text) as { sessions: Meeting[] }).sessions.find((m) => m.meetingId === STORED)!;
  assert.is(listed.participantCount, PEOPLE);
  assert.is(listed.recordingCount, PEOPLE + 1);
  assert.equal(listed.participants.map((p) => p.identity), stored.participants.slice(0, 50).map((p) => p.identity));
  assert.equal(listed.recordings.map((r) => r.id), stored.recordings.slice(0, 50).map((r) => r.id));
});

test('a report or picture held by the client is answered 304 (ETag = report version) until the meeting changes', async () => {
  const url = `${server.url}/api/sessions/${STORED}/report`;
  const first = await fetch(url, { headers: owner.headers });
  await first.arrayBuffer();
  const etag = first.headers.get('etag');
  assert.ok(etag && /^W\/"S\d+"$/.test(etag), `ETag ${etag}`);
  const again = await fetch(url, { headers: { ...owner.headers, 'if-none-match': etag } });
  assert.is(again.status, 304);
  assert.is((await again.text()).length, 0);
  assert.is(again.headers.get('etag'), etag);
  const other = await fetch(url, { headers: { ...owner.headers, 'if-none-match': 'W/"S1"' } });
  assert.is(other.status, 200);
  await other.arrayBuffer();
});

test(`more than TIMELINE_RATE_PER_MIN (${RATE}) pictures a minute: 429 with Retry-After, other principals unaffected`, async () => {
  const someone = await inviteAccount(server, owner, 'admin');
  const url = `${server.url}/api/sessions/${STORED}/timeline.svg`;
  const statuses: number[] = [];
  let refused: Response | null = null;
  for (let i = 0; i < RATE + 2 && !refused; i++) {
    const r = await fetch(url, { headers: someone.headers });
    statuses.push(r.status);
    if (r.status === 429) refused = r;
    else await r.arrayBuffer();
  }
  assert.ok(refused, `no 429 after ${statuses.length} requests: ${statuses.join(',')}`);
  assert.is(statuses.length, RATE + 1, `refused after ${statuses.length - 1} (limit ${RATE})`);
  const retry = Number(refused.headers.get('retry-after'));
  assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 60, `Retry-After ${refused.headers.get('retry-after')}`);
  const body = await refused.json() as { error: { code: string; message: string } };
  assert.is(body.error.code, 'rate_limited');
  assert.match(body.error.message, /TIMELINE_RATE_PER_MIN/);
  const fresh = await inviteAccount(server, owner, 'admin');
  const r = await http('GET', url, undefined, fresh.headers);
  assert.is(r.status, 200);
});

test.run();
