/**
 * The limits of PROTOCOL.md §3 against the real server: a message over WS_MAX_MESSAGE_BYTES closes with 1009,
 * flooding gets `rate_limited` and then close 1008, a reader that stops reading is closed at
 * WS_MAX_BACKPRESSURE_BYTES while the rest of its room keeps getting messages, and a socket that answers no
 * ping is closed after WS_IDLE_TIMEOUT_SEC with its room told at once. Socket.IO binary attachments count
 * against WS_MAX_MESSAGE_BYTES (each is its own engine.io packet, under the limit on its own).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { SignalingClient } from '../../src/client/index.js';
import { http, startTestServer, type TestServer } from '../helpers/server.js';
import { next, sioConnect } from '../helpers/sio.js';

let server: TestServer;

test.before(async () => {
  server = await startTestServer({
    WS_MAX_MESSAGE_BYTES: '4096', WS_RATE_PER_SEC: '20', WS_RATE_BURST: '40',
    WS_MAX_BACKPRESSURE_BYTES: '65536', WS_IDLE_TIMEOUT_SEC: '8',
  });
});
test.after(async () => { await server.stop(); });

/** A raw `ws` socket on /ws that has received `connected`; `messages` collects every later message. */
async function raw(opts: WebSocket.ClientOptions = {}): Promise<{ ws: WebSocket; messages: any[]; closed: Promise<{ code: number; reason: string }> }> {
  const ws = new WebSocket(`${server.wsUrl}/ws`, 'meetcore.json', opts);
  const messages: any[] = [];
  const closed = new Promise<{ code: number; reason: string }>((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
  await new Promise<void>((resolve, reject) => {
    ws.once('error', reject);
    ws.on('message', (d) => {
      const m = JSON.parse(d.toString());
      if (m.type === 'connected') resolve();
      else messages.push(m);
    });
  });
  return { ws, messages, closed };
}

const waitFor = async (cond: () => boolean, ms = 5000) => {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 20))) if (cond()) return true;
  return cond();
};

test('a message over WS_MAX_MESSAGE_BYTES closes the socket with 1009; smaller ones are fine', async () => {
  const { ws, messages, closed } = await raw();
  ws.send(JSON.stringify({ type: 'heartbeat', rid: 'small', pad: 'x'.repeat(3000) }));
  assert.ok(await waitFor(() => messages.some((m) => m.rid === 'small')), 'a 3 KB message is answered');
  ws.send(JSON.stringify({ type: 'chat', roomId: 'r', text: 'x'.repeat(5000) }));
  const c = await closed;
  assert.is(c.code, 1009);
  assert.match(c.reason, /over 4096 bytes/);
  // Far over the limit (past uWS's own backstop at 4×): the connection is dropped, the server carries on.
  const big = await raw();
  big.ws.send('x'.repeat(100_000));
  assert.ok([1006, 1009].includes((await big.closed).code));
  assert.is((await http('GET', `${server.url}/health`)).status, 200);
});

test('Socket.IO: binary attachments count against WS_MAX_MESSAGE_BYTES (too_large, nothing relayed); smaller ones relay', async () => {
  const a = await sioConnect(server.url);
  const b = await new SignalingClient({ url: server.wsUrl, WebSocket }).connect();
  try {
    assert.is((await a.socket.timeout(2000).emitWithAck('join-room', 'attachments')).type, 'room-joined');
    await b.join('attachments');
    const relayed: any[] = [];
    b.on('signal', (m) => relayed.push(m));
    // Three attachments of 2000 bytes: each under the 4096-byte limit, 6000+ bytes together.
    const parts = [Buffer.alloc(2000, 1), Buffer.alloc(2000, 2), Buffer.alloc(2000, 3)];
    const errorEvent = next(a.socket, 'error').catch((e: Error) => ({ code: e.message }));
    const refused = await a.socket.timeout(2000).emitWithAck('signal', { to: b.participantId, data: { parts } });
    assert.is(refused.type, 'error', JSON.stringify(refused));
    assert.is(refused.code, 'too_large');
    assert.match(refused.message, /^message over 4096 bytes \(WS_MAX_MESSAGE_BYTES, binary attachments included\): 6\d{3} bytes$/, String(refused.message));
    assert.is((await errorEvent).code, 'too_large');
    // One attachment of 1000 bytes is fine, and it is the first `signal` the /ws peer sees.
    assert.equal(await a.socket.timeout(2000).emitWithAck('signal', { to: b.participantId, data: { parts: [Buffer.alloc(1000, 7)] } }), { type: 'ok' });
    assert.ok(await waitFor(() => relayed.length > 0));
    assert.is(relayed.length, 1);
    assert.is(relayed[0].data.parts[0].data.length, 1000, 'the small message, not the refused one');
    assert.ok(a.socket.connected, 'the Socket.IO session stays open');

    // Refused events past the rate limit (WS_RATE_BURST 40) still get their ack: rate_limited.
    const acks = await Promise.all(Array.from({ length: 45 }, () => a.socket.timeout(3000).emitWithAck('signal', { to: b.participantId, data: { parts } }).then((r: any) => r.code, (e: Error) => `no ack: ${e.message}`)));
    assert.ok(acks.every((c) => c === 'too_large' || c === 'rate_limited'), acks.join(','));
    assert.ok(acks.includes('rate_limited'), acks.join(','));
  } finally {
    a.socket.disconnect();
    b.close();
  }
});

