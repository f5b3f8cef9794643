/**
 * The transport-neutral core of signaling (PROTOCOL.md §2–3): rooms and participants, offer/answer/ICE relay,
 * chat with history, heartbeats, 1:1 and group calls, rate limits. Transports (/ws on uWS, Socket.IO) turn
 * sockets into Peers and hand every decoded message to `receive` (/ws: synchronous for a relayed offer, answer,
 * ice or signal message) or `handle` (the same as a promise, Socket.IO); the hub answers through `peer.send` and
 * room broadcasts through each transport's `broadcast` (uWS pub/sub topics, Socket.IO rooms), so one room can
 * hold clients of both kinds.
 */
import { randomUUID } from 'node:crypto';
import type { Principal } from '../http/router.js';
import type { JoinDecision } from '../context.js';
import { bindableUserId, isDenial, ownUserId } from '../auth/authorization.js';
import type { Logger } from '../log.js';
import { clientMessage, MESSAGE_TYPES, parseRelayMessage, type ClientMessage, type RelayMessage, type ServerMessage, type SignalingErrorCode, type UserRef } from './schema.js';

/** A connected socket as the hub sees it. */
export interface Peer {
  /** participantId: unique per socket. */
  readonly id: string;
  readonly transport: string;
  name: string | null;
  role: string;
  /** Bound by `user:join` (or from the token): the id calls are addressed to. */
  userId: string | null;
  principal: Principal | null;
  readonly rooms: Set<string>;
  /** Token bucket of the rate limit. */
  tokens: number;
  refilledAt: number;
  /** Messages refused by the rate limit in a row (persistent flooding closes with 1008). */
  refusedInRow: number;
  lastHeartbeatBroadcast: number;
  /** Fires when the principal's token expires, to re-check the guarded rooms it joined. */
  expiryTimer: NodeJS.Timeout | null;
  send(message: ServerMessage): void;
  close(code: number, reason: string): void;
  /** Start/stop receiving the room's broadcasts. */
  subscribe(roomId: string): void;
  unsubscribe(roomId: string): void;
}

/**
 * The hub's per-socket state, shared by the transports: each subclass adds how it sends, closes and
 * (un)subscribes. `burst` fills the rate-limit bucket at connection.
 */
export abstract class BasePeer implements Peer {
  abstract readonly transport: string;
  name: string | null = null;
  role = 'participant';
  userId: string | null = null;
  readonly rooms = new Set<string>();
  tokens: number;
  refilledAt = Date.now();
  refusedInRow = 0;
  lastHeartbeatBroadcast = 0;
  expiryTimer: NodeJS.Timeout | null = null;

  /** The socket's user id starts as its token's own (access token: user id; LiveKit token: identity). */
  constructor(readonly id: string, public principal: Principal | null, burst: number) {
    this.tokens = burst;
    this.userId = ownUserId(principal);
  }

  abstract send(message: ServerMessage): void;
  abstract close(code: number, reason: string): void;
  abstract subscribe(roomId: string): void;
  abstract unsubscribe(roomId: string): void;
}

/** Delivers a room broadcast to the transport's own sockets (except one). */
export interface Transport {
  broadcast(roomId: string, message: ServerMessage, except: Peer | null): void;
}

export interface HubOptions {
  maxParticipants: number;
  ratePerSec: number;
  rateBurst: number;
  ringTimeoutMs: number;
  chatHistory: number;
  /** Rooms one socket may be in at once (a join beyond is `bad_request`). */
  maxRoomsPerSocket: number;
  /** How often a peer's heartbeat is forwarded to its rooms, ms (PROTOCOL.md: at most every 10 s). */
  heartbeatBroadcastMs: number;
  iceServers(userId: string): unknown[];
  log: Logger;
}

