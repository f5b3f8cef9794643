/**
 * A local LiveKit test double, following REFERENCE.md "livekit-server-sdk 2.x over HTTP" and "LiveKit
 * webhooks" to the letter:
 *
 * - `LivekitDouble`: an HTTP server answering `POST /twirp/livekit.<Service>/<Method>` (Egress:
 *   StartTrackEgress, StopEgress, ListEgress; RoomService: ListRooms, ListParticipants, RemoveParticipant,
 *   MutePublishedTrack, UpdateParticipant). Every call must carry `Authorization: Bearer <JWT>` (HS256 with
 *   the API secret, `iss` = API key, `exp` set) with the grant the method needs (Egress: `roomRecord`;
 *   ListRooms: `roomList`; the others: `roomAdmin` and `room` = the request's room) and a JSON content type.
 *   Replies are snake_case JSON with every field, like the real server; errors are
 *   `application/json` `{"code","msg","meta"}`. Calls are recorded; errors can be injected.
 * - `webhookBody` / `signWebhook` / `postWebhook`: webhooks exactly as LiveKit sends them: the protojson of a
 *   `WebhookEvent` (camelCase, int64 as strings, enums by name), `Content-Type: application/webhook+json`,
 *   `Authorization` = bare JWT (HS256, API secret, `iss` = API key, valid 5 minutes) with claim `sha256` =
 *   padded base64 of SHA-256 over the body.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, jwtVerify, type JWTPayload } from 'jose';
import { WebhookEvent } from 'livekit-server-sdk';

export const API_KEY = 'APItestkey';
export const API_SECRET = 'livekit-test-secret-0123456789abcdefghij';

/** The video grant of a LiveKit JWT (the claims the double checks). */
export interface VideoGrantClaims {
  roomRecord?: boolean;
  roomList?: boolean;
  roomAdmin?: boolean;
  roomCreate?: boolean;
  room?: string;
}

/** One Twirp call received by the double (including the refused ones, with their status). */
export interface TwirpCall {
  service: string;
  method: string;
  /** Parsed JSON body. */
  body: any;
  /** Verified JWT claims (null when the token was refused). */
  claims: (JWTPayload & { video?: VideoGrantClaims }) | null;
  contentType: string;
  /** HTTP status answered. */
  status: number;
}

/** An egress as the double keeps it. */
export interface DoubleEgress {
  egressId: string;
  roomId: string;
  roomName: string;
  trackId: string;
  websocketUrl: string;
  status: 'EGRESS_STARTING' | 'EGRESS_ACTIVE' | 'EGRESS_ENDING' | 'EGRESS_COMPLETE' | 'EGRESS_FAILED';
  startedAtNs: bigint;
  endedAtNs: bigint;
}

type Failure = { status: number; code?: string; msg?: string; json?: boolean };

export class LivekitDouble {
  readonly calls: TwirpCall[] = [];
  readonly egresses = new Map<string, DoubleEgress>();
  /** Room name → SID, used for `room_id` in egress replies and ListRooms. */
  readonly rooms = new Map<string, string>();
  private readonly failures = new Map<string, Failure[]>();
  private readonly waiters: { method: string; pred: (c: TwirpCall) => boolean; resolve: (c: TwirpCall) => void }[] = [];

  private constructor(private readonly server: http.Server, readonly url: string, readonly apiKey: string, readonly apiSecret: string) {}

  /** Start on a free port of 127.0.0.1. */
  static async start(opts: { apiKey?: string; apiSecret?: string } = {}): Promise<LivekitDouble> {
    let double!: LivekitDouble;
    const server = http.createServer((req, res) => { void double.handle(req, res); });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    double = new LivekitDouble(server, `http://127.0.0.1:${port}`, opts.apiKey ?? API_KEY, opts.apiSecret ?? API_SECRET);
    return double;
  }

  /** Make the next call(s) of `method` fail with this HTTP status (JSON error body unless `json:false`). */
  failNext(method: string, failure: Failure, times = 1): void {
    const list = this.failures.get(method) ?? [];
    for (let i = 0; i < times; i++) list.push(failure);
    this.failures.set(method, list);
  }

  /** Calls of one method that were answered 2xx. */
  succeeded(method: string): TwirpCall[] {
    return this.calls.filter((c) => c.method === method && c.status < 300);
  }

