/**
 * Scripted meetings for the load tool and the meeting benchmark: each participant's track of real speech (the
 * committed fixtures), the interruptions a listener would hear (the truth feedback is scored against), and the
 * matching of detected `speech_overlap` events to that truth.
 *
 * The script: participants take turns (one fixture clip each, 1 s apart); the second turn, and every third turn
 * after it, starts 2.5 s before the previous one ends (a scripted interruption); in the turn after each
 * interrupting one (the third, and every third after it) the next speaker backchannels once ("mm-hm"): a
 * 350–700 ms cut of one annotated speech segment of a fixture, placed inside the speaker's first long enough
 * talk spurt. Backchannels are never interruptions.
 *
 * The truth, computed from the clean annotated segments of the clips as placed (the engine's definition,
 * src/pipeline/types.ts OverlapEvent, and the meeting report's, src/meetings/report.ts):
 * 1. a participant's talk spurts = the union of their placed segments with gaps under 300 ms bridged (a gap of
 *    exactly 300 ms is not);
 * 2. an overlap = a maximal run of the intersection of two participants' talk spurts; it is an interruption when
 *    it lasts ≥ minOverlapMs (FEEDBACK_OVERLAP_MS, 500) and the later speaker's spurt (the one of the two spurts
 *    containing the overlap that started later) lasts ≥ 1000 ms; shorter is a backchannel;
 * 3. the interrupter (`b`) is the participant whose spurt started later; `a` was interrupted.
 * `--snr` noise is added to the tracks after the truth is taken: it changes the samples, never the truth.
 */
import { FIXTURES, loadFixture, type Fixture } from './fixtures.js';

/** Silence between turns, ms. */
const GAP_MS = 1000;
/** How early an interrupting turn starts before the previous one ends, ms. */
const INTERRUPT_MS = 2500;
/** Pauses of one participant shorter than this are bridged into one talk spurt (the engine's SPURT_BRIDGE_MS), ms. */
export const SPURT_BRIDGE_MS = 300;
/** A later speaker's talk spurt this long takes the floor (an interruption); shorter ones are backchannels, ms. */
export const FLOOR_TAKE_MS = 1000;
/** Lengths of the scripted backchannels, in turn (each under 1 s; 350 ms overlaps less than 500 ms anyway), ms. */
const BACKCHANNEL_MS = [600, 450, 700, 350] as const;
/** A backchannel starts this far into the speaker's talk spurt, ms. */
const BACKCHANNEL_INTO_MS = 400;
/** Linear fade at both ends of a backchannel cut (no click), ms. */
const FADE_MS = 5;
/** The truth's definition in a few words (stored with bench/baselines/meeting.json: a baseline of another one is not compared). */
export const TRUTH = `talk spurts (pauses < ${SPURT_BRIDGE_MS} ms bridged) intersecting >= 500 ms, the later spurt >= ${FLOOR_TAKE_MS} ms`;
/** A detection matches a truth whose start is this close (or whose window it intersects), ms. */
export const MATCH_MS = 1000;

/** A scripted interruption: `a` was speaking, `b` started over them; times from the start of the tracks, ms. */
export interface ScriptedOverlap { a: string; b: string; startMs: number; endMs: number }
/** A scripted backchannel: `by` said a short "mm-hm" while `to` spoke (never an interruption), ms. */
export interface ScriptedBackchannel { by: string; to: string; startMs: number; endMs: number }
/** Audio with annotated speech segments [startMs, endMs) (a fixture, or a cut of one). */
export interface Clip { samples: Int16Array; segments: [number, number][] }
/** One clip placed on the timeline: participant index `who` from `startMs`. */
export interface Placement { who: number; startMs: number; clip: Clip }

export interface MeetingScript {
  /** Mono 48 kHz, each exactly `seconds` long; with `snrDb`, white noise added. */
  tracks: Int16Array[];
  /** The interruptions (the truth), by start. */
  overlaps: ScriptedOverlap[];
  /** The scripted backchannels, by start (not in `overlaps`). */
  backchannels: ScriptedBackchannel[];
  /** Each participant's talk spurts [startMs, endMs), from the clean segments. */
  spurts: [number, number][][];
  /** The SNR of the noise added (dB re each participant's speech RMS), null when clean. */
  snrDb: number | null;
}

