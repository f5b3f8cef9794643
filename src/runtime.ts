/**
 * Where meetcore's own files and native addons come from. Two ways to run:
 * - from a checkout (`npm start`, `npx meetcore`): files are read next to the sources, addons are loaded
 *   from build/ (meetcore's audio addon) and node_modules (uWebSockets.js, better-sqlite3);
 * - as the single executable `dist/meetcore` (a Node SEA built by scripts/build-binary.ts): the same files and
 *   the three `.node` addons are assets inside the binary. The addons are written once to
 *   `<DATA_DIR>/native/<hash>/` (folder mode 0700, files 0500; `<hash>` = the first 16 hex digits of the
 *   sha256 over the manifest of their sha256s), checked by sha256 at every start (a missing or altered file
 *   is written again, through a temporary file and a rename) and loaded with `process.dlopen`. Nothing is
 *   read from node_modules and nothing is fetched.
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
 * Where the binary extracts its addons: `<dataDir>/native`. Called by main once the configuration is read
 * (DATA_DIR is the one folder meetcore may write that is private to it); no effect in a checkout.
 */
export function setNativeDir(dataDir: string): void {
  nativeDir = path.join(dataDir, 'native');
}

/** What the last extraction did, for the start-up log: files written and files found intact. */
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

function loadFromBinary(name: NativeAddonName): unknown {
  const m = binaryMeta();
  if (m.nodeAbi !== process.versions.modules) throw new Error(`binary built for Node ABI ${m.nodeAbi}, running ${process.versions.modules}`);
  const file = extractNatives(m)[name];
  const module = { exports: {} as unknown };
  process.dlopen(module, file);
  return module.exports;
}

/**
 * The file of an addon for a worker thread to load itself (better-sqlite3's `nativeBinding`): the extracted
 * file inside the binary, undefined in a checkout (the package finds its own).
 */
export function nativeFile(name: NativeAddonName): string | undefined {
  return inBinary ? extractNatives(binaryMeta())[name] : undefined;
}

let extracted: Record<NativeAddonName, string> | null = null;

/** Write (or check) every addon once into `<nativeDir>/<hash>/`; returns name → absolute file. */
function extractNatives(m: BinaryMeta): Record<NativeAddonName, string> {
  if (extracted) return extracted;
  if (!nativeDir) throw new Error('setNativeDir() must run before a native addon is loaded');
  const manifest = NATIVE_ADDONS.map((n) => `${n} ${m.natives[n].file} ${m.natives[n].sha256}`).join('\n');
  const dir = path.join(nativeDir, createHash('sha256').update(manifest).digest('hex').slice(0, 16));
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.chmodSync(dir, 0o700);
  extraction.dir = dir;
  const files = {} as Record<NativeAddonName, string>;
  for (const name of NATIVE_ADDONS) {
    const { file, sha256 } = m.natives[name];
    const target = path.join(dir, file);
    if (sha256Of(target) === sha256) {
      extraction.reused.push(file);
    } else {
      const bytes = Buffer.from(sea.getRawAsset(`native/${file}`) as ArrayBuffer);
      const actual = createHash('sha256').update(bytes).digest('hex');
      if (actual !== sha256) throw new Error(`embedded addon ${file} is corrupt (sha256 ${actual}, manifest ${sha256})`);
      const tmp = `${target}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, bytes, { mode: 0o500 });
      fs.renameSync(tmp, target);
      extraction.written.push(file);
    }
    files[name] = target;
  }
  extracted = files;
  return files;
}

function sha256Of(file: string): string | null {
  try {
    return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  } catch {
    return null;
  }
}
