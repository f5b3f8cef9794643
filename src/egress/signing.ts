/**
 * Egress URL signatures (PROTOCOL.md §4):
 * `sig = base64url(HMAC-SHA256(EGRESS_SECRET, path + "?" + q))`, where q is every query parameter other than
 * `sig`, sorted by name, each `encodeURIComponent(name)=encodeURIComponent(value)`, joined by `&`.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** The canonical string that is signed: `path?name=value&...` sorted by name, `sig` left out. */
export function canonicalQuery(path: string, params: Iterable<[string, string]>): string {
  const pairs = [...params].filter(([k]) => k !== 'sig').sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0));
  return `${path}?${pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}`;
}

/** base64url HMAC-SHA256 of the canonical string. */
export function sign(secret: string, path: string, params: Iterable<[string, string]>): string {
  return createHmac('sha256', secret).update(canonicalQuery(path, params)).digest('base64url');
}

/**
 * Check `sig` and `exp` of a query.
 * @param nowSec current Unix time in seconds.
 * @returns null when valid, else the reason ("missing signature", "bad signature", "expired").
 */
export function verify(secret: string, path: string, query: URLSearchParams, nowSec = Date.now() / 1000): string | null {
  const sig = query.get('sig');
  if (!sig) return 'missing signature';
  const expected = Buffer.from(sign(secret, path, query.entries()));
  const given = Buffer.from(sig);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'bad signature';
  const exp = query.get('exp');
  if (exp !== null && !(Number(exp) > nowSec)) return 'expired';
  return null;
}

/**
 * A signed URL: `base` (e.g. PUBLIC_URL turned into ws:// or wss://) + path + query with `exp` and `sig`.
 * @param ttlSec lifetime of the signature in seconds (sets `exp`).
 */
export function signedUrl(secret: string, base: string, path: string, params: Record<string, string | number | undefined>, ttlSec: number, nowSec = Math.floor(Date.now() / 1000)): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  q.set('exp', String(nowSec + Math.round(ttlSec)));
  q.set('sig', sign(secret, path, q.entries()));
  return `${base.replace(/\/+$/, '')}${path}?${q.toString()}`;
}

/** PUBLIC_URL with its scheme turned into the WebSocket one (http→ws, https→wss). */
export function wsBase(publicUrl: string): string {
  return publicUrl.replace(/^http/, 'ws');
}
