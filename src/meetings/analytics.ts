/**
 * One meeting's conversation timeline (the native engine's talk spurts and interruptions) and the meeting report
 * computed from it (./report.ts, whose definitions this file follows). Pure: no I/O, no wall clock (the report's
 * `generatedAt` is the caller's `nowMs`).
 *
 * Every time is the stream clock (Unix ms, fractional allowed); figures are rounded only in the report.
 *
 * Choices where the definitions of report.ts leave room:
 * - patience: the silence (time nobody is in a talk spurt, backchannels and the taker's own spurts included)
 *   between the end of the previous speaker's turn and the start of the turn; a turn started while somebody
 *   still spoke (an interruption, or any overlapping take) counts 0 ms;
 * - a backchannel's `toParticipantId` is the other participant whose enclosing spurt started first;
 * - spurts starting at the same moment are ordered by participantId (then end) for the floor;
 * - participants: anyone with a stream, a spurt or an interruption;
 * - silence share: 0 when the meeting has no duration, 100 when it has a duration and no speech.
 */
import type { OverlapEvent, SpeechEvent } from '../pipeline/types.js';
import { FLOOR_PAUSE_MS, FLOOR_TAKE_MS } from '../feedback/rules.js';
import type { BackchannelMark, InterruptionMark, MeetingReport, ParticipantReport, SpurtMark } from './report.js';

/** Default bound of the spurts (and of the interruptions) kept per meeting. */
export const DEFAULT_MAX_SPURTS = 50_000;

/** Who a participant is, asked at report time. */
export type PersonLookup = (participantId: string) => { name: string | null; isHost: boolean };

export interface MeetingAnalyticsOptions {
  /**
   * Most talk spurts kept for the timeline (default 50 000); the same bound applies to interruptions. Spurts
   * beyond it still add to talk time and the meeting span, interruptions beyond it still count, but neither is
   * kept (so they are in no turn, backchannel, speech union or timeline mark).
   */
  maxSpurts?: number;
}

/** A kept talk spurt; `who`: the participant's index in the order of first appearance (snapshot columns). */
interface Spurt { participantId: string; who: number; startMs: number; endMs: number }

/**
 * MeetingAnalytics.snapshot(): participants are indices into `ids`; times stream-clock Unix ms.
 * `made`: triplets (interrupter index, interrupted index, count); `markTimes`: triplets (startMs, endMs,
 * overlapMs) of the kept interruption i at 3i.
 */
export interface TimelineSnapshot {
  meetingId: string;
  maxSpurts: number;
  ids: string[];
  talkMs: Float64Array;
  made: Int32Array;
  spurtWho: Int32Array;
  spurtStart: Float64Array;
  spurtEnd: Float64Array;
  markBy: Int32Array;
  markOf: Int32Array;
  markTimes: Float64Array;
  interruptionTotal: number;
  dropped: number;
  droppedMarks: number;
  firstMs: number | null;
  lastMs: number | null;
}

/** Per participant figures folded on arrival (everything else is computed from the kept timeline). */
interface Person {
  /** Sum of every spurt's length, kept or dropped, ms. (Interruptions made and received: the `pairs` column.) */
  talkMs: number;
  /** Index in the order of first appearance. */
  index: number;
}

