/**
 * The composition root: config → store → areas (HTTP routes, signaling, egress, …) on one uWS app → listen.
 * `startServer` returns a handle whose `stop()` performs the graceful shutdown of PROTOCOL/ARCHITECTURE:
 * stop accepting, close sockets (1001) and finalize every recording, stop services, close the database.
 */
import { EventEmitter } from 'node:events';
import path from 'node:path';
import type uWSModule from 'uWebSockets.js';
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import type { AppContext, BusEvents, LiveCounters, ShutdownPhase } from './context.js';
import { openDatabase } from './store/db.js';
import { SessionStore } from './store/sessions.js';
import { Router } from './http/router.js';
import { registerHealth } from './http/health.js';
import { registerSignaling } from './signaling/index.js';
import { registerAuth } from './auth/index.js';
import { registerEgress } from './egress/index.js';
import { registerLivekit } from './livekit/index.js';
import { prosodyPayloads, registerHume } from './hume/index.js';
import { registerFeedback } from './feedback/index.js';
import { Meetings } from './meetings/index.js';
import { registerMeetings } from './meetings/routes.js';
import { ReportStore } from './store/reports.js';
import { registerLoopDelay } from './loop-delay.js';

import { loadNative, version } from './runtime.js';

export interface RunningServer {
  readonly port: number;
  readonly ctx: AppContext;
  /** Graceful shutdown; idempotent, resolves when the database is closed. */
  stop(): Promise<void>;
}

/**
 * Start meetcore.
 * @throws Error when the port cannot be bound or the database cannot be opened.
 */
export async function startServer(config: Config, log: Logger): Promise<RunningServer> {
  const VERSION = version();
  const uWS = loadNative('uws') as typeof uWSModule;
  const db = openDatabase(path.join(config.DATA_DIR, 'meetcore.db'));
  const app = uWS.App();
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics });
  // prom-client's totals of active handles/requests/resources are gauges named like counters, which
  // `promtool check metrics` rejects; the per-type gauges without `_total` stay (sum them for the total).
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) metrics.removeSingleMetric(name);
  // prom-client's nodejs_eventloop_lag_* stay as they are (10 ms sampling, interval included); the fine one is ours.
  const loopDelay = registerLoopDelay(metrics);
  const steps: Record<ShutdownPhase, (() => void | Promise<void>)[]> = { sockets: [], services: [], store: [] };
  const counterFns: Record<keyof LiveCounters, () => number> = {
    rooms: () => 0, connections: () => 0, egressStreams: () => 0, egressDroppedBatches: () => 0, egressOverflowBytes: () => 0,
  };
  const sessions = new SessionStore(db);
  const ctx: AppContext = {
    config, log, db, app, metrics, version: VERSION, startedAt: Date.now(),
    sessions,
    meetings: new Meetings({ sessions, reports: new ReportStore(db), log: log.child({ area: 'meetings' }) }),
    router: new Router(app, { log: log.child({ area: 'http' }), requireAuth: config.REQUIRE_AUTH, corsOrigins: config.CORS_ORIGINS }),
    setCounter: (name, fn) => { counterFns[name] = fn; },
    counters: {
      rooms: () => counterFns.rooms(), connections: () => counterFns.connections(), egressStreams: () => counterFns.egressStreams(),
      egressDroppedBatches: () => counterFns.egressDroppedBatches(), egressOverflowBytes: () => counterFns.egressOverflowBytes(),
    },
    onShutdown: (phase, fn) => { steps[phase].push(fn); },
    bus: new EventEmitter<BusEvents>(),
    services: { signaling: null },
  };
  ctx.onShutdown('store', () => loopDelay.stop());

  registerHealth(ctx);
  registerSignaling(ctx);
  registerAuth(ctx); // after signaling (installs its ?token= resolver), before the areas that use principals
  registerMeetings(ctx);
  registerEgress(ctx);
  registerLivekit(ctx);
  registerHume(ctx);
  registerFeedback(ctx).setExtraFigures((meetingId) => ({ prosodyPayloads: prosodyPayloads(ctx.db, meetingId) }));
  // Unknown paths (404) and known paths asked with another method (405) are answered by the Router's fallback.

  const listenSocket = await new Promise<uWSModule.us_listen_socket>((resolve, reject) => {
    app.listen(config.HOST, config.PORT, (s) => (s ? resolve(s) : reject(new Error(`cannot listen on ${config.HOST}:${config.PORT}`))));
  });
  const port = uWS.us_socket_local_port(listenSocket);
  log.info({ host: config.HOST, port, publicUrl: config.PUBLIC_URL, version: VERSION }, 'meetcore listening');
  logFeatures(config, log);

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      log.info('shutting down');
      uWS.us_listen_socket_close(listenSocket);
      for (const phase of ['sockets', 'services', 'store'] as const) {
        for (const fn of steps[phase]) {
          try { await fn(); } catch (err) { log.error({ err, phase }, 'shutdown step failed'); }
        }
      }
      app.close();
      db.close();
      log.info('stopped');
    })();
    return stopping;
  };
  return { port, ctx, stop };
}

function logFeatures(config: Config, log: Logger): void {
  if (config.generatedSecrets.length) log.info({ secrets: config.generatedSecrets, dataDir: config.DATA_DIR }, 'using generated secrets kept in DATA_DIR');
  if (!config.livekitEnabled) log.info('LiveKit off: set LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET');
  if (!config.turnEnabled) log.info('TURN off: set TURN_URLS and TURN_SECRET (coturn static-auth-secret)');
  if (!config.HUME_API_KEY) log.info('Hume prosody off: HUME_API_KEY is not set, no segment is sent');
  if (config.EGRESS_ALLOW_UNSIGNED) log.warn('EGRESS_ALLOW_UNSIGNED=true: /egress-audio accepts unsigned URLs (development only)');
  if (!config.REQUIRE_AUTH) log.info('REQUIRE_AUTH=false: optional endpoints and /ws are open');
}
