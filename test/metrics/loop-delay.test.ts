/**
 * `meetcore_event_loop_delay_{p50,p90,p99,max}_seconds` (src/loop-delay.ts, README "Metrics") on a real server.
 * Idle, its median is under 0.5 ms in every second (asserted) where prom-client's 10 ms series read their interval
 * (about 10 ms); its p99 is printed against the 2 ms target. When a callback holds the loop
 * (test/helpers/fault-injector.mjs `block:<ms>`, on SIGUSR2), the largest delay of the next scrape is at least the
 * block less the 1 ms interval, and the scrape after it starts a new window.
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT, startTestServer, type TestServer } from '../helpers/server.js';

const INJECTOR = pathToFileURL(path.join(ROOT, 'test/helpers/fault-injector.mjs')).href;
const BLOCK_MS = 300;
/** The metric's timer interval (src/loop-delay.ts LOOP_DELAY_RESOLUTION_MS): a block starting at a tick reads this much less. */
const RESOLUTION_MS = 1;

let server: TestServer;
test.before(async () => {
  server = await startTestServer({ NODE_OPTIONS: `--import ${INJECTOR}`, MEETCORE_TEST_FAULT: `block:${BLOCK_MS}` });
});
test.after(async () => { await server.stop(); });

/** One scrape: the four new gauges (p50, p90, p99, max) and prom-client's p50, in ms. */
async function scrape(): Promise<{ q: Record<string, number>; promP50Ms: number }> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const q: Record<string, number> = {};
  for (const m of text.matchAll(/^meetcore_event_loop_delay_(p50|p90|p99|max)_seconds (\S+)$/gm)) q[m[1]!] = Number(m[2]) * 1000;
  assert.equal(Object.keys(q).sort(), ['max', 'p50', 'p90', 'p99'], 'the four series');
  const p50 = /^nodejs_eventloop_lag_p50_seconds (\S+)$/m.exec(text);
  assert.ok(p50, 'prom-client\'s own series are still there');
  return { q, promP50Ms: Number(p50[1]) * 1000 };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('idle: median under 0.5 ms (prom-client\'s series read their 10 ms interval)', async () => {
  await scrape();
  const windows: Awaited<ReturnType<typeof scrape>>[] = [];
  for (let i = 0; i < 5; i++) {
    await sleep(1000);
    windows.push(await scrape());
  }
  console.log(`idle windows, p50/p99/max ms: ${windows.map((w) => `${w.q.p50!.toFixed(2)}/${w.q.p99!.toFixed(2)}/${w.q.max!.toFixed(2)}`).join(', ')}; prom-client p50 ${windows.map((w) => w.promP50Ms.toFixed(1)).join(', ')}`);
  for (const w of windows) {
    // The median tick runs within half a millisecond of its due time (a sample with the interval left in reads ≥ 1 ms).
    assert.ok(w.q.p50! < 0.5, `p50 ${w.q.p50} ms < 0.5 ms`);
    assert.ok(w.q.p50! <= w.q.p99! && w.q.p99! <= w.q.max!, 'quantiles in order');
    assert.ok(w.promP50Ms >= 9.5, `prom-client's p50 ${w.promP50Ms} ms includes its 10 ms interval`);
  }
  // On a 2-core machine shared with other work the scheduler preempts the server for milliseconds now and then
  // (p99 1–6 ms per second measured here under a load average of 12): printed, not asserted.
  const bestP99 = Math.min(...windows.map((w) => w.q.p99!));
  console.log(`idle p99, best second of five: ${bestP99.toFixed(2)} ms (target under 2 ms on a quiet machine)`);
});

test(`a ${BLOCK_MS} ms block reads at least ${BLOCK_MS - RESOLUTION_MS} ms; the next window starts afresh`, async () => {
  await scrape();
  server.proc.kill('SIGUSR2');
  await sleep(BLOCK_MS + 500);
  const blocked = await scrape();
  console.log(`after a ${BLOCK_MS} ms block: max ${blocked.q.max!.toFixed(1)} ms, p99 ${blocked.q.p99!.toFixed(1)} ms`);
  assert.ok(blocked.q.max! >= BLOCK_MS - RESOLUTION_MS, `max ${blocked.q.max} ms ≥ ${BLOCK_MS - RESOLUTION_MS} ms`);
  await sleep(200);
  const after = await scrape();
  assert.ok(after.q.max! < BLOCK_MS / 2, `the window after the block does not carry it (max ${after.q.max} ms)`);
});

test.run();
