/**
 * The built-in pages, plain browser JavaScript with no dependencies and no build step. The files are read
 * once at start-up.
 * - The call page: GET / (create or open a room) and GET /participant/:roomId (the join link of
 *   POST /api/rooms) serve index.html; GET /web/app.js serves its script (a signaling client mirroring
 *   src/client and a P2P mesh of RTCPeerConnections using the ICE servers meetcore hands out).
 * - The host console: GET /host/:meetingId serves host.html; GET /web/host.js its script (live feedback of
 *   the room `feedback:<meetingId>` over /ws, talk share from GET /feedback/debug/:meetingId, the timeline
 *   picture GET /api/sessions/:meetingId/timeline.svg, the final report read when `meeting_report` says it is stored). The host's
 *   access token comes in the URL fragment (`#token=`), which browsers never send; the page itself needs
 *   no authentication, its data routes do.
 */
import type { AppContext } from '../context.js';
import type { Reply } from '../http/router.js';
import { readTextAsset } from '../runtime.js';

/**
 * Content-Security-Policy of the page: only its own script, its own origin for fetch and /ws, QR codes from
 * its own origin, inline styles of index.html.
 */
const CSP = "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; media-src 'self' blob: mediastream:; style-src 'self' 'unsafe-inline'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** The host console's policy: the call page's, with blob: images (the timeline SVG is shown from a blob: URL). */
export const HOST_CSP = CSP.replace("img-src 'self' data:", "img-src 'self' data: blob:");

/**
 * Register the page routes.
 * @throws Error at start-up when a page file is missing (src/runtime.ts readTextAsset).
 */
export function registerWeb(ctx: AppContext): void {
  const html = readTextAsset('web/index.html');
  const js = readTextAsset('web/app.js');
  const hostHtml = readTextAsset('web/host.html');
  const hostJs = readTextAsset('web/host.js');
  const headers = { 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' };
  const pageOf = (text: string, csp: string) => (): Reply => ({
    raw: text, contentType: 'text/html; charset=utf-8', headers: { ...headers, 'Content-Security-Policy': csp, 'Referrer-Policy': 'no-referrer' },
  });
  const script = (text: string) => (): Reply => ({ raw: text, contentType: 'text/javascript; charset=utf-8', headers });
  const page = pageOf(html, CSP);
  ctx.router.get('/', page);
  ctx.router.get('/participant/:roomId', page);
  ctx.router.get('/web/app.js', script(js));
  ctx.router.get('/host/:meetingId', pageOf(hostHtml, HOST_CSP));
  ctx.router.get('/web/host.js', script(hostJs));
}
