/**
 * What the server does with an exception nothing caught (README "When meetcore exits"). Every one is logged with
 * its stack (pino, level `error`, `msg: "unexpected error"`, fields `kind` and `stateUnknown`) and counted in
 * `meetcore_uncaught_errors_total{kind}`:
 *
 * - `uncaught_exception`: thrown from a callback nobody wrapped (a timer, an event listener, ...);
 * - `unhandled_rejection`: a promise rejected with no handler;
 * - `native_callback`: thrown while the audio addon's event batch was being handled (see
 *   `reportNativeCallbackError`).
 *
 * The process stays up, except when its state is unknown; then it stops gracefully (sockets closed, every
 * recording finalized, the database closed: RunningServer.stop) and exits with code 70 (EX_SOFTWARE,
 * sysexits.h), after at most STOP_DEADLINE_MS. The state is unknown after:
 *
 * - an error from the audio addon's callback: the batch was half delivered (some recordings and meetings have its
 *   events, others not), and Node would otherwise only print a DEP0168 warning and drop the error;
 * - more than MAX_ERRORS_IN_WINDOW (10) unexpected errors of any kind within WINDOW_MS (60 s): something fails
 *   over and over, and what it left half done is no longer known.
 *
 * An error raised while that stop runs is logged and counted, and changes nothing.
 */
import { Counter } from 'prom-client';
import type { Logger } from './log.js';

export type FaultKind = 'uncaught_exception' | 'unhandled_rejection' | 'native_callback';
const KINDS: readonly FaultKind[] = ['uncaught_exception', 'unhandled_rejection', 'native_callback'];

/** More than this many unexpected errors within WINDOW_MS leave the state unknown. */
export const MAX_ERRORS_IN_WINDOW = 10;
export const WINDOW_MS = 60_000;
/** The graceful stop after an unknown state gets this long before the process exits anyway, ms. */
export const STOP_DEADLINE_MS = 50_000;
/** Exit code after a stop for an unknown state (EX_SOFTWARE in sysexits.h). */
export const EXIT_STATE_UNKNOWN = 70;

/** Errors that `reportNativeCallbackError` rethrew, so that the handler knows their origin. */
const fromNativeCallback = new WeakSet<object>();

/**
 * Call from the catch of a callback the native addon invokes: rethrows `err` on the next tick as an uncaught
 * exception marked `native_callback`. (Node itself drops an exception thrown into a N-API thread-safe function's
 * call with a DEP0168 warning, so it would otherwise be lost.)
 */
export function reportNativeCallbackError(err: unknown): void {
  const error = err instanceof Error ? err : new Error(`non-Error thrown from a native addon callback: ${String(err)}`);
  fromNativeCallback.add(error);
  process.nextTick(() => { throw error; });
}

export interface FaultPolicyOptions {
  log: Logger;
  /** Stops the server gracefully (idempotent); resolves once the recordings are finalized and the database closed. */
  stop(): Promise<void>;
  /** Ends the process (process.exit in production). */
  exit(code: number): void;
}

/** The process-wide handler of uncaught exceptions and unhandled rejections: see the module comment. */
export class FaultPolicy {
  /** `meetcore_uncaught_errors_total{kind}`, in no registry until `registerMetric` is called with it. */
  readonly counter = new Counter({
    name: 'meetcore_uncaught_errors_total',
    help: 'Exceptions and promise rejections nothing caught, by kind (uncaught_exception, unhandled_rejection, native_callback)',
    labelNames: ['kind'], registers: [],
  });
  private readonly recent: number[] = [];
  private stopping = false;

  /** True once an unexpected error left the state unknown (the stop for it has begun). */
  get stateUnknown(): boolean { return this.stopping; }

  constructor(private readonly opts: FaultPolicyOptions) {
    for (const kind of KINDS) this.counter.inc({ kind }, 0);
  }

  /** Install the process handlers (once). */
  install(): void {
    process.on('uncaughtException', (err) => this.fault(fromNativeCallback.has(err) ? 'native_callback' : 'uncaught_exception', err));
    process.on('unhandledRejection', (reason) => this.fault('unhandled_rejection', reason));
  }

  private fault(kind: FaultKind, err: unknown, now = Date.now()): void {
    this.counter.inc({ kind });
    this.recent.push(now);
    while (this.recent.length > 0 && this.recent[0]! <= now - WINDOW_MS) this.recent.shift();
    const unknown = kind === 'native_callback' ? 'an error in the audio addon callback'
      : this.recent.length > MAX_ERRORS_IN_WINDOW ? `more than ${MAX_ERRORS_IN_WINDOW} unexpected errors within ${WINDOW_MS / 1000} s`
        : null;
    this.opts.log.error({ err, kind, stateUnknown: unknown !== null }, 'unexpected error');
    if (unknown === null || this.stopping) return;
    this.stopping = true;
    this.opts.log.fatal({ reason: unknown, exitCode: EXIT_STATE_UNKNOWN }, 'state unknown: stopping after finishing the recordings');
    const deadline = setTimeout(() => {
      this.opts.log.fatal({ deadlineMs: STOP_DEADLINE_MS }, 'graceful stop did not finish in time');
      this.opts.exit(EXIT_STATE_UNKNOWN);
    }, STOP_DEADLINE_MS);
    this.opts.stop().then(
      () => { clearTimeout(deadline); this.opts.exit(EXIT_STATE_UNKNOWN); },
      (stopErr: unknown) => { clearTimeout(deadline); this.opts.log.error({ err: stopErr }, 'shutdown failed'); this.opts.exit(EXIT_STATE_UNKNOWN); },
    );
  }
}
