/**
 * The meeting timeline picture (`GET /api/sessions/:meetingId/timeline.svg`, the host console's live picture):
 * a MeetingReport (./report.ts) and the meeting's feedback events drawn as one self-contained SVG string.
 * Vega-Lite spec → vega-lite compile → vega View with renderer 'none' → `toSVG()`, through src/charts.ts as src/loadtest/report.ts
 * does: no DOM, no canvas (text widths are estimated), no script, no external font, image or stylesheet.
 */
import type { TopLevelSpec } from 'vega-lite';
import { CHART_CONFIG as CONFIG, renderSvg } from '../charts.js';
import { TIMELINE_MAX_MARKS } from './render-pool.js';
import type { MeetingReport } from './report.js';

/** A feedback event as the picture needs it (src/store/feedback.ts FeedbackEvent has these fields and more). */
export interface TimelineFeedback {
  /** Feedback kind (src/feedback/rules.ts FEEDBACK_KINDS, e.g. 'speech_overlap'). */
  kind: string;
  /** The participant the event is about: its symbol goes on that participant's lane. */
  participantId: string;
  /** Stream-clock moment the event describes, Unix ms (the same clock as the report's marks). */
  ts: number;
  /** The host-facing text; only in the symbol's aria-label. */
  message?: string;
}

/** Width of the timeline view, px. */
const TIMELINE_WIDTH = 720;
/** Width of the talk-share view, px. */
const SHARE_WIDTH = 200;
/** Height of one lane, px. */
const LANE_STEP = 36;
/** Most lanes drawn; beyond it the participants with the least talk share share the last lane, "others". */
export const TIMELINE_MAX_LANES = 40;
const LANE_FILL = '#f3f4f6';
const HOST_LANE_FILL = '#ece6f6';
const INTERRUPTION_COLOR = '#d62728';
const BACKCHANNEL_COLOR = '#1a1a1a';
/** Participant colours (talk spurts and their talk-share bar); no red, which marks interruptions. */
const PALETTE = ['#4c78a8', '#f58518', '#54a24b', '#b279a2', '#72b7b2', '#eeca3b', '#9d755d', '#79706e', '#8cd17d', '#86bcb6'];
/** Mark names; Vega puts each mark's name in the class of its `<g>` as `<name>_marks` (e.g. `lane_marks`). */
export const TIMELINE_MARKS = {
  /** One background rect per participant lane, aria-label `lane <n>: <label>`. */
  lane: 'lane_marks',
  /** One bar per talk spurt. */
  spurt: 'spurt_marks',
  /** One red band per interruption, on the interrupter's lane over the overlap. */
  interruption: 'interruption_marks',
  /** One dashed red rule per interruption, from the interrupter's lane to the interrupted one's. */
  connector: 'connector_marks',
  /** One tick per backchannel. */
  backchannel: 'backchannel_marks',
  /** One symbol per feedback event. */
  feedback: 'feedback_marks',
  /** One bar per participant in the talk-share view. */
  share: 'share_marks',
  /** The text of the picture of a report without speech. */
  empty: 'empty_marks',
} as const;

