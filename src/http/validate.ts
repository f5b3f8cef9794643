import { z } from 'zod';
import { HttpError } from './errors.js';

/**
 * Validate `value` against a zod schema.
 * @returns the parsed value.
 * @throws HttpError 400 bad_request whose message names the first bad field ("roomName: is required").
 */
export function parse<S extends z.ZodType>(schema: S, value: unknown): z.output<S> {
  // reportInput: zod 4 leaves `input` off issues otherwise, and a wrong type would read "is required".
  const r = schema.safeParse(value, { reportInput: true });
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const where = issue.path.length ? issue.path.join('.') : 'body';
  const message = issue.code === 'invalid_type' && issue.input === undefined ? 'is required' : issue.message;
  throw new HttpError('bad_request', `${where}: ${message}`);
}

/**
 * Validate a query string against a zod object schema whose fields take the parameters' text. Unknown
 * parameters are left to the schema (a plain `z.object` ignores them).
 * @throws HttpError 400 bad_request naming the parameter: given more than once ("offset: given more than
 *   once"), or failing its rule ("offset: must be an integer from 0 to 1000000000").
 */
export function parseQuery<S extends z.ZodType>(schema: S, query: URLSearchParams): z.output<S> {
  const seen = new Set<string>();
  for (const key of query.keys()) {
    if (seen.has(key)) throw new HttpError('bad_request', `${key}: given more than once`);
    seen.add(key);
  }
  return parse(schema, Object.fromEntries(query));
}

/**
 * A whole number written in a query string, `min` ≤ n ≤ `max` (both safe integers, `min` ≥ 0): decimal digits
 * only (no sign, fraction or exponent). Anything else, too large a number included, fails with
 * "must be an integer from MIN to MAX", followed by ` (unit)` when `unit` is given.
 */
export function queryInteger(min: number, max: number, unit?: string) {
  const message = `must be an integer from ${min} to ${max}${unit ? ` (${unit})` : ''}`;
  // 1..16 digits: every such number is below 2^53, so Number() reads it exactly before the range check.
  return z.string().regex(/^\d{1,16}$/, message).transform(Number).pipe(z.number().min(min, message).max(max, message));
}

/**
 * A decimal number written in a query string, `min` ≤ x ≤ `max`: an optional `-`, up to 16 digits, and
 * optionally a point and up to 16 more (no exponent, so never Infinity). Anything else fails with
 * "must be a number from MIN to MAX".
 */
export function queryNumber(min: number, max: number) {
  const message = `must be a number from ${min} to ${max}`;
  return z.string().regex(/^-?\d{1,16}(\.\d{1,16})?$/, message).transform(Number).pipe(z.number().min(min, message).max(max, message));
}
