/**
 * The meeting timeline picture (src/meetings/timeline-svg.ts): a hand-made MeetingReport (3 participants, one
 * of them a host; talk spurts, an interruption, a backchannel; 2 feedback events; names with markup and a
 * control character) and an empty one are rendered to SVG strings, parsed with headless Debian chromium's
 * DOMParser (no parsererror), then placed in a page to measure where things are drawn: one lane per
 * participant in report order, each spurt inside its own lane and as long as it lasted, the interruption on
 * the interrupter's lane with a connector to the interrupted one, the backchannel tick, the feedback symbols
 * on their lanes, one talk-share bar per participant with lengths in the ratio of the shares. The empty
 * report gives a valid SVG saying there is no speech.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { MeetingReport, ParticipantReport } from '../../src/meetings/report.js';
import { renderTimelineSvg, TIMELINE_MARKS, type TimelineFeedback } from '../../src/meetings/timeline-svg.js';
import { requireTools } from '../helpers/requires.js';

requireTools(['chromium'], 'apt-get install -y --no-install-recommends chromium');

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless=new', '--no-sandbox', '--disable-gpu',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
];

const T0 = 1_767_225_600_000;

function participant(participantId: string, name: string | null, isHost: boolean, talkTimeMs: number, talkSharePercent: number, extra: Partial<ParticipantReport> = {}): ParticipantReport {
  return {
    participantId, name, isHost, talkTimeMs, talkSharePercent, turnCount: 2, longestMonologueMs: 11_000, interruptionsMadeCount: 0,
    interruptionsReceivedCount: 0, interruptedCounts: {}, interruptedByCounts: {}, backchannelCount: 0, patienceMs: 800, ...extra,
  };
}

/** Dr. Host (host) opens, Alice talks, Bob backchannels at 0:20 and interrupts Alice at 0:27 for 3 s. */
function meetingReport(): MeetingReport {
  return {
    meetingId: 'MT_timeline', final: true, startedAtMs: T0, endedAtMs: T0 + 75_000, durationMs: 75_000, speechMs: 52_000,
    silenceSharePercent: 30.7, speakerSwitchCount: 4, speakerSwitchesPerMin: 3.2, interruptionCount: 1, backchannelCount: 1,
    participants: [
      participant('doctor', 'Dr. Host', true, 20_000, 37),
      participant('alice', 'Alice <&> "A" ]]>', false, 24_000, 44.4, { interruptionsReceivedCount: 1, interruptedByCounts: { bob: 1 } }),
      participant('bob', 'Bob\u0007', false, 10_000, 18.6, { interruptionsMadeCount: 1, interruptedCounts: { alice: 1 }, backchannelCount: 1 }),
    ],
    timeline: {
      spurts: [
        { participantId: 'doctor', startMs: T0 + 1000, endMs: T0 + 12_000 },
        { participantId: 'alice', startMs: T0 + 13_000, endMs: T0 + 30_000 },
        { participantId: 'bob', startMs: T0 + 20_000, endMs: T0 + 20_500 },
        { participantId: 'bob', startMs: T0 + 27_000, endMs: T0 + 36_000 },
        { participantId: 'doctor', startMs: T0 + 40_000, endMs: T0 + 49_000 },
        { participantId: 'alice', startMs: T0 + 55_000, endMs: T0 + 62_000 },
      ],
      interruptions: [{ byParticipantId: 'bob', ofParticipantId: 'alice', startMs: T0 + 27_000, endMs: T0 + 30_000, overlapMs: 3000 }],
      backchannels: [{ participantId: 'bob', toParticipantId: 'alice', startMs: T0 + 20_000, endMs: T0 + 20_500 }],
    },
    generatedAt: T0 + 80_000,
  };
}

const FEEDBACK: TimelineFeedback[] = [
  { kind: 'speech_overlap', participantId: 'bob', ts: T0 + 28_000, message: 'Bob started speaking over <Alice> & co (3 s of overlap).' },
  { kind: 'silence_prolonged', participantId: 'bob', ts: T0 + 66_000, message: 'Bob has not spoken for 30 s.' },
];