/**
 * Draws the meeting as an SVG document (a string starting with `<svg`, with `xmlns`, width, height and viewBox).
 *
 * Left, the timeline (x axis: time since `report.startedAtMs` on the stream clock, labelled minutes:seconds;
 * one horizontal lane per participant, top to bottom in `report.participants` order, then any participantId
 * that only appears in the timeline or in `feedback`):
 * - lane: a light background rect across the whole meeting (tinted violet for hosts), labelled on the y axis
 *   with the display name, else the participantId (with the id added when two names are equal), and
 *   "(host)" for hosts; its aria-label is `lane <n>: <label>`;
 * - talk spurt (`timeline.spurts`): a bar from startMs to endMs in the participant's colour;
 * - interruption (`timeline.interruptions`): a translucent red band over the overlap (startMs..endMs) on the
 *   interrupter's lane, and a dashed red rule at startMs from the interrupter's lane to the interrupted one's;
 * - backchannel (`timeline.backchannels`): a short black tick at the middle of the backchannel;
 * - feedback event: a symbol at `ts` on the lane of its participant, its shape by kind (legend below).
 * Right, the talk share: one bar per participant (same colour and row as the lane) of talkSharePercent
 * (0..100 %), its value written after the bar.
 * Title: meeting id and live/final; subtitle: duration, speech, silence share, switches per minute,
 * interruptions and backchannels of the meeting.
 *
 * A report without talk spurts (no audio yet, or silence only) gives a small SVG with the title and the text
 * "No speech recorded …" instead. Every text (names, ids, messages) is data, escaped by vega's SVG writer.
 *
 * Bounded: lanes are keyed `p<index>` (labels only on the axis and in aria-labels); beyond TIMELINE_MAX_LANES
 * participants the least talkative share a last lane "others (N)"; beyond `maxMarks` marks of a kind, a lane's
 * marks closer than (time span × lanes / maxMarks) are merged into one (interruption connectors are then left
 * out), so each layer holds at most maxMarks + lanes marks, and a subtitle line says what was aggregated.
 * Seconds of CPU at the analytics bound: callers run it in a worker (src/meetings/render-worker.ts).
 *
 * @param report the live or final report; times are stream-clock Unix ms, durations ms.
 * @param feedback the meeting's feedback events (any order); `ts` in stream-clock Unix ms.
 * @param maxMarks marks of one kind drawn one by one (default TIMELINE_MAX_MARKS, 2 000).
 * @returns the SVG markup.
 */
export async function renderTimelineSvg(report: MeetingReport, feedback: TimelineFeedback[], maxMarks = TIMELINE_MAX_MARKS): Promise<string> {
  return renderSvg(timelineSpec(report, feedback, maxMarks));
}

/**
 * Text made fit for XML 1.0: characters XML forbids even escaped (C0 controls other than tab and newlines,
 * U+FFFE/U+FFFF, lone surrogates) become U+FFFD. Markup characters are left to vega's SVG writer to escape.
 */
