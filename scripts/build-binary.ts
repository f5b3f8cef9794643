/**
 * `npm run build:binary`: builds `dist/meetcore`, a Node single executable application (node:sea) that runs
 * meetcore with no Node, npm or node_modules on the machine. Offline, after `npm install`:
 *   1. esbuild bundles src/main.ts and everything it imports into one CommonJS script (SEA runs CommonJS);
 *   2. the render worker (src/meetings/render-worker.ts) bundled the same way into a script of its own;
 *      it, the web pages' files (TEXT_ASSETS of src/runtime.ts: the call page and the host console), the speech fixtures `meetcore bench` streams, and the three native addons (meetcore_audio from build/Release, uWebSockets.js's
 *      `uws_<platform>_<arch>_<abi>.node`, better-sqlite3's) become SEA assets, with a manifest (meta.json:
 *      version, Node ABI, each addon's sha256) that src/runtime.ts checks when it extracts them;
 *   3. `node --experimental-sea-config` writes the preparation blob, which postject injects into a copy of
 *      the running `node` (the NODE_SEA_FUSE sentinel of Node's SEA documentation).
 * Then it starts the binary once (temporary DATA_DIR and STORAGE_DIR, a free port) and reports its size and
 * the time from spawn to `/health` answering 200.
 *
 * Options: `--skip-smoke` (no start-up measurement). Exit 1 with the reason when a step fails (e.g. the
 * audio addon is not built: run `npm install`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Plugin } from 'esbuild';
import { FIXTURE_ASSETS, NATIVE_ADDONS, RENDER_WORKER_ASSET, TEXT_ASSETS, type BinaryMeta, type NativeAddonName } from '../src/runtime.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DIST = path.join(ROOT, 'dist');
const WORK = path.join(DIST, '.binary');
/** The output: `dist/meetcore` (this platform's binary). */
export const BINARY = path.join(DIST, 'meetcore');
/** Node's SEA sentinel fuse (Node docs, "Single executable applications": postject --sentinel-fuse). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

/** Where each addon comes from in a checkout, and its file name inside the binary. */
function nativeSources(): Record<NativeAddonName, string> {
  const uws = `uws_${process.platform}_${process.arch}_${process.versions.modules}.node`;
  return {
    meetcore_audio: path.join(ROOT, 'build/Release/meetcore_audio.node'),
    uws: path.join(ROOT, 'node_modules/uWebSockets.js', uws),
    better_sqlite3: path.join(ROOT, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node'),
  };
}

function sha256(file: string): string {
  return createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/**
 * Optional modules that their packages require inside a try and do without (msgpackr's and ws's native
 * speed-ups, debug's supports-color, node-fetch's `encoding`, reached from vega's loader now that the server
 * draws the meeting timeline): in the
 * binary each becomes a module that throws MODULE_NOT_FOUND, so the JS fallback runs (and Node's warning
 * about a SEA require() of a file is never printed).
 */
const OPTIONAL_NATIVES = ['msgpackr-extract', 'bufferutil', 'utf-8-validate', 'supports-color', 'encoding'];
const absentOptionals: Plugin = {
  name: 'absent-optional-natives',
  setup(b) {
    b.onResolve({ filter: new RegExp(`^(${OPTIONAL_NATIVES.join('|')})$`) }, (args) => ({ path: args.path, namespace: 'absent' }));
    b.onLoad({ filter: /.*/, namespace: 'absent' }, (args) => ({
      contents: `throw Object.assign(new Error(${JSON.stringify(`Cannot find module '${args.path}' (not in the meetcore binary)`)}), { code: 'MODULE_NOT_FOUND' });`,
      loader: 'js',
    }));
  },
};

/**
 * vega-canvas's Node build loads the optional `canvas` package with a top-level await, which a CommonJS bundle
 * cannot hold; its browser build does the same without `canvas` (no canvas: vega estimates text widths), which is
 * all the bench report's SVG rendering needs.
 */
const vegaCanvasBrowser: Plugin = {
  name: 'vega-canvas-browser',
  setup(b) {
    b.onResolve({ filter: /^vega-canvas$/ }, () => ({ path: path.join(ROOT, 'node_modules/vega-canvas/build/vega-canvas.browser.js') }));
  },
};

/** Bundle `entry` (a file under src/) and everything it imports into one CommonJS script `out`. */
async function bundle(out: string, entry = 'src/main.ts'): Promise<void> {
  const result = await build({
    entryPoints: [path.join(ROOT, entry)],
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: `node${process.versions.node.split('.')[0]}`,
    plugins: [absentOptionals, vegaCanvasBrowser],
    // src/runtime.ts reads import.meta.url only when running from a checkout, never inside the binary.
    logOverride: { 'empty-import-meta': 'silent' },
    legalComments: 'none',
    // esbuild's default, stated: with keepNames every named closure pays an Object.defineProperty (`__name`) each
    // time it is created (tsx, which runs `npm start`, always turns it on; the signaling relay's per-message path
    // creates no closure, so it costs the same there).
    keepNames: false,
    sourcemap: false,
    logLevel: 'warning',
  });
  if (result.errors.length) throw new Error(`esbuild failed: ${result.errors.map((e) => e.text).join('; ')}`);
}

/** postject (npm) injects the blob as the NODE_SEA_BLOB resource; its ELF writer's harmless section-name warnings are dropped. */
function injectBlob(binary: string, blob: string): void {
  const cli = path.join(ROOT, 'node_modules/postject/dist/cli.js');
  const r = spawnSync(process.execPath, [cli, binary, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE], { encoding: 'utf8' });
  const noise = /^warning: Can't find string offset for section name/;
  const out = `${r.stdout}${r.stderr}`.split('\n').filter((l) => l.trim() && !noise.test(l) && !l.startsWith('Injecting') && !l.startsWith('💉'));
  if (r.status !== 0) throw new Error(`postject failed (exit ${r.status}): ${out.join(' | ')}`);
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Milliseconds from spawning the binary to GET /health answering 200 (fresh DATA_DIR: includes extraction). */
export async function measureStartup(binary: string): Promise<{ firstMs: number; secondMs: number }> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'meetcore-binary-'));
  try {
    const once = async (): Promise<number> => {
      const port = await freePort();
      const t0 = performance.now();
      const child = spawn(binary, [], {
        cwd: tmp, stdio: 'ignore',
        env: { PATH: '/usr/bin:/bin', HOST: '127.0.0.1', PORT: String(port), DATA_DIR: path.join(tmp, 'data'), STORAGE_DIR: path.join(tmp, 'storage'), LOG_LEVEL: 'warn' },
      });
      let exited = false;
      child.once('exit', () => { exited = true; });
      try {
        for (;;) {
          if (exited) throw new Error(`${binary} exited before /health answered`);
          if (performance.now() - t0 > 30_000) throw new Error(`${binary}: /health did not answer within 30 s`);
          try {
            const res = await fetch(`http://127.0.0.1:${port}/health`);
            if (res.status === 200) return performance.now() - t0;
          } catch { /* not listening yet */ }
          await new Promise((r) => setTimeout(r, 5));
        }
      } finally {
        child.kill('SIGTERM');
        if (!exited) await new Promise((r) => child.once('exit', r));
      }
    };
    const firstMs = await once();
    const secondMs = await once();
    return { firstMs, secondMs };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Files whose change makes dist/meetcore stale: the sources, the web page, the addons, the lock file, this script. */
function inputs(): string[] {
  const src = (fs.readdirSync(path.join(ROOT, 'src'), { recursive: true }) as string[]).map((f) => path.join(ROOT, 'src', f));
  return [...src, ...Object.values(nativeSources()), path.join(ROOT, 'package.json'), path.join(ROOT, 'package-lock.json'), fileURLToPath(import.meta.url)];
}

/** True when dist/meetcore exists and is newer than every input (so a test may use it as it is). */
export function binaryIsFresh(): boolean {
  if (!fs.existsSync(BINARY)) return false;
  const built = fs.statSync(BINARY).mtimeMs;
  return inputs().every((f) => !fs.existsSync(f) || fs.statSync(f).mtimeMs <= built);
}

/**
 * Build dist/meetcore (see the top of this file).
 * @param opts.smoke also start it twice and measure the time to /health (default true).
 * @returns the report lines printed by `npm run build:binary`.
 * @throws Error naming the step that failed (a missing addon: run `npm install`).
 */
export async function buildBinary(opts: { smoke?: boolean } = {}): Promise<string[]> {
  const smoke = opts.smoke ?? true;
  const t0 = performance.now();
  const sources = nativeSources();
  for (const [name, file] of Object.entries(sources)) {
    if (!fs.existsSync(file)) throw new Error(`${name} addon missing at ${path.relative(ROOT, file)}: run \`npm install\` first`);
  }
  fs.rmSync(WORK, { recursive: true, force: true });
  fs.mkdirSync(WORK, { recursive: true });

  const script = path.join(WORK, 'meetcore.cjs');
  await bundle(script);
  // The render worker (reports and timeline pictures off the event loop) is a script of its own.
  const renderWorker = path.join(WORK, 'render-worker.cjs');
  await bundle(renderWorker, 'src/meetings/render-worker.ts');

  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const meta: BinaryMeta = { version: pkg.version, nodeAbi: process.versions.modules, natives: {} as BinaryMeta['natives'] };
  const assets: Record<string, string> = {};
  for (const name of NATIVE_ADDONS) {
    const file = path.basename(sources[name]);
    meta.natives[name] = { file, sha256: sha256(sources[name]) };
    assets[`native/${file}`] = sources[name];
  }
  // The call page (web/index.html, web/app.js) and the host console (web/host.html, web/host.js).
  for (const name of TEXT_ASSETS) assets[name] = path.join(ROOT, 'src', name);
  for (const [name, file] of Object.entries(FIXTURE_ASSETS)) assets[name] = path.join(ROOT, file);
  assets[RENDER_WORKER_ASSET] = renderWorker;
  const metaFile = path.join(WORK, 'meta.json');
  fs.writeFileSync(metaFile, JSON.stringify(meta, null, 2));
  assets['meta.json'] = metaFile;

  const blob = path.join(WORK, 'sea-prep.blob');
  const seaConfig = path.join(WORK, 'sea-config.json');
  fs.writeFileSync(seaConfig, JSON.stringify({ main: script, output: blob, disableExperimentalSEAWarning: true, useCodeCache: true, assets }, null, 2));
  const prep = spawnSync(process.execPath, ['--experimental-sea-config', seaConfig], { encoding: 'utf8' });
  if (prep.status !== 0) throw new Error(`node --experimental-sea-config failed: ${prep.stderr.trim()}`);

  const tmpBinary = `${BINARY}.tmp`;
  fs.copyFileSync(process.execPath, tmpBinary);
  fs.chmodSync(tmpBinary, 0o755);
  injectBlob(tmpBinary, blob);
  fs.renameSync(tmpBinary, BINARY);
  const buildMs = performance.now() - t0;

  const size = fs.statSync(BINARY).size;
  const lines = [
    `dist/meetcore: meetcore ${pkg.version}, ${process.platform}-${process.arch}, node ${process.versions.node} (ABI ${process.versions.modules})`,
    `  size ${(size / 2 ** 20).toFixed(1)} MiB (node ${(fs.statSync(process.execPath).size / 2 ** 20).toFixed(1)} MiB + bundle ${(fs.statSync(script).size / 2 ** 20).toFixed(2)} MiB + addons ${(NATIVE_ADDONS.reduce((n, a) => n + fs.statSync(sources[a]).size, 0) / 2 ** 20).toFixed(2)} MiB), built in ${(buildMs / 1000).toFixed(1)} s`,
  ];
  if (smoke) {
    const { firstMs, secondMs } = await measureStartup(BINARY);
    lines.push(`  start-up to /health 200: ${firstMs.toFixed(0)} ms on a fresh DATA_DIR (extracts the addons), ${secondMs.toFixed(0)} ms on the next start (reuses them)`);
  }
  return lines;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  buildBinary({ smoke: !process.argv.includes('--skip-smoke') }).then((lines) => process.stdout.write(`${lines.join('\n')}\n`)).catch((err: unknown) => {
    process.stderr.write(`build:binary: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