/** Conversation timeline of one meeting; `report()` turns it into a MeetingReport. */
export class MeetingAnalytics {
  private readonly maxSpurts: number;
  private readonly people = new Map<string, Person>();
  /** Kept talk spurts and interruptions (the first `spurtCount` / `markCount` rows of the columns below). */
  private spurtCount = 0;
  private markCount = 0;
  /** Kept interruptions whose 'end' has not come yet: their row, by overlap key. */
  private readonly openInterruptions = new Map<string, number>();
  /**
   * The kept spurts and interruptions as columns in arrival order, appended as they come (interruption times
   * updated in place), over SharedArrayBuffers: `snapshot()` hands out views of the first rows (no copy;
   * postMessage shares them with the render worker) and `fromSnapshot()` adopts them, so neither walks objects
   * nor allocates at the bound (a fresh 1 MB buffer costs ~3 ms of page faults on the event loop).
   * Rows are only appended, except the times of an interruption (`markTimes`) and the pair counts (`pairs`):
   * after a snapshot, the first such write copies that column (`marksShared`, `pairsShared`), so a snapshot
   * never changes. `report()` makes the objects.
   */
  private spurtWho: Int32Array = shared(Int32Array, FIRST_ROWS);
  private spurtStart: Float64Array = shared(Float64Array, FIRST_ROWS);
  private spurtEnd: Float64Array = shared(Float64Array, FIRST_ROWS);
  private markBy: Int32Array = shared(Int32Array, FIRST_ROWS);
  private markOf: Int32Array = shared(Int32Array, FIRST_ROWS);
  private markTimes: Float64Array = shared(Float64Array, 3 * FIRST_ROWS);
  /** Whether a snapshot (or the snapshot adopted) may still read `markTimes` / `pairs`: copy before writing in place. */
  private marksShared = false;
  private pairsShared = false;
  /** Participant ids by index (order of first appearance). */
  private readonly ids: string[] = [];
  /** Interruption counts as triplets (interrupter index, interrupted index, count); slot of a pair by `by,of`. */
  private pairs: Int32Array = shared(Int32Array, 3 * FIRST_ROWS);
  private readonly pairSlots = new Map<number, number>();
  private interruptionTotal = 0;
  private dropped = 0;
  private droppedMarks = 0;
  private firstMs: number | null = null;
  private lastMs: number | null = null;
  private changes = 0;

  /**
   * @param meetingId reported as MeetingReport.meetingId.
   * @param opts.maxSpurts see MeetingAnalyticsOptions (a positive integer; default 50 000).
   */
  constructor(readonly meetingId: string, opts: MeetingAnalyticsOptions = {}) {
    const max = opts.maxSpurts ?? DEFAULT_MAX_SPURTS;
    if (!Number.isInteger(max) || max < 0) throw new RangeError(`maxSpurts must be a non-negative integer, got ${max}`);
    this.maxSpurts = max;
  }

  /**
   * A number that grows whenever the report would change: a talk spurt, an interruption (or its update), a
   * stream opened or closed, stream time reaching a new whole second, or `touch()`. Equal versions of one
   * MeetingAnalytics give the same report but for `generatedAt` and stream time within the same second.
   */
  get version(): number {
    return this.changes;
  }

  /** Something the report shows from outside the timeline changed (a participant's name or host flag). */
  touch(): void {
    this.changes++;
  }

  /** Talk spurts not kept because `maxSpurts` were already kept (still counted in talk time). */
  get droppedSpurts(): number {
    return this.dropped;
  }

  /** Interruptions not kept on the timeline because `maxSpurts` were already kept (still counted). */
  get droppedInterruptions(): number {
    return this.droppedMarks;
  }

  /** A stream of `participantId` opened; `startedAtMs` is its stream clock origin (Unix ms). */
  streamOpened(participantId: string, startedAtMs: number): void {
    this.changes++;
    this.person(participantId);
    this.span(startedAtMs, startedAtMs);
  }

  /** A stream of `participantId` closed at stream time `endMs` (its ClosedEvent's endMs). */
  streamClosed(participantId: string, endMs: number): void {
    this.changes++;
    this.person(participantId);
    this.span(null, endMs);
  }

  /** The latest stream time seen on any stream of the meeting (e.g. a stats report's tMs): extends the span. */
  progress(tMs: number): void {
    this.span(null, tMs);
  }

  /**
   * A talk spurt (the engine's 'speech' event). Spurts of different participants may come in any order; each
   * is placed on the timeline by its times. A spurt with no length (endMs <= startMs, or non-finite) is ignored.
   */
  speech(e: SpeechEvent): void {
    if (!Number.isFinite(e.startMs) || !Number.isFinite(e.endMs) || e.endMs <= e.startMs) return;
    this.changes++;
    this.person(e.participantId).talkMs += e.endMs - e.startMs;
    this.span(e.startMs, e.endMs);
    if (this.spurtCount >= this.maxSpurts) {
      this.dropped++;
      return;
    }
    const who = this.person(e.participantId).index;
    const n = this.spurtCount++;
    if (n >= this.spurtWho.length) {
      this.spurtWho = grown(this.spurtWho);
      this.spurtStart = grown(this.spurtStart);
      this.spurtEnd = grown(this.spurtEnd);
    }
    this.spurtWho[n] = who;
    this.spurtStart[n] = e.startMs;
    this.spurtEnd[n] = e.endMs;
  }

