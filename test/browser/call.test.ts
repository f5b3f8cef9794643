/**
 * Two real browsers (headless Debian chromium through playwright-core, fake camera and microphone) open the
 * built-in call page, join one room through meetcore's /ws signaling and reach RTCPeerConnection
 * "connected" with media flowing (inbound-rtp bytesReceived growing): once directly (host candidates), once
 * forced through a real coturn (iceTransportPolicy "relay", TURN REST credentials from meetcore). The page's
 * chat and the room's QR code are checked on the way.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { http, startTestServer, type TestServer } from '../helpers/server.js';
import { coturnAvailable, startCoturn, type Coturn } from '../turn/coturn.js';
import { requireTools } from '../helpers/requires.js';

requireTools(['chromium', 'turnserver', 'turnutils_uclient', 'turnutils_peer'], 'apt-get install -y --no-install-recommends chromium coturn');

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless=new', '--no-sandbox', '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', '--disable-gpu',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
];
const SECRET = 'browser-test-turn-secret';

let server: TestServer;
let turn: Coturn;
const browsers: { context: BrowserContext; dir: string }[] = [];

/** A separate chromium process with a new, empty user-data-dir. */
async function browser(): Promise<Page> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meetcore-chromium-'));
  const context = await chromium.launchPersistentContext(dir, { executablePath: CHROMIUM, headless: true, args: ARGS, ignoreDefaultArgs: ['--headless'] });
  browsers.push({ context, dir });
  const page = context.pages()[0] ?? await context.newPage();
  page.on('pageerror', (err) => console.error('page error:', err.message));
  return page;
}

interface PeerReport {
  connectionState: string;
  /** inbound-rtp bytesReceived summed over audio and video. */
  bytes: { audio: number; video: number };
  /** Candidate types of the selected pair ("host", "srflx", "relay"). */
  local: string | null;
  remote: string | null;
  /** For a relay candidate: the TURN server URL it was allocated on. */
  localUrl: string | null;
}

/** The page's only peer connection: state, received bytes and the selected candidate pair. */
function report(page: Page): Promise<PeerReport> {
  return page.evaluate(async () => {
    const peers = (window as unknown as { meetcoreCall: { peers: Map<string, { pc: RTCPeerConnection }> } }).meetcoreCall.peers;
    const peer = [...peers.values()][0];
    if (!peer) return { connectionState: 'none', bytes: { audio: 0, video: 0 }, local: null, remote: null, localUrl: null };
    const stats = await peer.pc.getStats();
    const bytes = { audio: 0, video: 0 };
    let pairId: string | null = null;
    const byId = new Map<string, Record<string, unknown>>();
    stats.forEach((s: Record<string, unknown>) => {
      byId.set(s.id as string, s);
      if (s.type === 'inbound-rtp') bytes[s.kind as 'audio' | 'video'] += Number(s.bytesReceived ?? 0);
      if (s.type === 'transport' && s.selectedCandidatePairId) pairId = s.selectedCandidatePairId as string;
    });
    const pair = pairId ? byId.get(pairId) : undefined;
    const local = pair ? byId.get(pair.localCandidateId as string) : undefined;
    const remote = pair ? byId.get(pair.remoteCandidateId as string) : undefined;
    return {
      connectionState: peer.pc.connectionState, bytes,
      local: (local?.candidateType as string | undefined) ?? null, remote: (remote?.candidateType as string | undefined) ?? null,
      localUrl: (local?.url as string | undefined) ?? null,
    };
  });
}

async function waitConnected(page: Page): Promise<void> {
  await page.waitForFunction(() => {
    const peers = (window as unknown as { meetcoreCall?: { peers: Map<string, { pc: RTCPeerConnection }> } }).meetcoreCall?.peers;
    return peers?.size === 1 && [...peers.values()][0]!.pc.connectionState === 'connected';
  }, undefined, { timeout: 20_000 });
}