export function xmlSafe(text: string): string {
  return text.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

/** The Vega-Lite spec of renderTimelineSvg (exported for tests and for other renderers). */
export function timelineSpec(report: MeetingReport, feedback: TimelineFeedback[], maxMarks = TIMELINE_MAX_MARKS): TopLevelSpec {
  const title = xmlSafe(`Meeting ${report.meetingId} — ${report.final ? 'final' : 'live'}`);
  if (report.timeline.spurts.length === 0) return emptySpec(title, report);

  const { lanes, laneOf, othersCount } = laneList(report, feedback);
  const keys = lanes.map((l) => l.key);
  const t = report.timeline;

  // The time range, in one pass (no spread into Math.min/max: 50 000 marks overflow the call stack).
  let minMs = Infinity;
  let maxMs = -Infinity;
  const see = (ms: number) => {
    if (!Number.isFinite(ms)) return;
    if (ms < minMs) minMs = ms;
    if (ms > maxMs) maxMs = ms;
  };
  for (const x of t.spurts) { see(x.startMs); see(x.endMs); }
  for (const x of t.interruptions) { see(x.startMs); see(x.endMs); }
  for (const x of t.backchannels) { see(x.startMs); see(x.endMs); }
  for (const f of feedback) see(f.ts);
  const origin = report.startedAtMs ?? (Number.isFinite(minMs) ? minMs : 0);
  const sec = (ms: number) => (ms - origin) / 1000;
  const endSec = Number.isFinite(maxMs) ? Math.max(1, report.durationMs / 1000, sec(maxMs)) : Math.max(1, report.durationMs / 1000);
  const startSec = Number.isFinite(minMs) ? Math.min(0, sec(minMs)) : 0;
  const ticks = tickValues(startSec, endSec);
  // Beyond `maxMarks` marks of a kind, marks of one lane closer than `gapSec` are drawn as one.
  const gapSec = Math.max((endSec - startSec) / TIMELINE_WIDTH, ((endSec - startSec) * lanes.length) / Math.max(1, maxMarks));
  const labelOf = (id: string) => lanes[laneOf(id)]!.label;
  const keyOf = (id: string) => lanes[laneOf(id)]!.key;
  const labelOfKey = new Map(lanes.map((l) => [l.key, l.label]));

  const x = {
    field: 'x0', type: 'quantitative', title: 'time since start (m:ss, stream clock)',
    scale: { domain: [startSec, endSec], nice: false, zero: false },
    axis: { values: ticks, labelExpr: CLOCK_EXPR, grid: true, labelFlush: true },
  } as const;
  const x2 = { field: 'x1' } as const;
  // Lanes are keyed p0, p1, … (never a participant's name: vega groups marks by key in plain objects, where a
  // name like "constructor" or "__proto__" would collide); the axis shows each key's label.
  const y = {
    field: 'lane', type: 'nominal', title: null,
    scale: { domain: keys, paddingInner: 0.12, paddingOuter: 0.06 },
    axis: { labelLimit: 180, labelFontSize: 12, ticks: false, domain: false, labelExpr: laneLabelExpr(lanes) },
  } as const;
  const color = { field: 'lane', type: 'nominal', scale: { domain: keys, range: keys.map((_, i) => PALETTE[i % PALETTE.length]) }, legend: null } as const;
  const described = { description: { field: 'desc', type: 'nominal' } } as const;

  const drawn: string[] = [];
  const merged = <T>(what: string, unit: string, rows: T[], lane: (r: T) => string, startMs: (r: T) => number, endMs: (r: T) => number) => {
    const out = mergeMarks(rows, (r) => keyOf(lane(r)), (r) => sec(startMs(r)), (r) => sec(endMs(r)), rows.length > maxMarks ? gapSec : -1);
    if (out.length < rows.length) drawn.push(`${count(rows.length, what)} drawn as ${count(out.length, unit)}`);
    return out;
  };

  const spurts = merged('talk spurt', 'bar', t.spurts, (s) => s.participantId, (s) => s.startMs, (s) => s.endMs);
  const kinds = [...new Set(feedback.map((f) => xmlSafe(f.kind)))].sort();
  const layers: object[] = [
    {
      name: 'lane',
      data: { values: lanes.map((l, i) => ({ lane: l.key, x0: startSec, x1: endSec, host: l.isHost, desc: `lane ${i + 1}: ${l.label}` })) },
      // Translucent, so that the time grid shows through.
      mark: { type: 'rect', opacity: 0.8 },
      encoding: { x, x2, y, color: { condition: { test: 'datum.host', value: HOST_LANE_FILL }, value: LANE_FILL }, ...described },
    },
    {
      name: 'spurt',
      data: {
        values: spurts.map((m) => ({
          lane: m.lane, x0: m.x0, x1: m.x1,
          desc: `${labelOfKey.get(m.lane)} spoke ${clock(m.x0)}–${clock(m.x1)}${m.count > 1 ? ` (${m.count} talk spurts)` : ''}`,
        })),
      },
      mark: { type: 'bar', height: { band: 0.5 }, cornerRadius: 2 },
      encoding: { x, x2, y, color, ...described },
    },
  ];
  if (t.interruptions.length) {
    const bands = merged('interruption', 'band', t.interruptions, (i) => i.byParticipantId, (i) => i.startMs, (i) => i.endMs);
    const single = bands.length === t.interruptions.length;
    layers.push({
      name: 'interruption',
      data: {
        values: bands.map((m) => {
          const i = m.first;
          return {
            lane: m.lane, x0: m.x0, x1: m.x1,
            desc: single
              ? `${labelOf(i.byParticipantId)} interrupted ${labelOf(i.ofParticipantId)} at ${clock(sec(i.startMs))} (${(i.overlapMs / 1000).toFixed(1)} s overlap)`
              : `${labelOfKey.get(m.lane)} interrupted ${count(m.count, 'time')} ${clock(m.x0)}–${clock(m.x1)}`,
          };
        }),
      },
      mark: { type: 'bar', height: { band: 0.86 }, color: INTERRUPTION_COLOR, opacity: 0.45, stroke: INTERRUPTION_COLOR, strokeWidth: 1.5 },
      encoding: { x, x2, y, ...described },
    });
    if (single) {
      layers.push({
        name: 'connector',
        data: { values: t.interruptions.map((i) => ({ lane: keyOf(i.byParticipantId), lane2: keyOf(i.ofParticipantId), x0: sec(i.startMs), desc: `${labelOf(i.byParticipantId)} interrupted ${labelOf(i.ofParticipantId)} at ${clock(sec(i.startMs))}` })) },
        mark: { type: 'rule', color: INTERRUPTION_COLOR, strokeWidth: 1.5, strokeDash: [4, 3] },
        encoding: { x, y, y2: { field: 'lane2' }, ...described },
      });
    } else drawn.push('no connectors');
  }
  if (t.backchannels.length) {
    const ticksDrawn = merged('backchannel', 'tick', t.backchannels, (b) => b.participantId, (b) => b.startMs, (b) => b.endMs);
    layers.push({
      name: 'backchannel',
      data: {
        values: ticksDrawn.map((m) => ({
          lane: m.lane, x0: (m.x0 + m.x1) / 2,
          desc: m.count > 1 ? `${labelOfKey.get(m.lane)}: ${count(m.count, 'backchannel')} ${clock(m.x0)}–${clock(m.x1)}` : `${labelOfKey.get(m.lane)} backchannel to ${labelOf(m.first.toParticipantId)} at ${clock(m.x0)}`,
        })),
      },
      mark: { type: 'tick', orient: 'vertical', thickness: 2.5, size: LANE_STEP * 0.8, color: BACKCHANNEL_COLOR },
      encoding: { x, y, ...described },
    });
  }
  if (feedback.length) {
    const symbols = mergeMarks(feedback, (f) => `${keyOf(f.participantId)}\u0000${f.kind}`, (f) => sec(f.ts), (f) => sec(f.ts), feedback.length > maxMarks ? gapSec : -1);
    if (symbols.length < feedback.length) drawn.push(`${count(feedback.length, 'feedback event')} drawn as ${count(symbols.length, 'symbol')}`);
    layers.push({
      name: 'feedback',
      data: {
        values: symbols.map((m) => {
          const f = m.first;
          return {
            lane: keyOf(f.participantId), x0: (m.x0 + m.x1) / 2, kind: xmlSafe(f.kind),
            desc: xmlSafe(m.count > 1
              ? `${count(m.count, `${f.kind} event`)} about ${labelOf(f.participantId)} ${clock(m.x0)}–${clock(m.x1)}`
              : `${f.kind} about ${labelOf(f.participantId)} at ${clock(m.x0)}${f.message ? `: ${f.message}` : ''}`),
          };
        }),
      },
      mark: { type: 'point', filled: true, size: 110, stroke: 'white', strokeWidth: 1, opacity: 1, yOffset: -LANE_STEP * 0.22 },
      encoding: {
        x, y, ...described,
        shape: { field: 'kind', type: 'nominal', title: 'feedback', scale: { domain: kinds, range: ['triangle-down', 'diamond', 'square', 'cross', 'triangle-up', 'circle'] } },
        color: { value: '#222' },
      },
    });
  }
  if (othersCount > 0) drawn.push(`${count(othersCount, 'participant')} in one lane "others"`);

  const shareY = { ...y, axis: null };
  const shareX = { field: 'share', type: 'quantitative', title: 'talk share (%)', scale: { domain: [0, 100] }, axis: { values: [0, 25, 50, 75, 100], grid: true } } as const;
  const shareRows = lanes.map((l) => ({ lane: l.key, share: l.talkSharePercent, text: `${fmt(l.talkSharePercent)} %`, desc: `${l.label}: ${fmt(l.talkSharePercent)} % of the talk time` }));
  const subtitle = summaryLines(report);
  if (drawn.length) subtitle.push(`Aggregated: ${drawn.join(', ')} (marks of a lane less than ${fmt(gapSec)} s apart merged).`);

  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: title, subtitle, anchor: 'start', fontSize: 15, fontWeight: 'bold', subtitleFontSize: 12, subtitleColor: '#444', offset: 12 },
    background: 'white',
    padding: 12,
    config: CONFIG as never,
    hconcat: [
      {
        width: TIMELINE_WIDTH, height: { step: LANE_STEP },
        layer: layers,
        resolve: { scale: { color: 'independent' } },
      },
      {
        name: 'share_view',
        width: SHARE_WIDTH, height: { step: LANE_STEP },
        data: { values: shareRows },
        title: { text: 'talk share', fontSize: 12, fontWeight: 'normal', anchor: 'start' },
        layer: [
          { name: 'share', mark: { type: 'bar', height: { band: 0.5 } }, encoding: { x: shareX, y: shareY, color, ...described } },
          { name: 'share_label', mark: { type: 'text', align: 'left', dx: 4, fontSize: 11 }, encoding: { x: shareX, y: shareY, text: { field: 'text' } } },
        ],
      },
    ],
    spacing: 16,
    resolve: { scale: { y: 'shared', color: 'independent', x: 'independent' } },
  } as TopLevelSpec;
}

