/**
 * Host feedback from real speech (the committed espeak-ng fixtures) streamed through /egress-audio into the
 * real server, faster than real time: overlap (interruption, turn-taking, backchannel, 15 dB SNR noise),
 * volume_low, volume_high, silence_prolonged, monologue_prolonged, hosts never judged, delivery to a host's
 * /ws subscription, pt-BR text.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { concat, gain, intersectionMs, loadFixture, mix, silence, talkSpurts, whiteNoise } from '../helpers/fixtures.js';
import { STREAM_QUEUE_MS, startTestServer, type TestServer } from '../helpers/server.js';
import { apiAccount } from '../helpers/sessions.js';
import { SECRET } from '../egress/helpers.js';
import { API_KEY, API_SECRET, sendEvent } from '../livekit/double.js';
import { hostSubscription, storedFeedback, streamMeeting, type StoredFeedback } from './meeting.js';

let server: TestServer;
let auth: Record<string, string>;
let accessToken: string;
let n = 0;
const meeting = () => `MT_fb${process.pid}_${++n}`;

const male = loadFixture('en-male');
const female = loadFixture('en-female');

test.before(async () => {
  // LiveKit keys for its webhooks (hosts); no egress is started by them here, the test streams itself.
  server = await startTestServer({ EGRESS_SECRET: SECRET, LIVEKIT_URL: 'http://127.0.0.1:9', LIVEKIT_API_KEY: API_KEY, LIVEKIT_API_SECRET: API_SECRET, AUTO_EGRESS: 'false', AUDIO_STREAM_QUEUE_MS: STREAM_QUEUE_MS });
  // The server's first account: an owner of the first organization, which hosts the meetings of no organization here.
  const owner = await apiAccount(server);
  auth = owner.headers;
  accessToken = owner.accessToken;
});
test.after(async () => { await server.stop(); });

const of = (events: StoredFeedback[], kind: string) => events.filter((e) => e.kind === kind);

/** RMS in dBFS of the annotated speech of a fixture. */
function speechRmsDbfs(f: typeof male): number {
  let sum = 0, count = 0;
  for (const [a, b] of f.segments) for (let i = a * 48; i < b * 48; i++) { sum += f.samples[i]! ** 2; count++; }
  return 20 * Math.log10(Math.sqrt(sum / count) / 32767);
}

/**
 * Alice talks; Bob starts at `bobStartMs` (his fixture from 300 ms on: fixture time τ plays at τ + bobStartMs -
 * 600); truth = the intersection of their talk spurts (annotated speech, pauses under 300 ms bridged).
 */
function interruption(bobStartMs = 6900) {
  const alice = concat(male.samples, silence(6000));
  const bob = concat(silence(bobStartMs - 300), female.samples.subarray(300 * 48));
  const truth = intersectionMs(talkSpurts(male.segments, 0), talkSpurts(female.segments, bobStartMs - 600));
  return { alice, bob, truth };
}

test('an interruption gives one speech_overlap about the interrupter, overlapMs within 150 ms, delivered to the host', async () => {
  const id = meeting();
  // LiveKit opens the meeting first: a feedback room can only be joined for a meeting that exists.
  assert.is((await sendEvent(server.url, { event: 'room_started', room: { sid: id, name: `room-${id}` } })).status, 200);
  const host = await hostSubscription(server, id, accessToken);
  const { alice, bob, truth } = interruption();
  await streamMeeting(server, id, [{ participant: 'alice', pcm: alice }, { participant: 'bob', pcm: bob }]);
  const overlaps = of(await storedFeedback(server, id, auth), 'speech_overlap');
  assert.is(overlaps.length, 1, JSON.stringify(overlaps));
  const o = overlaps[0]!;
  assert.is(o.participantId, 'bob');
  assert.is(o.severity, 'warning');
  assert.equal(o.metadata.participants, ['alice', 'bob']);
  assert.ok(Math.abs(o.metadata.overlapMs - truth) <= 150, `overlapMs ${o.metadata.overlapMs} vs truth ${truth}`);
  assert.match(o.message, /bob started speaking over alice/);
  assert.ok(o.tips.length > 0);
  const live = host.received.filter((m) => m.type === 'feedback' && m.kind === 'speech_overlap');
  assert.is(live.length, 1, 'the host got it live');
  assert.is(live[0]!.id, o.id);
  host.client.close();
});

