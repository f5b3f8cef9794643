/**
 * One Hume streaming socket per participant track (REFERENCE.md "Hume streaming expression measurement (v0)":
 * `X-Hume-Api-Key` header, one socket per stream kept open, reconnect with backoff).
 *
 * Flow control, per track:
 * - at most `maxInFlight` payloads are sent and not yet answered; further segments wait in a queue; a track
 *   holds at most `maxInFlight + maxQueued` segments (queued + in flight): beyond that the OLDEST waiting
 *   segment is dropped (reason `backpressure`), so memory per track is bounded whatever Hume's speed (while
 *   the socket is (re)connecting the whole allowance can wait in the queue);
 * - a payload not answered within `replyTimeoutMs` is given up (reason `timeout`);
 * - replies are matched by `payload_id`, or, when Hume does not echo it, to the oldest payload in flight
 *   (one socket answers in order).
 *
 * Drops: when the socket closes, the payloads in flight go back to the front of the queue (each is sent at
 * most twice; a second loss drops it as `lost`) and the socket is reopened, after a backoff of 0.5 s doubling
 * to 30 s, as soon as there is something to send (a new segment or a resend). The backoff resets after a reply.
 *
 * Configuration errors: `maxConfigErrors` identical `{error, code}` replies in a row (no good reply in between)
 * stop the track for good: its queue is dropped (`stopped`) and nothing more is sent. Hume itself closes the
 * socket after 10 identical configuration errors. Account-wide failures (refused API key, E0300 out of
 * credits) are reported to the sink, which stops every track (see HumeService).
 */
import WebSocket from 'ws';
import type { Logger } from '../log.js';
import { HUME_API_KEY_HEADER, parseReply, prosodyRequest, type Prediction } from './protocol.js';

/** One payload to send: a complete WAV file of at most 5 s and where it belongs. */
export interface SegmentJob {
  /** Unique id sent as `payload_id` (`<recordingId>:<segment index>`, `.<piece>` when a segment was cut). */
  payloadId: string;
  meetingId: string;
  participantId: string;
  trackId: string;
  streamId: number;
  segmentIndex: number;
  /** Window on the stream clock, Unix ms. */
  startMs: number;
  endMs: number;
  wav: Buffer;
  /** Times written to a socket. */
  attempts: number;
}

/** Why a segment was not answered. */
export type DropReason = 'backpressure' | 'lost' | 'timeout' | 'stopped' | 'closed';

/** What a track reports (implemented by HumeService: storage, hosts, metrics, logs). */
export interface TrackSink {
  sent(job: SegmentJob): void;
  predictions(job: SegmentJob, predictions: Prediction[]): void;
  warning(job: SegmentJob | null, code: string, message: string): void;
  error(track: HumeTrack, job: SegmentJob | null, code: string, message: string): void;
  dropped(job: SegmentJob, reason: DropReason): void;
  /** A reply that is not JSON or has an unknown shape, or answers a payload no longer in flight. */
  unreadable(track: HumeTrack, reason: string, sample: string): void;
  /** The WebSocket upgrade got an HTTP answer instead (401/403: the API key was refused). */
  refused(track: HumeTrack, status: number): void;
  opened(track: HumeTrack): void;
  disconnected(track: HumeTrack, code: number, reason: string, retryInMs: number): void;
  stopped(track: HumeTrack, reason: string): void;
  /** The track ended (stream closed, shutdown) and released its socket. */
  finished(track: HumeTrack): void;
}

export interface TrackOptions {
  url: string;
  apiKey: string;
  maxInFlight: number;
  maxQueued: number;
  maxConfigErrors: number;
  replyTimeoutMs: number;
  /** First reconnect delay, ms (default 500); doubles up to backoffMaxMs (default 30000). */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Bound on the WebSocket handshake, ms (default 10000). */
  handshakeTimeoutMs?: number;
}

/** The Hume socket and flow control of one participant track. */
export class HumeTrack {
  private ws: WebSocket | null = null;
  private isOpen = false;
  private readonly queue: SegmentJob[] = [];
  private readonly inFlight = new Map<string, { job: SegmentJob; sentAt: number }>();
  private backoffMs = 0;
  private nextConnectAt = 0;
  private connectTimer: NodeJS.Timeout | null = null;
  private endTimer: NodeJS.Timeout | null = null;
  private lastErrorCode: string | null = null;
  private sameErrors = 0;
  private ending = false;
  private done = false;
  /** Why the track stopped sending for good; null while it sends. */
  stoppedReason: string | null = null;
  /** Sockets opened so far (the first one included). */
  connections = 0;

