/**
 * The meeting report (src/meetings/analytics.ts) on hand-made talk spurt and overlap sequences, through the
 * public API only. Every expected figure is derived by hand in the comments; times are ms after T0 (the stream
 * clock is Unix ms). FLOOR_PAUSE_MS = 3000, FLOOR_TAKE_MS = 1000 (src/feedback/rules.ts).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MeetingAnalytics } from '../../src/meetings/analytics.js';
import type { MeetingReport, ParticipantReport } from '../../src/meetings/report.js';
import type { OverlapEvent, SpeechEvent } from '../../src/pipeline/types.js';

const T0 = 1_700_000_000_000;
const NOW = 1_800_000_000_000;

const sp = (participantId: string, startMs: number, endMs: number): SpeechEvent => ({
  type: 'speech', streamId: 1, meetingId: 'm', participantId, startMs: T0 + startMs, endMs: T0 + endMs,
});
function ov(phase: OverlapEvent['phase'], participants: [string, string], laterParticipantId: string, startMs: number, tMs: number, overlapMs: number, excluded = false): OverlapEvent {
  return { type: 'overlap', meetingId: 'm', phase, participants, laterParticipantId, startMs: T0 + startMs, tMs: T0 + tMs, overlapMs, excluded };
}
const nobody = (_id: string) => ({ name: null, isHost: false });

/** A meeting whose participants' streams open at T0 and close at `endMs`, fed `events` in the given order. */
function meeting(ids: string[], endMs: number, events: (SpeechEvent | OverlapEvent)[], opts?: { maxSpurts?: number }): MeetingAnalytics {
  const m = new MeetingAnalytics('m', opts);
  for (const id of ids) m.streamOpened(id, T0);
  for (const e of events) (e.type === 'speech' ? m.speech(e) : m.overlap(e));
  for (const id of ids) m.streamClosed(id, T0 + endMs);
  return m;
}

function person(r: MeetingReport, id: string): ParticipantReport {
  const p = r.participants.find((q) => q.participantId === id);
  assert.ok(p, `participant ${id} in the report`);
  return p!;
}

/** The floor figures of a participant. */
const floor = (p: ParticipantReport) => ({ turns: p.turnCount, longest: p.longestMonologueMs, patience: p.patienceMs, backchannels: p.backchannelCount });

test('two-person exchange with gaps: talk time, shares, turns, patience, switches, silence, span, rounding', () => {
  // a 0–4000, b 5500.4–9000 (gap 1500.4), a 11000–13000 (gap 2000), b 13500–14500 (gap 500; exactly 1000 ms and
  // nobody else speaking: a turn). Streams 0–15000. b's stream opens first: participants are still sorted by id.
  const m = new MeetingAnalytics('m');
  m.streamOpened('b', T0);
  m.streamOpened('a', T0);
  for (const e of [sp('a', 0, 4000), sp('b', 5500.4, 9000), sp('a', 11000, 13000), sp('b', 13500, 14500)]) m.speech(e);
  m.progress(T0 + 14_800);
  m.streamClosed('a', T0 + 15_000);
  m.streamClosed('b', T0 + 14_900);
  const r = m.report((id) => ({ name: id === 'a' ? 'Ana' : null, isHost: false }), NOW, false);

  // Talk: a 4000 + 2000 = 6000; b 3499.6 + 1000 = 4499.6 → 4500. Total 10499.6: a 57.145 % → 57.1, b 42.855 % → 42.9.
  // Turns a[0,4000] a[11000,13000]; b[5500.4,9000] b[13500,14500]: each 2 turns; longest a 4000, b 3499.6 → 3500.
  // Patience (turns taken from somebody else): a only its second, 2000; b (1500.4 + 500) / 2 = 1000.2 → 1000.
  assert.equal(r.participants, [
    {
      participantId: 'a', name: 'Ana', isHost: false, talkTimeMs: 6000, talkSharePercent: 57.1, turnCount: 2, longestMonologueMs: 4000,
      interruptionsMadeCount: 0, interruptionsReceivedCount: 0, interruptedCounts: {}, interruptedByCounts: {}, backchannelCount: 0, patienceMs: 2000,
    },
    {
      participantId: 'b', name: null, isHost: false, talkTimeMs: 4500, talkSharePercent: 42.9, turnCount: 2, longestMonologueMs: 3500,
      interruptionsMadeCount: 0, interruptionsReceivedCount: 0, interruptedCounts: {}, interruptedByCounts: {}, backchannelCount: 0, patienceMs: 1000,
    },
  ]);
  // Span T0 .. max(stream ends 15000, progress 14800, spurt ends 14500) = 15000. Speech union 10499.6 → 10500;
  // silence 1 − 10499.6 / 15000 = 30.0027 % → 30. Switches a→b→a→b = 3, over 0.25 min = 12 per min.
  assert.is(r.meetingId, 'm');
  assert.is(r.final, false);
  assert.is(r.startedAtMs, T0);
  assert.is(r.endedAtMs, T0 + 15_000);
  assert.is(r.durationMs, 15_000);
  assert.is(r.speechMs, 10_500);
  assert.is(r.silenceSharePercent, 30);
  assert.is(r.speakerSwitchCount, 3);
  assert.is(r.speakerSwitchesPerMin, 12);
  assert.is(r.interruptionCount, 0);
  assert.is(r.backchannelCount, 0);
  assert.is(r.generatedAt, NOW);
  assert.equal(r.timeline.spurts.map((s) => [s.participantId, s.startMs - T0, s.endMs - T0]), [['a', 0, 4000], ['b', 5500, 9000], ['a', 11000, 13000], ['b', 13500, 14500]]);
  assert.equal(r.timeline.interruptions, []);
  assert.equal(r.timeline.backchannels, []);
});

