/**
 * Plain socket.io-client helpers for the compatibility tests: the seed apps use socket.io-client directly, so
 * these tests do too (not src/client).
 */
import { io, type Socket } from 'socket.io-client';

/** Connect a socket.io-client (websocket transport, new manager) and wait for meetcore's `connected`. */
export async function sioConnect(url: string, opts: Record<string, unknown> = {}): Promise<{ socket: Socket; participantId: string }> {
  const socket = io(url, { transports: ['websocket'], forceNew: true, reconnection: false, ...opts });
  const participantId = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no "connected" within 5 s')), 5000);
    socket.once('connected', (m: { participantId: string }) => { clearTimeout(timer); resolve(m.participantId); });
    socket.once('connect_error', (err: Error) => { clearTimeout(timer); reject(err); });
  });
  return { socket, participantId };
}

/**
 * The clients of one test file: `connect` opens one (see sioConnect) on the server `url()` names and keeps it,
 * `disconnectAll` closes every one kept (for `test.after.each`).
 */
export function sioClients(url: () => string): { connect(opts?: Record<string, unknown>): Promise<{ socket: Socket; participantId: string }>; disconnectAll(): void } {
  const sockets: Socket[] = [];
  return {
    async connect(opts = {}) {
      const c = await sioConnect(url(), opts);
      sockets.push(c.socket);
      return c;
    },
    disconnectAll() { for (const s of sockets.splice(0)) s.disconnect(); },
  };
}

/** The next `event` on the socket (its first argument), or an Error after `ms`. */
export function next<T = any>(socket: Socket, event: string, ms = 5000): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => { socket.off(event, on); reject(new Error(`no "${event}" within ${ms} ms`)); }, ms);
    const on = (payload: T) => { clearTimeout(timer); resolve(payload); };
    socket.once(event, on);
  });
}

/** Resolves false when `event` does not arrive within `ms`, the payload otherwise. */
export function none(socket: Socket, event: string, ms = 300): Promise<unknown> {
  return next(socket, event, ms).then((p) => p ?? true, () => false);
}

/**
 * A Socket.IO client spoken by hand over engine.io v4 long-polling, as curl would (plain fetch): the handshake,
 * the CONNECT packet `40`, then any packet text. `send` POSTs packets (joined by the record separator 0x1e) and
 * returns the status; `receiveUntil` polls (GET) until a packet matches `pred` and returns every packet read.
 */
export interface PollingSession {
  sid: string;
  send(...packets: string[]): Promise<number>;
  receiveUntil(pred: (packet: string) => boolean, ms?: number): Promise<string[]>;
}

/** Open a polling session on `url` (http://host:port) and connect it to the main namespace (`connected` read). */
export async function pollingSession(url: string): Promise<PollingSession> {
  const base = `${url}/socket.io/?EIO=4&transport=polling`;
  const hs = await (await fetch(base)).text();
  if (!hs.startsWith('0')) throw new Error(`engine.io handshake failed: ${hs}`);
  const sid = (JSON.parse(hs.slice(1)) as { sid: string }).sid;
  const at = `${base}&sid=${encodeURIComponent(sid)}`;
  const session: PollingSession = {
    sid,
    async send(...packets) {
      const res = await fetch(at, { method: 'POST', body: packets.join('\x1e'), headers: { 'content-type': 'text/plain;charset=UTF-8' } });
      await res.text();
      return res.status;
    },
    async receiveUntil(pred, ms = 5000) {
      const seen: string[] = [];
      const end = Date.now() + ms;
      while (Date.now() < end) {
        const res = await fetch(at, { signal: AbortSignal.timeout(Math.max(1, end - Date.now())) }).catch(() => null);
        if (!res) break;
        const text = await res.text();
        if (res.status !== 200) throw new Error(`poll answered ${res.status}: ${text}`);
        const packets = text.split('\x1e');
        seen.push(...packets);
        if (packets.some(pred)) return seen;
      }
      throw new Error(`no matching packet within ${ms} ms; read: ${JSON.stringify(seen).slice(0, 2000)}`);
    },
  };
  if (await session.send('40') !== 200) throw new Error('CONNECT packet refused');
  await session.receiveUntil((p) => p.startsWith('42["connected"'));
  return session;
}

/** The event name and first argument of a Socket.IO EVENT packet text (`42["name",{…}]`), or null. */
export function eventOf(packet: string): { event: string; arg: any } | null {
  const m = /^42(\d*)(\[.*)$/s.exec(packet);
  if (!m) return null;
  const [event, arg] = JSON.parse(m[2]!) as [string, unknown];
  return { event, arg };
}
