/**
 * Events named like Object.prototype's members (`constructor`, `toString`, `valueOf`, `hasOwnProperty`,
 * `__proto__`) with a plain argument, sent as attackers would: from socket.io-client v4, from socket.io-client v2
 * (the `socket.io-client-v2` package) and as raw engine.io polling packets. Each one is answered to its sender
 * with `unknown_type` (event and ack), the server stays up, logs no handler failure, and a room of other clients
 * (Socket.IO and /ws) keeps relaying.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createRequire } from 'node:module';
import WebSocket from 'ws';
import { SignalingClient } from '../../src/client/index.js';
import { http, startTestServer, type TestServer } from '../helpers/server.js';
import { eventOf, next, pollingSession, sioClients } from '../helpers/sio.js';

const NAMES = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', '__proto__'];

let server: TestServer;
const clients = sioClients(() => server.url);

test.before(async () => { server = await startTestServer(); });
test.after.each(() => clients.disconnectAll());
test.after(async () => { await server.stop(); });

/** The server answers /health and logged no failed handler; a room of a Socket.IO and a /ws client relays chat. */
async function stillServing(room: string): Promise<void> {
  assert.is(server.proc.exitCode, null, 'the server process is still running');
  assert.is((await http('GET', `${server.url}/health`)).status, 200);
  assert.not.ok(server.logs.some((l) => l.msg === 'Socket.IO event handler failed'), 'no handler threw');
  const a = await clients.connect();
  const b = await new SignalingClient({ url: server.wsUrl, WebSocket }).connect();
  try {
    await a.socket.timeout(2000).emitWithAck('join-room', room);
    await b.join(room);
    const got = b.next('chat');
    a.socket.emit('chat', room, 'still here');
    assert.is((await got).text, 'still here');
  } finally {
    b.close();
  }
}

const unknownType = (name: string) => ({ type: 'error', code: 'unknown_type', message: `unknown type ${JSON.stringify(name)}` });

test('socket.io-client v4: prototype-named events get unknown_type; the server stays up', async () => {
  const { socket } = await clients.connect();
  for (const name of NAMES) {
    const err = next(socket, 'error');
    socket.emit(name, 'x');
    assert.equal(await err, { code: 'unknown_type', message: `unknown type ${JSON.stringify(name)}` }, name);
    assert.equal(await socket.timeout(2000).emitWithAck(name, 'x'), unknownType(name), `${name} with an ack`);
  }
  await stillServing('proto-v4');
});

test('socket.io-client v2: prototype-named events get unknown_type; the server stays up', async () => {
  const require = createRequire(import.meta.url);
  const ioV2 = require('socket.io-client-v2') as (url: string, opts: object) => any;
  const socket = ioV2(server.url, { transports: ['websocket'], forceNew: true, reconnection: false });
  try {
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('v2 client: no "connected" within 5 s')), 5000);
      socket.once('connected', () => { clearTimeout(t); resolve(); });
    });
    for (const name of NAMES) {
      const err = new Promise<unknown>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`v2 client: no "error" for ${name} within 5 s`)), 5000);
        socket.once('error', (e: unknown) => { clearTimeout(t); resolve(e); });
      });
      socket.emit(name, 'x');
      assert.equal(await err, { code: 'unknown_type', message: `unknown type ${JSON.stringify(name)}` }, name);
      const acked = await new Promise<unknown>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`v2 client: no ack for ${name} within 5 s`)), 5000);
        socket.emit(name, 'x', (res: unknown) => { clearTimeout(t); resolve(res); });
      });
      assert.equal(acked, unknownType(name), `${name} with an ack`);
    }
  } finally {
    socket.close();
  }
  await stillServing('proto-v2');
});

test('raw polling: 42["constructor","x"] and the other names get unknown_type; the server stays up', async () => {
  const s = await pollingSession(server.url);
  for (const name of NAMES) {
    assert.is(await s.send(`42${JSON.stringify([name, 'x'])}`), 200);
    const read = await s.receiveUntil((p) => eventOf(p)?.event === 'error');
    assert.equal(read.map(eventOf).find((e) => e?.event === 'error')?.arg, { code: 'unknown_type', message: `unknown type ${JSON.stringify(name)}` }, name);
    // With an ack id: the ack packet `437[…]` carries the error.
    assert.is(await s.send(`427${JSON.stringify([name, 'x'])}`), 200);
    const acked = await s.receiveUntil((p) => p.startsWith('437['));
    assert.equal(JSON.parse(acked.find((p) => p.startsWith('437['))!.slice(3)), [unknownType(name)], `${name} with an ack`);
  }
  // Several in one POST, as a flood would send them, then a heartbeat that still gets its ack.
  assert.is(await s.send(...NAMES.map((n) => `42${JSON.stringify([n, 'x'])}`), '428["heartbeat"]'), 200);
  const read = await s.receiveUntil((p) => p.startsWith('438['));
  assert.is(JSON.parse(read.find((p) => p.startsWith('438['))!.slice(3))[0].type, 'heartbeat');
  await stillServing('proto-polling');
});

test.run();