/** Two pages join `roomId` (with `query`), connect, and each receives growing audio and video bytes. */
async function call(roomId: string, query: string): Promise<[PeerReport, PeerReport]> {
  const [a, b] = [await browser(), await browser()];
  await a.goto(`${server.url}/participant/${roomId}?name=Ana&autojoin=1${query}`);
  await a.waitForFunction(() => (window as unknown as { meetcoreCall: { joined: boolean } }).meetcoreCall.joined, undefined, { timeout: 10_000 });
  await b.goto(`${server.url}/participant/${roomId}?name=Bruno&autojoin=1${query}`);
  await Promise.all([waitConnected(a), waitConnected(b)]);
  const first = await Promise.all([report(a), report(b)]);
  // Media keeps arriving: bytesReceived grows on both sides, for audio and for video.
  const deadline = Date.now() + 10_000;
  let last = first;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 500));
    last = await Promise.all([report(a), report(b)]);
    if (last.every((r, i) => r.bytes.audio > first[i]!.bytes.audio && r.bytes.video > first[i]!.bytes.video)) break;
  }
  for (const [i, r] of last.entries()) {
    assert.is(r.connectionState, 'connected');
    assert.ok(r.bytes.audio > first[i]!.bytes.audio, `audio bytes grow on page ${i}: ${first[i]!.bytes.audio} → ${r.bytes.audio}`);
    assert.ok(r.bytes.video > first[i]!.bytes.video, `video bytes grow on page ${i}: ${first[i]!.bytes.video} → ${r.bytes.video}`);
  }
  // Chat through the page: Ana types, Bruno's log shows it.
  await a.fill('#chatInput', 'hello from Ana');
  await a.click('#chatForm button');
  await b.waitForFunction(() => document.getElementById('chatlog')!.textContent!.includes('Ana: hello from Ana'), undefined, { timeout: 5000 });
  return last as [PeerReport, PeerReport];
}

async function closeBrowsers(): Promise<void> {
  for (const { context, dir } of browsers.splice(0)) {
    await context.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test.before(async () => {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install chromium`);
  if (!coturnAvailable()) throw new Error('turnserver not found: apt-get install coturn');
  turn = await startCoturn({ secret: SECRET, allowLoopbackPeers: true });
  // No public STUN server (the browsers must not try the network); TURN is the local coturn.
  server = await startTestServer({ STUN_SERVERS: '[]', TURN_URLS: `turn:127.0.0.1:${turn.port}?transport=udp`, TURN_SECRET: SECRET });
});
test.after.each(closeBrowsers);
test.after(async () => {
  await closeBrowsers();
  await server?.stop();
  await turn?.stop();
});

test('the page is served at / and /participant/:roomId with its script and a CSP', async () => {
  for (const p of ['/', '/participant/some-room']) {
    const r = await fetch(`${server.url}${p}`);
    assert.is(r.status, 200);
    assert.match(r.headers.get('content-type')!, /^text\/html/);
    assert.match(r.headers.get('content-security-policy')!, /script-src 'self'/);
    assert.match(await r.text(), /<script src="\/web\/app.js">/);
  }
  const js = await fetch(`${server.url}/web/app.js`);
  assert.is(js.status, 200);
  assert.match(js.headers.get('content-type')!, /^text\/javascript/);
});

test('lobby: "New room" creates a room through POST /api/rooms and opens its join link with a QR code', async () => {
  const page = await browser();
  await page.goto(server.url);
  await page.click('#create');
  await page.waitForURL(/\/participant\/rm_[A-Za-z0-9_-]+$/, { timeout: 10_000 });
  const roomId = decodeURIComponent(new URL(page.url()).pathname.split('/').pop()!);
  const stored = await http('GET', `${server.url}/api/rooms/${roomId}`);
  assert.is(stored.status, 200);
  assert.is(await page.textContent('#joinLink'), `${server.url}/participant/${roomId}`);
});

test('two browsers call each other directly (host candidates) with audio and video flowing', async () => {
  const [a, b] = await call('direct-call', '');
  for (const r of [a, b]) assert.is(r.local, 'host', JSON.stringify(r));
  // Both peers are in the room as meetcore sees it.
  const room = await http('GET', `${server.url}/api/rooms/direct-call`);
  assert.is(room.body.participantCount, 2);
});

test('two browsers call each other through coturn only (iceTransportPolicy "relay")', async () => {
  const [a, b] = await call('relayed-call', '&relay=1');
  for (const r of [a, b]) assert.is(r.local, 'relay', JSON.stringify(r));
  // The relay candidates were allocated on this coturn, with the credentials meetcore handed out.
  for (const r of [a, b]) assert.is(r.localUrl, `turn:127.0.0.1:${turn.port}?transport=udp`);
});

test.run();
