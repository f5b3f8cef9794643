/**
 * The committed speech fixtures of test/fixtures (mono PCM s16le 48 kHz + annotations, see its README) and
 * small signal tools for tests: stereo interleaving, gain, mixing, noise, sines.
 */
import { concat, silence, toStereoBytes, type Fixture, type FixtureName } from '../../src/loadtest/fixtures.js';
import { talkSpurts as scriptTalkSpurts } from '../../src/loadtest/script.js';

export { FIXTURES, concat, loadFixture, silence, toStereoBytes } from '../../src/loadtest/fixtures.js';
export type { Fixture, FixtureName };

/** Mono s16le bytes. */
export function toMonoBytes(mono: Int16Array): Buffer {
  return Buffer.from(mono.buffer, mono.byteOffset, mono.byteLength);
}

/** Multiply by 10^(db/20) with saturation at ±32767/-32768. */
export function gain(mono: Int16Array, db: number): Int16Array {
  const g = 10 ** (db / 20);
  return mono.map((v) => Math.max(-32768, Math.min(32767, Math.round(v * g))));
}


/** Sum of signals (lengths may differ), saturated. */
export function mix(...parts: Int16Array[]): Int16Array {
  const out = new Int16Array(Math.max(...parts.map((p) => p.length)));
  for (let i = 0; i < out.length; i++) {
    let v = 0;
    for (const p of parts) v += p[i] ?? 0;
    out[i] = Math.max(-32768, Math.min(32767, v));
  }
  return out;
}

/** Deterministic white noise (xorshift32) with the given RMS in dBFS (re 32767). */
export function whiteNoise(ms: number, rmsDbfs: number, seed = 12345, sampleRate = 48000): Int16Array {
  const n = Math.round((ms * sampleRate) / 1000);
  const out = new Int16Array(n);
  let x = seed >>> 0 || 1;
  // Uniform in [-a, a] has RMS a/sqrt(3).
  const a = 32767 * 10 ** (rmsDbfs / 20) * Math.sqrt(3);
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = Math.round(((x / 0xffffffff) * 2 - 1) * a);
  }
  return out;
}

/** A sine of `freq` Hz whose PEAK is `peakDbfs` (re 32767). */
export function sine(ms: number, freq: number, peakDbfs: number, sampleRate = 48000): Int16Array {
  const n = Math.round((ms * sampleRate) / 1000);
  const amp = 32767 * 10 ** (peakDbfs / 20);
  return Int16Array.from({ length: n }, (_, i) => Math.round(amp * Math.sin((2 * Math.PI * freq * i) / sampleRate)));
}

/** Per-10 ms-frame truth from annotated segments: 1 where a frame overlaps a segment. */
export function truthFrames(segments: [number, number][], frames: number, offsetMs = 0): Uint8Array {
  const t = new Uint8Array(frames);
  for (const [a, b] of segments) {
    for (let f = Math.floor((a + offsetMs) / 10); f < Math.ceil((b + offsetMs) / 10) && f < frames; f++) if (f >= 0) t[f] = 1;
  }
  return t;
}

/**
 * Talk spurts of annotated speech segments (fixture `segments`, ms) placed at `offsetMs`: pauses under 300 ms
 * bridged (src/loadtest/script.ts talkSpurts, the truth of the meeting bench; the engine's 'speech' events
 * follow the same rule).
 */
export function talkSpurts(segments: readonly (readonly [number, number])[], offsetMs: number): [number, number][] {
  return scriptTalkSpurts(segments.map(([s, e]) => [s + offsetMs, e + offsetMs]));
}

/** Total length of the intersection of two sets of disjoint intervals, ms. */
export function intersectionMs(x: readonly (readonly [number, number])[], y: readonly (readonly [number, number])[]): number {
  let total = 0;
  for (const [s1, e1] of x) for (const [s2, e2] of y) total += Math.max(0, Math.min(e1, e2) - Math.max(s1, s2));
  return total;
}
