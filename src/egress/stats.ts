/**
 * Folds the native engine's per-stream `stats` events (src/pipeline/types.ts StatsEvent) into the
 * per-participant summaries of `participant_stats`: `fold` updates them in memory per report (it reads the
 * report's fields and keeps none of it, so the engine's row cursor can be passed), `flush` writes the ones
 * that changed in one transaction with one prepared statement (the egress flushes once a second, and
 * `flushStreams` the final summaries of the streams it is about to finalize).
 *
 * Cumulative fields: `analysedMs` adds each interval's samples / sampleRate; `clippedSamples` adds each
 * interval's count; `peakDbfs` keeps the maximum. `speechMs` is rebuilt from the engine's 10 s window:
 * `speechCoverage10s` × 10 000 ms is the speech (VAD-smoothed 10 ms frames) in the 10 s of stream time
 * ending at `tMs`, so the speech since the stream start is S(t) = window(t) + S(t − 10 s), with S(t − 10 s)
 * taken from an earlier report (exact on the regular report grid, interpolated after a mute shifted it;
 * 0 before the stream start). The other fields are the latest values. Summaries resume from the stored row,
 * so a participant who reconnects keeps accumulating.
 */
import type { StatsEvent } from '../pipeline/types.js';
import type { ParticipantStats, StatsStore } from '../store/stats.js';

/** A summary with the unrounded cumulative times. */
type Summary = ParticipantStats & { analysedExact: number; speechExact: number };

/** Length of the engine's speech coverage window, ms (StatsEvent.speechCoverage10s). */
const COVERAGE_WINDOW_MS = 10_000;
/** 10 ms analysis frames in that window. */
const COVERAGE_FRAMES = 1000;

interface StreamClock {
  sampleRate: number;
  /** The participant's summary, looked up when the stream is added (no key building per report). */
  summary: Summary;
  /** Cumulative speech of this stream at its reports, oldest first (from the stream start, S = 0); entries
   *  before `head` are no longer needed (dropped in bulk, not shifted out one per report). */
  history: { tMs: number; speechMs: number }[];
  head: number;
}

/** Accumulates stats events into summaries and writes the touched ones per batch. */
export class StatsSummaries {
  private readonly streams = new Map<number, StreamClock>();
  private readonly summaries = new Map<string, Summary>();
  /** Summaries changed since the last flush. */
  private readonly touched = new Set<Summary>();

  constructor(private readonly store: StatsStore) {}

  /**
   * Start following a stream of `participantId` in `meetingId` (its sample rate converts sample counts to ms).
   * The participant's summary is looked up now (a stored row read once), not in the engine batch of the
   * stream's first report: a thousand streams starting together report together.
   */
  addStream(streamId: number, sampleRate: number, startedAtMs: number, meetingId: string, participantId: string): void {
    this.streams.set(streamId, { sampleRate, summary: this.summary(meetingId, participantId), history: [{ tMs: startedAtMs, speechMs: 0 }], head: 0 });
  }

  /** Stop following a stream; the participant's summary stays cached while the meeting is live. */
  removeStream(streamId: number): void {
    this.streams.delete(streamId);
  }

  /**
   * Forget the cached summaries of a meeting (after its last stream closed), but those with changes not written
   * yet (a flush that failed): a participant who comes back must go on from them, not from the stored row.
   */
  forgetMeeting(meetingId: string): void {
    for (const [key, s] of this.summaries) if (key.startsWith(`${meetingId}\u0000`) && !this.touched.has(s)) this.summaries.delete(key);
  }

  /** Fold one stats event into its participant's summary (in memory). Events of unknown streams are ignored. */
  fold(e: StatsEvent, nowMs = Date.now()): void {
    const clock = this.streams.get(e.streamId);
    if (!clock) return;
    const s = clock.summary;
    s.analysedExact += (e.samples / clock.sampleRate) * 1000;
    s.analysedMs = Math.round(s.analysedExact);
    s.speechExact += speechSinceLastReport(clock, e);
    s.speechMs = Math.round(s.speechExact);
    s.clippedSamples += e.clippedSamples;
    if (e.peakDbfs !== null) s.peakDbfs = s.peakDbfs === null ? e.peakDbfs : Math.max(s.peakDbfs, e.peakDbfs);
    s.speechCoverage10s = e.speechCoverage10s;
    s.rmsDbfs3s = e.rmsDbfs3s;
    s.rmsEmaDbfs = e.rmsEmaDbfs;
    s.noiseFloorDbfs = e.noiseFloorDbfs;
    if (e.lastSpokeAtMs !== null) s.lastSpokeAt = Math.round(e.lastSpokeAtMs);
    s.updatedAt = nowMs;
    this.touched.add(s);
  }

