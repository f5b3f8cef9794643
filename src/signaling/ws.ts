/**
 * `/ws` on uWebSockets.js: subprotocol `meetcore.json` (text frames, JSON; the default) or `meetcore.msgpack`
 * (binary frames, msgpackr). Room broadcasts go through uWS pub/sub, one topic per room and format, so a
 * message is encoded once per format however many sockets receive it. Limits: a message over
 * WS_MAX_MESSAGE_BYTES is closed with 1009 by the message handler (uWS's own maxPayloadLength, set to 4× that,
 * drops the TCP connection without a close frame, so it is only the backstop for far larger frames),
 * maxBackpressure + closeOnBackpressureLimit (a slow reader is closed instead of buffered without bound; uWS drops
 * the connection, the client sees 1006; the `dropped` handler marks it so `close` can count it),
 * idleTimeout with automatic pings.
 *
 * The upgrade is decided and done synchronously inside uWS's `upgrade` handler, `?token=` included (the token
 * check is synchronous: src/auth/tokens.ts), never after an await. There the socket is corked by uWS's HTTP
 * parser, which completes the upgrade itself. After an await, `res.cork(() => res.upgrade(...))` is the only
 * way without a uWS.js warning per connection, and the uWS we bundle gets it wrong: the poll is reallocated in
 * place, so `cork` does not see that the socket became a WebSocket, reads an HTTP response state from memory
 * that no longer holds one and, when that happens to read "Connection: close, nothing pending", shuts the new
 * socket down right after `open`. The client gets the 101 and `connected`, then a FIN without a close frame
 * (1006) while its first request is pending (uNetworking/uWebSockets.js#1108; fixed in uWS by
 * uNetworking/uWebSockets#1929, July 2026, in no uWebSockets.js package that runs on Node 20 here: the README's
 * "uWebSockets.js provenance" says which packages were compared). Socket.IO's websocket handshakes are checked
 * synchronously for the same reason (src/signaling/socketio.ts). test/server/uws-cork.test.ts measures the bug
 * on the installed package and fails once it is gone, the time to go back to jose's jwtVerify after an await.
 */
import { Packr } from 'msgpackr';
import type { HttpRequest, HttpResponse, TemplatedApp, WebSocket, us_socket_context_t } from 'uWebSockets.js';
import type { Config } from '../config.js';
import type { Principal } from '../http/router.js';
import { errorBody, statusLine } from '../http/errors.js';
import type { Logger } from '../log.js';
import { BasePeer, CLOSE_GOING_AWAY, CLOSE_TOO_LARGE, type Peer, type SignalingHub, type Transport } from './hub.js';
import type { ServerMessage } from './schema.js';

export const PROTOCOL_JSON = 'meetcore.json';
export const PROTOCOL_MSGPACK = 'meetcore.msgpack';

const packr = new Packr({ useRecords: false });
/** Text frames as UTF-8 (uWS has checked them); a byte-order mark is kept, so JSON.parse refuses it as before. */
const utf8 = new TextDecoder('utf-8', { ignoreBOM: true });
/** uWS's maxPayloadLength as a multiple of WS_MAX_MESSAGE_BYTES (see the module comment). */
const HARD_LIMIT_FACTOR = 4;

interface SocketData {
  peer: WsPeer | null;
  binary: boolean;
  principal: Principal | null;
  /** uWS dropped a message for backpressure: closeOnBackpressureLimit is closing the socket. */
  slow?: boolean;
}

/** A /ws socket as a hub Peer. */
class WsPeer extends BasePeer {
  readonly transport = 'ws';
  closed = false;

  constructor(id: string, readonly ws: WebSocket<SocketData>, readonly binary: boolean, principal: Principal | null, burst: number) {
    super(id, principal, burst);
  }

  send(message: ServerMessage): void {
    if (this.closed) return;
    if (this.binary) this.ws.send(packr.pack(message), true);
    else this.ws.send(JSON.stringify(message), false);
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.ws.end(code, reason);
  }

  subscribe(roomId: string): void {
    if (!this.closed) this.ws.subscribe(topic(roomId, this.binary));
  }

  unsubscribe(roomId: string): void {
    if (!this.closed) this.ws.unsubscribe(topic(roomId, this.binary));
  }
}

const topic = (roomId: string, binary: boolean) => `${binary ? 'm' : 'j'}:${roomId}`;

export interface WsTransportOptions {
  config: Config;
  hub: SignalingHub;
  log: Logger;
  /** Resolves `?token=` (null: invalid). Synchronous: see the module comment. */
  authenticate(token: string): Principal | null;
  /** Counts a socket closed for not reading (over WS_MAX_BACKPRESSURE_BYTES). */
  onSlowClose?(): void;
}

/** Registers `/ws` and broadcasts to its sockets. */
export class WsTransport implements Transport {
  private readonly sockets = new Set<WebSocket<SocketData>>();
  private accepting = true;

