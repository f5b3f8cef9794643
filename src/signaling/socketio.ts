/**
 * Socket.IO v4 clients on the same port (`/socket.io/`, attached to the uWS app with `io.attachApp`), speaking
 * the same events as /ws: `socket.emit("join-room", {roomId, ...})` in, `socket.on("room-joined", ...)` out.
 * The payload of every event is the /ws message without its `type`. Auth: `auth.token` or `?token=` in the
 * handshake, like `?token=` on /ws.
 */
import { Server, type Socket } from 'socket.io';
import type { TemplatedApp } from 'uWebSockets.js';
import type { Config } from '../config.js';
import type { Principal } from '../http/router.js';
import type { Logger } from '../log.js';
import { BasePeer, type Peer, type SignalingHub, type Transport } from './hub.js';
import type { ServerMessage } from './schema.js';

class SioPeer extends BasePeer {
  readonly transport = 'socket.io';

  constructor(id: string, readonly socket: Socket, principal: Principal | null, burst: number) {
    super(id, principal, burst);
  }

  send(message: ServerMessage): void {
    const { type, ...payload } = message;
    this.socket.emit(type, payload);
  }

  close(_code: number, _reason: string): void {
    this.socket.disconnect(true);
  }

  subscribe(roomId: string): void { void this.socket.join(roomId); }
  unsubscribe(roomId: string): void { void this.socket.leave(roomId); }
}

export interface SocketIoTransportOptions {
  config: Config;
  hub: SignalingHub;
  log: Logger;
  authenticate(token: string): Promise<Principal | null>;
}

/** The Socket.IO server bridged into the hub. */
export class SocketIoTransport implements Transport {
  readonly io: Server;

  constructor(app: TemplatedApp, private readonly opts: SocketIoTransportOptions) {
    const c = opts.config;
    this.io = new Server({
      serveClient: false,
      maxHttpBufferSize: c.WS_MAX_MESSAGE_BYTES,
      pingInterval: 25_000,
      pingTimeout: Math.max(5_000, c.WS_IDLE_TIMEOUT_SEC * 1000 - 25_000),
      cors: c.CORS_ORIGINS.length ? { origin: [...c.CORS_ORIGINS], credentials: true } : undefined,
    });
    this.io.attachApp(app);
    this.io.use((socket, next) => {
      const raw = (socket.handshake.auth as { token?: unknown } | undefined)?.token ?? socket.handshake.query.token;
      const token = typeof raw === 'string' && raw ? raw : null;
      if (!token && !c.REQUIRE_AUTH) { next(); return; }
      void (async () => {
        const principal = token ? await this.opts.authenticate(token).catch(() => null) : null;
        if (!principal) { next(new Error(token ? 'unauthorized: invalid or expired token' : 'unauthorized: a token is required')); return; }
        socket.data.principal = principal;
        next();
      })();
    });
    this.io.on('connection', (socket) => this.connection(socket));
  }

  get connections(): number {
    return this.io.engine.clientsCount;
  }

  broadcast(roomId: string, message: ServerMessage, except: Peer | null): void {
    const { type, ...payload } = message;
    let op = this.io.to(roomId);
    if (except instanceof SioPeer) op = op.except(except.socket.id);
    op.emit(type, payload);
  }

  /** Disconnect every client (shutdown) and stop the engine. */
  async closeAll(): Promise<void> {
    this.io.disconnectSockets(true);
    this.io.engine.close();
  }

  private connection(socket: Socket): void {
    const principal = (socket.data.principal as Principal | undefined) ?? null;
    const peer = new SioPeer(this.opts.hub.newPeerId(), socket, principal, this.opts.config.WS_RATE_BURST);
    this.opts.hub.connected(peer);
    peer.send({ type: 'connected', participantId: peer.id, protocol: 'socket.io' });
    socket.onAny((event: string, payload: unknown) => {
      const body = payload && typeof payload === 'object' && !Array.isArray(payload) ? payload : {};
      void this.opts.hub.handle(peer, { ...body, type: event });
    });
    socket.on('disconnect', () => this.opts.hub.disconnected(peer));
  }
}
