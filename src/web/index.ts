/**
 * The built-in call page: GET / (create or open a room) and GET /participant/:roomId (the join link of
 * POST /api/rooms) serve index.html; GET /web/app.js serves its script (plain browser JavaScript, no
 * dependencies, no build step: a signaling client mirroring src/client and a P2P mesh of RTCPeerConnections
 * using the ICE servers meetcore hands out). The files are read once at start-up.
 */
import type { AppContext } from '../context.js';
import type { Reply } from '../http/router.js';
import { readTextAsset } from '../runtime.js';

/**
 * Content-Security-Policy of the page: only its own script, its own origin for fetch and /ws, QR codes from
 * its own origin, inline styles of index.html.
 */
const CSP = "default-src 'self'; script-src 'self'; connect-src 'self'; img-src 'self' data:; media-src 'self' blob: mediastream:; style-src 'self' 'unsafe-inline'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/**
 * Register the page routes.
 * @throws Error at start-up when index.html or app.js is missing (src/runtime.ts readTextAsset).
 */
export function registerWeb(ctx: AppContext): void {
  const html = readTextAsset('web/index.html');
  const js = readTextAsset('web/app.js');
  const headers = { 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' };
  const page = (): Reply => ({ raw: html, contentType: 'text/html; charset=utf-8', headers: { ...headers, 'Content-Security-Policy': CSP, 'Referrer-Policy': 'no-referrer' } });
  ctx.router.get('/', page);
  ctx.router.get('/participant/:roomId', page);
  ctx.router.get('/web/app.js', () => ({ raw: js, contentType: 'text/javascript; charset=utf-8', headers }));
}
