/**
 * Meeting reports and timeline pictures off the event loop (issue 18): a worker thread (node:worker_threads,
 * src/meetings/render-worker.ts) started at the first request, a cache of results per report version with
 * concurrent requests for the same result sharing one computation, and a per-principal request budget.
 *
 * At the analytics bound (50 000 talk spurts and interruptions, 5 000 participants) a report costs ~120 ms of
 * folding and ~90 ms of JSON, and a picture seconds: the event loop only takes the timeline's snapshot
 * (typed arrays, a few ms) and writes the bytes the worker returns.
 */
import { Worker } from 'node:worker_threads';
import { inBinary, nativeFile, readWorkerAsset } from '../runtime.js';
import type { TimelineSnapshot } from './analytics.js';
import type { TimelineFeedback } from './timeline-svg.js';

/**
 * Most marks of one kind (talk spurts, interruptions, backchannels, feedback events) a timeline picture draws
 * one by one; beyond it they are merged per lane (src/meetings/timeline-svg.ts says so in the picture).
 */
export const TIMELINE_MAX_MARKS = 2000;

/** Names and host flags of the snapshot's `ids`, by index (`hosts[i]` 1 for a host). */
export interface PeopleColumns { names: (string | null)[]; hosts: Uint8Array }

/** Where a report comes from: the live timeline (computed in the worker), or the stored report of a meeting (read by the worker). */
export type ReportSource =
  | { live: TimelineSnapshot; people: PeopleColumns; nowMs: number; final: boolean }
  | { stored: string };

/** What the worker is started with: the database file and the better-sqlite3 addon file (binary only). */
export interface RenderWorkerData { dbFile: string; sqliteBinding: string | undefined }

/**
 * A job of the worker: the report's JSON text, or the timeline picture (SVG) with at most `maxMarks` marks per
 * layer. Jobs that give bytes; `StoreTask` and `SeedTask` give their own results.
 */
export type RenderTask =
  | { kind: 'report'; source: ReportSource }
  | { kind: 'timeline'; source: ReportSource; feedback: TimelineFeedback[]; maxMarks: number };

/**
 * Store a report: the worker computes it (a stored source is read and, with `final`, marked final with
 * `generatedAt` = `atMs`; one already final is left as it is) and stores it itself as version (created_at) `atMs`,
 * in parts (src/store/reports.ts, on its own writable connection, WAL, busy_timeout).
 */
export interface StoreTask { kind: 'store'; meetingId: string; source: ReportSource; final: boolean; atMs: number }

/** The figures of a stored report the event loop needs (log line, `meeting_report` message). */
export interface ReportSummary {
  meetingId: string;
  /** False when nothing was written: a stored source asked to become final was final already. */
  written: boolean;
  final: boolean; durationMs: number; participantCount: number; interruptionCount: number; bytes: number }

/** Read a meeting's stored report and replay its timeline: the TimelineSnapshot to reopen it from, or null when none is stored. */
export interface SeedTask { kind: 'seed'; meetingId: string }

type Task = RenderTask | StoreTask | SeedTask;
/** The worker's answer to a task (one of bytes, summary, snapshot, error). */
interface Reply { id: number; bytes?: Uint8Array; summary?: ReportSummary; snapshot?: TimelineSnapshot | null; error?: string }
interface Pending { resolve: (m: Reply) => void; reject: (e: Error) => void }

/** How long close() waits for the tasks already posted, ms. */
const CLOSE_WAIT_MS = 20_000;

/**
 * One render worker, started with the first task and started again after it failed. Tasks run one at a
 * time in the worker, in order.
 */
export class RenderPool {
  /**
   * @param dbFile the SQLite file (WAL mode) the worker reads stored reports from and writes stored reports to.
   * @throws Error for an in-memory or temporary database (`:memory:`, ''): the worker opens the file with a
   *   connection of its own, which would be another, empty database.
   */
  constructor(private readonly dbFile: string) {
    if (dbFile === '' || dbFile === ':memory:') throw new Error(`the render worker needs a database file, not ${JSON.stringify(dbFile)}`);
  }