test('an interruption: counted once with whom, live then final length; the floor passes with 0 ms patience', () => {
  // a 0–10000; b 6000–12000 over a (overlap 6000–10000); a again 13000–15000.
  const events = [
    sp('a', 0, 10_000),
    ov('start', ['a', 'b'], 'b', 6000, 6500, 500),
    ov('ongoing', ['a', 'b'], 'b', 6000, 7500, 1500),
  ];
  const m = meeting(['a', 'b'], 16_000, events);
  // Live, before the end: the mark runs to the latest report (7500, 1500 ms).
  let r = m.report(nobody, NOW, false);
  assert.is(r.interruptionCount, 1);
  assert.equal(r.timeline.interruptions, [{ byParticipantId: 'b', ofParticipantId: 'a', startMs: T0 + 6000, endMs: T0 + 7500, overlapMs: 1500 }]);

  m.overlap(ov('ongoing', ['a', 'b'], 'b', 6000, 8500, 2500));
  m.overlap(ov('end', ['a', 'b'], 'b', 6000, 10_000, 4000));
  m.speech(sp('b', 6000, 12_000));
  m.speech(sp('a', 13_000, 15_000));
  r = m.report(nobody, NOW, true);
  // Start + 2 ongoing + end = still 1 interruption, made by b (the later one) of a; its final length from 'end'.
  assert.is(r.interruptionCount, 1);
  assert.is(r.final, true);
  assert.equal(r.timeline.interruptions, [{ byParticipantId: 'b', ofParticipantId: 'a', startMs: T0 + 6000, endMs: T0 + 10_000, overlapMs: 4000 }]);
  const a = person(r, 'a');
  const b = person(r, 'b');
  assert.equal([a.interruptionsMadeCount, a.interruptionsReceivedCount, a.interruptedCounts, a.interruptedByCounts], [0, 1, {}, { b: 1 }]);
  assert.equal([b.interruptionsMadeCount, b.interruptionsReceivedCount, b.interruptedCounts, b.interruptedByCounts], [1, 0, { a: 1 }, {}]);
  // Turns: a[0,10000] (length to its spurt's end: 10000), b[6000,12000] taken while a spoke → patience 0,
  // a[13000,15000] taken from b after 1000 ms of silence → a's patience 1000. Switches 2.
  assert.equal(floor(a), { turns: 2, longest: 10_000, patience: 1000, backchannels: 0 });
  assert.equal(floor(b), { turns: 1, longest: 6000, patience: 0, backchannels: 0 });
  assert.is(r.speakerSwitchCount, 2);
  // Union 0–12000 + 13000–15000 = 14000 of 16000: silence 12.5 %.
  assert.is(r.speechMs, 14_000);
  assert.is(r.silenceSharePercent, 12.5);
});

