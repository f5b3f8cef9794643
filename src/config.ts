/**
 * Typed, frozen configuration read from the environment (and a `.env` file in the working directory),
 * with the defaults of PROTOCOL.md §8. A bad value throws a ConfigError naming the variable.
 * Secrets left unset are generated once and kept in `DATA_DIR/secrets.json` (mode 0600) so that tokens
 * and signed URLs survive restarts. DATA_DIR must be private to the running user (checkPrivateDir: created 0700,
 * refused when it is a symbolic link, someone else's or writable by group or others). `checkWritableDirs` (run by `meetcore serve` before anything starts) makes
 * sure DATA_DIR and STORAGE_DIR can really be written.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { NotPrivateError, ensurePrivateDir, errnoText, makeDirs } from './files.js';

export class ConfigError extends Error {
  constructor(readonly variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const num = (min: number, max: number) => z.coerce.number().min(min).max(max);
const url = z.string().url();
const list = z.string().transform((s) => s.split(',').map((x) => x.trim()).filter(Boolean));
const roles = list.pipe(z.array(z.enum(['owner', 'admin', 'member'], { message: 'expected a comma-separated list of owner, admin, member' })).min(1, 'expected at least one role'));
const jsonStrings = z.string().transform((s, ctx) => {
  try {
    const v: unknown = JSON.parse(s);
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  } catch { /* reported below */ }
  ctx.addIssue({ code: 'custom', message: 'expected a JSON array of strings' });
  return z.NEVER;
});

