/**
 * Socket.IO v4 clients on the same port (`/socket.io/`, attached to the uWS app with `io.attachApp`), speaking
 * the same events as /ws: `socket.emit("join-room", {roomId, ...})` in, `socket.on("room-joined", ...)` out.
 * The payload of every event is the /ws message without its `type`.
 *
 * Handshakes (a new engine.io session: a request without `sid`) pass `allowRequest` first, before any session
 * exists: with REQUIRE_AUTH=true `?token=` must be on the handshake URL (socket.io-client: `io(url, {query:
 * {token}})`), a `?token=` that is there must be valid, and the live sessions of the client's address and in
 * all must be under SIO_MAX_SESSIONS_PER_IP and SIO_MAX_SESSIONS. A refused handshake gets an HTTP error with
 * the `{"error":{"code","message"}}` body of the other routes (401 `unauthorized`, 429 `rate_limited`).
 * `auth: {token}` in the CONNECT packet is checked too when present (and then names the principal).
 *
 * Send buffer: a socket whose unsent bytes go over WS_MAX_BACKPRESSURE_BYTES is closed, as on /ws, never
 * left to drop messages. The bytes are engine.io's write buffer (packets waiting for the client's next poll,
 * or for the end of an upgrade) plus, on the websocket transport, what uWS holds for the socket
 * (`getBufferedAmount()`). Every send passes through engine.io's per-socket path (room broadcasts do not use
 * Socket.IO's uWS fast publish, which would queue in C++ out of sight), so each one is measured.
 */
