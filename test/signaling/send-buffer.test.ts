/**
 * The send-buffer cap (WS_MAX_BACKPRESSURE_BYTES) against the real server, fast enough to beat the idle timeout:
 * a client that stops reading is closed once more than the cap waits for it — on /ws by uWS
 * (closeOnBackpressureLimit: the connection is dropped, 1006), on Socket.IO's websocket transport with close
 * 1008 "slow reader", on polling by discarding the session — its room is told and keeps getting every
 * message, and meetcore_signaling_slow_closed_total{transport} counts it. Messages are never dropped while
 * the socket stays open.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { io as ioClient, type Socket } from 'socket.io-client';
import { SignalingClient } from '../../src/client/index.js';
import { http, startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
const CAP = 65536;

test.before(async () => {
  server = await startTestServer({ WS_MAX_BACKPRESSURE_BYTES: String(CAP), WS_RATE_PER_SEC: '2000', WS_RATE_BURST: '2000' });
});
test.after(async () => { await server.stop(); });

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const waitFor = async (cond: () => boolean, ms = 5000) => {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(20)) if (cond()) return true;
  return cond();
};

/** A value of GET /metrics (0 when the series is absent). */
async function metric(name: string, labels: string): Promise<number> {
  const text = (await http('GET', `${server.url}/metrics`)).body as string;
  const m = new RegExp(`^${name}\\{${labels.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\} (\\d+)`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}
const slowClosed = (transport = 'socket.io') => metric('meetcore_signaling_slow_closed_total', `transport="${transport}"`);

/** A Socket.IO client speaking engine.io/socket.io framing over a raw `ws` socket (websocket transport only). */
async function rawSocketIo(roomId: string) {
  const ws = new WebSocket(`${server.wsUrl}/socket.io/?EIO=4&transport=websocket`);
  const events: [string, any][] = [];
  const closed = new Promise<{ code: number; reason: string }>((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() })));
  ws.on('message', (d) => {
    const s = d.toString();
    if (s.startsWith('0')) ws.send('40');                    // engine.io open → socket.io CONNECT to "/"
    else if (s === '2') ws.send('3');                        // ping → pong
    else if (s.startsWith('42')) events.push(JSON.parse(s.slice(2)));
  });
  assert.ok(await waitFor(() => events.some((e) => e[0] === 'connected')), 'connected');
  ws.send(`42${JSON.stringify(['join-room', { roomId, rid: 'j' }])}`);
  assert.ok(await waitFor(() => events.some((e) => e[0] === 'room-joined')), 'room-joined');
  const participantId = events.find((e) => e[0] === 'room-joined')![1].participantId as string;
  return { ws, events, closed, participantId };
}