interface Member { participantId: string; name: string | null; role: string }
type ChatMessage = { type: 'chat'; id: string; roomId: string; from: string; name: string | null; text: string; ts: number };
interface Room { id: string; members: Map<string, Peer>; chat: ChatMessage[]; createdAt: number }
interface Call {
  callId: string;
  roomName: string;
  callType: 'audio' | 'video';
  callerId: string;
  groupId?: string;
  /** userIds taking part (caller included) once accepted; invitees while ringing. */
  accepted: Set<string>;
  invited: Set<string>;
  timer: NodeJS.Timeout | null;
  /** When the call was placed (Unix ms). */
  startedAt: number;
}

/** Receives the direct reply to one message (or its error), e.g. for a Socket.IO acknowledgement. */
export type ReplySink = (message: ServerMessage) => void;

/** A request that must get a `type:"error"` reply. */
class SignalingError extends Error {
  constructor(readonly code: SignalingErrorCode, message: string) { super(message); }
}

/** Close codes (RFC 6455). */
export const CLOSE_POLICY = 1008;
export const CLOSE_TOO_LARGE = 1009;
export const CLOSE_GOING_AWAY = 1001;

export class SignalingHub {
  private readonly peers = new Map<string, Peer>();
  private readonly rooms = new Map<string, Room>();
  /** userId → its sockets. */
  private readonly users = new Map<string, Set<Peer>>();
  /**
   * userId → the form it was bound with (`user:join 123` → 123): ids are keyed by their string form and sent
   * back in the type they came in. Kept while the user has sockets.
   */
  private readonly idForms = new Map<string, UserRef>();
  /** Calls by roomName. */
  private readonly calls = new Map<string, Call>();
  private readonly transports: Transport[] = [];
  private joinGuard: ((roomId: string, principal: Principal | null) => JoinDecision | Promise<JoinDecision>) | null = null;
  private refresh: (principal: Principal) => Principal | null = (p) => p;

  constructor(private readonly opts: HubOptions) {}

  addTransport(t: Transport): void { this.transports.push(t); }
  /** The check run before a socket joins a room (src/auth/authorization.ts `mayJoinRoom`), and again at token expiry. */
  setJoinGuard(guard: (roomId: string, principal: Principal | null) => JoinDecision | Promise<JoinDecision>): void { this.joinGuard = guard; }
  /** See SignalingHub.setPrincipalRefresher in src/context.ts. */
  setPrincipalRefresher(fn: (principal: Principal) => Principal | null): void { this.refresh = fn; }

  get roomCount(): number { return this.rooms.size; }
  get peerCount(): number { return this.peers.size; }
  get callCount(): number { return this.calls.size; }

  /** A new participant id (opaque, unique). */
  newPeerId(): string { return randomUUID(); }

  connected(peer: Peer): void {
    this.peers.set(peer.id, peer);
    if (peer.userId) this.bindUser(peer, peer.userId);
    // A logout between the token check at the upgrade and now found no socket to close: check again.
    if (this.currentPrincipal(peer) === false) peer.close(CLOSE_POLICY, 'session revoked');
  }

  /**
   * The peer's principal as it is now (role re-read); false, after closing the socket with 1008, when its login
   * session was revoked or its membership removed. An anonymous peer stays anonymous (null).
   */
  private currentPrincipal(peer: Peer): Principal | null | false {
    if (!peer.principal) return null;
    const now = this.refresh(peer.principal);
    if (now) { peer.principal = now; return now; }
    return false;
  }

  /** The socket is gone: leave every room (the room is told at once) and end its calls. */
  disconnected(peer: Peer): void {
    if (peer.expiryTimer) { clearTimeout(peer.expiryTimer); peer.expiryTimer = null; }
    if (!this.peers.delete(peer.id)) return;
    for (const roomId of [...peer.rooms]) this.leave(peer, roomId, false);
    if (peer.userId) {
      const set = this.users.get(peer.userId);
      set?.delete(peer);
      if (set && set.size === 0) {
        this.users.delete(peer.userId);
        for (const call of [...this.calls.values()]) {
          if (call.callerId === peer.userId || call.accepted.has(peer.userId) || call.invited.has(peer.userId)) this.endCall(call, peer.userId, 'disconnected');
        }
        this.idForms.delete(peer.userId);
      }
    }
  }