  /**
   * An interruption event of the engine (hosts included, whatever `excluded` says). An overlap is identified by
   * (participants[0], participants[1], startMs): it counts once, at its 'start' (`laterParticipantId` made it,
   * the other participant received it); 'ongoing' and 'end' update its endMs (the event's tMs) and overlapMs,
   * 'end' for good. 'ongoing'/'end' of an overlap whose 'start' was not seen are ignored.
   */
  overlap(e: OverlapEvent): void {
    const [a, b] = e.participants;
    const key = `${a}\u0000${b}\u0000${e.startMs}`;
    const open = this.openInterruptions.get(key);
    if (e.phase !== 'start') {
      if (open === undefined) return;
      const index = open;
      this.changes++;
      if (e.tMs >= this.markTimes[3 * index + 1]! || e.phase === 'end') {
        if (this.marksShared) {
          this.markTimes = grown(this.markTimes, this.markTimes.length);
          this.marksShared = false;
        }
        this.markTimes[3 * index + 1] = e.tMs;
        this.markTimes[3 * index + 2] = e.overlapMs;
      }
      if (e.phase === 'end') this.openInterruptions.delete(key);
      return;
    }
    if (open !== undefined) return; // a repeated start
    this.changes++;
    const by = e.laterParticipantId;
    const of = by === a ? b : a;
    this.interruptionTotal++;
    this.countPair(this.person(by).index, this.person(of).index);
    if (this.markCount >= this.maxSpurts) {
      this.droppedMarks++;
      return;
    }
    const index = this.markCount++;
    if (index >= this.markBy.length) {
      this.markBy = grown(this.markBy);
      this.markOf = grown(this.markOf);
      // Three times as many as markBy (an adopted snapshot's columns are exactly as long as their rows).
      this.markTimes = grown(this.markTimes, 3 * this.markBy.length);
    }
    this.markBy[index] = this.person(by).index;
    this.markOf[index] = this.person(of).index;
    this.markTimes.set([e.startMs, e.tMs, e.overlapMs], 3 * index);
    this.openInterruptions.set(key, index);
  }

