/**
 * Track Egresses started by meetcore (PROTOCOL.md §6, AUTO_EGRESS): for an audio `track_published`, ask
 * LiveKit (`EgressClient.startTrackEgress`, Twirp `livekit.Egress/StartTrackEgress`, REFERENCE.md) to stream
 * the track to a signed `/egress-audio` URL of this server (PUBLIC_URL, 48000 Hz, 2 channels, with roomName,
 * participant identity, track SID and meetingId = room SID); stop it (`stopEgress`) on `track_unpublished`
 * or when the room finishes. Each egress is kept in `livekit_egresses` and linked to the recording row that
 * `/egress-audio` creates for its stream (`recordings.egress_id`, matched by meeting and track).
 *
 * Failures: LiveKit answering 4xx (track gone, egress already ended, ...) is logged and the result says
 * 'refused'; a 5xx or a transport error throws `LivekitUnavailableError` so the webhook can answer 503 and
 * LiveKit retries the delivery.
 */
import { EgressStatus, TwirpError, type EgressInfo } from 'livekit-server-sdk';
import type { Config } from '../config.js';
import type { EgressStreamInfo } from '../context.js';
import { egressAudioUrl } from '../egress/query.js';
import type { Logger } from '../log.js';
import type { RecordingStore } from '../store/recordings.js';
import type { LivekitStore } from './store.js';

/** The part of livekit-server-sdk's EgressClient that meetcore calls. */
export interface EgressApi {
  startTrackEgress(roomName: string, output: string, trackId: string): Promise<EgressInfo>;
  stopEgress(egressId: string): Promise<EgressInfo>;
}

/** LiveKit could not be reached or failed (5xx, timeout, connection refused). */
export class LivekitUnavailableError extends Error {
  constructor(message: string, cause?: unknown) {
    super(message, { cause });
    this.name = 'LivekitUnavailableError';
  }
}

/** The track to record. */
export interface TrackRef {
  /** Room SID = meetingId. */
  meetingId: string;
  roomName: string;
  /** Participant identity. */
  participant: string;
  trackSid: string;
}

/** Name of an EgressStatus value (`EGRESS_ACTIVE`), or `EGRESS_STARTING` for an unknown number. */
export function egressStatusName(status: EgressStatus | number | undefined): string {
  return (status !== undefined && EgressStatus[status]) || 'EGRESS_STARTING';
}

/** int64 nanoseconds (EgressInfo times) → Unix ms, null for 0/absent. */
export function nsToMs(ns: bigint | undefined): number | null {
  return ns && ns > 0n ? Number(ns / 1_000_000n) : null;
}

export interface TrackEgressesDeps {
  config: Pick<Config, 'EGRESS_SECRET' | 'PUBLIC_URL'>;
  store: LivekitStore;
  recordings: RecordingStore;
  client: EgressApi;
  log: Logger;
}

export class TrackEgresses {
  /** Start calls in flight, by `meetingId/trackSid` (a stop waits for the start of the same track). */
  private readonly starting = new Map<string, Promise<string>>();
  /** Every call in flight, for shutdown. */
  private readonly pending = new Set<Promise<unknown>>();

  constructor(private readonly deps: TrackEgressesDeps) {}

  /**
   * Start a Track Egress of an audio track unless one is already active or starting for it.
   * @returns 'started', 'exists' (already active/starting) or 'refused' (LiveKit said no, logged).
   * @throws LivekitUnavailableError on a 5xx or transport error.
   */
  start(t: TrackRef): Promise<'started' | 'exists' | 'refused'> {
    const key = `${t.meetingId}/${t.trackSid}`;
    const inFlight = this.starting.get(key);
    if (inFlight) return inFlight.then(() => 'exists' as const, () => 'exists' as const);
    if (this.deps.store.activeEgressForTrack(t.meetingId, t.trackSid)) return Promise.resolve('exists');
    const p = this.track(this.doStart(t)).finally(() => { this.starting.delete(key); });
    this.starting.set(key, p);
    return p as Promise<'started' | 'refused'>;
  }

