/**
 * A local test double of Hume's streaming expression measurement API, v0, as /work/shared/REFERENCE.md
 * describes it (written independently of src/hume):
 * - WebSocket at `/v0/stream/models`; the upgrade needs header `X-Hume-Api-Key` equal to the key (else 401);
 * - request `{"models":{"prosody":{}}, "data":"<base64 of a media file>", "payload_id"?, "reset_stream"?}`;
 * - reply `{payload_id?, prosody:{predictions:[{time:{begin,end}, emotions:[{name,score}]}]}}`;
 * - errors `{error, code, payload_id?}`: E0100 bad JSON, E0101 bad structure, E0200 unknown format (not a
 *   WAV here), E0201 bad base64, E0202 no audio, E0203 more than 5000 ms (or `maxPayloadMs`); after 10
 *   identical errors the socket is closed.
 * Test controls: `errorCode` answers every valid payload with that error, `delayMs` answers slowly,
 * `dropOnMessage` terminates the socket (no close frame, no reply) when that message number (1-based,
 * over all sockets) arrives, `garbageOnMessage` answers that message with text that is not JSON.
 */
import type { IncomingMessage } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';

/** The 48 prosody emotions of Hume's expression measurement. */
export const EMOTIONS = [
  'Admiration', 'Adoration', 'Aesthetic Appreciation', 'Amusement', 'Anger', 'Anxiety', 'Awe', 'Awkwardness', 'Boredom', 'Calmness',
  'Concentration', 'Confusion', 'Contemplation', 'Contempt', 'Contentment', 'Craving', 'Desire', 'Determination', 'Disappointment',
  'Disgust', 'Distress', 'Doubt', 'Ecstasy', 'Embarrassment', 'Empathic Pain', 'Entrancement', 'Envy', 'Excitement', 'Fear', 'Guilt',
  'Horror', 'Interest', 'Joy', 'Love', 'Nostalgia', 'Pain', 'Pride', 'Realization', 'Relief', 'Romance', 'Sadness', 'Satisfaction',
  'Shame', 'Surprise (negative)', 'Surprise (positive)', 'Sympathy', 'Tiredness', 'Triumph',
] as const;

export interface DoubleOptions {
  apiKey: string;
  errorCode?: string;
  delayMs?: number;
  dropOnMessage?: number;
  garbageOnMessage?: number;
  /** Audio limit per payload, ms (Hume's is 5000; a test may lower it to provoke E0203). */
  maxPayloadMs?: number;
}

/** A payload as the double understood it. */
export interface ReceivedPayload {
  conn: number;
  payloadId?: string;
  /** Parsed from the base64 WAV. */
  format: number;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  durationMs: number;
  dataBytes: number;
  /** Payloads of this socket sent and not answered when this one arrived (this one included). */
  inFlightAtArrival: number;
  at: number;
}

export interface Connection {
  id: number;
  apiKey: string | undefined;
  url: string;
  closed: boolean;
  messages: number;
}

export interface HumeDouble {
  url: string;
  opts: DoubleOptions;
  connections: Connection[];
  refused: { apiKey: string | undefined }[];
  payloads: ReceivedPayload[];
  /** Replies sent: what each was. */
  replies: { conn: number; payloadId?: string; kind: 'predictions' | 'error' | 'garbage'; code?: string; body?: any }[];
  /** Highest number of unanswered payloads seen on one socket. */
  maxInFlight(): number;
  close(): Promise<void>;
}

/** Parse a WAV file the way a media decoder would: RIFF/WAVE, chunks in any order. Null when it is not one. */
function parseWav(b: Buffer): { format: number; channels: number; sampleRate: number; bitsPerSample: number; blockAlign: number; dataBytes: number } | null {
  if (b.length < 12 || b.toString('latin1', 0, 4) !== 'RIFF' || b.toString('latin1', 8, 12) !== 'WAVE') return null;
  let fmt: { format: number; channels: number; sampleRate: number; bitsPerSample: number; blockAlign: number } | null = null;
  let off = 12;
  while (off + 8 <= b.length) {
    const id = b.toString('latin1', off, off + 4);
    const size = b.readUInt32LE(off + 4);
    if (id === 'fmt ' && off + 24 <= b.length) {
      fmt = { format: b.readUInt16LE(off + 8), channels: b.readUInt16LE(off + 10), sampleRate: b.readUInt32LE(off + 12), blockAlign: b.readUInt16LE(off + 20), bitsPerSample: b.readUInt16LE(off + 22) };
    } else if (id === 'data') {
      if (!fmt) return null;
      return { ...fmt, dataBytes: Math.min(size, b.length - off - 8) };
    }
    off += 8 + size + (size & 1);
  }
  return null;
}

/** Deterministic scores for a payload (a simple hash of its audio bytes). */
function scores(seed: number): { name: string; score: number }[] {
  let x = (seed >>> 0) || 1;
  return EMOTIONS.map((name) => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return { name, score: Math.round((x / 0xffffffff) * 1e6) / 1e6 };
  });
}

