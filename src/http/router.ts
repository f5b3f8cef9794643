/**
 * Thin routing on top of uWebSockets.js for JSON endpoints, following the uWS rules (REFERENCE.md):
 * everything needed from `req` is copied before any await, `onAborted` is set before async work, replies
 * are corked, and bodies are read with a hard limit (64 KiB default) so that an oversized body gets 413
 * without being buffered.
 *
 * The Router also answers what no route does, from the table of every pattern and method registered
 * through it (and the WebSocket paths declared with `websocket`):
 * - every GET route answers HEAD too: the GET handler runs, the reply has the same status and headers with
 *   the Content-Length of the GET body, and no body;
 * - a known path asked with another method gets 405 `method_not_allowed` with `Allow: GET, HEAD` (the
 *   methods of every pattern matching the path; `OPTIONS` added when CORS is on);
 * - anything else gets 404 `not_found` (as does a GET that a WebSocket path declined: no Upgrade header).
 *
 * Every reply (JSON, raw and errors, 404/405 included) carries `Cache-Control: no-store` and `Pragma: no-cache`
 * (NO_STORE) unless its route sets a Cache-Control header of its own: nothing meetcore answers is kept by a
 * browser or a shared cache by default, tokens included (RFC 6749 §5.1, RFC 9111 §5.2.2.5).
 *
 * uWS route priority (checked on uWS v20 as bundled): a method-specific route (`get`, `head`, `options`,
 * `ws`) always wins over an `any` route, whatever the patterns and the registration order (`options /*`
 * beats `any /health`); among `any` routes a static segment wins over a wildcard (engine.io's
 * `any /socket.io/` beats this `any /*`, registered first); a `ws` route passes a GET without Upgrade on
 * to the `any` routes. So the fallback here never sees an upgrade, a Socket.IO request or a CORS preflight.
 */
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { Logger } from '../log.js';
import { HttpError, errorBody, statusLine } from './errors.js';
import { isOrgAdmin } from '../auth/authorization.js';

/** What a handler gets: a plain copy of the request (valid after awaits). */
export interface Request {
  method: string;
  /** Path without the query string. */
  path: string;
  /** Raw query string without '?'. */
  rawQuery: string;
  query: URLSearchParams;
  /** Lower-case header names (a record without prototype: any name is safe to look up). */
  headers: Record<string, string>;
  /** Values of the `:name` parameters in the pattern, by name. */
  params: Record<string, string>;
  /** Remote address as text (IPv4 or IPv6). */
  ip: string;
  /** Parsed JSON body (`body: 'json'`), the raw UTF-8 text (`body: 'text'`), or undefined. */
  body: unknown;
  /** Set by the authenticator when credentials were given and valid. */
  principal?: Principal;
}

/** Who is calling, as established by the installed Authenticator (src/auth). */
export interface Principal {
  kind: 'user' | 'livekit';
  userId?: string;
  orgId?: string;
  role?: 'owner' | 'admin' | 'member';
  /** Display name: the account's name (access token), the token's `name` (LiveKit); `call:incoming.fromName` falls back to it. */
  name?: string;
  /** LiveKit identity and room, for LiveKit tokens. */
  identity?: string;
  room?: string;
  roles?: string[];
  /** Login session (refresh family) of an access token: logout or revocation closes its sockets. */
  sessionId?: string;
  /** When the token expires, Unix ms (`exp`). */
  expiresAt?: number;
}

/**
 * A JSON reply (`json` is serialized), or raw bytes with their content type (a list of byte arrays is sent as
 * their concatenation). Bodies over STREAM_BODY_BYTES are written as the socket drains, not copied whole into
 * uWS's buffer in one call (a 12 MB report would hold the event loop ~100 ms).
 */
export interface Reply {
  status?: number;
  json?: unknown;
  raw?: string | Uint8Array | Uint8Array[];
  contentType?: string;
  /** Extra headers; a `Cache-Control` among them replaces the default `no-store` (and its `Pragma`). */
  headers?: Record<string, string>;
}

