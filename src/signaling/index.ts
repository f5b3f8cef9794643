/**
 * Signaling area: the hub (rooms, relay, calls, chat), its two transports (/ws and Socket.IO), the room and
 * ICE HTTP routes, and `ctx.services.signaling` for the other areas (feedback delivery, join guards, tokens).
 */
import { Counter, Gauge } from 'prom-client';
import type { AppContext } from '../context.js';
import type { Principal } from '../http/router.js';
import { iceServers } from '../auth/turn.js';
import { registerIce } from '../http/ice.js';
import { registerRooms } from '../http/rooms.js';
import { registerWeb } from '../web/index.js';
import { CLOSE_POLICY, SignalingHub } from './hub.js';
import { isMembershipOf, mayJoinRoom } from '../auth/authorization.js';
import { SocketIoTransport } from './socketio.js';
import { WsTransport } from './ws.js';

export function registerSignaling(ctx: AppContext): SignalingHub {
  const c = ctx.config;
  const log = ctx.log.child({ area: 'signaling' });
  const hub = new SignalingHub({
    maxParticipants: c.ROOM_MAX_PARTICIPANTS, ratePerSec: c.WS_RATE_PER_SEC, rateBurst: c.WS_RATE_BURST,
    ringTimeoutMs: c.CALL_RING_TIMEOUT_SEC * 1000, chatHistory: c.CHAT_HISTORY, heartbeatBroadcastMs: 10_000, maxRoomsPerSocket: c.WS_MAX_ROOMS_PER_SOCKET,
    iceServers: (userId) => iceServers(c, userId).iceServers, log,
  });
  let tokenAuth: (token: string) => Principal | null = () => null;
  const authenticate = (token: string) => tokenAuth(token);
  const registers = [ctx.metrics];
  const slowClosed = new Counter({ name: 'meetcore_signaling_slow_closed_total', help: 'Signaling sockets closed for not reading (send buffer over WS_MAX_BACKPRESSURE_BYTES), by transport', labelNames: ['transport'], registers });
  const refused = new Counter({ name: 'meetcore_signaling_sio_handshakes_refused_total', help: 'Socket.IO (engine.io) handshakes refused, by reason (per_ip, total, unauthorized)', labelNames: ['reason'], registers });
  for (const transport of ['ws', 'socket.io']) slowClosed.inc({ transport }, 0);
  for (const reason of ['per_ip', 'total', 'unauthorized']) refused.inc({ reason }, 0);
  const ws = new WsTransport(ctx.app, { config: c, hub, log, authenticate, onSlowClose: () => slowClosed.inc({ transport: 'ws' }) });
  ctx.router.websocket('/ws');
  const sio = new SocketIoTransport(ctx.app, {
    config: c, hub, log, authenticate,
    onSlowClose: () => slowClosed.inc({ transport: 'socket.io' }),
    onRefused: (reason) => refused.inc({ reason }),
  });
  new Gauge({ name: 'meetcore_signaling_sio_sessions', help: 'Live Socket.IO (engine.io) sessions, the count SIO_MAX_SESSIONS caps', registers, collect() { this.set(sio.sessions.size); } });
  new Gauge({ name: 'meetcore_rooms', help: 'Signaling rooms with at least one participant', registers, collect() { this.set(hub.roomCount); } });
  new Gauge({
    name: 'meetcore_signaling_connections', help: 'Open signaling connections, by transport (ws, socket.io)', labelNames: ['transport'], registers,
    collect() { this.set({ transport: 'ws' }, ws.connections); this.set({ transport: 'socket.io' }, sio.connections); },
  });
  hub.addTransport(ws);
  hub.addTransport(sio);
  ctx.services.signaling = {
    publish: (roomId, message) => hub.broadcast(roomId, message),
    setTokenAuthenticator: (fn) => { tokenAuth = fn; },
    setPrincipalRefresher: (fn) => hub.setPrincipalRefresher(fn),
  };
  // Who may join which room is decided in src/auth/authorization.ts, on the meetings as stored now.
  const meeting = (meetingId: string) => ctx.sessions.get(meetingId);
  hub.setJoinGuard((roomId, principal) => mayJoinRoom(principal, roomId, meeting));
  // A login session that ends (logout, refresh re-use, lost membership) takes its open sockets with it.
  ctx.bus.on('auth.revoked', (sessionId, reason) => {
    const n = hub.closeSession(sessionId, CLOSE_POLICY, reason === 'logout' ? 'logged out' : 'session revoked');
    if (n) log.info({ sessionId, reason, sockets: n }, 'sockets of a revoked login session closed');
  });
  // A member removed or given another role: its sockets in that organization are checked again at once.
  ctx.bus.on('auth.membership', (userId, orgId) => {
    const n = hub.recheckWhere((p) => isMembershipOf(p, userId, orgId));
    if (n) log.info({ userId, orgId, sockets: n }, 'sockets of a changed membership checked again');
  });
  ctx.setCounter('rooms', () => hub.roomCount);
  ctx.setCounter('connections', () => ws.connections + sio.connections);
  registerRooms(ctx, hub);
  registerIce(ctx, hub);
  registerWeb(ctx);
  ctx.onShutdown('sockets', async () => {
    ws.closeAll();
    await sio.closeAll();
  });
  return hub;
}