  constructor(private readonly app: TemplatedApp, private readonly opts: WsTransportOptions) {
    const c = opts.config;
    app.ws<SocketData>('/ws', {
      maxPayloadLength: HARD_LIMIT_FACTOR * c.WS_MAX_MESSAGE_BYTES,
      maxBackpressure: c.WS_MAX_BACKPRESSURE_BYTES,
      closeOnBackpressureLimit: 1,
      idleTimeout: c.WS_IDLE_TIMEOUT_SEC,
      sendPingsAutomatically: true,
      upgrade: (res, req, context) => this.upgrade(res, req, context),
      open: (ws) => this.open(ws),
      message: (ws, message, isBinary) => this.message(ws, message, isBinary),
      // Only flags the socket (uWS closes it, code 1006 in `close`): calling end() in here crashes this uWS build.
      dropped: (ws) => { ws.getUserData().slow = true; },
      close: (ws) => this.close(ws),
    });
  }

  get connections(): number {
    return this.sockets.size;
  }

  broadcast(roomId: string, message: ServerMessage, except: Peer | null): void {
    let json: string | null = null;
    let mp: Buffer | null = null;
    const sender = except instanceof WsPeer && !except.closed ? except.ws : null;
    if (this.app.numSubscribers(topic(roomId, false)) > 0) {
      json = JSON.stringify(message);
      if (sender) sender.publish(topic(roomId, false), json, false);
      else this.app.publish(topic(roomId, false), json, false);
    }
    if (this.app.numSubscribers(topic(roomId, true)) > 0) {
      mp = packr.pack(message);
      if (sender) sender.publish(topic(roomId, true), mp, true);
      else this.app.publish(topic(roomId, true), mp, true);
    }
  }

  /** Close every socket with 1001 (shutdown). */
  closeAll(): void {
    this.accepting = false;
    for (const ws of [...this.sockets]) ws.end(CLOSE_GOING_AWAY, 'server shutting down');
  }

  private upgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void {
    const key = req.getHeader('sec-websocket-key');
    const offered = req.getHeader('sec-websocket-protocol');
    const extensions = req.getHeader('sec-websocket-extensions');
    const token = new URLSearchParams(req.getQuery() ?? '').get('token');
    const protocols = offered.split(',').map((s) => s.trim()).filter(Boolean);
    const chosen = protocols.includes(PROTOCOL_MSGPACK) && !protocols.includes(PROTOCOL_JSON) ? PROTOCOL_MSGPACK
      : protocols.includes(PROTOCOL_JSON) ? PROTOCOL_JSON : protocols.includes(PROTOCOL_MSGPACK) ? PROTOCOL_MSGPACK : '';
    const refuse = (status: number, code: string, message: string) => res.cork(() => {
      res.writeStatus(statusLine(status)).writeHeader('Content-Type', 'application/json').end(errorBody(code, message));
    });
    if (!this.accepting) { refuse(503, 'unavailable', 'server is shutting down'); return; }
    if (protocols.length > 0 && !chosen) { refuse(400, 'bad_request', `subprotocol must be ${PROTOCOL_JSON} or ${PROTOCOL_MSGPACK}`); return; }
    const binary = chosen === PROTOCOL_MSGPACK;
    let principal: Principal | null = null;
    if (token) {
      try {
        principal = this.opts.authenticate(token);
      } catch (err) {
        this.opts.log.warn({ err }, 'token check failed');
      }
    }
    if (!principal && (this.opts.config.REQUIRE_AUTH || token)) { refuse(401, 'unauthorized', token ? 'invalid or expired token' : 'a token is required (?token=)'); return; }
    // Inside the handler (see the module comment): the socket is already corked by uWS's HTTP parser.
    res.cork(() => { res.upgrade<SocketData>({ peer: null, binary, principal }, key, chosen, extensions, context); });
  }

  private open(ws: WebSocket<SocketData>): void {
    const d = ws.getUserData();
    const peer = new WsPeer(this.opts.hub.newPeerId(), ws, d.binary, d.principal, this.opts.config.WS_RATE_BURST);
    d.peer = peer;
    this.sockets.add(ws);
    this.opts.hub.connected(peer);
    peer.send({ type: 'connected', participantId: peer.id, protocol: d.binary ? PROTOCOL_MSGPACK : PROTOCOL_JSON });
  }

  private message(ws: WebSocket<SocketData>, message: ArrayBuffer, isBinary: boolean): void {
    const peer = ws.getUserData().peer!;
    if (message.byteLength > this.opts.config.WS_MAX_MESSAGE_BYTES) {
      peer.close(CLOSE_TOO_LARGE, `message over ${this.opts.config.WS_MAX_MESSAGE_BYTES} bytes`);
      return;
    }
    let decoded: unknown;
    try {
      decoded = isBinary ? packr.unpack(new Uint8Array(message)) : JSON.parse(utf8.decode(message));
    } catch {
      this.opts.hub.undecodable(peer, isBinary ? 'invalid msgpack' : 'invalid JSON');
      return;
    }
    void this.opts.hub.receive(peer, decoded);
  }

  private close(ws: WebSocket<SocketData>): void {
    const { peer, slow } = ws.getUserData();
    this.sockets.delete(ws);
    if (slow) {
      this.opts.onSlowClose?.();
      this.opts.log.warn({ participantId: peer?.id }, 'slow /ws reader closed');
    }
    if (!peer) return;
    peer.closed = true;
    this.opts.hub.disconnected(peer);
  }
}
