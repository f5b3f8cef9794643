/**
 * The five feedback rules of PROTOCOL.md §5, evaluated per meeting on the native engine's events (pure: no I/O,
 * no wall clock). Every time here is the stream clock of PROTOCOL.md §4 (Unix ms), so a meeting streamed
 * faster than real time is judged exactly as one streamed live.
 *
 * - volume_low: ≥ 1 s of speech in the last 3 s with speech RMS below `volumeLowDbfs`.
 * - volume_high: ≥ 1 s of speech in the last 3 s with speech RMS above `volumeHighDbfs`, or more than
 *   `clippedRatio` of the last 3 s clipped.
 * - silence_prolonged: unmuted and no speech for `silenceMs` (counted from the last speech, the unmute or the
 *   stream start, whichever is latest).
 * - speech_overlap: the engine's interruption `start` (the talk spurts of two unmuted streams intersecting for
 *   `overlapMs`, the later one lasting 1 s: backchannels never reach it); about the participant who started
 *   later. Overlaps the engine flags `excluded` are dropped: one of the two was a host when it began (the
 *   meetings owner tells the engine at once when a role is learned, so that is the one place deciding it).
 * - monologue_prolonged: one participant holds the floor for `monologueMs`: their turn (talk spurts with pauses
 *   under FLOOR_PAUSE_MS) with nobody else speaking for FLOOR_TAKE_MS or more since it began.
 *
 * A finding of a kind about a participant is reported at most once per `cooldownMs` (stream time). No finding
 * is ever about a host.
 */
import type { OverlapEvent, StatsEvent } from '../pipeline/types.js';

export const FEEDBACK_KINDS = ['volume_low', 'volume_high', 'silence_prolonged', 'speech_overlap', 'monologue_prolonged'] as const;
export type FeedbackKind = (typeof FEEDBACK_KINDS)[number];

export interface RuleThresholds {
  /** FEEDBACK_VOLUME_LOW_DBFS (default -38). */
  volumeLowDbfs: number;
  /** FEEDBACK_VOLUME_HIGH_DBFS (default -8). */
  volumeHighDbfs: number;
  /** Fraction of clipped samples over 3 s that counts as too loud (default 0.01). */
  clippedRatio: number;
  /** FEEDBACK_SILENCE_SEC × 1000 (default 30 000). */
  silenceMs: number;
  /** FEEDBACK_MONOLOGUE_SEC × 1000 (default 90 000). */
  monologueMs: number;
  /** FEEDBACK_COOLDOWN_SEC × 1000 (default 15 000). */
  cooldownMs: number;
}

/** Speech needed in the last 3 s before the volume rules judge the level, ms. */
export const MIN_SPEECH_MS_3S = 1000;
/** A pause of the floor holder shorter than this keeps the turn (sentence breaks), ms. */
export const FLOOR_PAUSE_MS = 3000;
/** Another participant's talk spurt this long takes the floor away; shorter ones are backchannels, ms. */
export const FLOOR_TAKE_MS = 1000;
/** Monologue is judged only when every other stream has reported up to this close to the holder's time, ms. */
const FLOOR_SYNC_MS = 2000;

/** A rule that became true. */
export interface Finding {
  kind: FeedbackKind;
  participantId: string;
  /** Stream time the rule became true. */
  atMs: number;
  window: { start: number; end: number };
  /** The measured figures (PROTOCOL.md §5 metadata). */
  metadata: Record<string, unknown>;
  /** For speech_overlap: identifies the overlap so its end can update the same event. */
  overlapKey?: string;
}

/** The end of an overlap already reported: its final length. */
export interface OverlapEnd {
  overlapKey: string;
  endMs: number;
  overlapMs: number;
}

interface ParticipantState {
  startedAtMs: number;
  lastTMs: number;
  muted: boolean;
  /** Stream time of the last unmute (or the stream start). */
  unmutedAtMs: number;
  lastSpokeAtMs: number | null;
  /** Start of the current turn (talk spurts joined across pauses under FLOOR_PAUSE_MS). */
  turnStartMs: number | null;
  /** Last stream time this participant was in a talk spurt of at least FLOOR_TAKE_MS. */
  lastFloorSpeechMs: number | null;
  open: boolean;
}

