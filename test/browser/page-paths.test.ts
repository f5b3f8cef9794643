/**
 * Addresses of the built-in pages that cannot be decoded (`/host/%E0`, `/participant/%E0`: percent-encoded
 * bytes that are not UTF-8) or name too long a meeting id: the server answers them with the page (200
 * text/html, nothing logged as an error), and the page, in headless Debian chromium through playwright-core,
 * shows a message saying what is wrong instead of throwing (no page error, no console error).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { requireTools } from '../helpers/requires.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

requireTools(['chromium'], 'apt-get install -y --no-install-recommends chromium');

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless=new', '--no-sandbox', '--disable-gpu',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
];
const BAD_PATHS = ['/host/%E0', '/host/%E0%A4', '/host/%FF%FE', '/host/%', '/host/%ZZ', '/participant/%E0', '/participant/%C3%28'];

let server: TestServer;
let tmp: string;
let context: BrowserContext;

test.before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'meetcore-page-paths-'));
  server = await startTestServer();
  context = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
    executablePath: CHROMIUM, headless: true, args: ARGS, ignoreDefaultArgs: ['--headless'],
  });
});

test.after(async () => {
  await context?.close();
  await server?.stop();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** Open `urlPath` and collect uncaught exceptions and console errors. */
async function open(urlPath: string): Promise<{ page: Page; errors: string[] }> {
  const page = await context.newPage();
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (msg) => {
    // Chromium's own line for the 404 of /favicon.ico (the pages have none) is not the page's doing.
    if (msg.type() === 'error' && !msg.location().url.endsWith('/favicon.ico')) errors.push(`console: ${msg.text()} (${msg.location().url})`);
  });
  await page.goto(`${server.url}${urlPath}`, { waitUntil: 'load' });
  return { page, errors };
}

test('the server answers undecodable page paths with the page, and logs no error', async () => {
  for (const p of BAD_PATHS) {
    const res = await fetch(`${server.url}${p}`);
    assert.is(res.status, 200, p);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/, p);
    assert.match(await res.text(), /<!doctype html>/i, p);
  }
  assert.equal(server.logs.filter((l) => typeof l.level === 'number' && l.level >= 40), []);
});

test('the host console shows what is wrong with an undecodable or too long meeting id, without a page error', async () => {
  const cases: [string, RegExp][] = [
    ['/host/%E0#token=some-token', /^The meeting id in this address \(%E0\) is not valid URL encoding\. Open this page as \/host\/<meetingId>#token=<access token>/],
    ['/host/%E0%A4', /\(%E0%A4\) is not valid URL encoding/],
    ['/host/%ZZ', /\(%ZZ\) is not valid URL encoding/],
    [`/host/${'m'.repeat(129)}`, /has 129 characters; meeting ids have 1 to 128/],
  ];
  for (const [urlPath, message] of cases) {
    const { page, errors } = await open(urlPath);
    await page.locator('#error').waitFor({ state: 'visible', timeout: 5000 });
    assert.match(await page.locator('#error').textContent() ?? '', message, urlPath);
    assert.is(await page.locator('#status').textContent(), 'no meeting', urlPath);
    assert.equal(errors, [], urlPath);
    await page.close();
  }
});

test('a well-encoded meeting id is still decoded (and the page asks for a token)', async () => {
  const { page, errors } = await open('/host/MT_caf%C3%A9%20room');
  await page.locator('#tokenSection').waitFor({ state: 'visible', timeout: 5000 });
  assert.is(await page.locator('#meeting').textContent(), 'MT_café room');
  assert.ok(await page.locator('#error').isHidden());
  assert.equal(errors, []);
  await page.close();
});

test('the call page shows the lobby and says the room id cannot be read, without a page error', async () => {
  for (const p of ['/participant/%E0', '/participant/%C3%28']) {
    const { page, errors } = await open(p);
    await page.locator('#lobby').waitFor({ state: 'visible', timeout: 5000 });
    assert.match(await page.locator('#status').textContent() ?? '', /^The room id in this address \(%[0-9A-F%()]+\) is not valid URL encoding: create a room or open a join link\.$/, p);
    assert.equal(errors, [], p);
    await page.close();
  }
});

test.run();