  /**
   * Write every summary changed since the last flush, in one transaction.
   * @returns the rows written.
   * @throws the SQLite error (the changes stay pending for the next flush).
   */
  flush(): ParticipantStats[] {
    if (this.touched.size === 0) return [];
    const picked = [...this.touched];
    const rows = picked.map(({ analysedExact: _a, speechExact: _s, ...row }) => row);
    this.store.upsertMany(rows);
    for (const s of picked) this.touched.delete(s);
    return rows;
  }

  /**
   * Write the changed summaries of the participants of `streamIds` (streams still followed), in one
   * transaction: the final summaries of streams about to be finalized, a few at a time.
   * @throws the SQLite error (the changes stay pending for the next flush).
   */
  flushStreams(streamIds: readonly number[]): void {
    const picked: Summary[] = [];
    for (const id of streamIds) {
      const s = this.streams.get(id)?.summary;
      if (s && this.touched.has(s) && !picked.includes(s)) picked.push(s);
    }
    if (picked.length === 0) return;
    this.store.upsertMany(picked.map(({ analysedExact: _a, speechExact: _s, ...row }) => row));
    for (const s of picked) this.touched.delete(s);
  }

  /** Fold a batch of events and flush (convenience for tests and one-shot callers). */
  applyBatch(events: readonly StatsEvent[], nowMs = Date.now()): ParticipantStats[] {
    for (const e of events) this.fold(e, nowMs);
    return this.flush();
  }

  private summary(meetingId: string, participant: string): Summary {
    const key = `${meetingId}\u0000${participant}`;
    let s = this.summaries.get(key);
    if (!s) {
      const stored = this.store.get(meetingId, participant);
      s = stored
        ? { ...stored, analysedExact: stored.analysedMs, speechExact: stored.speechMs }
        : {
            meetingId, participant, updatedAt: 0, speechMs: 0, analysedMs: 0, analysedExact: 0, speechExact: 0, speechCoverage10s: null,
            rmsDbfs3s: null, rmsEmaDbfs: null, peakDbfs: null, clippedSamples: 0, noiseFloorDbfs: null, lastSpokeAt: null,
          };
      this.summaries.set(key, s);
    }
    return s;
  }
}

/** Speech (ms) of a stream between its previous report and `e`, recording `e` in the stream's history. */
function speechSinceLastReport(clock: StreamClock, e: StatsEvent): number {
  const h = clock.history;
  const last = h[h.length - 1]!;
  const inWindow = Math.round(e.speechCoverage10s * COVERAGE_FRAMES) * (COVERAGE_WINDOW_MS / COVERAGE_FRAMES);
  const total = Math.max(last.speechMs, inWindow + speechAt(h, clock.head, e.tMs - COVERAGE_WINDOW_MS));
  h.push({ tMs: e.tMs, speechMs: total });
  // Keep what a later lookup (at most 10 s back) can need.
  while (h.length - clock.head > 2 && h[clock.head + 1]!.tMs <= e.tMs - COVERAGE_WINDOW_MS) clock.head++;
  if (clock.head >= 64) {
    h.splice(0, clock.head);
    clock.head = 0;
  }
  return total - last.speechMs;
}

/**
 * Cumulative speech at stream time `t` from h[head..] (times non-decreasing): a report at `t` (±0.5 ms), else
 * interpolated between neighbours. Scans forward from `head`, where `t` (10 s back) lies.
 */
function speechAt(h: readonly { tMs: number; speechMs: number }[], head: number, t: number): number {
  if (t <= h[head]!.tMs) return h[head]!.speechMs;
  let i = head;  // the latest report before t + 0.5
  while (i + 1 < h.length && h[i + 1]!.tMs < t + 0.5) i++;
  const a = h[i]!;
  if (Math.abs(a.tMs - t) < 0.5) return a.speechMs;
  const b = h[i + 1];
  if (!b) return a.speechMs;
  return a.speechMs + ((b.speechMs - a.speechMs) * (t - a.tMs)) / (b.tMs - a.tMs);
}
