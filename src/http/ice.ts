/**
 * ICE configuration (PROTOCOL.md §1): GET /api/ice-servers/:userId and ?userId=, POST /api/turn-credentials
 * (coturn TURN REST credentials, src/auth/turn.ts), and the live counts GET /api/stats and
 * GET /api/admin/calls/stats, GET /api/webrtc/stats.
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

  // userId a string or a number (WorldMates: {userId: 123, ttl: 3600}); `ttl` is accepted beside `ttlSec` (seconds).
  const ttl = z.number({ error: (i) => (i.code === 'invalid_type' && i.input !== undefined ? 'expected a number of seconds' : undefined) }).int().min(60).max(7 * 86400).optional();
  const credBody = z.object({
    userId: z.union([userId, z.number().int().min(0).max(Number.MAX_SAFE_INTEGER).transform(String)], {
      error: (i) => (i.input === undefined ? 'is required' : typeof i.input === 'string' || typeof i.input === 'number' ? undefined : 'expected a string or a number'),
    }),
    ttlSec: ttl,
    ttl,
  }).strict().refine((b) => b.ttl === undefined || b.ttlSec === undefined || b.ttl === b.ttlSec, { message: 'give ttlSec or ttl, not two different values', path: ['ttl'] });
  ctx.router.post('/api/turn-credentials', (req) => {
    if (!ctx.config.turnEnabled) throw new HttpError('unavailable', 'TURN is not configured (TURN_URLS and TURN_SECRET)');
    const body = parse(credBody, req.body);
    return { json: turnCredential(ctx.config.TURN_SECRET!, ctx.config.TURN_URLS, body.userId, body.ttlSec ?? body.ttl ?? ctx.config.TURN_TTL) };
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
  // The teleconsultation app's stats: the rooms the caller may see, with their participant counts.
  ctx.router.get('/api/webrtc/stats', (req) => {
    const rooms = hub.roomStats().filter((r) => maySeeRoom(req.principal, r.roomId, meeting));
    return { json: { rooms: rooms.length, connections: ctx.counters.connections(), participantsByRoom: Object.fromEntries(rooms.map((r) => [r.roomId, r.participants])) } };
  }, { auth: 'optional' });
  ctx.router.get('/api/admin/calls/stats', (req) => ({ json: { calls: calls(req.principal), timestamp: Date.now() } }), { auth: 'admin' });
}
