/**
 * The LiveKit area (PROTOCOL.md §1 `POST /auth/token`, `POST /livekit/webhook`, §6; REFERENCE.md LiveKit):
 * access tokens for LiveKit rooms, verified and de-duplicated webhooks that keep sessions, participants,
 * Track Egresses and recordings in step with LiveKit, and automatic Track Egress of audio tracks to this
 * server's `/egress-audio` (AUTO_EGRESS).
 *
 * Without LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET both routes answer 503 `unavailable`.
 */
import { EgressClient, WebhookReceiver } from 'livekit-server-sdk';
import { Counter } from 'prom-client';
import type { AppContext } from '../context.js';
import { HttpError } from '../http/errors.js';
import { parse } from '../http/validate.js';
import { RecordingStore } from '../store/recordings.js';
import { TrackEgresses, type EgressApi } from './egress.js';
import { accountsSessionLogSink, type SessionLogSink } from './session-log.js';
import { LivekitStore } from './store.js';
import { issueToken, newRoomName, tokenRequestSchema } from './tokens.js';
import { isDenial, livekitRoomName, mayIssueLivekitToken } from '../auth/authorization.js';
import { WebhookHandler } from './webhook.js';

export type { SessionLogSink, SessionLogEntry } from './session-log.js';

/** Handled webhook ids are kept this long (LiveKit retries within minutes), ms. */
export const WEBHOOK_ID_RETENTION_MS = 7 * 86400_000;
/** Timeout of each call to LiveKit's API, seconds (a webhook waits for StartTrackEgress/StopEgress). */
export const LIVEKIT_REQUEST_TIMEOUT_SEC = 5;

export interface LivekitOptions {
  /** Audit sink for issued tokens (default: `session_logs` through the accounts area's logSession). */
  sessionLog?: SessionLogSink;
  /** LiveKit Egress API (default: livekit-server-sdk's EgressClient on LIVEKIT_URL). */
  egressApi?: EgressApi;
}

/**
 * Register `POST /auth/token` (auth 'optional') and `POST /livekit/webhook` (LiveKit signature), and the
 * bus listeners that link `/egress-audio` recordings to their egress.
 */
export function registerLivekit(ctx: AppContext, opts: LivekitOptions = {}): void {
  const { config } = ctx;
  const log = ctx.log.child({ area: 'livekit' });
  const webhookCount = new Counter({
    name: 'meetcore_livekit_webhooks_total', labelNames: ['event', 'result'], registers: [ctx.metrics],
    help: 'LiveKit webhook deliveries, by event (unknown before the signature is verified) and result (handled, duplicate, or the error code)',
  });
  if (!config.livekitEnabled || !config.LIVEKIT_URL || !config.LIVEKIT_API_KEY || !config.LIVEKIT_API_SECRET) {
    const off = (): never => {
      throw new HttpError('unavailable', 'LiveKit is not configured: set LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET');
    };
    ctx.router.post('/auth/token', off, { auth: 'optional' });
    ctx.router.post('/livekit/webhook', () => { webhookCount.inc({ event: 'unknown', result: 'unavailable' }); return off(); });
    return;
  }
  const keys = { apiKey: config.LIVEKIT_API_KEY, apiSecret: config.LIVEKIT_API_SECRET, url: config.LIVEKIT_URL, ttlSec: config.LIVEKIT_TOKEN_TTL };
  const store = new LivekitStore(ctx.db);
  const recordings = new RecordingStore(ctx.db);
  const sessionLog = opts.sessionLog ?? accountsSessionLogSink(ctx.db);
  const egressApi = opts.egressApi ?? new EgressClient(config.LIVEKIT_URL, keys.apiKey, keys.apiSecret, { requestTimeout: LIVEKIT_REQUEST_TIMEOUT_SEC });
  const egresses = new TrackEgresses({ config, store, recordings, client: egressApi, log });

  ctx.meetings.on('stream.opened', (info) => {
    try { egresses.onStreamOpened(info); } catch (err) { log.error({ err, recordingId: info.recordingId }, 'cannot link the recording to its egress'); }
  });

  const webhooks = new WebhookHandler({
    config, receiver: new WebhookReceiver(keys.apiKey, keys.apiSecret), sessions: ctx.sessions, meetings: ctx.meetings, store, recordings,
    egresses, log,
  });

  ctx.router.post('/livekit/webhook', async (req) => {
    let r;
    try {
      r = await webhooks.handle(req.body as string, req.headers.authorization);
    } catch (err) {
      webhookCount.inc({ event: 'unknown', result: err instanceof HttpError ? err.code : 'internal' });
      throw err;
    }
    webhookCount.inc({ event: r.event, result: r.duplicate ? 'duplicate' : 'handled' });
    return { json: { ok: true, event: r.event, duplicate: r.duplicate } };
  }, { body: 'text', auth: 'none' });

  ctx.router.post('/auth/token', async (req) => {
    const body = parse(tokenRequestSchema, req.body);
    const roles = Array.isArray(body.metadata?.roles) ? (body.metadata.roles as string[]) : [];
    const roomName = livekitRoomName(req.principal, body.roomName ?? newRoomName());
    if (isDenial(roomName)) throw new HttpError(roomName.code, roomName.message);
    const denied = mayIssueLivekitToken(req.principal, roles);
    if (denied) throw new HttpError(denied.code, denied.message);
    const issued = await issueToken(keys, { ...body, roomName });
    sessionLog.record({
      at: Date.now(), kind: 'livekit_token', actor: issued.identity, room: issued.roomName, ip: req.ip,
      userId: req.principal?.userId ?? null, orgId: req.principal?.orgId ?? null,
    });
    log.info({ identity: issued.identity, room: issued.roomName, roles: issued.roles, ip: req.ip, userId: req.principal?.userId }, 'LiveKit token issued');
    return { json: { token: issued.token, roomName: issued.roomName, url: issued.url } };
  }, { body: 'json', auth: 'optional' });

  const prune = (): void => {
    try {
      const n = store.pruneEvents(Date.now() - WEBHOOK_ID_RETENTION_MS);
      if (n > 0) log.debug({ n }, 'pruned old webhook ids');
    } catch (err) {
      log.error({ err }, 'cannot prune webhook ids');
    }
  };
  prune();
  const timer = setInterval(prune, 3600_000);
  timer.unref();
  ctx.onShutdown('services', async () => {
    clearInterval(timer);
    await egresses.drain();
  });
  log.info({ url: config.LIVEKIT_URL, autoEgress: config.AUTO_EGRESS, publicUrl: config.PUBLIC_URL }, 'LiveKit integration on');
}