function emptyReport(): MeetingReport {
  return {
    ...meetingReport(), final: false, speechMs: 0, silenceSharePercent: 100, speakerSwitchCount: 0, speakerSwitchesPerMin: 0,
    interruptionCount: 0, backchannelCount: 0, participants: [], timeline: { spurts: [], interruptions: [], backchannels: [] },
  };
}

let tmp: string;
let context: BrowserContext;
let page: Page;

test.before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'meetcore-timeline-'));
  context = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
    executablePath: CHROMIUM, headless: true, args: ARGS, ignoreDefaultArgs: ['--headless'], viewport: { width: 1400, height: 900 },
  });
  page = context.pages()[0] ?? await context.newPage();
  await page.setContent('<!doctype html><html><body style="margin:0"></body></html>');
});

test.after(async () => {
  await context?.close();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

interface Box { x: number; y: number; w: number; h: number; label: string | null }

interface Parsed {
  parserError: string | null;
  rootName: string;
  width: number;
  height: number;
  texts: string[];
  /** Boxes (page pixels) of the items of each mark group, by class. */
  marks: Record<string, Box[]>;
}

/**
 * DOMParser (image/svg+xml) in chromium; when it parsed, the document's root is put into the page and every
 * item of the named mark groups is measured.
 */
function parse(svg: string): Promise<Parsed> {
  return page.evaluate(({ svg, classes }) => {
    const doc = new DOMParser().parseFromString(svg, 'image/svg+xml');
    const err = doc.querySelector('parsererror');
    const root = doc.documentElement;
    const out: Parsed = { parserError: err ? err.textContent : null, rootName: root.nodeName, width: 0, height: 0, texts: [], marks: {} };
    if (err) return out;
    document.body.replaceChildren(document.importNode(root, true));
    const live = document.body.firstElementChild as SVGSVGElement;
    const r = live.getBoundingClientRect();
    out.width = r.width;
    out.height = r.height;
    out.texts = Array.from(live.querySelectorAll('text'), (t) => t.textContent ?? '');
    for (const cls of classes) {
      out.marks[cls] = Array.from(live.querySelectorAll(`g.${cls} > path, g.${cls} > line, g.${cls} > text`), (el) => {
        const b = el.getBoundingClientRect();
        return { x: b.x, y: b.y, w: b.width, h: b.height, label: el.getAttribute('aria-label') };
      });
    }
    return out;
  }, { svg, classes: Object.values(TIMELINE_MARKS) });
}

const mid = (b: Box) => b.y + b.h / 2;
const inside = (b: Box, lane: Box) => mid(b) > lane.y && mid(b) < lane.y + lane.h;

test('a meeting: valid SVG, one lane per participant, spurts, interruption, backchannel, feedback, talk share', async () => {
  const report = meetingReport();
  const svg = await renderTimelineSvg(report, FEEDBACK);
  assert.ok(svg.startsWith('<svg'), svg.slice(0, 80));
  fs.writeFileSync(path.join(tmp, 'timeline.svg'), svg);
  const p = await parse(svg);
  assert.is(p.parserError, null, 'no parsererror');
  assert.is(p.rootName, 'svg');
  assert.ok(p.width > 800 && p.height > 150, `size ${p.width}×${p.height}`);

  // Lanes: one per participant, in report order, the host marked, names as written (escaped, not markup).
  const lanes = p.marks[TIMELINE_MARKS.lane]!;
  assert.is(lanes.length, 3, 'one lane per participant');
  assert.equal(lanes.map((l) => l.label), ['lane 1: Dr. Host (host)', 'lane 2: Alice <&> "A" ]]>', 'lane 3: Bob\uFFFD']);
  for (let i = 1; i < lanes.length; i++) assert.ok(lanes[i]!.y >= lanes[i - 1]!.y + lanes[i - 1]!.h, 'lanes stacked top to bottom, apart');
  for (const l of lanes) assert.ok(l.w > 600 && l.h > 20, `lane box ${JSON.stringify(l)}`);
  for (const name of ['Dr. Host (host)', 'Alice <&> "A" ]]>', 'Bob\uFFFD']) assert.ok(p.texts.includes(name), `axis label ${name}: ${JSON.stringify(p.texts)}`);
  const laneOf = (id: string) => lanes[report.participants.findIndex((x) => x.participantId === id)]!;

  // Spurts: every one drawn, inside its participant's lane, as wide as it lasted (px per second from the lane).
  const spurts = p.marks[TIMELINE_MARKS.spurt]!;
  assert.is(spurts.length, report.timeline.spurts.length, 'one bar per talk spurt');
  const pxPerSec = lanes[0]!.w / 75;
  for (const [i, s] of report.timeline.spurts.entries()) {
    const bar = spurts[i]!;
    assert.ok(bar.h > 5, `spurt ${i} has height`);
    assert.ok(inside(bar, laneOf(s.participantId)), `spurt ${i} on ${s.participantId}'s lane`);
    const expected = ((s.endMs - s.startMs) / 1000) * pxPerSec;
    assert.ok(Math.abs(bar.w - expected) < 2, `spurt ${i}: ${bar.w} px, expected ${expected}`);
    const x = lanes[0]!.x + ((s.startMs - T0) / 1000) * pxPerSec;
    assert.ok(Math.abs(bar.x - x) < 2, `spurt ${i} starts at ${bar.x}, expected ${x}`);
  }

  // The interruption: a band on Bob's lane over the 3 s overlap, and a connector reaching Alice's lane.
  const [band] = p.marks[TIMELINE_MARKS.interruption]!;
  assert.ok(band && inside(band, laneOf('bob')), 'interruption band on the interrupter\'s lane');
  assert.ok(Math.abs(band!.w - 3 * pxPerSec) < 3, `band ${band!.w} px for 3 s`);
  assert.match(band!.label ?? '', /Bob.* interrupted Alice/);
  const [connector] = p.marks[TIMELINE_MARKS.connector]!;
  assert.ok(connector, 'connector drawn');
  assert.ok(connector!.y <= mid(laneOf('alice')) + 1 && connector!.y + connector!.h >= mid(laneOf('bob')) - 1, `connector spans Alice to Bob: ${JSON.stringify(connector)}`);

  // The backchannel tick on Bob's lane at 0:20.
  const ticks = p.marks[TIMELINE_MARKS.backchannel]!;
  assert.is(ticks.length, 1);
  assert.ok(inside(ticks[0]!, laneOf('bob')));
  assert.ok(Math.abs(ticks[0]!.x + ticks[0]!.w / 2 - (lanes[0]!.x + 20.25 * pxPerSec)) < 3, 'tick at the middle of the backchannel');
  assert.match(ticks[0]!.label ?? '', /^Bob.* backchannel to Alice/, 'the tick names who gave the backchannel and to whom');

  // Feedback symbols on Bob's lane, at their times; the message kept in the label.
  const symbols = p.marks[TIMELINE_MARKS.feedback]!;
  assert.is(symbols.length, 2);
  for (const [i, f] of FEEDBACK.entries()) {
    assert.ok(inside(symbols[i]!, laneOf('bob')), `feedback ${i} on Bob's lane`);
    assert.ok(Math.abs(symbols[i]!.x + symbols[i]!.w / 2 - (lanes[0]!.x + ((f.ts - T0) / 1000) * pxPerSec)) < 3, `feedback ${i} at its time`);
  }
  assert.match(symbols[0]!.label ?? '', /speech_overlap .*<Alice> & co/);
  assert.ok(p.texts.includes('speech_overlap') && p.texts.includes('silence_prolonged'), 'kinds in the legend');

  // Talk share: one bar per participant, beside its lane, lengths in the ratio of the shares.
  const share = p.marks[TIMELINE_MARKS.share]!;
  assert.is(share.length, 3, 'one talk-share bar per participant');
  for (const [i, part] of report.participants.entries()) {
    assert.ok(share[i]!.x > lanes[0]!.x + lanes[0]!.w, 'share bars right of the timeline');
    assert.ok(inside(share[i]!, lanes[i]!), `share bar ${i} on the row of its lane`);
    assert.ok(Math.abs(share[i]!.w / share[0]!.w - part.talkSharePercent / 37) < 0.02, `share bar ${i} length`);
  }
  for (const t of ['37 %', '44 %', '19 %']) assert.ok(p.texts.includes(t), `share label ${t}`);
  assert.ok(p.texts.some((t) => t.startsWith('Meeting MT_timeline')), 'title');
  assert.ok(p.texts.includes('0:30') && p.texts.includes('1:00'), `m:ss axis labels: ${JSON.stringify(p.texts)}`);
});

test('a participant without speech keeps an empty lane; equal names stay apart; ids seen only in the timeline get a lane', async () => {
  const report = meetingReport();
  report.participants[1]!.name = 'Dr. Host';
  report.participants[0]!.isHost = false;
  report.participants.push(participant('carol', null, false, 0, 0));
  report.timeline.spurts.push({ participantId: 'dave', startMs: T0 + 70_000, endMs: T0 + 71_000 });
  const p = await parse(await renderTimelineSvg(report, []));
  assert.is(p.parserError, null);
  const lanes = p.marks[TIMELINE_MARKS.lane]!;
  assert.equal(lanes.map((l) => l.label), ['lane 1: Dr. Host (doctor)', 'lane 2: Dr. Host (alice)', 'lane 3: Bob\uFFFD', 'lane 4: carol', 'lane 5: dave']);
  assert.is(p.marks[TIMELINE_MARKS.spurt]!.length, 7);
  assert.ok(inside(p.marks[TIMELINE_MARKS.spurt]![6]!, lanes[4]!), 'dave\'s spurt on his lane');
  // Bob is no longer the last lane: the tick still names him (a lane key is not a participant id).
  assert.match(p.marks[TIMELINE_MARKS.backchannel]![0]!.label ?? '', /^Bob.* backchannel to Dr\. Host \(alice\)/);
  assert.is(p.marks[TIMELINE_MARKS.feedback]!.length, 0);
});

test('an empty report: a valid SVG that says there is no speech', async () => {
  const svg = await renderTimelineSvg(emptyReport(), []);
  const p = await parse(svg);
  assert.is(p.parserError, null, 'no parsererror');
  assert.is(p.rootName, 'svg');
  assert.ok(p.width > 100 && p.height > 30, `size ${p.width}×${p.height}`);
  assert.is(p.marks[TIMELINE_MARKS.lane]!.length, 0);
  assert.is(p.marks[TIMELINE_MARKS.spurt]!.length, 0);
  assert.is(p.marks[TIMELINE_MARKS.empty]!.length, 1);
  assert.ok(p.texts.some((t) => /No speech recorded/.test(t)), JSON.stringify(p.texts));
  // Participants but nobody spoke: still the no-speech picture, counting them.
  const silent = emptyReport();
  silent.participants = [participant('a', 'A', true, 0, 0), participant('b', 'B', false, 0, 0)];
  const q = await parse(await renderTimelineSvg(silent, []));
  assert.is(q.parserError, null);
  assert.ok(q.texts.some((t) => /2 participants, nobody has spoken yet/.test(t)), JSON.stringify(q.texts));
});

test('the parser check bites: a broken document is reported', async () => {
  const p = await parse('<svg xmlns="http://www.w3.org/2000/svg"><text>a & b</text></svg>');
  assert.ok(p.parserError, 'parsererror for an unescaped &');
});

test.run();
