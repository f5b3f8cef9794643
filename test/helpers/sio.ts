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