export interface ScriptOptions {
  /** FEEDBACK_OVERLAP_MS of the server (default 500). */
  minOverlapMs?: number;
  /** Add white noise at this SNR, dB re the RMS of each participant's annotated speech (default: none). */
  snrDb?: number | null;
}

/**
 * The scripted meeting: tracks, truth and backchannels.
 * @param seed varies who starts, the clip order, the first turn's time (0..) and the noise.
 */
export function meetingScript(participants: string[], seconds: number, seed: number, options: ScriptOptions = {}): MeetingScript {
  const clips = FIXTURES.map((f) => loadFixture(f));
  const P = participants.length;
  const placements: Placement[] = [];
  const scripted: { at: number; to: number }[] = [];
  let t = 500 + (seed % 7) * 100;
  let prevEnd = 0;
  let k = 0;
  for (let turn = 0; t < seconds * 1000 - 10_000; turn++) {
    const who = (turn + seed) % P;
    const clip = clips[(turn + seed) % clips.length]!;
    const interrupt = turn % 3 === 1;
    const start = interrupt ? prevEnd - INTERRUPT_MS : t;
    placements.push({ who, startMs: start, clip });
    if (turn % 3 === 2) {
      // The next speaker backchannels early in this turn, inside its first talk spurt long enough to hold it.
      const bc = backchannelClip(k++, seed);
      const len = bc.segments[0]![1];
      const host = talkSpurts(clip.segments).find(([s, e]) => e - s >= BACKCHANNEL_INTO_MS + len + 300);
      if (host) {
        scripted.push({ at: placements.length, to: who });
        placements.push({ who: (who + 1) % P, startMs: start + host[0] + BACKCHANNEL_INTO_MS, clip: bc });
      }
    }
    prevEnd = start + clip.segments.at(-1)![1];
    t = start + clip.durationMs + GAP_MS;
  }
  const rendered = renderScript(participants, placements, seconds, { ...options, seed });
  const backchannels: ScriptedBackchannel[] = scripted.map(({ at, to }) => {
    const p = placements[at]!;
    const [s, e] = p.clip.segments[0]!;
    // It must stay a talk spurt of its own, under 1 s (not bridged into its speaker's other speech).
    const own = rendered.spurts[p.who]!.find(([a, b]) => a <= p.startMs + s && p.startMs + e <= b)!;
    if (own[1] - own[0] >= FLOOR_TAKE_MS) throw new Error(`script: the backchannel of ${participants[p.who]} at ${p.startMs + s} ms joined a ${own[1] - own[0]} ms talk spurt`);
    return { by: participants[p.who]!, to: participants[to]!, startMs: p.startMs + s, endMs: p.startMs + e };
  });
  return { ...rendered, backchannels };
}

/**
 * Tracks and truth of arbitrary placements (what meetingScript lays out; tests give their own).
 * @param options.seed seeds the noise (with the participant's index).
 */
export function renderScript(participants: string[], placements: Placement[], seconds: number, options: ScriptOptions & { seed?: number } = {}): Omit<MeetingScript, 'backchannels'> {
  const total = seconds * 1000;
  const n = Math.round(total * 48);
  const tracks = participants.map(() => new Int16Array(n));
  const segments: [number, number][][] = participants.map(() => []);
  for (const p of placements) {
    const track = tracks[p.who]!;
    const off = Math.round(p.startMs * 48);
    for (let i = Math.max(0, -off); i < p.clip.samples.length && off + i < n; i++) track[off + i] = sat(track[off + i]! + p.clip.samples[i]!);
    for (const [s, e] of p.clip.segments) {
      const a = Math.max(0, p.startMs + s), b = Math.min(total, p.startMs + e);
      if (b > a) segments[p.who]!.push([a, b]);
    }
  }
  const spurts = segments.map((s) => talkSpurts(s));
  const overlaps = interruptions(participants, spurts, options.minOverlapMs ?? 500);
  const snrDb = options.snrDb ?? null;
  if (snrDb !== null) tracks.forEach((track, i) => addNoise(track, segments[i]!, snrDb, ((options.seed ?? 0) + 1) * 7919 + i));
  return { tracks, overlaps, spurts, snrDb };
}

