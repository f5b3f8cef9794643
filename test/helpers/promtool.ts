/** promtool (Debian package `prometheus`) for checks of the /metrics text and docs/alerts.yml. */
import { spawnSync } from 'node:child_process';

/**
 * Run `promtool check <what>` with `input` on stdin (or a file argument). Returns its exit status and output.
 * @throws Error naming the install command when promtool is not on PATH (a test must never pass without it).
 */
export function promtool(args: string[], input?: string): { status: number; output: string } {
  const r = spawnSync('promtool', args, { input, encoding: 'utf8' });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    throw new Error('promtool not found: apt-get install -y --no-install-recommends prometheus');
  }
  if (r.error) throw r.error;
  return { status: r.status ?? 1, output: `${r.stdout}${r.stderr}`.trim() };
}
