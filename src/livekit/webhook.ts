/**
 * `POST /livekit/webhook` (PROTOCOL.md §6, REFERENCE.md "LiveKit webhooks").
 *
 * Verification: livekit-server-sdk's `WebhookReceiver.receive(rawBody, authorization)` on the exact raw body:
 * the `Authorization` header is a bare JWT (HS256, API secret, `iss` = API key, 5 min) whose `sha256` claim
 * is the padded base64 SHA-256 of the body. A missing header, a bad signature, a wrong key/secret, an expired
 * token or a body that does not match the hash → 401 with nothing changed. A correctly signed body that is
 * not a WebhookEvent → 400.
 *
 * De-duplication: the event `id` is claimed in `livekit_webhook_events` in the same transaction as the
 * event's database effects, so a LiveKit retry (same id) has no second effect. When the effects that call
 * LiveKit back (StartTrackEgress/StopEgress) fail with a 5xx or a transport error, the claim is released and
 * the reply is 503, so LiveKit's retry does the work.
 *
 * Effects (meetingId = room SID); every event that names a room makes sure its session exists, so events
 * delivered out of order or twice converge:
 * - room_started: open the session, or re-activate it unless a room_finished of this SID was seen;
 * - room_finished: end the session, mark everyone still in it as left, close recording rows without a live
 *   stream, tell the meetings owner (it ends the live streams and stores the final report), stop our egresses
 *   still active;
 * - participant_joined / participant_left / participant_connection_aborted: participants with name and roles
 *   from the metadata `{"roles":["host"],"name":"..."}` (a late join never undoes a later leave);
 * - track_published (audio, AUTO_EGRESS) / track_unpublished: start / stop a Track Egress (src/livekit/egress.ts);
 * - egress_started / egress_updated / egress_ended: the egress row and the LiveKit status of its recordings.
 * Other events are acknowledged and ignored.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { TrackType, type ParticipantInfo, type Room, type WebhookEvent, type WebhookReceiver } from 'livekit-server-sdk';
import type { Config } from '../config.js';
import { WAV_HEADER_BYTES } from '../egress/wav.js';
import { HttpError } from '../http/errors.js';
import type { Logger } from '../log.js';
import type { RecordingStore } from '../store/recordings.js';
import type { Session, SessionStore } from '../store/sessions.js';
import type { Meetings } from '../meetings/index.js';
import { LivekitUnavailableError, egressStatusName, nsToMs, type TrackEgresses } from './egress.js';
import type { LivekitStore } from './store.js';
import { parseParticipantMetadata } from './tokens.js';

export interface WebhookHandlerDeps {
  config: Pick<Config, 'AUTO_EGRESS' | 'STORAGE_DIR'>;
  receiver: Pick<WebhookReceiver, 'receive'>;
  sessions: SessionStore;
  store: LivekitStore;
  recordings: RecordingStore;
  /** Null when egresses cannot be started (no LiveKit client). */
  egresses: TrackEgresses | null;
  /** The meetings owner: participants are written through it (it announces role changes), it knows which
   *  recordings are live, and it is told when a room finishes. */
  meetings: Pick<Meetings, 'upsertParticipant' | 'isRecordingLive' | 'finish'>;
  log: Logger;
}

/** Outcome of one delivery. */
export interface WebhookResult {
  /** Event name (`room_started` ...). */
  event: string;
  /** The de-duplication key: the event id, or `sha256:<hex>` of the body when the event has none. */
  id: string;
  /** True when this id was handled before (nothing was done). */
  duplicate: boolean;
}

/** A LiveKit call to make after the database effects were committed. */
type FollowUp = () => Promise<unknown>;

export class WebhookHandler {
  constructor(private readonly deps: WebhookHandlerDeps) {}

