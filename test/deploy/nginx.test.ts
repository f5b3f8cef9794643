/**
 * The README's nginx example ("Deploying on a VPS"), run for real: the ```nginx block is read from README.md,
 * its certificate paths, listen port and upstream port replaced (a self-signed certificate made by openssl, a
 * free loopback port, the test server's port), and nginx runs it in front of a meetcore test server with
 * METRICS_LOCAL_ONLY=true. Through it: register and log in over HTTPS, a /ws room joined with the token over
 * wss://, a Socket.IO client, /metrics refused as forwarded (while a direct scrape is served), and an HTTP/1.0
 * request served (meetcore alone answers HTTP/1.0 with 505: test/server/http-version.test.ts). The same block
 * without `proxy_http_version 1.1` gets that 505 for every request, which is why the README sets it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { io } from 'socket.io-client';
import { SignalingClient } from '../../src/client/index.js';
import { requireTools } from '../helpers/requires.js';
import { ROOT, startTestServer, type TestServer } from '../helpers/server.js';

requireTools(['nginx', 'openssl'], 'apt-get install -y --no-install-recommends nginx openssl');

const NAME = 'meet.example.com';
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'meetcore-nginx-'));
const cert = path.join(work, 'cert.pem');
const key = path.join(work, 'key.pem');
let ca: string;
let server: TestServer;
const proxies: { proc: ChildProcess; port: number; stderr: () => string }[] = [];

/** The ```nginx block of README.md's "Deploying on a VPS" section. */
function readmeBlock(): string {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Deploying on a VPS'), readme.indexOf('## Deploying coturn beside meetcore'));
  const m = /```nginx\n([\s\S]*?)```/.exec(section);
  assert.ok(m, 'README "Deploying on a VPS" has no ```nginx block');
  return m![1]!;
}

/** Replace `from` (which must occur exactly once) by `to`. */
function swap(text: string, from: string, to: string): string {
  assert.is(text.split(from).length - 1, 1, `the README's nginx block should contain ${JSON.stringify(from)} once`);
  return text.replace(from, to);
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as net.AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/**
 * Run nginx with the README block (adapted as described above, then `edit`) inside a minimal nginx.conf, in
 * front of `upstreamPort` (default: the meetcore test server).
 * @returns its HTTPS port once it accepts connections.
 */
async function startNginx(name: string, edit: (block: string) => string = (b) => b, upstreamPort = server.port): Promise<number> {
  const port = await freePort();
  let block = readmeBlock();
  block = swap(block, 'listen 443 ssl;', `listen 127.0.0.1:${port} ssl;`);
  block = swap(block, `/etc/letsencrypt/live/${NAME}/fullchain.pem`, cert);
  block = swap(block, `/etc/letsencrypt/live/${NAME}/privkey.pem`, key);
  block = swap(block, 'proxy_pass http://127.0.0.1:3001;', `proxy_pass http://127.0.0.1:${upstreamPort};`);
  block = edit(block);
  const dir = path.join(work, name);
  fs.mkdirSync(dir);
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `${t}_temp_path ${path.join(dir, t)};`).join('\n  ');
  const conf = path.join(dir, 'nginx.conf');
  // One process (no workers changing user): root may run it in a temporary folder.
  fs.writeFileSync(conf, `daemon off;\nmaster_process off;\npid ${path.join(dir, 'nginx.pid')};\nerror_log stderr warn;\n`
    + `events { worker_connections 256; }\nhttp {\n  access_log off;\n  ${temp}\n${block}\n}\n`);
  const check = spawnSync('nginx', ['-t', '-p', dir, '-c', conf], { encoding: 'utf8' });
  assert.is(check.status, 0, `nginx -t refused the README block:\n${check.stderr}`);
  const proc = spawn('nginx', ['-p', dir, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  proxies.push({ proc, port, stderr: () => stderr });
  for (let i = 0; i < 100; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (up) return port;
    if (proc.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nginx did not listen on ${port}:\n${stderr}`);
}

/** An HTTPS request to nginx trusting the test certificate; returns status, headers and the parsed body. */
async function through(port: number, method: string, urlPath: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string>; body: any }> {
  const { request } = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port, path: urlPath, method, ca, servername: NAME,
      headers: { host: NAME, ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { text += d; });
      res.on('end', () => {
        let parsed: unknown = text;
        try { parsed = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode!, headers: res.headers as Record<string, string>, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** Write `request` on a TLS connection to nginx and read everything until the peer closes. */
function rawTls(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca, servername: NAME }, () => s.write(request));
    let text = '';
    s.setEncoding('utf8');
    s.on('data', (d) => { text += d; });
    s.on('end', () => resolve(text));
    s.on('error', reject);
    s.setTimeout(5000, () => { s.destroy(); reject(new Error(`no end of reply within 5 s; got ${JSON.stringify(text)}`)); });
  });
}

test.before(async () => {
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', `/CN=${NAME}`,
    '-addext', `subjectAltName=DNS:${NAME},IP:127.0.0.1`, '-keyout', key, '-out', cert], { encoding: 'utf8' });
  assert.is(made.status, 0, made.stderr);
  ca = fs.readFileSync(cert, 'utf8');
  server = await startTestServer({ METRICS_LOCAL_ONLY: 'true' });
});

test.after(async () => {
  for (const p of proxies) {
    if (p.proc.exitCode === null) {
      const exited = new Promise((r) => p.proc.once('exit', r));
      p.proc.kill('SIGTERM');
      await exited;
    }
  }
  await server?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

test('through the README nginx block: login, a /ws room, Socket.IO, /metrics refused as forwarded, HTTP/1.0 served', async () => {
  const port = await startNginx('readme');
  const email = 'nginx@example.test';
  const password = 'correct horse battery staple';
  const reg = await through(port, 'POST', '/auth/register', { organization: 'Proxy Org', name: 'Proxy', email, password });
  assert.is(reg.status, 201, JSON.stringify(reg.body));
  const login = await through(port, 'POST', '/auth/login', { email, password });
  assert.is(login.status, 200, JSON.stringify(login.body));
  assert.is(login.headers['cache-control'], 'no-store');
  const token: string = login.body.accessToken;
  const me = await through(port, 'GET', '/auth/me', undefined, { authorization: `Bearer ${token}` });
  assert.is(me.status, 200);
  assert.is(me.body.user.email, email);

  // /ws: the upgrade passes nginx (Upgrade and Connection headers), the token rides in ?token=.
  class TrustingWebSocket extends WebSocket {
    constructor(url: string, protocols?: string | string[]) { super(url, protocols, { ca, headers: { host: NAME } }); }
  }
  const a = await new SignalingClient({ url: `wss://127.0.0.1:${port}`, WebSocket: TrustingWebSocket, token }).connect();
  const b = await new SignalingClient({ url: `wss://127.0.0.1:${port}`, WebSocket: TrustingWebSocket }).connect();
  try {
    await a.join('proxied-room', 'Ana');
    const joinedB = await b.join('proxied-room', 'Bea');
    assert.is(joinedB.participants.length, 2);
  } finally {
    a.close();
    b.close();
  }

  // Socket.IO: polling handshake, then the websocket upgrade, both through nginx.
  const socket = io(`https://127.0.0.1:${port}`, { ca, reconnection: false, forceNew: true });
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', () => resolve());
      socket.once('connect_error', reject);
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('Socket.IO did not upgrade to websocket through nginx in 10 s')), 10_000);
      const check = () => { if (socket.io.engine.transport.name === 'websocket') { clearTimeout(timer); resolve(); } };
      socket.io.engine.on('upgrade', check);
      check();
    });
  } finally {
    socket.close();
  }

  // METRICS_LOCAL_ONLY: nginx connects from 127.0.0.1, but its X-Forwarded-For marks the request as proxied.
  const metrics = await through(port, 'GET', '/metrics');
  assert.is(metrics.status, 403, JSON.stringify(metrics.body).slice(0, 200));
  assert.match(metrics.body.error.message, /forwarded by a proxy: x-forwarded-for/);
  const direct = await fetch(`${server.url}/metrics`);
  assert.is(direct.status, 200);

  // An HTTP/1.0 client is served: nginx talks HTTP/1.1 to meetcore.
  const old = await rawTls(port, `GET /health HTTP/1.0\r\nHost: ${NAME}\r\n\r\n`);
  assert.match(old, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(old, /"status":"ok"/);
  assert.is(proxies[0]!.stderr().match(/\[(emerg|alert|crit|error)\]/g), null, proxies[0]!.stderr());
});

