/**
 * Repository of the LiveKit tables of migration 004: handled webhook event ids (de-duplication), LiveKit
 * rooms by SID (start/finish marks) and Track Egresses. All methods are synchronous (better-sqlite3); times
 * are Unix ms.
 */
import type { Db } from '../store/db.js';

/** LiveKit egress statuses in the order they can follow each other; every terminal status ranks 3. */
const STATUS_RANK: ReadonlyMap<string, number> = new Map([
  ['EGRESS_STARTING', 0], ['EGRESS_ACTIVE', 1], ['EGRESS_ENDING', 2],
  ['EGRESS_COMPLETE', 3], ['EGRESS_FAILED', 3], ['EGRESS_ABORTED', 3], ['EGRESS_LIMIT_REACHED', 3],
]);

/** True for a status after which an egress never changes again. */
export function isTerminalEgressStatus(status: string): boolean {
  return (STATUS_RANK.get(status) ?? 0) >= 3;
}

export interface LivekitRoom {
  roomSid: string;
  roomName: string;
  startedAt: number | null;
  finishedAt: number | null;
}

/** A Track Egress (or any egress LiveKit told us about). */
export interface EgressRecord {
  egressId: string;
  /** Room SID (= meetingId of a LiveKit session). */
  meetingId: string | null;
  roomName: string | null;
  /** Participant identity (known for the egresses meetcore started). */
  participant: string | null;
  trackSid: string | null;
  /** LiveKit EgressStatus name (`EGRESS_STARTING` ...). */
  status: string;
  error: string | null;
  startedAt: number | null;
  endedAt: number | null;
  updatedAt: number;
  /** When meetcore asked LiveKit to stop it. */
  stopRequestedAt: number | null;
}

/** What is known about an egress at one moment; null/undefined fields leave stored values alone. */
export interface EgressUpdate {
  egressId: string;
  meetingId?: string | null;
  roomName?: string | null;
  participant?: string | null;
  trackSid?: string | null;
  status: string;
  error?: string | null;
  startedAt?: number | null;
  endedAt?: number | null;
}

interface EgressRow {
  egress_id: string; meeting_id: string | null; room_name: string | null; participant: string | null; track_sid: string | null;
  status: string; error: string | null; started_at: number | null; ended_at: number | null; updated_at: number; stop_requested_at: number | null;
}
interface RoomRow { room_sid: string; room_name: string; started_at: number | null; finished_at: number | null }

const toEgress = (r: EgressRow): EgressRecord => ({
  egressId: r.egress_id, meetingId: r.meeting_id, roomName: r.room_name, participant: r.participant, trackSid: r.track_sid,
  status: r.status, error: r.error, startedAt: r.started_at, endedAt: r.ended_at, updatedAt: r.updated_at, stopRequestedAt: r.stop_requested_at,
});

export class LivekitStore {
  private readonly q;

  constructor(private readonly db: Db) {
    this.q = {
      claim: db.prepare('INSERT OR IGNORE INTO livekit_webhook_events (id, event, room_sid, created_at, received_at) VALUES (?, ?, ?, ?, ?)'),
      release: db.prepare('DELETE FROM livekit_webhook_events WHERE id = ?'),
      prune: db.prepare('DELETE FROM livekit_webhook_events WHERE received_at < ?'),
      room: db.prepare<[string], RoomRow>('SELECT * FROM livekit_rooms WHERE room_sid = ?'),
      roomStarted: db.prepare(`INSERT INTO livekit_rooms (room_sid, room_name, started_at) VALUES (?, ?, ?)
        ON CONFLICT (room_sid) DO UPDATE SET started_at = COALESCE(MIN(livekit_rooms.started_at, excluded.started_at), excluded.started_at)`),
      roomFinished: db.prepare(`INSERT INTO livekit_rooms (room_sid, room_name, finished_at) VALUES (?, ?, ?)
        ON CONFLICT (room_sid) DO UPDATE SET finished_at = COALESCE(livekit_rooms.finished_at, excluded.finished_at)`),
      egress: db.prepare<[string], EgressRow>('SELECT * FROM livekit_egresses WHERE egress_id = ?'),
      forTrack: db.prepare<[string, string], EgressRow>('SELECT * FROM livekit_egresses WHERE meeting_id = ? AND track_sid = ? ORDER BY updated_at DESC, rowid DESC'),
      ofMeeting: db.prepare<[string], EgressRow>('SELECT * FROM livekit_egresses WHERE meeting_id = ? ORDER BY rowid'),
      upsert: db.prepare(`INSERT INTO livekit_egresses (egress_id, meeting_id, room_name, participant, track_sid, status, error, started_at, ended_at, updated_at)
        VALUES (@egressId, @meetingId, @roomName, @participant, @trackSid, @status, @error, @startedAt, @endedAt, @updatedAt)
        ON CONFLICT (egress_id) DO UPDATE SET meeting_id = excluded.meeting_id, room_name = excluded.room_name, participant = excluded.participant,
          track_sid = excluded.track_sid, status = excluded.status, error = excluded.error, started_at = excluded.started_at,
          ended_at = excluded.ended_at, updated_at = excluded.updated_at`),
      stopRequested: db.prepare('UPDATE livekit_egresses SET stop_requested_at = COALESCE(stop_requested_at, ?) WHERE egress_id = ?'),
    };
  }

