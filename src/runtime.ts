/**
 * Where meetcore's own files and native addons come from. Two ways to run:
 * - from a checkout (`npm start`, `npx meetcore`): files are read next to the sources, addons are loaded
 *   from build/ (meetcore's audio addon) and node_modules (uWebSockets.js, better-sqlite3);
 * - as the single executable `dist/meetcore` (a Node SEA built by scripts/build-binary.ts): the same files and
 *   the three `.node` addons are assets inside the binary. The addons are written once to
 *   `<DATA_DIR>/native/<hash>/` (folder mode 0700, files 0500; `<hash>` = the first 16 hex digits of the
 *   sha256 over the manifest of their sha256s). DATA_DIR, `native/` and `<hash>/` must be private to the
 *   running user (setNativeDir; the start is refused otherwise). At every start each addon is opened once,
 *   checked by sha256 from that descriptor (a missing or altered file is written again, through a new
 *   temporary file and a rename) and that very file is loaded with `process.dlopen` on `/proc/self/fd/N`.
 *   Nothing is read from node_modules and nothing is fetched.
 *
 * The asset names and the manifest (`meta.json`: version, Node ABI, and each addon's file name and sha256)
 * are written by scripts/build-binary.ts and read here; NATIVE_ADDONS is the one list both use.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import sea from 'node:sea';
import { fileURLToPath } from 'node:url';
import { checkPrivateDir } from './config.js';

/** The native addons meetcore loads, by the name the binary's manifest and assets use. */
export const NATIVE_ADDONS = ['meetcore_audio', 'uws', 'better_sqlite3'] as const;
export type NativeAddonName = (typeof NATIVE_ADDONS)[number];

/** Text files the server reads at start-up, by asset name (relative to src/ in a checkout): the call page and the host console. */
export const TEXT_ASSETS = ['web/index.html', 'web/app.js', 'web/host.html', 'web/host.js'] as const;
export type TextAssetName = (typeof TEXT_ASSETS)[number];

/**
 * The speech fixtures `meetcore bench` streams (mono PCM s16le 48 kHz and their annotations), by asset name
 * → path in a checkout.
 */
export const FIXTURE_ASSETS = {
  'fixtures/en-male.s16': 'test/fixtures/en-male.s16', 'fixtures/en-male.json': 'test/fixtures/en-male.json',
  'fixtures/en-female.s16': 'test/fixtures/en-female.s16', 'fixtures/en-female.json': 'test/fixtures/en-female.json',
  'fixtures/pt-br.s16': 'test/fixtures/pt-br.s16', 'fixtures/pt-br.json': 'test/fixtures/pt-br.json',
} as const;
export type FixtureAssetName = keyof typeof FIXTURE_ASSETS;

/** The binary's manifest (asset `meta.json`). */
export interface BinaryMeta {
  version: string;
  /** process.versions.modules of the Node that built it (the ABI of the embedded addons). */
  nodeAbi: string;
  /** Addon name → its file name inside the extraction folder and the sha256 (hex) of its bytes. */
  natives: Record<NativeAddonName, { file: string; sha256: string }>;
}

/** True inside the single executable. */
export const inBinary: boolean = sea.isSea();

/** The checkout's root (…/meetcore), for the checkout way of running only. */
function checkoutRoot(): string {
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
}

let meta: BinaryMeta | null = null;
function binaryMeta(): BinaryMeta {
  meta ??= JSON.parse(sea.getAsset('meta.json', 'utf8')) as BinaryMeta;
  return meta;
}

/** meetcore's version (package.json). */
export function version(): string {
  if (inBinary) return binaryMeta().version;
  return (JSON.parse(fs.readFileSync(path.join(checkoutRoot(), 'package.json'), 'utf8')) as { version: string }).version;
}

/** A text file of the server (TEXT_ASSETS: the call page's and the host console's files). @throws Error when it is missing. */
export function readTextAsset(name: TextAssetName): string {
  if (inBinary) return sea.getAsset(name, 'utf8');
  return fs.readFileSync(path.join(checkoutRoot(), 'src', name), 'utf8');
}

/** A speech fixture's bytes. @throws Error when it is missing. */
export function readFixtureAsset(name: FixtureAssetName): Buffer {
  if (inBinary) return Buffer.from(sea.getRawAsset(name) as ArrayBuffer);
  return fs.readFileSync(path.join(checkoutRoot(), FIXTURE_ASSETS[name]));
}

