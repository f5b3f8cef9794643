/**
 * Command-line tools besides serving:
 * - `meetcore egress-url --room R [--participant P] [--track T] [--meeting M] [--sample-rate 48000]
 *   [--channels 2] [--group-seconds 2] [--ttl 86400] [--video --codec h264]` prints a signed /egress-audio (or
 *   /egress-video) URL for a LiveKit Track Egress;
 * - `meetcore check` validates the configuration before a start: what is on and off, DATA_DIR and STORAGE_DIR
 *   writable, HOST:PORT free.
 */
import net from 'node:net';
import { parseArgs } from 'node:util';
import { ConfigError, checkWritableDir, type Config } from './config.js';
import { signedUrl, wsBase } from './egress/signing.js';
import { egressAudioUrl } from './egress/query.js';
import type { SampleRate } from './pipeline/types.js';

const USAGE = `usage: meetcore [serve]
       meetcore check
       meetcore bench <signaling|egress|meeting> [--target URL] [options]   (meetcore bench --help)
       meetcore --version
       meetcore egress-url --room NAME [--participant ID] [--track ID] [--meeting ID]
                           [--sample-rate HZ] [--channels 1|2] [--group-seconds S] [--ttl SEC]
                           [--video --codec h264|vp8|vp9]
`;

/** Run a CLI command; returns the process exit code (0 ok, 2 usage error). */
export async function runCli(config: Config, argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === 'check') return runCheck(config);
  if (command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(USAGE);
    return 0;
  }
  if (command !== 'egress-url') {
    process.stderr.write(`meetcore: unknown command ${JSON.stringify(command)}\n${USAGE}`);
    return 2;
  }
  let values;
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        room: { type: 'string' }, participant: { type: 'string' }, track: { type: 'string' }, meeting: { type: 'string' },
        'sample-rate': { type: 'string' }, channels: { type: 'string' }, 'group-seconds': { type: 'string' },
        ttl: { type: 'string', default: '86400' }, video: { type: 'boolean', default: false }, codec: { type: 'string' },
      },
    }));
  } catch (err) {
    process.stderr.write(`meetcore: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  if (!values.room) {
    process.stderr.write(`meetcore: --room is required\n${USAGE}`);
    return 2;
  }
  const ttl = Number(values.ttl);
  if (!Number.isFinite(ttl) || ttl <= 0) {
    process.stderr.write(`meetcore: --ttl must be a positive number of seconds\n`);
    return 2;
  }
  if (values.video) {
    const params = { roomName: values.room, participant: values.participant, trackId: values.track, meetingId: values.meeting, codec: values.codec ?? 'h264' };
    process.stdout.write(`${signedUrl(config.EGRESS_SECRET, wsBase(config.PUBLIC_URL), '/egress-video', params, ttl)}\n`);
    return 0;
  }
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  try {
    // The same function and checks as POST /api/egress/url, so the URL is one /egress-audio accepts.
    process.stdout.write(`${egressAudioUrl(config, {
      roomName: values.room, participant: values.participant, trackId: values.track, meetingId: values.meeting,
      sampleRate: num(values['sample-rate']) as SampleRate | undefined, channels: num(values.channels) as 1 | 2 | undefined,
      groupSeconds: num(values['group-seconds']), ttlSec: Math.round(ttl),
    })}\n`);
  } catch (err) {
    process.stderr.write(`meetcore: ${(err as Error).message}\n${USAGE}`);
    return 2;
  }
  return 0;
}

/**
 * `meetcore check`: one line per check on stdout (`ok`, `off` or `FAIL`), then `meetcore check: ok` or
 * `meetcore check: failed: <reasons>` on stderr. The configuration itself was validated by loadConfig before
 * (a bad variable never gets here: main exits 1 naming it).
 * @returns 0 when every check passes, 1 otherwise (an unwritable folder names its variable, a busy port names
 *   PORT).
 */
export async function runCheck(config: Config): Promise<number> {
  const failures: string[] = [];
  const line = (state: 'ok' | 'off' | 'FAIL', what: string, detail: string): void => {
    process.stdout.write(`${state.padEnd(4)} ${what.padEnd(10)} ${detail}\n`);
  };
  line('ok', 'config', `${config.PUBLIC_URL} (HOST ${config.HOST}, PORT ${config.PORT})`);
  for (const variable of ['DATA_DIR', 'STORAGE_DIR'] as const) {
    try {
      checkWritableDir(variable, config[variable]);
      line('ok', variable, `${config[variable]} is writable`);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      line('FAIL', variable, err.message);
      failures.push(err.message);
    }
  }
  const portError = await portFree(config.HOST, config.PORT);
  if (portError) {
    line('FAIL', 'PORT', portError);
    failures.push(`PORT: ${portError}`);
  } else {
    line('ok', 'PORT', `${config.HOST}:${config.PORT} is free`);
  }
  line(config.livekitEnabled ? 'ok' : 'off', 'LiveKit', config.livekitEnabled ? `${config.LIVEKIT_URL} (key ${config.LIVEKIT_API_KEY}), AUTO_EGRESS=${config.AUTO_EGRESS}` : 'set LIVEKIT_URL, LIVEKIT_API_KEY and LIVEKIT_API_SECRET');
  line(config.turnEnabled ? 'ok' : 'off', 'TURN', config.turnEnabled ? `${config.TURN_URLS.join(', ')} (TURN REST credentials, TTL ${config.TURN_TTL} s)` : 'set TURN_URLS and TURN_SECRET (coturn static-auth-secret)');
  line(config.HUME_API_KEY ? 'ok' : 'off', 'Hume', config.HUME_API_KEY ? `prosody over ${config.HUME_STREAM_URL}` : 'set HUME_API_KEY to stream segments for prosody');
  line('ok', 'auth', config.REQUIRE_AUTH ? 'REQUIRE_AUTH=true: /ws, Socket.IO and the optional endpoints need a token' : 'REQUIRE_AUTH=false: /ws, Socket.IO and the optional endpoints are open');
  if (config.generatedSecrets.length) line('ok', 'secrets', `${config.generatedSecrets.join(', ')} generated and kept in ${config.DATA_DIR}/secrets.json`);
  if (config.EGRESS_ALLOW_UNSIGNED) line('ok', 'egress', 'EGRESS_ALLOW_UNSIGNED=true: unsigned egress URLs accepted (development only)');
  if (failures.length) {
    process.stderr.write(`meetcore check: failed: ${failures.join('; ')}\n`);
    return 1;
  }
  process.stderr.write('meetcore check: ok\n');
  return 0;
}

/** Resolves null when HOST:PORT can be bound (and releases it at once), else the reason. PORT 0 is always free. */
function portFree(host: string, port: number): Promise<string | null> {
  if (port === 0) return Promise.resolve(null);
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(`${host}:${port} cannot be bound (${err.code ?? err.message})`));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(null)));
  });
}
