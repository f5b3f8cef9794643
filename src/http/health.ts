import type { AppContext } from '../context.js';
import { HttpError } from './errors.js';

/**
 * GET /health and its alias GET /api/health (PROTOCOL.md §1; WorldMates calls the alias), and GET /metrics
 * (Prometheus text; loopback only when METRICS_LOCAL_ONLY=true). `uptime` (seconds, what Momento Live reads) and
 * `uptimeSec` are the same number.
 */
export function registerHealth(ctx: AppContext): void {
  const health = () => {
    const up = Math.round((Date.now() - ctx.startedAt) / 1000);
    return {
      json: {
        status: 'ok',
        timestamp: Date.now(),
        uptime: up,
        uptimeSec: up,
        version: ctx.version,
        rooms: ctx.counters.rooms(),
        connections: ctx.counters.connections(),
        egressStreams: ctx.counters.egressStreams(),
        egressDroppedBatches: ctx.counters.egressDroppedBatches(),
        egressOverflowBytes: ctx.counters.egressOverflowBytes(),
      },
    };
  };
  ctx.router.get('/health', health);
  ctx.router.get('/api/health', health);
  ctx.router.get('/metrics', async (req) => {
    if (ctx.config.METRICS_LOCAL_ONLY && !isLoopback(req.ip)) throw new HttpError('forbidden', 'metrics are served to localhost only');
    return { raw: await ctx.metrics.metrics(), contentType: ctx.metrics.contentType };
  });
}

/** True for 127.0.0.0/8 and ::1 (also in their IPv4-mapped or long IPv6 text forms). */
export function isLoopback(ip: string): boolean {
  const v = ip.toLowerCase();
  return v.startsWith('127.') || v.startsWith('::ffff:127.') || v === '::1' || v === '0000:0000:0000:0000:0000:0000:0000:0001'
    || v.startsWith('0000:0000:0000:0000:0000:ffff:7f');
}
