/**
 * Repository of the `recordings` table: one row per egress recording file. Paths are stored relative to
 * STORAGE_DIR (so the storage folder can move); muted intervals are a JSON array of {startMs, endMs} on the
 * stream clock (Unix ms, docs/protocol.md), `endMs` null while a mute is still open; gaps are a JSON array of
 * {offset, bytes} (bytes of the WAV data) that the file lacks.
 */
import type { Db } from './db.js';

export type RecordingStatus = 'RECORDING' | 'COMPLETE' | 'REPAIRED' | 'FAILED';

/** A muted span on the stream clock, Unix ms; `endMs` is null while the mute lasts. */
export interface MutedInterval {
  startMs: number;
  endMs: number | null;
}

/** Bytes missing from a recording's data: `bytes` that belong at data offset `offset` (WAV header excluded). */
export interface RecordingGap {
  offset: number;
  bytes: number;
}

export interface Recording {
  id: number;
  meetingId: string;
  participant: string;
  trackId: string;
  kind: 'audio' | 'video';
  /** 'pcm_s16le' for audio. */
  codec: string;
  /** Relative to STORAGE_DIR, '/'-separated. */
  path: string;
  sampleRate: number | null;
  channels: number | null;
  /** Data bytes in the file (the WAV header not counted). */
  bytes: number;
  /** Stream clock origin, Unix ms. */
  startedAt: number;
  /** Wall clock when the stream ended (file mtime for a repaired file), Unix ms. */
  endedAt: number | null;
  status: RecordingStatus;
  closeReason: string | null;
  mutedIntervals: MutedInterval[];
  /** What the file lacks, in data order (offset and length in bytes of the WAV data): audio lost past a queue
   *  bound, or everything from the cut of a failed write on. Empty when nothing was lost. */
  gaps: RecordingGap[];
  egressId: string | null;
  /** LiveKit's status of that egress (`EGRESS_ACTIVE`, `EGRESS_COMPLETE`, ...), from egress_* webhooks. */
  egressStatus: string | null;
  /** LiveKit's error text for a failed egress. */
  egressError: string | null;
}

interface RecordingRow {
  id: number; meeting_id: string; participant: string; track_id: string; kind: 'audio' | 'video'; codec: string; path: string;
  sample_rate: number | null; channels: number | null; bytes: number; started_at: number; ended_at: number | null;
  status: RecordingStatus; close_reason: string | null; muted_intervals: string; gaps: string; egress_id: string | null;
  egress_status: string | null; egress_error: string | null;
}

const toRecording = (r: RecordingRow): Recording => ({
  id: r.id, meetingId: r.meeting_id, participant: r.participant, trackId: r.track_id, kind: r.kind, codec: r.codec,
  path: r.path, sampleRate: r.sample_rate, channels: r.channels, bytes: r.bytes, startedAt: r.started_at, endedAt: r.ended_at,
  status: r.status, closeReason: r.close_reason, mutedIntervals: parseIntervals(r.muted_intervals), gaps: parseGaps(r.gaps), egressId: r.egress_id,
  egressStatus: r.egress_status ?? null, egressError: r.egress_error ?? null,
});

function parseIntervals(text: string): MutedInterval[] {
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) ? (v as MutedInterval[]) : [];
  } catch {
    return [];
  }
}

function parseGaps(text: string): RecordingGap[] {
  try {
    const v: unknown = JSON.parse(text);
    return Array.isArray(v) ? (v as RecordingGap[]) : [];
  } catch {
    return [];
  }
}

/** A recording row to insert: the identifying fields, plus the optional audio format, mute state and egress id. */
export type NewRecording = Pick<Recording, 'meetingId' | 'participant' | 'trackId' | 'kind' | 'codec' | 'path' | 'startedAt'>
  & Partial<Pick<Recording, 'sampleRate' | 'channels' | 'mutedIntervals' | 'egressId'>>;

/** The end of a recording: final sizes and status. */
export interface RecordingEnd {
  bytes: number;
  endedAt: number;
  status: Exclude<RecordingStatus, 'RECORDING'>;
  closeReason: string | null;
  /** Replaces the stored intervals when given. */
  mutedIntervals?: MutedInterval[];
  /** Replaces the stored gaps when given. */
  gaps?: RecordingGap[];
}

/** All methods are synchronous (better-sqlite3). */
export class RecordingStore {
  private readonly q;

