/**
 * Errors that map to an HTTP status and a PROTOCOL.md §1 error body
 * `{"error":{"code","message"}}`. Throw them from route handlers; anything else becomes a 500 `internal`.
 */

export type ErrorCode =
  | 'bad_request' | 'unauthorized' | 'forbidden' | 'not_found' | 'method_not_allowed' | 'conflict' | 'too_large'
  | 'unsupported_media_type' | 'rate_limited' | 'unavailable' | 'internal';

const STATUS: Record<ErrorCode, number> = {
  bad_request: 400, unauthorized: 401, forbidden: 403, not_found: 404, method_not_allowed: 405, conflict: 409, too_large: 413,
  unsupported_media_type: 415, rate_limited: 429, unavailable: 503, internal: 500,
};

/** An error with a fixed HTTP status derived from its code. */
export class HttpError extends Error {
  readonly status: number;
  constructor(readonly code: ErrorCode, message: string, readonly headers: Record<string, string> = {}) {
    super(message);
    this.name = 'HttpError';
    this.status = STATUS[code];
  }
}

/** uWS status line for a status number ("404 Not Found"). */
export function statusLine(status: number): string {
  return `${status} ${STATUS_TEXT[status] ?? 'Status'}`;
}

const STATUS_TEXT: Record<number, string> = {
  101: 'Switching Protocols', 200: 'OK', 201: 'Created', 204: 'No Content', 304: 'Not Modified', 400: 'Bad Request', 401: 'Unauthorized',
  403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 409: 'Conflict', 413: 'Payload Too Large',
  415: 'Unsupported Media Type', 429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable',
};

/** The JSON body of an error reply. */
export function errorBody(code: string, message: string): string {
  return JSON.stringify({ error: { code, message } });
}
