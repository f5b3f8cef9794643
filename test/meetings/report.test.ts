/**
 * The meeting report end to end (issue 14): a scripted meeting built from the committed speech fixtures
 * (a two-clip monologue with a backchannel inside it, a turn taken after a pause, an interruption, a reply)
 * streamed through /egress-audio into the real server faster than real time, read back through the public
 * API only: the live report (`GET /api/sessions/:id/report`, `final: false`, and `report` in
 * `GET /feedback/debug/:id`), then room_finished → the final report stored and sent to the host as
 * `meeting_report`, and the timeline picture with one lane per participant. Every figure is compared with the
 * script's: talk times, monologue and patience within 300 ms, counts exact. Also: a host learned from a late
 * participant_joined is excluded from overlap feedback from that moment.
 */
import fs from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { concat, loadFixture, silence, talkSpurts, toStereoBytes, type Fixture } from '../helpers/fixtures.js';
import { STREAM_QUEUE_MS, http, startTestServer, type TestServer } from '../helpers/server.js';
import { SECRET, closed, open, signedEgressUrl, waitFor } from '../egress/helpers.js';
import { apiAccount, getSession } from '../helpers/sessions.js';
import { API_KEY, API_SECRET, sendEvent } from '../livekit/double.js';
import { hostSubscription, storedFeedback, streamMeeting } from '../feedback/meeting.js';
import type { MeetingReport, ParticipantReport } from '../../src/meetings/report.js';

let server: TestServer;
let auth: Record<string, string>;
let accessToken: string;
let n = 0;
const meeting = () => `RM_rep${process.pid}_${++n}`;

const male = loadFixture('en-male');
const female = loadFixture('en-female');
const ptbr = loadFixture('pt-br');

test.before(async () => {
  server = await startTestServer({ EGRESS_SECRET: SECRET, LIVEKIT_URL: 'http://127.0.0.1:9', LIVEKIT_API_KEY: API_KEY, LIVEKIT_API_SECRET: API_SECRET, AUTO_EGRESS: 'false', AUDIO_STREAM_QUEUE_MS: STREAM_QUEUE_MS });
  // The server's first account: owner of the first organization, which reads the meetings of no organization this file opens.
  const owner = await apiAccount(server);
  auth = owner.headers;
  accessToken = owner.accessToken;
});
test.after(async () => { await server.stop(); });

/** A participant's track: clips placed so that their speech (first annotated segment) starts at given times. */
class Track {
  private readonly parts: Int16Array[] = [];
  private lengthMs = 0;
  /** Talk spurts placed so far (annotated speech, pauses under 300 ms bridged), meeting ms. */
  readonly spurts: [number, number][] = [];
  /** Place `clip` (a whole fixture, or `fromMs..toMs` of it) with its speech starting at `speechAtMs`. */
  place(f: Fixture, speechAtMs: number, fromMs = 0, toMs = f.durationMs): [number, number][] {
    const segs = f.segments.filter(([s, e]) => e > fromMs && s < toMs).map(([s, e]) => [Math.max(s, fromMs), Math.min(e, toMs)] as [number, number]);
    const offset = speechAtMs - segs[0]![0];
    const startMs = offset + fromMs;
    if (startMs < this.lengthMs) throw new Error('clips of one track overlap');
    this.parts.push(silence(startMs - this.lengthMs), f.samples.subarray(fromMs * 48, toMs * 48));
    this.lengthMs = offset + toMs;
    const placed = talkSpurts(segs, offset);
    this.spurts.push(...placed);
    return placed;
  }
  pcm(totalMs: number): Int16Array { return concat(...this.parts, silence(totalMs - this.lengthMs)); }
}

const sum = (spurts: [number, number][]) => spurts.reduce((t, [s, e]) => t + e - s, 0);
const last = (spurts: [number, number][]) => spurts[spurts.length - 1]![1];
const first = (spurts: [number, number][]) => spurts[0]![0];

