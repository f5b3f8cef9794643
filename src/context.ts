/**
 * What every area of the server is given at start-up (the composition root builds it once): config, logger,
 * database and repositories, the uWS app and its JSON router, metrics, live counters for /health, and a place
 * to register shutdown steps.
 */
import type { TemplatedApp } from 'uWebSockets.js';
import type { Registry } from 'prom-client';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import type { Db } from './store/db.js';
import type { SessionStore } from './store/sessions.js';
import type { Router } from './http/router.js';

/** Live counts reported by GET /health and /api/stats. */
export interface LiveCounters {
  rooms(): number;
  connections(): number;
  egressStreams(): number;
}

/**
 * Shutdown phases, run in this order by Server.stop():
 * - 'sockets': close client sockets (1001) and egress streams, finalize files;
 * - 'services': stop engines, timers and outbound clients;
 * - 'store': last writes before the database closes.
 */
export type ShutdownPhase = 'sockets' | 'services' | 'store';

export interface AppContext {
  readonly config: Config;
  readonly log: Logger;
  readonly db: Db;
  readonly sessions: SessionStore;
  readonly app: TemplatedApp;
  readonly router: Router;
  readonly metrics: Registry;
  readonly version: string;
  /** Start time, Unix ms. */
  readonly startedAt: number;
  /** Replace one of the live counters (each area owns one). */
  setCounter(name: keyof LiveCounters, fn: () => number): void;
  readonly counters: LiveCounters;
  /** Register a step to run at shutdown; steps of one phase run in registration order. */
  onShutdown(phase: ShutdownPhase, fn: () => void | Promise<void>): void;
}