/** engine.io polling by hand: handshake, CONNECT, then polls only when told to. */
async function rawPolling(roomId: string) {
  const base = `${server.url}/socket.io/?EIO=4&transport=polling`;
  const open = await http('GET', base);
  assert.is(open.status, 200);
  const sid = JSON.parse((open.body as string).slice(1)).sid as string;
  const url = `${base}&sid=${sid}`;
  const post = async (payload: string) => assert.is((await http('POST', url, payload, { 'content-type': 'text/plain;charset=UTF-8' })).body, 'ok');
  const poll = async () => {
    const r = await http('GET', url);
    return { status: r.status, packets: typeof r.body === 'string' ? r.body.split('\x1e') : [], body: r.body };
  };
  await post('40');
  let text = '';
  for (let i = 0; i < 5 && !text.includes('"connected"'); i++) text += (await poll()).packets.join('\n');
  assert.match(text, /"connected"/);
  await post(`42${JSON.stringify(['join-room', { roomId, rid: 'j' }])}`);
  text = '';
  for (let i = 0; i < 5 && !text.includes('"room-joined"'); i++) text += (await poll()).packets.join('\n');
  const joined = /42(\["room-joined".*)/.exec(text);
  assert.ok(joined, 'room-joined');
  return { sid, poll, participantId: JSON.parse(joined[1]!)[1].participantId as string };
}

/** Chat to a room at ~4 MB/s (within the rate limit) until `done()`; bounded: 20 s, 40000 messages. */
async function flood(sender: SignalingClient, roomId: string, done: () => boolean): Promise<{ sent: number; ms: number }> {
  const text = 'y'.repeat(1900);
  let sent = 0;
  const started = Date.now();
  while (!done() && sent < 40_000 && Date.now() - started < 20_000) {
    for (let i = 0; i < 200; i++) sender.chat(roomId, `${sent++} ${text}`);
    await sleep(100);
  }
  return { sent, ms: Date.now() - started };
}

test('/ws: a socket that stops reading is dropped at the cap and counted; the room keeps every message', async () => {
  const before = await slowClosed('ws');
  const sender = await new SignalingClient({ url: server.wsUrl, WebSocket, timeoutMs: 20_000 }).connect();
  const reader = await new SignalingClient({ url: server.wsUrl, WebSocket }).connect();
  await sender.join('ws-slow');
  await reader.join('ws-slow');
  let received = 0;
  reader.on('chat', () => { received++; });
  const slow = new WebSocket(`${server.wsUrl}/ws`, 'meetcore.json');
  const closed = new Promise<number>((r) => slow.once('close', (code) => r(code)));
  const replies: any[] = [];
  slow.on('message', (d) => replies.push(JSON.parse(d.toString())));
  await new Promise((r) => slow.once('open', r));
  slow.send(JSON.stringify({ type: 'join-room', roomId: 'ws-slow', rid: 'j' }));
  assert.ok(await waitFor(() => replies.some((m) => m.rid === 'j')));
  const slowId = replies.find((m) => m.rid === 'j').participantId as string;
  (slow as unknown as { _socket: { pause(): void } })._socket.pause();
  let gone = false;
  void sender.next('user-disconnected', (m) => m.participantId === slowId, 25_000).then(() => { gone = true; }, () => {});
  const { sent, ms } = await flood(sender, 'ws-slow', () => gone);
  assert.ok(gone, `slow /ws reader closed after ${sent} messages (${(ms / 1000).toFixed(1)} s)`);
  assert.ok(await waitFor(() => received === sent, 10_000), `the reader got all ${sent} messages (got ${received})`);
  assert.is(await slowClosed('ws'), before + 1, 'counted in meetcore_signaling_slow_closed_total{transport="ws"}');
  (slow as unknown as { _socket: { resume(): void } })._socket.resume();
  assert.is(await closed, 1006, 'uWS drops the connection without a close frame');
  reader.close();
  sender.close();
});

test('websocket transport: a Socket.IO socket that stops reading is closed with 1008 at the cap; the room keeps every message', async () => {
  const before = await slowClosed();
  const sender = await new SignalingClient({ url: server.wsUrl, WebSocket, timeoutMs: 20_000 }).connect();
  await sender.join('sio-slow');
  const reader: Socket = ioClient(server.url, { transports: ['websocket'], forceNew: true, reconnection: false });
  let received = 0;
  reader.on('chat', () => { received++; });
  await new Promise((r) => reader.once('connected', r));
  await new Promise((r) => { reader.once('room-joined', r); reader.emit('join-room', { roomId: 'sio-slow' }); });
  const slow = await rawSocketIo('sio-slow');
  // Stop reading: the kernel buffers fill, then engine.io/uWS would buffer for the socket.
  (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  let gone = false;
  void sender.next('user-disconnected', (m) => m.participantId === slow.participantId, 25_000).then(() => { gone = true; }, () => {});
  const { sent, ms } = await flood(sender, 'sio-slow', () => gone);
  assert.ok(gone, `slow Socket.IO reader closed after ${sent} messages (${(ms / 1000).toFixed(1)} s)`);
  assert.ok(await waitFor(() => received === sent, 10_000), `the reading Socket.IO client got all ${sent} messages (got ${received})`);
  assert.is(await slowClosed(), before + 1, 'counted in meetcore_signaling_slow_closed_total{transport="socket.io"}');
  // Reading again, the client gets what was buffered and then the close frame.
  (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
  const c = await slow.closed;
  assert.is(c.code, 1008);
  assert.match(c.reason, /slow reader/);
  const chats = slow.events.filter((e) => e[0] === 'chat').map((e) => Number(String(e[1].text).split(' ')[0]));
  assert.ok(chats.length > 0 && chats.every((n, i) => n === i), `what reached the slow client is in order without gaps (${chats.length})`);
  const after = new Promise<{ text: string }>((r) => reader.once('chat', r));
  sender.chat('sio-slow', 'after the drop');
  assert.is((await after).text, 'after the drop');
  reader.disconnect();
  sender.close();
});

test('polling transport: a session that stops polling is discarded once its pending packets pass the cap; a polling reader stays', async () => {
  const before = await slowClosed();
  const sender = await new SignalingClient({ url: server.wsUrl, WebSocket }).connect();
  await sender.join('poll-slow');
  const reader: Socket = ioClient(server.url, { transports: ['polling'], forceNew: true, reconnection: false });
  let received = 0;
  reader.on('chat', () => { received++; });
  await new Promise((r) => reader.once('connected', r));
  await new Promise((r) => { reader.once('room-joined', r); reader.emit('join-room', { roomId: 'poll-slow' }); });
  const slow = await rawPolling('poll-slow');
  const gone = sender.next('user-disconnected', (m) => m.participantId === slow.participantId, 10_000);
  // 100 × ~2 KB = ~200 KB for a client that never polls again (cap 64 KiB); 20 per 100 ms for the reader.
  const text = 'z'.repeat(1900);
  let sent = 0;
  for (let round = 0; round < 5; round++) {
    for (let i = 0; i < 20; i++) sender.chat('poll-slow', `${sent++} ${text}`);
    await sleep(100);
  }
  assert.is((await gone).participantId, slow.participantId, 'the room is told');
  assert.is(await slowClosed(), before + 1, 'counted in meetcore_signaling_slow_closed_total{transport="socket.io"}');
  const late = await slow.poll();
  assert.is(late.status, 400, 'the session is gone');
  assert.equal(late.body, { code: 1, message: 'Session ID unknown' });
  assert.ok(await waitFor(() => received === sent, 10_000), `the polling reader got all ${sent} messages (got ${received})`);
  assert.ok(reader.connected, 'the polling reader is still connected');
  reader.disconnect();
  sender.close();
});

test.run();