/**
 * The script (meeting ms):
 * - Alice (en-male twice, 550 ms apart: one turn) from 1310 to 18 640: the longest monologue;
 * - Bob's 500 ms "mm" (a cut of pt-br speech) at 4000, inside Alice's speech: a backchannel;
 * - Bob (pt-br) takes the floor 1200 ms after Alice stopped, until 27 960;
 * - Carol (en-female) starts 1500 ms before Bob's end: an interruption of Bob by Carol;
 * - Alice (en-male) replies 800 ms after Carol stopped.
 */
function script() {
  const alice = new Track(), bob = new Track(), carol = new Track();
  const a1 = [...alice.place(male, 1310, 0, 8800), ...alice.place(male, 1310 + 8700 - 310 + 550)];
  const bc = bob.place(ptbr, 4000, 4000, 4500);
  const b1 = bob.place(ptbr, last(a1) + 1200);
  // (en-female up to 7.3 s: its last 480 ms follows a pause of exactly 300 ms, a boundary the VAD may bridge.)
  const c1 = carol.place(female, last(b1) - 1500, 0, 7300);
  const a2 = alice.place(male, last(c1) + 800);
  const totalMs = 45_000;
  return {
    totalMs, alice, bob, carol,
    truth: {
      alice: { talk: sum(alice.spurts), turns: 2, monologue: last(a1) - first(a1), patience: first(a2) - last(c1), made: 0, received: 0, backchannels: 0 },
      bob: { talk: sum(bob.spurts), turns: 1, monologue: last(b1) - first(b1), patience: first(b1) - last(a1), made: 0, received: 1, backchannels: 1 },
      carol: { talk: sum(carol.spurts), turns: 1, monologue: last(c1) - first(c1), patience: 0, made: 1, received: 0, backchannels: 0 },
      bc, switches: 3,
    },
  };
}

async function getReport(id: string): Promise<MeetingReport> {
  const r = await http('GET', `${server.url}/api/sessions/${id}/report`, undefined, auth);
  assert.is(r.status, 200, JSON.stringify(r.body));
  return r.body as MeetingReport;
}

function checkFigures(report: MeetingReport, t: ReturnType<typeof script>['truth']): void {
  const by = new Map<string, ParticipantReport>(report.participants.map((p) => [p.participantId, p]));
  assert.equal([...by.keys()].sort(), ['alice', 'bob', 'carol']);
  const near = (got: number | null, want: number, what: string) => assert.ok(got !== null && Math.abs(got - want) <= 300, `${what}: ${got} vs script ${want}`);
  for (const who of ['alice', 'bob', 'carol'] as const) {
    const p = by.get(who)!, w = t[who];
    near(p.talkTimeMs, w.talk, `${who} talk time`);
    near(p.longestMonologueMs, w.monologue, `${who} longest monologue`);
    near(p.patienceMs, w.patience, `${who} patience`);
    assert.is(p.turnCount, w.turns, `${who} turns`);
    assert.is(p.interruptionsMadeCount, w.made, `${who} interruptions made`);
    assert.is(p.interruptionsReceivedCount, w.received, `${who} interruptions received`);
    assert.is(p.backchannelCount, w.backchannels, `${who} backchannels`);
  }
  assert.equal(by.get('carol')!.interruptedCounts, { bob: 1 });
  assert.equal(by.get('bob')!.interruptedByCounts, { carol: 1 });
  assert.is(by.get('alice')!.name, 'Alice A.');
  const talk = t.alice.talk + t.bob.talk + t.carol.talk;
  assert.ok(Math.abs(by.get('alice')!.talkSharePercent - (100 * t.alice.talk) / talk) <= 1.5, `alice share ${by.get('alice')!.talkSharePercent}`);
  assert.is(report.speakerSwitchCount, t.switches);
  assert.is(report.interruptionCount, 1);
  assert.is(report.backchannelCount, 1);
  assert.ok(Math.abs(report.speakerSwitchesPerMin - t.switches / (report.durationMs / 60_000)) < 0.02);
  // The backchannel is on the timeline where the script put it.
  const mark = report.timeline.backchannels[0]!;
  assert.is(mark.participantId, 'bob');
  assert.is(mark.toParticipantId, 'alice');
  assert.ok(Math.abs(mark.startMs - report.startedAtMs! - t.bc[0]![0]) <= 300, `backchannel at ${mark.startMs - report.startedAtMs!}`);
}

