/**
 * The committed speech fixtures (mono PCM s16le, 48 kHz, made with espeak-ng by test/fixtures/make-fixtures.sh,
 * annotated speech segments in ms) and the few sample-array tools the load tool and the tests share.
 * In the single executable the fixtures are assets (src/runtime.ts).
 */
import { readFixtureAsset } from '../runtime.js';

export const FIXTURES = ['en-male', 'en-female', 'pt-br'] as const;
export type FixtureName = (typeof FIXTURES)[number];

export interface Fixture {
  /** Mono samples, 48 kHz. */
  samples: Int16Array;
  sampleRate: 48000;
  durationMs: number;
  /** Annotated speech segments [startMs, endMs). */
  segments: [number, number][];
}

const cache = new Map<FixtureName, Fixture>();

/** One fixture (loaded once). @throws Error when its files are missing. */
export function loadFixture(name: FixtureName): Fixture {
  let f = cache.get(name);
  if (!f) {
    const pcm = readFixtureAsset(`fixtures/${name}.s16`);
    const samples = new Int16Array(pcm.buffer.slice(pcm.byteOffset, pcm.byteOffset + pcm.length - (pcm.length % 2)));
    const ann = JSON.parse(readFixtureAsset(`fixtures/${name}.json`).toString('utf8')) as { durationMs: number; segments: [number, number][] };
    f = { samples, sampleRate: 48000, durationMs: ann.durationMs, segments: ann.segments };
    cache.set(name, f);
  }
  return f;
}

/**
 * `n` mono samples from `off` (default: all) as stereo s16le bytes, both channels equal, as LiveKit egress sends.
 * Typed-array copies (the load tool makes every frame with it); Int16Array is host-endian, i.e. s16le on the
 * little-endian machines Node runs on.
 */
export function toStereoBytes(mono: Int16Array, off = 0, n = mono.length - off): Buffer {
  const out = new Int16Array(n * 2);
  for (let i = 0; i < n; i++) {
    const v = mono[off + i]!;
    out[2 * i] = v;
    out[2 * i + 1] = v;
  }
  return Buffer.from(out.buffer);
}

/** Digital silence of `ms` milliseconds at 48 kHz. */
export function silence(ms: number, sampleRate = 48000): Int16Array {
  return new Int16Array(Math.round((ms * sampleRate) / 1000));
}

/** The samples of `parts` one after another, in a new array. */
export function concat(...parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}
