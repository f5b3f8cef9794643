/**
 * A mergeable latency histogram for the load tool: log-scale buckets of ~2.3 % width from 1 µs to ~10^12 µs,
 * so workers send their counts to the parent and percentiles are exact to one bucket.
 */
import type { Percentiles } from './types.js';

const BUCKETS = 1200;
const LOG_BASE = Math.log(1.023);

/** Bucket counts (index b holds latencies in [1.023^b, 1.023^(b+1)) µs) and the maximum seen, µs. */
export interface Histogram {
  counts: number[];
  maxUs: number;
}

/** An empty histogram. */
export function newHistogram(): Histogram {
  return { counts: new Array<number>(BUCKETS).fill(0), maxUs: 0 };
}

/** Record one latency in milliseconds (negative values count as 0). */
export function record(h: Histogram, ms: number): void {
  const us = Math.max(1, ms * 1000);
  const b = Math.min(BUCKETS - 1, Math.floor(Math.log(us) / LOG_BASE));
  h.counts[b]!++;
  if (us > h.maxUs) h.maxUs = us;
}

/** Add `from` into `into`. */
export function merge(into: Histogram, from: Histogram): void {
  for (let i = 0; i < BUCKETS; i++) into.counts[i]! += from.counts[i] ?? 0;
  into.maxUs = Math.max(into.maxUs, from.maxUs);
}

/** p50/p90/p95/p99/max in ms (each the upper edge of its bucket, at most the maximum); nulls when empty. */
export function percentiles(h: Histogram): Percentiles {
  const count = h.counts.reduce((a, b) => a + b, 0);
  if (count === 0) return { p50Ms: null, p90Ms: null, p95Ms: null, p99Ms: null, maxMs: null, count: 0 };
  const at = (q: number): number => {
    const rank = Math.ceil(q * count);
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += h.counts[i]!;
      if (seen >= rank) return round(Math.min(h.maxUs, 1.023 ** (i + 1)) / 1000);
    }
    return round(h.maxUs / 1000);
  };
  return { p50Ms: at(0.5), p90Ms: at(0.9), p95Ms: at(0.95), p99Ms: at(0.99), maxMs: round(h.maxUs / 1000), count };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