/**
 * Asset name of the render worker (src/meetings/render-worker.ts bundled by scripts/build-binary.ts into one
 * CommonJS script, run with `new Worker(code, { eval: true })`: a SEA has no file to point a worker at).
 */
export const RENDER_WORKER_ASSET = 'workers/render-worker.cjs';

/** The render worker's bundled code. Only inside the binary (a checkout loads the TypeScript entry). @throws Error outside it. */
export function readWorkerAsset(): string {
  if (!inBinary) throw new Error(`${RENDER_WORKER_ASSET} exists only inside the binary`);
  return sea.getAsset(RENDER_WORKER_ASSET, 'utf8');
}

/**
 * The command that runs this same meetcore again (for `meetcore bench`'s worker processes and local server):
 * the binary itself, or node on bin/meetcore.js (which loads the TypeScript sources through tsx) in a checkout.
 */
export function selfCommand(): string[] {
  if (inBinary) return [process.execPath];
  return [process.execPath, path.join(checkoutRoot(), 'bin/meetcore.js')];
}

let nativeDir: string | null = null;
const loaded = new Map<NativeAddonName, unknown>();

/**
 * Where the binary keeps its addons: `<dataDir>/native/<hash>/`. Called by main once the configuration is
 * read (DATA_DIR, already checked private by loadConfig, is the one folder meetcore may write that is private
 * to it). In the binary both folders are created 0700 when missing and must be private to the running user
 * (real folders, not symbolic links, owned by this uid, not writable by group or others: src/files.ts
 * ensurePrivateDir); no effect in a checkout.
 * @throws ConfigError naming DATA_DIR when `native/` or `native/<hash>/` is not private or cannot be created.
 */
export function setNativeDir(dataDir: string): void {
  if (!inBinary) return;
  const m = binaryMeta();
  const manifest = NATIVE_ADDONS.map((n) => `${n} ${m.natives[n].file} ${m.natives[n].sha256}`).join('\n');
  const root = path.join(dataDir, 'native');
  const dir = path.join(root, createHash('sha256').update(manifest).digest('hex').slice(0, 16));
  checkPrivateDir('DATA_DIR', root);
  checkPrivateDir('DATA_DIR', dir);
  nativeDir = dir;
  extraction.dir = dir;
}

/** What the extraction did, for the start-up log: files written and files found intact. */
export const extraction = { dir: '', written: [] as string[], reused: [] as string[] };

/** Audio addon files a checkout may have built (node-gyp's build/ first, then cmake-js's). */
const AUDIO_ADDON_CANDIDATES = ['build/Release/meetcore_audio.node', 'build-cmake/Release/meetcore_audio.node', 'build-cmake/meetcore_audio.node'];

/**
 * Load one native addon (once; later calls return the same exports).
 * In a checkout: better_sqlite3 returns undefined (better-sqlite3 then loads its own build), uws requires
 * the uWebSockets.js package, meetcore_audio the first built file of AUDIO_ADDON_CANDIDATES.
 * @throws Error when the audio addon is not built (checkout), when setNativeDir was not called or the folder
 *   cannot be written (binary), or when the addon does not load (wrong platform or ABI).
 */
export function loadNative(name: NativeAddonName): unknown {
  if (loaded.has(name)) return loaded.get(name);
  const exports = inBinary ? loadFromBinary(name) : loadFromCheckout(name);
  loaded.set(name, exports);
  return exports;
}

function loadFromCheckout(name: NativeAddonName): unknown {
  const require = createRequire(import.meta.url);
  if (name === 'uws') return require('uWebSockets.js');
  if (name === 'better_sqlite3') return undefined;
  const root = checkoutRoot();
  for (const rel of AUDIO_ADDON_CANDIDATES) {
    const file = path.join(root, rel);
    if (fs.existsSync(file)) return require(file);
  }
  throw new Error(`meetcore audio addon not built (tried ${AUDIO_ADDON_CANDIDATES.join(', ')}): run \`npm run install\` or \`npm run build:native\``);
}