  /**
   * The meeting report from everything folded so far (O(n log n) in the kept spurts and interruptions: ~100 ms
   * at the bound, so the routes compute it in the render worker from `snapshot()`, src/meetings/render-pool.ts).
   * @param people name and host flag of a participant.
   * @param nowMs wall clock to stamp as `generatedAt`, Unix ms.
   * @param final whether this is the stored, end-of-meeting report.
   */
  report(people: PersonLookup, nowMs: number, final: boolean): MeetingReport {
    const spurts: Spurt[] = [];
    for (let i = 0; i < this.spurtCount; i++) {
      const who = this.spurtWho[i]!;
      spurts.push({ participantId: this.ids[who]!, who, startMs: this.spurtStart[i]!, endMs: this.spurtEnd[i]! });
    }
    spurts.sort(compareSpurts);
    const durationMs = this.firstMs === null || this.lastMs === null ? 0 : Math.max(0, this.lastMs - this.firstMs);

    interface Figures { turns: number; longestMs: number; backchannels: number; patienceSumMs: number; patienceCount: number }
    const figures = new Map<string, Figures>();
    const fig = (id: string) => {
      let f = figures.get(id);
      if (!f) figures.set(id, (f = { turns: 0, longestMs: 0, backchannels: 0, patienceSumMs: 0, patienceCount: 0 }));
      return f;
    };

    // One pass in start order. `enclosing`: per participant, the started spurt reaching furthest (for "another
    // participant is in a talk spurt"); `reachMs`: the furthest end of any spurt started before the current
    // moment (the end of the last speech before it: silence before a turn); `turn`: who holds the floor.
    const enclosing = new Map<string, Spurt>();
    // Every spurt that became some participant's `enclosing` one, earliest start first (a lazy heap: entries
    // no longer enclosing, or ended by now, are dropped when they reach the top).
    const candidates = new SpurtHeap();
    const backchannels: BackchannelMark[] = [];
    let reachMs = -Infinity;
    let speechMs = 0;
    let unionStart = 0;
    let unionEnd = -Infinity;
    let switches = 0;
    interface Turn { participantId: string; startMs: number; endMs: number }
    let turn: Turn | null = null;
    const closeTurn = () => {
      if (!turn) return;
      const f = fig(turn.participantId);
      f.turns++;
      f.longestMs = Math.max(f.longestMs, turn.endMs - turn.startMs);
    };

    for (let i = 0; i < spurts.length; ) {
      const t = spurts[i]!.startMs;
      let j = i;
      while (j < spurts.length && spurts[j]!.startMs === t) j++;
      // Spurts starting at the same moment enclose each other's start (other.start <= s.start < other.end).
      for (let k = i; k < j; k++) {
        const s = spurts[k]!;
        const held = enclosing.get(s.participantId);
        if (!held || s.endMs > held.endMs) {
          enclosing.set(s.participantId, s);
          candidates.push(s);
        }
      }
      for (let k = i; k < j; k++) {
        const s = spurts[k]!;
        if (s.endMs - s.startMs < FLOOR_TAKE_MS) {
          const to = earliestOther(candidates, enclosing, s.participantId, t);
          if (to) {
            fig(s.participantId).backchannels++;
            backchannels.push({ participantId: s.participantId, toParticipantId: to.participantId, startMs: s.startMs, endMs: s.endMs });
            continue;
          }
        }
        // A floor spurt: continues its speaker's turn, or starts a new one.
        if (turn && turn.participantId === s.participantId && s.startMs - turn.endMs < FLOOR_PAUSE_MS) {
          turn.endMs = Math.max(turn.endMs, s.endMs);
          continue;
        }
        closeTurn();
        const previous: Turn | null = turn;
        turn = { participantId: s.participantId, startMs: s.startMs, endMs: s.endMs };
        if (previous && previous.participantId !== s.participantId) {
          switches++;
          const f = fig(s.participantId);
          f.patienceSumMs += Math.max(0, s.startMs - Math.max(reachMs, previous.endMs));
          f.patienceCount++;
        }
      }
      for (let k = i; k < j; k++) {
        const s = spurts[k]!;
        reachMs = Math.max(reachMs, s.endMs);
        // Union of the spurts (sorted by start): extend the current run or close it.
        if (s.startMs > unionEnd) {
          if (unionEnd > -Infinity) speechMs += unionEnd - unionStart;
          unionStart = s.startMs;
          unionEnd = s.endMs;
        } else if (s.endMs > unionEnd) unionEnd = s.endMs;
      }
      i = j;
    }
    closeTurn();
    if (unionEnd > -Infinity) speechMs += unionEnd - unionStart;

    let totalTalkMs = 0;
    for (const p of this.people.values()) totalTalkMs += p.talkMs;
    // Interruptions made and received per participant index, from the pair counts.
    const madeBy = new Map<number, Map<string, number>>();
    const receivedBy = new Map<number, Map<string, number>>();
    const counts = (of: Map<number, Map<string, number>>, i: number) => {
      let c = of.get(i);
      if (!c) of.set(i, (c = new Map()));
      return c;
    };
    for (let s = 0; s < this.pairSlots.size; s++) {
      const by = this.pairs[3 * s]!, of = this.pairs[3 * s + 1]!, n = this.pairs[3 * s + 2]!;
      counts(madeBy, by).set(this.ids[of]!, n);
      counts(receivedBy, of).set(this.ids[by]!, n);
    }
    const none = new Map<string, number>();
    const participants: ParticipantReport[] = [...this.people.keys()].sort(compareIds).map((id) => {
      const p = this.people.get(id)!;
      const f = fig(id);
      const who = people(id);
      let made = 0;
      let received = 0;
      const pMade = madeBy.get(p.index) ?? none;
      const pReceived = receivedBy.get(p.index) ?? none;
      for (const n of pMade.values()) made += n;
      for (const n of pReceived.values()) received += n;
      return {
        participantId: id,
        name: who.name,
        isHost: who.isHost,
        talkTimeMs: Math.round(p.talkMs),
        talkSharePercent: totalTalkMs > 0 ? round1((p.talkMs / totalTalkMs) * 100) : 0,
        turnCount: f.turns,
        longestMonologueMs: Math.round(f.longestMs),
        interruptionsMadeCount: made,
        interruptionsReceivedCount: received,
        interruptedCounts: sortedRecord(pMade),
        interruptedByCounts: sortedRecord(pReceived),
        backchannelCount: f.backchannels,
        patienceMs: f.patienceCount > 0 ? Math.round(f.patienceSumMs / f.patienceCount) : null,
      };
    });

    const silence = durationMs > 0 ? Math.min(100, Math.max(0, (1 - speechMs / durationMs) * 100)) : 0;
    const interruptions: InterruptionMark[] = [];
    for (let i = 0; i < this.markCount; i++) {
      interruptions.push({
        byParticipantId: this.ids[this.markBy[i]!]!, ofParticipantId: this.ids[this.markOf[i]!]!,
        startMs: Math.round(this.markTimes[3 * i]!), endMs: Math.round(this.markTimes[3 * i + 1]!), overlapMs: Math.round(this.markTimes[3 * i + 2]!),
      });
    }
    interruptions.sort((x, y) => x.startMs - y.startMs || compareIds(x.byParticipantId, y.byParticipantId) || compareIds(x.ofParticipantId, y.ofParticipantId));
    return {
      meetingId: this.meetingId,
      final,
      startedAtMs: this.firstMs === null ? null : Math.round(this.firstMs),
      endedAtMs: this.firstMs === null || this.lastMs === null ? null : Math.round(this.lastMs),
      durationMs: Math.round(durationMs),
      speechMs: Math.round(speechMs),
      silenceSharePercent: round1(silence),
      speakerSwitchCount: switches,
      speakerSwitchesPerMin: durationMs > 0 ? round2(switches / (durationMs / 60_000)) : 0,
      interruptionCount: this.interruptionTotal,
      backchannelCount: backchannels.length,
      participants,
      timeline: {
        spurts: spurts.map((s): SpurtMark => ({ participantId: s.participantId, startMs: Math.round(s.startMs), endMs: Math.round(s.endMs) })),
        interruptions,
        backchannels: backchannels.map((b) => ({ ...b, startMs: Math.round(b.startMs), endMs: Math.round(b.endMs) })),
      },
      generatedAt: nowMs,
    };
  }

