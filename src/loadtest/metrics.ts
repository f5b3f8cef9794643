/**
 * Reads a meetcore's GET /metrics (Prometheus text format 0.0.4) for the load tool: the process's CPU seconds and
 * resident memory (prom-client's default series), event-loop delay p99 (`meetcore_event_loop_delay_p99_seconds`) and
 * meetcore's own `meetcore_*` series, so a step's server cost can be given per unit of load even for a remote target.
 */

/** One scrape: metric name (with its labels, as written) → value; and when it was taken (performance.now()). */
export interface Scrape {
  at: number;
  values: Map<string, number>;
}

/**
 * GET `<url>/metrics`.
 * @returns the scrape, or null when /metrics does not answer 200 within 5 s (e.g. METRICS_LOCAL_ONLY on a
 *   remote target); a redirect is not followed (null too).
 */
export async function scrape(url: string, headers: Record<string, string> = {}): Promise<Scrape | null> {
  try {
    const res = await fetch(`${url}/metrics`, { headers, redirect: 'manual', signal: AbortSignal.timeout(5000) });
    if (res.status !== 200) return null;
    return { at: performance.now(), values: parseText(await res.text()) };
  } catch {
    return null;
  }
}

/** Parse the sample lines of the text format (comments and blank lines skipped). */
export function parseText(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?)\s+(\S+)/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/** Sum of every sample of `name` (all label sets). */
export function total(s: Scrape, name: string): number | null {
  let sum: number | null = null;
  for (const [k, v] of s.values) {
    if (k === name || k.startsWith(`${name}{`)) sum = (sum ?? 0) + v;
  }
  return sum;
}

/**
 * Event-loop delay p99 since the previous scrape, seconds: `meetcore_event_loop_delay_p99_seconds`
 * (1 ms sampling, interval subtracted); from a meetcore without it, prom-client's `nodejs_eventloop_lag_p99_seconds`
 * less its 10 ms sampling interval (so 10 ms granularity); null when neither is served.
 */
export function loopDelayP99(s: Scrape): number | null {
  const fine = s.values.get('meetcore_event_loop_delay_p99_seconds');
  if (fine !== undefined) return fine;
  const coarse = s.values.get('nodejs_eventloop_lag_p99_seconds');
  return coarse === undefined ? null : Math.max(0, coarse - PROM_CLIENT_LAG_RESOLUTION_SEC);
}

/** prom-client's default eventLoopMonitoringPrecision (10 ms), in its lag samples. */
const PROM_CLIENT_LAG_RESOLUTION_SEC = 0.01;

/** meetcore's own series worth showing per step (gauges and counters, summed over labels). */
export const MEETCORE_SERIES = [
  'meetcore_signaling_connections', 'meetcore_rooms', 'meetcore_signaling_slow_closed_total', 'meetcore_egress_streams',
  'meetcore_egress_received_bytes_total', 'meetcore_engine_dropped_batches_total', 'meetcore_egress_ring_overflow_bytes_total',
  'meetcore_feedback_events_total', 'meetcore_recording_write_errors_total',
];
