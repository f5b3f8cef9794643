/**
 * The `meetcore bench` HTML report (src/loadtest/report.ts): two synthetic runs (a 5-step signaling ramp that
 * broke on p99 at step 5, and a single-step egress run with two baselines) are written with writeReport and
 * opened from disk in headless Debian chromium through playwright-core. The page must load with no page
 * error and no request but the file itself (it is self-contained), draw the expected SVG charts with marks,
 * axis titles and labels, list every step, and render to a non-trivial full-page screenshot.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { renderHtml, writeReport } from '../../src/loadtest/report.js';
import type { BenchReport, Step } from '../../src/loadtest/types.js';
import { requireTools } from '../helpers/requires.js';

requireTools(['chromium'], 'apt-get install -y --no-install-recommends chromium');

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless=new', '--no-sandbox', '--disable-gpu',
  '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run',
];

const MACHINE: BenchReport['machine'] = {
  hostname: 'bench-01', platform: 'linux', arch: 'x64', cpuModel: 'AMD EPYC 7B13', cores: 8, memoryGiB: 31.3, node: 'v20.19.5',
};

/** One signaling step: `rooms` rooms of 10 participants. */
function signalingStep(index: number, rooms: number, p: [number, number, number, number], server: [number, number, number], held: boolean): Step {
  const units = rooms * 10;
  const [cpuPct, rssMiB, loopMs] = server;
  return {
    index, load: { units, unit: 'participants', rooms, participantsPerRoom: 10 }, durationSec: 30,
    throughput: { value: units * 9 * 2 * (held ? 1 : 0.82), unit: 'messages/s' },
    latency: { p50Ms: p[0], p90Ms: p[1], p95Ms: (p[1] + p[2]) / 2, p99Ms: p[2], maxMs: p[3], count: units * 540 },
    errors: held ? 0 : 37,
    server: {
      cpuPct, rssMiB, eventLoopP99Ms: loopMs, cpuMsPerUnitSec: (cpuPct * 10) / units, rssKiBPerUnit: (rssMiB * 1024) / units,
      series: { meetcore_ws_connections: units, meetcore_rooms: rooms },
    },
    generator: { cpuPct: 12 + units / 20, workers: 4, saturated: false },
    held, broke: held ? null : 'p99 612 ms > 250 ms',
  };
}

function rampReport(): BenchReport {
  const steps = [
    signalingStep(1, 10, [1.2, 2.1, 3.4, 8], [6.5, 92, 11], true),
    signalingStep(2, 20, [1.4, 2.6, 4.9, 12], [12.8, 101, 11.5], true),
    signalingStep(3, 40, [1.9, 3.8, 8.2, 25], [26.1, 118, 13], true),
    signalingStep(4, 80, [3.1, 7.5, 21.7, 64], [55.4, 151, 19.8], true),
    signalingStep(5, 160, [41, 233, 612, 1480], [98.7, 224, 168], false),
  ];
  return {
    tool: 'meetcore bench', schema: 1, meetcoreVersion: '0.1.0', scenario: 'signaling',
    startedAt: '2026-12-01T20:31:05.412Z', finishedAt: '2026-12-01T20:34:02.918Z',
    options: { ramp: '100,200,400,800,1600', roomSize: 10, rate: 1, stepSec: 30, settleSec: 5, workers: 4, sloP99Ms: 250, sloErrorRate: 0.001, out: 'bench/results', local: false },
    target: { url: 'wss://meet.example.org/ws', local: false, serverVersion: '0.1.0', metrics: true },
    machine: MACHINE, steps,
    ramp: { slo: { p99Ms: 250, errorRate: 0.001 }, held: steps[3], brokeAt: steps[4], reason: 'p99 612 ms > 250 ms' },
    baselines: [],
    warnings: ['the load generator shares the network with <other> traffic & results may vary'],
  };
}

