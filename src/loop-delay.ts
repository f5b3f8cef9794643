/**
 * `meetcore_event_loop_delay_{p50,p90,p99,max}_seconds`: how late the event loop ran a timer, fine enough to show
 * a few milliseconds. prom-client's `nodejs_eventloop_lag_*` series come from the same Node histogram
 * (perf_hooks.monitorEventLoopDelay) at its 10 ms `eventLoopMonitoringPrecision`, and each of their samples is
 * the time between two ticks of that timer, interval included: an idle process reads about 10 ms there. Here the
 * timer ticks every LOOP_DELAY_RESOLUTION_MS (1 ms) and that interval is subtracted from every sample, so an idle
 * process reads well under a millisecond and a callback that holds the loop for B ms reads B − 1 to B ms.
 * The names follow prom-client's (`nodejs_eventloop_lag_p99_seconds`); a gauge with a `quantile` label would fail
 * `promtool check metrics` (that label is reserved to summaries).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Gauge, type Registry } from 'prom-client';

/** The histogram's timer interval, ms (the smallest monitorEventLoopDelay allows); subtracted from each sample. */
export const LOOP_DELAY_RESOLUTION_MS = 1;

/** The series: name suffix and the histogram figure it reads (percentile, or 100 for the largest). */
const SERIES = [['p50', 50], ['p90', 90], ['p99', 99], ['max', 100]] as const;

/**
 * Start measuring and register the four gauges in `registry`. A scrape reads the delays since the previous
 * scrape and starts a new window (as prom-client does for its own lag series): the first of the four gauges
 * collected twice takes a new snapshot of the histogram and resets it, whatever order they are collected in.
 * A window with no tick (two scrapes within a millisecond) reads 0.
 * @returns stop(): ends the measurement (the gauges then read 0).
 */
export function registerLoopDelay(registry: Registry): { stop(): void } {
  const histogram = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
  histogram.enable();
  let snapshot = new Map<string, number>();
  const read = new Set<string>();
  /** A histogram value (ns) as seconds of delay past the tick's due time. */
  const delaySec = (ns: number) => Math.max(0, ns / 1e9 - LOOP_DELAY_RESOLUTION_MS / 1000);
  const take = () => {
    const any = histogram.count > 0;
    snapshot = new Map(SERIES.map(([name, p]) => [name, !any ? 0 : delaySec(p === 100 ? histogram.max : histogram.percentile(p))]));
    histogram.reset();
    read.clear();
  };
  for (const [name] of SERIES) {
    new Gauge({
      name: `meetcore_event_loop_delay_${name}_seconds`,
      help: `Event-loop delay since the previous scrape, ${name === 'max' ? 'largest' : name}: how late a ${LOOP_DELAY_RESOLUTION_MS} ms timer ran, its interval subtracted`,
      registers: [registry],
      collect() {
        if (read.has(name) || snapshot.size === 0) take();
        read.add(name);
        this.set(snapshot.get(name) ?? 0);
      },
    });
  }
  return { stop: () => histogram.disable() };
}