/** Speech segments [startMs, endMs) as talk spurts: merged, pauses under SPURT_BRIDGE_MS bridged (not one of exactly it). */
export function talkSpurts(segments: [number, number][]): [number, number][] {
  const sorted = [...segments].sort((x, y) => x[0] - y[0]);
  const out: [number, number][] = [];
  for (const [s, e] of sorted) {
    const last = out.at(-1);
    if (last && s - last[1] < SPURT_BRIDGE_MS) last[1] = Math.max(last[1], e);
    else out.push([s, e]);
  }
  return out;
}

/**
 * The interruptions between participants' talk spurts (each participant's sorted and disjoint, as talkSpurts
 * gives them): every intersection of two spurts of two participants (each is a maximal run, spurts being ≥ 300 ms
 * apart) lasting ≥ minOverlapMs whose later spurt lasts ≥ FLOOR_TAKE_MS. On a tie of starts the participant
 * listed later is the interrupter. Sorted by start.
 */
export function interruptions(participants: string[], spurts: [number, number][][], minOverlapMs: number): ScriptedOverlap[] {
  const out: ScriptedOverlap[] = [];
  for (let i = 0; i < spurts.length; i++) {
    for (let j = i + 1; j < spurts.length; j++) {
      for (const x of spurts[i]!) {
        for (const y of spurts[j]!) {
          const s = Math.max(x[0], y[0]), e = Math.min(x[1], y[1]);
          if (e - s < minOverlapMs || e <= s) continue;
          const [late, a, b] = y[0] >= x[0] ? [y, i, j] : [x, j, i];
          if (late[1] - late[0] >= FLOOR_TAKE_MS) out.push({ a: participants[a]!, b: participants[b]!, startMs: s, endMs: e });
        }
      }
    }
  }
  return out.sort((p, q) => p.startMs - q.startMs || p.a.localeCompare(q.a));
}

/** The `k`th scripted backchannel: a cut of the first long enough annotated segment of a fixture, faded in and out. */
function backchannelClip(k: number, seed: number): Clip {
  const len = BACKCHANNEL_MS[(k + seed) % BACKCHANNEL_MS.length]!;
  // From the fixtures in turn: the first of them (from the kth) with a segment that long (en-male's are ≤ 650 ms).
  const [f, seg] = FIXTURES.map((_, i) => loadFixture(FIXTURES[(k + seed + 1 + i) % FIXTURES.length]!))
    .map((x) => [x, x.segments.find(([s, e]) => e - s >= len)] as const).find(([, sg]) => sg)! as readonly [Fixture, [number, number]];
  const samples = f.samples.slice(seg[0] * 48, (seg[0] + len) * 48);
  const fade = FADE_MS * 48;
  for (let i = 0; i < fade; i++) {
    samples[i] = Math.round((samples[i]! * i) / fade);
    samples[samples.length - 1 - i] = Math.round((samples[samples.length - 1 - i]! * i) / fade);
  }
  return { samples, segments: [[0, len]] };
}

function sat(v: number): number {
  return v > 32767 ? 32767 : v < -32768 ? -32768 : v;
}

/** RMS of `track` over the segments [startMs, endMs) (0 when they hold no samples). */
export function speechRms(track: Int16Array, segments: [number, number][]): number {
  let sum = 0, count = 0;
  for (const [s, e] of segments) {
    for (let i = Math.round(s * 48); i < Math.min(track.length, Math.round(e * 48)); i++) { sum += track[i]! * track[i]!; count++; }
  }
  return count ? Math.sqrt(sum / count) : 0;
}