function egressReport(): BenchReport {
  const step: Step = {
    index: 1, load: { units: 200, unit: 'streams', streams: 200 }, durationSec: 60,
    throughput: { value: 199.4, unit: 'stream-s/s' },
    latency: { p50Ms: 3.8, p90Ms: 7.1, p95Ms: 10.8, p99Ms: 14.6, maxMs: 41, count: 600_000 },
    errors: 0,
    server: { cpuPct: 71.5, rssMiB: 388, eventLoopP99Ms: 12.4, cpuMsPerUnitSec: 3.6, rssKiBPerUnit: 1986, series: { meetcore_egress_streams: 200 } },
    generator: { cpuPct: 48, workers: 2, saturated: false }, held: true, broke: null, behindRealTime: 0,
  };
  return {
    tool: 'meetcore bench', schema: 1, meetcoreVersion: '0.1.0', scenario: 'egress',
    startedAt: '2026-12-02T09:00:00.000Z', finishedAt: '2026-12-02T09:01:10.000Z',
    options: { streams: 200, stepSec: 60, settleSec: 10, workers: 2, baselines: true, out: 'bench/results' },
    target: { url: 'ws://127.0.0.1:8080/egress', local: true, serverVersion: '0.1.0', metrics: true },
    machine: MACHINE, steps: [step], ramp: null,
    baselines: [
      { name: 'seed-style egress', throughput: { value: 131.2, unit: 'stream-s/s' }, latency: { p50Ms: 22, p90Ms: 61, p95Ms: 104.5, p99Ms: 148, maxMs: 390, count: 400_000 }, cpuPct: 100 },
      { name: 'bare uWS', throughput: { value: 199.9, unit: 'stream-s/s' }, latency: { p50Ms: 2.1, p90Ms: 4.4, p95Ms: 7.1, p99Ms: 9.8, maxMs: 30, count: 600_000 }, cpuPct: 38 },
    ],
    warnings: ['target is local: the server and the load generator share 8 cores'],
  };
}

let tmp: string;
let context: BrowserContext;

test.before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'meetcore-report-'));
  context = await chromium.launchPersistentContext(path.join(tmp, 'profile'), {
    executablePath: CHROMIUM, headless: true, args: ARGS, ignoreDefaultArgs: ['--headless'], viewport: { width: 1280, height: 900 },
  });
});

test.after(async () => {
  await context?.close();
  if (tmp && !process.env.KEEP_REPORT) fs.rmSync(tmp, { recursive: true, force: true });
});

interface Opened { page: Page; errors: string[]; foreign: string[]; failed: string[] }

/** Opens the file, recording page errors, every request other than the file itself, and failed requests. */
async function open(file: string): Promise<Opened> {
  const page = await context.newPage();
  const url = pathToFileURL(file).href;
  const opened: Opened = { page, errors: [], foreign: [], failed: [] };
  page.on('pageerror', (err) => opened.errors.push(err.message));
  page.on('console', (msg) => { if (msg.type() === 'error') opened.errors.push(msg.text()); });
  page.on('request', (req) => { if (req.url() !== url) opened.foreign.push(req.url()); });
  page.on('requestfailed', (req) => opened.failed.push(`${req.url()}: ${req.failure()?.errorText}`));
  await page.goto(url, { waitUntil: 'load' });
  return opened;
}

interface ChartFacts { width: number; height: number; marks: number; symbols: number; bars: number; texts: string[] }

/** Each top-level chart svg: its box, how many drawn mark elements and which texts it holds. */
function charts(page: Page): Promise<ChartFacts[]> {
  return page.$$eval('figure.chart > svg', (svgs) => svgs.map((svg) => {
    const box = svg.getBoundingClientRect();
    return {
      width: box.width, height: box.height,
      marks: svg.querySelectorAll('path, line, rect, circle').length,
      symbols: svg.querySelectorAll('.mark-symbol.role-mark path').length,
      bars: svg.querySelectorAll('.mark-rect.role-mark path').length,
      texts: Array.from(svg.querySelectorAll('text'), (t) => t.textContent ?? ''),
    };
  }));
}

function assertClean(o: Opened): void {
  assert.equal(o.errors, [], 'no page errors');
  assert.equal(o.foreign, [], 'no request but the file itself');
  assert.equal(o.failed, [], 'no failed request');
}