export type Handler = (req: Request) => Reply | Promise<Reply>;

/**
 * - 'none': never asks for credentials;
 * - 'optional': open unless REQUIRE_AUTH=true (PROTOCOL.md §1 "optional*");
 * - 'bearer': a valid access token is required once an authenticator is installed;
 * - 'admin': bearer, and role owner/admin.
 */
export type AuthMode = 'none' | 'optional' | 'bearer' | 'admin';

export interface RouteOptions {
  /** 'json' requires Content-Type application/json (415 otherwise) and parses it (400 on bad JSON). */
  body?: 'json' | 'text';
  /** Body limit in bytes (default 64 KiB); larger → 413. */
  maxBodyBytes?: number;
  auth?: AuthMode;
}

/** Resolves the credentials of a request, or null when none were presented; throws HttpError 401 when they are bad. */
export type Authenticator = (req: Request) => Promise<Principal | null>;

export interface RouterOptions {
  log: Logger;
  requireAuth: boolean;
  corsOrigins: readonly string[];
}

export const DEFAULT_MAX_BODY = 64 * 1024;

/** Registers JSON routes on a uWS app with shared error mapping, CORS and authentication. */
export class Router {
  private authenticator: Authenticator | null = null;
  private readonly cors: Set<string>;

  /** Every pattern registered through the Router, with its segments and the methods it answers. */
  private readonly patterns = new Map<string, { segments: string[]; methods: Set<string> }>();

  /** Registers the CORS preflight route (when CORS_ORIGINS is set) and the 404/405 fallback (`any /*`). */
  constructor(readonly app: TemplatedApp, private readonly opts: RouterOptions) {
    this.cors = new Set(opts.corsOrigins);
    app.any('/*', (res, req) => this.fallback(res, req));
    if (this.cors.size > 0) {
      app.options('/*', (res, req) => {
        const origin = req.getHeader('origin');
        const reqHeaders = req.getHeader('access-control-request-headers');
        res.cork(() => {
          res.writeStatus(statusLine(204));
          this.writeCors(res, origin);
          if (this.cors.has(origin)) {
            res.writeHeader('Access-Control-Allow-Methods', 'GET, POST, PUT, PATCH, DELETE, OPTIONS');
            res.writeHeader('Access-Control-Allow-Headers', reqHeaders || 'Authorization, Content-Type');
            res.writeHeader('Access-Control-Max-Age', '600');
          }
          res.end();
        });
      });
    }
  }

  /** Install the authenticator (src/auth). Until one is installed, 'bearer' and 'admin' routes are open. */
  setAuthenticator(fn: Authenticator): void {
    this.authenticator = fn;
  }

  get(pattern: string, handler: Handler, options: RouteOptions = {}): void {
    this.add('get', pattern, handler, options);
  }

  post(pattern: string, handler: Handler, options: RouteOptions = {}): void {
    this.add('post', pattern, handler, options);
  }

  del(pattern: string, handler: Handler, options: RouteOptions = {}): void {
    this.add('del', pattern, handler, options);
  }

  patch(pattern: string, handler: Handler, options: RouteOptions = {}): void {
    this.add('patch', pattern, handler, options);
  }

  /**
   * Declare a WebSocket path registered directly with `app.ws` (its upgrade is a GET answered by uWS), so
   * that other methods on it get 405 `Allow: GET`. A GET without Upgrade keeps getting 404.
   */
  websocket(pattern: string): void {
    this.remember(pattern, 'GET');
  }

  /**
   * The methods a path is answered with, in the order of the Allow header: the union over every registered
   * pattern matching it (`:name` matches one non-empty segment, as in uWS). Empty for an unknown path.
   * @param path the URL path without the query string, as received (not decoded).
   */
  methodsOf(path: string): string[] {
    const parts = path.split('/');
    const found = new Set<string>();
    for (const { segments, methods } of this.patterns.values()) {
      if (matches(segments, parts)) for (const m of methods) found.add(m);
    }
    return METHOD_ORDER.filter((m) => found.has(m));
  }

