/**
 * `npm run build:release`: packs `dist/meetcore-<version>-linux-x64.tar.gz` with the single executable
 * (built by scripts/build-binary.ts when missing or older than the sources), turnserver.conf, the systemd unit,
 * the environment template and INSTALL (deploy/), all in one folder `meetcore-<version>-linux-x64/`.
 * Prints the archive's path, size and sha256. Exit 1 with the reason when a step fails.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { BINARY, binaryIsFresh, buildBinary } from './build-binary.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** What goes into the archive: name inside it → file in the checkout. */
export const RELEASE_FILES: Record<string, string> = {
  meetcore: BINARY,
  'turnserver.conf': path.join(ROOT, 'turnserver.conf'),
  'meetcore.service': path.join(ROOT, 'deploy/meetcore.service'),
  'meetcore.env': path.join(ROOT, 'deploy/meetcore.env'),
  INSTALL: path.join(ROOT, 'deploy/INSTALL'),
};

/** Build the archive; returns its path. @throws Error when the binary cannot be built or tar fails. */
export async function buildRelease(): Promise<string> {
  if (!binaryIsFresh()) {
    for (const line of await buildBinary({ smoke: false })) process.stdout.write(`${line}\n`);
  }
  const { version } = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const name = `meetcore-${version}-${process.platform}-${process.arch}`;
  const stage = path.join(ROOT, 'dist', '.release', name);
  fs.rmSync(path.dirname(stage), { recursive: true, force: true });
  fs.mkdirSync(stage, { recursive: true });
  for (const [inside, from] of Object.entries(RELEASE_FILES)) {
    fs.copyFileSync(from, path.join(stage, inside));
    fs.chmodSync(path.join(stage, inside), inside === 'meetcore' ? 0o755 : 0o644);
  }
  const archive = path.join(ROOT, 'dist', `${name}.tar.gz`);
  execFileSync('tar', ['-czf', archive, '--owner=0', '--group=0', '-C', path.dirname(stage), name]);
  fs.rmSync(path.dirname(stage), { recursive: true, force: true });
  return archive;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildRelease().then((archive) => {
    const bytes = fs.readFileSync(archive);
    process.stdout.write(`${path.relative(ROOT, archive)}: ${(bytes.length / 2 ** 20).toFixed(1)} MiB, sha256 ${createHash('sha256').update(bytes).digest('hex')}\n`);
  }).catch((err: unknown) => {
    process.stderr.write(`build:release: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