/** The picture of a report without talk spurts: the title and a sentence. */
function emptySpec(title: string, report: MeetingReport): TopLevelSpec {
  const who = report.participants.length
    ? `${report.participants.length} participant${report.participants.length === 1 ? '' : 's'}, nobody has spoken yet`
    : 'no participant audio yet';
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title: { text: title, anchor: 'start', fontSize: 15, fontWeight: 'bold', offset: 12 },
    background: 'white', padding: 12, width: 480, height: 60, config: CONFIG as never,
    data: { values: [{ text: `No speech recorded in this meeting (${who}).` }] },
    name: 'empty',
    mark: { type: 'text', fontSize: 14, color: '#555', align: 'left' },
    encoding: { x: { value: 0 }, text: { field: 'text' } },
  } as TopLevelSpec;
}

interface Lane { key: string; label: string; isHost: boolean; talkSharePercent: number }

/**
 * Lanes in report order, then ids seen only in the timeline or the feedback; labels unique; keys `p<index>`.
 * Beyond TIMELINE_MAX_LANES participants, those with the least talk share (the later ones on ties) share one
 * last lane "others (N)", whose talk share is their sum.
 * @returns the lanes, the lane index of a participantId, and how many participants the "others" lane holds.
 */
function laneList(report: MeetingReport, feedback: TimelineFeedback[]): { lanes: Lane[]; laneOf: (participantId: string) => number; othersCount: number } {
  const people: { participantId: string; label: string; isHost: boolean; talkSharePercent: number }[] = report.participants.map((p) => ({ participantId: p.participantId, label: p.name?.trim() || p.participantId, isHost: p.isHost, talkSharePercent: p.talkSharePercent }));
  const known = new Set(people.map((l) => l.participantId));
  const t = report.timeline;
  const more = (id: string) => {
    if (known.has(id)) return;
    known.add(id);
    people.push({ participantId: id, label: id, isHost: false, talkSharePercent: 0 });
  };
  for (const s of t.spurts) more(s.participantId);
  for (const i of t.interruptions) { more(i.byParticipantId); more(i.ofParticipantId); }
  for (const b of t.backchannels) { more(b.participantId); more(b.toParticipantId); }
  for (const f of feedback) more(f.participantId);

  let shown = people;
  let others: typeof people = [];
  if (people.length > TIMELINE_MAX_LANES) {
    const order = people.map((_, i) => i).sort((a, b) => people[b]!.talkSharePercent - people[a]!.talkSharePercent || a - b);
    const keep = new Set(order.slice(0, TIMELINE_MAX_LANES - 1));
    shown = people.filter((_, i) => keep.has(i));
    others = people.filter((_, i) => !keep.has(i));
  }
  const count = new Map<string, number>();
  for (const l of shown) count.set(l.label, (count.get(l.label) ?? 0) + 1);
  for (const l of shown) if (count.get(l.label)! > 1 && l.label !== l.participantId) l.label = `${l.label} (${l.participantId})`;
  const seen = new Set<string>();
  const lanes: Lane[] = shown.map((p, i) => {
    let label = xmlSafe(p.label);
    if (p.isHost) label = `${label} (host)`;
    // Still equal (a name that reads like another lane's label): number it, lanes must stay apart.
    for (let n = 2; seen.has(label); n++) label = `${label.replace(/ #\d+$/, '')} #${n}`;
    seen.add(label);
    return { key: `p${i}`, label, isHost: p.isHost, talkSharePercent: p.talkSharePercent };
  });
  const index = new Map<string, number>();
  shown.forEach((p, i) => index.set(p.participantId, i));
  if (others.length) {
    let share = 0;
    for (const o of others) share += o.talkSharePercent;
    lanes.push({ key: `p${lanes.length}`, label: `others (${others.length})`, isHost: false, talkSharePercent: Math.round(share * 10) / 10 });
  }
  const othersLane = lanes.length - 1;
  return { lanes, laneOf: (id) => index.get(id) ?? othersLane, othersCount: others.length };
}

