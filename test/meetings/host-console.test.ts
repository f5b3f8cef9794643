/**
 * ┌────────────────────────────────────────────────────────────────────────────────────────────────────────┐
 * │ WRITTEN AHEAD OF THE ROUTES IT NEEDS. The test "a host watches a meeting …" fails until the server     │
 * │ provides:                                                                                              │
 * │ - `report` (a live MeetingReport, src/meetings/report.ts) in GET /feedback/debug/:meetingId, kept      │
 * │   after the streams close until the meeting ends;                                                      │
 * │ - GET /api/sessions/:meetingId/timeline.svg (bearer; image/svg+xml from src/meetings/timeline-svg.ts); │
 * │ - `{type:"meeting_report", meetingId, report}` sent to `feedback:<meetingId>` when the meeting ends    │
 * │   (room_finished), and GET /api/sessions/:meetingId/report.                                            │
 * │ The other tests (page, CSP, token handling, refused token) pass without them.                          │
 * └────────────────────────────────────────────────────────────────────────────────────────────────────────┘
 *
 * The host console (GET /host/:meetingId, src/web/host.html + host.js) end to end, in headless Debian
 * chromium through playwright-core, against the real server: an owner opens `/host/<id>#token=<access
 * token>` after LiveKit's room_started, an interruption (test/feedback/speech.test.ts) is streamed through
 * /egress-audio, and the page must show the speech_overlap feedback event, talk-share bars for both
 * participants and the timeline picture; after room_finished, "Meeting ended" with the final figures.
 * Throughout: no page error, and the token in no request URL or Referer but the /ws upgrade's `?token=`.
 * Also: on a meeting that no longer changes, the console's polls carry If-None-Match and get 304 (the report
 * and the picture are fetched and drawn once).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import type { TestAccount } from '../helpers/auth.js';
import { concat, loadFixture, silence } from '../helpers/fixtures.js';
import { STREAM_QUEUE_MS, startTestServer, type TestServer } from '../helpers/server.js';
import { requireTools } from '../helpers/requires.js';
import { SECRET } from '../egress/helpers.js';
import { API_KEY, API_SECRET, sendEvent } from '../livekit/double.js';
import { streamMeeting } from '../feedback/meeting.js';
import { apiAccount } from '../helpers/sessions.js';

requireTools(['chromium'], 'apt-get install -y --no-install-recommends chromium');

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless=new', '--no-sandbox', '--disable-gpu',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
];

let server: TestServer;
let owner: TestAccount;
let tmp: string;
let context: BrowserContext;
let n = 0;
const meeting = () => `MT_host${process.pid}_${++n}`;

const male = loadFixture('en-male');
const female = loadFixture('en-female');

/** Alice talks; Bob starts over her at 6.9 s (as test/feedback/speech.test.ts `interruption()`). */
function interruption(bobStartMs = 6900) {
  return { alice: concat(male.samples, silence(6000)), bob: concat(silence(bobStartMs - 300), female.samples.subarray(300 * 48)) };
}

test.before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'meetcore-host-console-'));
  server = await startTestServer({
    EGRESS_SECRET: SECRET, LIVEKIT_URL: 'http://127.0.0.1:9', LIVEKIT_API_KEY: API_KEY, LIVEKIT_API_SECRET: API_SECRET,
    AUTO_EGRESS: 'false', AUDIO_STREAM_QUEUE_MS: STREAM_QUEUE_MS,
  });
  // The server's first account: an owner of the first organization, which hosts the meetings of no organization here.
  owner = await apiAccount(server);
  context = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
    executablePath: CHROMIUM, headless: true, args: ARGS, ignoreDefaultArgs: ['--headless'], viewport: { width: 1280, height: 1000 },
  });
});

test.after(async () => {
  await context?.close();
  await server?.stop();
  if (tmp && !process.env.KEEP_HOST_CONSOLE) fs.rmSync(tmp, { recursive: true, force: true });
});

