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
import type { EventEmitter } from 'node:events';
import type { Principal, Router } from './http/router.js';
import type { StatsRows } from './pipeline/stats.js';
import type { EngineEvent } from './pipeline/types.js';
import type { Denial } from './auth/authorization.js';
import type { Meetings } from './meetings/index.js';

/** Live counts reported by GET /health and /api/stats. */
export interface LiveCounters {
  rooms(): number;
  connections(): number;
  egressStreams(): number;
  /** Audio engine batches dropped because the JS queue was full (their closed/error events are kept). */
  egressDroppedBatches(): number;
  /** Audio input bytes lost past a queue bound (those streams were closed with 4008). */
  egressOverflowBytes(): number;
}

/**
 * Shutdown phases, run in this order by Server.stop():
 * - 'sockets': close client sockets (1001) and egress streams, finalize files;
 * - 'services': stop engines, timers and outbound clients;
 * - 'store': last writes before the database closes.
 */
export type ShutdownPhase = 'sockets' | 'services' | 'store';

/** An egress stream as the rest of the server sees it (src/egress tells src/meetings, which announces it). */
export interface EgressStreamInfo {
  /** AudioStream id of the native engine (-1 for video). */
  streamId: number;
  kind: 'audio' | 'video';
  meetingId: string;
  roomName: string;
  participant: string;
  trackId: string;
  /** Stream clock origin, Unix ms. */
  startedAt: number;
  recordingId: number;
  path: string;
}

/**
 * Cross-area events. Emitters and listeners are synchronous; a listener must not throw (it is its own
 * area's job to catch and log).
 */
export interface BusEvents {
  /**
   * The stats reports of a native engine batch, packed (src/pipeline/stats.ts: read rows through `row(i)`,
   * do not keep them). Emitted before the batch's 'audio.events'.
   */
  'audio.stats': [rows: StatsRows];
  /** The segment/overlap/closed/error events of a native engine batch (thread-safe function delivery). */
  'audio.events': [events: EngineEvent[]];
  /** A login session (refresh family, access tokens' `sid`) was revoked: logout, refresh re-use, lost membership. */
  'auth.revoked': [sessionId: string, reason: string];
  /** A membership's role changed or the membership was removed (the member's sockets are checked again). */
  'auth.membership': [userId: string, orgId: string];
}

/** Result of a join check: null allows, otherwise the PROTOCOL.md §2 error to send. */
export type JoinDecision = null | Denial;

/** What signaling (src/signaling) offers the other areas. */
export interface SignalingHub {
  /** Send a message to every socket of a room (/ws JSON and msgpack, Socket.IO). */
  publish(roomId: string, message: { type: string; [k: string]: unknown }): void;
  /**
   * Install the resolver of `?token=` on /ws upgrades and Socket.IO handshakes (null = no/invalid token).
   * Synchronous: the upgrade is decided inside uWS's upgrade handler (src/signaling/ws.ts says why).
   */
  setTokenAuthenticator(fn: (token: string) => Principal | null): void;
  /**
   * Install the check of a connected socket's principal as it is now (src/auth): the same principal with its
   * current role, or null when its login session was revoked or its membership removed. Run at connection,
   * at every join and when the token expires.
   */
  setPrincipalRefresher(fn: (principal: Principal) => Principal | null): void;
}

export interface AppContext {
  readonly config: Config;
  readonly log: Logger;
  readonly db: Db;
  readonly sessions: SessionStore;
  /** The one owner of meeting, participant and live stream state (src/meetings): areas subscribe to its events. */
  readonly meetings: Meetings;
  readonly app: TemplatedApp;
  readonly router: Router;
  readonly metrics: Registry;
  readonly version: string;
  /** Start time, Unix ms. */
  readonly startedAt: number;
  /** Replace one of the live counters (each area owns one). */
  setCounter(name: keyof LiveCounters, fn: () => number): void;
  readonly counters: LiveCounters;
  /** Cross-area events (see BusEvents). */
  readonly bus: EventEmitter<BusEvents>;
  /** Late-bound services, set by the area that owns them during registration (null until then). */
  readonly services: { signaling: SignalingHub | null };
  /** Register a step to run at shutdown; steps of one phase run in registration order. */
  onShutdown(phase: ShutdownPhase, fn: () => void | Promise<void>): void;
}