/**
 * A vega expression giving the label of lane key `p<i>`: an array literal of the labels (JSON-escaped), each
 * written with a leading '#' that the expression drops again: a bare "__proto__" string constant in a vega
 * expression fails its parse ("Operator not defined") and blanks the picture; no prototype name starts with '#'.
 */
function laneLabelExpr(lanes: Lane[]): string {
  const literal = JSON.stringify(lanes.map((l) => `#${l.label}`)).replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
  return `slice(${literal}[toNumber(slice(datum.value, 1))], 1)`;
}

/** A merged mark: its lane (the `lane` key of its rows), its span in seconds, how many rows and the first of them. */
interface Merged<T> { lane: string; x0: number; x1: number; count: number; first: T }

/**
 * Rows drawn per lane: with `gapSec` < 0 one mark per row; else rows of a lane are merged while the next starts
 * less than `gapSec` after the end of the marks so far (in start order), so a lane holds at most
 * (its time span / gapSec + 1) marks.
 */
function mergeMarks<T>(rows: T[], laneOf: (r: T) => string, x0: (r: T) => number, x1: (r: T) => number, gapSec: number): Merged<T>[] {
  if (gapSec < 0) return rows.map((r) => ({ lane: laneOf(r), x0: x0(r), x1: x1(r), count: 1, first: r }));
  const byLane = new Map<string, T[]>();
  for (const r of rows) {
    const lane = laneOf(r);
    const list = byLane.get(lane);
    if (list) list.push(r);
    else byLane.set(lane, [r]);
  }
  const out: Merged<T>[] = [];
  for (const [lane, list] of byLane) {
    list.sort((a, b) => x0(a) - x0(b));
    let cur: Merged<T> | null = null;
    for (const r of list) {
      const s = x0(r), e = x1(r);
      if (cur && s - cur.x1 < gapSec) {
        cur.count++;
        if (e > cur.x1) cur.x1 = e;
        continue;
      }
      cur = { lane, x0: s, x1: e, count: 1, first: r };
      out.push(cur);
    }
  }
  return out;
}