test('a scripted meeting: the live and the final report give the script\'s figures; the host gets meeting_report; the timeline has one lane per participant', async () => {
  const id = meeting();
  const room = { sid: id, name: `room-${id}` };
  assert.is((await sendEvent(server.url, { event: 'room_started', room })).status, 200);
  for (const [identity, name] of [['alice', 'Alice A.'], ['bob', 'Bob B.'], ['carol', 'Carol C.']]) {
    const r = await sendEvent(server.url, { event: 'participant_joined', room, participant: { sid: `PA_${identity}`, identity, name: identity, metadata: JSON.stringify({ roles: [], name }) } });
    assert.is(r.status, 200);
  }
  const host = await hostSubscription(server, id, accessToken);
  host.client.on('meeting_report', (m) => host.received.push(m));
  const s = script();
  await streamMeeting(server, id, [
    { participant: 'alice', pcm: s.alice.pcm(s.totalMs) }, { participant: 'bob', pcm: s.bob.pcm(s.totalMs) }, { participant: 'carol', pcm: s.carol.pcm(s.totalMs) },
  ], room.name);

  const live = await getReport(id);
  assert.is(live.final, false);
  checkFigures(live, s.truth);
  const debug = await http('GET', `${server.url}/feedback/debug/${id}`, undefined, auth);
  assert.is(debug.status, 200);
  assert.is(debug.body.report.interruptionCount, 1);

  assert.is((await sendEvent(server.url, { event: 'room_finished', room })).status, 200);
  const final = await getReport(id);
  assert.is(final.final, true);
  // MEETCORE_REPORT_OUT=<file>: keep the report (the README's example comes from it).
  if (process.env.MEETCORE_REPORT_OUT) fs.writeFileSync(process.env.MEETCORE_REPORT_OUT, JSON.stringify(final, null, 1));
  checkFigures(final, s.truth);
  const deadline = Date.now() + 5000;
  while (!host.received.some((m) => m.type === 'meeting_report') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  const sent = host.received.find((m) => m.type === 'meeting_report');
  assert.ok(sent, 'the host got meeting_report');
  // The figures of the stored final report, and where to read it.
  assert.is(sent!.final, true);
  assert.is(sent!.durationMs, final.durationMs);
  assert.is(sent!.participantCount, final.participants.length);
  assert.is(sent!.interruptionCount, final.interruptionCount);
  const read = await http('GET', `${server.url}${sent!.reportUrl as string}`, undefined, auth);
  assert.is(read.status, 200);
  assert.equal((read.body as MeetingReport).participants, final.participants);
  host.client.close();

  const svg = await fetch(`${server.url}/api/sessions/${id}/timeline.svg`, { headers: auth });
  assert.is(svg.status, 200);
  assert.match(svg.headers.get('content-type') ?? '', /^image\/svg\+xml/);
  const text = await svg.text();
  assert.match(text, /^<svg[\s>]/);
  assert.is((text.match(/aria-label="lane \d+: /g) ?? []).length, 3, 'one lane per participant');
  for (const name of ['Alice A.', 'Bob B.', 'Carol C.']) assert.ok(text.includes(name), name);
});

test('a host learned from a late participant_joined is excluded from overlap feedback from that moment (the report still counts the host)', async () => {
  const id = meeting();
  const room = { sid: id, name: `room-${id}` };
  const joined = (identity: string, roles: string[]) => sendEvent(server.url, { event: 'participant_joined', room, participant: { sid: `PA_${identity}`, identity, name: identity, metadata: JSON.stringify({ roles, name: identity }) } });
  assert.is((await sendEvent(server.url, { event: 'room_started', room })).status, 200);
  assert.is((await joined('alice', [])).status, 200);
  assert.is((await joined('dave', [])).status, 200);
  // Dave interrupts Alice twice: at 5 s, as a guest, and at 23 s, after LiveKit said (at 15 s) he is a host.
  const alice = new Track(), dave = new Track();
  alice.place(male, 1310, 0, 5800);   // talk spurts 1310..2980, 3530..6710
  alice.place(male, 20_000, 0, 5800); // 20 000..21 670, 22 220..25 400
  dave.place(female, 5000, 0, 3500);
  dave.place(female, 23_000, 0, 3500);
  let hostAt = 0;
  await streamMeeting(server, id, [{ participant: 'alice', pcm: alice.pcm(32_000) }, { participant: 'dave', pcm: dave.pcm(32_000) }], room.name, [
    { ms: 15_000, run: async () => { hostAt = 15_000; assert.is((await joined('dave', ['host'])).status, 200); } },
  ]);
  assert.is(hostAt, 15_000);
  const overlaps = (await storedFeedback(server, id, auth)).filter((e) => e.kind === 'speech_overlap');
  assert.is(overlaps.length, 1, JSON.stringify(overlaps));
  assert.is(overlaps[0]!.participantId, 'dave');
  const report = await getReport(id);
  const origin = report.startedAtMs!;
  assert.ok(Math.abs(overlaps[0]!.window.start - origin - 5000) <= 300, `the first interruption, at ${overlaps[0]!.window.start - origin} ms`);
  // The report is about everyone: both interruptions, Dave now a host.
  const d = report.participants.find((p) => p.participantId === 'dave')!;
  assert.is(d.isHost, true);
  assert.is(d.interruptionsMadeCount, 2);
  assert.equal(d.interruptedCounts, { alice: 2 });
});

test('room_finished while a stream is still open: the socket is ended (1000), its recording closes, the final report is stored', async () => {
  const id = meeting();
  const room = { sid: id, name: `room-${id}` };
  assert.is((await sendEvent(server.url, { event: 'room_started', room })).status, 200);
  const ws = await open(signedEgressUrl(server, { roomName: room.name, participant: 'erin', trackId: 'TR_erin', meetingId: id }));
  const done = closed(ws);
  const pcm = toStereoBytes(male.samples);
  for (let off = 0; off < pcm.length; off += 19_200) ws.send(pcm.subarray(off, off + 19_200), { binary: true });
  await waitFor(async () => (await getSession(server, id))?.recordings.length === 1, 'the recording row', 10_000);
  assert.is((await sendEvent(server.url, { event: 'room_finished', room })).status, 200);
  const timeout = new Promise((r) => setTimeout(() => r('still open after 10 s'), 10_000).unref());
  assert.equal(await Promise.race([done, timeout]), { code: 1000, reason: 'meeting finished' });
  ws.terminate();
  await waitFor(async () => (await getSession(server, id))?.recordings[0]?.status === 'COMPLETE', 'the recording closed', 20_000);
  await waitFor(async () => (await http('GET', `${server.url}/api/sessions/${id}/report`, undefined, auth)).body?.final === true, 'the final report', 20_000);
  const report = await getReport(id);
  assert.equal(report.participants.map((p) => p.participantId), ['erin']);
  assert.ok(report.participants[0]!.talkTimeMs > 5000, `talk time ${report.participants[0]!.talkTimeMs}`);
});

test('the report routes: 401 without a bearer, 404 for an unknown meeting, 400 for a meetingId over 128 characters', async () => {
  assert.is((await http('GET', `${server.url}/api/sessions/RM_none/report`)).status, 401);
  assert.is((await http('GET', `${server.url}/api/sessions/RM_none/report`, undefined, auth)).status, 404);
  assert.is((await http('GET', `${server.url}/api/sessions/RM_none/timeline.svg`, undefined, auth)).status, 404);
  const long = await http('GET', `${server.url}/api/sessions/${'m'.repeat(129)}/report`, undefined, auth);
  assert.is(long.status, 400);
  assert.match(long.body.error.message, /meetingId: 1\.\.128 characters/);
});

test.run();
