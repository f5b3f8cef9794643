/**
 * Where POST /auth/token writes its audit entries ("every issue logged in `session_logs`", PROTOCOL.md §1).
 *
 * The LiveKit area depends only on the tiny `SessionLogSink` interface; `accountsSessionLogSink` wires it to
 * the accounts area's `logSession()` (src/auth/accounts.ts, table `session_logs` of migration 003). Tests or
 * another deployment can pass any other sink to `registerLivekit`.
 */
import { logSession } from '../auth/accounts.js';
import type { Db } from '../store/db.js';

/** One audit entry. */
export interface SessionLogEntry {
  /** When it happened, Unix ms. */
  at: number;
  /** What happened, e.g. 'livekit_token'. */
  kind: string;
  /** Who: the LiveKit identity the token was issued to. */
  actor: string;
  /** The LiveKit room name, when the entry concerns one. */
  room: string | null;
  /** Remote address of the request (IPv4 or IPv6 text). */
  ip: string | null;
  /** Authenticated meetcore user and organization, when the request carried an access token. */
  userId?: string | null;
  orgId?: string | null;
}

/** Receives audit entries. `record` is synchronous and throws when the entry cannot be stored. */
export interface SessionLogSink {
  record(entry: SessionLogEntry): void;
}

/** A sink writing rows into `session_logs` through the accounts area's `logSession(db, entry)`. */
export function accountsSessionLogSink(db: Db): SessionLogSink {
  return { record: (e) => { logSession(db, e); } };
}
