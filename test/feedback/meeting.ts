/**
 * Stream a scripted meeting into a real server: one LiveKit-like egress client per participant (signed
 * /egress-audio URL, stereo 48 kHz s16le), all tracks sent in lockstep 100 ms chunks at 10× real time so
 * the stream clocks stay aligned, then closed with no code (1005) as LiveKit does. Also: a host's feedback
 * subscription over /ws and the stored feedback over HTTP.
 */
import WebSocket from 'ws';
import { SignalingClient, type ServerMessage } from '../../src/client/index.js';
import { toStereoBytes } from '../helpers/fixtures.js';
import { http, type TestServer } from '../helpers/server.js';
import { getSession } from '../helpers/sessions.js';
import { closed, open, signedEgressUrl, waitFor } from '../egress/helpers.js';

export interface Track {
  participant: string;
  /** Mono 48 kHz samples; shorter tracks end (close) early. */
  pcm: Int16Array;
}

/** 100 ms of 48 kHz stereo s16le. */
const CHUNK_BYTES = 4800 * 4;
/** Streaming speed relative to real time. */
const SPEEDUP = 10;

/** Something to do once `ms` of every track has been sent (and before any more is), e.g. a LiveKit webhook. */
export interface StreamHook { ms: number; run: () => Promise<void> }

/**
 * Stream `tracks` as one meeting and wait until GET /api/sessions/:meetingId shows every recording closed
 * (the engine drained them) with all the bytes sent.
 * @throws Error when a recording holds fewer bytes than were sent.
 * @param hooks run at their points of the stream (StreamHook).
 * @returns the meetingId.
 */
export async function streamMeeting(server: TestServer, meetingId: string, tracks: Track[], roomName = `room-${meetingId}`, hooks: StreamHook[] = []): Promise<string> {
  const sockets = await Promise.all(tracks.map((t) => open(signedEgressUrl(server, { roomName, participant: t.participant, trackId: `TR_${t.participant}`, meetingId }))));
  const bytes = tracks.map((t) => toStereoBytes(t.pcm));
  const longest = Math.max(...bytes.map((b) => b.length));
  const started = Date.now();
  const pending = [...hooks].sort((a, b) => a.ms - b.ms);
  for (let off = 0; off < longest; off += CHUNK_BYTES) {
    while (pending.length > 0 && off >= pending[0]!.ms * (CHUNK_BYTES / 100)) {
      // Everything sent so far is in the server's rings first: the hook acts at this point of the stream clock.
      await Promise.all(sockets.map(async (s) => { while (s.bufferedAmount > 0) await new Promise((r) => setTimeout(r, 2)); }));
      await pending.shift()!.run();
    }
    for (let i = 0; i < sockets.length; i++) {
      if (off < bytes[i]!.length) sockets[i]!.send(bytes[i]!.subarray(off, Math.min(off + CHUNK_BYTES, bytes[i]!.length)), { binary: true });
    }
    // At most ~10× real time: a test server queues at most 30 s per stream (STREAM_QUEUE_MS), and a worker thread starved of CPU on a busy
    // machine must not see its ring overflow (LiveKit itself sends in real time).
    const due = started + (off / CHUNK_BYTES) * (100 / SPEEDUP);
    if (Date.now() < due || sockets.some((s) => s.bufferedAmount > 1 << 20)) await new Promise((r) => setTimeout(r, Math.max(1, due - Date.now())));
  }
  await Promise.all(sockets.map(async (s) => {
    while (s.bufferedAmount > 0) await new Promise((r) => setTimeout(r, 2));
    const done = closed(s);
    s.close();
    await done;
  }));
  // Through the public API (a bearer this helper registers once per server): every track's recording closed…
  const recordings = await waitFor(async () => {
    const s = await getSession(server, meetingId);
    return s && s.recordings.length === tracks.length && s.recordings.every((r) => r.status !== 'RECORDING') ? s.recordings : null;
  }, `recordings of ${meetingId} closed`, 60_000);
  // …holding every byte sent (none dropped by a full ring), so the script's timing holds. A closed recording
  // does not grow: a shortfall fails here rather than after the whole wait.
  for (const [i, t] of tracks.entries()) {
    const mine = recordings.filter((r) => r.participant === t.participant);
    if (mine.length !== 1 || mine[0]!.bytes !== bytes[i]!.length) throw new Error(`${t.participant}: recorded ${mine.map((r) => r.bytes).join(' + ') || 'nothing'} of ${bytes[i]!.length} bytes`);
  }
  return meetingId;
}

export interface StoredFeedback {
  id: string;
  kind: string;
  severity: string;
  ts: number;
  participantId: string;
  window: { start: number; end: number };
  message: string;
  tips: string[];
  metadata: Record<string, any>;
}

/** GET /feedback/:meetingId (bearer). */
export async function storedFeedback(server: TestServer, meetingId: string, headers: Record<string, string>): Promise<StoredFeedback[]> {
  const r = await http('GET', `${server.url}/feedback/${meetingId}`, undefined, headers);
  if (r.status !== 200) throw new Error(`GET /feedback: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.events as StoredFeedback[];
}

/**
 * A host's /ws client joined to `feedback:<meetingId>`, collecting what it receives.
 * @throws Error when connecting or joining fails, saying how far it got, how the socket closed (`lastClose`) and
 *   the server's last warn/error log lines.
 */
export async function hostSubscription(server: TestServer, meetingId: string, token?: string): Promise<{ client: SignalingClient; received: ServerMessage[] }> {
  const client = new SignalingClient({ url: server.wsUrl, WebSocket, token });
  const received: ServerMessage[] = [];
  client.on('feedback', (m) => received.push(m));
  client.on('prosody', (m) => received.push(m));
  const started = Date.now();
  let step = 'connect';
  try {
    await client.connect();
    step = `join feedback:${meetingId}`;
    await client.join(`feedback:${meetingId}`, 'Host', 'host');
    return { client, received };
  } catch (err) {
    client.close();
    const serverLines = server.logs.filter((l) => typeof l.level === 'number' && l.level >= 40).slice(-10).map((l) => `  ${JSON.stringify(l)}`);
    throw new Error([
      `host subscription failed at ${step} after ${Date.now() - started} ms: ${(err as Error).message}`,
      `client lastClose: ${JSON.stringify(client.lastClose)}`,
      `server's last warn/error log lines: ${serverLines.length ? `\n${serverLines.join('\n')}` : 'none'}`,
    ].join('\n'), { cause: err });
  }
}
