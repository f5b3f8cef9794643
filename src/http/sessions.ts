/**
 * `GET /api/sessions` and `GET /api/sessions/:meetingId` (docs/protocol.md, auth 'bearer'): meetings with
 * `participantCount` and `recordingCount`, their participants (join order, each with its latest stats summary
 * from participant_stats) and their recordings (oldest first, muted intervals parsed, paths relative to
 * STORAGE_DIR).
 *
 * Bounded work per turn of the event loop: a meeting's participants and recordings are read SLICE_ROWS at a
 * time (keyset pages, src/store), each slice turned into JSON bytes at once, and slices of all requests share a
 * time budget per turn of the event loop (src/http/slices.ts), which serves everything else between turns; the
 * reply's bytes are written as the socket drains (src/http/router.ts). A meeting of 5,000 participants (the
 * analytics bound) is 100 slices of a few milliseconds instead of one block of 60–150 ms. A meeting is read in slices, not in one transaction: a participant who joins meanwhile may be listed
 * or not, as with a request sent a moment earlier or later.
 *
 * The list embeds at most LIST_EMBED_ROWS participants and LIST_EMBED_ROWS recordings of each meeting (the first
 * ones; the counts say how many there are, the meeting's own route lists them all), so a page of 500 meetings
 * has a bounded size whatever the meetings hold.
 */
import { z } from 'zod';
import type { AppContext } from '../context.js';
import { mayReadMeeting, readableMeetings } from '../auth/authorization.js';
import type { Participant, Session, SessionStore } from '../store/sessions.js';
import type { Recording, RecordingStore } from '../store/recordings.js';
import type { ParticipantStats, StatsStore } from '../store/stats.js';
import { HttpError } from './errors.js';
import { nextSlice } from './slices.js';
import { parseQuery, queryInteger } from './validate.js';

/** Largest `offset` of the meeting list: far beyond any real list, and exact in SQLite and in JavaScript. */
export const MAX_LIST_OFFSET = 1_000_000_000;
/** Participants or recordings read and serialized per turn of the event loop. */
export const SLICE_ROWS = 100;
/** Participants, and recordings, embedded per meeting in `GET /api/sessions` (all of them in `GET /api/sessions/:meetingId`). */
export const LIST_EMBED_ROWS = 50;

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

function withoutKeys(s: ParticipantStats): Omit<ParticipantStats, 'meetingId' | 'participant'> {
  const { meetingId: _m, participant: _p, ...rest } = s;
  return rest;
}

/** The stores a meeting's JSON is read from. */
interface Sources {
  sessions: SessionStore;
  recordings: RecordingStore;
  stats: StatsStore;
}

/**
 * Append the JSON of one meeting to `out` as UTF-8 pieces: the session row, `participantCount`, `recordingCount`,
 * then `participants` and `recordings`, at most `cap` of each (null: all), read slice by slice.
 */
async function meetingJson(session: Session, src: Sources, cap: number | null, out: Buffer[]): Promise<void> {
  const id = session.meetingId;
  const head = JSON.stringify({ ...session, participantCount: src.sessions.participantCount(id), recordingCount: src.recordings.countByMeeting(id) });
  out.push(Buffer.from(`${head.slice(0, -1)},"participants":[`));
  await slices<Participant>(cap, out, (after, limit) => src.sessions.participantsPage(id, after, limit), (page) => {
    const stats = new Map(src.stats.ofParticipants(id, page.map((p) => p.identity)).map((s) => [s.participant, s]));
    return page.map((p) => {
      const s = stats.get(p.identity);
      return JSON.stringify({ ...p, stats: s ? withoutKeys(s) : null });
    });
  });
  out.push(Buffer.from('],"recordings":['));
  await slices<Recording>(cap, out, (after, limit) => src.recordings.page(id, after, limit), (page) => page.map((r) => JSON.stringify(recordingView(r))));
  out.push(Buffer.from(']}'));
}

/**
 * Read rows page by page (SLICE_ROWS a page, at most `cap` in all unless null) with `read(after, limit)`, append
 * each page's JSON texts (`json`) comma-separated to `out`, and let the event loop turn between pages.
 */
async function slices<T>(cap: number | null, out: Buffer[], read: (after: T | null, limit: number) => T[], json: (rows: T[]) => string[]): Promise<void> {
  let after: T | null = null;
  for (let n = 0; ;) {
    const limit = cap === null ? SLICE_ROWS : Math.min(SLICE_ROWS, cap - n);
    if (limit <= 0) return;
    const rows = read(after, limit);
    if (rows.length > 0) out.push(Buffer.from((n > 0 ? ',' : '') + json(rows).join(',')));
    n += rows.length;
    if (rows.length < limit || (cap !== null && n >= cap)) return;
    after = rows[rows.length - 1]!;
    await nextSlice();
  }
}

/** Register the two routes on ctx.router. */
export function registerSessionsApi(ctx: AppContext, recordings: RecordingStore, stats: StatsStore): void {
  const src: Sources = { sessions: ctx.sessions, recordings, stats };

  ctx.router.get('/api/sessions', async (req) => {
    const q = parseQuery(listQuery, req.query);
    const out = [Buffer.from('{"sessions":[')];
    for (const [i, session] of ctx.sessions.list(q.limit, q.offset, readableMeetings(req.principal)).entries()) {
      if (i > 0) {
        out.push(Buffer.from(','));
        await nextSlice();
      }
      await meetingJson(session, src, LIST_EMBED_ROWS, out);
    }
    out.push(Buffer.from(`],"limit":${q.limit},"offset":${q.offset}}`));
    return { raw: out, contentType: 'application/json' };
  }, { auth: 'bearer' });

  ctx.router.get('/api/sessions/:meetingId', async (req) => {
    const session = ctx.sessions.get(req.params.meetingId ?? '');
    // Another organization's meeting is answered like an unknown one.
    if (!session || !mayReadMeeting(req.principal, session)) throw new HttpError('not_found', `no session ${JSON.stringify(req.params.meetingId)}`);
    const out: Buffer[] = [];
    await meetingJson(session, src, null, out);
    return { raw: out, contentType: 'application/json' };
  }, { auth: 'bearer' });
}