  constructor(
    readonly key: string,
    readonly info: { meetingId: string; participantId: string; trackId: string; streamId: number },
    private readonly opts: TrackOptions,
    private readonly sink: TrackSink,
    private readonly log: Logger,
  ) {}

  /** Payloads sent and not yet answered. */
  get inFlightCount(): number { return this.inFlight.size; }
  /** Segments waiting to be sent. */
  get queuedCount(): number { return this.queue.length; }

  /** Queue a payload (dropping the oldest waiting one when the queue is full) and send what the window allows. */
  enqueue(job: SegmentJob): void {
    if (this.stoppedReason !== null || this.done) { this.sink.dropped(job, this.done ? 'closed' : 'stopped'); return; }
    this.queue.push(job);
    this.trimQueue();
    this.pump();
  }

  /**
   * The stream ended: send what is queued, wait for the replies (at most `replyTimeoutMs` plus the current
   * backoff), then close the socket with 1000 and report `finished`.
   */
  end(): void {
    if (this.ending || this.done) return;
    this.ending = true;
    if (this.idle()) { this.finish('closed'); return; }
    const wait = this.opts.replyTimeoutMs + Math.max(0, this.nextConnectAt - Date.now()) + (this.opts.handshakeTimeoutMs ?? 10_000);
    this.endTimer = setTimeout(() => this.finish('closed'), wait);
    this.pump();
  }

  /** Stop sending for good (configuration errors); drops what is queued or in flight and closes the socket. */
  stop(reason: string): void {
    if (this.stoppedReason !== null || this.done) return;
    this.stoppedReason = reason;
    for (const job of this.queue.splice(0)) this.sink.dropped(job, 'stopped');
    for (const { job } of this.inFlight.values()) this.sink.dropped(job, 'stopped');
    this.inFlight.clear();
    this.closeSocket(1000, 'stopped');
    this.sink.stopped(this, reason);
    if (this.ending) this.finish('stopped');
  }

  /** Close now (shutdown): what is queued or in flight is dropped as `closed`. Idempotent. */
  finish(reason: DropReason = 'closed'): void {
    if (this.done) return;
    this.done = true;
    if (this.endTimer) clearTimeout(this.endTimer);
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.endTimer = this.connectTimer = null;
    for (const job of this.queue.splice(0)) this.sink.dropped(job, reason);
    for (const { job } of this.inFlight.values()) this.sink.dropped(job, reason);
    this.inFlight.clear();
    this.closeSocket(1000, 'stream ended');
    this.sink.finished(this);
  }

  /** Give up payloads unanswered for longer than `replyTimeoutMs` (called about once a second). */
  checkTimeouts(now = Date.now()): void {
    let changed = false;
    for (const [id, { job, sentAt }] of this.inFlight) {
      if (now - sentAt < this.opts.replyTimeoutMs) break; // insertion order = send order
      this.inFlight.delete(id);
      this.sink.dropped(job, 'timeout');
      changed = true;
    }
    if (changed) this.pump();
  }

  private idle(): boolean { return this.queue.length === 0 && this.inFlight.size === 0; }

  private trimQueue(): void {
    while (this.queue.length > 0 && this.queue.length + this.inFlight.size > this.opts.maxInFlight + this.opts.maxQueued) {
      this.sink.dropped(this.queue.shift()!, 'backpressure');
    }
  }

  /** Send while the window allows; open the socket (after the backoff) when there is something to send. */
  private pump(): void {
    if (this.done || this.stoppedReason !== null) return;
    if (this.ws && this.isOpen) {
      while (this.inFlight.size < this.opts.maxInFlight && this.queue.length > 0) this.send(this.queue.shift()!);
    } else if (!this.ws && this.queue.length > 0) {
      this.connectSoon();
    }
    if (this.ending && this.idle()) this.finish('closed');
  }

  private connectSoon(): void {
    if (this.connectTimer) return;
    const wait = this.nextConnectAt - Date.now();
    if (wait > 0) {
      this.connectTimer = setTimeout(() => { this.connectTimer = null; this.connect(); }, wait);
      return;
    }
    this.connect();
  }

