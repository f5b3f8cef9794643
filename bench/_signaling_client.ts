/**
 * Load client for `npm run bench -- signaling` (forked by bench/signaling.ts, driven over IPC).
 * Opens `participants` sockets per room for its share of rooms, over one of the transports:
 *  - 'ws-json' / 'ws-msgpack': meetcore /ws with the `ws` package (subprotocol meetcore.json / meetcore.msgpack);
 *  - 'sio': socket.io-client v4, websocket transport only (meetcore's /socket.io/ or the plain Socket.IO seed).
 * Relay phase, in every room participant i sends ICE-sized `ice` messages to participant i+1 (ring); the
 * receiver records the relay latency (send time carried in the candidate string, same process clock).
 *  - flat out (rate 0): a closed loop: when a message arrives its sender sends the next one, keeping `window`
 *    messages in flight per sender;
 *  - fixed rate (rate > 0 messages/s per sender): open loop, every sender paced against the clock (phases
 *    spread over one period), whatever the replies do.
 * Latencies go into a log-scale histogram (buckets of ~2.3 %), merged by the parent.
 *
 * IPC: {cmd:'setup', kind, url, rooms, participants, window} → {ok, sockets};
 *      {cmd:'start', rate} → {ok}; {cmd:'stop'} → {ok} (no new sends); {cmd:'mark'} → {ok} (reset counters);
 *      {cmd:'collect'} → {delivered, sent, errors, hist}; {cmd:'close'} → {ok} (then exits).
 */
import { Packr } from 'msgpackr';
import WebSocket from 'ws';
import { io, type Socket } from 'socket.io-client';

type Kind = 'ws-json' | 'ws-msgpack' | 'sio';
type Msg = { type: string; [k: string]: unknown };

const packr = new Packr({ useRecords: false });
/** A typical host ICE candidate line (~150 bytes); the send time is appended as its last token. */
const CANDIDATE = 'candidate:842163049 1 udp 1677729535 192.0.2.77 54321 typ srflx raddr 10.0.0.5 rport 54321 generation 0 ufrag EsAw network-id 1 network-cost 10 ts ';

/** Log-scale latency histogram: bucket b holds latencies in [1.023^b, 1.023^(b+1)) µs. */
const BUCKETS = 1200;
const LOG_BASE = Math.log(1.023);
let hist = new Uint32Array(BUCKETS);
let delivered = 0;
let sent = 0;
let errors = 0;
/** Flat-out closed loop running. */
let running = false;
let rateTimer: NodeJS.Timeout | null = null;
/** Messages in flight per sender. */
let windowSize = 1;

interface Conn {
  id: string;
  next: Conn | null;
  /** Resolves the pending join. */
  joined?: () => void;
  send(m: Msg): void;
  close(): void;
}

const conns: Conn[] = [];

function record(latencyMs: number): void {
  const us = Math.max(1, latencyMs * 1000);
  hist[Math.min(BUCKETS - 1, Math.floor(Math.log(us) / LOG_BASE))]!++;
  delivered++;
}

/** A participant received an `ice` from `from`: record it and let `from` send its next message. */
function onIce(m: Msg, byId: Map<string, Conn>): void {
  const candidate = m.candidate as string;
  const sentAt = Number(candidate.slice(candidate.lastIndexOf(' ') + 1));
  record(performance.now() - sentAt);
  if (running) fire(byId.get(m.from as string));
}

function fire(c: Conn | undefined): void {
  if (!c?.next) return;
  sent++;
  c.send({ type: 'ice', to: c.next.id, candidate: CANDIDATE + performance.now().toFixed(3), sdpMid: '0', sdpMLineIndex: 0 });
}

