/**
 * ICE configuration (PROTOCOL.md §1): GET /api/ice-servers/:userId and ?userId=, POST /api/turn-credentials
 * (coturn TURN REST credentials, src/auth/turn.ts), and the live counts GET /api/stats and
 * GET /api/admin/calls/stats.
 */
import { maySeeRoom } from '../auth/authorization.js';
import type { Principal } from './router.js';
import { z } from 'zod';
import type { AppContext } from '../context.js';
import { iceServers, turnCredential } from '../auth/turn.js';
import type { SignalingHub } from '../signaling/hub.js';
import { HttpError } from './errors.js';
import { parse } from './validate.js';

const userId = z.string().min(1).max(128).regex(/^[^:\s]+$/, 'must not contain ":" or spaces');

export function registerIce(ctx: AppContext, hub: SignalingHub): void {
  const ice = (raw: string | null) => {
    const r = userId.safeParse(raw ?? '');
    if (!r.success) throw new HttpError('bad_request', `userId: ${raw ? r.error.issues[0]!.message : 'is required'}`);
    return { json: { success: true, ...iceServers(ctx.config, r.data) } };
  };
  ctx.router.get('/api/ice-servers/:userId', (req) => ice(req.params.userId ?? null), { auth: 'optional' });
  ctx.router.get('/api/ice-servers', (req) => ice(req.query.get('userId')), { auth: 'optional' });

  const credBody = z.object({ userId, ttlSec: z.number().int().min(60).max(7 * 86400).optional() }).strict();
  ctx.router.post('/api/turn-credentials', (req) => {
    if (!ctx.config.turnEnabled) throw new HttpError('unavailable', 'TURN is not configured (TURN_URLS and TURN_SECRET)');
    const body = parse(credBody, req.body);
    return { json: turnCredential(ctx.config.TURN_SECRET!, ctx.config.TURN_URLS, body.userId, body.ttlSec ?? ctx.config.TURN_TTL) };
  }, { body: 'json', auth: 'optional' });

  // Totals are the server's; the rooms and calls listed are those the caller may see (maySeeRoom).
  const meeting = (meetingId: string) => ctx.sessions.get(meetingId);
  const calls = (p: Principal | undefined) => hub.callStats().filter((c) => maySeeRoom(p, c.roomName, meeting));
  ctx.router.get('/api/stats', (req) => ({
    json: {
      rooms: hub.roomStats().filter((r) => maySeeRoom(req.principal, r.roomId, meeting)), roomCount: hub.roomCount,
      connections: ctx.counters.connections(), calls: calls(req.principal), egressStreams: ctx.counters.egressStreams(), timestamp: Date.now(),
    },
  }), { auth: 'admin' });
  ctx.router.get('/api/admin/calls/stats', (req) => ({ json: { calls: calls(req.principal), timestamp: Date.now() } }), { auth: 'admin' });
}