  /**
   * Verify and apply one delivery.
   * @param rawBody the request body exactly as received (UTF-8 text).
   * @param authorization the `Authorization` header (a bare JWT; a `Bearer ` prefix is tolerated).
   * @throws HttpError 401 unauthorized (missing/bad signature, expired, body hash mismatch), 400 bad_request
   *   (signed body that is not a WebhookEvent), 503 unavailable (LiveKit unreachable for a follow-up call).
   */
  async handle(rawBody: string, authorization: string | undefined, nowMs = Date.now()): Promise<WebhookResult> {
    const token = authorization?.replace(/^Bearer\s+/i, '').trim();
    if (!token) throw new HttpError('unauthorized', 'missing Authorization header (LiveKit webhook JWT)');
    let event: WebhookEvent;
    try {
      event = await this.deps.receiver.receive(rawBody, token);
    } catch (err) {
      // receive() checks the JWT and the body hash before parsing, so a parse error means a signed bad body.
      if (err instanceof SyntaxError || /cannot decode|invalid json|unexpected token/i.test((err as Error)?.message ?? '')) {
        throw new HttpError('bad_request', `not a LiveKit WebhookEvent: ${(err as Error).message}`);
      }
      this.deps.log.warn({ reason: (err as Error)?.message ?? String(err) }, 'LiveKit webhook refused');
      throw new HttpError('unauthorized', `LiveKit webhook signature: ${(err as Error)?.message ?? 'invalid'}`);
    }
    const id = event.id || `sha256:${createHash('sha256').update(rawBody).digest('hex')}`;
    const name = event.event || 'unknown';
    const createdAt = event.createdAt > 0n ? Number(event.createdAt) * 1000 : null;
    const { store } = this.deps;
    const { claimed, followUp } = store.transaction(() => {
      if (!store.claimEvent(id, name, event.room?.sid || null, createdAt, nowMs)) return { claimed: false, followUp: null };
      return { claimed: true, followUp: this.apply(event, createdAt ?? nowMs) };
    });
    if (!claimed) {
      this.deps.log.info({ id, event: name }, 'duplicate LiveKit webhook ignored');
      return { event: name, id, duplicate: true };
    }
    this.deps.log.info({ id, event: name, room: event.room?.name, roomSid: event.room?.sid, participant: event.participant?.identity, track: event.track?.sid, egressId: event.egressInfo?.egressId }, 'LiveKit webhook');
    if (followUp) {
      try {
        await followUp();
      } catch (err) {
        if (err instanceof LivekitUnavailableError) {
          store.releaseEvent(id);
          this.deps.log.error({ id, event: name, err: err.message }, 'LiveKit unavailable: webhook answered 503 for a retry');
          throw new HttpError('unavailable', err.message);
        }
        throw err;
      }
    }
    return { event: name, id, duplicate: false };
  }

  /** The database effects of one event (inside the claim's transaction) and the LiveKit call to make after. */
  private apply(e: WebhookEvent, at: number): FollowUp | null {
    switch (e.event) {
      case 'room_started': this.ensureSession(e.room, at, true); return null;
      case 'room_finished': return this.roomFinished(e.room, at);
      case 'participant_joined': this.participantJoined(e.room, e.participant, at); return null;
      case 'participant_left':
      case 'participant_connection_aborted': this.participantLeft(e.room, e.participant, at); return null;
      case 'track_published': return this.trackPublished(e, at);
      case 'track_unpublished': return this.trackUnpublished(e, at);
      case 'egress_started':
      case 'egress_updated':
      case 'egress_ended': this.egressInfo(e); return null;
      default: return null;
    }
  }

  /**
   * The session of a LiveKit room (meetingId = room SID), created when unknown. An ENDED session is
   * re-activated only by room_started (`reactivate`) and only when no room_finished of this SID was seen.
   */
  private ensureSession(room: Room | undefined, at: number, reactivate: boolean): Session | null {
    if (!room?.sid) return null;
    const { sessions, store } = this.deps;
    const startedAt = roomStartMs(room) ?? at;
    const existing = sessions.get(room.sid);
    const roomName = room.name || existing?.roomName || room.sid;
    if (reactivate) store.markRoomStarted(room.sid, roomName, startedAt);
    if (!existing) return sessions.open({ roomName, meetingId: room.sid, roomSid: room.sid, startedAt });
    if (reactivate && existing.status === 'ENDED' && !store.room(room.sid)?.finishedAt) {
      return sessions.open({ roomName, meetingId: room.sid, roomSid: room.sid, startedAt });
    }
    return existing;
  }

  private roomFinished(room: Room | undefined, at: number): FollowUp | null {
    const session = this.ensureSession(room, at, false);
    if (!session) return null;
    const { sessions, store } = this.deps;
    const meetingId = session.meetingId;
    store.markRoomFinished(meetingId, session.roomName, at);
    const endedAt = Math.max(at, session.startedAt);
    sessions.end(meetingId, endedAt);
    sessions.leaveAll(meetingId, endedAt);
    this.closeOrphanRecordings(meetingId, endedAt);
    this.deps.meetings.finish(meetingId, endedAt);  // live streams are ended; the final report follows them
    const egresses = this.deps.egresses;
    if (!egresses || !store.activeEgressesOfMeeting(meetingId).some((e) => e.stopRequestedAt === null)) return null;
    return () => egresses.stopMeeting(meetingId, 'room finished');
  }

  /** Close the RECORDING rows of a finished meeting whose stream is not open (nothing will close them). */
  private closeOrphanRecordings(meetingId: string, endedAt: number): void {
    const { recordings, meetings, config, log } = this.deps;
    for (const r of recordings.openByMeeting(meetingId)) {
      if (meetings.isRecordingLive(r.id)) continue;
      let bytes = r.bytes;
      try { bytes = Math.max(0, fs.statSync(path.join(config.STORAGE_DIR, r.path)).size - WAV_HEADER_BYTES); } catch { /* file gone: keep the row's count */ }
      recordings.finish(r.id, { bytes, endedAt: Math.max(endedAt, r.startedAt), status: 'COMPLETE', closeReason: 'room finished (no live stream)' });
      log.warn({ recordingId: r.id, meetingId }, 'recording closed at room_finished (its stream was not open)');
    }
  }

