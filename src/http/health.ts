import type { AppContext } from '../context.js';
import { mayScrapeMetrics } from '../auth/authorization.js';
import { HttpError } from './errors.js';

/**
 * GET /health and its alias GET /api/health (PROTOCOL.md §1; WorldMates calls the alias), and GET /metrics
 * (Prometheus text; who may read it, METRICS_LOCAL_ONLY and METRICS_TOKEN, is decided by `mayScrapeMetrics`).
 * `uptime` (seconds, what Momento Live reads) and `uptimeSec` are the same number.
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
  const policy = { localOnly: ctx.config.METRICS_LOCAL_ONLY, token: ctx.config.METRICS_TOKEN };
  ctx.router.get('/metrics', async (req) => {
    const denial = mayScrapeMetrics(req, policy);
    if (denial?.code === 'unauthorized') throw new HttpError('unauthorized', denial.message, { 'WWW-Authenticate': 'Bearer realm="metrics"' });
    if (denial) throw new HttpError(denial.code, denial.message);
    return { raw: await ctx.metrics.metrics(), contentType: ctx.metrics.contentType };
  });
}