  private remember(pattern: string, method: string): void {
    let entry = this.patterns.get(pattern);
    if (!entry) this.patterns.set(pattern, (entry = { segments: pattern.split('/'), methods: new Set() }));
    entry.methods.add(method);
  }

  private add(method: 'get' | 'post' | 'del' | 'patch', pattern: string, handler: Handler, options: RouteOptions): void {
    const names = pattern.split('/').filter((p) => p.startsWith(':')).map((p) => p.slice(1));
    const route = (head: boolean) => (res: HttpResponse, req: HttpRequest) => {
      const request = copyRequest(res, req, names);
      const state = { aborted: false };
      res.onAborted(() => { state.aborted = true; });
      void this.run(res, request, handler, options, state, head);
    };
    this.app[method](pattern, route(false));
    this.remember(pattern, UWS_METHODS[method]);
    if (method === 'get') {
      this.app.head(pattern, route(true));
      this.remember(pattern, 'HEAD');
    }
  }

  /** What no route answered: 405 with Allow for a known path, else 404; JSON error body (none for HEAD). */
  private fallback(res: HttpResponse, req: HttpRequest): void {
    const path = req.getUrl();
    const method = req.getMethod().toUpperCase();
    const origin = req.getHeader('origin');
    const allowed = this.methodsOf(path);
    const refused = allowed.length > 0 && !allowed.includes(method);
    if (refused && this.cors.size > 0) allowed.push('OPTIONS');
    const allow = allowed.join(', ');
    const body = refused
      ? errorBody('method_not_allowed', `${method} is not allowed on ${path} (allowed: ${allow})`)
      : errorBody('not_found', `no route for ${path}`);
    res.cork(() => {
      res.writeStatus(statusLine(refused ? 405 : 404));
      this.writeCors(res, origin);
      if (refused) res.writeHeader('Allow', allow);
      writeNoStore(res);
      res.writeHeader('Content-Type', 'application/json');
      endBody(res, body, method === 'HEAD');
    });
  }

  private async run(res: HttpResponse, req: Request, handler: Handler, options: RouteOptions, state: { aborted: boolean }, head: boolean): Promise<void> {
    let reply: Reply;
    try {
      if (options.body) req.body = await readBody(res, req, options, state);
      await this.authenticate(req, options.auth ?? 'none');
      reply = await handler(req);
    } catch (err) {
      reply = this.errorReply(err, req);
    }
    if (state.aborted) return;
    this.send(res, req, reply, head, state);
  }

  private async authenticate(req: Request, mode: AuthMode): Promise<void> {
    if (mode === 'none' || !this.authenticator) return;
    const principal = await this.authenticator(req);
    if (principal) req.principal = principal;
    const required = mode === 'bearer' || mode === 'admin' || (mode === 'optional' && this.opts.requireAuth);
    if (required && !principal) throw new HttpError('unauthorized', 'a bearer access token is required');
    if (mode === 'admin' && principal && !isOrgAdmin(principal)) {
      throw new HttpError('forbidden', 'owner or admin role required');
    }
  }

  private errorReply(err: unknown, req: Request): Reply {
    if (err instanceof HttpError) {
      return { status: err.status, raw: errorBody(err.code, err.message), contentType: 'application/json', headers: err.headers };
    }
    this.opts.log.error({ err, path: req.path, method: req.method }, 'unhandled error in HTTP handler');
    return { status: 500, raw: errorBody('internal', 'internal error'), contentType: 'application/json' };
  }