test('backchannels during a monologue: counted for their speaker, no turn, the monologue goes on', () => {
  // a 0–5000 and 5800–12000 (pause 800 < 3000: one turn 0–12000). b "mm-hm" 3000–3400 and "yes" 6000–6600, both
  // under 1000 ms and starting inside a spurt of a: backchannels to a. Then b takes the floor 13000–16000.
  const m = meeting(['a', 'b'], 16_000, [sp('a', 0, 5000), sp('b', 3000, 3400), sp('a', 5800, 12_000), sp('b', 6000, 6600), sp('b', 13_000, 16_000)]);
  const r = m.report(nobody, NOW, false);
  // a: 1 turn of 12000, never took the floor from anybody (patience null). b: 2 backchannels, 1 turn of 3000
  // taken 1000 ms after a's turn ended (patience 1000). One switch (a → b).
  assert.equal(floor(person(r, 'a')), { turns: 1, longest: 12_000, patience: null, backchannels: 0 });
  assert.equal(floor(person(r, 'b')), { turns: 1, longest: 3000, patience: 1000, backchannels: 2 });
  assert.is(r.speakerSwitchCount, 1);
  assert.is(r.backchannelCount, 2);
  assert.is(r.interruptionCount, 0);
  assert.equal(r.timeline.backchannels, [
    { participantId: 'b', toParticipantId: 'a', startMs: T0 + 3000, endMs: T0 + 3400 },
    { participantId: 'b', toParticipantId: 'a', startMs: T0 + 6000, endMs: T0 + 6600 },
  ]);
  // Talk: a 5000 + 6200 = 11200, b 400 + 600 + 3000 = 4000 (backchannels are talk): shares 73.7 / 26.3.
  assert.equal([person(r, 'a').talkTimeMs, person(r, 'b').talkTimeMs], [11_200, 4000]);
  assert.equal([person(r, 'a').talkSharePercent, person(r, 'b').talkSharePercent], [73.7, 26.3]);
  // Union: 0–5000, 5800–12000, 13000–16000 = 14200 of 16000: silence 11.25 % → 11.3.
  assert.is(r.speechMs, 14_200);
  assert.is(r.silenceSharePercent, 11.3);
});

test('backchannel bounds: other.start <= s.start < other.end, and shorter than 1000 ms', () => {
  // c 0–5000. b 0–999: starts with c's spurt (other.start <= s.start; b sorts before c) and lasts 999 ms: a
  // backchannel to c. a 2000–3000: exactly 1000 ms, not shorter: a turn, taken from c while c spoke (patience 0).
  // b 5000–5500: starts as c's spurt ends (not < other.end), nobody else in a spurt: a turn, taken from a; no
  // silence between a's turn end (3000) and 5000 since c spoke until 5000: patience 0. Switches c → a → b: 2.
  const r = meeting(['a', 'b', 'c'], 6000, [sp('c', 0, 5000), sp('b', 0, 999), sp('a', 2000, 3000), sp('b', 5000, 5500)]).report(nobody, NOW, false);
  assert.equal(r.timeline.backchannels, [{ participantId: 'b', toParticipantId: 'c', startMs: T0, endMs: T0 + 999 }]);
  assert.equal(floor(person(r, 'c')), { turns: 1, longest: 5000, patience: null, backchannels: 0 });
  assert.equal(floor(person(r, 'b')), { turns: 1, longest: 500, patience: 0, backchannels: 1 });
  assert.equal(floor(person(r, 'a')), { turns: 1, longest: 1000, patience: 0, backchannels: 0 });
  assert.is(r.speakerSwitchCount, 2);
});

test('a pause of 3 s or more ends a turn; under 3 s it does not', () => {
  // a 0–2000, 5000–7000 (pause exactly 3000: a new turn), 9900–10900 (pause 2900: same turn 5000–10900).
  // Then b 12000–14000 after 1100 ms of silence.
  const r = meeting(['a', 'b'], 15_000, [sp('a', 0, 2000), sp('a', 5000, 7000), sp('a', 9900, 10_900), sp('b', 12_000, 14_000)]).report(nobody, NOW, false);
  // a: turns [0,2000] and [5000,10900] (longest 5900); both follow nobody else's turn: patience null.
  // Its own turn after its own turn is no speaker switch; a → b is one.
  assert.equal(floor(person(r, 'a')), { turns: 2, longest: 5900, patience: null, backchannels: 0 });
  assert.equal(floor(person(r, 'b')), { turns: 1, longest: 2000, patience: 1100, backchannels: 0 });
  assert.is(r.speakerSwitchCount, 1);
  assert.is(r.speakerSwitchesPerMin, 4); // 1 switch over 15000 ms = 0.25 min
});

