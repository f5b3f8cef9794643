/**
 * What an HTTP/1.0 client gets from meetcore directly (README "Deploying on a VPS"): uWebSockets.js speaks
 * HTTP/1.1 only and answers `505 HTTP Version Not Supported` with `Connection: close`, then closes the
 * connection, at once and whatever the request asked (keep-alive, a body). Not a hang, and the server goes on
 * serving HTTP/1.1. Behind the README's nginx example HTTP/1.0 clients are served (test/deploy/nginx.test.ts).
 */
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
test.before(async () => { server = await startTestServer(); });
test.after(async () => { await server.stop(); });

/** Write `request` on a TCP connection and read until the server closes it; rejects after 3 s. */
function exchange(request: string): Promise<{ reply: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const s = net.connect(server.port, '127.0.0.1', () => s.write(request));
    let reply = '';
    s.setEncoding('latin1');
    s.on('data', (d) => { reply += d; });
    s.on('close', () => resolve({ reply, ms: Date.now() - started }));
    s.on('error', reject);
    s.setTimeout(3000, () => { s.destroy(); reject(new Error(`connection still open after 3 s; got ${JSON.stringify(reply)}`)); });
  });
}

test('an HTTP/1.0 request gets a clean 505 with Connection: close, and the connection is closed', async () => {
  const requests = [
    'GET /health HTTP/1.0\r\n\r\n',
    'GET /health HTTP/1.0\r\nHost: meet.example.com\r\nConnection: keep-alive\r\n\r\n',
    'POST /auth/login HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}',
  ];
  for (const request of requests) {
    const { reply, ms } = await exchange(request);
    assert.match(reply, /^HTTP\/1\.1 505 HTTP Version Not Supported\r\n/, request);
    assert.match(reply, /\r\nConnection: close\r\n/i, request);
    assert.ok(ms < 3000, `${request}: closed after ${ms} ms`)
  }
  const after = await fetch(`${server.url}/health`);
  assert.is(after.status, 200);
  assert.equal(server.logs.filter((l) => typeof l.level === 'number' && l.level >= 50), []);
});

test.run();
