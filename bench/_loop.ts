/**
 * Event-loop delay of a bench helper server, measured like meetcore's `meetcore_event_loop_delay_*_seconds`
 * (src/loop-delay.ts: perf_hooks.monitorEventLoopDelay at a 1 ms resolution, the resolution subtracted from each
 * sample). `readLoop()` returns the p99 and max since the previous read (ms) and starts a new window.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { LOOP_DELAY_RESOLUTION_MS } from '../src/loop-delay.js';

const h = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
h.enable();

/** Delay p99 and max since the previous call, ms (0 when the timer did not tick); starts a new window. */
export function readLoop(): { p99Ms: number; maxMs: number } {
  const less = (ns: number) => (h.count > 0 ? Math.max(0, ns / 1e6 - LOOP_DELAY_RESOLUTION_MS) : 0);
  const r = { p99Ms: less(h.percentile(99)), maxMs: less(h.max) };
  h.reset();
  return r;
}