import { Server, type Socket } from 'socket.io';
import type { HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { Config } from '../config.js';
import type { Principal } from '../http/router.js';
import { errorBody, statusLine } from '../http/errors.js';
import type { Logger } from '../log.js';
import { BasePeer, CLOSE_POLICY, type Peer, type SignalingHub, type Transport } from './hub.js';
import type { ServerMessage } from './schema.js';
import { fromSocketIo } from './compat-socketio.js';
import { checkedParser, refusalOf } from './sio-parser.js';
import { addressKey, SessionLimiter, type SessionRefusal, type SessionSlot } from './sessions.js';

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

/** What engine.io's uWS server puts on a request (see engine.io/build/userver.js `prepare`). */
interface EngineRequest {
  _query: Record<string, string | undefined>;
  connection: { remoteAddress: string };
  /** The uWS response (no engine.io middlewares are installed, so never engine.io's ResponseWrapper). */
  res: HttpResponse;
}

interface EnginePacket { type: string; data?: unknown }

/** The uWS socket of engine.io's websocket transport. */
interface UwsSocket {
  getBufferedAmount(): number;
  end(code?: number, reason?: string): void;
}

/** The parts of an engine.io Socket (one session) used here. */
interface EngineConn {
  readonly id: string;
  readonly request: object;
  readonly remoteAddress: string;
  readonly readyState: string;
  readonly transport: { readonly name: string; readonly readyState?: string; readonly socket?: UwsSocket };
  on(event: 'packetCreate', fn: (packet: EnginePacket) => void): this;
  on(event: 'flush' | 'drain', fn: () => void): this;
  once(event: 'close', fn: (reason: string) => void): this;
  close(discard?: boolean): void;
}

/** Why handshakes were refused (metric label). */
export type HandshakeRefusal = SessionRefusal | 'unauthorized';

export interface SocketIoTransportOptions {
  config: Config;
  hub: SignalingHub;
  log: Logger;
  /** Resolves `?token=` (null: invalid). Synchronous: see allowHandshake. */
  authenticate(token: string): Principal | null;
  /** Counts a socket closed for not reading (send buffer over WS_MAX_BACKPRESSURE_BYTES). */
  onSlowClose?(): void;
  /** Counts a refused handshake. */
  onRefused?(reason: HandshakeRefusal): void;
}

/** A room that never exists: in `except`, it keeps broadcasts off the uWS fast publish (see the module comment). */
const NO_FAST_PUBLISH = '\u0000meetcore:no-fast-publish';

/** The Socket.IO server bridged into the hub. */
export class SocketIoTransport implements Transport {
  readonly io: Server;
  readonly sessions: SessionLimiter;
  /** Slots of handshakes let through, until engine.io opens (or fails) their session; keyed by request. */
  private readonly slots = new WeakMap<object, SessionSlot>();
  /** Principals of a valid `?token=` on the handshake, keyed by request (= `socket.request`). */
  private readonly handshakePrincipals = new WeakMap<object, Principal>();

  constructor(app: TemplatedApp, private readonly opts: SocketIoTransportOptions) {
    const c = opts.config;
    this.sessions = new SessionLimiter(c.SIO_MAX_SESSIONS_PER_IP, c.SIO_MAX_SESSIONS);
    this.io = new Server({
      serveClient: false,
      // socket.io-client v2 apps (engine.io protocol 3) connect too.
      allowEIO3: true,
      maxHttpBufferSize: c.WS_MAX_MESSAGE_BYTES,
      // Binary attachments count against the same limit, and ack ids must be echoable: see sio-parser.ts.
      parser: checkedParser(c.WS_MAX_MESSAGE_BYTES),
      pingInterval: 25_000,
      pingTimeout: Math.max(5_000, c.WS_IDLE_TIMEOUT_SEC * 1000 - 25_000),
      cors: c.CORS_ORIGINS.length ? { origin: [...c.CORS_ORIGINS], credentials: true } : undefined,
      allowRequest: (req, callback) => this.allowHandshake(req as unknown as EngineRequest, callback),
    });
    // uWS's own limit for the websocket transport stays above the cap, by room for the message that crossed it
    // (room-joined with the chat history can be ~0.6 MB) and the 1008 close frame: uWS would drop messages
    // silently past it, and a close frame queued past it is lost.
    this.io.attachApp(app, { maxBackpressure: 2 * c.WS_MAX_BACKPRESSURE_BYTES + 1024 * 1024 } as Record<string, unknown>);
    const adapter = this.io.of('/').adapter;
    const broadcast = adapter.broadcast.bind(adapter);
    adapter.broadcast = (packet, o) => broadcast(packet, { ...o, except: new Set([...(o.except ?? []), NO_FAST_PUBLISH]) });
    const engine = this.io.engine as unknown as NodeJS.EventEmitter;
    engine.on('connection', (conn: EngineConn) => this.opened(conn));
    engine.on('connection_error', (err: { req?: object }) => { if (err.req) this.releaseSlot(err.req); });
    this.io.use((socket, next) => {
      const raw = (socket.handshake.auth as { token?: unknown } | undefined)?.token;
      const token = typeof raw === 'string' && raw ? raw : null;
      const fromHandshake = this.handshakePrincipals.get(socket.request) ?? null;
      if (!token) {
        // REQUIRE_AUTH=true without a valid ?token= never got a session (allowRequest); kept as a second check.
        if (!fromHandshake && c.REQUIRE_AUTH) { next(new Error('unauthorized: a token is required')); return; }
        socket.data.principal = fromHandshake;
        next();
        return;
      }
      let principal: Principal | null = null;
      try { principal = this.opts.authenticate(token); } catch { /* refused below */ }
      if (!principal) { next(new Error('unauthorized: invalid or expired token')); return; }
      socket.data.principal = principal;
      next();
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

  /**
   * engine.io's `allowRequest` for a handshake: the token rule, then the caps (a slot is taken), then the
   * token check. A refusal is answered here and `callback` is never called, so engine.io creates nothing.
   */
  private allowHandshake(req: EngineRequest, callback: (err: string | null | undefined, success: boolean) => void): void {
    const c = this.opts.config;
    const token = req._query.token || null;
    if (!token && c.REQUIRE_AUTH) {
      this.refuse(req.res, 'unauthorized', 401, 'unauthorized', 'a token is required: ?token=<access token> on the handshake URL (socket.io-client: io(url, {query: {token}}))');
      return;
    }
    const key = addressKey(req.connection.remoteAddress);
    const slot = this.sessions.take(key);
    if (slot === 'per_ip') {
      this.refuse(req.res, slot, 429, 'rate_limited', `this address has ${c.SIO_MAX_SESSIONS_PER_IP} Socket.IO sessions (SIO_MAX_SESSIONS_PER_IP); close one or wait for idle ones to time out`);
      return;
    }
    if (slot === 'total') {
      this.refuse(req.res, slot, 429, 'rate_limited', `the server has ${c.SIO_MAX_SESSIONS} Socket.IO sessions (SIO_MAX_SESSIONS); try again later`);
      return;
    }
    this.slots.set(req, slot);
    if (!token) { callback(null, true); return; }
    // Synchronous, so that a websocket handshake is upgraded by engine.io inside uWS's upgrade handler (see
    // src/signaling/ws.ts for what an upgrade after an await risks).
    let principal: Principal | null = null;
    try {
      principal = this.opts.authenticate(token);
    } catch (err) {
      this.opts.log.warn({ err }, 'token check failed');
    }
    if (!principal) {
      this.releaseSlot(req);
      this.refuse(req.res, 'unauthorized', 401, 'unauthorized', 'invalid or expired token');
      return;
    }
    this.handshakePrincipals.set(req, principal);
    callback(null, true);
  }

  private refuse(res: HttpResponse, reason: HandshakeRefusal, status: number, code: string, message: string): void {
    this.opts.onRefused?.(reason);
    res.cork(() => {
      res.writeStatus(statusLine(status)).writeHeader('Content-Type', 'application/json').end(errorBody(code, message));
    });
  }

  private releaseSlot(req: object): void {
    const slot = this.slots.get(req);
    if (!slot) return;
    this.slots.delete(req);
    slot.release();
  }

  /** A new engine.io session: its slot is given back when it closes; its send buffer is watched. */
  private opened(conn: EngineConn): void {
    const slot = this.slots.get(conn.request);
    this.slots.delete(conn.request);
    if (!slot) {
      // Every handshake of the enabled transports (polling, websocket) passes allowRequest; a session that did
      // not (e.g. WebTransport, if it were ever enabled) skipped the token check and the caps: closed.
      this.opts.log.warn({ sid: conn.id, transport: conn.transport.name }, 'engine.io session without a checked handshake closed');
      conn.close(true);
      return;
    }
    conn.once('close', () => slot.release());
    this.watchSendBuffer(conn);
  }

  /**
   * Close the session once its unsent bytes go over WS_MAX_BACKPRESSURE_BYTES: engine.io's write buffer
   * (counted from each packet created to the next flush to the transport) plus uWS's buffered amount on the
   * websocket transport. Websocket: close 1008 "slow reader" (the client sees it if it reads on; uWS drops
   * the connection if it does not). Polling: the session is discarded at once (its next poll gets 400
   * "Session ID unknown").
   */
  private watchSendBuffer(conn: EngineConn): void {
    const cap = this.opts.config.WS_MAX_BACKPRESSURE_BYTES;
    let pending = 0;
    let closing = false;
    const check = () => {
      if (closing || conn.readyState !== 'open') return;
      const ws = conn.transport.name === 'websocket' ? conn.transport.socket : undefined;
      let buffered = pending;
      if (ws && conn.transport.readyState === 'open') {
        try { buffered += ws.getBufferedAmount(); } catch { /* closed under us */ }
      }
      if (buffered <= cap) return;
      closing = true;
      this.opts.log.warn({ sid: conn.id, transport: conn.transport.name, buffered, cap }, 'slow Socket.IO client closed');
      this.opts.onSlowClose?.();
      if (ws && conn.transport.readyState === 'open') {
        try { ws.end(CLOSE_POLICY, `slow reader: over ${cap} bytes buffered`); return; } catch { /* fall through */ }
      }
      conn.close(true);
    };
    conn.on('packetCreate', (packet) => { pending += packetBytes(packet); check(); });
    conn.on('flush', () => { pending = 0; });
    conn.on('drain', check);
  }

  private connection(socket: Socket): void {
    const principal = (socket.data.principal as Principal | undefined) ?? null;
    const peer = new SioPeer(this.opts.hub.newPeerId(), socket, principal, this.opts.config.WS_RATE_BURST);
    this.opts.hub.connected(peer);
    peer.send({ type: 'connected', participantId: peer.id, protocol: 'socket.io' });
    // Every event passes this middleware, which handles it and never calls `next`: socket.io has no other
    // listener to dispatch to. A middleware (not `onAny`) gets the event's argument array itself, which is
    // what sio-parser.ts keys its refusals by.
    socket.use((args) => this.event(peer, args));
    socket.on('disconnect', () => this.opts.hub.disconnected(peer));
  }

  /**
   * One inbound event (`args`: the name, the arguments, and the ack callback last when the client asked for
   * one): refused as sio-parser.ts decided, or mapped onto the /ws message (compat-socketio.ts) and handed to
   * the hub. Never throws: whatever fails while it is handled is logged with its stack and answered to the
   * socket (and its ack) as `{type:"error", code:"bad_request", message:"internal error"}`, so that it never
   * reaches socket.io's process.nextTick, where an exception would end the process.
   */
  private event(peer: SioPeer, args: readonly unknown[]): void {
    const last = args[args.length - 1];
    const onReply = typeof last === 'function' ? (reply: ServerMessage) => (last as (r: ServerMessage) => void)({ ...reply }) : undefined;
    try {
      const refusal = refusalOf(args);
      if (refusal) {
        this.opts.hub.refuse(peer, refusal.code, refusal.message, onReply);
        return;
      }
      // Plain objects, bare and positional arguments, and acknowledgements: see compat-socketio.ts.
      const [event, ...rest] = args;
      const { body } = fromSocketIo(event as string, rest);
      this.opts.hub.handle(peer, { ...body, type: event }, onReply).catch((err: unknown) => this.eventFailed(peer, event, err, onReply));
    } catch (err) {
      this.eventFailed(peer, args[0], err, onReply);
    }
  }

  private eventFailed(peer: SioPeer, event: unknown, err: unknown, onReply: ((reply: ServerMessage) => void) | undefined): void {
    this.opts.log.error({ err, participantId: peer.id, event: String(event).slice(0, 64) }, 'Socket.IO event handler failed');
    try {
      this.opts.hub.refuse(peer, 'bad_request', 'internal error', onReply);
    } catch (again) {
      this.opts.log.error({ err: again, participantId: peer.id }, 'Socket.IO error reply failed');
    }
  }
}

/** Bytes an engine.io packet takes on the wire, about (type prefix and separator included). */
function packetBytes(packet: EnginePacket): number {
  const d = packet.data;
  if (typeof d === 'string') return Buffer.byteLength(d) + 2;
  if (d && typeof d === 'object' && 'byteLength' in d && typeof d.byteLength === 'number') return d.byteLength + 2;
  return 2;
}