/** Rule state of one meeting. */
export class MeetingRules {
  private readonly people = new Map<string, ParticipantState>();
  /** When each kind of finding last fired, by participant (the cooldown). */
  private readonly lastFired = new Map<string, Map<FeedbackKind, number>>();

  /**
   * @param isHost whether a participant is a host of this meeting (asked at evaluation time, so roles learnt
   *   later apply at once).
   */
  constructor(private readonly t: RuleThresholds, private readonly isHost: (participantId: string) => boolean) {}

  /** A stream of this participant opened at `startedAtMs` (stream clock origin). */
  open(participantId: string, startedAtMs: number): void {
    const p = this.people.get(participantId);
    if (p) {
      p.open = true;
      p.unmutedAtMs = Math.max(p.unmutedAtMs, startedAtMs);
      p.lastTMs = Math.max(p.lastTMs, startedAtMs);
      return;
    }
    this.people.set(participantId, {
      startedAtMs, lastTMs: startedAtMs, muted: false, unmutedAtMs: startedAtMs, lastSpokeAtMs: null,
      turnStartMs: null, lastFloorSpeechMs: null, open: true,
    });
  }

  /** The participant's stream closed: it no longer counts for silence or floor synchronisation. */
  close(participantId: string): void {
    const p = this.people.get(participantId);
    if (p) p.open = false;
  }

  get openStreams(): number {
    let n = 0;
    for (const p of this.people.values()) if (p.open) n++;
    return n;
  }

  /**
   * Fold one stats event; returns the findings it makes true (after cooldown). A row that makes none true
   * allocates nothing (the shared empty list is returned; callers only read it), and the floor check, which
   * looks at every other participant, runs only for a turn already `monologueMs` long: a meeting of a
   * thousand streams costs O(1) per row.
   */
  stats(e: StatsEvent): readonly Finding[] {
    let p = this.people.get(e.participantId);
    if (!p) {
      this.open(e.participantId, e.tMs);
      p = this.people.get(e.participantId)!;
    }
    if (p.muted && !e.muted) p.unmutedAtMs = e.tMs;
    p.muted = e.muted;
    p.lastTMs = Math.max(p.lastTMs, e.tMs);
    if (e.lastSpokeAtMs !== null) {
      if (e.speaking || p.lastSpokeAtMs === null || e.lastSpokeAtMs > p.lastSpokeAtMs) {
        const spurtStart = e.speechStartedAtMs ?? e.lastSpokeAtMs;
        if (p.turnStartMs === null || p.lastSpokeAtMs === null || spurtStart - p.lastSpokeAtMs > FLOOR_PAUSE_MS) p.turnStartMs = spurtStart;
      }
      p.lastSpokeAtMs = e.lastSpokeAtMs;
    }
    if (e.speaking && e.speechStartedAtMs !== null && e.tMs - e.speechStartedAtMs >= FLOOR_TAKE_MS) p.lastFloorSpeechMs = e.tMs;

    if (e.muted || this.isHost(e.participantId)) return NONE;
    let out: Finding[] | null = null;
    const id = e.participantId;
    const t = e.tMs;
    if (e.speechMs3s >= MIN_SPEECH_MS_3S && e.rmsDbfs3s !== null) {
      if (e.rmsDbfs3s < this.t.volumeLowDbfs && this.due('volume_low', id, t)) {
        (out ??= []).push({ kind: 'volume_low', participantId: id, atMs: t, window: { start: t - 3000, end: t }, metadata: { ...levels(e), thresholdDbfs: this.t.volumeLowDbfs } });
      }
      if ((e.rmsDbfs3s > this.t.volumeHighDbfs || e.clippedRatio3s > this.t.clippedRatio) && this.due('volume_high', id, t)) {
        (out ??= []).push({ kind: 'volume_high', participantId: id, atMs: t, window: { start: t - 3000, end: t }, metadata: { ...levels(e), thresholdDbfs: this.t.volumeHighDbfs } });
      }
    }
    const silentSince = Math.max(p.lastSpokeAtMs ?? p.startedAtMs, p.unmutedAtMs, p.startedAtMs);
    if (!e.speaking && t - silentSince >= this.t.silenceMs && this.due('silence_prolonged', id, t)) {
      (out ??= []).push({
        kind: 'silence_prolonged', participantId: id, atMs: t, window: { start: silentSince, end: t },
        metadata: { silentMs: t - silentSince, speechCoverage: round3(e.speechCoverage10s) },
      });
    }
    // The floor started at or after the turn: a turn shorter than monologueMs cannot be a monologue yet.
    if (p.turnStartMs !== null && t - p.turnStartMs >= this.t.monologueMs) {
      const floor = this.floorSince(id, p, t);
      if (floor !== null && t - floor >= this.t.monologueMs && this.due('monologue_prolonged', id, t)) {
        (out ??= []).push({
          kind: 'monologue_prolonged', participantId: id, atMs: t, window: { start: floor, end: t },
          metadata: { floorMs: t - floor, speechCoverage: round3(e.speechCoverage10s) },
        });
      }
    }
    return out ?? NONE;
  }

