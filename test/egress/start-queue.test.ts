/**
 * Stream starts run from a queue, a few per turn of the event loop (src/egress/audio.ts): many streams whose
 * first frames arrive together are started over several turns, and what each socket sends before its start
 * (more frames, mute changes, its close) is kept in order and applied when it starts. End to end through the
 * real server: 200 sockets of one meeting each send, in one go, 10 ms of audio, {"muted":true}, 10 ms,
 * {"muted":false}, 10 ms and close. Every recording must hold the first and last 10 ms byte for byte (muted
 * audio is not recorded), say COMPLETE, and have its muted interval exactly on the second 10 ms; and some sockets must have closed before their stream
 * started (the server says so in its log), or this test would not exercise the queue.
 */
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type WebSocket from 'ws';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { listSessions, session, type RecordingJson } from '../helpers/sessions.js';
import { BYTES_PER_SEC, SECRET, closed, noisePcm, open, parseWav, signedEgressUrl, waitFor } from './helpers.js';

const SOCKETS = 200;
const TEN_MS = BYTES_PER_SEC / 100;

let server: TestServer;
test.before(async () => { server = await startTestServer({ EGRESS_SECRET: SECRET }); });
test.after(async () => { await server.stop(); });

test('200 streams starting together: what each sent before its start (frames, mute changes, its close) is recorded in order', async () => {
  const room = 'start-queue';
  const sent = Array.from({ length: SOCKETS }, (_, i) => noisePcm(0.03, i + 1));
  const sockets: WebSocket[] = [];
  for (let i = 0; i < SOCKETS; i += 50) {
    sockets.push(...await Promise.all(sent.slice(i, i + 50).map((_, k) => open(signedEgressUrl(server, { roomName: room, participant: `p${i + k}` })))));
  }
  const closes = sockets.map((ws) => closed(ws));
  // Everything in one turn of this process: the server gets the 200 first frames together.
  sockets.forEach((ws, i) => {
    const pcm = sent[i]!;
    ws.send(pcm.subarray(0, TEN_MS), { binary: true });
    ws.send(JSON.stringify({ muted: true }));
    ws.send(pcm.subarray(TEN_MS, 2 * TEN_MS), { binary: true });
    ws.send(JSON.stringify({ muted: false }));
    ws.send(pcm.subarray(2 * TEN_MS), { binary: true });
    ws.close(1000, 'done');
  });
  await Promise.all(closes);

  const rows = await waitFor(async () => {
    const meeting = (await listSessions(server)).find((m) => m.roomName === room);
    if (!meeting) return undefined;
    const r = (await session(server, meeting.meetingId)).recordings.filter((x) => x.status !== 'RECORDING');
    return r.length === SOCKETS ? r : undefined;
  }, 'every recording closed', 60_000);
  for (const r of rows as RecordingJson[]) {
    const i = Number(r.participant.slice(1));
    assert.is(r.status, 'COMPLETE', `${r.participant}: ${r.closeReason}`);
    // Muted audio counts on the stream clock but is not recorded (docs/protocol.md, as in e2e.test.ts).
    const unmuted = Buffer.concat([sent[i]!.subarray(0, TEN_MS), sent[i]!.subarray(2 * TEN_MS)]);
    assert.ok(parseWav(path.join(server.storageDir, r.path)).data.equals(unmuted), `${r.participant}: the recording is what was sent unmuted, byte for byte`);
    assert.equal(r.mutedIntervals, [{ startMs: r.startedAt + 10, endMs: r.startedAt + 20 }], `${r.participant}: muted on the second 10 ms`);
  }
  const early = server.logs.filter((l) => l.msg === 'egress socket closed before its stream started').length;
  console.log(`${early} of ${SOCKETS} sockets closed before their stream started`);
  assert.ok(early > 0, 'no socket closed before its stream started: the start queue was not exercised');
});

test.run();
