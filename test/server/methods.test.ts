/**
 * HEAD and 405 with the real server process: every GET route answers HEAD (same status and headers, the GET
 * body's Content-Length, no body), a known path asked with another method answers 405 with `Allow`, unknown
 * paths stay 404, and the WebSocket / Socket.IO endpoints (upgrades, polling POSTs) and the CORS preflight
 * keep working next to the fallback.
 */
import net from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { io as ioClient } from 'socket.io-client';
import { http, startTestServer, type TestServer } from '../helpers/server.js';
import { apiAccount } from '../helpers/sessions.js';

let server: TestServer;
let cors: TestServer;
const ORIGIN = 'https://app.example.com';

test.before(async () => {
  [server, cors] = await Promise.all([startTestServer(), startTestServer({ CORS_ORIGINS: ORIGIN })]);
});
test.after(async () => { await Promise.all([server.stop(), cors.stop()]); });

/**
 * Send raw HTTP/1.1 requests pipelined on one connection and return every byte the server sent within
 * `ms`: a HEAD answer that carried a body would show up between the two status lines.
 */
function rawExchange(port: number, requests: string[], ms = 400): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => sock.write(requests.map((r) => `${r} HTTP/1.1\r\nHost: x\r\n\r\n`).join('')));
    let out = '';
    sock.on('data', (d) => { out += d.toString('latin1'); });
    sock.on('error', reject);
    setTimeout(() => { sock.destroy(); resolve(out); }, ms);
  });
}

/** Split a raw pipelined answer into responses: status line, lower-case headers, and the bytes after the header block up to the next response. */
function splitResponses(raw: string): { status: string; headers: Record<string, string>; rest: string }[] {
  return raw.split(/(?=HTTP\/1\.1 \d{3} )/).filter(Boolean).map((part) => {
    const end = part.indexOf('\r\n\r\n');
    const [status, ...lines] = part.slice(0, end).split('\r\n');
    const headers: Record<string, string> = {};
    for (const l of lines) { const i = l.indexOf(':'); headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim(); }
    return { status: status!, headers, rest: part.slice(end + 4) };
  });
}

test('HEAD /health: 200, same Content-Type as GET, a Content-Length, no body', async () => {
  const get = await fetch(`${server.url}/health`);
  const getBody = await get.text();
  const head = await fetch(`${server.url}/health`, { method: 'HEAD' });
  assert.is(head.status, 200);
  assert.is(head.headers.get('content-type'), get.headers.get('content-type'));
  assert.is(head.headers.get('content-type'), 'application/json');
  assert.is(await head.text(), '');
  // The body holds a timestamp and an uptime: its length may differ by a digit between the two requests.
  assert.ok(Math.abs(Number(head.headers.get('content-length')) - Buffer.byteLength(getBody)) <= 2, `content-length ${head.headers.get('content-length')} vs ${getBody.length}`);

  // On the wire: no body bytes follow the HEAD answer (the pipelined GET's status line comes right after).
  const [h, g] = splitResponses(await rawExchange(server.port, ['HEAD /health', 'GET /health']));
  assert.is(h!.status, 'HTTP/1.1 200 OK');
  assert.is(h!.rest, '', 'bytes after the HEAD header block');
  assert.is(g!.status, 'HTTP/1.1 200 OK');
  assert.is(JSON.parse(g!.rest).status, 'ok');
});

test('HEAD on parametrized GET routes: the GET status and headers, exact Content-Length, no body', async () => {
  const page = `${server.url}/participant/some-room`;
  const get = await fetch(page);
  const body = Buffer.from(await get.arrayBuffer());
  const head = await fetch(page, { method: 'HEAD' });
  assert.is(head.status, 200);
  for (const h of ['content-type', 'content-security-policy', 'cache-control', 'x-content-type-options']) assert.is(head.headers.get(h), get.headers.get(h), h);
  assert.is(Number(head.headers.get('content-length')), body.length);
  assert.is(await head.text(), '');

  // An error of a parametrized JSON route keeps its status: 404 for an unknown room, without the body.
  const getRoom = await http('GET', `${server.url}/api/rooms/no-such-room`);
  assert.is(getRoom.status, 404);
  const [h] = splitResponses(await rawExchange(server.port, ['HEAD /api/rooms/no-such-room', 'GET /health']));
  assert.is(h!.status, 'HTTP/1.1 404 Not Found');
  assert.is(h!.headers['content-type'], 'application/json');
  assert.is(Number(h!.headers['content-length']), Buffer.byteLength(JSON.stringify(getRoom.body)));
  assert.is(h!.rest, '');

  // A JSON reply written from several pieces (the meeting list, src/http/sessions.ts): the length of them all.
  const auth = (await apiAccount(server)).headers;
  const list = Buffer.from(await (await fetch(`${server.url}/api/sessions`, { headers: auth })).arrayBuffer());
  const listHead = await fetch(`${server.url}/api/sessions`, { method: 'HEAD', headers: auth });
  assert.is(listHead.status, 200);
  assert.is(Number(listHead.headers.get('content-length')), list.length);
  assert.is(await listHead.text(), '');
});

