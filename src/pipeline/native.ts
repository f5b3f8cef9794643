/**
 * Loads the compiled addon through src/runtime.ts: in a checkout build/Release/meetcore_audio.node (node-gyp,
 * `npm install`), else the cmake-js build; in the single executable, the embedded copy. Throws an Error naming
 * the paths tried and `npm run install`, or one naming the first stats column where the addon and
 * src/pipeline/stats.ts disagree.
 */
import { loadNative } from '../runtime.js';
import { checkStatsFields } from './stats.js';
import type { ClosedEvent, EngineEvent, EngineStats, ErrorEvent, PushResult } from './types.js';

/** The raw classes exported by native/addon/module.cc (arguments are checked in engine.ts, not here). */
export interface NativeAddon {
  /**
   * onEvents gets the batch's segment/overlap/closed/error events as objects and its stats reports packed in
   * one Float64Array (columns: statsFields(); null when the batch has none).
   */
  AudioEngine: new (options: Record<string, number>, onEvents: (events: EngineEvent[], stats: Float64Array | null) => void) => NativeEngine;
  /** The column names of a packed stats row, in order (native/core/stats_fields.h). */
  statsFields(): string[];
  /** Helpers for tests and benchmarks, not part of the engine API (they check their arguments). */
  testing: NativeTesting;
}
export interface NativeTesting {
  /** Nanoseconds of pure analysis of `pcm` repeated `iterations` times on the calling thread (bench/dsp.ts). */
  benchAnalyze(pcm: Uint8Array, sampleRate: number, channels: number, iterations: number): number;
  /** The per-10 ms-frame view of the analysis of `pcm` (VAD decision, energy, noise floor), for tests. */
  analyzeFrames(pcm: Uint8Array, sampleRate: number, channels: number): { speaking: Uint8Array; energyDbfs: Float32Array; noiseFloorDbfs: Float32Array };
}
export interface NativeEngine {
  openStream(options: Record<string, unknown>): NativeStream;
  stats(): EngineStats;
  /** The `closed` events of the streams it finalized, and `error` events kept from dropped batches. */
  close(): (ClosedEvent | ErrorEvent)[];
  /** Keep the event loop alive while streams are open (ref) or not (unref, the initial state). */
  ref(): void;
  unref(): void;
}
export interface NativeStream {
  readonly id: number;
  readonly overflowBytes: number;
  readonly queueBoundBytes: number;
  readonly queuedBytes: number;
  readonly receivedBytes: number;
  push(chunk: Uint8Array | ArrayBuffer): PushResult;
  setMuted(muted: boolean): void;
  setExcluded(excluded: boolean): void;
  close(): void;
}

let cached: NativeAddon | null = null;

/** The addon, loaded once. */
export function loadAddon(): NativeAddon {
  if (cached) return cached;
  const addon = loadNative('meetcore_audio') as NativeAddon;
  checkStatsFields(addon.statsFields());
  cached = addon;
  return cached;
}