  /**
   * Close every socket opened with an access token of this login session (logout or revocation).
   * @returns the number of sockets closed.
   */
  closeSession(sessionId: string, code: number, reason: string): number {
    let n = 0;
    for (const peer of [...this.peers.values()]) {
      if (peer.principal?.sessionId === sessionId) { peer.close(code, reason); n++; }
    }
    return n;
  }

  /**
   * Check again every socket whose principal `match`es (e.g. a member whose role changed or who was removed):
   * a principal whose membership or login is gone closes its socket (1008); the others leave the rooms the
   * join guard now refuses (recheckRooms).
   * @returns the number of sockets checked.
   */
  recheckWhere(match: (principal: Principal) => boolean): number {
    let n = 0;
    for (const peer of [...this.peers.values()]) {
      if (peer.principal && match(peer.principal)) { n++; void this.recheckRooms(peer); }
    }
    return n;
  }

  /** Send to everyone in a room (all transports), except one peer. */
  broadcast(roomId: string, message: ServerMessage, except: Peer | null = null): void {
    for (const t of this.transports) t.broadcast(roomId, message, except);
  }

  /** Rooms with their participants, for /api/stats. */
  roomStats(): { roomId: string; participants: number }[] {
    return [...this.rooms.values()].map((r) => ({ roomId: r.id, participants: r.members.size }));
  }

  /** Live calls for /api/admin/calls/stats. */
  callStats(now = Date.now()): { callId: string; roomName: string; participants: number; callType: string; state: string; startedAt: number; durationSec: number }[] {
    return [...this.calls.values()].map((c) => ({
      callId: c.callId, roomName: c.roomName, participants: c.accepted.size, callType: c.callType, state: c.accepted.size > 1 ? 'active' : 'ringing',
      startedAt: c.startedAt, durationSec: Math.max(0, Math.round((now - c.startedAt) / 1000)),
    }));
  }

  /** Members of a live room (participantId, name, role), or null. */
  roomMembers(roomId: string): Member[] | null {
    const room = this.rooms.get(roomId);
    return room ? [...room.members.values()].map(member) : null;
  }

  /**
   * Handle one decoded inbound message, synchronously where it can: a message over the rate limit, and a valid
   * offer, answer, ice or signal message (checked by parseRelayMessage, relayed at once: no promise, no closure)
   * are done when this returns; everything else goes through the zod schema and the asynchronous handlers.
   * Never throws: protocol errors are replied as `{type:"error", rid?, code, message}`; persistent flooding
   * closes the socket with 1008.
   * @param onReply called once with the message's direct reply (as sent, `rid` included), its error, or
   *   `{type:"ok"}` for a message handled without a direct reply (relay, chat, calls).
   * @returns undefined when the message was handled synchronously, else a promise (never rejected) settled once
   *   it is handled.
   */
  receive(peer: Peer, raw: unknown, onReply?: ReplySink): Promise<void> | undefined {
    if (!this.takeToken(peer)) {
      onReply?.({ type: 'error', code: 'rate_limited', message: `more than ${this.opts.ratePerSec} messages/s` });
      return undefined;
    }
    const m = parseRelayMessage(raw);
    if (m === undefined) return this.handleParsed(peer, raw, onReply);
    try {
      this.relay(peer, m);
    } catch (err) {
      const error = this.errorReply(m.rid, err);
      peer.send(error);
      onReply?.(error);
      return undefined;
    }
    onReply?.(m.rid !== undefined ? { type: 'ok', rid: m.rid } : { type: 'ok' });
    return undefined;
  }

  /** `receive` as a promise (for callers that chain on it, e.g. the Socket.IO transport). Never rejects. */
  async handle(peer: Peer, raw: unknown, onReply?: ReplySink): Promise<void> {
    await this.receive(peer, raw, onReply);
  }

