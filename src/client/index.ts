/**
 * A typed meetcore signaling client for Node and browsers (PROTOCOL.md §2). Uses the global WebSocket when
 * there is one, or a constructor passed in (the `ws` package in Node < 22). JSON (`meetcore.json`) or msgpack
 * (`meetcore.msgpack`). Requests with a `rid` resolve with the direct reply (or reject with the `error`);
 * everything else arrives as events. With `reconnect`, a dropped socket is reopened with backoff and the
 * rooms are joined again.
 */
import { Packr } from 'msgpackr';

export type ServerMessage = { type: string; rid?: string | number; [field: string]: unknown };

export interface Participant { participantId: string; name: string | null; role: string }

/** Rejection of a request answered with `{type:"error"}`. */
export class SignalingClientError extends Error {
  constructor(readonly code: string, message: string) {
    super(`${code}: ${message}`);
    this.name = 'SignalingClientError';
  }
}

type WebSocketLike = {
  binaryType: string;
  readyState: number;
  protocol: string;
  send(data: string | Uint8Array): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onclose: ((ev: { code: number; reason: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
};
type WebSocketCtor = new (url: string, protocols?: string | string[]) => WebSocketLike;

export interface ClientOptions {
  /** ws://host:port (the /ws path is added) or a full ws URL. */
  url: string;
  format?: 'json' | 'msgpack';
  /** Access or LiveKit token, sent as ?token=. */
  token?: string;
  /** WebSocket implementation (default: globalThis.WebSocket). */
  WebSocket?: unknown;
  /** Reopen after a drop, with exponential backoff from 250 ms to 10 s. Default false. */
  reconnect?: boolean;
  /** Reply timeout for requests, ms (default 10000). */
  timeoutMs?: number;
}

const packr = new Packr({ useRecords: false });

export class SignalingClient {
  /** participantId assigned by the server for the current connection. */
  participantId: string | null = null;
  private ws: WebSocketLike | null = null;
  private readonly handlers = new Map<string, Set<(m: ServerMessage) => void>>();
  private readonly pending = new Map<string, { resolve: (m: ServerMessage) => void; reject: (e: Error) => void; timer: ReturnType<typeof setTimeout> }>();
  private readonly joined = new Map<string, { name?: string; role?: string }>();
  private nextRid = 1;
  private closedByUser = false;
  private attempts = 0;
  /** Close code of the last drop (1000 normal, 1008 policy, 1009 too large, ...). */
  lastClose: { code: number; reason: string } | null = null;

  constructor(private readonly opts: ClientOptions) {}

  /** Open the socket; resolves on the server's `connected` message. */
  async connect(): Promise<this> {
    const Ctor = (this.opts.WebSocket ?? (globalThis as { WebSocket?: unknown }).WebSocket) as WebSocketCtor | undefined;
    if (!Ctor) throw new Error('no WebSocket implementation: pass options.WebSocket');
    const base = this.opts.url.replace(/\/+$/, '');
    const url = new URL(base.endsWith('/ws') ? base : `${base}/ws`);
    if (this.opts.token) url.searchParams.set('token', this.opts.token);
    const binary = this.opts.format === 'msgpack';
    const ws = new Ctor(url.toString(), binary ? 'meetcore.msgpack' : 'meetcore.json');
    ws.binaryType = 'arraybuffer';
    this.ws = ws;
    this.closedByUser = false;
    await new Promise<void>((resolve, reject) => {
      const onConnected = (m: ServerMessage) => {
        this.participantId = m.participantId as string;
        this.off('connected', onConnected);
        this.attempts = 0;
        resolve();
      };
      this.on('connected', onConnected);
      ws.onerror = () => reject(new Error(`cannot connect to ${url.origin}`));
      ws.onclose = (ev) => { reject(new Error(`closed ${ev.code} ${ev.reason}`)); this.dropped(ev); };
      ws.onmessage = (ev) => this.receive(ev.data);
    });
    ws.onclose = (ev) => this.dropped(ev);
    return this;
  }

  /** Subscribe to a server message type ('*' for all). Returns an unsubscribe function. */
  on(type: string, fn: (m: ServerMessage) => void): () => void {
    let set = this.handlers.get(type);
    if (!set) this.handlers.set(type, (set = new Set()));
    set.add(fn);
    return () => this.off(type, fn);
  }

  off(type: string, fn: (m: ServerMessage) => void): void {
    this.handlers.get(type)?.delete(fn);
  }

  /** Resolve with the next message of `type` matching `pred` (rejects after timeoutMs). */
  next(type: string, pred: (m: ServerMessage) => boolean = () => true, timeoutMs = this.opts.timeoutMs ?? 10_000): Promise<ServerMessage> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { off(); reject(new Error(`no ${type} within ${timeoutMs} ms`)); }, timeoutMs);
      const off = this.on(type, (m) => { if (pred(m)) { clearTimeout(timer); off(); resolve(m); } });
    });
  }

  /** Send a message without waiting. */
  send(message: { type: string; [k: string]: unknown }): void {
    if (!this.ws || this.ws.readyState !== 1) throw new Error('not connected');
    this.ws.send(this.opts.format === 'msgpack' ? packr.pack(message) : JSON.stringify(message));
  }

  /** Send with a fresh `rid` and resolve with the reply carrying it; rejects with SignalingClientError. */
  request(message: { type: string; [k: string]: unknown }): Promise<ServerMessage> {
    const rid = `r${this.nextRid++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.pending.delete(rid); reject(new Error(`no reply to ${message.type} within the timeout`)); }, this.opts.timeoutMs ?? 10_000);
      this.pending.set(rid, { resolve, reject, timer });
      try { this.send({ ...message, rid }); } catch (err) { clearTimeout(timer); this.pending.delete(rid); reject(err as Error); }
    });
  }

  async join(roomId: string, name?: string, role?: string): Promise<{ roomId: string; participantId: string; participants: Participant[] }> {
    const reply = await this.request({ type: 'join-room', roomId, ...(name ? { name } : {}), ...(role ? { role } : {}) });
    this.joined.set(roomId, { name, role });
    return reply as unknown as { roomId: string; participantId: string; participants: Participant[] };
  }

  async leave(roomId: string): Promise<void> {
    this.joined.delete(roomId);
    await this.request({ type: 'leave-room', roomId });
  }

  offer(to: string, sdp: unknown): void { this.send({ type: 'offer', to, sdp }); }
  answer(to: string, sdp: unknown): void { this.send({ type: 'answer', to, sdp }); }
  ice(to: string, candidate: unknown, sdpMid?: string | null, sdpMLineIndex?: number | null): void {
    this.send({ type: 'ice', to, candidate, sdpMid, sdpMLineIndex });
  }
  chat(roomId: string, text: string): void { this.send({ type: 'chat', roomId, text }); }
  heartbeat(): Promise<ServerMessage> { return this.request({ type: 'heartbeat' }); }
  bindUser(userId: string): Promise<ServerMessage> { return this.request({ type: 'user:join', userId }); }
  call(toId: string, roomName: string, sdpOffer: unknown, callType: 'audio' | 'video' = 'video'): void {
    this.send({ type: 'call:initiate', toId, roomName, sdpOffer, callType });
  }
  acceptCall(roomName: string, sdpAnswer: unknown): void { this.send({ type: 'call:accept', roomName, sdpAnswer }); }
  rejectCall(roomName: string, reason?: string): void { this.send({ type: 'call:reject', roomName, reason }); }
  endCall(roomName: string, reason?: string): void { this.send({ type: 'call:end', roomName, reason }); }

  /** Close for good (no reconnect). */
  close(code = 1000): void {
    this.closedByUser = true;
    this.ws?.close(code);
  }

  private receive(data: unknown): void {
    let m: ServerMessage;
    try {
      m = (typeof data === 'string' ? JSON.parse(data) : packr.unpack(new Uint8Array(data as ArrayBuffer))) as ServerMessage;
    } catch {
      return;
    }
    // The server took this socket out of a room (e.g. its token expired): do not re-join it on reconnect.
    if (m.type === 'room-left' && m.rid === undefined) this.joined.delete(String(m.roomId));
    if (m.rid !== undefined) {
      const p = this.pending.get(String(m.rid));
      if (p) {
        this.pending.delete(String(m.rid));
        clearTimeout(p.timer);
        if (m.type === 'error') p.reject(new SignalingClientError(String(m.code), String(m.message)));
        else p.resolve(m);
      }
    }
    for (const fn of this.handlers.get(m.type) ?? []) fn(m);
    for (const fn of this.handlers.get('*') ?? []) fn(m);
  }

  private dropped(ev: { code: number; reason: string }): void {
    this.lastClose = { code: ev.code, reason: ev.reason };
    for (const [rid, p] of this.pending) { clearTimeout(p.timer); p.reject(new Error(`socket closed (${ev.code})`)); this.pending.delete(rid); }
    for (const fn of this.handlers.get('close') ?? []) fn({ type: 'close', code: ev.code, reason: ev.reason });
    if (this.closedByUser || !this.opts.reconnect) return;
    const delay = Math.min(10_000, 250 * 2 ** this.attempts++);
    setTimeout(() => {
      this.connect().then(async () => {
        for (const [roomId, o] of this.joined) await this.join(roomId, o.name, o.role).catch(() => undefined);
        for (const fn of this.handlers.get('reconnected') ?? []) fn({ type: 'reconnected' });
      }, () => undefined);
    }, delay);
  }
}