/** One entry per variable: schema of the raw string and default (undefined = unset/feature off). */
const spec = {
  HOST: [z.string().min(1), '0.0.0.0'],
  PORT: [int(0, 65535), '3001'],
  PUBLIC_URL: [url, undefined],
  APP_DOMAIN: [url, undefined],
  CORS_ORIGINS: [list, ''],
  DATA_DIR: [z.string().min(1), './data'],
  STORAGE_DIR: [z.string().min(1), './storage'],
  REQUIRE_AUTH: [bool, 'false'],
  JWT_ACCESS_SECRET: [z.string().min(16), undefined],
  JWT_REFRESH_SECRET: [z.string().min(16), undefined],
  JWT_ACCESS_TTL: [int(10, 86400 * 7), '900'],
  JWT_REFRESH_TTL: [int(60, 86400 * 365), '2592000'],
  /** Who may POST /auth/register: `first` (only while the server has no account), `open` (anyone), `closed` (nobody). */
  REGISTRATION: [z.enum(['first', 'open', 'closed']), 'first'],
  /** Lifetime of an invitation token (POST /api/org/invitations), hours (0.0001 = 0.36 s .. 8760 = one year). */
  INVITATION_TTL_HOURS: [num(0.0001, 8760), '72'],
  /** The organization whose UNSCOPED_MEETINGS_ROLES read, write and host meetings of no organization: `first`, `none` or an organization id. */
  UNSCOPED_MEETINGS_ORG: [z.union([z.enum(['first', 'none']), z.string().regex(/^org_[A-Za-z0-9_-]{16}$/, 'expected first, none or an organization id (org_ + 16 characters)')]), 'first'],
  /** Roles of UNSCOPED_MEETINGS_ORG that read and write meetings of no organization (hosting also needs owner or admin). */
  UNSCOPED_MEETINGS_ROLES: [roles, 'owner,admin'],
  EGRESS_SECRET: [z.string().min(16), undefined],
  EGRESS_ALLOW_UNSIGNED: [bool, 'false'],
  SEGMENT_FILES: [bool, 'false'],
  EGRESS_SESSION_IDLE_SEC: [num(1, 86400 * 30), '600'],
  STUN_SERVERS: [jsonStrings, '["stun:stun.l.google.com:19302"]'],
  TURN_URLS: [list, ''],
  TURN_SECRET: [z.string().min(1), undefined],
  TURN_TTL: [int(60, 86400 * 7), '86400'],
  LIVEKIT_URL: [url, undefined],
  LIVEKIT_API_KEY: [z.string().min(1), undefined],
  LIVEKIT_API_SECRET: [z.string().min(1), undefined],
  LIVEKIT_TOKEN_TTL: [int(60, 86400), '21600'],
  AUTO_EGRESS: [bool, undefined],
  HUME_API_KEY: [z.string().min(1), undefined],
  HUME_STREAM_URL: [url, 'wss://api.hume.ai/v0/stream/models'],
  HUME_MAX_IN_FLIGHT: [int(1, 16), '3'],
  HUME_MAX_CONFIG_ERRORS: [int(1, 100), '5'],
  HUME_REPLY_TIMEOUT_SEC: [num(1, 600), '30'],
  FEEDBACK_LOCALE: [z.enum(['en', 'pt-BR']), 'en'],
  FEEDBACK_TTL_DAYS: [num(0.0001, 3650), '14'],
  FEEDBACK_VOLUME_LOW_DBFS: [num(-120, 0), '-38'],
  FEEDBACK_VOLUME_HIGH_DBFS: [num(-120, 0), '-8'],
  FEEDBACK_SILENCE_SEC: [num(1, 3600), '30'],
  FEEDBACK_OVERLAP_MS: [int(100, 10000), '500'],
  FEEDBACK_MONOLOGUE_SEC: [num(1, 7200), '90'],
  FEEDBACK_COOLDOWN_SEC: [num(0, 3600), '15'],
  /** Timeline pictures (`GET /api/sessions/:id/timeline.svg`, 304s included) per principal per minute, requests; over it 429 with Retry-After. */
  TIMELINE_RATE_PER_MIN: [int(1, 100_000), '60'],
  AUDIO_THREADS: [int(1, 16), String(Math.min(4, os.availableParallelism()))],
  /** Bound on one audio stream's queued input (received, not yet written and analysed), ms of audio; past it the socket is closed with 4008 and the recording row lists the gap. */
  AUDIO_STREAM_QUEUE_MS: [int(100, 3_600_000), '60000'],
  /** Bound on the queued input of all audio streams together, MiB (16 KiB blocks); past it the stream that needed a block is closed with 4008. */
  AUDIO_QUEUE_MAX_MB: [int(1, 1_048_576), '256'],
  METRICS_LOCAL_ONLY: [bool, 'false'],
  /** A bearer token GET /metrics requires (`Authorization: Bearer …`), ≥ 16 characters; unset: none. */
  METRICS_TOKEN: [z.string().min(16), undefined],
  ROOM_MAX_PARTICIPANTS: [int(2, 1000), '50'],
  WS_MAX_MESSAGE_BYTES: [int(1024, 16 * 1024 * 1024), '65536'],
  WS_RATE_PER_SEC: [num(1, 100000), '50'],
  WS_RATE_BURST: [int(1, 100000), '200'],
  WS_MAX_BACKPRESSURE_BYTES: [int(16 * 1024, 1024 * 1024 * 1024), '1048576'],
  WS_IDLE_TIMEOUT_SEC: [int(8, 3600), '60'],
  /** Live Socket.IO (engine.io) sessions per client address (an IPv6 /64 counts as one), sessions; over it a handshake gets 429. */
  SIO_MAX_SESSIONS_PER_IP: [int(1, 1_000_000), '50'],
  /** Live Socket.IO (engine.io) sessions in all, sessions; over it a handshake gets 429. */
  SIO_MAX_SESSIONS: [int(1, 10_000_000), '10000'],
  CALL_RING_TIMEOUT_SEC: [num(0.1, 600), '30'],
  CHAT_HISTORY: [int(0, 10000), '100'],
  WS_MAX_ROOMS_PER_SOCKET: [int(1, 1000), '10'],
  LOG_LEVEL: [z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']), 'info'],
} as const satisfies Record<string, readonly [z.ZodType, string | undefined]>;

type Spec = typeof spec;

/** Every variable meetcore reads, in the order of the table above (deploy/meetcore.env lists each one). */
export const CONFIG_VARIABLES = Object.keys(spec) as (keyof Spec)[];
type Raw = { [K in keyof Spec]: Spec[K][1] extends string ? z.output<Spec[K][0]> : z.output<Spec[K][0]> | undefined };

export interface Config extends Readonly<Omit<Raw, 'PUBLIC_URL' | 'APP_DOMAIN' | 'JWT_ACCESS_SECRET' | 'JWT_REFRESH_SECRET' | 'EGRESS_SECRET' | 'AUTO_EGRESS'>> {
  readonly PUBLIC_URL: string;
  readonly APP_DOMAIN: string;
  readonly JWT_ACCESS_SECRET: string;
  readonly JWT_REFRESH_SECRET: string;
  readonly EGRESS_SECRET: string;
  readonly AUTO_EGRESS: boolean;
  /** True when LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET are all set. */
  readonly livekitEnabled: boolean;
  /** True when TURN_URLS and TURN_SECRET are both set. */
  readonly turnEnabled: boolean;
  /** Secrets that were generated and stored in DATA_DIR (for the start-up log). */
  readonly generatedSecrets: readonly string[];
}

const GENERATED = ['JWT_ACCESS_SECRET', 'JWT_REFRESH_SECRET', 'EGRESS_SECRET'] as const;

/**
 * Build the configuration.
 * @param env variables to read (default process.env); a `.env` file in `cwd` fills variables `env` lacks
 *   (only when `env` is process.env).
 * @throws ConfigError naming the first variable with a bad value, or DATA_DIR when it cannot be created, is
 *   not private to the running user (checkPrivateDir) or the generated secrets cannot be stored in it.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env, cwd = process.cwd()): Config {
  if (env === process.env) {
    const dotenv = path.join(cwd, '.env');
    if (fs.existsSync(dotenv)) process.loadEnvFile(dotenv);
  }
  const raw: Record<string, unknown> = {};
  for (const [name, [schema, def]] of Object.entries(spec) as [string, readonly [z.ZodType, string | undefined]][]) {
    const value = env[name] !== undefined && env[name] !== '' ? env[name] : def;
    if (value === undefined) { raw[name] = undefined; continue; }
    const parsed = schema.safeParse(value);
    if (!parsed.success) throw new ConfigError(name, `invalid value ${JSON.stringify(value)}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    raw[name] = parsed.data;
  }
  const r = raw as Raw;
  const dataDir = path.resolve(cwd, r.DATA_DIR);
  const storageDir = path.resolve(cwd, r.STORAGE_DIR);
  const generated: string[] = [];
  const secrets = loadSecrets(dataDir);
  for (const name of GENERATED) {
    if (r[name] === undefined) {
      if (!secrets[name]) { secrets[name] = randomBytes(32).toString('base64url'); secrets.changed = 'yes'; }
      (raw as Record<string, unknown>)[name] = secrets[name];
      generated.push(name);
    }
  }
  if (secrets.changed) { delete secrets.changed; saveSecrets(dataDir, secrets); }
  const publicUrl = (r.PUBLIC_URL ?? `http://localhost:${r.PORT}`).replace(/\/+$/, '');
  const livekitEnabled = Boolean(r.LIVEKIT_URL && r.LIVEKIT_API_KEY && r.LIVEKIT_API_SECRET);
  return Object.freeze({
    ...(raw as Raw),
    DATA_DIR: dataDir,
    STORAGE_DIR: storageDir,
    PUBLIC_URL: publicUrl,
    APP_DOMAIN: (r.APP_DOMAIN ?? publicUrl).replace(/\/+$/, ''),
    AUTO_EGRESS: r.AUTO_EGRESS ?? livekitEnabled,
    livekitEnabled,
    turnEnabled: r.TURN_URLS.length > 0 && Boolean(r.TURN_SECRET),
    generatedSecrets: Object.freeze(generated),
  }) as Config;
}

function loadSecrets(dataDir: string): Record<string, string> {
  checkPrivateDir('DATA_DIR', dataDir);
  const file = path.join(dataDir, 'secrets.json');
  if (!fs.existsSync(file)) return {};
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, string>;
  } catch (err) {
    throw new ConfigError('DATA_DIR', `${file} is not valid JSON (${(err as Error).message}); fix or delete it`);
  }
}

/**
 * Create `dir` (mode 0700) when missing and make sure it is private to the running user: a real folder (not a
 * symbolic link), owned by this uid, not writable by group or others (src/files.ts ensurePrivateDir). DATA_DIR
 * holds the SQLite database, the generated secrets and (single executable) the native addons, so this runs for
 * every command that reads the configuration, in a checkout as in the binary.
 * @param variable the variable that names `dir`, for the error.
 * @throws ConfigError `"DATA_DIR: /tmp/x is owned by uid 65534, not by the running user (uid 0)"`, `"… is
 *   writable by group or others (mode 0775); chmod go-w it"`, `"… is a symbolic link (to …); give the real
 *   folder"`, or `"… cannot be created (EACCES: permission denied)"`.
 */
export function checkPrivateDir(variable: string, dir: string): void {
  try {
    ensurePrivateDir(dir);
  } catch (err) {
    if (err instanceof NotPrivateError) throw new ConfigError(variable, err.message);
    throw new ConfigError(variable, `${dir} cannot be created (${errnoText(err)})`);
  }
}

function saveSecrets(dataDir: string, secrets: Record<string, string>): void {
  const file = path.join(dataDir, 'secrets.json');
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    fs.writeFileSync(tmp, JSON.stringify(secrets, null, 2), { mode: 0o600 });
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw new ConfigError('DATA_DIR', `${dataDir} is not writable (${errnoText(err)}): cannot store the generated secrets`);
  }
}

