/**
 * What a test file needs from the machine. Call at the top of the file, at the start of a line, before any test:
 *
 *   requireTools(['ffmpeg', 'ffprobe'], 'apt-get install -y --no-install-recommends ffmpeg');
 *
 * scripts/test.mjs reads these calls from the file's text before running it: when a tool is missing it
 * installs the Debian packages named in the command (root or password-less sudo, unless
 * MEETCORE_TEST_INSTALL=0) or skips the file with a line giving the command. The call itself is the safety
 * net when the file is run some other way: a missing tool ends the process with exit code 77 (SKIP_EXIT_CODE)
 * and a message naming the tools and the command, so the file never passes without having run.
 * With `'fail'` as third argument a missing tool is a failure instead of a skip (the runner still installs
 * it when it may): for checks that must never be left out, e.g. promtool in test/metrics.
 * Keep the arguments literal (an array of strings and strings): the runner parses them without running
 * the file.
 */
import fs from 'node:fs';
import path from 'node:path';

/** Exit code of a test file that did not run because a tool is missing (scripts/test.mjs counts it skipped). */
export const SKIP_EXIT_CODE = 77;

/** True when `tool` is an executable file in one of PATH's folders. */
export function onPath(tool: string, envPath = process.env.PATH ?? ''): boolean {
  return envPath.split(path.delimiter).filter(Boolean).some((dir) => {
    try { fs.accessSync(path.join(dir, tool), fs.constants.X_OK); return true; } catch { return false; }
  });
}

/**
 * @param tools executables that must be on PATH.
 * @param install the command that installs them (Debian), shown to the user and used by the runner.
 * @param onMissing 'skip' (default): exit 77, the runner counts the file skipped; 'fail': throw, the file fails.
 * @throws Error naming the missing tools and the install command, with onMissing 'fail'.
 */
export function requireTools(tools: readonly string[], install: string, onMissing: 'skip' | 'fail' = 'skip'): void {
  const missing = tools.filter((t) => !onPath(t));
  if (!missing.length) return;
  if (onMissing === 'fail') throw new Error(`missing ${missing.join(', ')}; install with: ${install}`);
  process.stderr.write(`SKIP: missing ${missing.join(', ')}; install with: ${install}\n`);
  process.exit(SKIP_EXIT_CODE);
}
