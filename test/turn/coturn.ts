/**
 * Run Debian's coturn (`turnserver`, `turnutils_uclient`, `turnutils_peer`) for tests. The server reads the
 * project's turnserver.conf; only what a loopback test needs is overridden, on the command line:
 * listen on 127.0.0.1, relay on 127.0.0.1 (plus an IPv6 relay address when asked), a free port and relay
 * range, the test secret, no TLS/DTLS (no certificates), stdout logging, a temporary pid file and database,
 * and - only when asked - loopback peers (`--allow-loopback-peers --allowed-peer-ip 127.0.0.1
 * --allowed-peer-ip ::1`, which the shipped file deliberately denies).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
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
  return ['turnserver', 'turnutils_uclient', 'turnutils_peer'].every((bin) => spawnSync('sh', ['-c', `command -v ${bin}`]).status === 0);
}

/** The installed coturn version as [major, minor, patch] (`turnserver --version` prints e.g. "4.6.1"). */
export function coturnVersion(): number[] {
  const out = spawnSync('turnserver', ['--version'], { encoding: 'utf8', timeout: 5000 });
  const m = /(\d+)\.(\d+)\.(\d+)/.exec(`${out.stdout}${out.stderr}`);
  if (!m) throw new Error(`turnserver --version: no version in ${JSON.stringify(out.stdout)}`);
  return m.slice(1).map(Number);
}