  private connect(): void {
    if (this.ws || this.done || this.stoppedReason !== null || this.queue.length === 0) return;
    const ws = new WebSocket(this.opts.url, {
      headers: { [HUME_API_KEY_HEADER]: this.opts.apiKey },
      handshakeTimeout: this.opts.handshakeTimeoutMs ?? 10_000,
      maxPayload: 16 * 1024 * 1024,
    });
    this.ws = ws;
    this.isOpen = false;
    this.connections++;
    let refusedStatus = 0;
    let lastError = '';
    ws.on('open', () => {
      if (this.ws !== ws) return;
      this.isOpen = true;
      this.sink.opened(this);
      this.pump();
    });
    ws.on('message', (data, isBinary) => {
      if (this.ws !== ws) return;
      const text = isBinary ? '' : Array.isArray(data) ? Buffer.concat(data).toString('utf8') : Buffer.from(data as ArrayBuffer).toString('utf8');
      try {
        this.reply(text);
      } catch (err) {
        this.log.error({ err, track: this.key }, 'failed to handle a Hume reply');
      }
    });
    ws.on('unexpected-response', (_req, res) => {
      // An HTTP answer instead of the upgrade; terminate() aborts the request and emits 'close'.
      refusedStatus = res.statusCode ?? 0;
      res.resume();
      ws.terminate();
    });
    ws.on('error', (err) => { lastError = err.message; });
    ws.on('close', (code, reason) => {
      if (refusedStatus && this.ws === ws) this.sink.refused(this, refusedStatus);
      this.socketGone(ws, code, refusedStatus ? `HTTP ${refusedStatus}` : reason.toString('utf8') || lastError);
    });
  }

  /** The socket closed (or never opened): requeue what was in flight and schedule the reconnect. */
  private socketGone(ws: WebSocket, code: number, reason: string): void {
    if (this.ws !== ws) return;
    this.ws = null;
    this.isOpen = false;
    const lost = [...this.inFlight.values()].map((x) => x.job);
    this.inFlight.clear();
    const again: SegmentJob[] = [];
    for (const job of lost) {
      if (job.attempts < 2) again.push(job);
      else this.sink.dropped(job, 'lost');
    }
    this.queue.unshift(...again);
    this.trimQueue();
    this.backoffMs = this.backoffMs === 0 ? (this.opts.backoffInitialMs ?? 500) : Math.min(this.backoffMs * 2, this.opts.backoffMaxMs ?? 30_000);
    this.nextConnectAt = Date.now() + this.backoffMs;
    if (this.done || this.stoppedReason !== null) return;
    this.sink.disconnected(this, code, reason, this.backoffMs);
    this.pump();
  }

  private closeSocket(code: number, reason: string): void {
    const ws = this.ws;
    this.ws = null;
    this.isOpen = false;
    if (!ws) return;
    if (ws.readyState === WebSocket.OPEN) ws.close(code, reason);
    else ws.terminate();
  }

  private send(job: SegmentJob): void {
    const ws = this.ws!;
    job.attempts++;
    this.inFlight.set(job.payloadId, { job, sentAt: Date.now() });
    ws.send(prosodyRequest(job.wav, job.payloadId), { binary: false }, (err) => {
      if (err) this.log.warn({ track: this.key, payloadId: job.payloadId, err: err.message }, 'cannot send a payload to Hume');
    });
    this.sink.sent(job);
  }

  private reply(text: string): void {
    const r = parseReply(text);
    if (r.kind === 'invalid') { this.sink.unreadable(this, r.reason, text.slice(0, 200)); return; }
    let entry: { job: SegmentJob } | undefined;
    if (r.payloadId !== undefined) entry = this.inFlight.get(r.payloadId);
    else entry = this.inFlight.values().next().value;
    if (entry) this.inFlight.delete(entry.job.payloadId);
    const job = entry?.job ?? null;
    switch (r.kind) {
      case 'predictions':
        this.goodReply();
        if (job) this.sink.predictions(job, r.predictions);
        else this.sink.unreadable(this, `predictions for a payload not in flight (${r.payloadId ?? 'no payload_id'})`, text.slice(0, 200));
        break;
      case 'warning':
        this.goodReply();
        this.sink.warning(job, r.code, r.message);
        break;
      case 'error': {
        if (r.code === this.lastErrorCode) this.sameErrors++;
        else { this.lastErrorCode = r.code; this.sameErrors = 1; }
        this.sink.error(this, job, r.code, r.message);
        if (this.sameErrors >= this.opts.maxConfigErrors) this.stop(`${this.sameErrors} consecutive ${r.code} errors from Hume (last: ${r.message})`);
        break;
      }
    }
    this.pump();
  }

  private goodReply(): void {
    this.lastErrorCode = null;
    this.sameErrors = 0;
    this.backoffMs = 0;
    this.nextConnectAt = 0;
  }
}
