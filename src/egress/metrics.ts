/**
 * Prometheus series of the egress area (README "Metrics"). One set per registry, shared by `/egress-audio`
 * and `/egress-video`: `egressMetrics(ctx.metrics)` returns the same counters on every call.
 */
import { Counter, type Registry } from 'prom-client';

export type EgressKind = 'audio' | 'video';

export interface EgressMetrics {
  /** Binary bytes received on egress sockets (muted audio included), by kind. */
  readonly bytesIn: Counter<'kind'>;
  /** Binary WebSocket frames received on egress sockets, by kind. */
  readonly framesIn: Counter<'kind'>;
  /** Recordings whose writes failed (the row ends FAILED), by kind. */
  readonly recordingWriteErrors: Counter<'kind'>;
  /** Input bytes the native ring dropped because it was full (audio only). */
  readonly ringOverflowBytes: Counter;
}

const byRegistry = new WeakMap<Registry, EgressMetrics>();

export function egressMetrics(registry: Registry): EgressMetrics {
  let m = byRegistry.get(registry);
  if (m) return m;
  const registers = [registry];
  m = {
    bytesIn: new Counter({ name: 'meetcore_egress_received_bytes_total', help: 'Binary bytes received on egress sockets (muted audio included), by kind (audio, video)', labelNames: ['kind'], registers }),
    framesIn: new Counter({ name: 'meetcore_egress_received_frames_total', help: 'Binary WebSocket frames received on egress sockets, by kind (audio, video)', labelNames: ['kind'], registers }),
    recordingWriteErrors: new Counter({ name: 'meetcore_recording_write_errors_total', help: 'Recordings stopped by a write error (row FAILED), by kind (audio, video)', labelNames: ['kind'], registers }),
    ringOverflowBytes: new Counter({ name: 'meetcore_egress_ring_overflow_bytes_total', help: 'Audio input bytes dropped because a stream\'s native ring buffer was full', registers }),
  };
  for (const kind of ['audio', 'video']) {
    m.bytesIn.inc({ kind }, 0);
    m.framesIn.inc({ kind }, 0);
    m.recordingWriteErrors.inc({ kind }, 0);
  }
  byRegistry.set(registry, m);
  return m;
}
