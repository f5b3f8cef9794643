/**
 * Rooms, join links and QR codes (PROTOCOL.md §1): POST /api/rooms, GET /api/rooms/:roomId,
 * GET /api/rooms/:roomId/qr.svg. A join link is `<APP_DOMAIN>/participant/<roomId>`; the QR code encodes it
 * (PNG data URL in the JSON, SVG at qr.svg) with the `qrcode` package.
 */
import { randomBytes } from 'node:crypto';
import QRCode from 'qrcode';
import { z } from 'zod';
import type { AppContext } from '../context.js';
import type { SignalingHub } from '../signaling/hub.js';
import { roomId as roomIdSchema } from '../signaling/schema.js';
import { RoomStore } from '../store/rooms.js';
import { HttpError } from './errors.js';
import { parse } from './validate.js';

const createBody = z.object({
  name: z.string().min(1).max(128).optional(),
  maxParticipants: z.number().int().min(2).max(1000).optional(),
}).strict();

/** `<APP_DOMAIN>/participant/<roomId>`. */
export function joinUrl(appDomain: string, roomId: string): string {
  return `${appDomain}/participant/${encodeURIComponent(roomId)}`;
}

export function registerRooms(ctx: AppContext, hub: SignalingHub): RoomStore {
  const rooms = new RoomStore(ctx.db);
  const find = (raw: string) => {
    if (!roomIdSchema.safeParse(raw).success) throw new HttpError('bad_request', 'roomId: invalid');
    const live = hub.roomMembers(raw);
    const stored = rooms.get(raw);
    if (!stored && !live) throw new HttpError('not_found', `no room ${raw}`);
    return { roomId: raw, stored, live };
  };

  ctx.router.post('/api/rooms', async (req) => {
    const body = parse(createBody, req.body ?? {});
    const roomId = `rm_${randomBytes(9).toString('base64url')}`;
    const record = rooms.create({
      roomId, name: body.name ?? null, maxParticipants: body.maxParticipants ?? ctx.config.ROOM_MAX_PARTICIPANTS,
      createdAt: Date.now(), createdBy: req.principal?.userId ?? null,
    });
    const url = joinUrl(ctx.config.APP_DOMAIN, roomId);
    return { status: 201, json: { roomId, name: record.name, joinURL: url, qrDataUrl: await QRCode.toDataURL(url, { margin: 1, width: 256 }), createdAt: record.createdAt } };
  }, { body: 'json', auth: 'optional' });

  ctx.router.get('/api/rooms/:roomId', (req) => {
    const r = find(req.params.roomId!);
    return {
      json: {
        roomId: r.roomId, name: r.stored?.name ?? null, joinURL: joinUrl(ctx.config.APP_DOMAIN, r.roomId),
        isActive: Boolean(r.live?.length), participantCount: r.live?.length ?? 0, createdAt: r.stored?.createdAt ?? null,
      },
    };
  }, { auth: 'optional' });

  ctx.router.get('/api/rooms/:roomId/qr.svg', async (req) => {
    const r = find(req.params.roomId!);
    return { raw: await QRCode.toString(joinUrl(ctx.config.APP_DOMAIN, r.roomId), { type: 'svg', margin: 1 }), contentType: 'image/svg+xml' };
  }, { auth: 'optional' });
  return rooms;
}
