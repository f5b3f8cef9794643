import type { z } from 'zod';
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
