/**
 * Helpers of the Hume tests: a real server wired to the Hume double, an egress client streaming the speech
 * fixtures, a host socket joined to `feedback:<meetingId>`, and reads of the prosody tables, pipeline logs and
 * server logs.
 */
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { apiAccount } from '../helpers/sessions.js';
import { STREAM_QUEUE_MS, startTestServer, type TestServer } from '../helpers/server.js';
import { BYTES_PER_SEC, SECRET, closed, open, query, sendPcm, signedEgressUrl, speechFixtures, waitFor } from '../egress/helpers.js';
import { startHumeDouble, type DoubleOptions, type HumeDouble } from './double.js';

export const API_KEY = 'hume-test-key-0123456789';
export const [SPEECH_MALE, SPEECH_FEMALE] = speechFixtures();

export interface Pair { server: TestServer; double: HumeDouble; stop(): Promise<void> }

/** Start the double and a real server whose HUME_STREAM_URL points at it (HUME_API_KEY = API_KEY unless overridden). */
export async function startPair(env: Record<string, string> = {}, doubleOpts: Partial<DoubleOptions> = {}): Promise<Pair> {
  const double = await startHumeDouble({ apiKey: API_KEY, ...doubleOpts });
  const server = await startTestServer({ EGRESS_SECRET: SECRET, HUME_API_KEY: API_KEY, HUME_STREAM_URL: double.url, AUDIO_STREAM_QUEUE_MS: STREAM_QUEUE_MS, ...env });
  return { server, double, stop: async () => { await server.stop(); await double.close(); } };
}

/**
 * Stream stereo 48 kHz PCM as one LiveKit track and close it with no code: as fast as possible, or paced
 * (`chunkMs` of audio, then a pause of `pauseMs`) so that each segment is answered before the next one.
 */
export async function streamTrack(server: TestServer, params: Record<string, string>, pcm: Buffer, pace?: { chunkMs: number; pauseMs: number }): Promise<void> {
  const ws = await open(signedEgressUrl(server, params));
  if (!pace) await sendPcm(ws, pcm);
  else {
    const step = (pace.chunkMs / 1000) * BYTES_PER_SEC;
    for (let off = 0; off < pcm.length; off += step) {
      await sendPcm(ws, pcm.subarray(off, Math.min(off + step, pcm.length)));
      await new Promise((r) => setTimeout(r, pace.pauseMs));
    }
  }
  const done = closed(ws);
  ws.close();
  await done;
}

/**
 * A host-side /ws socket (JSON subprotocol) joined to `feedback:<meetingId>`, collecting what it receives.
 * It authenticates (`?token=`) as the server's first account (`apiAccount`), owner of the first organization, which
 * hosts meetings of no organization (UNSCOPED_MEETINGS_ORG=first).
 */
export async function hostSocket(server: TestServer, meetingId: string): Promise<{ ws: WebSocket; messages: any[] }> {
  const { accessToken } = await apiAccount(server);
  const ws = new WebSocket(`${server.wsUrl}/ws?token=${encodeURIComponent(accessToken)}`, 'meetcore.json');
  const messages: any[] = [];
  ws.on('message', (d) => { messages.push(JSON.parse(d.toString())); });
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  ws.send(JSON.stringify({ type: 'join-room', roomId: `feedback:${meetingId}`, rid: 'join' }));
  const joined = await waitFor(() => messages.find((m) => m.rid === 'join'), 'join reply');
  if (joined.type !== 'room-joined') throw new Error(`cannot join feedback:${meetingId}: ${JSON.stringify(joined)}`);
  return { ws, messages };
}

/** prosody_counters of a meeting, by name. */
export function counters(server: TestServer, meetingId: string): Record<string, number> {
  return query(server, (db) => Object.fromEntries((db.prepare('SELECT name, count FROM prosody_counters WHERE meeting_id = ?').all(meetingId) as { name: string; count: number }[]).map((r) => [r.name, r.count])));
}

export interface SegmentRow { participant: string; track_id: string; payload_id: string; segment_index: number; start_ms: number; end_ms: number; emotions: string; predictions: number }

export function prosodyRows(server: TestServer, meetingId: string): SegmentRow[] {
  return query(server, (db) => db.prepare('SELECT * FROM prosody_segments WHERE meeting_id = ? ORDER BY id').all(meetingId) as SegmentRow[]);
}

/**
 * Segments the engine emitted for a meeting, from the pipeline log (`flush` lines count them), once every
 * stream of the meeting has its `closed` line (`streams` of them).
 */
export async function engineSegments(server: TestServer, meetingId: string, streams: number): Promise<number> {
  const file = path.join(server.storageDir, 'pipeline-logs', `${meetingId}.log`);
  const lines = await waitFor(() => {
    if (!fs.existsSync(file)) return null;
    const l = fs.readFileSync(file, 'utf8').trim().split('\n').map((x) => JSON.parse(x) as { event: string; segments?: number });
    return l.filter((x) => x.event === 'closed').length >= streams ? l : null;
  }, 'pipeline log closed lines', 20_000);
  return lines.filter((l) => l.event === 'flush').reduce((n, l) => n + (l.segments ?? 0), 0);
}

/** Server log records whose `msg` matches. */
export function logsMatching(server: TestServer, re: RegExp): Record<string, unknown>[] {
  return server.logs.filter((l) => typeof l.msg === 'string' && re.test(l.msg));
}

export { waitFor, query };
