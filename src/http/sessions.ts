/**
 * `GET /api/sessions` and `GET /api/sessions/:meetingId` (PROTOCOL.md §1, auth 'bearer'): meetings with
 * their participants (each with its latest stats summary from participant_stats) and recordings (muted
 * intervals parsed, paths relative to STORAGE_DIR).
 */
import { z } from 'zod';
import type { AppContext } from '../context.js';
import { mayReadMeeting, readableMeetings } from '../auth/authorization.js';
import type { Session } from '../store/sessions.js';
import type { Recording, RecordingStore } from '../store/recordings.js';
import type { ParticipantStats, StatsStore } from '../store/stats.js';
import { HttpError } from './errors.js';
import { parseQuery, queryInteger } from './validate.js';

/** Largest `offset` of the meeting list: far beyond any real list, and exact in SQLite and in JavaScript. */
export const MAX_LIST_OFFSET = 1_000_000_000;

/** `?limit=` meetings per page (1..500, default 100) and `?offset=` meetings skipped (0..MAX_LIST_OFFSET, default 0). */
const listQuery = z.object({
  limit: queryInteger(1, 500).default(100),
  offset: queryInteger(0, MAX_LIST_OFFSET).default(0),
});

/** A recording as served: the row plus its duration (ms of recorded, unmuted audio). */
export type RecordingView = Recording & { durationMs: number | null };

function recordingView(r: Recording): RecordingView {
  const durationMs = r.kind === 'audio' && r.sampleRate && r.channels ? Math.round((r.bytes / (r.channels * 2) / r.sampleRate) * 1000) : null;
  return { ...r, durationMs };
}

/** The JSON of one meeting. */
export function sessionView(session: Session, ctx: AppContext, recordings: RecordingStore, stats: StatsStore) {
  const byParticipant = new Map<string, ParticipantStats>(stats.byMeeting(session.meetingId).map((s) => [s.participant, s]));
  const participants = ctx.sessions.participants(session.meetingId).map((p) => {
    const s = byParticipant.get(p.identity);
    byParticipant.delete(p.identity);
    return { ...p, stats: s ? withoutKeys(s) : null };
  });
  return {
    ...session,
    participants,
    recordings: recordings.byMeeting(session.meetingId).map(recordingView),
  };
}

function withoutKeys(s: ParticipantStats): Omit<ParticipantStats, 'meetingId' | 'participant'> {
  const { meetingId: _m, participant: _p, ...rest } = s;
  return rest;
}

/** Register the two routes on ctx.router. */
export function registerSessionsApi(ctx: AppContext, recordings: RecordingStore, stats: StatsStore): void {
  ctx.router.get('/api/sessions', (req) => {
    const q = parseQuery(listQuery, req.query);
    const sessions = ctx.sessions.list(q.limit, q.offset, readableMeetings(req.principal)).map((s) => sessionView(s, ctx, recordings, stats));
    return { json: { sessions, limit: q.limit, offset: q.offset } };
  }, { auth: 'bearer' });

  ctx.router.get('/api/sessions/:meetingId', (req) => {
    const session = ctx.sessions.get(req.params.meetingId ?? '');
    // Another organization's meeting is answered like an unknown one.
    if (!session || !mayReadMeeting(req.principal, session)) throw new HttpError('not_found', `no session ${JSON.stringify(req.params.meetingId)}`);
    return { json: sessionView(session, ctx, recordings, stats) };
  }, { auth: 'bearer' });
}
