/**
 * Replies of versioned bytes (a meeting's report, its picture, its debug view): a weak ETag of the version, and 304
 * for a client that already holds it (RFC 9110 §8.8.3, §13.1.2).
 */
import type { Reply, Request } from './router.js';

/** The weak entity tag of a report version (RFC 9110 §8.8.3). */
export function etagOf(version: string): string {
  return `W/"${version}"`;
}

/** Whether an If-None-Match header value names `etag` (weak comparison, RFC 9110 §13.1.2; `*` matches). */
export function notModified(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  const opaque = (t: string) => t.trim().replace(/^W\//, '');
  return ifNoneMatch.split(',').some((t) => t.trim() === '*' || opaque(t) === opaque(etag));
}

/**
 * A reply of versioned bytes: 304 with the ETag when the request already holds `version`, else 200 with the
 * bytes. `Cache-Control: no-cache`: a client keeps the body but asks again (with If-None-Match) each time.
 */
export async function versionedReply(req: Request, result: { version: string; bytes: Promise<Uint8Array | Uint8Array[]> }, contentType: string, headers: Record<string, string> = {}): Promise<Reply> {
  const etag = etagOf(result.version);
  const common = { ETag: etag, 'Cache-Control': 'no-cache', ...headers };
  if (notModified(req.headers['if-none-match'], etag)) return { status: 304, headers: common };
  return { raw: await result.bytes, contentType, headers: common };
}
