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

/** A folder that must be private to meetcore is not: a symbolic link, not a folder, someone else's, or writable by others. */
export class NotPrivateError extends Error {
  constructor(readonly dir: string, readonly why: string) {
    super(`${dir} ${why}`);
    this.name = 'NotPrivateError';
  }
}

/**
 * Make sure `dir` is a folder private to the running user, creating it (mode 0700; missing parents with the
 * default mode) when it does not exist. The check is an lstat of `dir` itself (a symbolic link is refused,
 * never followed): it must be a folder, owned by the running user's uid (`process.getuid()`, root included),
 * and not writable by group or others (mode bits 0o022). A folder that passes keeps its mode (0755 is
 * accepted); nothing is chmod-ed except a folder created here.
 * Why: whoever can write a folder can replace what meetcore reads from it (the SQLite database, the stored
 * secrets, the native addons of the single executable).
 * @returns true when `dir` was created here.
 * @throws NotPrivateError `"<dir> is a symbolic link (to <target>); give the real folder"`,
 *   `"<dir> is owned by uid 65534, not by the running user (uid 0)"`,
 *   `"<dir> is writable by group or others (mode 0775); chmod go-w it"`, `"<dir> is not a folder"`;
 *   the fs error (ErrnoException) when it cannot be created or read.
 */
export function ensurePrivateDir(dir: string): boolean {
  let created = false;
  if (lstatOrNull(dir) === null) {
    makeDirs(path.dirname(dir));
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
      fs.chmodSync(dir, 0o700); // the umask may have taken bits away; nobody else can have replaced it yet
      created = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  const st = fs.lstatSync(dir);
  if (st.isSymbolicLink()) throw new NotPrivateError(dir, `is a symbolic link (to ${fs.readlinkSync(dir)}); give the real folder`);
  if (!st.isDirectory()) throw new NotPrivateError(dir, 'is not a folder');
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) throw new NotPrivateError(dir, `is owned by uid ${st.uid}, not by the running user (uid ${uid})`);
  if ((st.mode & 0o022) !== 0) throw new NotPrivateError(dir, `is writable by group or others (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}); chmod go-w it`);
  return created;
}

function lstatOrNull(p: string): fs.Stats | null {
  try {
    return fs.lstatSync(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}