  private async doStart(t: TrackRef): Promise<'started' | 'refused'> {
    const { store, recordings, log } = this.deps;
    const url = egressAudioUrl(this.deps.config, {
      roomName: t.roomName, participant: t.participant, trackId: t.trackSid, meetingId: t.meetingId, sampleRate: 48000, channels: 2,
    });
    let info: EgressInfo;
    try {
      info = await this.deps.client.startTrackEgress(t.roomName, url, t.trackSid);
    } catch (err) {
      if (isRefusal(err)) {
        log.warn({ err: describe(err), meetingId: t.meetingId, room: t.roomName, participant: t.participant, trackSid: t.trackSid }, 'LiveKit refused StartTrackEgress');
        return 'refused';
      }
      throw new LivekitUnavailableError(`StartTrackEgress failed: ${describe(err)}`, err);
    }
    if (!info.egressId) throw new LivekitUnavailableError('StartTrackEgress answered without an egressId');
    const status = egressStatusName(info.status);
    store.transaction(() => {
      store.upsertEgress({
        egressId: info.egressId, meetingId: t.meetingId, roomName: t.roomName, participant: t.participant, trackSid: t.trackSid,
        status, error: info.error || null, startedAt: nsToMs(info.startedAt) ?? Date.now(), endedAt: nsToMs(info.endedAt),
      });
      const e = store.egress(info.egressId)!;
      recordings.linkEgress(info.egressId, t.meetingId, t.trackSid, e.status);
    });
    log.info({ egressId: info.egressId, meetingId: t.meetingId, room: t.roomName, participant: t.participant, trackSid: t.trackSid, status }, 'track egress started');
    return 'started';
  }

  /**
   * Stop the active egress of a track (after its start, if one is in flight).
   * @returns 'stopped', 'none' (no active egress) or 'refused' (LiveKit said no, e.g. already ended; logged).
   * @throws LivekitUnavailableError on a 5xx or transport error.
   */
  async stop(meetingId: string, trackSid: string, reason: string): Promise<'stopped' | 'none' | 'refused'> {
    const inFlight = this.starting.get(`${meetingId}/${trackSid}`);
    if (inFlight) await inFlight.catch(() => undefined);
    const e = this.deps.store.activeEgressForTrack(meetingId, trackSid);
    if (!e) return 'none';
    return this.track(this.stopOne(e.egressId, reason, { meetingId, trackSid }));
  }

  /**
   * Stop every active egress of a meeting that was not asked to stop yet (room finished). Never throws:
   * failures are logged.
   */
  async stopMeeting(meetingId: string, reason: string): Promise<void> {
    for (const e of this.deps.store.activeEgressesOfMeeting(meetingId)) {
      if (e.stopRequestedAt !== null) continue;
      try {
        await this.track(this.stopOne(e.egressId, reason, { meetingId, trackSid: e.trackSid }));
      } catch (err) {
        this.deps.log.warn({ err: describe(err), egressId: e.egressId, meetingId }, 'cannot stop egress at room end (LiveKit ends it by itself)');
      }
    }
  }

  private async stopOne(egressId: string, reason: string, where: Record<string, unknown>): Promise<'stopped' | 'refused'> {
    const { store, recordings, log } = this.deps;
    store.markStopRequested(egressId);
    let info: EgressInfo;
    try {
      info = await this.deps.client.stopEgress(egressId);
    } catch (err) {
      if (isRefusal(err)) {
        log.info({ err: describe(err), egressId, ...where, reason }, 'LiveKit refused StopEgress (egress already ended?)');
        return 'refused';
      }
      throw new LivekitUnavailableError(`StopEgress failed: ${describe(err)}`, err);
    }
    const status = egressStatusName(info.status);
    const e = store.upsertEgress({ egressId, status, error: info.error || null, endedAt: nsToMs(info.endedAt) });
    recordings.setEgressStatus(egressId, e.status, e.error);
    log.info({ egressId, ...where, reason, status }, 'track egress stop requested');
    return 'stopped';
  }

  /**
   * Listener of the meetings owner's 'stream.opened': link the new recording row to the egress of its track (the first frame
   * may arrive before or after LiveKit's answer; whichever comes second links).
   */
  onStreamOpened(info: EgressStreamInfo): void {
    const e = this.deps.store.latestEgressForTrack(info.meetingId, info.trackId);
    if (e) this.deps.recordings.linkEgress(e.egressId, info.meetingId, info.trackId, e.status);
  }

  /** Wait for every LiveKit call in flight (shutdown). */
  async drain(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.pending.add(p);
    void p.finally(() => { this.pending.delete(p); }).catch(() => undefined);
    return p;
  }
}

/** LiveKit answered with a 4xx: retrying the same request would not help. */
function isRefusal(err: unknown): boolean {
  return err instanceof TwirpError && typeof err.status === 'number' && err.status >= 400 && err.status < 500;
}

function describe(err: unknown): string {
  if (err instanceof TwirpError) return `${err.status} ${err.code ?? ''} ${err.message}`.replace(/\s+/g, ' ').trim();
  return err instanceof Error ? err.message : String(err);
}
