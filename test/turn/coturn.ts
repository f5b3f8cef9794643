/**
 * Run Debian's coturn (`turnserver`, `turnutils_uclient`) for tests. The server reads the project's
 * turnserver.conf; only what a loopback test needs is overridden, on the command line:
 * listen/relay on 127.0.0.1, a free port and relay range, the test secret, no TLS/DTLS (no certificates),
 * stdout logging, a temporary pid file and database, and - only when asked - loopback peers
 * (`--allow-loopback-peers --allowed-peer-ip 127.0.0.1`, which the shipped file deliberately denies).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { ROOT } from '../helpers/server.js';

export interface Coturn {
  /** TURN port on 127.0.0.1 (UDP and TCP). */
  port: number;
  proc: ChildProcess;
  /** Everything coturn logged so far. */
  log(): string;
  stop(): Promise<void>;
}

export function coturnAvailable(): boolean {
  return ['turnserver', 'turnutils_uclient'].every((bin) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0);
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Start turnserver with the shipped turnserver.conf plus loopback overrides.
 * @throws Error when coturn does not report its servers ready within 10 s.
 */
export async function startCoturn(opts: { secret: string; allowLoopbackPeers: boolean }): Promise<Coturn> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meetcore-coturn-'));
  // The shipped file logs to syslog; this copy differs only in that (so the log can be read here).
  const shipped = fs.readFileSync(path.join(ROOT, 'turnserver.conf'), 'utf8');
  const conf = path.join(dir, 'turnserver.conf');
  fs.writeFileSync(conf, shipped.replace(/^syslog$/m, '# syslog (test: log to stdout)'));
  const port = await freePort();
  const relayBase = 42000 + Math.floor(Math.random() * 200) * 100;
  const args = [
    '-c', conf,
    '--listening-ip', '127.0.0.1', '--relay-ip', '127.0.0.1', '--listening-port', String(port),
    '--min-port', String(relayBase), '--max-port', String(relayBase + 99),
    '--static-auth-secret', opts.secret,
    '--no-tls', '--no-dtls', '--log-file', 'stdout',
    '--pidfile', path.join(dir, 'turnserver.pid'), '--db', path.join(dir, 'turndb'),
    ...(opts.allowLoopbackPeers ? ['--allow-loopback-peers', '--allowed-peer-ip', '127.0.0.1'] : []),
  ];
  const proc = spawn('turnserver', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stdout!.on('data', (d: Buffer) => { log += d.toString(); });
  proc.stderr!.on('data', (d: Buffer) => { log += d.toString(); });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const started = Date.now();
    const poll = setInterval(() => {
      if (/Total General servers/.test(log) && /DB connection success/.test(log)) { clearInterval(poll); resolve(); }
      else if (proc.exitCode !== null || Date.now() - started > 10_000) { clearInterval(poll); reject(new Error(`turnserver did not start\n${log}`)); }
    }, 50);
  });
  return {
    port, proc, log: () => log,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * `turnutils_uclient -y -c`: two clients allocate relays (no RTCP pair) with `username`/`credential` (long-term credentials,
 * i.e. a TURN REST credential used as the password) and send `messages` packets to each other through them.
 * @returns exit code, the number of packets received through the relays, and the output.
 */
export async function uclient(port: number, username: string, credential: string, messages = 3): Promise<{ code: number | null; received: number; text: string }> {
  const proc = spawn('turnutils_uclient', ['-p', String(port), '-u', username, '-w', credential, '-n', String(messages), '-m', '1', '-c', '-y', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  proc.stdout!.on('data', (d: Buffer) => { text += d.toString(); });
  proc.stderr!.on('data', (d: Buffer) => { text += d.toString(); });
  const timer = setTimeout(() => proc.kill('SIGKILL'), 20_000);
  const code = await new Promise<number | null>((resolve) => proc.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  const received = Number(/tot_recv_msgs=(\d+)\s*$/m.exec(text)?.[1] ?? 0);
  return { code, received, text };
}