  /** Resolve with the first (past or future) successful call of `method` matching `pred`. */
  waitForCall(method: string, pred: (c: TwirpCall) => boolean = () => true, timeoutMs = 10_000): Promise<TwirpCall> {
    const done = this.calls.find((c) => c.method === method && c.status < 300 && pred(c));
    if (done) return Promise.resolve(done);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${method}`)), timeoutMs);
      this.waiters.push({ method, pred, resolve: (c) => { clearTimeout(timer); resolve(c); } });
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const m = /^\/twirp\/livekit\.(\w+)\/(\w+)$/.exec(req.url ?? '');
    const contentType = String(req.headers['content-type'] ?? '');
    const call: TwirpCall = { service: m?.[1] ?? '', method: m?.[2] ?? '', body: null, claims: null, contentType, status: 0 };
    const reply = (status: number, json: unknown, type = 'application/json'): void => {
      call.status = status;
      this.calls.push(call);
      res.writeHead(status, { 'Content-Type': type });
      res.end(typeof json === 'string' ? json : JSON.stringify(json));
      if (status < 300) {
        for (const w of [...this.waiters]) {
          if (w.method === call.method && w.pred(call)) { this.waiters.splice(this.waiters.indexOf(w), 1); w.resolve(call); }
        }
      }
    };
    const error = (status: number, code: string, msg: string): void => reply(status, { code, msg, meta: {} });
    if (req.method !== 'POST' || !m) return error(404, 'bad_route', `no handler for ${req.method} ${req.url}`);
    if (!contentType.toLowerCase().startsWith('application/json')) return error(415, 'malformed', `unexpected Content-Type ${contentType}`);
    try { call.body = text ? JSON.parse(text) : {}; } catch { return error(400, 'malformed', 'body is not JSON'); }
    const auth = String(req.headers.authorization ?? '');
    if (!auth.startsWith('Bearer ')) return error(401, 'unauthenticated', 'missing bearer token');
    try {
      const { payload } = await jwtVerify(auth.slice(7), new TextEncoder().encode(this.apiSecret), { issuer: this.apiKey, algorithms: ['HS256'], requiredClaims: ['exp'] });
      call.claims = payload as TwirpCall['claims'];
    } catch (err) {
      return error(401, 'unauthenticated', `invalid token: ${(err as Error).message}`);
    }
    const video = call.claims!.video ?? {};
    const failure = this.failures.get(call.method)?.shift();
    if (failure) {
      if (failure.json === false) return reply(failure.status, failure.msg ?? 'injected failure', 'text/plain');
      return error(failure.status, failure.code ?? 'internal', failure.msg ?? 'injected failure');
    }
    if (call.service === 'Egress') {
      if (!video.roomRecord) return error(403, 'permission_denied', 'roomRecord grant required');
      return this.egress(call, reply, error);
    }
    if (call.service === 'RoomService') {
      if (call.method === 'ListRooms') {
        if (!video.roomList) return error(403, 'permission_denied', 'roomList grant required');
        const names: string[] | undefined = call.body.names;
        const rooms = [...this.rooms].filter(([n]) => !names?.length || names.includes(n)).map(([name, sid]) => roomJson(name, sid));
        return reply(200, { rooms });
      }
      if (!video.roomAdmin || !call.body.room || video.room !== call.body.room) return error(403, 'permission_denied', 'roomAdmin grant for this room required');
      if (!this.rooms.has(call.body.room)) return error(404, 'not_found', 'room not found');
      switch (call.method) {
        case 'ListParticipants': return reply(200, { participants: [] });
        case 'RemoveParticipant': return reply(200, {});
        case 'MutePublishedTrack': return reply(200, { track: { sid: call.body.trackSid, muted: Boolean(call.body.muted) } });
        case 'UpdateParticipant': return reply(200, { identity: call.body.identity, metadata: call.body.metadata ?? '' });
        default: return error(404, 'bad_route', `unknown method ${call.method}`);
      }
    }
    return error(404, 'bad_route', `unknown service ${call.service}`);
  }

  private egress(call: TwirpCall, reply: (s: number, j: unknown) => void, error: (s: number, c: string, m: string) => void): void {
    const b = call.body;
    switch (call.method) {
      case 'StartTrackEgress': {
        if (typeof b.roomName !== 'string' || !b.roomName || typeof b.trackId !== 'string' || !b.trackId) {
          return error(400, 'invalid_argument', 'roomName and trackId are required');
        }
        if (typeof b.websocketUrl !== 'string' || !/^wss?:\/\//.test(b.websocketUrl)) return error(400, 'invalid_argument', 'websocketUrl must be ws:// or wss://');
        const e: DoubleEgress = {
          egressId: `EG_${randomBytes(9).toString('base64url')}`, roomId: this.rooms.get(b.roomName) ?? '', roomName: b.roomName,
          trackId: b.trackId, websocketUrl: b.websocketUrl, status: 'EGRESS_STARTING', startedAtNs: 0n, endedAtNs: 0n,
        };
        this.egresses.set(e.egressId, e);
        return reply(200, egressJson(e));
      }
      case 'StopEgress': {
        const e = this.egresses.get(b.egressId);
        if (!e) return error(404, 'not_found', 'egress not found');
        if (e.status === 'EGRESS_COMPLETE' || e.status === 'EGRESS_FAILED' || e.status === 'EGRESS_ENDING') {
          return error(412, 'failed_precondition', `egress with status ${e.status} cannot be stopped`);
        }
        e.status = 'EGRESS_ENDING';
        return reply(200, egressJson(e));
      }
      case 'ListEgress': {
        const items = [...this.egresses.values()].filter((e) => (!b.roomName || e.roomName === b.roomName) && (!b.egressId || e.egressId === b.egressId)
          && (!b.active || e.status === 'EGRESS_STARTING' || e.status === 'EGRESS_ACTIVE'));
        return reply(200, { items: items.map(egressJson) });
      }
      default: return error(404, 'bad_route', `unknown method ${call.method}`);
    }
  }
}

/** EgressInfo as the real server answers (snake_case, all fields, int64 as strings). */
function egressJson(e: DoubleEgress): Record<string, unknown> {
  return {
    egress_id: e.egressId, room_id: e.roomId, room_name: e.roomName, source_type: 'EGRESS_SOURCE_TYPE_SDK', status: e.status,
    started_at: String(e.startedAtNs), ended_at: String(e.endedAtNs), updated_at: String(BigInt(Date.now()) * 1_000_000n),
    details: '', error: '', error_code: 0, manifest_location: '', backup_storage_used: false, retry_count: 0,
    track: { room_name: e.roomName, track_id: e.trackId, websocket_url: e.websocketUrl, webhooks: [] },
    stream_results: [], file_results: [], segment_results: [], image_results: [],
  };
}

function roomJson(name: string, sid: string): Record<string, unknown> {
  return {
    sid, name, empty_timeout: 300, departure_timeout: 20, max_participants: 0, creation_time: String(Math.floor(Date.now() / 1000)),
    creation_time_ms: String(Date.now()), turn_password: '', enabled_codecs: [], metadata: '', num_participants: 0, num_publishers: 0,
    active_recording: false, version: null,
  };
}

/** Fields of a webhook event (see livekit WebhookEvent; nested objects are plain partial messages). */
export type WebhookFields = ConstructorParameters<typeof WebhookEvent>[0];

/** The body LiveKit posts: protojson of the WebhookEvent (id and createdAt filled when missing). */
export function webhookBody(fields: WebhookFields): string {
  const e = new WebhookEvent({
    id: `EV_${randomBytes(9).toString('base64url')}`,
    createdAt: BigInt(Math.floor(Date.now() / 1000)),
    ...fields,
  });
  // livekit-server-sdk's WebhookEvent subclass resets `event` after the base constructor filled it.
  if (fields?.event) e.event = fields.event as WebhookEvent["event"];
  return e.toJsonString();
}

/** Options of `signWebhook`: another key/secret, or a token valid in another window (seconds from now). */
export interface SignOptions {
  apiKey?: string;
  apiSecret?: string;
  /** nbf, seconds relative to now (default 0). */
  nbfSec?: number;
  /** exp, seconds relative to now (default 300: LiveKit's 5 minutes). */
  expSec?: number;
  /** Sign this body's hash instead of the posted one (a tampered body). */
  hashOf?: string;
}

/** The `Authorization` header LiveKit sends with `body`. */
export async function signWebhook(body: string, opts: SignOptions = {}): Promise<string> {
  const sha256 = createHash('sha256').update(opts.hashOf ?? body).digest('base64');
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ sha256, video: {} })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(opts.apiKey ?? API_KEY)
    .setNotBefore(now + (opts.nbfSec ?? 0))
    .setExpirationTime(now + (opts.expSec ?? 300))
    .sign(new TextEncoder().encode(opts.apiSecret ?? API_SECRET));
}

/**
 * POST a webhook like LiveKit (`Content-Type: application/webhook+json`, `User-Agent: LiveKit`).
 * @param authorization the header to send: undefined = a valid signature of `body`, null = none.
 */
export async function postWebhook(serverUrl: string, body: string, authorization?: string | null): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = { 'Content-Type': 'application/webhook+json', 'User-Agent': 'LiveKit' };
  const auth = authorization === undefined ? await signWebhook(body) : authorization;
  if (auth !== null) headers.Authorization = auth;
  const res = await fetch(`${serverUrl}/livekit/webhook`, { method: 'POST', headers, body });
  const text = await res.text();
  let parsed: unknown = text;
  try { parsed = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, body: parsed };
}

/** Build and post one event; returns the HTTP result and the body that was sent. */
export async function sendEvent(serverUrl: string, fields: WebhookFields, opts?: SignOptions): Promise<{ status: number; body: any; sent: string }> {
  const sent = webhookBody(fields);
  const r = await postWebhook(serverUrl, sent, await signWebhook(sent, opts));
  return { ...r, sent };
}
