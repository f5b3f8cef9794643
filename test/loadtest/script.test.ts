/**
 * The scripted meetings' truth (src/loadtest/script.ts): talk spurts with pauses under 300 ms bridged, an
 * interruption where two participants' spurts intersect for ≥ 500 ms and the later spurt lasts ≥ 1 s, the
 * interrupter being the later speaker; scripted backchannels never counted; --snr noise changing the samples,
 * never the truth; and the matching of detections to truth. Hand-checked cases on synthetic clips, then the
 * default scripts.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  addNoise, interruptions, matchOverlaps, meetingScript, renderScript, speechRms, talkSpurts,
  type Clip, type DetectedOverlap, type Placement,
} from '../../src/loadtest/script.js';

/** Whether two sample arrays are the same (a byte compare: deep-equal of millions of samples is slow). */
function same(x: Int16Array, y: Int16Array): boolean {
  return Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from(y.buffer, y.byteOffset, y.byteLength));
}

/** A clip of a 220 Hz tone (amplitude 8000) over `segments` [startMs, endMs), silence elsewhere. */
function toneClip(segments: [number, number][]): Clip {
  const samples = new Int16Array(segments.at(-1)![1] * 48);
  for (const [s, e] of segments) for (let i = s * 48; i < e * 48; i++) samples[i] = Math.round(8000 * Math.sin((2 * Math.PI * 220 * i) / 48000));
  return { samples, segments };
}

const PEOPLE = ['A', 'B', 'C'];
const [A, B, C] = [0, 1, 2];
/**
 * 12 s, hand-checked:
 * - A [0,1000] + [1250,4000]: the 250 ms pause is bridged, one spurt [0,4000]; B [1100,3500] starts later and
 *   lasts 2400 ms: B interrupts A over [1100,3500]. (Unbridged, A's [1250,4000] would start after B's and A would
 *   be the interrupter from 1250.)
 * - A [5800,8300]; C [6000,6700] + [7000,7600]: the pause of exactly 300 ms is not bridged, so C's spurts last
 *   700 and 600 ms: backchannels, though each overlaps A for ≥ 500 ms. (Bridged, C's [6000,7600] would interrupt.)
 * - B [9000,11000]; C [10500,11500]: overlap exactly 500 ms, C's spurt exactly 1000 ms: C interrupts B.
 */
const HAND: Placement[] = [
  { who: A, startMs: 0, clip: toneClip([[0, 1000], [1250, 4000]]) },
  { who: B, startMs: 1100, clip: toneClip([[0, 2400]]) },
  { who: A, startMs: 5800, clip: toneClip([[0, 2500]]) },
  { who: C, startMs: 6000, clip: toneClip([[0, 700], [1000, 1600]]) },
  { who: B, startMs: 9000, clip: toneClip([[0, 2000]]) },
  { who: C, startMs: 10500, clip: toneClip([[0, 1000]]) },
];

test('talk spurts: a 250 ms pause is bridged, a pause of exactly 300 ms is not', () => {
  assert.equal(talkSpurts([[700, 800], [0, 100], [350, 400]]), [[0, 400], [700, 800]]);
  assert.equal(talkSpurts([[0, 100], [399, 500]]), [[0, 500]], '299 ms bridged');
  assert.equal(talkSpurts([[0, 100], [50, 80]]), [[0, 100]], 'overlapping segments merged');
});

test('the hand-checked meeting: bridging, the 300 ms pause, backchannels, the 500 ms and 1 s limits', () => {
  const r = renderScript(PEOPLE, HAND, 12);
  assert.equal(r.spurts, [
    [[0, 4000], [5800, 8300]],
    [[1100, 3500], [9000, 11000]],
    [[6000, 6700], [7000, 7600], [10500, 11500]],
  ]);
  assert.equal(r.overlaps, [
    { a: 'A', b: 'B', startMs: 1100, endMs: 3500 },
    { a: 'B', b: 'C', startMs: 10500, endMs: 11000 },
  ]);
  assert.is(r.snrDb, null);
  assert.ok(r.tracks.every((t) => t.length === 12 * 48000));
  assert.is(r.tracks[B]![1100 * 48 + 10], toneClip([[0, 2400]]).samples[10], 'clips land at their start');
  // The minimum overlap is the server's FEEDBACK_OVERLAP_MS: at 501 ms the 500 ms one is gone.
  assert.equal(renderScript(PEOPLE, HAND, 12, { minOverlapMs: 501 }).overlaps, [{ a: 'A', b: 'B', startMs: 1100, endMs: 3500 }]);
});

test('interruptions(): a later spurt under 1 s never interrupts; the interrupter is the later speaker either way round', () => {
  assert.equal(interruptions(['x', 'y'], [[[0, 3000]], [[1000, 1999]]], 500), []);
  assert.equal(interruptions(['x', 'y'], [[[0, 3000]], [[1000, 2000]]], 500), [{ a: 'x', b: 'y', startMs: 1000, endMs: 2000 }]);
  assert.equal(interruptions(['x', 'y'], [[[1000, 3000]], [[0, 1600]]], 500), [{ a: 'y', b: 'x', startMs: 1000, endMs: 1600 }]);
  assert.equal(interruptions(['x', 'y'], [[[1000, 3000]], [[0, 1499]]], 500), [], '499 ms of overlap');
});