/** a >= b for versions as returned by coturnVersion(). */
export function versionAtLeast(a: number[], b: number[]): boolean {
  for (let i = 0; i < b.length; i++) if ((a[i] ?? 0) !== b[i]) return (a[i] ?? 0) > b[i];
  return true;
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

/** A UDP port that was free a moment ago on both 127.0.0.1 and ::1. */
export async function freeUdpPort(): Promise<number> {
  const bindable = (type: 'udp4' | 'udp6', host: string, port: number) => new Promise<number>((resolve) => {
    const s = dgram.createSocket({ type, ipv6Only: type === 'udp6' });
    s.once('error', () => { s.close(); resolve(-1); });
    s.bind(port, host, () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
  for (let i = 0; i < 20; i++) {
    const port = await bindable('udp4', '127.0.0.1', 0);
    if (port > 0 && port < 65535 && await bindable('udp6', '::1', port) === port) return port;
  }
  throw new Error('no UDP port free on both 127.0.0.1 and ::1');
}

// Relay port blocks of 1000 handed out in turn, so the servers of one test process never share relay ports.
// (A probe leaves its allocations behind until their lifetime ends: 100 ports ran out within one run.)
let relayBlock = Math.floor(Math.random() * 20);

/**
 * Start turnserver with the shipped turnserver.conf plus loopback overrides.
 * @param opts.relayIps relay addresses (default 127.0.0.1 only); add an IPv6 one (e.g. ::1, or the dual-stack
 *   ::ffff:127.0.0.1, an IPv6 socket on the IPv4 loopback) for allocations requested with `-x`. coturn picks the relay by the requested family.
 * @param opts.editConfig changes the copy of the shipped file this server reads (e.g. drop one rule for a control).
 * @throws Error when coturn does not report its servers ready within 10 s.
 */
export async function startCoturn(opts: { secret: string; allowLoopbackPeers: boolean; relayIps?: string[]; editConfig?: (conf: string) => string }): Promise<Coturn> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meetcore-coturn-'));
  // The shipped file logs to syslog; this copy differs only in that (so the log can be read here).
  const shipped = fs.readFileSync(path.join(ROOT, 'turnserver.conf'), 'utf8');
  const conf = path.join(dir, 'turnserver.conf');
  const text = shipped.replace(/^syslog$/m, '# syslog (test: log to stdout)');
  fs.writeFileSync(conf, opts.editConfig ? opts.editConfig(text) : text);
  const port = await freePort();
  const relayBase = 42000 + (relayBlock++ % 20) * 1000;
  const relayIps = opts.relayIps ?? ['127.0.0.1'];
  const args = [
    '-c', conf,
    '--listening-ip', '127.0.0.1', ...relayIps.flatMap((ip) => ['--relay-ip', ip]), '--listening-port', String(port),
    '--min-port', String(relayBase), '--max-port', String(relayBase + 999),
    '--static-auth-secret', opts.secret,
    '--no-tls', '--no-dtls', '--log-file', 'stdout',
    '--pidfile', path.join(dir, 'turnserver.pid'), '--db', path.join(dir, 'turndb'),
    ...(opts.allowLoopbackPeers ? ['--allow-loopback-peers', '--allowed-peer-ip', '127.0.0.1', '--allowed-peer-ip', '::1'] : []),
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
  // 'close', not 'exit': only then has all of the output been read.
  const code = await new Promise<number | null>((resolve) => proc.once('close', (c) => resolve(c)));
  clearTimeout(timer);
  const received = Number(/tot_recv_msgs=(\d+)\s*$/m.exec(text)?.[1] ?? 0);
  return { code, received, text };
}

/** `turnutils_peer` (a UDP echo server, the far end of a relay) on 127.0.0.1 and ::1, answering once ready. */
export async function startPeer(): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freeUdpPort();
  const proc = spawn('turnutils_peer', ['-p', String(port), '-L', '127.0.0.1', '-L', '::1'], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
  const echoes = (type: 'udp4' | 'udp6', host: string) => new Promise<boolean>((resolve) => {
    const s = dgram.createSocket(type);
    const done = (ok: boolean) => { clearTimeout(timer); s.close(); resolve(ok); };
    const timer = setTimeout(() => done(false), 100);
    s.once('message', () => done(true));
    s.once('error', () => done(false));
    s.send('ping', port, host);
  });
  const started = Date.now();
  while (!(await echoes('udp4', '127.0.0.1') && await echoes('udp6', '::1'))) {
    if (proc.exitCode !== null || Date.now() - started > 5000) { proc.kill('SIGKILL'); throw new Error('turnutils_peer did not answer'); }
  }
  return {
    port,
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}

export interface PeerProbe {
  code: number | null;
  /** coturn answered the ChannelBind (or CreatePermission) with 403 Forbidden IP. */
  refused: boolean;
  /** coturn granted the ChannelBind (or CreatePermission) for the peer. */
  granted: boolean;
  /** Packets that came back from the peer through the relay. */
  received: number;
  text: string;
}

/**
 * `turnutils_uclient -e <peer>`: allocate one relay (IPv6 with -x when the peer is IPv6), ask coturn for a
 * channel to the peer (or, with createPermission, a CreatePermission: -s) and send `messages` packets to it
 * through the relay; turnutils_peer echoes them back. With messages = 0 nothing is sent: the client is
 * stopped as soon as the ChannelBind/CreatePermission answers are in. Each call is bounded by 15 s.
 */
export async function relayToPeer(port: number, username: string, credential: string, peer: string, opts: { peerPort: number; messages: number; createPermission?: boolean }): Promise<PeerProbe> {
  const args = [
    '-v', '-p', String(port), '-u', username, '-w', credential, '-n', String(opts.messages), '-m', '1', '-c',
    ...(peer.includes(':') ? ['-x'] : []), ...(opts.createPermission ? ['-s'] : []),
    '-e', peer, '-r', String(opts.peerPort), '127.0.0.1',
  ];
  const proc = spawn('turnutils_uclient', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const onData = (d: Buffer) => {
    text += d.toString();
    // "Total connect time" follows the allocations and the ChannelBind/CreatePermission exchanges.
    if (opts.messages === 0 && /Total connect time/.test(text) && proc.exitCode === null) proc.kill('SIGTERM');
  };
  proc.stdout!.on('data', onData);
  proc.stderr!.on('data', onData);
  const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
  // 'close', not 'exit': only then has all of the output been read.
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => proc.once('close', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  text += `\n[turnutils_uclient ${args.join(' ')}: exit ${code ?? signal}]\n`;
  return {
    code,
    refused: /error 403 \(Forbidden IP\)/.test(text),
    granted: opts.createPermission ? /cp response received:\s*\n[^\n]*: success\s*$/m.test(text) : /: success: 0x[0-9a-f]+/.test(text),
    received: Number(/tot_recv_msgs=(\d+)\s*$/m.exec(text)?.[1] ?? 0),
    text,
  };
}
