/**
 * Small file-system helpers whose errors name the real OS cause, for messages meant for an operator
 * (configuration errors, close reasons, recording rows).
 */
import fs from 'node:fs';
import path from 'node:path';

/**
 * `"EROFS: read-only file system"` for a Node fs error (its code and libuv text, without the syscall and the
 * path), else the error's message.
 */
export function errnoText(err: unknown): string {
  const e = err as Partial<NodeJS.ErrnoException> | null;
  if (e && typeof e.code === 'string' && typeof e.message === 'string') return e.message.split(', ')[0]!;
  return e && typeof e.message === 'string' ? e.message : String(err);
}

/**
 * `fs.mkdirSync(dir, { recursive: true })` whose failure carries the real cause: Node's recursive mkdir
 * reports some failures (EROFS on a read-only mount, for one) as ENOENT, so on failure the first missing level
 * is created alone to get the OS's own error, which is thrown instead.
 * @returns the first folder created, or undefined when `dir` already existed (as mkdirSync does).
 * @throws the fs error (ErrnoException).
 */
export function makeDirs(dir: string): string | undefined {
  try {
    return fs.mkdirSync(dir, { recursive: true });
  } catch (err) {
    let missing = path.resolve(dir);
    while (path.dirname(missing) !== missing && !fs.existsSync(path.dirname(missing))) missing = path.dirname(missing);
    try {
      fs.mkdirSync(missing);
    } catch (real) {
      if ((real as NodeJS.ErrnoException).code !== 'EEXIST') throw real;
    }
    throw err;
  }
}