test('the block forwards what RFC 6455 asks of an upgrade, over HTTP/1.1, with X-Forwarded-For', async () => {
  // uWebSockets.js upgrades on Sec-WebSocket-Key alone, so meetcore would not notice a missing Upgrade or
  // Connection header; a plain HTTP upstream records what nginx really sends.
  const seen: http.IncomingMessage[] = [];
  const upstream = http.createServer((req, res) => { seen.push(req); res.end('ok'); });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  try {
    const port = await startNginx('headers', undefined, (upstream.address() as net.AddressInfo).port);
    const key = 'dGhlIHNhbXBsZSBub25jZQ==';
    await through(port, 'GET', '/ws', undefined, { upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-key': key, 'sec-websocket-version': '13' });
    await through(port, 'GET', '/health');
    assert.is(seen.length, 2);
    const [upgrade, plain] = seen as [http.IncomingMessage, http.IncomingMessage];
    assert.is(upgrade.httpVersion, '1.1');
    assert.is(upgrade.headers.upgrade, 'websocket');
    assert.is(upgrade.headers.connection, 'upgrade');
    assert.is(upgrade.headers['sec-websocket-key'], key);
    assert.is(upgrade.headers.host, NAME);
    assert.is(upgrade.headers['x-forwarded-for'], '127.0.0.1');
    assert.is(upgrade.headers['x-forwarded-proto'], 'https');
    assert.is(plain.httpVersion, '1.1');
    assert.is(plain.headers.connection, 'close');
    assert.is(plain.headers.upgrade, undefined);
  } finally {
    await new Promise((resolve) => upstream.close(resolve));
  }
});

test('the same block without proxy_http_version 1.1 gets 505 from meetcore for every request', async () => {
  const port = await startNginx('http10', (block) => swap(block, 'proxy_http_version 1.1;', ''));
  const r = await through(port, 'GET', '/health');
  assert.is(r.status, 505);
});

test.run();
