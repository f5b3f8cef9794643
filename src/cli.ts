/**
 * Command-line tools besides serving: `meetcore egress-url --room R [--participant P] [--track T]
 * [--meeting M] [--sample-rate 48000] [--channels 2] [--group-seconds 2] [--ttl 86400] [--video --codec h264]`
 * prints a signed /egress-audio (or /egress-video) URL for a LiveKit Track Egress.
 */
import { parseArgs } from 'node:util';
import type { Config } from './config.js';
import { signedUrl, wsBase } from './egress/signing.js';
import { egressAudioUrl } from './egress/query.js';
import type { SampleRate } from './pipeline/types.js';

const USAGE = `usage: meetcore [serve]
       meetcore egress-url --room NAME [--participant ID] [--track ID] [--meeting ID]
                           [--sample-rate HZ] [--channels 1|2] [--group-seconds S] [--ttl SEC]
                           [--video --codec h264|vp8|vp9]
`;

/** Run a CLI command; returns the process exit code (0 ok, 2 usage error). */
export async function runCli(config: Config, argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
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
