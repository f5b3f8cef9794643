/**
 * Small tmpfs mounts for the disk tests (full disk, read-only folder). Mounting needs root (or CAP_SYS_ADMIN);
 * CI runs the tests as root. Without it `mountTmpfs` throws, so those tests fail with a message saying so
 * instead of passing without having checked anything.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

/**
 * Mount a fresh tmpfs on `dir` (created when missing).
 * @param options mount options, e.g. `size=256k` or `size=1m,ro`.
 * @throws Error naming the mount command and its error when mounting is not permitted.
 */
export function mountTmpfs(dir: string, options: string): void {
  fs.mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const why = ((err as { stderr?: Buffer }).stderr?.toString() ?? '').trim() || (err as Error).message;
    throw new Error(`cannot mount a tmpfs on ${dir} (mount -t tmpfs -o ${options}: ${why}); this test needs root or CAP_SYS_ADMIN (CI runs as root)`);
  }
}

/** Unmount `dir` (lazily, so a file still open elsewhere cannot keep it); never throws. */
export function unmount(dir: string): void {
  try { execFileSync('umount', ['-l', dir], { stdio: 'ignore' }); } catch { /* not mounted */ }
}

/**
 * Fill the file system of `dir` with `<dir>/<name>` until a write fails with ENOSPC, then give back
 * `leaveBytes` (rounded to whole pages by the file system) by shortening that file.
 * @returns the bytes the file system reports available afterwards.
 */
export function fillDisk(dir: string, leaveBytes: number, name = 'filler.bin'): number {
  const file = `${dir}/${name}`;
  fs.rmSync(file, { force: true });
  const fd = fs.openSync(file, 'w');
  const chunk = Buffer.alloc(4096, 0x5a);
  let size = 0;
  try {
    for (;;) {
      const n = fs.writeSync(fd, chunk);
      size += n;
      if (n < chunk.length) break;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
  }
  fs.ftruncateSync(fd, Math.max(0, size - leaveBytes));
  fs.closeSync(fd);
  const st = fs.statfsSync(dir);
  return st.bavail * st.bsize;
}