test('clean turn-taking with a gap gives no speech_overlap', async () => {
  const id = meeting();
  const alice = concat(male.samples, silence(10_000));
  const bob = concat(silence(male.durationMs + 800), female.samples);
  await streamMeeting(server, id, [{ participant: 'alice', pcm: alice }, { participant: 'bob', pcm: bob }]);
  assert.is(of(await storedFeedback(server, id, auth), 'speech_overlap').length, 0);
});

test('a 200 ms backchannel during speech gives no speech_overlap', async () => {
  const id = meeting();
  const alice = male.samples;
  const yes = female.samples.subarray(4400 * 48, 4600 * 48);   // inside the annotated speech [4350, 6390)
  const bob = concat(silence(3300), yes, silence(male.durationMs - 3500));
  await streamMeeting(server, id, [{ participant: 'alice', pcm: alice }, { participant: 'bob', pcm: bob }]);
  assert.is(of(await storedFeedback(server, id, auth), 'speech_overlap').length, 0);
});

test('the interruption mixed with noise at 15 dB SNR still gives the overlap', async () => {
  const id = meeting();
  const { alice, bob, truth } = interruption();
  const noiseDb = Math.min(speechRmsDbfs(male), speechRmsDbfs(female)) - 15;
  await streamMeeting(server, id, [
    { participant: 'alice', pcm: mix(alice, whiteNoise(alice.length / 48, noiseDb, 1)) },
    { participant: 'bob', pcm: mix(bob, whiteNoise(bob.length / 48, noiseDb, 2)) },
  ]);
  const overlaps = of(await storedFeedback(server, id, auth), 'speech_overlap');
  assert.is(overlaps.length, 1, JSON.stringify(overlaps));
  assert.is(overlaps[0]!.participantId, 'bob');
  // In noise the VAD misses some quiet speech frames, so the measured run can be shorter than the truth.
  const ms = overlaps[0]!.metadata.overlapMs;
  assert.ok(ms >= 500 && ms <= truth + 150, `overlapMs ${ms} vs truth ${truth}`);
});

test('speech attenuated 30 dB gives volume_low; boosted until it clips gives volume_high; normal speech neither', async () => {
  const id = meeting();
  await streamMeeting(server, id, [
    { participant: 'quiet', pcm: gain(male.samples, -30) },
    { participant: 'loud', pcm: gain(female.samples, 30) },
    { participant: 'normal', pcm: concat(silence(10_000), male.samples) },
  ]);
  const events = await storedFeedback(server, id, auth);
  const low = of(events, 'volume_low');
  assert.ok(low.length >= 1 && low.every((e) => e.participantId === 'quiet'), JSON.stringify(low));
  assert.ok(low[0]!.metadata.rmsDbfs < -38, `rmsDbfs ${low[0]!.metadata.rmsDbfs}`);
  const high = of(events, 'volume_high');
  assert.ok(high.length >= 1 && high.every((e) => e.participantId === 'loud'), JSON.stringify(high));
  assert.ok(high[0]!.metadata.clippedRatio > 0.01 || high[0]!.metadata.rmsDbfs > -8);
  assert.ok(!events.some((e) => e.participantId === 'normal' && e.kind.startsWith('volume')));
});