function count(n: number, one: string): string {
  return `${n.toLocaleString('en-US')} ${one}${n === 1 ? '' : 's'}`;
}

/** The subtitle: the meeting's figures. */
function summaryLines(r: MeetingReport): string[] {
  return [
    `duration ${clock(r.durationMs / 1000)} · speech ${clock(r.speechMs / 1000)} · silence ${fmt(r.silenceSharePercent)} % · `
      + `${fmt(r.speakerSwitchesPerMin)} speaker switches/min · ${r.interruptionCount} interruption${r.interruptionCount === 1 ? '' : 's'} · `
      + `${r.backchannelCount} backchannel${r.backchannelCount === 1 ? '' : 's'}`,
    'bars: talk spurts · red band: interruption (overlap, on the interrupter\'s lane) · tick: backchannel · symbols: feedback events',
  ];
}

/** Axis label of a tick (seconds) as m:ss (minutes grow past 59). */
const CLOCK_EXPR = "(datum.value < 0 ? '-' : '') + floor(abs(datum.value) / 60) + ':' + (abs(datum.value) % 60 < 10 ? '0' : '') + floor(abs(datum.value) % 60)";

/** Seconds as m:ss (tenths below a minute when not whole). */
function clock(s: number): string {
  const sign = s < 0 ? '-' : '';
  const a = Math.abs(s);
  const m = Math.floor(a / 60);
  const rest = a - m * 60;
  const ss = Number.isInteger(rest) ? String(rest) : rest.toFixed(1);
  return `${sign}${m}:${rest < 10 ? '0' : ''}${ss}`;
}

/** Whole-second tick values between `from` and `to`, at most ~10, on a step people read easily. */
function tickValues(from: number, to: number): number[] {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200];
  const step = steps.find((s) => (to - from) / s <= 10) ?? Math.ceil((to - from) / 10 / 3600) * 3600;
  const out: number[] = [];
  for (let v = Math.ceil(from / step) * step; v <= to + 1e-9; v += step) out.push(v);
  return out;
}

function fmt(n: number): string {
  return Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: Math.abs(n) >= 10 ? 0 : 1 }) : String(n);
}


