/**
 * Password hashing with node:crypto scrypt (RFC 7914). A stored hash is self-describing:
 *
 *     scrypt$<N>$<r>$<p>$<salt base64url>$<key base64url>
 *
 * so the cost can be raised later without invalidating existing hashes (`needsRehash` tells when a hash was
 * made with other parameters). Defaults N=2^15, r=8, p=3 (32 MiB, one of the OWASP Password Storage Cheat
 * Sheet's scrypt settings equivalent to N=2^17, r=8, p=1), 16-byte random salt, 32-byte key. Comparison is
 * constant-time (timingSafeEqual).
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';

export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  N: number;
  /** Block size. */
  r: number;
  /** Parallelization. */
  p: number;
}

export const DEFAULT_SCRYPT: Readonly<ScryptParams> = Object.freeze({ N: 2 ** 15, r: 8, p: 3 });
const SALT_BYTES = 16;
const KEY_BYTES = 32;
/** Refuse stored parameters beyond these (a tampered row must not make us allocate gigabytes). */
const MAX_N = 2 ** 20;
const MAX_R = 32;
const MAX_P = 16;

function scrypt(password: string, salt: Buffer, keylen: number, params: ScryptParams): Promise<Buffer> {
  // scrypt needs 128 * N * r bytes; node's default maxmem (32 MiB) is just too small for N=2^15, r=8.
  const options: ScryptOptions = { N: params.N, r: params.r, p: params.p, maxmem: 256 * params.N * params.r };
  return new Promise((resolve, reject) => {
    scryptCb(password.normalize('NFC'), salt, keylen, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/**
 * Hash a password with a fresh random salt.
 * @param password any string (normalized to NFC before hashing).
 * @returns the self-describing `scrypt$N$r$p$salt$key` string to store.
 */
export async function hashPassword(password: string, params: ScryptParams = DEFAULT_SCRYPT): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await scrypt(password, salt, KEY_BYTES, params);
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64url'), key.toString('base64url')].join('$');
}

interface Parsed extends ScryptParams { salt: Buffer; key: Buffer }

function parseHash(stored: string): Parsed | null {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return null;
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (!Number.isInteger(N) || N < 2 || N > MAX_N || (N & (N - 1)) !== 0) return null;
  if (!Number.isInteger(r) || r < 1 || r > MAX_R || !Number.isInteger(p) || p < 1 || p > MAX_P) return null;
  const salt = Buffer.from(parts[4]!, 'base64url');
  const key = Buffer.from(parts[5]!, 'base64url');
  if (salt.length < 8 || key.length < 16) return null;
  return { N, r, p, salt, key };
}

/**
 * Check a password against a stored hash, in constant time with respect to the key bytes.
 * @returns false for a wrong password and for a malformed stored string (never throws for those).
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parsed = parseHash(stored);
  if (!parsed) return false;
  const key = await scrypt(password, parsed.salt, parsed.key.length, parsed);
  return timingSafeEqual(key, parsed.key);
}

/** True when `stored` was made with other parameters than `params` (re-hash it after a successful login). */
export function needsRehash(stored: string, params: ScryptParams = DEFAULT_SCRYPT): boolean {
  const parsed = parseHash(stored);
  return !parsed || parsed.N !== params.N || parsed.r !== params.r || parsed.p !== params.p || parsed.key.length !== KEY_BYTES;
}

let dummy: Promise<string> | null = null;

/**
 * A hash of a random password, made once per process with the default parameters. Verifying against it
 * costs the same as verifying a real user's password, so a login for an unknown e-mail takes as long as one
 * with a wrong password.
 */
export function dummyHash(): Promise<string> {
  dummy ??= hashPassword(randomBytes(18).toString('base64url'));
  return dummy;
}
