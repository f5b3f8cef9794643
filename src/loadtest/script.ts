/**
 * Scripted meetings for the load tool and the meeting benchmark: each participant's track of real speech (the
 * committed fixtures) and the overlaps a listener would hear. Participants take turns (one fixture clip each,
 * 1 s apart); the second turn, and every third turn after it, starts 2.5 s before the previous one ends (a
 * scripted interruption, within the first ~10 s of a meeting).
 */
import { FIXTURES, concat, loadFixture, silence } from './fixtures.js';

/** Silence between turns, ms. */
const GAP_MS = 1000;
/** How early an interrupting turn starts before the previous one ends, ms. */
const INTERRUPT_MS = 2500;
/** Runs of simultaneous speech closer than this are one overlap (the engine bridges pauses under 200 ms). */
const BRIDGE_MS = 200;

/** A scripted overlap: `a` was speaking, `b` started over them; `startMs` from the start of the tracks. */
export interface ScriptedOverlap { a: string; b: string; startMs: number }

/**
 * The tracks (mono, 48 kHz, each exactly `seconds` long) and the overlaps of ≥ `minOverlapMs` between the
 * annotated speech of the clips (the truth an annotator would give for this script).
 * @param seed varies who starts, the clip order and the first turn's time (0..).
 */
export function meetingScript(participants: string[], seconds: number, seed: number, minOverlapMs = 500): { tracks: Int16Array[]; overlaps: ScriptedOverlap[] } {
  const clips = FIXTURES.map((f) => loadFixture(f));
  const parts: Int16Array[][] = participants.map(() => []);
  const lengths = participants.map(() => 0);
  const overlaps: ScriptedOverlap[] = [];
  let t = 500 + (seed % 7) * 100;
  let prev: { who: number; start: number; end: number; clip: (typeof clips)[number] } | null = null;
  for (let turn = 0; t < seconds * 1000 - 10_000; turn++) {
    const who = (turn + seed) % participants.length;
    const clip = clips[(turn + seed) % clips.length]!;
    const interrupt: boolean = turn % 3 === 1 && prev !== null;
    const start: number = interrupt ? prev!.end - INTERRUPT_MS : t;
    if (interrupt) {
      const both: [number, number][] = [];
      for (const [s1, e1] of prev!.clip.segments) for (const [s2, e2] of clip.segments) {
        const a = Math.max(prev!.start + s1, start + s2), b = Math.min(prev!.start + e1, start + e2);
        if (b > a) both.push([a, b]);
      }
      both.sort((x, y) => x[0] - y[0]);
      const runs: [number, number][] = [];
      for (const r of both) {
        const last = runs.at(-1);
        if (last && r[0] - last[1] < BRIDGE_MS) last[1] = Math.max(last[1], r[1]);
        else runs.push([...r]);
      }
      for (const [a, b] of runs) if (b - a >= minOverlapMs) overlaps.push({ a: participants[prev!.who]!, b: participants[who]!, startMs: a });
    }
    parts[who]!.push(silence(Math.max(0, start - lengths[who]!)), clip.samples);
    lengths[who] = Math.max(lengths[who]!, start) + clip.durationMs;
    prev = { who, start, end: start + clip.segments.at(-1)![1], clip };
    t = start + clip.durationMs + GAP_MS;
  }
  const total = seconds * 1000;
  const tracks = parts.map((p, i) => concat(...p, silence(Math.max(0, total - lengths[i]!))).subarray(0, total * 48));
  return { tracks, overlaps };
}
