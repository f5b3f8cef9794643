/**
 * Sessions (meetings) and their participants. A meetingId is the LiveKit room SID when LiveKit opened the
 * session (webhook room_started), the egress URL's `meetingId`, or a generated `MT_<base64url>` id.
 */
import { randomBytes } from 'node:crypto';
import type { Db } from './db.js';
import { isHostRole, orgOfRoomName } from '../auth/authorization.js';

export type SessionStatus = 'ACTIVE' | 'ENDED';

export interface Session {
  meetingId: string;
  roomName: string;
  roomSid: string | null;
  status: SessionStatus;
  /** Unix ms. */
  startedAt: number;
  endedAt: number | null;
  orgId: string | null;
}

export interface Participant {
  meetingId: string;
  identity: string;
  name: string | null;
  roles: string[];
  isHost: boolean;
  joinedAt: number;
  leftAt: number | null;
}

interface SessionRow { meeting_id: string; room_name: string; room_sid: string | null; status: SessionStatus; started_at: number; ended_at: number | null; org_id: string | null }
interface ParticipantRow { meeting_id: string; identity: string; name: string | null; roles: string; is_host: number; joined_at: number; left_at: number | null }

const toSession = (r: SessionRow): Session => ({
  meetingId: r.meeting_id, roomName: r.room_name, roomSid: r.room_sid, status: r.status,
  startedAt: r.started_at, endedAt: r.ended_at, orgId: r.org_id,
});
const toParticipant = (r: ParticipantRow): Participant => ({
  meetingId: r.meeting_id, identity: r.identity, name: r.name, roles: JSON.parse(r.roles) as string[],
  isHost: r.is_host === 1, joinedAt: r.joined_at, leftAt: r.left_at,
});

/** A new meeting id: `MT_` + 12 random base64url characters. */
export function newMeetingId(): string {
  return `MT_${randomBytes(9).toString('base64url')}`;
}

/** Repository of the `sessions` and `participants` tables. All methods are synchronous (better-sqlite3). */
export class SessionStore {
  private readonly q;

  constructor(private readonly db: Db) {
    this.q = {
      get: db.prepare<[string], SessionRow>('SELECT * FROM sessions WHERE meeting_id = ?'),
      active: db.prepare<[string], SessionRow>("SELECT * FROM sessions WHERE room_name = ? AND status = 'ACTIVE' ORDER BY started_at DESC LIMIT 1"),
      activeWithoutRoom: db.prepare<[], SessionRow>("SELECT * FROM sessions WHERE status = 'ACTIVE' AND room_sid IS NULL ORDER BY started_at"),
      insert: db.prepare('INSERT INTO sessions (meeting_id, room_name, room_sid, status, started_at, org_id) VALUES (?, ?, ?, \'ACTIVE\', ?, ?)'),
      reactivate: db.prepare("UPDATE sessions SET status = 'ACTIVE', ended_at = NULL, room_sid = COALESCE(?, room_sid) WHERE meeting_id = ?"),
      end: db.prepare("UPDATE sessions SET status = 'ENDED', ended_at = ? WHERE meeting_id = ? AND status = 'ACTIVE'"),
      list: db.prepare<[number, number], SessionRow>('SELECT * FROM sessions ORDER BY started_at DESC LIMIT ? OFFSET ?'),
      listVisible: db.prepare<[string | null, number, number, number], SessionRow>('SELECT * FROM sessions WHERE org_id = ? OR (? AND org_id IS NULL) ORDER BY started_at DESC LIMIT ? OFFSET ?'),
      participant: db.prepare<[string, string], ParticipantRow>('SELECT * FROM participants WHERE meeting_id = ? AND identity = ?'),
      upsertParticipant: db.prepare(`INSERT INTO participants (meeting_id, identity, name, roles, is_host, joined_at)
        VALUES (@meetingId, @identity, @name, @roles, @isHost, @joinedAt)
        ON CONFLICT (meeting_id, identity) DO UPDATE SET
          name = COALESCE(excluded.name, participants.name),
          roles = CASE WHEN @rolesGiven THEN excluded.roles ELSE participants.roles END,
          is_host = CASE WHEN @rolesGiven THEN excluded.is_host ELSE participants.is_host END,
          left_at = NULL`),
      leave: db.prepare('UPDATE participants SET left_at = ? WHERE meeting_id = ? AND identity = ? AND left_at IS NULL'),
      leaveAll: db.prepare('UPDATE participants SET left_at = MAX(?, joined_at) WHERE meeting_id = ? AND left_at IS NULL'),
      participantsAfter: db.prepare<[string, number, string, number], ParticipantRow>(`SELECT * FROM participants INDEXED BY participants_join_order
        WHERE meeting_id = ? AND (joined_at, identity) > (?, ?) ORDER BY joined_at, identity LIMIT ?`),
      participantCount: db.prepare<[string], { n: number }>('SELECT COUNT(*) AS n FROM participants WHERE meeting_id = ?'),
    };
  }