interface Watched {
  page: Page;
  /** Uncaught exceptions and console errors (but the browser's own "Failed to load resource" lines for 4xx replies the page handles). */
  errors: string[];
  requests: { url: string; referer: string | undefined; authorization: string | undefined }[];
  sockets: string[];
}

/** Console errors the browser itself prints for replies the page handles: a 401/404 fetch. */
const BROWSER_NOISE = [/^Failed to load resource: the server responded with a status of 40[14]/];
/** …and, for a refused token, the /ws upgrade answered 401. */
const REFUSED_SOCKET = /^WebSocket connection to '[^']*\/ws\?token=[^']*' failed: HTTP Authentication failed/;

async function open(url: string, noise: RegExp[] = BROWSER_NOISE): Promise<Watched> {
  const page = await context.newPage();
  const w: Watched = { page, errors: [], requests: [], sockets: [] };
  page.on('pageerror', (err) => w.errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !noise.some((re) => re.test(msg.text()))) w.errors.push(`console: ${msg.text()}`);
  });
  page.on('request', (req) => {
    const h = req.headers();
    w.requests.push({ url: req.url(), referer: h.referer, authorization: h.authorization });
  });
  page.on('websocket', (ws) => w.sockets.push(ws.url()));
  await page.goto(url, { waitUntil: 'load' });
  return w;
}

/** The token nowhere but in the /ws upgrade's query (the fragment of the page's own URL is never sent). */
function assertTokenKept(w: Watched, token: string): void {
  assert.ok(w.requests.length > 0);
  for (const r of w.requests) {
    assert.not.ok(r.url.split('#')[0]!.includes(token), `token in request URL ${r.url.split('#')[0]}`);
    assert.not.ok(r.referer?.includes(token), `token in the Referer of ${r.url}`);
  }
  for (const s of w.sockets) {
    const u = new URL(s);
    assert.is(u.pathname, '/ws', `socket ${u.pathname}`);
    assert.is(u.searchParams.get('token'), token, 'the /ws upgrade carries ?token=');
  }
  assert.not.ok(w.page.url().includes(token), `token left in the address bar: ${w.page.url()}`);
}