async function screenshot(page: Page, name: string): Promise<string> {
  const file = path.join(tmp, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  const size = fs.statSync(file).size;
  assert.ok(size > 10_000, `${name}.png is ${size} bytes`);
  if (process.env.REPORT_SCREENSHOT_DIR) fs.copyFileSync(file, path.join(process.env.REPORT_SCREENSHOT_DIR, `${name}.png`));
  return file;
}

test('writeReport: <scenario>-<timestamp>.json and .html, the JSON the report itself', async () => {
  const report = rampReport();
  const out = await writeReport(report, path.join(tmp, 'results'));
  assert.is(path.basename(out.json), 'signaling-2026-12-01T20-31-05Z.json');
  assert.is(path.basename(out.html), 'signaling-2026-12-01T20-31-05Z.html');
  assert.equal(JSON.parse(fs.readFileSync(out.json, 'utf8')), report);
  const html = fs.readFileSync(out.html, 'utf8');
  assert.not.match(html, /<script|<link|@import|url\(/i, 'no script, stylesheet link or external resource');
  assert.match(html, '&lt;other&gt; traffic &amp; results', 'warnings are escaped');
});

test('ramp: three charts against the load, held/broke marked, one row per step', async () => {
  const report = rampReport();
  const { html } = await writeReport(report, path.join(tmp, 'ramp'));
  const o = await open(html);
  try {
    assertClean(o);
    const page = o.page;
    assert.is(await page.textContent('h1'), 'meetcore bench signaling');
    assert.match(await page.textContent('.sub') ?? '', 'wss://meet.example.org/ws');
    assert.match(await page.textContent('.sub') ?? '', '2026-12-01 20:31:05 UTC');
    assert.is(await page.textContent('.summary'), 'largest load that held: 800 participants (broke at 1,600 participants: p99 612 ms > 250 ms)');
    assert.match(await page.textContent('.warnings') ?? '', 'shares the network with <other> traffic & results');

    const found = await charts(page);
    assert.is(found.length, 3, 'latency, CPU and throughput charts');
    for (const c of found) {
      assert.ok(c.width > 200 && c.height > 150, `chart box ${c.width}×${c.height}`);
      assert.ok(c.marks > 20, `chart has ${c.marks} drawn elements`);
      assert.ok(c.texts.includes('participants'), 'x axis title');
      assert.ok(c.texts.includes('held: 800') && c.texts.includes('broke: 1,600'), 'held and broke labelled');
    }
    const [latency, cpu, throughput] = found;
    assert.is(latency.symbols, 15, 'a point per step and percentile');
    for (const t of ['latency (ms, log scale)', 'p99 limit 250 ms', 'p50', 'p90', 'p99', 'relay latency p50 / p90 / p99']) assert.ok(latency.texts.includes(t), `latency chart has "${t}"`);
    assert.is(cpu.symbols, 10, 'server and generator points');
    for (const t of ['CPU % (100 = one core)', 'server CPU %', 'generator CPU %']) assert.ok(cpu.texts.includes(t), `CPU chart has "${t}"`);
    assert.is(throughput.symbols, 5);
    assert.ok(throughput.texts.includes('messages/s'), 'throughput axis title');
    for (const load of ['0', '400', '800', '1,200', '1,600']) assert.ok(latency.texts.includes(load), `load axis label ${load}`);

    assert.is(await page.locator('table.steps tbody tr').count(), 5, 'one row per step');
    assert.is(await page.locator('table.steps tbody tr.broke').count(), 1);
    assert.match(await page.textContent('table.steps tbody tr:nth-child(5)') ?? '', 'broke: p99 612 ms > 250 ms');
    assert.match(await page.textContent('table.steps thead') ?? '', 'event loop p99 ms');
    const facts = await page.textContent('.facts') ?? '';
    for (const t of ['AMD EPYC 7B13', 'v20.19.5', 'sloP99Ms', '1600']) assert.match(facts, t);
    await screenshot(page, 'ramp');
  } finally {
    await o.page.close();
  }
});

test('egress with baselines: throughput and p99 bars, meetcore first', async () => {
  const { html } = await writeReport(egressReport(), path.join(tmp, 'egress'));
  const o = await open(html);
  try {
    assertClean(o);
    const page = o.page;
    assert.match(await page.textContent('.summary') ?? '', '200 streams: 199 stream-s/s, p50 3.8 ms, p99 14.6 ms, 0 errors');
    const found = await charts(page);
    assert.is(found.length, 2, 'throughput and p99 bar charts');
    for (const c of found) {
      assert.ok(c.width > 200 && c.height > 80, `chart box ${c.width}×${c.height}`);
      assert.is(c.bars, 3, 'a bar per variant');
      assert.ok(c.marks > 10, `chart has ${c.marks} drawn elements`);
      for (const name of ['meetcore', 'seed-style egress', 'bare uWS']) assert.ok(c.texts.includes(name), `bar "${name}"`);
    }
    assert.ok(found[0].texts.includes('stream-s/s'), 'throughput axis title');
    assert.ok(found[1].texts.includes('p99 (ms)'), 'p99 axis title');
    assert.ok(found[1].texts.includes('148'), 'value label on the seed-style bar');
    assert.is(await page.locator('table.steps tbody tr').count(), 1, 'one row per step');
    assert.is(await page.locator('table.baselines tbody tr').count(), 2);
    await screenshot(page, 'egress');
  } finally {
    await o.page.close();
  }
});

test('single step without baselines: a percentile bar chart', async () => {
  const report = { ...egressReport(), baselines: [], warnings: [] };
  const html = await renderHtml(report);
  assert.is((html.match(/<figure class="chart"/g) ?? []).length, 1);
  assert.not.match(html, 'class="warnings"');
  for (const t of ['>p50<', '>p90<', '>p99<', '>max<']) assert.match(html, t);
});

test.run();