  /** Write the reply; for HEAD (`head`), the same status and headers with the body's Content-Length, no body. */
  private send(res: HttpResponse, req: Request, reply: Reply, head: boolean, state: { aborted: boolean } = { aborted: false }): void {
    const status = reply.status ?? 200;
    res.cork(() => {
      res.writeStatus(statusLine(status));
      this.writeCors(res, req.headers.origin ?? '');
      const headers = Object.entries(reply.headers ?? {});
      if (!headers.some(([k]) => k.toLowerCase() === 'cache-control')) writeNoStore(res);
      for (const [k, v] of headers) res.writeHeader(k, v);
      if (status === 204 || status === 304) { res.endWithoutBody(); return; }
      if (reply.raw !== undefined) {
        res.writeHeader('Content-Type', reply.contentType ?? 'application/octet-stream');
        const parts = typeof reply.raw === 'string' ? null : Array.isArray(reply.raw) ? reply.raw : [reply.raw];
        let size = 0;
        for (const p of parts ?? []) size += p.byteLength;
        if (parts && size > STREAM_BODY_BYTES && !head) streamBody(res, parts, size, state);
        else endBody(res, parts ?? (reply.raw as string), head);
      } else {
        res.writeHeader('Content-Type', 'application/json');
        endBody(res, JSON.stringify(reply.json ?? null), head);
      }
    });
  }

  private writeCors(res: HttpResponse, origin: string): void {
    if (this.cors.size === 0) return;
    res.writeHeader('Vary', 'Origin');
    if (origin && this.cors.has(origin)) {
      res.writeHeader('Access-Control-Allow-Origin', origin);
      res.writeHeader('Access-Control-Allow-Credentials', 'true');
    }
  }
}

/** The caching headers of a reply whose route says nothing about caching (see the module comment). */
export const NO_STORE: Readonly<Record<string, string>> = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };

function writeNoStore(res: HttpResponse): void {
  for (const [k, v] of Object.entries(NO_STORE)) res.writeHeader(k, v);
}

/** Allow header order. */
const METHOD_ORDER = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];
const UWS_METHODS = { get: 'GET', post: 'POST', del: 'DELETE', patch: 'PATCH' } as const;

/** Whether a path (split on '/') matches a pattern (split on '/'): same length, `:name` = one non-empty segment, trailing `*` = the rest. */
function matches(pattern: readonly string[], parts: readonly string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const seg = pattern[i]!;
    if (seg === '*' && i === pattern.length - 1) return parts.length >= pattern.length;
    if (i >= parts.length) return false;
    if (seg.startsWith(':') ? parts[i] === '' : seg !== parts[i]) return false;
  }
  return parts.length === pattern.length;
}

/** Bodies larger than this, bytes, are written in STREAM_CHUNK_BYTES pieces as the socket drains. */
const STREAM_BODY_BYTES = 256 * 1024;
const STREAM_CHUNK_BYTES = 64 * 1024;
/** Most bytes written in one turn of the event loop; the rest follows at the next turn (setImmediate). */
const STREAM_TURN_BYTES = 64 * 1024;

/**
 * Write `parts` (their concatenation, `size` bytes) with uWS's tryEnd as far as the socket takes it, and the rest
 * from onWritable (uWS's streaming pattern: a refused piece is offered again from the response's write offset).
 * At most STREAM_TURN_BYTES are written per turn of the event loop. Call inside the reply's cork, after the
 * headers; nothing is written once `state.aborted`.
 */
function streamBody(res: HttpResponse, parts: Uint8Array[], size: number, state: { aborted: boolean }): void {
  const base = res.getWriteOffset();
  let part = 0;
  let partStart = 0;
  /** At most STREAM_CHUNK_BYTES of the body from byte `pos`, within one part. */
  const pieceAt = (pos: number): Uint8Array => {
    while (pos >= partStart + parts[part]!.byteLength) partStart += parts[part++]!.byteLength;
    const from = pos - partStart;
    return parts[part]!.subarray(from, Math.min(parts[part]!.byteLength, from + STREAM_CHUNK_BYTES));
  };
  let waiting = false;
  /** True once everything is written or the turn's share is; false when the socket is full (onWritable goes on). */
  const write = (): boolean => {
    const until = res.getWriteOffset() + STREAM_TURN_BYTES;
    for (;;) {
      const [ok, done] = res.tryEnd(pieceAt(res.getWriteOffset() - base), size);
      if (done) return true;
      if (!ok) {
        if (!waiting) {
          waiting = true;
          res.onWritable(() => {
            let drained = false;
            res.cork(() => { drained = write(); });
            return drained;
          });
        }
        return false;
      }
      if (res.getWriteOffset() >= until) {
        setImmediate(() => { if (!state.aborted) res.cork(() => { write(); }); });
        return true;
      }
    }
  };
  write();
}