async function screenshot(page: Page, name: string): Promise<string> {
  const file = path.join(tmp, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  const bytes = fs.readFileSync(file);
  assert.equal([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
  assert.ok(bytes.length > 20_000, `${name}.png is ${bytes.length} bytes`);
  if (process.env.HOST_CONSOLE_SCREENSHOT_DIR) fs.copyFileSync(file, path.join(process.env.HOST_CONSOLE_SCREENSHOT_DIR, `${name}.png`));
  return file;
}

const shareOf = (page: Page, participantId: string) => page.$eval(`#share .share-row[data-participant="${participantId}"] .bar`, (el) => Number((el as HTMLElement).dataset.share)).catch(() => 0);

test('GET /host/:meetingId and /web/host.js: the page with the call page\'s CSP plus blob: images', async () => {
  const r = await fetch(`${server.url}/host/some-meeting`);
  assert.is(r.status, 200);
  assert.match(r.headers.get('content-type')!, /^text\/html/);
  const csp = r.headers.get('content-security-policy')!;
  assert.match(csp, /script-src 'self';/);
  assert.match(csp, /connect-src 'self';/);
  assert.match(csp, /img-src 'self' data: blob:;/);
  assert.is(r.headers.get('referrer-policy'), 'no-referrer');
  assert.match(await r.text(), /<script src="\/web\/host.js">/);
  const js = await fetch(`${server.url}/web/host.js`);
  assert.is(js.status, 200);
  assert.match(js.headers.get('content-type')!, /^text\/javascript/);
});

test('no token: the page asks for one; a refused token: the 401 is shown plainly and nothing is retried', async () => {
  const none = await open(`${server.url}/host/MT_nobody`);
  await none.page.waitForSelector('#tokenSection:not([hidden])', { timeout: 5000 });
  assert.is(await none.page.textContent('#status'), 'no access token');
  assert.is(none.sockets.length, 0, 'no socket without a token');
  await none.page.close();

  const bogus = 'not-a-valid-access-token';
  const w = await open(`${server.url}/host/MT_nobody#token=${bogus}`, [...BROWSER_NOISE, REFUSED_SOCKET]);
  await w.page.waitForSelector('#error:not([hidden])', { timeout: 10_000 });
  assert.match((await w.page.textContent('#error'))!, /refused the access token \(401 unauthorized: /);
  assert.ok(await w.page.isVisible('#tokenSection'), 'asks for another token');
  assert.is(await w.page.evaluate(() => sessionStorage.getItem('meetcore.host.token')), null, 'the refused token is forgotten');
  const count = w.requests.length;
  await new Promise((r) => setTimeout(r, 2500));
  assert.is(w.requests.length, count, 'no polling after a 401');
  assert.equal(w.errors, []);
  assertTokenKept(w, bogus);
  await w.page.close();
});

test('a host watches a meeting: live speech_overlap, talk-share bars, timeline; then "Meeting ended" with the final figures', async () => {
  const id = meeting();
  // LiveKit opens the meeting first: a feedback room can only be joined for a meeting that exists.
  assert.is((await sendEvent(server.url, { event: 'room_started', room: { sid: id, name: `room-${id}` } })).status, 200);
  const w = await open(`${server.url}/host/${encodeURIComponent(id)}#token=${owner.accessToken}`);
  const { page } = w;
  // The token left the address bar at once and lives in this tab's sessionStorage.
  assert.is(new URL(page.url()).hash, '');
  assert.is(await page.evaluate(() => sessionStorage.getItem('meetcore.host.token')), owner.accessToken);
  await page.waitForFunction(() => (window as unknown as { meetcoreHost: { joined: boolean } }).meetcoreHost.joined, undefined, { timeout: 10_000 });
  assert.match((await page.textContent('#status'))!, /live/);

  const { alice, bob } = interruption();
  await streamMeeting(server, id, [{ participant: 'alice', pcm: alice }, { participant: 'bob', pcm: bob }]);

  // The live event, newest first, with its message, kind and time.
  await page.waitForSelector('#events li[data-kind="speech_overlap"]', { timeout: 20_000 });
  const first = await page.$eval('#events li', (li) => ({ kind: (li as HTMLElement).dataset.kind, participant: (li as HTMLElement).dataset.participant, text: li.textContent ?? '', time: li.querySelector('time')?.textContent ?? '' }));
  assert.is(first.kind, 'speech_overlap');
  assert.is(first.participant, 'bob');
  assert.match(first.text, /bob started speaking over alice/);
  assert.ok(first.time.length > 0, 'event time shown');

  // Talk-share bars for both (GET /feedback/debug/:meetingId → report), non-zero, summing to about 100 %.
  await page.waitForFunction(() => ['alice', 'bob'].every((p) => Number((document.querySelector(`#share .share-row[data-participant="${p}"] .bar`) as HTMLElement | null)?.dataset.share) > 0), undefined, { timeout: 15_000 })
    .catch(async () => { throw new Error(`no talk-share bars for alice and bob: ${await page.textContent('#shareNote')}`); });
  const [a, b] = [await shareOf(page, 'alice'), await shareOf(page, 'bob')];
  assert.ok(Math.abs(a + b - 100) < 1, `shares ${a} + ${b}`);
  const widths = await page.$$eval('#share .bar', (bars) => bars.map((el) => el.getBoundingClientRect().width));
  assert.ok(widths.every((px) => px > 5), `bar widths ${widths}`);

  // The timeline picture (GET /api/sessions/:meetingId/timeline.svg through a blob: URL).
  await page.waitForFunction(() => {
    const img = document.getElementById('timeline') as HTMLImageElement;
    return !img.hidden && img.src.startsWith('blob:') && img.complete && img.naturalWidth > 300;
  }, undefined, { timeout: 15_000 }).catch(async () => { throw new Error(`no timeline picture: ${await page.textContent('#timelineNote')}`); });
  await screenshot(page, 'host-console-live');

  // The meeting ends: the final report arrives as `meeting_report` on the feedback room.
  assert.is((await sendEvent(server.url, { event: 'room_finished', room: { sid: id, name: `room-${id}` } })).status, 200);
  await page.waitForSelector('#ended:not([hidden])', { timeout: 15_000 })
    .catch(() => { throw new Error('no "Meeting ended": was {type:"meeting_report"} sent to feedback:<meetingId>?'); });
  assert.match((await page.textContent('#endedSummary'))!, /interactivity .* speaker switches\/min/);
  const rows = await page.$$eval('#finalTable tbody tr', (trs) => trs.map((tr) => ({ id: (tr as HTMLElement).dataset.participant, cells: Array.from(tr.children, (c) => c.textContent ?? '') })));
  assert.equal(rows.map((r) => r.id).sort(), ['alice', 'bob']);
  const bobRow = rows.find((r) => r.id === 'bob')!;
  assert.is(bobRow.cells.length, 9);
  assert.is(bobRow.cells[5], '1', `bob made one interruption: ${JSON.stringify(rows)}`);
  assert.is(rows.find((r) => r.id === 'alice')!.cells[6], '1', 'alice received one');
  assert.is(await page.textContent('#status'), 'meeting ended');
  await screenshot(page, 'host-console-ended');

  assert.equal(w.errors, [], 'no page errors');
  assertTokenKept(w, owner.accessToken);
  // Bearer on every data fetch.
  const data = w.requests.filter((r) => /\/(feedback|api)\//.test(new URL(r.url).pathname));
  assert.ok(data.length > 0 && data.every((r) => r.authorization === `Bearer ${owner.accessToken}`), 'bearer on the data routes');
  await page.close();
});

test('the console asks again with If-None-Match: an unchanged report and picture come back 304 and are not redrawn', async () => {
  const meetingId = meeting();
  const { alice, bob } = interruption();
  // Streams closed, meeting not ended: its report stays live in memory, and nothing changes it any more.
  await streamMeeting(server, meetingId, [{ participant: 'alice', pcm: alice }, { participant: 'bob', pcm: bob }]);
  const w = await open(`${server.url}/host/${encodeURIComponent(meetingId)}#token=${owner.accessToken}`);
  try {
    await w.page.waitForFunction(() => (window as any).meetcoreHost.timelineUpdates >= 1, undefined, { timeout: 20_000 });
    // Two more timeline polls (5 s apart) and several report polls (2 s apart).
    await w.page.waitForFunction(() => (window as any).meetcoreHost.replies.timeline[304] >= 2, undefined, { timeout: 20_000 });
    const seen = await w.page.evaluate(() => ({ replies: (window as any).meetcoreHost.replies, updates: (window as any).meetcoreHost.timelineUpdates }));
    assert.is(seen.replies.timeline[200], 1, JSON.stringify(seen));
    assert.is(seen.updates, 1, 'the picture was drawn once');
    assert.is(seen.replies.report[200], 1, JSON.stringify(seen));
    assert.ok(seen.replies.report[304] >= 3, JSON.stringify(seen));
    assert.equal(await shareOf(w.page, 'alice') > 0, true);
    // Every poll after the first carried the ETag it held.
    const polled = w.requests.filter((r) => /\/(timeline\.svg|report)$/.test(new URL(r.url).pathname));
    assert.ok(polled.length >= 5, `${polled.length} polls`);
    assert.equal(w.errors, []);
  } finally {
    await w.page.close();
  }
});

test.run();