test('--snr: seeded white noise at that SNR re the speech RMS changes the samples, not the truth', () => {
  const clean = renderScript(PEOPLE, HAND, 12, { seed: 3 });
  const noisy = renderScript(PEOPLE, HAND, 12, { seed: 3, snrDb: 10 });
  assert.is(noisy.snrDb, 10);
  assert.equal(noisy.overlaps, clean.overlaps);
  assert.equal(noisy.spurts, clean.spurts);
  for (const [i, track] of noisy.tracks.entries()) {
    const speech = clean.spurts[i]!;
    const noise = track.map((v, k) => v - clean.tracks[i]![k]!);
    const snr = 20 * Math.log10(speechRms(clean.tracks[i]!, speech) / speechRms(noise, [[0, 12_000]]));
    assert.ok(Math.abs(snr - 10) < 0.2, `participant ${i}: SNR ${snr.toFixed(2)} dB`);
  }
  const again = renderScript(PEOPLE, HAND, 12, { seed: 3, snrDb: 10 });
  assert.ok(noisy.tracks.every((t, i) => same(t, again.tracks[i]!)), 'deterministic');
  assert.ok(!same(renderScript(PEOPLE, HAND, 12, { seed: 4, snrDb: 10 }).tracks[0]!, noisy.tracks[0]!), 'another seed, other noise');
  const silent = new Int16Array(480);
  addNoise(silent, [], 10, 1);
  assert.ok(silent.every((v) => v === 0), 'no speech, no noise');
});

test('matchOverlaps: same pair, start within 1 s or intersecting, each at most once, as many as possible', () => {
  const truth = [{ a: 'A', b: 'B', startMs: 10_000, endMs: 13_000 }];
  const d = (startMs: number, endMs: number, by = 'B', pair = ['A', 'B']): DetectedOverlap => ({ by, pair, startMs, endMs });
  const short = [{ a: 'A', b: 'B', startMs: 10_000, endMs: 10_600 }];
  assert.is(matchOverlaps(short, [d(11_000, 11_500)]).matched, 1, '1000 ms late, not intersecting');
  assert.is(matchOverlaps(short, [d(11_001, 11_500)]).matched, 0, '1001 ms late, not intersecting');
  assert.is(matchOverlaps(truth, [d(8_999, 9_499)]).matched, 0, '1001 ms early, not intersecting');
  assert.is(matchOverlaps(truth, [d(12_500, 13_000)]).matched, 1, 'intersecting, 2.5 s late');
  assert.is(matchOverlaps(truth, [d(13_000, 13_500)]).matched, 0, 'touching is not intersecting, and 3 s late');
  assert.is(matchOverlaps(truth, [d(10_000, 10_500, 'C', ['A', 'C'])]).matched, 0, 'another pair');
  const twice = matchOverlaps(truth, [d(10_100, 10_600), d(10_200, 10_700, 'A', ['B', 'A'])]);
  assert.equal([twice.matched, twice.rightInterrupter, twice.unmatched.length], [1, 1, 1], 'one truth, one match: the nearest, naming B');
  // Nearest-first greedy would give T1 the detection at 900 and leave T2 without one: a maximum matching finds both.
  const two = [{ a: 'A', b: 'B', startMs: 0, endMs: 600 }, { a: 'A', b: 'B', startMs: 1500, endMs: 2100 }];
  assert.is(matchOverlaps(two, [d(900, 1400), d(-950, -450)]).matched, 2);
});

test('default scripts: one truth per scripted interruption, backchannels under 1 s inside another turn and never counted', () => {
  const people = ['p0', 'p1', 'p2', 'p3'];
  const s = meetingScript(people, 60, 0);
  // Turn 0: p0 says en-male from 500 ms (spurts +[310,1980], [2530,5710], [6260,8700]); turn 1: p1 says en-female
  // from 9200 − 2500 = 6700 ms (first spurt +[300,3390]): they overlap over [7000, 9200], p1 interrupting.
  assert.equal(s.overlaps[0], { a: 'p0', b: 'p1', startMs: 7000, endMs: 9200 });
  for (let seed = 0; seed < 7; seed++) {
    for (const n of [2, 4, 6]) {
      const ps = people.concat(['p4', 'p5']).slice(0, n);
      const m = meetingScript(ps, 60, seed);
      assert.is(m.overlaps.length, 2, `seed ${seed}, ${n} participants: the turns 2 and 5 interrupt`);
      assert.is(m.backchannels.length, 2, `seed ${seed}, ${n} participants: a backchannel in turns 3 and 6`);
      for (const b of m.backchannels) {
        const own = m.spurts[ps.indexOf(b.by)]!.find(([x, y]) => x <= b.startMs && b.endMs <= y)!;
        assert.equal(own, [b.startMs, b.endMs], 'a talk spurt of its own');
        assert.ok(b.endMs - b.startMs >= 300 && b.endMs - b.startMs < 1000);
        assert.ok(m.spurts[ps.indexOf(b.to)]!.some(([x, y]) => x <= b.startMs && b.endMs <= y), 'inside a spurt of the speaker');
        assert.ok(!m.overlaps.some((o) => o.startMs < b.endMs && b.startMs < o.endMs), 'not an interruption');
      }
      assert.equal(m.overlaps, interruptions(ps, m.spurts, 500));
    }
  }
  const noisy = meetingScript(people, 60, 0, { snrDb: 15 });
  assert.equal([noisy.overlaps, noisy.backchannels, noisy.spurts], [s.overlaps, s.backchannels, s.spurts]);
  assert.ok(noisy.tracks.every((t, i) => !same(t, s.tracks[i]!)), 'every track noisy');
});

test.run();