/**
 * End a response with `body` (a list of byte arrays: their concatenation), or for HEAD (`head`) with its Content-Length and no body. uWS does not know
 * HEAD: `end(body)` would send the body, and `endWithoutBody(length)` leaves this uWS build's response
 * unfinished (the process aborts when that happens inside a handler), so the header is written by hand.
 */
function endBody(res: HttpResponse, body: string | Uint8Array | readonly Uint8Array[], head: boolean): void {
  const one = (parts: readonly Uint8Array[]) => (parts.length === 1 ? parts[0]! : Buffer.concat(parts));
  if (!head) { res.end(typeof body === 'string' || body instanceof Uint8Array ? body : one(body)); return; }
  const size = typeof body === 'string' ? Buffer.byteLength(body) : body instanceof Uint8Array ? body.byteLength : body.reduce((n, p) => n + p.byteLength, 0);
  res.writeHeader('Content-Length', String(size));
  res.endWithoutBody();
}

/** Copy everything needed from a uWS request synchronously (it is invalid after the handler returns). */
export function copyRequest(res: HttpResponse, req: HttpRequest, paramNames: readonly string[] = []): Request {
  // Null-prototype records: header names are the client's (a header named `__proto__` or `constructor` must
  // be an ordinary entry, and an absent header must read undefined, never an Object.prototype member).
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  req.forEach((k, v) => { headers[k] = v; });
  const params: Record<string, string> = Object.create(null) as Record<string, string>;
  paramNames.forEach((name, i) => { params[name] = safeDecode(req.getParameter(i) ?? ''); });
  const rawQuery = req.getQuery() ?? '';
  return {
    method: req.getCaseSensitiveMethod ? req.getCaseSensitiveMethod() : req.getMethod().toUpperCase(),
    path: req.getUrl(),
    rawQuery,
    query: new URLSearchParams(rawQuery),
    headers,
    params,
    ip: Buffer.from(res.getRemoteAddressAsText()).toString(),
    body: undefined,
  };
}

function safeDecode(s: string): string {
  try { return decodeURIComponent(s); } catch { return s; }
}

/**
 * Read the body with a hard byte limit. A Content-Length over the limit is refused before any byte is read;
 * a chunked body that grows past it is refused as soon as it does (the rest is not buffered).
 * @throws HttpError 413 too_large, 415 unsupported_media_type, 400 bad_request (invalid JSON or UTF-8).
 */
function readBody(res: HttpResponse, req: Request, options: RouteOptions, state: { aborted: boolean }): Promise<unknown> {
  const limit = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
  const declared = Number(req.headers['content-length'] ?? '0');
  if (options.body === 'json') {
    const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/json' && !type.endsWith('+json')) {
      return Promise.reject(new HttpError('unsupported_media_type', 'Content-Type must be application/json'));
    }
  }
  if (declared > limit) return Promise.reject(new HttpError('too_large', `body over ${limit} bytes`, { Connection: 'close' }));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    res.onData((ab, isLast) => {
      if (done || state.aborted) return;
      size += ab.byteLength;
      if (size > limit) {
        done = true;
        reject(new HttpError('too_large', `body over ${limit} bytes`, { Connection: 'close' }));
        return;
      }
      chunks.push(Buffer.from(ab.slice(0)));
      if (!isLast) return;
      done = true;
      const text = chunks.length === 1 ? chunks[0]!.toString('utf8') : Buffer.concat(chunks, size).toString('utf8');
      if (options.body === 'text') { resolve(text); return; }
      if (text.length === 0) { reject(new HttpError('bad_request', 'a JSON body is required')); return; }
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new HttpError('bad_request', 'body is not valid JSON'));
      }
    });
  });
}