/** Start the double on 127.0.0.1 (free port). */
export async function startHumeDouble(opts: DoubleOptions): Promise<HumeDouble> {
  const connections: Connection[] = [];
  const refused: { apiKey: string | undefined }[] = [];
  const payloads: ReceivedPayload[] = [];
  const replies: HumeDouble['replies'] = [];
  let messageNo = 0;
  let maxInFlight = 0;
  const wss = new WebSocketServer({
    host: '127.0.0.1', port: 0, path: '/v0/stream/models', maxPayload: 64 * 1024 * 1024,
    verifyClient: (info: { req: IncomingMessage }, cb: (ok: boolean, code?: number, message?: string) => void) => {
      const key = info.req.headers['x-hume-api-key'];
      const apiKey = Array.isArray(key) ? key[0] : key;
      if (apiKey !== opts.apiKey) { refused.push({ apiKey }); cb(false, 401, 'Unauthorized'); return; }
      cb(true);
    },
  });
  await new Promise<void>((resolve) => wss.once('listening', () => resolve()));
  const port = (wss.address() as { port: number }).port;

  wss.on('connection', (ws: WebSocket, req: IncomingMessage) => {
    const key = req.headers['x-hume-api-key'];
    const conn: Connection = { id: connections.length + 1, apiKey: Array.isArray(key) ? key[0] : key, url: req.url ?? '', closed: false, messages: 0 };
    connections.push(conn);
    let unanswered = 0;
    let lastErr = '';
    let sameErrs = 0;
    ws.on('close', () => { conn.closed = true; });
    const reply = (body: Record<string, unknown>, kind: 'predictions' | 'error', payloadId: string | undefined, code?: string) => {
      const send = () => {
        if (ws.readyState !== ws.OPEN) return;
        unanswered--;
        replies.push({ conn: conn.id, payloadId, kind, code, body });
        ws.send(JSON.stringify(body));
        if (kind === 'error') {
          if (code === lastErr) sameErrs++; else { lastErr = code!; sameErrs = 1; }
          if (sameErrs >= 10) ws.close(1008, 'too many identical configuration errors');
        } else { lastErr = ''; sameErrs = 0; }
      };
      if (opts.delayMs) setTimeout(send, opts.delayMs); else send();
    };
    const error = (code: string, message: string, payloadId?: string) => reply({ error: message, code, ...(payloadId !== undefined ? { payload_id: payloadId } : {}) }, 'error', payloadId, code);

    ws.on('message', (data, isBinary) => {
      messageNo++;
      conn.messages++;
      unanswered++;
      maxInFlight = Math.max(maxInFlight, unanswered);
      if (opts.dropOnMessage === messageNo) { ws.terminate(); return; }
      if (opts.garbageOnMessage === messageNo) {
        unanswered--;
        replies.push({ conn: conn.id, kind: 'garbage' });
        ws.send('<html>502 Bad Gateway</html>');
        return;
      }
      let msg: any;
      try { msg = JSON.parse(isBinary ? '' : data.toString()); } catch { error('E0100', 'Invalid JSON.'); return; }
      const payloadId = typeof msg?.payload_id === 'string' ? msg.payload_id : undefined;
      if (typeof msg !== 'object' || msg === null || typeof msg.models !== 'object' || msg.models === null
        || typeof msg.models.prosody !== 'object' || typeof msg.data !== 'string') {
        error('E0101', 'Invalid message structure: expected models and data.', payloadId);
        return;
      }
      if (!/^[A-Za-z0-9+/]*={0,2}$/.test(msg.data) || msg.data.length % 4 !== 0) { error('E0201', 'Invalid base64 data.', payloadId); return; }
      const bytes = Buffer.from(msg.data, 'base64');
      const wav = parseWav(bytes);
      if (!wav) { error('E0200', 'Unknown media format.', payloadId); return; }
      const frames = wav.blockAlign > 0 ? Math.floor(wav.dataBytes / wav.blockAlign) : 0;
      const durationMs = wav.sampleRate > 0 ? (frames * 1000) / wav.sampleRate : 0;
      payloads.push({
        conn: conn.id, payloadId, format: wav.format, channels: wav.channels, sampleRate: wav.sampleRate, bitsPerSample: wav.bitsPerSample,
        durationMs, dataBytes: wav.dataBytes, inFlightAtArrival: unanswered, at: Date.now(),
      });
      if (frames === 0) { error('E0202', 'No audio found in the file.', payloadId); return; }
      const limit = opts.maxPayloadMs ?? 5000;
      if (durationMs > limit) { error('E0203', `Audio exceeds the streaming limit of ${limit} ms.`, payloadId); return; }
      if (opts.errorCode) { error(opts.errorCode, `configured error ${opts.errorCode}`, payloadId); return; }
      let seed = 0;
      for (let i = 0; i < bytes.length; i += 97) seed = (seed * 31 + bytes[i]!) >>> 0;
      const half = durationMs / 2000;
      const predictions = [
        { time: { begin: 0, end: half }, emotions: scores(seed) },
        { time: { begin: half, end: durationMs / 1000 }, emotions: scores(seed + 1) },
      ];
      reply({ ...(payloadId !== undefined ? { payload_id: payloadId } : {}), prosody: { predictions } }, 'predictions', payloadId);
    });
  });

  return {
    url: `ws://127.0.0.1:${port}/v0/stream/models`, opts, connections, refused, payloads, replies,
    maxInFlight: () => maxInFlight,
    close: () => new Promise<void>((resolve) => {
      for (const c of wss.clients) c.terminate();
      wss.close(() => resolve());
    }),
  };
}