test('out-of-order arrival across participants gives the same report', () => {
  // Three participants, each one's events in order; the orders differ across participants.
  const a = [sp('a', 0, 5000), sp('a', 5800, 12_000), sp('a', 20_000, 21_500)];
  const b = [sp('b', 3000, 3400), sp('b', 10_000, 16_000), sp('b', 25_000, 25_300)];
  const c = [sp('c', 16_500, 18_000), sp('c', 25_100, 26_000), sp('c', 30_000, 30_999)];
  const overlaps = [ov('start', ['a', 'b'], 'b', 10_000, 10_500, 500), ov('end', ['a', 'b'], 'b', 10_000, 12_000, 2000)];
  const inOrder = [...a, ...b, ...c].sort((x, y) => x.startMs - y.startMs);
  const expected = meeting(['a', 'b', 'c'], 31_000, [...inOrder, ...overlaps]).report(nobody, NOW, true);
  // Hand check of the in-order report: a's turn [0,12000] (b's 3000–3400 inside it: a backchannel; pause 800);
  // b [10000,16000] over a (patience 0); c [16500,18000] (silence after b: 500); a [20000,21500] (2000);
  // b 25000–25300, short but nobody else speaking: a turn (3500); c 25100–26000, short inside b's: a backchannel;
  // c [30000,30999] in silence: a turn, after the silence since c's own backchannel ended, 30000 − 26000 = 4000.
  // Floor a, b, c, a, b, c → 5 switches.
  assert.equal(floor(person(expected, 'a')), { turns: 2, longest: 12_000, patience: 2000, backchannels: 0 });
  assert.equal(floor(person(expected, 'b')), { turns: 2, longest: 6000, patience: (0 + 3500) / 2, backchannels: 1 });
  assert.equal(floor(person(expected, 'c')), { turns: 2, longest: 1500, patience: (500 + 4000) / 2, backchannels: 1 });
  assert.is(expected.speakerSwitchCount, 5);

  const orders = [
    [...c, ...a, ...b, ...overlaps],
    [...overlaps, ...b, ...c, ...a],
    [b[0]!, c[0]!, c[1]!, a[0]!, b[1]!, overlaps[0]!, a[1]!, c[2]!, a[2]!, overlaps[1]!, b[2]!],
  ];
  for (const order of orders) assert.equal(meeting(['c', 'a', 'b'], 31_000, order).report(nobody, NOW, true), expected);
  // Reports in between do not change the final one.
  const m = meeting(['b', 'a', 'c'], 31_000, []);
  for (const e of orders[2]!) {
    e.type === 'speech' ? m.speech(e) : m.overlap(e);
    m.report(nobody, NOW, false);
  }
  assert.equal(m.report(nobody, NOW, true), expected);
});

test('a host is in the report, with the interruptions it made (excluded overlaps count)', () => {
  // p 0–6000; host h 4000–8000 over p, overlap 4000–6000 reported with excluded: true.
  const m = meeting(['h', 'p'], 9000, [
    sp('p', 0, 6000),
    ov('start', ['p', 'h'], 'h', 4000, 4500, 500, true),
    ov('end', ['p', 'h'], 'h', 4000, 6000, 2000, true),
    sp('h', 4000, 8000),
  ]);
  const r = m.report((id) => ({ name: id === 'h' ? 'Host' : 'Pat', isHost: id === 'h' }), NOW, true);
  const h = person(r, 'h');
  assert.equal([h.name, h.isHost, h.talkTimeMs, h.interruptionsMadeCount, h.interruptedCounts], ['Host', true, 4000, 1, { p: 1 }]);
  assert.equal([person(r, 'p').isHost, person(r, 'p').interruptedByCounts], [false, { h: 1 }]);
  // Talk h 4000, p 6000: shares 40 / 60. h took the floor from p while p spoke: 1 turn of 4000, patience 0.
  assert.equal([h.talkSharePercent, person(r, 'p').talkSharePercent], [40, 60]);
  assert.equal(floor(h), { turns: 1, longest: 4000, patience: 0, backchannels: 0 });
  assert.is(r.interruptionCount, 1);
  assert.equal(r.timeline.interruptions, [{ byParticipantId: 'h', ofParticipantId: 'p', startMs: T0 + 4000, endMs: T0 + 6000, overlapMs: 2000 }]);
});