/**
 * The binary's way: at the first load every addon file is opened once (O_NOFOLLOW) and hashed from that
 * descriptor (openAddons); each addon is then loaded from its own descriptor through `/proc/self/fd/N`
 * (Linux), so the file checked is the file loaded and nothing can be swapped in between. The descriptors stay
 * open for the life of the process: a worker thread loads an addon by the same `/proc/self/fd/N` path
 * (nativeFile), and glibc's dlopen, which returns an already loaded library when the path string matches, can
 * never meet a descriptor number reused for another file.
 */
function loadFromBinary(name: NativeAddonName): unknown {
  const module = { exports: {} as unknown };
  process.dlopen(module, addonPath(name));
  return module.exports;
}

/** `/proc/self/fd/N` of the checked, open file of an addon (binary only). */
function addonPath(name: NativeAddonName): string {
  const fd = openAddons().get(name);
  if (fd === undefined) throw new Error(`native addon ${name} is not in the binary's manifest`);
  return `/proc/self/fd/${fd}`;
}

/**
 * The file of an addon for a worker thread to load itself (better-sqlite3's `nativeBinding`): in the binary the
 * checked, open file (`/proc/self/fd/N`, the path the main thread loaded it by); undefined in a checkout (the
 * package finds its own).
 * @throws Error as loadNative does in the binary.
 */
export function nativeFile(name: NativeAddonName): string | undefined {
  return inBinary ? addonPath(name) : undefined;
}

let openFds: Map<NativeAddonName, number> | null = null;

/**
 * Open and check every addon of the manifest in `<nativeDir>/` once: a file that is the manifest's (a regular
 * file of this uid, not writable by group or others, right sha256 read from the descriptor) is kept open; a
 * missing or altered one is written again from the binary (a new file, O_EXCL, mode 0500, renamed over the
 * old one), then opened and hashed again.
 * @returns addon name → open read-only descriptor (kept open for the life of the process).
 * @throws Error on an ABI mismatch, before setNativeDir, or when a file written does not hash right.
 */
function openAddons(): Map<NativeAddonName, number> {
  if (openFds) return openFds;
  const m = binaryMeta();
  if (m.nodeAbi !== process.versions.modules) throw new Error(`binary built for Node ABI ${m.nodeAbi}, running ${process.versions.modules}`);
  if (!nativeDir) throw new Error('setNativeDir() must run before a native addon is loaded');
  const fds = new Map<NativeAddonName, number>();
  for (const name of NATIVE_ADDONS) {
    const { file, sha256 } = m.natives[name];
    const target = path.join(nativeDir, file);
    let fd = openIfIntact(target, sha256);
    if (fd === null) {
      writeAddon(target, file, sha256);
      fd = openIfIntact(target, sha256);
      if (fd === null) throw new Error(`${target} does not match the binary's sha256 right after it was written`);
      extraction.written.push(file);
    } else {
      extraction.reused.push(file);
    }
    fds.set(name, fd);
  }
  openFds = fds;
  return fds;
}

/** A read-only descriptor of `file` when it is the addon the manifest names (see loadFromBinary), else null (closed). */
function openIfIntact(file: string, sha256: string): number | null {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ELOOP') return null; // missing, or a symbolic link: written again
    throw err;
  }
  const st = fs.fstatSync(fd);
  if (st.isFile() && st.uid === process.getuid!() && (st.mode & 0o022) === 0 && sha256OfFd(fd) === sha256) return fd;
  fs.closeSync(fd);
  return null;
}

function sha256OfFd(fd: number): string {
  const hash = createHash('sha256');
  const buf = Buffer.allocUnsafe(1 << 20);
  for (let pos = 0; ;) {
    const n = fs.readSync(fd, buf, 0, buf.length, pos);
    if (n === 0) return hash.digest('hex');
    hash.update(buf.subarray(0, n));
    pos += n;
  }
}

/** Write the embedded addon `file` to `target` through a new temporary file and a rename. */
function writeAddon(target: string, file: string, sha256: string): void {
  const bytes = Buffer.from(sea.getRawAsset(`native/${file}`) as ArrayBuffer);
  const actual = createHash('sha256').update(bytes).digest('hex');
  if (actual !== sha256) throw new Error(`embedded addon ${file} is corrupt (sha256 ${actual}, manifest ${sha256})`);
  const tmp = `${target}.${process.pid}.tmp`;
  fs.rmSync(tmp, { force: true }); // left by a start that died with this pid
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o500);
  try {
    for (let off = 0; off < bytes.length;) off += fs.writeSync(fd, bytes, off, bytes.length - off);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, target);
}
