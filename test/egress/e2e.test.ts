/**
 * End to end with the real server process: two LiveKit-like egress clients stream the speech fixtures
 * (stereo 48 kHz s16le, 10 ms frames, faster than real time), one of them mutes for 0.5 s; both close with
 * no code. The recordings must hold exactly the input bytes minus the muted span, parse as WAV (tiny parser
 * and ffprobe), and the meeting, its participants (with their stats) and recordings must be in
 * GET /api/sessions/:meetingId and GET /api/sessions.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { STREAM_QUEUE_MS, ROOT, http, startTestServer, type TestServer } from '../helpers/server.js';
import {
  BYTES_PER_SEC, FRAME_BYTES, SECRET, closed, ffprobe, open, parseWav, sendMuted, sendPcm, sha256, signedEgressUrl,
  speechFixtures, waitFor,
} from './helpers.js';
import { apiHeaders, closedRecordingOf, listSessions, session } from '../helpers/sessions.js';
import { requireTools } from '../helpers/requires.js';

requireTools(['ffprobe'], 'apt-get install -y --no-install-recommends ffmpeg');

let server: TestServer;
let auth: Record<string, string>;
const [speechA, speechB] = speechFixtures();

test.before(async () => {
  server = await startTestServer({ EGRESS_SECRET: SECRET, PUBLIC_URL: 'https://meet.example.com', AUDIO_STREAM_QUEUE_MS: STREAM_QUEUE_MS });
  // The account the sessions helpers read with: carol's URL below is signed for its organization's room.
  auth = await apiHeaders(server);
});
test.after(async () => { await server.stop(); });

/** The closed recording of a participant, through GET /api/sessions. */
const recordingOf = (participant: string) => closedRecordingOf(server, participant);

test('two participants: lossless recordings minus the muted span, rows, stats and the sessions API', async () => {
  const room = 'weekly review';
  const mutedFrom = Math.floor((speechA.length * 0.4) / FRAME_BYTES) * FRAME_BYTES;
  const mutedTo = mutedFrom + 50 * FRAME_BYTES; // 0.5 s
  const alice = await open(signedEgressUrl(server, { roomName: room, participant: 'alice', trackId: 'TR_alice' }));
  await sendPcm(alice, speechA.subarray(0, mutedFrom));
  // The second participant joins the ACTIVE session of the room (no meetingId in either URL).
  const meetingId = await waitFor(async () => (await listSessions(server)).find((x) => x.roomName === room)?.meetingId, 'the meeting in GET /api/sessions');
  const bob = await open(signedEgressUrl(server, { roomName: room, participant: 'bob', trackId: 'TR_bob' }));
  await Promise.all([
    (async () => {
      await sendMuted(alice, true);
      await sendPcm(alice, speechA.subarray(mutedFrom, mutedTo));
      await sendMuted(alice, false);
      await sendPcm(alice, speechA.subarray(mutedTo));
    })(),
    sendPcm(bob, speechB),
  ]);
  const aliceClosed = closed(alice);
  const bobClosed = closed(bob);
  alice.close();
  bob.close();
  await Promise.all([aliceClosed, bobClosed]);

  const a = await waitFor(() => recordingOf('alice'), 'alice recording closed');
  const b = await waitFor(() => recordingOf('bob'), 'bob recording closed');
  const expectedA = Buffer.concat([speechA.subarray(0, mutedFrom), speechA.subarray(mutedTo)]);
  for (const [row, expected, participant, track] of [[a, expectedA, 'alice', 'TR_alice'], [b, speechB, 'bob', 'TR_bob']] as const) {
    assert.is(row.meetingId, meetingId);
    assert.is(row.status, 'COMPLETE');
    assert.match(row.closeReason ?? '', /^1005 /);
    assert.is(row.codec, 'pcm_s16le');
    assert.is(row.sampleRate, 48000);
    assert.is(row.channels, 2);
    assert.is(row.bytes, expected.length);
    assert.is(row.durationMs, Math.round((expected.length / BYTES_PER_SEC) * 1000));
    assert.is(row.path, `egress/audio/${meetingId}/${row.startedAt}_weekly_review_${participant}_${track}.wav`);
    assert.ok(row.endedAt !== null && row.endedAt >= row.startedAt);
    const file = path.join(server.storageDir, row.path);
    const wav = parseWav(file);
    assert.is(sha256(wav.data), sha256(expected), `${participant}: data chunk equals the input bytes`);
    assert.equal([wav.format, wav.channels, wav.sampleRate, wav.byteRate, wav.blockAlign, wav.bitsPerSample], [1, 2, 48000, 192000, 4, 16]);
    assert.is(wav.dataSize, expected.length);
    assert.is(wav.riffSize, wav.fileSize - 8);
    const probe = ffprobe(file);
    assert.is(probe.codec_name, 'pcm_s16le');
    assert.is(probe.sample_rate, '48000');
    assert.is(probe.channels, 2);
    assert.ok(Math.abs(Number(probe.duration) - expected.length / BYTES_PER_SEC) < 0.001);
  }
  // Muted interval on the stream clock: startedAt + bytes before the mute / byte rate.
  assert.equal(a.mutedIntervals, [{ startMs: a.startedAt + (mutedFrom / BYTES_PER_SEC) * 1000, endMs: a.startedAt + (mutedTo / BYTES_PER_SEC) * 1000 }]);
  assert.equal(b.mutedIntervals, []);

  // The meeting with both participants, each with the stats summary of their analysed audio.
  const api = await waitFor(async () => {
    const x = await session(server, meetingId);
    return x.participants.length === 2 && x.participants.every((p) => p.stats !== null) ? x : null;
  }, 'stats of both participants');
  assert.is(api.meetingId, meetingId);
  assert.is(api.roomName, room);
  assert.is(api.status, 'ACTIVE');
  assert.equal(api.participants.map((p) => p.identity), ['alice', 'bob'], 'in the order they joined');
  for (const [identity, bytes] of [['alice', expectedA.length], ['bob', speechB.length]] as const) {
    const st = api.participants.find((p) => p.identity === identity)!.stats!;
    const ms = (bytes / BYTES_PER_SEC) * 1000;
    assert.ok(st.analysedMs > ms - 300 && st.analysedMs <= ms + 1, `${identity}: analysed ${st.analysedMs} ms of ${ms} ms`);
    assert.ok(st.speechMs > 0 && st.speechMs <= st.analysedMs, `${identity}: speech ${st.speechMs} ms`);
    assert.ok(st.peakDbfs !== null && st.peakDbfs <= 0);
  }
  // Bob streamed all of en-female: his speech time is the fixture's annotated speech, give or take the VAD's
  // hangover and the annotation's frame rounding.
  const annotated = (JSON.parse(fs.readFileSync(path.join(ROOT, 'test/fixtures/en-female.json'), 'utf8')) as { segments: [number, number][] })
    .segments.reduce((t, [x, y]) => t + y - x, 0);
  const bobSpeech = api.participants.find((p) => p.identity === 'bob')!.stats!.speechMs;
  assert.ok(Math.abs(bobSpeech - annotated) <= annotated * 0.2, `bob: speech ${bobSpeech} ms, annotated ${annotated} ms`);
  assert.equal(api.recordings.map((r) => r.participant).sort(), ['alice', 'bob']);

  const list = await http('GET', `${server.url}/api/sessions`, undefined, auth);
  assert.is(list.status, 200);
  assert.ok(list.body.sessions.some((s: { meetingId: string; recordings: unknown[] }) => s.meetingId === meetingId && s.recordings.length === 2));

  // Pipeline log: JSON lines with the stream openings, engine batches and closings of this meeting.
  const logFile = path.join(server.storageDir, 'pipeline-logs', `${meetingId}.log`);
  const lines = await waitFor(() => {
    const l = fs.existsSync(logFile) ? fs.readFileSync(logFile, 'utf8').trim().split('\n').map((x) => JSON.parse(x) as { event: string; meetingId: string }) : [];
    return l.filter((x) => x.event === 'closed').length === 2 ? l : null;
  }, 'pipeline log closed lines');
  assert.ok(lines.every((l) => l.meetingId === meetingId));
  assert.is(lines.filter((l) => l.event === 'opened').length, 2);
  assert.ok(lines.some((l) => l.event === 'flush'));
  assert.ok(lines.some((l) => l.event === 'muted') && lines.some((l) => l.event === 'unmuted'));
});

