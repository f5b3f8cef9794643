/**
 * Long reads on the event loop, cut into slices that share a budget per turn of the loop.
 *
 * A route that reads thousands of rows (src/http/sessions.ts: a meeting of 5,000 participants) does it a slice at a
 * time and awaits `nextSlice()` between slices. Yielding alone (setImmediate per slice) is not enough: every
 * immediate queued before a turn's check phase runs in that phase, so N concurrent requests would run N slices
 * back to back (9 requests at the analytics bound held the loop 105 ms). Here all slicing requests wait in one
 * FIFO queue: within a turn, slices run one after another (the next waiter is woken as a microtask) until
 * SLICE_BUDGET_MS have passed since the turn began; then the rest waits for the next turn (setImmediate), after the
 * loop has served I/O and timers. The longest block is about the budget plus one slice, whatever the concurrency.
 */

/** Time slices may take per turn of the event loop, ms. */
export const SLICE_BUDGET_MS = 8;

/** The waiters, oldest first (round robin: a request that yields goes to the back). */
const waiting: (() => void)[] = [];
/** performance.now() when the current turn's first slice began. */
let turnStartedAt = Number.NEGATIVE_INFINITY;
let turnScheduled = false;

/**
 * Wait for the next slice: at once (after the current microtasks) while this turn's budget lasts, else at a later
 * turn of the event loop, after the requests that waited before this one.
 * @returns a promise resolved when the caller may run its next slice; never rejects.
 */
export function nextSlice(): Promise<void> {
  return new Promise((resolve) => {
    waiting.push(resolve);
    if (performance.now() - turnStartedAt < SLICE_BUDGET_MS) waiting.shift()!();
    scheduleTurn();
  });
}

/**
 * A turn for whoever still waits: a woken request may finish without yielding again, and then nothing else would
 * wake the others.
 */
function scheduleTurn(): void {
  if (waiting.length === 0 || turnScheduled) return;
  turnScheduled = true;
  setImmediate(turn);
}

/** A new turn: its budget starts now, and the oldest waiter runs. */
function turn(): void {
  turnScheduled = false;
  turnStartedAt = performance.now();
  waiting.shift()?.();
  scheduleTurn();
}