  /** A message that is not a valid relay message: the zod schema, then its handler (see `receive`). */
  private async handleParsed(peer: Peer, raw: unknown, onReply?: ReplySink): Promise<void> {
    let answered = false;
    const answer = (msg: ServerMessage) => { if (!answered) { answered = true; onReply?.(msg); } };
    const ridOf = (v: unknown) => (v && typeof v === 'object' && 'rid' in v && (typeof v.rid === 'string' || typeof v.rid === 'number') ? v.rid : undefined);
    const rid = ridOf(raw);
    try {
      if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new SignalingError('bad_request', 'a message is one JSON object');
      const type = (raw as { type?: unknown }).type;
      if (typeof type !== 'string') throw new SignalingError('bad_request', 'type is required');
      if (!MESSAGE_TYPES.has(type)) throw new SignalingError('unknown_type', `unknown type ${JSON.stringify(type.slice(0, 64))}`);
      const parsed = clientMessage.safeParse(raw);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        throw new SignalingError('bad_request', `${issue.path.join('.') || 'message'}: ${issue.message}`);
      }
      const m = parsed.data;
      const reply = (msg: ServerMessage) => {
        const out = m.rid !== undefined ? { ...msg, rid: m.rid } : msg;
        peer.send(out);
        answer(out);
      };
      await this.dispatch(peer, m, reply);
      answer(m.rid !== undefined ? { type: 'ok', rid: m.rid } : { type: 'ok' });
    } catch (err) {
      const error = this.errorReply(rid, err);
      peer.send(error);
      answer(error);
    }
  }

  /** The `{type:"error"}` reply to a failed message: its SignalingError, or "internal error" (logged) for any other. */
  private errorReply(rid: string | number | undefined, err: unknown): ServerMessage {
    if (err instanceof SignalingError) return { type: 'error', ...(rid !== undefined ? { rid } : {}), code: err.code, message: err.message };
    this.opts.log.error({ err }, 'signaling handler failed');
    return { type: 'error', ...(rid !== undefined ? { rid } : {}), code: 'bad_request', message: 'internal error' };
  }

  /** Reply an error for input that could not even be decoded (invalid JSON or msgpack). */
  undecodable(peer: Peer, what: string): void {
    this.refuse(peer, 'bad_request', what);
  }

  /**
   * Refuse one inbound message a transport could not hand to `handle` (an oversized Socket.IO event, an ack id
   * that cannot be echoed, a listener that failed): `{type:"error", code, message}` to the socket and to
   * `onReply`. The message counts against the rate limit like any other: over it, only `onReply` is answered,
   * with `rate_limited`, as `handle` does (a Socket.IO client's ack never waits for nothing).
   */
  refuse(peer: Peer, code: SignalingErrorCode, message: string, onReply?: ReplySink): void {
    if (!this.takeToken(peer)) {
      onReply?.({ type: 'error', code: 'rate_limited', message: `more than ${this.opts.ratePerSec} messages/s` });
      return;
    }
    const error: ServerMessage = { type: 'error', code, message };
    peer.send(error);
    onReply?.(error);
  }

  private takeToken(peer: Peer): boolean {
    const now = Date.now();
    peer.tokens = Math.min(this.opts.rateBurst, peer.tokens + ((now - peer.refilledAt) / 1000) * this.opts.ratePerSec);
    peer.refilledAt = now;
    if (peer.tokens >= 1) {
      peer.tokens -= 1;
      peer.refusedInRow = 0;
      return true;
    }
    peer.refusedInRow++;
    if (peer.refusedInRow > this.opts.rateBurst) {
      peer.close(CLOSE_POLICY, 'flooding');
    } else if (peer.refusedInRow === 1 || peer.refusedInRow % 50 === 0) {
      peer.send({ type: 'error', code: 'rate_limited', message: `more than ${this.opts.ratePerSec} messages/s` });
    }
    return false;
  }

  private async dispatch(peer: Peer, m: ClientMessage, reply: (msg: ServerMessage) => void): Promise<void> {
    switch (m.type) {
      case 'join-room': return this.join(peer, m, reply);
      case 'leave-room':
        if (!peer.rooms.has(m.roomId)) throw new SignalingError('not_in_room', `not in room ${m.roomId}`);
        this.leave(peer, m.roomId, true);
        reply({ type: 'room-left', roomId: m.roomId });
        return;
      // Valid relay messages take receive's fast path; the schema accepts the same ones (a safety net).
      case 'offer':
      case 'answer':
      case 'signal':
      case 'ice':
        this.relay(peer, m);
        return;
      case 'chat': {
        const room = this.rooms.get(m.roomId);
        if (!room || !peer.rooms.has(m.roomId)) throw new SignalingError('not_in_room', `not in room ${m.roomId}`);
        const msg: ChatMessage = { type: 'chat', id: randomUUID(), roomId: m.roomId, from: peer.id, name: peer.name, text: m.text, ts: Date.now() };
        if (this.opts.chatHistory > 0) {
          room.chat.push(msg);
          if (room.chat.length > this.opts.chatHistory) room.chat.splice(0, room.chat.length - this.opts.chatHistory);
        }
        this.broadcast(m.roomId, msg);
        return;
      }
      case 'heartbeat': {
        const ts = Date.now();
        reply({ type: 'heartbeat', ts });
        if (ts - peer.lastHeartbeatBroadcast >= this.opts.heartbeatBroadcastMs) {
          peer.lastHeartbeatBroadcast = ts;
          for (const roomId of peer.rooms) this.broadcast(roomId, { type: 'user-heartbeat', roomId, participantId: peer.id, ts }, peer);
        }
        return;
      }
      case 'user:join': {
        const userId = bindableUserId(peer.principal, String(m.userId));
        if (isDenial(userId)) throw new SignalingError(userId.code, userId.message);
        if (peer.userId && peer.userId !== userId) this.unbindUser(peer);
        if (!this.users.get(userId)?.has(peer)) this.bindUser(peer, userId);
        this.idForms.set(userId, m.userId);
        if (m.name !== undefined) peer.name = m.name;
        reply({ type: 'user:joined', userId: m.userId });
        return;
      }
      case 'call:initiate': return this.initiate(peer, m, reply);
      case 'group_call:initiate': return this.initiateGroup(peer, m);
      case 'call:accept': {
        const { call, userId } = this.callOf(peer, m.roomName);
        call.invited.delete(userId);
        call.accepted.add(userId);
        if (call.timer) { clearTimeout(call.timer); call.timer = null; }
        this.sendToUser(call.callerId, { type: 'call:answer', roomName: call.roomName, callId: call.callId, fromId: this.wire(userId), sdpAnswer: m.sdpAnswer, iceServers: this.opts.iceServers(call.callerId) });
        return;
      }
      case 'call:reject': {
        const { call, userId } = this.callOf(peer, m.roomName);
        call.invited.delete(userId);
        this.sendToUser(call.callerId, { type: 'call:rejected', roomName: call.roomName, callId: call.callId, fromId: this.wire(userId), reason: m.reason ?? 'rejected' });
        if (call.invited.size === 0 && call.accepted.size <= 1) this.removeCall(call);
        return;
      }
      case 'ice:candidate': {
        const { call, userId } = this.callOf(peer, m.roomName);
        const msg = { type: 'ice:candidate', roomName: call.roomName, fromId: this.wire(userId), candidate: m.candidate, sdpMLineIndex: m.sdpMLineIndex ?? null, sdpMid: m.sdpMid ?? null };
        for (const u of new Set([call.callerId, ...call.accepted, ...call.invited])) if (u !== userId) this.sendToUser(u, msg);
        return;
      }
      case 'call:end': {
        const { call, userId } = this.callOf(peer, m.roomName);
        this.endCall(call, userId, m.reason ?? 'ended');
        return;
      }
    }
  }

  private async join(peer: Peer, m: Extract<ClientMessage, { type: 'join-room' }>, reply: (msg: ServerMessage) => void): Promise<void> {
    // Already in the room: a cheap reply, no history, no broadcast (a repeated join must not amplify).
    if (peer.rooms.has(m.roomId)) { reply({ type: 'room-joined', roomId: m.roomId, participantId: peer.id, alreadyJoined: true }); return; }
    if (peer.rooms.size >= this.opts.maxRoomsPerSocket) {
      throw new SignalingError('bad_request', `at most ${this.opts.maxRoomsPerSocket} rooms per connection: leave one first`);
    }
    const principal = this.currentPrincipal(peer);
    if (principal === false) {
      peer.close(CLOSE_POLICY, 'session revoked');
      throw new SignalingError('unauthorized', 'the login session of this token has ended');
    }
    if (this.joinGuard) {
      const decision = await this.joinGuard(m.roomId, principal);
      if (decision) throw new SignalingError(decision.code, decision.message);
    }
    if (!this.peers.has(peer.id)) return;  // closed while the guard ran
    if (peer.rooms.has(m.roomId)) { reply({ type: 'room-joined', roomId: m.roomId, participantId: peer.id, alreadyJoined: true }); return; }
    // Joins of one socket may overlap while the guard runs: count again.
    if (peer.rooms.size >= this.opts.maxRoomsPerSocket) {
      throw new SignalingError('bad_request', `at most ${this.opts.maxRoomsPerSocket} rooms per connection: leave one first`);
    }
    let room = this.rooms.get(m.roomId);
    if (!room?.members.has(peer.id) && room && room.members.size >= this.opts.maxParticipants) {
      throw new SignalingError('room_full', `room ${m.roomId} has ${this.opts.maxParticipants} participants`);
    }
    if (m.name !== undefined) peer.name = m.name;
    if (m.role !== undefined) peer.role = m.role;
    if (!room) {
      room = { id: m.roomId, members: new Map(), chat: [], createdAt: Date.now() };
      this.rooms.set(room.id, room);
    }
    room.members.set(peer.id, peer);
    peer.rooms.add(room.id);
    peer.subscribe(room.id);
    const participants = [...room.members.values()].map(member);
    reply({ type: 'room-joined', roomId: room.id, participantId: peer.id, participants, chat: room.chat });
    peer.send({ type: 'ice-servers', iceServers: this.opts.iceServers(peer.userId ?? peer.id) });
    this.broadcast(room.id, { type: 'user-connected', roomId: room.id, ...member(peer) }, peer);
    this.broadcast(room.id, { type: 'room-participants', roomId: room.id, participants });
    this.watchExpiry(peer);
  }

  /**
   * When the peer's token expires, run the join guard again for each room it is in and take it out of those
   * the guard now refuses (e.g. `feedback:<meetingId>`), telling it `room-left {roomId, code, reason}`.
   */
  private watchExpiry(peer: Peer): void {
    const exp = peer.principal?.expiresAt;
    if (exp === undefined || peer.expiryTimer || !this.joinGuard) return;
    peer.expiryTimer = setTimeout(() => {
      peer.expiryTimer = null;
      void this.recheckRooms(peer);
    }, Math.min(Math.max(0, exp - Date.now()) + 10, 2 ** 31 - 1));
    peer.expiryTimer.unref();
  }

  /** Re-run the join guard for every room of a peer; leave those it refuses now. Never throws. */
  async recheckRooms(peer: Peer): Promise<void> {
    const principal = this.currentPrincipal(peer);
    if (principal === false) { peer.close(CLOSE_POLICY, 'session revoked'); return; }
    for (const roomId of [...peer.rooms]) {
      let decision: JoinDecision = null;
      try {
        decision = this.joinGuard ? await this.joinGuard(roomId, principal) : null;
      } catch (err) {
        this.opts.log.error({ err, roomId }, 'join guard failed on re-check');
        decision = { code: 'forbidden', message: 'the right to this room could not be checked' };
      }
      if (!decision || !this.peers.has(peer.id) || !peer.rooms.has(roomId)) continue;
      this.leave(peer, roomId, true);
      peer.send({ type: 'room-left', roomId, code: decision.code, reason: decision.message });
    }
    // A timer capped at setTimeout's maximum fired before the expiry: arm it again.
    const exp = peer.principal?.expiresAt;
    if (exp !== undefined && exp > Date.now() && this.peers.has(peer.id) && peer.rooms.size > 0) this.watchExpiry(peer);
  }

  private leave(peer: Peer, roomId: string, stillConnected: boolean): void {
    const room = this.rooms.get(roomId);
    peer.rooms.delete(roomId);
    if (stillConnected) peer.unsubscribe(roomId);
    if (!room || !room.members.delete(peer.id)) return;
    if (room.members.size === 0) {
      this.rooms.delete(roomId);
      return;
    }
    this.broadcast(roomId, { type: 'user-disconnected', roomId, participantId: peer.id }, peer);
    this.broadcast(roomId, { type: 'room-participants', roomId, participants: [...room.members.values()].map(member) }, peer);
  }

  /**
   * Forward an offer, answer, ice or signal message to its `to`, as `{type, from, ...}`.
   * @throws SignalingError peer_not_found when `to` is not another participant of one of the sender's rooms.
   */
  private relay(peer: Peer, m: RelayMessage): void {
    const target = this.sameRoomPeer(peer, m.to);
    switch (m.type) {
      case 'offer':
      case 'answer':
        target.send({ type: m.type, from: peer.id, sdp: m.sdp });
        return;
      case 'signal':
        target.send({ type: 'signal', from: peer.id, data: m.data });
        return;
      case 'ice': {
        const c = m.candidate;
        const sdpMid = m.sdpMid ?? (c && typeof c === 'object' ? c.sdpMid : undefined) ?? null;
        const sdpMLineIndex = m.sdpMLineIndex ?? (c && typeof c === 'object' ? c.sdpMLineIndex : undefined) ?? null;
        target.send({ type: 'ice', from: peer.id, candidate: c, sdpMid, sdpMLineIndex });
        return;
      }
    }
  }

  /** The participant `to` when it shares a room with `peer` (and is not `peer`). @throws SignalingError peer_not_found */
  private sameRoomPeer(peer: Peer, to: string): Peer {
    const target = this.peers.get(to);
    if (target !== undefined && target !== peer) {
      for (const roomId of peer.rooms) if (target.rooms.has(roomId)) return target;
    }
    throw new SignalingError('peer_not_found', `no participant ${to.slice(0, 128)} in your rooms`);
  }

  private bindUser(peer: Peer, userId: string): void {
    peer.userId = userId;
    let set = this.users.get(userId);
    if (!set) this.users.set(userId, (set = new Set()));
    set.add(peer);
  }

  private unbindUser(peer: Peer): void {
    const set = this.users.get(peer.userId!);
    set?.delete(peer);
    if (set && set.size === 0) { this.users.delete(peer.userId!); this.idForms.delete(peer.userId!); }
    peer.userId = null;
  }

  private userOf(peer: Peer): string {
    return peer.userId ?? peer.id;
  }

  /** A caller's display name: from `user:join {name}` or `join-room {name}`, else the token's. */
  private nameOf(peer: Peer): string | null {
    return peer.name ?? peer.principal?.name ?? null;
  }

  /** A user id as it goes on the wire: in the type it was bound with (a number for `user:join 123`). */
  private wire(userId: string): UserRef {
    return this.idForms.get(userId) ?? userId;
  }

  private sendToUser(userId: string, message: ServerMessage): boolean {
    const set = this.users.get(userId) ?? (this.peers.has(userId) ? new Set([this.peers.get(userId)!]) : null);
    if (!set || set.size === 0) return false;
    for (const p of set) p.send(message);
    return true;
  }

  private online(userId: string): boolean {
    return (this.users.get(userId)?.size ?? 0) > 0 || this.peers.has(userId);
  }

  private initiate(peer: Peer, m: Extract<ClientMessage, { type: 'call:initiate' }>, reply: (msg: ServerMessage) => void): void {
    const from = this.userOf(peer);
    const toId = String(m.toId);
    const existing = this.calls.get(m.roomName);
    if (existing && existing.callerId !== from) throw new SignalingError('forbidden', `room ${m.roomName} already has a call`);
    if (existing) this.removeCall(existing);
    if (!this.online(toId)) {
      reply({ type: 'call:rejected', roomName: m.roomName, fromId: m.toId, reason: 'offline' });
      return;
    }
    const call = this.newCall(m.roomName, m.callType, from, [toId]);
    this.sendToUser(toId, { type: 'call:incoming', callId: call.callId, fromId: this.wire(from), fromName: this.nameOf(peer), callType: m.callType, roomName: m.roomName, sdpOffer: m.sdpOffer, iceServers: this.opts.iceServers(toId) });
  }

  private initiateGroup(peer: Peer, m: Extract<ClientMessage, { type: 'group_call:initiate' }>): void {
    const from = this.userOf(peer);
    const existing = this.calls.get(m.roomName);
    if (existing && existing.callerId !== from) throw new SignalingError('forbidden', `room ${m.roomName} already has a call`);
    if (existing) this.removeCall(existing);
    // Members by their string key (123 and "123" are one user), each with the form it came in.
    const members = new Map<string, UserRef>();
    for (const u of m.memberIds) if (String(u) !== from && !members.has(String(u))) members.set(String(u), u);
    const online = [...members.keys()].filter((u) => this.online(u));
    const offline = [...members.keys()].filter((u) => !this.online(u));
    for (const u of offline) peer.send({ type: 'call:rejected', roomName: m.roomName, fromId: members.get(u)!, reason: 'offline' });
    if (online.length === 0) return;
    const call = this.newCall(m.roomName, m.callType, from, online, m.groupId);
    for (const u of online) {
      this.sendToUser(u, { type: 'call:incoming', callId: call.callId, groupId: m.groupId, fromId: this.wire(from), fromName: this.nameOf(peer), callType: m.callType, roomName: m.roomName, memberIds: m.memberIds, iceServers: this.opts.iceServers(u) });
    }
  }

  private newCall(roomName: string, callType: 'audio' | 'video', callerId: string, invited: string[], groupId?: string): Call {
    const call: Call = { callId: randomUUID(), roomName, callType, callerId, groupId, accepted: new Set([callerId]), invited: new Set(invited), timer: null, startedAt: Date.now() };
    call.timer = setTimeout(() => {
      call.timer = null;
      if (call.accepted.size > 1) return;
      for (const u of new Set([call.callerId, ...call.invited])) this.sendToUser(u, { type: 'call:ended', roomName, callId: call.callId, reason: 'timeout' });
      this.removeCall(call);
    }, this.opts.ringTimeoutMs);
    call.timer.unref();
    this.calls.set(roomName, call);
    return call;
  }

  private callOf(peer: Peer, roomName: string): { call: Call; userId: string } {
    const call = this.calls.get(roomName);
    const userId = this.userOf(peer);
    if (!call || !(call.callerId === userId || call.accepted.has(userId) || call.invited.has(userId))) {
      throw new SignalingError('not_in_room', `no call of yours in ${roomName}`);
    }
    return { call, userId };
  }

  private endCall(call: Call, byUserId: string, reason: string): void {
    for (const u of new Set([call.callerId, ...call.accepted, ...call.invited])) {
      if (u !== byUserId) this.sendToUser(u, { type: 'call:ended', roomName: call.roomName, callId: call.callId, fromId: this.wire(byUserId), reason });
    }
    this.removeCall(call);
  }

  private removeCall(call: Call): void {
    if (call.timer) clearTimeout(call.timer);
    if (this.calls.get(call.roomName) === call) this.calls.delete(call.roomName);
  }
}

function member(p: Peer): Member {
  return { participantId: p.id, name: p.name, role: p.role };
}
