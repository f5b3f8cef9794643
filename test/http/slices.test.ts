/**
 * src/http/slices.ts: long reads cut into slices share a budget per turn of the event loop. Twenty concurrent
 * "requests", each of ten slices that keep the thread busy 3 ms, must all finish, take turns (round robin), and
 * leave the loop to its timers between turns: a 1 ms interval sees at most budget / slice + 1 slices between two
 * of its ticks (yielding with setImmediate per slice would let all twenty run back to back).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { SLICE_BUDGET_MS, nextSlice } from '../../src/http/slices.js';

const SLICE_MS = 3;
const busy = (ms: number) => { const end = performance.now() + ms; while (performance.now() < end) { /* the thread is held */ } };

test('concurrent sliced reads all finish, in turns, with timers served between turns', async () => {
  const slices: string[] = [];
  let sinceTick = 0;
  let mostBetweenTicks = 0;
  const probe = setInterval(() => { sinceTick = 0; }, 1);
  const request = async (name: string, count: number) => {
    for (let i = 0; i < count; i++) {
      await nextSlice();
      busy(SLICE_MS);
      slices.push(`${name}${i}`);
      mostBetweenTicks = Math.max(mostBetweenTicks, ++sinceTick);
    }
  };
  try {
    // Different lengths: a request that ends without yielding again must not strand the others.
    let timer: NodeJS.Timeout | undefined;
    const stranded = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`stranded: ${slices.length} of 110 slices ran`)), 10_000); });
    await Promise.race([Promise.all(Array.from({ length: 20 }, (_, r) => request(`r${r}.`, r % 2 === 0 ? 10 : 1))), stranded]).finally(() => clearTimeout(timer));
  } finally {
    clearInterval(probe);
  }
  assert.is(slices.length, 10 * 10 + 10 * 1, 'every slice ran');
  // Round robin: every request had its first slice before any had its third.
  const firstThird = slices.findIndex((s) => s.endsWith('.2'));
  for (let r = 0; r < 20; r++) assert.ok(slices.indexOf(`r${r}.0`) < firstThird, `r${r} waited behind another request's third slice`);
  assert.ok(mostBetweenTicks <= Math.ceil(SLICE_BUDGET_MS / SLICE_MS) + 1, `${mostBetweenTicks} slices of ${SLICE_MS} ms ran between two timer ticks (budget ${SLICE_BUDGET_MS} ms)`);
});

test('a lone request is not slowed down: its slices run in one turn while the budget lasts', async () => {
  let turns = 0;
  let stop = false;
  const counter = () => { if (!stop) { turns++; setImmediate(counter); } };
  setImmediate(counter);
  let timer: NodeJS.Timeout | undefined;
  const stranded = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error('stranded')), 10_000); });
  const run = async () => { for (let i = 0; i < 50; i++) await nextSlice(); }; // no work: all within one budget
  await Promise.race([run(), stranded]).finally(() => { clearTimeout(timer); stop = true; });
  assert.ok(turns <= 3, `50 empty slices took ${turns} turns`);
});

test.run();
