/**
 * Loads the compiled addon: build/Release/meetcore_audio.node (node-gyp, `npm install`), else the cmake-js
 * build (build-cmake/Release or build-cmake/). Throws an Error naming the paths tried and `npm run install`.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClosedEvent, EngineEvent, EngineStats } from './types.js';

/** The raw classes exported by native/addon/module.cc (arguments are checked in engine.ts, not here). */
export interface NativeAddon {
  AudioEngine: new (options: Record<string, number>, onEvents: (events: EngineEvent[]) => void) => NativeEngine;
  /** Nanoseconds of pure analysis of `pcm` repeated `iterations` times on the calling thread (bench/dsp.ts). */
  benchAnalyze(pcm: Uint8Array, sampleRate: number, channels: number, iterations: number): number;
  /** The per-10 ms-frame view of the analysis of `pcm` (VAD decision, energy, noise floor), for tests. */
  analyzeFrames(pcm: Uint8Array, sampleRate: number, channels: number): { speaking: Uint8Array; energyDbfs: Float32Array; noiseFloorDbfs: Float32Array };
}
export interface NativeEngine {
  openStream(options: Record<string, unknown>): NativeStream;
  stats(): EngineStats;
  close(): ClosedEvent[];
  /** Keep the event loop alive while streams are open (ref) or not (unref, the initial state). */
  ref(): void;
  unref(): void;
}
export interface NativeStream {
  readonly id: number;
  push(chunk: Uint8Array | ArrayBuffer): void;
  setMuted(muted: boolean): void;
  setExcluded(excluded: boolean): void;
  close(): void;
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const CANDIDATES = [
  'build/Release/meetcore_audio.node',
  'build-cmake/Release/meetcore_audio.node',
  'build-cmake/meetcore_audio.node',
];

let cached: NativeAddon | null = null;

/** The addon, loaded once. */
export function loadAddon(): NativeAddon {
  if (cached) return cached;
  const require = createRequire(import.meta.url);
  for (const rel of CANDIDATES) {
    const file = path.join(ROOT, rel);
    if (fs.existsSync(file)) {
      cached = require(file) as NativeAddon;
      return cached;
    }
  }
  throw new Error(`meetcore audio addon not built (tried ${CANDIDATES.join(', ')}): run \`npm run install\` or \`npm run build:native\``);
}