  /** One more interruption of participant index `of` by `by` in the `pairs` column. */
  private countPair(by: number, of: number): void {
    const key = pairKey(by, of);
    if (this.pairsShared) {
      this.pairs = grown(this.pairs, this.pairs.length);
      this.pairsShared = false;
    }
    let slot = this.pairSlots.get(key);
    if (slot === undefined) {
      slot = this.pairSlots.size;
      this.pairSlots.set(key, slot);
      // Whole rows of three (an adopted snapshot's column is exactly as long as its rows).
      if (3 * slot + 2 >= this.pairs.length) this.pairs = grown(this.pairs, 3 * Math.max(FIRST_ROWS, 2 * (slot + 1)));
      this.pairs[3 * slot] = by;
      this.pairs[3 * slot + 1] = of;
    }
    this.pairs[3 * slot + 2]!++;
  }

  private person(id: string): Person {
    let p = this.people.get(id);
    if (!p) {
      this.people.set(id, (p = { talkMs: 0, index: this.ids.length }));
      this.ids.push(id);
    }
    return p;
  }

  /** Widen the meeting span: `startMs` may lower its start (and raise its end), `endMs` raises its end. */
  private span(startMs: number | null, endMs: number): void {
    if (startMs !== null && Number.isFinite(startMs) && (this.firstMs === null || startMs < this.firstMs)) {
      this.firstMs = startMs;
      this.changes++;
    }
    if (Number.isFinite(endMs) && (this.lastMs === null || endMs > this.lastMs)) {
      if (this.lastMs === null || Math.floor(endMs / 1000) !== Math.floor(this.lastMs / 1000)) this.changes++;
      this.lastMs = endMs;
    }
  }