  private participantJoined(room: Room | undefined, p: ParticipantInfo | undefined, at: number): void {
    const session = this.ensureSession(room, at, false);
    if (!session || !p?.identity) return;
    const { sessions, store } = this.deps;
    const meta = parseParticipantMetadata(p.metadata);
    const joinedAt = participantJoinMs(p) ?? at;
    const before = sessions.participant(session.meetingId, p.identity);
    this.deps.meetings.upsertParticipant({
      meetingId: session.meetingId, identity: p.identity, name: meta?.name ?? (p.name || null),
      roles: meta ? meta.roles ?? [] : undefined, joinedAt,
    });
    // A join delivered after the leave (or after the room finished) must not bring the participant back.
    const finishedAt = store.room(session.meetingId)?.finishedAt ?? null;
    if (before?.leftAt != null && before.leftAt >= joinedAt) sessions.leave(session.meetingId, p.identity, before.leftAt);
    else if (finishedAt !== null) sessions.leave(session.meetingId, p.identity, Math.max(finishedAt, joinedAt));
  }

  private participantLeft(room: Room | undefined, p: ParticipantInfo | undefined, at: number): void {
    const session = this.ensureSession(room, at, false);
    if (!session || !p?.identity) return;
    const { sessions } = this.deps;
    const joinedAt = participantJoinMs(p) ?? at;
    if (!sessions.participant(session.meetingId, p.identity)) {
      const meta = parseParticipantMetadata(p.metadata);
      this.deps.meetings.upsertParticipant({
        meetingId: session.meetingId, identity: p.identity, name: meta?.name ?? (p.name || null),
        roles: meta ? meta.roles ?? [] : undefined, joinedAt,
      });
    }
    sessions.leave(session.meetingId, p.identity, Math.max(at, joinedAt));
  }

  private trackPublished(e: WebhookEvent, at: number): FollowUp | null {
    const session = this.ensureSession(e.room, at, false);
    const track = e.track;
    const identity = e.participant?.identity;
    if (!session || !track?.sid || !identity) return null;
    const { sessions } = this.deps;
    if (!sessions.participant(session.meetingId, identity)) {
      const meta = parseParticipantMetadata(e.participant?.metadata);
      this.deps.meetings.upsertParticipant({
        meetingId: session.meetingId, identity, name: meta?.name ?? (e.participant?.name || null),
        roles: meta ? meta.roles ?? [] : undefined, joinedAt: (e.participant && participantJoinMs(e.participant)) ?? at,
      });
    }
    const egresses = this.deps.egresses;
    if (track.type !== TrackType.AUDIO || !this.deps.config.AUTO_EGRESS || !egresses || session.status !== 'ACTIVE') return null;
    const ref = { meetingId: session.meetingId, roomName: session.roomName, participant: identity, trackSid: track.sid };
    return () => egresses.start(ref);
  }

  private trackUnpublished(e: WebhookEvent, at: number): FollowUp | null {
    const session = this.ensureSession(e.room, at, false);
    const trackSid = e.track?.sid;
    const egresses = this.deps.egresses;
    if (!session || !trackSid || !egresses) return null;
    const meetingId = session.meetingId;
    return () => egresses.stop(meetingId, trackSid, 'track unpublished');
  }

  private egressInfo(e: WebhookEvent): void {
    const info = e.egressInfo;
    if (!info?.egressId) return;
    const { store, recordings } = this.deps;
    const trackSid = info.request.case === 'track' ? info.request.value.trackId || null : null;
    const meetingId = info.roomId || null;
    const rec = store.upsertEgress({
      egressId: info.egressId, meetingId, roomName: info.roomName || null, trackSid, status: egressStatusName(info.status),
      error: info.error || null, startedAt: nsToMs(info.startedAt), endedAt: nsToMs(info.endedAt),
    });
    if (rec.meetingId && rec.trackSid) recordings.linkEgress(rec.egressId, rec.meetingId, rec.trackSid, rec.status);
    recordings.setEgressStatus(rec.egressId, rec.status, rec.error);
  }
}

/** Room creation time, Unix ms (creationTimeMs, else creationTime in seconds), or null. */
function roomStartMs(room: Room): number | null {
  if (room.creationTimeMs > 0n) return Number(room.creationTimeMs);
  if (room.creationTime > 0n) return Number(room.creationTime) * 1000;
  return null;
}

/** Participant join time, Unix ms (joinedAtMs, else joinedAt in seconds), or null. */
function participantJoinMs(p: ParticipantInfo): number | null {
  if (p.joinedAtMs > 0n) return Number(p.joinedAtMs);
  if (p.joinedAt > 0n) return Number(p.joinedAt) * 1000;
  return null;
}
