/**
 * A repeated `join-room` for a room the socket is already in is a cheap no-op reply: no chat history, no
 * participant list, nothing told to the room (issue case 8: 65 KiB in became 436 MiB out); and a socket may be
 * in at most WS_MAX_ROOMS_PER_SOCKET rooms.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { io as ioClient } from 'socket.io-client';
import { SignalingClient, SignalingClientError } from '../../src/client/index.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;

test.before(async () => {
  server = await startTestServer({ WS_MAX_ROOMS_PER_SOCKET: '3', WS_RATE_PER_SEC: '1000', WS_RATE_BURST: '1000' });
});
test.after(async () => { await server.stop(); });

test('50 repeated joins: 50 small replies, no history, the room is told nothing', async () => {
  const other = await new SignalingClient({ url: server.wsUrl, WebSocket }).connect();
  await other.join('busy');
  for (let i = 0; i < 50; i++) other.chat('busy', `history line ${i} `.padEnd(1000, '.'));
  await other.next('chat', (m) => String(m.text).startsWith('history line 49'));
  let toldOther = 0;
  other.on('*', (m) => { if (m.type !== 'heartbeat') toldOther++; });

  const raw = new WebSocket(`${server.wsUrl}/ws`, 'meetcore.json');
  const replies: any[] = [];
  let bytesIn = 0;
  raw.on('message', (d: Buffer) => { bytesIn += d.length; replies.push(JSON.parse(d.toString())); });
  await new Promise((r) => raw.once('open', r));
  raw.send(JSON.stringify({ type: 'join-room', roomId: 'busy', rid: 'first' }));
  while (!replies.some((m) => m.type === 'room-participants')) await new Promise((r) => setTimeout(r, 20));
  const first = replies.find((m) => m.rid === 'first');
  assert.is(first.chat.length, 50, 'the first join gets the history');
  await new Promise((r) => setTimeout(r, 100));
  toldOther = 0;
  const before = bytesIn, count = replies.length;
  for (let i = 0; i < 50; i++) raw.send(JSON.stringify({ type: 'join-room', roomId: 'busy', rid: `again${i}` }));
  while (!replies.some((m) => m.rid === 'again49')) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 200));
  const again = replies.slice(count);
  assert.is(again.length, 50, 'one reply per repeated join, nothing else');
  for (const m of again) {
    assert.is(m.type, 'room-joined');
    assert.is(m.alreadyJoined, true);
    assert.is(m.chat, undefined);
  }
  assert.ok(bytesIn - before < 50 * 200, `${bytesIn - before} bytes out for 50 repeated joins`);
  assert.is(toldOther, 0, 'the room was not re-told');
  raw.close();
  other.close();
});

test('at most WS_MAX_ROOMS_PER_SOCKET rooms per socket (/ws and Socket.IO)', async () => {
  const c = await new SignalingClient({ url: server.wsUrl, WebSocket }).connect();
  try {
    for (const r of ['r1', 'r2', 'r3']) await c.join(r);
    const err = await c.join('r4').then(() => null, (e: SignalingClientError) => e);
    assert.is(err?.code, 'bad_request');
    assert.match(err!.message, /at most 3 rooms/);
    await c.leave('r1');
    await c.join('r4');
  } finally {
    c.close();
  }
  const s = ioClient(server.url, { transports: ['websocket'], forceNew: true, reconnection: false });
  try {
    await new Promise((r) => s.once('connected', r));
    for (const r of ['s1', 's2', 's3']) {
      const ok = new Promise((res) => s.once('room-joined', res));
      s.emit('join-room', { roomId: r });
      await ok;
    }
    const refused = new Promise<any>((res) => s.once('error', res));
    s.emit('join-room', { roomId: 's4' });
    assert.is((await refused).code, 'bad_request');
  } finally {
    s.disconnect();
  }
});

test.run();
