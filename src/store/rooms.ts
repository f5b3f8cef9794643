/** The `rooms` table: rooms created through POST /api/rooms. */
import type { Db } from './db.js';

export interface RoomRecord {
  roomId: string;
  name: string | null;
  maxParticipants: number;
  /** Unix ms. */
  createdAt: number;
  createdBy: string | null;
}

interface Row { room_id: string; name: string | null; max_participants: number; created_at: number; created_by: string | null }

export class RoomStore {
  private readonly insertQ;
  private readonly getQ;

  constructor(db: Db) {
    this.insertQ = db.prepare('INSERT INTO rooms (room_id, name, max_participants, created_at, created_by) VALUES (?, ?, ?, ?, ?)');
    this.getQ = db.prepare<[string], Row>('SELECT * FROM rooms WHERE room_id = ?');
  }

  /** @throws SqliteError (SQLITE_CONSTRAINT_PRIMARYKEY) when the id exists. */
  create(r: RoomRecord): RoomRecord {
    this.insertQ.run(r.roomId, r.name, r.maxParticipants, r.createdAt, r.createdBy);
    return r;
  }

  get(roomId: string): RoomRecord | null {
    const row = this.getQ.get(roomId);
    return row ? { roomId: row.room_id, name: row.name, maxParticipants: row.max_participants, createdAt: row.created_at, createdBy: row.created_by } : null;
  }
}