/**
 * Make sure `dir` can be written: create it (and its parents) when missing, then create and remove a probe
 * file (`.meetcore-write-probe-<pid>-<random>`) in it. Mode bits are not looked at (root ignores them): only a
 * real create catches a read-only mount, an ACL or a folder owned by someone else. A full disk is not an
 * error here (creating an empty file needs no data block); it is a per-recording error at run time.
 * @param variable the variable that names `dir`, for the error.
 * @throws ConfigError `"<variable>: <dir> is not writable (EROFS: read-only file system)"`, or
 *   `"<variable>: <dir> cannot be created (EACCES: permission denied)"`.
 */
export function checkWritableDir(variable: string, dir: string): void {
  try {
    makeDirs(dir);
  } catch (err) {
    throw new ConfigError(variable, `${dir} cannot be created (${errnoText(err)})`);
  }
  const probe = path.join(dir, `.meetcore-write-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    fs.closeSync(fs.openSync(probe, 'wx', 0o600));
    fs.unlinkSync(probe);
  } catch (err) {
    try { fs.rmSync(probe, { force: true }); } catch { /* the first error is the one reported */ }
    throw new ConfigError(variable, `${dir} is not writable (${errnoText(err)})`);
  }
}

/**
 * The start-up check of `meetcore serve`: DATA_DIR (SQLite, secrets) and STORAGE_DIR (recordings, segments,
 * pipeline logs) must be writable, so that a read-only or foreign folder stops the start instead of failing
 * every stream later. See checkWritableDir.
 * @throws ConfigError naming the first variable whose folder is not writable.
 */
export function checkWritableDirs(config: Pick<Config, 'DATA_DIR' | 'STORAGE_DIR'>): void {
  checkWritableDir('DATA_DIR', config.DATA_DIR);
  checkWritableDir('STORAGE_DIR', config.STORAGE_DIR);
}
