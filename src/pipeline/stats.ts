/**
 * Stats reports as packed rows. The engine delivers the `stats` reports of a batch in one Float64Array, one
 * row per report, columns in the order of STATS_FIELDS (native/core/stats_fields.h is the C++ side of the
 * same list; `checkStatsFields` compares the addon's `statsFields()` with it when the addon is loaded, so a
 * difference fails at load instead of reading wrong columns). Booleans are 0/1, missing measurements NaN.
 *
 * `StatsRows.row(i)` returns one cursor object moved to row i (no allocation per report): read what you need
 * from it before asking for another row, and never keep it (copy the fields instead).
 */
import type { StatsEvent } from './types.js';

/** The columns of a stats row, in order: the same list as native/core/stats_fields.h. */
export const STATS_FIELDS = [
  'streamId', 'tMs', 'speaking', 'muted', 'rmsDbfs', 'peakDbfs', 'clippedSamples', 'samples', 'speechCoverage10s',
  'speechMs3s', 'rmsDbfs3s', 'clippedRatio3s', 'rmsEmaDbfs', 'noiseFloorDbfs', 'lastSpokeAtMs', 'speechStartedAtMs',
  'overflowBytes', 'recordedBytes',
] as const;
export type StatsField = (typeof STATS_FIELDS)[number];

/** Column index of each field. */
export const COL = Object.freeze(Object.fromEntries(STATS_FIELDS.map((f, i) => [f, i]))) as { readonly [K in StatsField]: number };
const N = STATS_FIELDS.length;

/**
 * @throws Error naming the first difference when the addon's column list is not STATS_FIELDS (an addon
 *   built from other sources than this TypeScript).
 */
export function checkStatsFields(native: readonly string[]): void {
  const n = Math.max(native.length, N);
  for (let i = 0; i < n; i++) {
    if (native[i] !== STATS_FIELDS[i]) {
      throw new Error(`the audio addon's stats columns differ from src/pipeline/stats.ts at column ${i}: native ${JSON.stringify(native[i])}, TypeScript ${JSON.stringify(STATS_FIELDS[i])} (rebuild the addon)`);
    }
  }
}

/** Who a stream is (for the meetingId/participantId of its rows). */
export interface StreamIdentity {
  readonly meetingId: string;
  readonly participantId: string;
}

const nullable = (v: number): number | null => (Number.isNaN(v) ? null : v);

/** A cursor over one row; implements StatsEvent with getters (see the module comment: do not keep it). */
class StatsRow implements StatsEvent {
  /** @internal */ data: Float64Array = new Float64Array(0);
  /** @internal */ at = 0;
  /** @internal */ who: StreamIdentity = { meetingId: '', participantId: '' };
  get type(): 'stats' { return 'stats'; }
  get streamId(): number { return this.data[this.at + COL.streamId]!; }
  get meetingId(): string { return this.who.meetingId; }
  get participantId(): string { return this.who.participantId; }
  get tMs(): number { return this.data[this.at + COL.tMs]!; }
  get speaking(): boolean { return this.data[this.at + COL.speaking] === 1; }
  get muted(): boolean { return this.data[this.at + COL.muted] === 1; }
  get rmsDbfs(): number | null { return nullable(this.data[this.at + COL.rmsDbfs]!); }
  get peakDbfs(): number | null { return nullable(this.data[this.at + COL.peakDbfs]!); }
  get clippedSamples(): number { return this.data[this.at + COL.clippedSamples]!; }
  get samples(): number { return this.data[this.at + COL.samples]!; }
  get speechCoverage10s(): number { return this.data[this.at + COL.speechCoverage10s]!; }
  get speechMs3s(): number { return this.data[this.at + COL.speechMs3s]!; }
  get rmsDbfs3s(): number | null { return nullable(this.data[this.at + COL.rmsDbfs3s]!); }
  get clippedRatio3s(): number { return this.data[this.at + COL.clippedRatio3s]!; }
  get rmsEmaDbfs(): number | null { return nullable(this.data[this.at + COL.rmsEmaDbfs]!); }
  get noiseFloorDbfs(): number { return this.data[this.at + COL.noiseFloorDbfs]!; }
  get lastSpokeAtMs(): number | null { return nullable(this.data[this.at + COL.lastSpokeAtMs]!); }
  get speechStartedAtMs(): number | null { return nullable(this.data[this.at + COL.speechStartedAtMs]!); }
  get overflowBytes(): number { return this.data[this.at + COL.overflowBytes]!; }
  get recordedBytes(): number { return this.data[this.at + COL.recordedBytes]!; }
}

const UNKNOWN: StreamIdentity = Object.freeze({ meetingId: '', participantId: '' });
const EMPTY = new Float64Array(0);

/** The stats reports of one engine batch. */
export class StatsRows {
  static readonly empty = new StatsRows(EMPTY, () => undefined);
  private readonly cursor = new StatsRow();
  /** Number of rows (reports). */
  readonly length: number;

  /**
   * @param data rows × STATS_FIELDS.length doubles.
   * @param identity the meeting and participant of a stream id (undefined: unknown stream, empty strings).
   */
  constructor(readonly data: Float64Array, private readonly identity: (streamId: number) => StreamIdentity | undefined) {
    this.length = data.length / N;
  }

  /** Row `i` (0 ≤ i < length) through the shared cursor: valid until the next call of row(). */
  row(i: number): StatsEvent {
    const c = this.cursor;
    c.data = this.data;
    c.at = i * N;
    c.who = this.identity(this.data[c.at + COL.streamId]!) ?? UNKNOWN;
    return c;
  }

  /** Column `field` of row `i`, raw (booleans 0/1, NaN for a missing measurement). */
  get(i: number, field: StatsField): number {
    return this.data[i * N + COL[field]]!;
  }

  /** Every row as a plain StatsEvent object (allocates: for tests, logs and debugging). */
  toObjects(): StatsEvent[] {
    const out: StatsEvent[] = [];
    for (let i = 0; i < this.length; i++) {
      const r = this.row(i);
      const o = { type: 'stats' } as Record<string, unknown>;
      o.meetingId = r.meetingId;
      o.participantId = r.participantId;
      for (const f of STATS_FIELDS) o[f] = (r as unknown as Record<string, unknown>)[f];
      out.push(o as unknown as StatsEvent);
    }
    return out;
  }
}