function openWs(url: string, binary: boolean, byId: Map<string, Conn>): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${url}/ws`, binary ? 'meetcore.msgpack' : 'meetcore.json', { perMessageDeflate: false });
    const conn: Conn = {
      id: '', next: null,
      send: binary ? (m) => ws.send(packr.pack(m)) : (m) => ws.send(JSON.stringify(m)),
      close: () => ws.close(),
    };
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const m = (isBinary ? packr.unpack(data) : JSON.parse(data.toString())) as Msg;
      if (m.type === 'ice') onIce(m, byId);
      else if (m.type === 'connected') { conn.id = m.participantId as string; byId.set(conn.id, conn); resolve(conn); }
      else if (m.type === 'error') errors++;
      else if (m.type === 'room-joined') conn.joined?.();
    });
    ws.on('error', reject);
  });
}

function openSio(url: string, byId: Map<string, Conn>): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const socket: Socket = io(url, { transports: ['websocket'], reconnection: false, forceNew: true });
    const conn: Conn = { id: '', next: null, send: (m) => { const { type, ...rest } = m; socket.emit(type, rest); }, close: () => socket.close() };
    socket.on('ice', (p: Msg) => onIce(p, byId));
    socket.on('error', () => { errors++; });
    socket.on('room-joined', () => conn.joined?.());
    // Both servers announce the participantId in a `connected` event (the plain seed server uses socket.id).
    socket.on('connected', (p: { participantId: string }) => { conn.id = p.participantId; byId.set(conn.id, conn); resolve(conn); });
    socket.on('connect_error', reject);
  });
}

function join(c: Conn, roomId: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no room-joined for ${roomId}`)), 20_000);
    c.joined = () => { clearTimeout(timer); resolve(); };
    c.send({ type: 'join-room', roomId, name: 'bench', rid: 1 });
  });
}

async function setup(kind: Kind, url: string, rooms: string[], participants: number): Promise<number> {
  const byId = new Map<string, Conn>();
  const open = () => (kind === 'sio' ? openSio(url, byId) : openWs(url, kind === 'ws-msgpack', byId));
  // Rooms in parallel batches (a few hundred sockets in flight), participants of a room in order.
  const batch = Math.max(1, Math.floor(200 / participants));
  for (let i = 0; i < rooms.length; i += batch) {
    await Promise.all(rooms.slice(i, i + batch).map(async (roomId) => {
      const members: Conn[] = [];
      for (let p = 0; p < participants; p++) {
        const c = await open();
        await join(c, roomId);
        members.push(c);
      }
      members.forEach((c, p) => { c.next = participants > 1 ? members[(p + 1) % participants]! : null; });
      conns.push(...members);
    }));
  }
  return conns.length;
}

process.on('message', (raw: unknown) => {
  const m = raw as { cmd: string; kind: Kind; url: string; rooms: string[]; participants: number; window: number };
  const reply = (r: object) => process.send!(r);
  switch (m.cmd) {
    case 'setup':
      windowSize = m.window;
      setup(m.kind, m.url, m.rooms, m.participants).then((sockets) => reply({ ok: true, sockets }), (err: Error) => reply({ ok: false, error: err.message }));
      return;
    case 'start': {
      const rate = (raw as { rate?: number }).rate ?? 0;
      if (rate > 0) {
        // Open loop: sender k sends its n-th message at phase_k + n / rate.
        const t0 = performance.now();
        const periodMs = 1000 / rate;
        const phase = conns.map((_, k) => ((k * 0.6180339887498949) % 1) * periodMs);
        const done = conns.map(() => 0);
        rateTimer = setInterval(() => {
          const now = performance.now() - t0;
          conns.forEach((c, k) => {
            const due = Math.floor((now - phase[k]!) / periodMs) + 1;
            while (done[k]! < due) { done[k]!++; fire(c); }
          });
        }, 2);
      } else {
        running = true;
        for (let k = 0; k < windowSize; k++) for (const c of conns) fire(c);
      }
      reply({ ok: true });
      return;
    }
    case 'stop':
      running = false;
      if (rateTimer) clearInterval(rateTimer);
      rateTimer = null;
      reply({ ok: true });
      return;
    case 'mark':
      hist = new Uint32Array(BUCKETS);
      delivered = 0;
      sent = 0;
      errors = 0;
      reply({ ok: true });
      return;
    case 'collect':
      reply({ delivered, sent, errors, hist: Array.from(hist) });
      return;
    case 'close':
      running = false;
      if (rateTimer) clearInterval(rateTimer);
      for (const c of conns) c.close();
      reply({ ok: true });
      setTimeout(() => process.exit(0), 200);
      return;
  }
});