  private worker: Worker | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  /**
   * Run a task in the worker (the task is copied, but for a snapshot's shared columns, which nobody writes).
   * @returns the UTF-8 bytes of the result (JSON text or SVG).
   * @throws Error with the worker's message when the task threw, or when the worker died.
   */
  async run(task: RenderTask): Promise<Buffer> {
    const m = await this.post(task);
    if (!m.bytes) throw new Error('render worker gave no bytes');
    return Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength);
  }

  /**
   * Compute and write a report row in the worker (StoreTask). Tasks run in order: of two stores of one meeting,
   * the later one is written last.
   * @returns the written report's summary.
   * @throws Error with the worker's message (SQLite error, no stored report for a stored source), or when the worker died.
   */
  async store(task: StoreTask): Promise<ReportSummary> {
    const m = await this.post(task);
    if (!m.summary) throw new Error('render worker gave no summary');
    return m.summary;
  }

  /**
   * The TimelineSnapshot of a meeting's stored report, parsed and replayed in the worker (SeedTask).
   * @returns null when no report is stored.
   * @throws Error with the worker's message, or when the worker died.
   */
  async seed(meetingId: string): Promise<TimelineSnapshot | null> {
    const m = await this.post({ kind: 'seed', meetingId });
    return m.snapshot ?? null;
  }

  private post(task: Task): Promise<Reply> {
    const worker = this.worker ?? this.start();
    const id = this.nextId++;
    const reply = new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      if (this.pending.size === 1) worker.ref();
      // In a turn of its own (the snapshot was this turn's work). The snapshot's columns are shared memory
      // (src/meetings/analytics.ts): what is copied is the participants' ids and names.
      setImmediate(() => worker.postMessage({ id, task }));
    });
    this.inFlight.add(reply);
    const done = () => { this.inFlight.delete(reply); };
    reply.then(done, done);
    return reply;
  }

  /** Tasks posted and not settled yet: close() lets them finish (the reports stored as streams close at shutdown). */
  private readonly inFlight = new Set<Promise<Reply>>();

  /**
   * Stop the worker once the tasks already posted have settled (at most CLOSE_WAIT_MS; what is still pending then
   * fails). Reports stored while the server's streams close at shutdown are written before the worker ends.
   */
  async close(): Promise<void> {
    if (this.inFlight.size) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.allSettled([...this.inFlight]), new Promise((r) => { timer = setTimeout(r, CLOSE_WAIT_MS); })]);
      clearTimeout(timer);
    }
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }

  private start(): Worker {
    const workerData: RenderWorkerData = { dbFile: this.dbFile, sqliteBinding: nativeFile('better_sqlite3') };
    const worker = inBinary
      ? new Worker(readWorkerAsset(), { eval: true, workerData })
      // A checkout runs TypeScript: the worker registers tsx's loader before importing its entry.
      : new Worker(`import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(new URL('./render-worker.ts', import.meta.url).href)}); })`, { eval: true, workerData });
    worker.unref();
    worker.on('message', (m: Reply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) worker.unref();
      if (m.error === undefined) p.resolve(m);
      else p.reject(new Error(m.error));
    });
    const fail = (err: Error) => {
      if (this.worker === worker) this.worker = null;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`render worker exited with code ${code}`)));
    this.worker = worker;
    return worker;
  }
}

/**
 * Results by key (e.g. `report:<meetingId>`) for one version tag each: a request with the tag held gets the
 * held result (or shares its computation still running); another tag starts a new computation that replaces
 * it. A failed computation is forgotten. At most `maxEntries` keys, least recently used dropped first.
 */
export class VersionCache {
  private readonly entries = new Map<string, { tag: string; value: Promise<Buffer> }>();

  constructor(private readonly maxEntries = 64) {}

  /** The result of `key` at `tag`, computed by `make` when not held. */
  get(key: string, tag: string, make: () => Promise<Buffer>): Promise<Buffer> {
    const held = this.entries.get(key);
    this.entries.delete(key);
    if (held && held.tag === tag) {
      this.entries.set(key, held);
      return held.value;
    }
    const entry = { tag, value: make() };
    this.entries.set(key, entry);
    entry.value.catch(() => { if (this.entries.get(key) === entry) this.entries.delete(key); });
    for (const k of this.entries.keys()) {
      if (this.entries.size <= this.maxEntries) break;
      this.entries.delete(k);
    }
    return entry.value;
  }
}

/**
 * Requests allowed per principal: a token bucket of `perMinute` tokens refilled evenly over a minute.
 * Buckets full again are forgotten when more than 10 000 principals are tracked.
 */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; atMs: number }>();

  constructor(private readonly perMinute: number) {}

  /**
   * Take one token of `who`.
   * @returns 0 when allowed, else the seconds (≥ 1) until a token is back (the Retry-After value).
   */
  take(who: string, nowMs = Date.now()): number {
    const rate = this.perMinute / 60_000;
    const b = this.buckets.get(who) ?? { tokens: this.perMinute, atMs: nowMs };
    b.tokens = Math.min(this.perMinute, b.tokens + (nowMs - b.atMs) * rate);
    b.atMs = nowMs;
    this.buckets.set(who, b);
    if (this.buckets.size > 10_000) {
      for (const [k, x] of this.buckets) if (x.tokens + (nowMs - x.atMs) * rate >= this.perMinute) this.buckets.delete(k);
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil((1 - b.tokens) / rate / 1000));
  }
}