test('POST /health → 405 with Allow: GET, HEAD and a JSON error', async () => {
  const r = await http('POST', `${server.url}/health`, { x: 1 });
  assert.is(r.status, 405);
  assert.is(r.headers.get('allow'), 'GET, HEAD');
  assert.is(r.body.error.code, 'method_not_allowed');
  assert.type(r.body.error.message, 'string');
  const del = await http('DELETE', `${server.url}/participant/abc`);
  assert.is(del.status, 405);
  assert.is(del.headers.get('allow'), 'GET, HEAD');
});

test('GET on a POST-only route → 405 Allow: POST (HEAD too, without a body)', async () => {
  const r = await http('GET', `${server.url}/auth/login`);
  assert.is(r.status, 405);
  assert.is(r.headers.get('allow'), 'POST');
  assert.is(r.body.error.code, 'method_not_allowed');
  const [h] = splitResponses(await rawExchange(server.port, ['HEAD /auth/login', 'GET /health']));
  assert.is(h!.status, 'HTTP/1.1 405 Method Not Allowed');
  assert.is(h!.headers.allow, 'POST');
  assert.is(h!.rest, '');
});

test('unknown paths stay 404 with every method', async () => {
  // Near misses of known patterns too: a trailing slash, an empty or an extra segment for a `:param`.
  for (const path of ['/no/such/route', '/health/', '/participant/', '/participant/a/b', '/auth/login/x']) {
    for (const method of ['GET', 'POST', 'DELETE']) {
      const r = await http(method, `${server.url}${path}`);
      assert.is(r.status, 404, `${method} ${path}`);
      assert.is(r.body.error.code, 'not_found');
      assert.is(r.headers.get('allow'), null);
    }
  }
  const head = await fetch(`${server.url}/no/such/route`, { method: 'HEAD' });
  assert.is(head.status, 404);
  assert.is(await head.text(), '');
});

test('Socket.IO polling (handshake GET, then POSTs) and a /ws upgrade still work', async () => {
  const hs = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`);
  assert.is(hs.status, 200);
  const text = await hs.text();
  assert.match(text, /^0\{"sid":"/);
  const sid = (JSON.parse(text.slice(1)) as { sid: string }).sid;
  const post = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body: '40', headers: { 'content-type': 'text/plain;charset=UTF-8' } });
  assert.is(post.status, 200);
  assert.is(await post.text(), 'ok');

  // A full client restricted to long-polling: its events travel in POSTs.
  const client = ioClient(server.url, { transports: ['polling'], reconnection: false, forceNew: true });
  try {
    const hello = await new Promise<{ participantId: string; protocol: string }>((resolve, reject) => {
      client.once('connected', resolve);
      client.once('connect_error', reject);
      setTimeout(() => reject(new Error('no Socket.IO connected event in 5 s')), 5000);
    });
    assert.is(hello.protocol, 'socket.io');
  } finally {
    client.close();
  }

  const ws = new WebSocket(`${server.wsUrl}/ws`);
  try {
    const first = await new Promise<{ type: string }>((resolve, reject) => {
      ws.once('message', (d) => resolve(JSON.parse(d.toString()) as { type: string }));
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    });
    assert.is(first.type, 'connected');
  } finally {
    ws.close();
  }
  // The WebSocket paths: other methods get 405 Allow: GET; a GET without Upgrade stays 404.
  for (const path of ['/ws', '/egress-audio', '/egress-video']) {
    const r = await http('POST', `${server.url}${path}`);
    assert.is(r.status, 405, `POST ${path}`);
    assert.is(r.headers.get('allow'), 'GET');
  }
  assert.is((await http('GET', `${server.url}/ws`)).status, 404);
});

test('with CORS_ORIGINS: the preflight still answers, and a 405 carries CORS headers and OPTIONS in Allow', async () => {
  const pre = await fetch(`${cors.url}/health`, { method: 'OPTIONS', headers: { origin: ORIGIN, 'access-control-request-method': 'GET' } });
  assert.is(pre.status, 204);
  assert.is(pre.headers.get('access-control-allow-origin'), ORIGIN);
  assert.match(pre.headers.get('access-control-allow-methods') ?? '', /GET/);
  const r = await http('POST', `${cors.url}/health`, undefined, { origin: ORIGIN });
  assert.is(r.status, 405);
  assert.is(r.headers.get('allow'), 'GET, HEAD, OPTIONS');
  assert.is(r.headers.get('access-control-allow-origin'), ORIGIN);
  const head = await fetch(`${cors.url}/health`, { method: 'HEAD', headers: { origin: ORIGIN } });
  assert.is(head.status, 200);
  assert.is(head.headers.get('access-control-allow-origin'), ORIGIN);
});

test.run();