  /** Fold one overlap event: a `start` may become a finding; an `end` closes a reported one. */
  overlap(e: OverlapEvent): { finding: Finding | null; end: OverlapEnd | null } {
    const key = `${e.participants[0]}|${e.participants[1]}|${e.startMs}`;
    if (e.excluded) return { finding: null, end: null };
    if (e.phase === 'end') return { finding: null, end: { overlapKey: key, endMs: e.tMs, overlapMs: e.overlapMs } };
    if (e.phase !== 'start') return { finding: null, end: null };
    if (!this.due('speech_overlap', e.laterParticipantId, e.tMs)) return { finding: null, end: null };
    return {
      finding: {
        kind: 'speech_overlap', participantId: e.laterParticipantId, atMs: e.tMs, window: { start: e.startMs, end: e.tMs },
        metadata: { participants: [...e.participants], overlapMs: e.overlapMs }, overlapKey: key,
      },
      end: null,
    };
  }

  /**
   * Start of `id`'s hold of the floor at `tMs`, or null when `id` is not holding it (not in a turn, or the other
   * streams have not reported up to about `tMs` yet, so their speech is unknown).
   */
  private floorSince(id: string, p: ParticipantState, tMs: number): number | null {
    if (p.turnStartMs === null || p.lastSpokeAtMs === null || tMs - p.lastSpokeAtMs > FLOOR_PAUSE_MS) return null;
    let since = p.turnStartMs;
    for (const [other, q] of this.people) {
      if (other === id) continue;
      if (q.open && !q.muted && q.lastTMs < tMs - FLOOR_SYNC_MS) return null;
      if (q.lastFloorSpeechMs !== null && q.lastFloorSpeechMs > since) since = q.lastFloorSpeechMs;
    }
    return since;
  }

  /** Whether a finding of `kind` for `participantId` at `atMs` is past its cooldown; if so, it counts as fired now. */
  private due(kind: FeedbackKind, participantId: string, atMs: number): boolean {
    let fired = this.lastFired.get(participantId);
    if (!fired) this.lastFired.set(participantId, (fired = new Map()));
    const last = fired.get(kind);
    if (last !== undefined && atMs - last < this.t.cooldownMs) return false;
    fired.set(kind, atMs);
    return true;
  }
}

/** What `stats` returns when nothing fires (shared: callers only read it). */
const NONE: readonly Finding[] = Object.freeze([]);

/** The level figures of a volume finding's metadata. */
function levels(e: StatsEvent): { rmsDbfs: number | null; speechCoverage: number; clippedRatio: number; speechMs3s: number } {
  return { rmsDbfs: round1(e.rmsDbfs3s), speechCoverage: round3(e.speechCoverage10s), clippedRatio: round4(e.clippedRatio3s), speechMs3s: e.speechMs3s };
}

const round1 = (v: number | null) => (v === null ? null : Math.round(v * 10) / 10);
const round3 = (v: number) => Math.round(v * 1000) / 1000;
const round4 = (v: number) => Math.round(v * 10000) / 10000;
