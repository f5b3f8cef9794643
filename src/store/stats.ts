/**
 * Repository of `participant_stats`: one summary row per (meeting, participant), refreshed from the native
 * engine's `stats` events (src/egress/stats.ts builds the summaries). Levels are dBFS, times Unix ms on the
 * stream clock, durations ms.
 */
import type { Db } from './db.js';

export interface ParticipantStats {
  meetingId: string;
  participant: string;
  /** Wall clock of the last update, Unix ms. */
  updatedAt: number;
  /** Speech time so far (talk spurts as judged by the VAD), ms. */
  speechMs: number;
  /** Audio analysed so far (muted spans excluded), ms. */
  analysedMs: number;
  /** Latest fraction 0..1 of the last 10 s judged speech. */
  speechCoverage10s: number | null;
  /** Latest RMS over speech of the last 3 s, dBFS. */
  rmsDbfs3s: number | null;
  /** Latest EMA of speech frame RMS, dBFS. */
  rmsEmaDbfs: number | null;
  /** Highest peak seen, dBFS. */
  peakDbfs: number | null;
  /** Clipped samples so far. */
  clippedSamples: number;
  /** Latest VAD noise floor estimate, dBFS. */
  noiseFloorDbfs: number | null;
  /** Stream time of the last speech frame, Unix ms. */
  lastSpokeAt: number | null;
}

interface StatsRow {
  meeting_id: string; participant: string; updated_at: number; speech_ms: number; analysed_ms: number;
  speech_coverage_10s: number | null; rms_dbfs_3s: number | null; rms_ema_dbfs: number | null; peak_dbfs: number | null;
  clipped_samples: number; noise_floor_dbfs: number | null; last_spoke_at: number | null;
}

const toStats = (r: StatsRow): ParticipantStats => ({
  meetingId: r.meeting_id, participant: r.participant, updatedAt: r.updated_at, speechMs: r.speech_ms, analysedMs: r.analysed_ms,
  speechCoverage10s: r.speech_coverage_10s, rmsDbfs3s: r.rms_dbfs_3s, rmsEmaDbfs: r.rms_ema_dbfs, peakDbfs: r.peak_dbfs,
  clippedSamples: r.clipped_samples, noiseFloorDbfs: r.noise_floor_dbfs, lastSpokeAt: r.last_spoke_at,
});

/** All methods are synchronous (better-sqlite3). */
export class StatsStore {
  private readonly q;
  private readonly upsertAll: (rows: readonly ParticipantStats[]) => void;

  constructor(db: Db) {
    this.q = {
      get: db.prepare<[string, string], StatsRow>('SELECT * FROM participant_stats WHERE meeting_id = ? AND participant = ?'),
      byMeeting: db.prepare<[string], StatsRow>('SELECT * FROM participant_stats WHERE meeting_id = ? ORDER BY participant'),
      ofParticipants: db.prepare<[string, string], StatsRow>('SELECT * FROM participant_stats WHERE meeting_id = ? AND participant IN (SELECT value FROM json_each(?))'),
      upsert: db.prepare(`INSERT INTO participant_stats (meeting_id, participant, updated_at, speech_ms, analysed_ms, speech_coverage_10s,
          rms_dbfs_3s, rms_ema_dbfs, peak_dbfs, clipped_samples, noise_floor_dbfs, last_spoke_at)
        VALUES (@meetingId, @participant, @updatedAt, @speechMs, @analysedMs, @speechCoverage10s, @rmsDbfs3s, @rmsEmaDbfs, @peakDbfs,
          @clippedSamples, @noiseFloorDbfs, @lastSpokeAt)
        ON CONFLICT (meeting_id, participant) DO UPDATE SET updated_at = excluded.updated_at, speech_ms = excluded.speech_ms,
          analysed_ms = excluded.analysed_ms, speech_coverage_10s = excluded.speech_coverage_10s, rms_dbfs_3s = excluded.rms_dbfs_3s,
          rms_ema_dbfs = excluded.rms_ema_dbfs, peak_dbfs = excluded.peak_dbfs, clipped_samples = excluded.clipped_samples,
          noise_floor_dbfs = excluded.noise_floor_dbfs, last_spoke_at = excluded.last_spoke_at`),
    };
    this.upsertAll = db.transaction((rows: readonly ParticipantStats[]) => {
      for (const r of rows) this.q.upsert.run({ ...r });
    });
  }

  get(meetingId: string, participant: string): ParticipantStats | null {
    const r = this.q.get.get(meetingId, participant);
    return r ? toStats(r) : null;
  }

  /** Latest summary of every participant of a meeting, by participant id. */
  byMeeting(meetingId: string): ParticipantStats[] {
    return this.q.byMeeting.all(meetingId).map(toStats);
  }

  /** Latest summary of each of `participants` (ids) that has one, in no particular order. */
  ofParticipants(meetingId: string, participants: readonly string[]): ParticipantStats[] {
    return participants.length === 0 ? [] : this.q.ofParticipants.all(meetingId, JSON.stringify(participants)).map(toStats);
  }

  /** Write summaries (whole rows) in one transaction. */
  upsertMany(rows: readonly ParticipantStats[]): void {
    if (rows.length > 0) this.upsertAll(rows);
  }
}