test('GET /api/sessions/:meetingId is 404 for an unknown id', async () => {
  const r = await http('GET', `${server.url}/api/sessions/MT_nope`, undefined, auth);
  assert.is(r.status, 404);
  assert.is(r.body.error.code, 'not_found');
});

test('POST /api/egress/url signs a URL on PUBLIC_URL that the server accepts', async () => {
  const r = await http('POST', `${server.url}/api/egress/url`, { roomName: 'signed room', participant: 'carol', trackId: 'TR_c', sampleRate: 16000, channels: 1, groupSeconds: 1, ttlSec: 120 }, auth);
  assert.is(r.status, 200);
  const url = new URL(r.body.url);
  assert.is(url.origin, 'wss://meet.example.com');
  assert.is(url.pathname, '/egress-audio');
  const exp = Number(url.searchParams.get('exp'));
  assert.ok(Math.abs(exp - (Date.now() / 1000 + 120)) < 5);
  const ws = await open(`${server.wsUrl}${url.pathname}${url.search}`);
  const pcm = speechA.subarray(0, 16000 * 2); // 1 s of mono 16 kHz
  await sendPcm(ws, pcm, 320);
  const done = closed(ws);
  ws.close();
  await done;
  const row = await waitFor(() => recordingOf('carol'), 'carol recording');
  assert.is(row.sampleRate, 16000);
  assert.is(row.channels, 1);
  assert.is(sha256(parseWav(path.join(server.storageDir, row.path)).data), sha256(pcm));

  for (const [body, field] of [[{ participant: 'x' }, 'roomName'], [{ roomName: 'r', sampleRate: 44101 }, 'sampleRate'], [{ roomName: 'r', channels: 3 }, 'channels'], [{ roomName: 'r', ttlSec: 5 }, 'ttlSec']] as const) {
    const bad = await http('POST', `${server.url}/api/egress/url`, body, auth);
    assert.is(bad.status, 400, JSON.stringify(body));
    assert.is(bad.body.error.code, 'bad_request');
    assert.match(bad.body.error.message, new RegExp(`^${field}:`));
  }
});

test('the CLI `meetcore egress-url` prints a URL the server accepts', async () => {
  const out = execFileSync(process.execPath, ['--import', 'tsx', 'src/main.ts', 'egress-url', '--room', 'cli room', '--participant', 'dave'], {
    cwd: ROOT, encoding: 'utf8', env: { ...process.env, EGRESS_SECRET: SECRET, DATA_DIR: server.dataDir, PUBLIC_URL: 'http://meet.local:3001' },
  }).trim();
  const url = new URL(out);
  assert.is(url.origin, 'ws://meet.local:3001');
  const ws = await open(`${server.wsUrl}${url.pathname}${url.search}`);
  await sendPcm(ws, speechB.subarray(0, FRAME_BYTES * 10));
  const done = closed(ws);
  ws.close();
  await done;
  const row = await waitFor(() => recordingOf('dave'), 'dave recording');
  assert.is(row.bytes, FRAME_BYTES * 10);
});

test.run();