  get(meetingId: string): Session | null {
    const r = this.q.get.get(meetingId);
    return r ? toSession(r) : null;
  }

  /** The newest ACTIVE session of a room, or null. */
  activeByRoom(roomName: string): Session | null {
    const r = this.q.active.get(roomName);
    return r ? toSession(r) : null;
  }

  /** ACTIVE sessions with no LiveKit room SID (opened by an egress stream, not by a webhook), oldest first. */
  activeWithoutRoom(): Session[] {
    return this.q.activeWithoutRoom.all().map(toSession);
  }

  /**
   * Open a session. When `meetingId` names an existing session it is re-activated (LiveKit may restart a room
   * with the same SID) instead of duplicated. The session's organization is fixed here and never changes: the
   * one its room name is namespaced with (src/auth/authorization.ts `orgOfRoomName`), else none.
   */
  open(input: { roomName: string; meetingId?: string; roomSid?: string | null; startedAt?: number }): Session {
    const meetingId = input.meetingId ?? newMeetingId();
    const existing = this.get(meetingId);
    if (existing) {
      if (existing.status === 'ENDED') this.q.reactivate.run(input.roomSid ?? null, meetingId);
      return this.get(meetingId)!;
    }
    const orgId = orgOfRoomName(input.roomName);
    this.q.insert.run(meetingId, input.roomName, input.roomSid ?? null, input.startedAt ?? Date.now(), orgId);
    return this.get(meetingId)!;
  }

  /**
   * PROTOCOL.md §4 meetingId resolution: the given id (opened if unknown), else the ACTIVE session of the
   * room, else a new session.
   */
  resolve(roomName: string, meetingId?: string | null): Session {
    if (meetingId) {
      const existing = this.get(meetingId);
      if (existing) return existing;
      return this.open({ roomName, meetingId });
    }
    return this.activeByRoom(roomName) ?? this.open({ roomName });
  }

  /** Mark a session ENDED (no-op when already ended). Returns true when it changed. */
  end(meetingId: string, endedAt = Date.now()): boolean {
    return this.q.end.run(endedAt, meetingId).changes > 0;
  }

  /**
   * Newest first. `limit` 1..500. With a `scope` (src/auth/authorization.ts `readableMeetings`), only the
   * sessions of `scope.orgId` and, when `scope.unscoped`, those of no organization; without it (null), all.
   */
  list(limit = 100, offset = 0, scope: { orgId: string | null; unscoped: boolean } | null = null): Session[] {
    const l = Math.min(Math.max(limit, 1), 500), o = Math.max(offset, 0);
    return (scope === null ? this.q.list.all(l, o) : this.q.listVisible.all(scope.orgId, scope.unscoped ? 1 : 0, l, o)).map(toSession);
  }

  /**
   * A page of a meeting's participants in join order (`joinedAt`, then `identity`): at most `limit` (≥ 1) after
   * `after` (the last participant of the previous page; null: from the first). Keyset paging over the index of
   * migration 011, so a page costs its own rows whatever the meeting's size.
   */
  participantsPage(meetingId: string, after: Pick<Participant, 'joinedAt' | 'identity'> | null, limit: number): Participant[] {
    return this.q.participantsAfter.all(meetingId, after?.joinedAt ?? Number.MIN_SAFE_INTEGER, after?.identity ?? '', limit).map(toParticipant);
  }

  /** How many participants a meeting has (present or left). */
  participantCount(meetingId: string): number {
    return this.q.participantCount.get(meetingId)?.n ?? 0;
  }

  participant(meetingId: string, identity: string): Participant | null {
    const r = this.q.participant.get(meetingId, identity);
    return r ? toParticipant(r) : null;
  }

  /**
   * Insert or refresh a participant. `roles` undefined keeps the stored roles; a participant is a host when
   * its roles contain "host".
   */
  upsertParticipant(p: { meetingId: string; identity: string; name?: string | null; roles?: string[]; joinedAt?: number }): Participant {
    const roles = p.roles ?? [];
    this.q.upsertParticipant.run({
      meetingId: p.meetingId, identity: p.identity, name: p.name ?? null, roles: JSON.stringify(roles),
      isHost: isHostRole(roles) ? 1 : 0, joinedAt: p.joinedAt ?? Date.now(), rolesGiven: p.roles ? 1 : 0,
    });
    return this.participant(p.meetingId, p.identity)!;
  }

  leave(meetingId: string, identity: string, leftAt = Date.now()): void {
    this.q.leave.run(leftAt, meetingId, identity);
  }

  /**
   * Everyone still in a meeting leaves at `leftAt` (Unix ms; a participant who joined later leaves at their join),
   * in one statement: a meeting of 5,000 participants ends in one short write. Returns how many left.
   */
  leaveAll(meetingId: string, leftAt: number): number {
    return this.q.leaveAll.run(leftAt, meetingId).changes;
  }
}
