/**
 * Structured JSON logs (pino) on stdout. `createLogger(level)` is called once by main; modules take a child
 * logger (`log.child({ area: 'egress' })`) from their caller instead of importing a global.
 */
import { pino, type Logger } from 'pino';

export type { Logger };

/** A pino logger writing one JSON line per record to stdout. */
export function createLogger(level: string): Logger {
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}
