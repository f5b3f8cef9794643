/**
 * Hume streaming expression measurement, v0 (wss://api.hume.ai/v0/stream/models), as REFERENCE.md describes
 * it: the request meetcore sends, the replies it reads, and the reduction of prosody predictions to the top
 * emotions of one segment.
 *
 * Request: `{"models":{"prosody":{}}, "data":"<base64 of a WAV file>", "payload_id":"<id>"}`.
 * Replies: `{payload_id?, prosody:{predictions:[{time:{begin,end} (s), emotions:[{name,score}]}]}}`,
 * errors `{error, code, payload_id?}` (E0100 bad JSON, E0101 bad structure, E0200 unknown format, E0201 bad
 * base64, E0202 no audio, E0203 too long, E0300 out of credits), warnings `{warning, code}`. A warning may
 * also come inside the model's object (`{prosody:{warning, code}}`, e.g. no speech found); both are read.
 */
import { z } from 'zod';

/** The header carrying the API key on the WebSocket upgrade. */
export const HUME_API_KEY_HEADER = 'X-Hume-Api-Key';

/** Error codes that concern the whole account, not one stream: seeing them stops every track. */
export const ACCOUNT_ERROR_CODES: ReadonlySet<string> = new Set(['E0300']);

/** Emotions kept per segment (PROTOCOL.md §5: top 5). */
export const TOP_EMOTIONS = 5;

/** The JSON text of one request carrying `wav` (a complete WAV file). */
export function prosodyRequest(wav: Uint8Array, payloadId: string): string {
  return JSON.stringify({ models: { prosody: {} }, data: Buffer.from(wav.buffer, wav.byteOffset, wav.byteLength).toString('base64'), payload_id: payloadId });
}

const emotion = z.object({ name: z.string().min(1), score: z.number().finite() });
const prediction = z.object({
  time: z.object({ begin: z.number().finite(), end: z.number().finite() }).partial().optional(),
  emotions: z.array(emotion),
});
const code = z.union([z.string(), z.number()]).transform(String);

const errorReply = z.object({ error: z.string(), code: code.optional(), payload_id: z.string().optional() });
const warningReply = z.object({ warning: z.string(), code: code.optional(), payload_id: z.string().optional() });
const prosodyReply = z.object({
  payload_id: z.string().optional(),
  prosody: z.union([
    z.object({ predictions: z.array(prediction) }),
    z.object({ warning: z.string(), code: code.optional() }),
  ]),
});

export interface Emotion { name: string; score: number }
export interface Prediction { time?: { begin?: number; end?: number }; emotions: Emotion[] }

/** A reply, classified. `payloadId` is absent when Hume did not echo it. */
export type HumeReply =
  | { kind: 'predictions'; payloadId?: string; predictions: Prediction[] }
  | { kind: 'warning'; payloadId?: string; code: string; message: string }
  | { kind: 'error'; payloadId?: string; code: string; message: string }
  | { kind: 'invalid'; reason: string };

/** Classify one text message from Hume; never throws (anything unreadable is `invalid`). */
export function parseReply(text: string): HumeReply {
  let v: unknown;
  try { v = JSON.parse(text); } catch { return { kind: 'invalid', reason: 'not JSON' }; }
  const e = errorReply.safeParse(v);
  if (e.success) return { kind: 'error', payloadId: e.data.payload_id, code: e.data.code ?? 'unknown', message: e.data.error };
  const w = warningReply.safeParse(v);
  if (w.success) return { kind: 'warning', payloadId: w.data.payload_id, code: w.data.code ?? 'unknown', message: w.data.warning };
  const p = prosodyReply.safeParse(v);
  if (p.success) {
    const payloadId = p.data.payload_id;
    const body = p.data.prosody;
    if ('predictions' in body) return { kind: 'predictions', payloadId, predictions: body.predictions };
    return { kind: 'warning', payloadId, code: body.code ?? 'unknown', message: body.warning };
  }
  return { kind: 'invalid', reason: 'neither predictions, a warning nor an error' };
}

/**
 * The top emotions of a segment: each emotion's score averaged over the predictions (weighted by each
 * prediction's duration `time.end - time.begin` when every prediction has one > 0, equally otherwise),
 * highest first, at most `n`. Scores are rounded to 4 decimals.
 */
export function topEmotions(predictions: readonly Prediction[], n = TOP_EMOTIONS): Emotion[] {
  const sums = new Map<string, number>();
  const durations = predictions.map((p) => (p.time?.begin !== undefined && p.time.end !== undefined ? p.time.end - p.time.begin : 0));
  const weighted = durations.every((d) => d > 0);
  let total = 0;
  predictions.forEach((p, i) => {
    const w = weighted ? durations[i]! : 1;
    total += w;
    for (const e of p.emotions) sums.set(e.name, (sums.get(e.name) ?? 0) + e.score * w);
  });
  if (total <= 0) return [];
  return [...sums.entries()]
    .map(([name, s]) => ({ name, score: Math.round((s / total) * 1e4) / 1e4 }))
    .sort((a, b) => b.score - a.score || a.name.localeCompare(b.name))
    .slice(0, n);
}