  /**
   * Everything `report()` reads, as columns (typed arrays, index-coded participants) for a report computed off
   * the event loop (src/meetings/render-worker.ts through `fromSnapshot`). The timeline columns are views of
   * this timeline's shared buffers (their first rows; see the columns' comment): taking a snapshot copies
   * nothing but the participants' talk times, and postMessage shares the columns rather than copying them.
   */
  snapshot(): TimelineSnapshot {
    const talkMs = new Float64Array(this.ids.length);
    for (const p of this.people.values()) talkMs[p.index] = p.talkMs;
    const n = this.spurtCount;
    const k = this.markCount;
    this.marksShared = true;
    this.pairsShared = true;
    return {
      meetingId: this.meetingId, maxSpurts: this.maxSpurts, ids: this.ids.slice(), talkMs, made: head(this.pairs, 3 * this.pairSlots.size),
      spurtWho: head(this.spurtWho, n), spurtStart: head(this.spurtStart, n), spurtEnd: head(this.spurtEnd, n),
      markBy: head(this.markBy, k), markOf: head(this.markOf, k), markTimes: head(this.markTimes, 3 * k),
      interruptionTotal: this.interruptionTotal, dropped: this.dropped, droppedMarks: this.droppedMarks,
      firstMs: this.firstMs, lastMs: this.lastMs,
    };
  }

  /**
   * A MeetingAnalytics holding what `snapshot()` took (its `report()` equals the original's). The snapshot's
   * columns are adopted, not copied: rows are appended past them, and what would be written in place is
   * copied first, so the snapshot stays as it was for whoever else holds it.
   */
  static fromSnapshot(s: TimelineSnapshot): MeetingAnalytics {
    const a = new MeetingAnalytics(s.meetingId, { maxSpurts: s.maxSpurts });
    for (let i = 0; i < s.ids.length; i++) a.person(s.ids[i]!).talkMs = s.talkMs[i]!;
    a.pairs = s.made;
    for (let i = 0; i + 2 < s.made.length; i += 3) a.pairSlots.set(pairKey(s.made[i]!, s.made[i + 1]!), i / 3);
    a.spurtCount = s.spurtWho.length;
    a.spurtWho = s.spurtWho;
    a.spurtStart = s.spurtStart;
    a.spurtEnd = s.spurtEnd;
    a.markBy = s.markBy;
    a.markOf = s.markOf;
    a.markTimes = s.markTimes;
    a.markCount = s.markBy.length;
    a.marksShared = true;
    a.pairsShared = true;
    a.interruptionTotal = s.interruptionTotal;
    a.dropped = s.dropped;
    a.droppedMarks = s.droppedMarks;
    a.firstMs = s.firstMs;
    a.lastMs = s.lastMs;
    return a;
  }
}

/**
 * The enclosing spurt of another participant than `self` still running at `t` (endMs > t) that started first
 * (ties: lower participantId), or null. Entries of `heap` that are no longer their participant's enclosing spurt,
 * or that ended by `t`, are dropped for good (enclosing spurts are only ever replaced, `t` only grows), so a
 * report costs O(n log n) in the spurts whatever the number of participants.
 */
function earliestOther(heap: SpurtHeap, enclosing: Map<string, Spurt>, self: string, t: number): Spurt | null {
  const live = (o: Spurt) => enclosing.get(o.participantId) === o && o.endMs > t;
  let own: Spurt | null = null;
  let found: Spurt | null = null;
  for (let top = heap.peek(); top; top = heap.peek()) {
    if (!live(top)) { heap.pop(); continue; }
    if (top.participantId !== self) { found = top; break; }
    own = heap.pop()!;  // set aside: the participant's own spurt never is the one spoken to
  }
  if (own) heap.push(own);
  return found;
}

/** Binary min-heap of spurts by start, then participantId. */
class SpurtHeap {
  private readonly items: Spurt[] = [];
  private static less(x: Spurt, y: Spurt): boolean {
    return x.startMs < y.startMs || (x.startMs === y.startMs && x.participantId < y.participantId);
  }
  peek(): Spurt | undefined { return this.items[0]; }
  push(s: Spurt): void {
    const a = this.items;
    let i = a.push(s) - 1;
    while (i > 0) {
      const up = (i - 1) >> 1;
      if (!SpurtHeap.less(a[i]!, a[up]!)) break;
      [a[i], a[up]] = [a[up]!, a[i]!];
      i = up;
    }
  }
  pop(): Spurt | undefined {
    const a = this.items;
    const top = a[0];
    const last = a.pop();
    if (a.length === 0 || last === undefined) return top;
    a[0] = last;
    for (let i = 0; ;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < a.length && SpurtHeap.less(a[l]!, a[m]!)) m = l;
      if (r < a.length && SpurtHeap.less(a[r]!, a[m]!)) m = r;
      if (m === i) break;
      [a[i], a[m]] = [a[m]!, a[i]!];
      i = m;
    }
    return top;
  }
}

