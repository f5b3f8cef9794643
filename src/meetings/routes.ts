/**
 * Wiring of the meetings owner (src/meetings/index.ts): the native engine's batches from the bus, and the
 * report routes (auth 'bearer', a meeting of another organization answers 404 like an unknown one):
 * - `GET /api/sessions/:meetingId/report` → 200 the MeetingReport (src/meetings/report.ts): live while the
 *   meeting goes on (`final: false`), the stored final one after it ended; 404 when the meeting or its report
 *   is unknown (no audio yet);
 * - `GET /api/sessions/:meetingId/timeline.svg` → 200 `image/svg+xml`: the meeting as a picture
 *   (src/meetings/timeline-svg.ts), with the feedback events stored for it; an empty picture before any audio;
 *   429 `rate_limited` with Retry-After (seconds) beyond TIMELINE_RATE_PER_MIN requests per principal a minute.
 * Both are computed in the render worker (src/meetings/render-pool.ts), kept per report version and sent with
 * that version as a weak ETag: a request whose If-None-Match holds it gets 304 and no body.
 */
import type { AppContext } from '../context.js';
import { mayReadMeeting } from '../auth/authorization.js';
import { HttpError } from '../http/errors.js';
import type { Principal } from '../http/router.js';
import { versionedReply } from '../http/versioned.js';
import { FeedbackStore } from '../store/feedback.js';
import { RateLimiter, TIMELINE_MAX_MARKS } from './render-pool.js';

/** Most feedback events drawn on a timeline. */
const TIMELINE_FEEDBACK_LIMIT = 5000;

/** Who a request counts against in per-principal limits: the account, the LiveKit identity, else the address. */
function principalKey(req: { principal?: Principal; ip: string }): string {
  const p = req.principal;
  if (p?.userId) return `user:${p.userId}`;
  if (p?.identity) return `livekit:${p.room ?? ''}:${p.identity}`;
  return `ip:${req.ip}`;
}

/**
 * Feed the owner from the bus and register the report routes.
 * @throws nothing at registration.
 */
export function registerMeetings(ctx: AppContext): void {
  const log = ctx.log.child({ area: 'meetings' });
  ctx.bus.on('audio.events', (events) => {
    try { ctx.meetings.engineEvents(events); } catch (err) { log.error({ err }, 'cannot fold engine events into the meeting timelines'); }
  });
  ctx.bus.on('audio.stats', (rows) => {
    try { ctx.meetings.engineStats(rows); } catch (err) { log.error({ err }, 'cannot fold stats into the meeting timelines'); }
  });
  ctx.onShutdown('services', () => ctx.meetings.close());
  const feedback = new FeedbackStore(ctx.db, ctx.config.FEEDBACK_TTL_DAYS * 86_400_000);
  const pictures = new RateLimiter(ctx.config.TIMELINE_RATE_PER_MIN);

  /** The meeting a request may read: 400 when malformed, 404 when unknown or another organization's. */
  const meetingOf = (req: { params: Record<string, string | undefined>; principal?: Principal }): string => {
    const id = req.params.meetingId ?? '';
    if (!id || id.length > 128) throw new HttpError('bad_request', 'meetingId: 1..128 characters');
    const session = ctx.sessions.get(id);
    if (!session || !mayReadMeeting(req.principal, session)) throw new HttpError('not_found', `no session ${JSON.stringify(id)}`);
    return id;
  };

  ctx.router.get('/api/sessions/:meetingId/report', (req) => {
    const id = meetingOf(req);
    const report = ctx.meetings.reportJson(id);
    if (!report) throw new HttpError('not_found', `no report for ${JSON.stringify(id)} yet (no audio analysed)`);
    return versionedReply(req, report, 'application/json');
  }, { auth: 'bearer' });

  ctx.router.get('/api/sessions/:meetingId/timeline.svg', (req) => {
    const id = meetingOf(req);
    const wait = pictures.take(principalKey(req));
    if (wait > 0) {
      throw new HttpError('rate_limited', `more than ${ctx.config.TIMELINE_RATE_PER_MIN} timeline pictures a minute (TIMELINE_RATE_PER_MIN); retry in ${wait} s`, { 'Retry-After': String(wait) });
    }
    const svg = ctx.meetings.timelineSvg(id, { version: feedback.version(id), list: () => feedback.list(id, 0, TIMELINE_FEEDBACK_LIMIT) }, TIMELINE_MAX_MARKS);
    return versionedReply(req, svg, 'image/svg+xml; charset=utf-8', { 'X-Content-Type-Options': 'nosniff' });
  }, { auth: 'bearer' });
}