test('flooding: rate_limited errors first, then close 1008; a well-behaved socket in the same room is untouched', async () => {
  const calm = await new SignalingClient({ url: server.wsUrl, WebSocket }).connect();
  await calm.join('flood');
  const { ws, messages, closed } = await raw();
  ws.send(JSON.stringify({ type: 'join-room', roomId: 'flood', rid: 'j' }));
  assert.ok(await waitFor(() => messages.some((m) => m.rid === 'j')));
  let code = 0;
  void closed.then((c) => { code = c.code; });
  for (let i = 0; i < 400 && !code && ws.readyState === WebSocket.OPEN; i++) ws.send(JSON.stringify({ type: 'heartbeat' }));
  assert.is((await closed).code, 1008);
  assert.ok(messages.some((m) => m.type === 'error' && m.code === 'rate_limited'), 'rate_limited came before the close');
  const left = await calm.next('user-disconnected', () => true, 3000).catch(() => null);
  assert.ok(left === null || typeof left.participantId === 'string');
  assert.is((await calm.heartbeat()).type, 'heartbeat', 'the calm socket still works');
  calm.close();
});

test('a reader that stops reading is closed at the send-buffer cap; the others keep getting messages', async () => {
  const sender = await new SignalingClient({ url: server.wsUrl, WebSocket }).connect();
  const reader = await new SignalingClient({ url: server.wsUrl, WebSocket }).connect();
  await sender.join('slow');
  await reader.join('slow');
  const slow = await raw();
  slow.ws.send(JSON.stringify({ type: 'join-room', roomId: 'slow', rid: 'j' }));
  assert.ok(await waitFor(() => slow.messages.some((m) => m.rid === 'j')));
  // Stop reading: the kernel buffers fill, then uWS buffers up to WS_MAX_BACKPRESSURE_BYTES and closes.
  (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  const slowId = slow.messages.find((m) => m.rid === 'j').participantId as string;
  const gone = sender.next('user-disconnected', (m) => m.participantId === slowId, 60_000);
  let received = 0;
  reader.on('chat', () => { received++; });
  const text = 'y'.repeat(1900);
  let sent = 0;
  let closed = false;
  void gone.then(() => { closed = true; });
  // 20 msg/s is the rate limit: send within it, in rounds, until the slow socket is dropped.
  while (!closed && sent < 2000) {
    for (let i = 0; i < 10; i++) { sender.chat('slow', `${sent++} ${text}`); }
    await new Promise((r) => setTimeout(r, 500));
  }
  assert.ok(closed, `slow reader closed after ${sent} messages`);
  assert.ok(await waitFor(() => received === sent), `the reading socket got all ${sent} messages (got ${received})`);
  const after = reader.next('chat');
  sender.chat('slow', 'after the drop');
  assert.is((await after).text, 'after the drop');
  sender.close();
  reader.close();
});

test('a socket that answers no ping is closed after the idle timeout and its room is told', async () => {
  const watcher = await new SignalingClient({ url: server.wsUrl, WebSocket, timeoutMs: 30_000 }).connect();
  await watcher.join('idle');
  // autoPong false: the ws client does not answer uWS's pings, as a dead peer would not.
  const idle = await raw({ autoPong: false });
  idle.ws.send(JSON.stringify({ type: 'join-room', roomId: 'idle', rid: 'j' }));
  assert.ok(await waitFor(() => idle.messages.some((m) => m.rid === 'j')));
  const idleId = idle.messages.find((m) => m.rid === 'j').participantId as string;
  const started = Date.now();
  const told = await watcher.next('user-disconnected', (m) => m.participantId === idleId, 30_000);
  assert.is(told.roomId, 'idle');
  const waited = (Date.now() - started) / 1000;
  assert.ok(waited >= 4 && waited <= 25, `closed after ${waited.toFixed(1)} s with an 8 s idle timeout`);
  await idle.closed;
  // The watcher answers pings (ws does by default) and is still there.
  assert.is((await watcher.heartbeat()).type, 'heartbeat');
  watcher.close();
  const h = await http('GET', `${server.url}/health`);
  assert.is(h.status, 200);
});

test.run();