/** Timeline order: start, then participantId, then end. */
function compareSpurts(x: Omit<Spurt, 'who'>, y: Omit<Spurt, 'who'>): number {
  return x.startMs - y.startMs || compareIds(x.participantId, y.participantId) || x.endMs - y.endMs;
}

/** Code-unit order of ids (the same on every machine, unlike localeCompare). */
function compareIds(x: string, y: string): number {
  return x < y ? -1 : x > y ? 1 : 0;
}

/** A typed array of twice the length holding `a`'s values first. */
/**
 * The `pairSlots` key of interrupter index `by` and interrupted index `of`: one number (exact while both are
 * below 2^26, far beyond the participants a meeting's memory holds), not a string built per event.
 */
function pairKey(by: number, of: number): number {
  return by * 0x4000000 + of;
}

/** A typed array of `length` elements over a new SharedArrayBuffer. */
function shared<A extends Int32Array | Float64Array>(Type: { new (b: SharedArrayBuffer): A; BYTES_PER_ELEMENT: number }, length: number): A {
  return new Type(new SharedArrayBuffer(length * Type.BYTES_PER_ELEMENT));
}

/**
 * Rows a new timeline's columns have room for (they double as they fill): shared buffers are resident from the
 * start, and most meetings are small (a meeting at the bound grows to 50,000 in 10 doublings).
 */
const FIRST_ROWS = 64;

/** `a`'s content in a new shared column of `length` elements (default: twice as many, at least FIRST_ROWS). */
function grown<A extends Int32Array | Float64Array>(a: A, length = Math.max(FIRST_ROWS, a.length * 2)): A {
  const b = shared(a.constructor as unknown as { new (b: SharedArrayBuffer): A; BYTES_PER_ELEMENT: number }, length);
  b.set(a);
  return b;
}

/** The first `n` elements of `a`, as a view of the same memory. */
function head<A extends Int32Array | Float64Array>(a: A, n: number): A {
  return new (a.constructor as new (b: ArrayBufferLike, offset: number, length: number) => A)(a.buffer, a.byteOffset, n);
}


function sortedRecord(m: Map<string, number>): Record<string, number> {
  return Object.fromEntries([...m].sort((x, y) => compareIds(x[0], y[0])));
}

const round1 = (v: number) => Math.round(v * 10) / 10;
const round2 = (v: number) => Math.round(v * 100) / 100;

/**
 * Replay a stored report's timeline into a new MeetingAnalytics (a meeting whose memory was released): its span,
 * participants, kept talk spurts and interruptions. O(n) in the timeline; at the bound (12 MB of JSON) the
 * render worker does it (src/meetings/render-worker.ts) and the event loop gets the snapshot.
 */
export function seedAnalytics(a: MeetingAnalytics, r: MeetingReport): void {
  if (r.startedAtMs !== null) a.progress(r.startedAtMs);
  for (const p of r.participants) if (r.startedAtMs !== null) a.streamOpened(p.participantId, r.startedAtMs);
  for (const s of r.timeline.spurts) a.speech({ type: 'speech', streamId: -1, meetingId: r.meetingId, participantId: s.participantId, startMs: s.startMs, endMs: s.endMs });
  for (const i of r.timeline.interruptions) {
    const base = { type: 'overlap' as const, meetingId: r.meetingId, participants: [i.ofParticipantId, i.byParticipantId] as [string, string], laterParticipantId: i.byParticipantId, startMs: i.startMs, excluded: false };
    a.overlap({ ...base, phase: 'start', tMs: i.startMs, overlapMs: i.overlapMs });
    a.overlap({ ...base, phase: 'end', tMs: i.endMs, overlapMs: i.overlapMs });
  }
  if (r.endedAtMs !== null) a.progress(r.endedAtMs);
}
