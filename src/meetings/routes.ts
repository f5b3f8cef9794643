/**
 * Wiring of the meetings owner (src/meetings/index.ts): the native engine's batches from the bus, and the
 * report routes (auth 'bearer', a meeting of another organization answers 404 like an unknown one):
 * - `GET /api/sessions/:meetingId/report` → 200 the MeetingReport (src/meetings/report.ts): live while the
 *   meeting goes on (`final: false`), the stored final one after it ended; 404 when the meeting or its report
 *   is unknown (no audio yet);
 * - `GET /api/sessions/:meetingId/timeline.svg` → 200 `image/svg+xml`: the meeting as a picture
 *   (src/meetings/timeline-svg.ts), with the feedback events stored for it; an empty picture before any audio.
 */
import type { AppContext } from '../context.js';
import { mayReadMeeting } from '../auth/authorization.js';
import { HttpError } from '../http/errors.js';
import type { Principal } from '../http/router.js';
import { FeedbackStore } from '../store/feedback.js';
import { MeetingAnalytics } from './analytics.js';

/** Most feedback events drawn on a timeline. */
const TIMELINE_FEEDBACK_LIMIT = 5000;

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
  const feedback = new FeedbackStore(ctx.db, ctx.config.FEEDBACK_TTL_DAYS * 86_400_000);

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
    const report = ctx.meetings.report(id);
    if (!report) throw new HttpError('not_found', `no report for ${JSON.stringify(id)} yet (no audio analysed)`);
    return { json: report };
  }, { auth: 'bearer' });

  ctx.router.get('/api/sessions/:meetingId/timeline.svg', async (req) => {
    const id = meetingOf(req);
    const report = ctx.meetings.report(id) ?? new MeetingAnalytics(id).report((p) => ctx.meetings.person(id, p), Date.now(), false);
    // Loaded at the first picture, not at start-up (vega is large).
    const { renderTimelineSvg } = await import('./timeline-svg.js');
    const svg = await renderTimelineSvg(report, feedback.list(id, 0, TIMELINE_FEEDBACK_LIMIT));
    return { raw: svg, contentType: 'image/svg+xml; charset=utf-8', headers: { 'Cache-Control': 'no-store', 'X-Content-Type-Options': 'nosniff' } };
  }, { auth: 'bearer' });
}
