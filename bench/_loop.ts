/**
 * Event-loop delay of a bench helper server, measured like meetcore's prom-client metric
 * (nodejs_eventloop_lag_p99_seconds: perf_hooks.monitorEventLoopDelay, 10 ms resolution). `read()` returns
 * the p99 and max since the previous read (ms) and starts a new window.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

const h = monitorEventLoopDelay({ resolution: 10 });
h.enable();

export function readLoop(): { p99Ms: number; maxMs: number } {
  const r = { p99Ms: h.percentile(99) / 1e6, maxMs: h.max / 1e6 };
  h.reset();
  return r;
}
