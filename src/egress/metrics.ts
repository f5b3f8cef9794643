/**
 * Prometheus series of the egress area (README "Metrics"). One set per registry, shared by `/egress-audio`
 * and `/egress-video`: `egressMetrics(ctx.metrics)` returns the same counters on every call.
 */
import { Counter, type Registry } from 'prom-client';

export type EgressKind = 'audio' | 'video';

export interface EgressMetrics {
  /** Binary bytes received on egress sockets (muted audio included), by kind; video counts as it goes. */
  readonly bytesIn: Counter<'kind'>;
  /** Binary WebSocket frames received on egress sockets, by kind; video counts as it goes. */
  readonly framesIn: Counter<'kind'>;
  /** Recordings whose writes failed (the row ends FAILED), by kind. */
  readonly recordingWriteErrors: Counter<'kind'>;
  /**
   * Audio totals since start, read at scrape time (set by /egress-audio, whose per-frame path only pushes):
   * bytes received (counted natively) and frames.
   */
  audioTotals: (() => { bytes: number; frames: number }) | null;
}

const byRegistry = new WeakMap<Registry, EgressMetrics>();

export function egressMetrics(registry: Registry): EgressMetrics {
  let m = byRegistry.get(registry);
  if (m) return m;
  const registers = [registry];
  // The audio series mirror totals read at scrape time: each scrape adds what is new since the last one.
  const seen = { bytes: 0, frames: 0 };
  const audio = (field: 'bytes' | 'frames', counter: Counter<'kind'>): void => {
    const v = m!.audioTotals?.()[field] ?? 0;
    if (v > seen[field]) { counter.inc({ kind: 'audio' }, v - seen[field]); seen[field] = v; }
  };
  m = {
    bytesIn: new Counter({ name: 'meetcore_egress_received_bytes_total', help: 'Binary bytes received on egress sockets (muted audio included), by kind (audio, video)', labelNames: ['kind'], registers, collect() { audio('bytes', this); } }),
    framesIn: new Counter({ name: 'meetcore_egress_received_frames_total', help: 'Binary WebSocket frames received on egress sockets, by kind (audio, video)', labelNames: ['kind'], registers, collect() { audio('frames', this); } }),
    recordingWriteErrors: new Counter({ name: 'meetcore_recording_write_errors_total', help: 'Recordings stopped by a write error (row FAILED), by kind (audio, video)', labelNames: ['kind'], registers }),
    audioTotals: null,
  };
  for (const kind of ['audio', 'video']) {
    m.bytesIn.inc({ kind }, 0);
    m.framesIn.inc({ kind }, 0);
    m.recordingWriteErrors.inc({ kind }, 0);
  }
  byRegistry.set(registry, m);
  return m;
}