  constructor(db: Db) {
    this.q = {
      insert: db.prepare(`INSERT INTO recordings (meeting_id, participant, track_id, kind, codec, path, sample_rate, channels, started_at, status, muted_intervals, egress_id)
        VALUES (@meetingId, @participant, @trackId, @kind, @codec, @path, @sampleRate, @channels, @startedAt, 'RECORDING', @muted, @egressId)`),
      get: db.prepare<[number], RecordingRow>('SELECT * FROM recordings WHERE id = ?'),
      byPath: db.prepare<[string], RecordingRow>('SELECT * FROM recordings WHERE path = ?'),
      byStatus: db.prepare<[string], RecordingRow>('SELECT * FROM recordings WHERE status = ? ORDER BY id'),
      byMeeting: db.prepare<[string], RecordingRow>('SELECT * FROM recordings WHERE meeting_id = ? ORDER BY started_at, id'),
      byMeetingAfter: db.prepare<[string, number, number, number], RecordingRow>(`SELECT * FROM recordings INDEXED BY recordings_meeting_order
        WHERE meeting_id = ? AND (started_at, id) > (?, ?) ORDER BY started_at, id LIMIT ?`),
      countByMeeting: db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM recordings WHERE meeting_id = ?'),
      openByMeeting: db.prepare<[string], RecordingRow>("SELECT * FROM recordings WHERE meeting_id = ? AND status = 'RECORDING' ORDER BY started_at, id"),
      lastActivity: db.prepare<[string], { t: number | null }>('SELECT MAX(COALESCE(ended_at, started_at)) AS t FROM recordings WHERE meeting_id = ?'),
      muted: db.prepare('UPDATE recordings SET muted_intervals = ? WHERE id = ?'),
      progress: db.prepare("UPDATE recordings SET bytes = ? WHERE id = ? AND status = 'RECORDING'"),
      finish: db.prepare(`UPDATE recordings SET bytes = @bytes, ended_at = @endedAt, status = @status, close_reason = @closeReason,
        muted_intervals = COALESCE(@muted, muted_intervals), gaps = COALESCE(@gaps, gaps) WHERE id = @id`),
      linkEgress: db.prepare('UPDATE recordings SET egress_id = @egressId, egress_status = COALESCE(egress_status, @status) WHERE meeting_id = @meetingId AND track_id = @trackId AND egress_id IS NULL'),
      egressStatus: db.prepare('UPDATE recordings SET egress_status = @status, egress_error = COALESCE(@error, egress_error) WHERE egress_id = @egressId'),
    };
  }

  /** Insert a row with status RECORDING. @throws SqliteError on a duplicate path or unknown meeting. */
  insert(r: NewRecording): Recording {
    const info = this.q.insert.run({
      meetingId: r.meetingId, participant: r.participant, trackId: r.trackId, kind: r.kind, codec: r.codec, path: r.path,
      sampleRate: r.sampleRate ?? null, channels: r.channels ?? null, startedAt: r.startedAt,
      muted: JSON.stringify(r.mutedIntervals ?? []), egressId: r.egressId ?? null,
    });
    return this.get(Number(info.lastInsertRowid))!;
  }

  get(id: number): Recording | null {
    const r = this.q.get.get(id);
    return r ? toRecording(r) : null;
  }

  byPath(relPath: string): Recording | null {
    const r = this.q.byPath.get(relPath);
    return r ? toRecording(r) : null;
  }

  byStatus(status: RecordingStatus): Recording[] {
    return this.q.byStatus.all(status).map(toRecording);
  }

  /** Oldest first. */
  byMeeting(meetingId: string): Recording[] {
    return this.q.byMeeting.all(meetingId).map(toRecording);
  }

  /**
   * A page of a meeting's recordings, oldest first (`startedAt`, then `id`): at most `limit` (≥ 1) after `after`
   * (the last recording of the previous page; null: from the first). Keyset paging (index of migration 011).
   */
  page(meetingId: string, after: Pick<Recording, 'startedAt' | 'id'> | null, limit: number): Recording[] {
    return this.q.byMeetingAfter.all(meetingId, after?.startedAt ?? Number.MIN_SAFE_INTEGER, after?.id ?? Number.MIN_SAFE_INTEGER, limit).map(toRecording);
  }

  /** How many recordings a meeting has. */
  countByMeeting(meetingId: string): number {
    return this.q.countByMeeting.get(meetingId)?.n ?? 0;
  }

  /** The rows of a meeting still RECORDING, oldest first. */
  openByMeeting(meetingId: string): Recording[] {
    return this.q.openByMeeting.all(meetingId).map(toRecording);
  }

  /**
   * The latest moment a meeting's recordings show activity: the latest `endedAt`, counting a row not closed
   * yet by its `startedAt`. Unix ms; null when the meeting has no recording.
   */
  lastActivity(meetingId: string): number | null {
    return this.q.lastActivity.get(meetingId)?.t ?? null;
  }

  /** Store the muted intervals so far (called on every mute change, so a crash keeps them). */
  setMutedIntervals(id: number, intervals: readonly MutedInterval[]): void {
    this.q.muted.run(JSON.stringify(intervals), id);
  }

  /** Record the data bytes written so far of a row still RECORDING. */
  setProgress(id: number, bytes: number): void {
    this.q.progress.run(bytes, id);
  }

  /**
   * Attach a LiveKit egress id to the recordings of one track that have none yet (the row is created by
   * `/egress-audio` on the first frame, which may come before or after LiveKit answers StartTrackEgress).
   * @param status LiveKit status to store when the row has none.
   * @returns the number of rows linked.
   */
  linkEgress(egressId: string, meetingId: string, trackId: string, status: string | null = null): number {
    return this.q.linkEgress.run({ egressId, meetingId, trackId, status }).changes;
  }

  /** Store LiveKit's status (and error, when given) of an egress on every recording linked to it. */
  setEgressStatus(egressId: string, status: string, error: string | null = null): number {
    return this.q.egressStatus.run({ egressId, status, error }).changes;
  }

  /** Close a recording (COMPLETE, REPAIRED or FAILED). */
  finish(id: number, end: RecordingEnd): void {
    this.q.finish.run({
      id, bytes: end.bytes, endedAt: end.endedAt, status: end.status, closeReason: end.closeReason,
      muted: end.mutedIntervals ? JSON.stringify(end.mutedIntervals) : null,
      gaps: end.gaps ? JSON.stringify(end.gaps.map((g) => ({ offset: g.offset, bytes: g.bytes }))) : null,
    });
  }
}
