/**
 * The query string of `/egress-audio` (PROTOCOL.md §4) and the signed URLs that carry it: validation with
 * zod, signature check, and the one function that builds a signed URL (used by `POST /api/egress/url` and
 * the CLI `meetcore egress-url`, so that both always produce URLs the handler accepts).
 */
import { z } from 'zod';
import type { Config } from '../config.js';
import { HttpError } from '../http/errors.js';
import { parse, parseQuery, queryInteger, queryNumber } from '../http/validate.js';
import { SAMPLE_RATES, type SampleRate } from '../pipeline/types.js';
import { signedUrl, verify, wsBase } from './signing.js';

export const EGRESS_AUDIO_PATH = '/egress-audio';

/** Defaults of PROTOCOL.md §4. */
export const EGRESS_DEFAULTS = { sampleRate: 48000, channels: 2, groupSeconds: 2 } as const;

const sampleRateMessage = `must be one of ${SAMPLE_RATES.join(', ')}`;
/**
 * A name from the URL. C0 control characters and DEL (NUL included) are replaced by U+FFFD: they have no
 * place in an identity, and the native engine refuses NUL; file names are sanitized further (names.ts).
 */
const name = (max: number) => z.string().min(1).max(max).transform((v) => v.replace(/[\u0000-\u001f\u007f]/g, '\ufffd'));
/** A decimal number written in a query string (at most 16 digits before and after the point: never Infinity); `message` when it is not. */
const numeric = (message: string) => z.string().regex(/^-?\d{1,16}(\.\d{1,16})?$/, message).transform(Number);
/** Latest `exp` accepted, Unix seconds: the end of ECMAScript's time range (8.64e15 ms). */
const MAX_EXP_SEC = 8_640_000_000_000;

/** Field rules shared by the query (strings) and the JSON body (numbers) forms. */
const fields = {
  // LiveKit room names up to 128 characters, plus `<organizationId>:` when meetcore namespaced them.
  roomName: name(300),
  participant: name(256).optional(),
  trackId: name(256).optional(),
  meetingId: name(128).optional(),
};

/** `/egress-audio` query parameters, as strings in, typed out. Unknown parameters are ignored. */
export const egressAudioQuerySchema = z.object({
  ...fields,
  sampleRate: numeric(sampleRateMessage).pipe(z.literal(SAMPLE_RATES, { error: sampleRateMessage })).default(EGRESS_DEFAULTS.sampleRate),
  channels: numeric('must be 1 or 2').pipe(z.literal([1, 2], { error: 'must be 1 or 2' })).default(EGRESS_DEFAULTS.channels),
  groupSeconds: queryNumber(0.5, 5).default(EGRESS_DEFAULTS.groupSeconds),
  exp: queryInteger(1, MAX_EXP_SEC, 'Unix seconds').optional(),
  sig: z.string().optional(),
});

export type EgressAudioQuery = z.output<typeof egressAudioQuerySchema>;

/**
 * Validate a raw `/egress-audio` query string and, unless unsigned URLs are allowed, its signature.
 * @param rawQuery the query without `?`.
 * @param nowSec current Unix time, seconds.
 * @throws HttpError 400 bad_request (repeated or invalid parameter, naming it), 401 unauthorized
 *   ("missing signature", "bad signature", "expired").
 */
export function checkEgressAudioQuery(rawQuery: string, opts: { secret: string; allowUnsigned: boolean }, nowSec = Date.now() / 1000): EgressAudioQuery {
  return checkSignedQuery(egressAudioQuerySchema, EGRESS_AUDIO_PATH, rawQuery, opts, nowSec);
}

/**
 * Validate the query of an egress route against `schema` and, unless unsigned URLs are allowed, its signature
 * over `path + "?" + q` (PROTOCOL.md §4). A parameter given twice is refused.
 * @throws HttpError 400 bad_request (naming the parameter), 401 unauthorized ("missing signature", "bad
 *   signature", "expired").
 */
export function checkSignedQuery<S extends z.ZodType>(schema: S, path: string, rawQuery: string, opts: { secret: string; allowUnsigned: boolean }, nowSec: number): z.output<S> {
  const params = new URLSearchParams(rawQuery);
  const query = parseQuery(schema, params);
  if (!opts.allowUnsigned) {
    const problem = verify(opts.secret, path, params, nowSec);
    if (problem) throw new HttpError('unauthorized', `egress URL signature: ${problem}`);
  }
  return query;
}

/** Body of `POST /api/egress/url` (JSON numbers for the numeric fields). `ttlSec` 60 s .. 30 days, default 1 day. */
export const egressUrlRequestSchema = z.object({
  ...fields,
  sampleRate: z.literal(SAMPLE_RATES, { error: sampleRateMessage }).optional(),
  channels: z.literal([1, 2], { error: 'must be 1 or 2' }).optional(),
  groupSeconds: z.number().min(0.5).max(5).optional(),
  ttlSec: z.number().int().min(60).max(30 * 86400).default(86400),
});

export type EgressUrlRequest = z.input<typeof egressUrlRequestSchema>;

/**
 * A signed `/egress-audio` URL on `PUBLIC_URL` (http→ws, https→wss) for a LiveKit Track Egress.
 * Only the parameters given are put in the URL (the handler applies the §4 defaults).
 * @throws HttpError 400 bad_request when a parameter is invalid (same rules as the handler's).
 */
export function egressAudioUrl(config: Pick<Config, 'EGRESS_SECRET' | 'PUBLIC_URL'>, input: EgressUrlRequest, nowSec = Math.floor(Date.now() / 1000)): string {
  const r = parse(egressUrlRequestSchema, input);
  const params: Record<string, string | number | undefined> = {
    roomName: r.roomName, participant: r.participant, trackId: r.trackId, meetingId: r.meetingId,
    sampleRate: r.sampleRate as SampleRate | undefined, channels: r.channels, groupSeconds: r.groupSeconds,
  };
  return signedUrl(config.EGRESS_SECRET, wsBase(config.PUBLIC_URL), EGRESS_AUDIO_PATH, params, r.ttlSec, nowSec);
}