/**
 * Add Gaussian white noise in place (saturating), its RMS `snrDb` below the RMS of the speech in `segments`
 * (deterministic: a mulberry32 generator seeded with `seed`, Box–Muller). Nothing is added to a track without speech.
 */
export function addNoise(track: Int16Array, segments: [number, number][], snrDb: number, seed: number): void {
  const sigma = speechRms(track, segments) / 10 ** (snrDb / 20);
  if (sigma === 0) return;
  let a = seed >>> 0;
  const rand = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
  for (let i = 0; i < track.length; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - rand())) * sigma, th = 2 * Math.PI * rand();
    track[i] = sat(Math.round(track[i]! + r * Math.cos(th)));
    if (i + 1 < track.length) track[i + 1] = sat(Math.round(track[i + 1]! + r * Math.sin(th)));
  }
}

// ------------------------------------------------------------------------------------------- matching

/** A detected overlap: the server's speech_overlap event (window on the script's clock). */
export interface DetectedOverlap {
  /** participantId: the interrupter it names. */
  by: string;
  /** metadata.participants. */
  pair: string[];
  startMs: number;
  endMs: number;
}

/** Whether `d` can be a detection of the overlap between `a` and `b` over [startMs, endMs): same pair, near or intersecting. */
export function matches(d: DetectedOverlap, t: { a: string; b: string; startMs: number; endMs: number }): boolean {
  return d.pair.length === 2 && d.pair.includes(t.a) && d.pair.includes(t.b) && t.a !== t.b
    && (Math.abs(d.startMs - t.startMs) <= MATCH_MS || (d.startMs < t.endMs && t.startMs < d.endMs));
}

/**
 * Match detections to truths, each at most once on either side, as many as possible (a maximum bipartite
 * matching; candidates nearest in start first). precision = matched / found.length, recall = matched / truth.length.
 * @returns the matched count, how many of those named the interrupter right, and which detections were left over.
 */
export function matchOverlaps(truth: { a: string; b: string; startMs: number; endMs: number }[], found: DetectedOverlap[]): { matched: number; rightInterrupter: number; unmatched: DetectedOverlap[] } {
  const order = found.map((_, k) => k).sort((x, y) => found[x]!.startMs - found[y]!.startMs);
  const starts = order.map((k) => found[k]!.startMs);
  const longest = found.reduce((m, f) => Math.max(m, f.endMs - f.startMs), 0);
  const candidates = truth.map((t) => {
    // Only detections starting in [t.start − MATCH_MS − longest, max(t.end, t.start + MATCH_MS)] can match.
    const out: number[] = [];
    for (let i = lowerBound(starts, t.startMs - MATCH_MS - longest); i < order.length && starts[i]! <= Math.max(t.endMs, t.startMs + MATCH_MS); i++) {
      if (matches(found[order[i]!]!, t)) out.push(order[i]!);
    }
    return out.sort((x, y) => Math.abs(found[x]!.startMs - t.startMs) - Math.abs(found[y]!.startMs - t.startMs));
  });
  const owner = new Array<number>(found.length).fill(-1);
  const augment = (ti: number, seen: Set<number>): boolean => {
    for (const k of candidates[ti]!) {
      if (seen.has(k)) continue;
      seen.add(k);
      if (owner[k] === -1 || augment(owner[k]!, seen)) { owner[k] = ti; return true; }
    }
    return false;
  };
  let matched = 0;
  for (let ti = 0; ti < truth.length; ti++) if (candidates[ti]!.length && augment(ti, new Set())) matched++;
  let rightInterrupter = 0;
  owner.forEach((ti, k) => { if (ti >= 0 && found[k]!.by === truth[ti]!.b) rightInterrupter++; });
  return { matched, rightInterrupter, unmatched: found.filter((_, k) => owner[k] === -1) };
}

function lowerBound(sorted: number[], x: number): number {
  let lo = 0, hi = sorted.length;
  while (lo < hi) { const mid = (lo + hi) >> 1; if (sorted[mid]! < x) lo = mid + 1; else hi = mid; }
  return lo;
}