test('an empty meeting, and one with streams but no speech', () => {
  const empty = new MeetingAnalytics('e').report(nobody, NOW, true);
  assert.equal(empty, {
    meetingId: 'e', final: true, startedAtMs: null, endedAtMs: null, durationMs: 0, speechMs: 0, silenceSharePercent: 0,
    speakerSwitchCount: 0, speakerSwitchesPerMin: 0, interruptionCount: 0, backchannelCount: 0, participants: [],
    timeline: { spurts: [], interruptions: [], backchannels: [] }, generatedAt: NOW,
  });
  // Streams 0–60000, nobody spoke: shares 0, patience null, all of the 60 s silent.
  const quiet = meeting(['a', 'b'], 60_000, []).report(nobody, NOW, false);
  assert.equal([quiet.startedAtMs, quiet.durationMs, quiet.speechMs, quiet.silenceSharePercent], [T0, 60_000, 0, 100]);
  assert.equal(quiet.participants.map((p) => [p.participantId, p.talkTimeMs, p.talkSharePercent, p.turnCount, p.longestMonologueMs, p.patienceMs]), [
    ['a', 0, 0, 0, 0, null],
    ['b', 0, 0, 0, 0, null],
  ]);
});

test('maxSpurts bounds the spurts and the interruptions kept; the dropped still count in the totals', () => {
  // a speaks 1000 ms every 5000 ms, five times; only the first 3 spurts are kept.
  const m = meeting(['a', 'b'], 25_000, [0, 5000, 10_000, 15_000, 20_000].map((t) => sp('a', t, t + 1000)), { maxSpurts: 3 });
  // Four interruptions of a by b at 1000, 2000, 3000, 4000 (only starting); the 4th is counted but not kept.
  for (const t of [1000, 2000, 3000, 4000]) m.overlap(ov('start', ['a', 'b'], 'b', t, t + 500, 500));
  m.overlap(ov('end', ['a', 'b'], 'b', 4000, 4800, 800)); // the end of the dropped one: no effect
  m.overlap(ov('end', ['a', 'b'], 'b', 1000, 1900, 900));
  assert.is(m.droppedSpurts, 2);
  assert.is(m.droppedInterruptions, 1);
  const r = m.report(nobody, NOW, false);
  // Talk time: all 5 spurts, 5000. Timeline, turns and speech union: the 3 kept (3 turns of 1000, 3000 ms).
  assert.is(person(r, 'a').talkTimeMs, 5000);
  assert.is(r.timeline.spurts.length, 3);
  assert.is(person(r, 'a').turnCount, 3);
  assert.is(r.speechMs, 3000);
  assert.is(r.endedAtMs, T0 + 25_000);
  assert.is(r.interruptionCount, 4);
  assert.equal([person(r, 'b').interruptionsMadeCount, person(r, 'a').interruptedByCounts], [4, { b: 4 }]);
  assert.equal(r.timeline.interruptions.map((i) => [i.startMs - T0, i.endMs - T0, i.overlapMs]), [[1000, 1900, 900], [2000, 2500, 500], [3000, 3500, 500]]);
  // Without streams, the dropped spurts still widen the span: 2 kept of 3, the last ends at 2 × 5000 + 1000.
  const n = new MeetingAnalytics('n', { maxSpurts: 2 });
  for (const t of [0, 5000, 10_000]) n.speech(sp('a', t, t + 1000));
  const s = n.report(nobody, NOW, false);
  assert.equal([n.droppedSpurts, s.startedAtMs, s.endedAtMs, person(s, 'a').talkTimeMs], [1, T0, T0 + 11_000, 3000]);
});