  /**
   * Record a webhook event id as handled.
   * @returns false when it was already handled (a LiveKit retry or a replay).
   */
  claimEvent(id: string, event: string, roomSid: string | null, createdAt: number | null, receivedAt = Date.now()): boolean {
    return this.q.claim.run(id, event, roomSid, createdAt, receivedAt).changes > 0;
  }

  /** Forget a claimed event id (its effects could not be completed; LiveKit will retry it). */
  releaseEvent(id: string): void {
    this.q.release.run(id);
  }

  /** Delete event ids received before `before` (Unix ms). Returns how many. */
  pruneEvents(before: number): number {
    return this.q.prune.run(before).changes;
  }

  room(roomSid: string): LivekitRoom | null {
    const r = this.q.room.get(roomSid);
    return r ? { roomSid: r.room_sid, roomName: r.room_name, startedAt: r.started_at, finishedAt: r.finished_at } : null;
  }

  /** Note a room start (the earliest start time wins). */
  markRoomStarted(roomSid: string, roomName: string, at: number): void {
    this.q.roomStarted.run(roomSid, roomName, at);
  }

  /** Note a room finish (the first finish time wins). */
  markRoomFinished(roomSid: string, roomName: string, at: number): void {
    this.q.roomFinished.run(roomSid, roomName, at);
  }

  egress(egressId: string): EgressRecord | null {
    const r = this.q.egress.get(egressId);
    return r ? toEgress(r) : null;
  }

  /** The newest egress of a track that has not reached a terminal status, or null. */
  activeEgressForTrack(meetingId: string, trackSid: string): EgressRecord | null {
    const r = this.q.forTrack.all(meetingId, trackSid).find((e) => !isTerminalEgressStatus(e.status));
    return r ? toEgress(r) : null;
  }

  /** The newest egress of a track, whatever its status, or null. */
  latestEgressForTrack(meetingId: string, trackSid: string): EgressRecord | null {
    const r = this.q.forTrack.get(meetingId, trackSid);
    return r ? toEgress(r) : null;
  }

  /** Egresses of a meeting not in a terminal status. */
  activeEgressesOfMeeting(meetingId: string): EgressRecord[] {
    return this.q.ofMeeting.all(meetingId).filter((e) => !isTerminalEgressStatus(e.status)).map(toEgress);
  }

  /**
   * Merge what is known about an egress. Known fields are never erased; the status only moves forward
   * (STARTING → ACTIVE → ENDING → terminal) and a terminal status is final, so webhooks delivered out of
   * order or twice converge to the same row.
   */
  upsertEgress(u: EgressUpdate, now = Date.now()): EgressRecord {
    const old = this.egress(u.egressId);
    const oldRank = old ? STATUS_RANK.get(old.status) ?? 0 : -1;
    const newRank = STATUS_RANK.get(u.status) ?? 0;
    const advance = !old || (oldRank < 3 && newRank >= oldRank);
    this.q.upsert.run({
      egressId: u.egressId,
      meetingId: old?.meetingId ?? u.meetingId ?? null,
      roomName: old?.roomName ?? u.roomName ?? null,
      participant: old?.participant ?? u.participant ?? null,
      trackSid: old?.trackSid ?? u.trackSid ?? null,
      status: advance ? u.status : old!.status,
      error: (advance ? u.error : null) || old?.error || null,
      startedAt: old?.startedAt ?? u.startedAt ?? null,
      endedAt: old?.endedAt ?? u.endedAt ?? null,
      updatedAt: now,
    });
    return this.egress(u.egressId)!;
  }

  markStopRequested(egressId: string, at = Date.now()): void {
    this.q.stopRequested.run(at, egressId);
  }

  /** Run `fn` in one transaction. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }
}