test('a sentence then 40 s of near-silence gives silence_prolonged after 30 s', async () => {
  const id = meeting();
  await streamMeeting(server, id, [{ participant: 'alice', pcm: concat(male.samples, whiteNoise(40_000, -70, 7)) }]);
  const events = of(await storedFeedback(server, id, auth), 'silence_prolonged');
  assert.ok(events.length >= 1, 'silence_prolonged');
  const e = events[0]!;
  const lastSpeech = male.segments.at(-1)![1];
  assert.ok(Math.abs(e.window.start - (e.ts - e.metadata.silentMs)) <= 1);
  assert.ok(e.metadata.silentMs >= 30_000 && e.metadata.silentMs < 31_000, `silentMs ${e.metadata.silentMs}`);
  // Relative to the stream start: the silence began at the end of the last annotated phrase (± VAD smoothing).
  const started = e.ts - (lastSpeech + e.metadata.silentMs);
  assert.ok(Math.abs(events[0]!.window.start - (started + lastSpeech)) < 400);
});

test('100 s of one speaker gives monologue_prolonged after 90 s; a listener who stays silent does not break it', async () => {
  const id = meeting();
  const parts: Int16Array[] = [];
  while (parts.length * male.durationMs < 100_000) parts.push(male.samples);
  const talk = concat(...parts);
  await streamMeeting(server, id, [{ participant: 'alice', pcm: talk }, { participant: 'bob', pcm: whiteNoise(talk.length / 48, -70, 9) }]);
  const events = of(await storedFeedback(server, id, auth), 'monologue_prolonged');
  assert.ok(events.length >= 1, 'monologue_prolonged');
  assert.ok(events.every((e) => e.participantId === 'alice'));
  assert.ok(events[0]!.metadata.floorMs >= 90_000 && events[0]!.metadata.floorMs < 91_000, `floorMs ${events[0]!.metadata.floorMs}`);
  // The same kind for the same participant at most every 15 s.
  for (let i = 1; i < events.length; i++) assert.ok(events[i]!.ts - events[i - 1]!.ts >= 15_000);
});

test("a host's audio never yields feedback about the host, nor an overlap with the host", async () => {
  const id = meeting();
  // The host's role arrives as LiveKit sends it: room_started, then participant_joined with host metadata.
  const room = { sid: id, name: `room-${id}`, creationTime: BigInt(Math.floor(Date.now() / 1000)) };
  assert.is((await sendEvent(server.url, { event: 'room_started', room })).status, 200);
  const doctor = { sid: 'PA_doc', identity: 'doctor', name: 'Dr. Host', metadata: JSON.stringify({ roles: ['host'] }), joinedAt: BigInt(Math.floor(Date.now() / 1000)) };
  assert.is((await sendEvent(server.url, { event: 'participant_joined', room, participant: doctor })).status, 200);
  const { alice, bob } = interruption();
  await streamMeeting(server, id, [
    { participant: 'patient', pcm: alice },
    { participant: 'doctor', pcm: gain(bob, -30) },   // interrupts, and too quietly
  ]);
  const events = await storedFeedback(server, id, auth);
  assert.is(events.filter((e) => e.participantId === 'doctor').length, 0, JSON.stringify(events));
  assert.is(of(events, 'speech_overlap').length, 0);
});

test('FEEDBACK_LOCALE=pt-BR: message and tips in Portuguese; thresholds from config', async () => {
  const pt = await startTestServer({ EGRESS_SECRET: SECRET, FEEDBACK_LOCALE: 'pt-BR', FEEDBACK_VOLUME_LOW_DBFS: '-20', AUDIO_STREAM_QUEUE_MS: STREAM_QUEUE_MS });
  try {
    const ptAuth = (await apiAccount(pt)).headers;
    const id = meeting();
    await streamMeeting(pt, id, [{ participant: 'ana', pcm: gain(male.samples, -6) }]);
    const low = of(await storedFeedback(pt, id, ptAuth), 'volume_low');
    assert.ok(low.length >= 1, 'at -20 dBFS threshold, speech 6 dB down is low');
    assert.match(low[0]!.message, /ana está difícil de ouvir/);
    assert.match(low[0]!.tips[0]!, /microfone/);
    assert.is(low[0]!.metadata.thresholdDbfs, -20);
  } finally {
    await pt.stop();
  }
});

test.run();