test('snapshot: fixed at the moment it is taken (interruption ends and counts after it copy first), adopted by fromSnapshot and shared with a worker', async () => {
  // a 0–3000 with b's interruption 2000–… open; a snapshot; then b's overlap ends at 2600, b interrupts again at
  // 5000 (the pair's count 1 → 2), and a new spurt comes. The snapshot's report is the one of the moment it was
  // taken; the live report has everything; a MeetingAnalytics adopting the snapshot goes on without touching it.
  const m = meeting(['a', 'b'], 10_000, [sp('a', 0, 3000), sp('b', 2000, 2600), ov('start', ['a', 'b'], 'b', 2000, 2300, 300)]);
  const before = m.report(nobody, NOW, false);
  const snap = m.snapshot();
  m.overlap(ov('end', ['a', 'b'], 'b', 2000, 2600, 600));
  m.speech(sp('a', 4000, 6000));
  m.speech(sp('b', 5000, 5500));
  m.overlap(ov('start', ['a', 'b'], 'b', 5000, 5400, 400));
  const taken = MeetingAnalytics.fromSnapshot(snap).report(nobody, NOW, false);
  assert.equal(taken, before, 'the snapshot is the timeline of the moment it was taken');
  const live = m.report(nobody, NOW, false);
  assert.is(live.interruptionCount, 2);
  assert.is(person(live, 'b').interruptedCounts.a, 2);
  assert.is(live.timeline.interruptions[0]!.overlapMs, 600, 'the end reached the live timeline');
  assert.is(before.timeline.interruptions[0]!.overlapMs, 300);

  // A timeline adopted from a snapshot writes its own copies: the snapshot (and the timeline it came from) stay.
  const again = m.snapshot();
  const adopted = MeetingAnalytics.fromSnapshot(again);
  adopted.overlap(ov('end', ['a', 'b'], 'b', 5000, 5900, 900));
  adopted.overlap(ov('start', ['a', 'b'], 'b', 7000, 7100, 100));
  assert.is(adopted.report(nobody, NOW, false).interruptionCount, 3);
  assert.equal(MeetingAnalytics.fromSnapshot(again).report(nobody, NOW, false), live);
  assert.equal(m.report(nobody, NOW, false), live);

  // The columns are shared memory: a worker thread sees the snapshot without a copy and computes the same report.
  const { Worker } = await import('node:worker_threads');
  assert.ok(again.spurtStart.buffer instanceof SharedArrayBuffer, 'columns are views of a SharedArrayBuffer');
  const worker = new Worker(
    `const { parentPort } = require('node:worker_threads');
     parentPort.once('message', (s) => { parentPort.postMessage(s.spurtStart.buffer instanceof SharedArrayBuffer ? Array.from(s.spurtStart) : null); });`,
    { eval: true },
  );
  worker.postMessage(again);
  const seen = await new Promise((resolve) => worker.once('message', resolve));
  await worker.terminate();
  assert.equal(seen, Array.from(again.spurtStart), 'the worker read the shared columns');
});

test('a timeline adopted from a small snapshot grows its columns in whole rows: 400 interruptions of 400 distinct pairs all counted and kept', () => {
  // The adopted columns are exactly as long as their rows (here 1 interruption); growing them must keep the
  // interruption times three per row and the pair counts in rows of three (a column of 1024 is neither).
  const m = meeting(['a', 'b'], 1000, [sp('a', 0, 900), sp('b', 100, 400), ov('start', ['a', 'b'], 'b', 100, 400, 300)]);
  const adopted = MeetingAnalytics.fromSnapshot(m.snapshot());
  const ids = Array.from({ length: 21 }, (_, i) => `q${String(i).padStart(2, '0')}`);
  let n = 0;
  for (const by of ids) {
    for (const of of ids) {
      if (by === of || n >= 400) continue;
      const t = 2000 + n * 10;
      adopted.overlap(ov('start', [of, by], by, t, t + 5, 5));
      n++;
    }
  }
  const r = adopted.report(nobody, NOW, false);
  assert.is(r.interruptionCount, 401);
  assert.is(r.timeline.interruptions.length, 401);
  let counted = 0;
  for (const p of r.participants) for (const c of Object.values(p.interruptedCounts)) { assert.is(c, 1, `${p.participantId}: each pair once`); counted += c; }
  assert.is(counted, 401, 'every pair counted once');
  assert.ok(r.timeline.interruptions.every((x) => x.endMs > x.startMs), 'interruption times three per row');
});

test.run();
