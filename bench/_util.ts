/**
 * Small helpers shared by the benchmarks: rounding, sleeping, percentiles, IPC requests to forked client
 * processes, starting a helper server script that prints `{"port":N}`, and CPU pinning with taskset.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../test/helpers/server.js';

export const round = (x: number, d: number): number => Math.round(x * 10 ** d) / 10 ** d;
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** p-th percentile (0..1) of an ascending array, NaN when empty. */
export const pct = (sorted: number[], p: number): number => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]! : NaN);

/** Send `msg` to a forked process and resolve with its next message (rejects on `{ok:false, error}`). */
export function ask<T>(w: ChildProcess, msg: object): Promise<T> {
  return new Promise((resolve, reject) => {
    w.once('message', (m) => {
      const r = m as T & { ok?: boolean; error?: string };
      if (r.ok === false) reject(new Error(r.error)); else resolve(r);
    });
    w.once('error', reject);
    w.send(msg);
  });
}

/**
 * CPU list for taskset from a bench option: '' or 'none' = no pinning. Default: server on core 0 and load on
 * core 1 when the machine has at least 2 cores, else none.
 */
export function cpuOption(value: string | undefined, fallback: string): string | null {
  const v = value ?? (os.availableParallelism() >= 2 ? fallback : 'none');
  return v === '' || v === 'none' ? null : v;
}

/** Pin every thread of a running process (and the threads it starts later) to `cpus` (taskset -a -p). */
export function pin(pid: number | undefined, cpus: string | null): void {
  if (!cpus || !pid) return;
  try { execFileSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' }); } catch (err) {
    process.stderr.write(`bench: taskset -c ${cpus} failed for pid ${pid}: ${(err as Error).message}\n`);
  }
}

export interface ScriptServer { pid: number; port: number; proc: ChildProcess; stop(): Promise<void> }

/** Start bench/<script> (node --import tsx), pinned to `cpus`, and wait for its `{"port":N}` line. */
export async function startScript(script: string, cpus: string | null, env: Record<string, string> = {}): Promise<ScriptServer> {
  const proc = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench', script)], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    proc.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      if (buf.includes('\n')) { try { resolve((JSON.parse(buf.split('\n')[0]!) as { port: number }).port); } catch (err) { reject(err as Error); } }
    });
    proc.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
  pin(proc.pid, cpus);
  return {
    pid: proc.pid!, port, proc,
    stop: () => new Promise<void>((resolve) => {
      if (proc.exitCode !== null || proc.signalCode !== null) { resolve(); return; }
      proc.once('exit', () => resolve());
      proc.kill('SIGTERM');
    }),
  };
}
