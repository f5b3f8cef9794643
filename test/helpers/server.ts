/**
 * Start the real meetcore server as a child process (tsx src/main.ts) on a free port with its own temporary
 * DATA_DIR and STORAGE_DIR, for end-to-end tests. The port is read from the "meetcore listening" log line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface TestServer {
  port: number;
  /** http://127.0.0.1:PORT */
  url: string;
  /** ws://127.0.0.1:PORT */
  wsUrl: string;
  dataDir: string;
  storageDir: string;
  proc: ChildProcess;
  /** Every log line so far (parsed JSON where possible). */
  logs: Record<string, unknown>[];
  /** Send SIGTERM and wait for exit; returns the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL, no cleanup. */
  kill(): Promise<void>;
}

/** AUDIO_STREAM_QUEUE_MS for servers that get audio faster than real time (whole fixtures at once): 30 s of queue per stream. */
export const STREAM_QUEUE_MS = '30000';

/** How to run the server instead of `node --import tsx src/main.ts` in the checkout (e.g. the single executable). */
export interface SpawnAs {
  command: string[];
  cwd: string;
  /** The complete environment besides the test defaults and `env` (e.g. `{ PATH: '/nonexistent' }`). */
  baseEnv: Record<string, string>;
}

/** Temporary folders made for test servers: removed when the test file's process exits (restart tests reuse them until then). */
const madeDirs: string[] = [];
process.on('exit', () => {
  for (const d of madeDirs) {
    try { fs.rmSync(d, { recursive: true, force: true }); } catch { /* a folder made read-only by a test: left behind */ }
  }
});

/**
 * @param env extra environment (overrides the test defaults: PORT=0, HOST=127.0.0.1, LOG_LEVEL=info, REGISTRATION=open).
 * @param dirs reuse the data/storage folders of an earlier server (to test restarts).
 * @param as run another command (the single executable) in another folder with its own environment.
 * Profiling a test's server: MEETCORE_TEST_SERVER_NODE_ARGS (space-separated) are given to node before the entry,
 * e.g. `--cpu-prof --cpu-prof-dir /tmp/prof` or `--trace-gc` (NODE_OPTIONS refuses --cpu-prof).
 * @throws Error when the server does not report listening within 20 s or exits first.
 */
export async function startTestServer(env: Record<string, string> = {}, dirs?: { dataDir: string; storageDir: string }, as?: SpawnAs): Promise<TestServer> {
  const base = dirs ?? (() => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'meetcore-test-'));
    madeDirs.push(tmp);
    return { dataDir: path.join(tmp, 'data'), storageDir: path.join(tmp, 'storage') };
  })();
  const [command, ...args] = as?.command ?? [process.execPath, ...(process.env.MEETCORE_TEST_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? []), '--import', 'tsx', path.join(ROOT, 'src/main.ts')];
  const proc = spawn(command!, args, {
    cwd: as?.cwd ?? ROOT,
    env: {
      ...(as ? as.baseEnv : process.env),
      PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info',
      // Tests register many accounts on one server: the multi-tenant setting unless a test asks for another.
      REGISTRATION: 'open',
      DATA_DIR: base.dataDir, STORAGE_DIR: base.storageDir,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`server did not start in 20 s (killed)\n${stderr}`)); }, 20_000);
    let buf = '';
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        let rec: Record<string, unknown>;
        try { rec = JSON.parse(line) as Record<string, unknown>; } catch { rec = { msg: line }; }
        logs.push(rec);
        if (rec.msg === 'meetcore listening') { clearTimeout(timer); resolve(rec.port as number); }
      }
    });
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`server exited with ${code} before listening\n${stderr}`)); });
  });
  return {
    port, url: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}`, ...base, proc, logs,
    stop: async () => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM'); return exited; },
    kill: async () => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL'); await exited; },
  };
}

/** fetch + JSON parse; returns status, headers and the parsed body (or text when not JSON). */
export async function http(method: string, url: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
  }
  const res = await fetch(url, init);
  const text = await res.text();
  let parsed: unknown = text;
  try { parsed = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, body: parsed, headers: res.headers };
}
