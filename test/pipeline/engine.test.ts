/**
 * The native audio engine through its TypeScript face (src/pipeline): levels, VAD on the committed speech
 * fixtures, queue bounds and bursts, mute and the stream clock, recordings, segments and overlap detection.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AudioEngine, MAX_STARTED_AT_MS, type AudioStream } from '../../src/pipeline/engine.js';
import { loadAddon } from '../../src/pipeline/native.js';
import { COL, STATS_FIELDS, checkStatsFields, type StatsRows } from '../../src/pipeline/stats.js';
import { PUSH_OK, PUSH_OVER_STREAM_BOUND, type ClosedEvent, type EngineEvent, type OverlapEvent, type SegmentEvent, type StatsEvent, type StreamOptions } from '../../src/pipeline/types.js';
import { FIXTURES, concat, gain, intersectionMs, loadFixture, silence, sine, toMonoBytes, talkSpurts, toStereoBytes, truthFrames, whiteNoise } from '../helpers/fixtures.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'meetcore-pipeline-'));
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * Parse a canonical 44-byte PCM WAV header and check every field against `expect` (sample rate in Hz,
 * channels; s16le): format 1, fmt size 16, byte rate (bytes per second), block align (bytes per sample frame),
 * 16 bits, RIFF size = file size - 8 and data size = the bytes after the header.
 */
function parseWav(file: Buffer, expect: { sampleRate: number; channels: number }) {
  assert.is(file.toString('ascii', 0, 4), 'RIFF');
  assert.is(file.toString('ascii', 8, 16), 'WAVEfmt ');
  assert.is(file.toString('ascii', 36, 40), 'data');
  const h = {
    riffSize: file.readUInt32LE(4), fmtSize: file.readUInt32LE(16), format: file.readUInt16LE(20), channels: file.readUInt16LE(22),
    sampleRate: file.readUInt32LE(24), byteRate: file.readUInt32LE(28), blockAlign: file.readUInt16LE(32), bits: file.readUInt16LE(34),
    dataSize: file.readUInt32LE(40), data: file.subarray(44),
  };
  assert.is(h.fmtSize, 16, 'fmt chunk size');
  assert.is(h.format, 1, 'format: PCM');
  assert.is(h.channels, expect.channels, 'channels');
  assert.is(h.sampleRate, expect.sampleRate, 'sample rate');
  assert.is(h.byteRate, expect.sampleRate * expect.channels * 2, 'byte rate');
  assert.is(h.blockAlign, expect.channels * 2, 'block align');
  assert.is(h.bits, 16, 'bits per sample');
  assert.is(h.dataSize, file.length - 44, 'data size');
  assert.is(h.riffSize, file.length - 8, 'RIFF size');
  return h;
}
const STEREO_48K = { sampleRate: 48000, channels: 2 };

/** Whether ffprobe is on PATH (`ffprobe -version` runs). */
function hasFfprobe(): boolean {
  try {
    execFileSync('ffprobe', ['-version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Run one engine over streams fed by `feed` (awaited: it may close some streams and wait for them), collect
 * every event until all streams are closed. The feeds push whole fixtures at once (far faster than real
 * time), so the rings default to 60 s here.
 */
async function run(feed: (open: (o: Partial<StreamOptions>) => AudioStream) => void | Promise<void>, engineOptions = {}): Promise<(EngineEvent | StatsEvent)[]> {
  const events: (EngineEvent | StatsEvent)[] = [];
  const engine = new AudioEngine({ threads: 2, maxQueueMs: 60_000, ...engineOptions }, (batch, stats) => events.push(...stats.toObjects(), ...batch));
  const streams: AudioStream[] = [];
  await feed((o) => {
    const s = engine.openStream({ meetingId: 'm1', participantId: 'p1', sampleRate: 48000, channels: 2, groupSeconds: 2, startedAtMs: 1_000_000, ...o });
    streams.push(s);
    return s;
  });
  for (const s of streams) s.close();
  await Promise.all(streams.map((s) => s.closed));
  engine.close();
  return events;
}

function pushFrames(s: AudioStream, bytes: Uint8Array, frameBytes = 1920): void {
  for (let o = 0; o < bytes.length; o += frameBytes) s.push(bytes.subarray(o, Math.min(o + frameBytes, bytes.length)));
}

test('RMS of a full-scale and a -20 dBFS sine within 0.1 dB of theory', async () => {
  for (const [peak, expected] of [[0, -3.0103], [-20, -23.0103]] as const) {
    const events = await run((open) => pushFrames(open({}), toStereoBytes(sine(3000, 1000, peak))));
    const stats = events.filter((e): e is StatsEvent => e.type === 'stats' && e.samples > 0);
    assert.ok(stats.length >= 8, 'stats at least every 250 ms of stream time');
    for (const s of stats) assert.ok(Math.abs(s.rmsDbfs! - expected) < 0.1, `rms ${s.rmsDbfs} vs ${expected}`);
  }
});

test('VAD agrees with the annotated speech of every fixture (≥ 90 %), also 30 dB quieter', () => {
  const addon = loadAddon();
  for (const name of FIXTURES) {
    const f = loadFixture(name);
    for (const db of [0, -30]) {
      const r = addon.testing.analyzeFrames(toStereoBytes(gain(f.samples, db)), 48000, 2);
      const truth = truthFrames(f.segments, r.speaking.length);
      let agree = 0;
      for (let i = 0; i < truth.length; i++) agree += Number(truth[i] === r.speaking[i]);
      const ratio = agree / truth.length;
      assert.ok(ratio >= 0.9, `${name} at ${db} dB: agreement ${ratio.toFixed(3)}`);
      assert.ok(r.speaking.reduce((a, v) => a + v, 0) > 100, `${name} at ${db} dB: speech found`);
    }
  }
});

test('VAD stays quiet on digital silence and on white noise at -40 dBFS', () => {
  const addon = loadAddon();
  const quiet = addon.testing.analyzeFrames(toStereoBytes(silence(5000)), 48000, 2);
  assert.is(quiet.speaking.reduce((a, v) => a + v, 0), 0);
  const noise = addon.testing.analyzeFrames(toStereoBytes(whiteNoise(10_000, -40)), 48000, 2);
  assert.is(noise.speaking.reduce((a, v) => a + v, 0), 0);
  // The VAD's floor is measured on the speech band: averaging 8 samples of white noise divides its power by 8
  // (-9 dB), the 250 Hz high-pass takes a little more, and the floor follows the quieter of the noisy 10 ms
  // frame energies (60 samples each at the 6 kHz block rate), about 2 dB under their mean.
  const floor = noise.noiseFloorDbfs[500]!;
  assert.ok(floor <= -40 - 9 && floor >= -40 - 9 - 4, `floor ${floor}`);
  // Noise that starts abruptly after silence is taken for speech for about a second at most.
  const step = addon.testing.analyzeFrames(toStereoBytes(concat(silence(1000), whiteNoise(10_000, -40))), 48000, 2);
  assert.ok(step.speaking.reduce((a, v) => a + v, 0) <= 110);
  assert.is(step.speaking.slice(300).reduce((a, v) => a + v, 0), 0);
});

test('odd byte counts and 4097-byte pushes give the same recording and analysis as 10 ms frames', async () => {
  const pcm = toStereoBytes(loadFixture('en-male').samples);
  const results: { file: Buffer; speech: number; closed: ClosedEvent }[] = [];
  for (const sizes of [[1920], [4097], [1, 3, 7, 4096, 999]]) {
    const file = path.join(tmp, `chunks-${sizes.join('-')}.wav`);
    let closed!: ClosedEvent;
    const events = await run((open) => {
      const s = open({ recordingPath: file });
      let o = 0;
      for (let i = 0; o < pcm.length; i++) {
        const n = sizes[i % sizes.length]!;
        s.push(pcm.subarray(o, o + n));
        o += n;
      }
      void s.closed.then((c) => { closed = c; });
    });
    const speech = events.filter((e): e is StatsEvent => e.type === 'stats').reduce((a, e) => a + e.speechMs3s, 0);
    results.push({ file: fs.readFileSync(file), speech, closed });
  }
  for (const r of results) {
    const wav = parseWav(r.file, STEREO_48K);
    assert.is(sha(wav.data), sha(pcm));
    assert.is(wav.dataSize, pcm.length);
    assert.is(wav.riffSize, pcm.length + 36);
    assert.is(r.closed.recordedBytes, pcm.length);
    assert.is(r.speech, results[0]!.speech);
  }
});

test('queue bound: a push past the stream bound is lost and counted, so is every later one; the clock advances; closed lists the gap', async () => {
  const chunk = new Uint8Array(48000 * 4);  // 1 s of stereo
  let closed!: ClosedEvent;
  await run((open) => {
    const s = open({ maxQueueMs: 500 });  // exactly 96000 bytes
    assert.is(s.queueBoundBytes, 96000);
    assert.is(s.push(chunk.subarray(0, 1920)), PUSH_OK);
    assert.is(s.push(chunk), PUSH_OVER_STREAM_BOUND);  // 192000 bytes never fit
    assert.is(s.overflowBytes, chunk.length);
    assert.is(s.push(chunk.subarray(0, 1920)), PUSH_OVER_STREAM_BOUND);  // lost too: no hole in the middle
    void s.closed.then((c) => { closed = c; });
  });
  assert.is(closed.overflowBytes, chunk.length + 1920);
  assert.is(closed.recordedBytes, 0);  // run() records nothing; the gap is at the data offset the loss began
  assert.equal(closed.gaps, [{ offset: 1920, bytes: chunk.length + 1920 }]);
  assert.is(closed.endMs, 1_000_000 + 1020);
});

test('burst: a whole recording pushed at once (far more than a second) is recorded byte for byte', async () => {
  const pcm = toStereoBytes(concat(loadFixture('pt-br').samples, loadFixture('en-female').samples));
  const file = path.join(tmp, 'burst.wav');
  const engine = new AudioEngine({ threads: 1 }, () => {});
  const s = engine.openStream({ meetingId: 'm', participantId: 'p', sampleRate: 48000, channels: 2, groupSeconds: 2, startedAtMs: 0, recordingPath: file });
  assert.ok(pcm.length > 10 * 192000, 'input is many seconds');
  for (let o = 0; o < pcm.length; o += 1920) assert.is(s.push(pcm.subarray(o, o + 1920)), PUSH_OK);
  s.close();
  const closed = await s.closed;
  engine.close();
  assert.is(closed.overflowBytes, 0);
  assert.equal(closed.gaps, []);
  assert.is(sha(parseWav(fs.readFileSync(file), STEREO_48K).data), sha(pcm));
});

test('mute: bytes pushed while muted are not recorded, the stream clock advances over them', async () => {
  const pcm = toStereoBytes(loadFixture('en-male').samples);
  const third = Math.floor(pcm.length / 3 / 4) * 4;
  const file = path.join(tmp, 'mute.wav');
  let closed!: ClosedEvent;
  const events = await run((open) => {
    const s = open({ recordingPath: file });
    pushFrames(s, pcm.subarray(0, third));
    s.setMuted(true);
    pushFrames(s, pcm.subarray(third, 2 * third));
    s.setMuted(false);
    pushFrames(s, pcm.subarray(2 * third));
    void s.closed.then((c) => { closed = c; });
  });
  const wav = parseWav(fs.readFileSync(file), STEREO_48K);
  assert.is(sha(wav.data), sha(Buffer.concat([pcm.subarray(0, third), pcm.subarray(2 * third)])));
  assert.is(closed.endMs, 1_000_000 + (pcm.length / 4 / 48));
  const muted = events.filter((e): e is StatsEvent => e.type === 'stats' && e.muted);
  assert.ok(muted.length > 0, 'stats flow while muted');
  assert.ok(muted.every((e) => !e.speaking && e.speechStartedAtMs === null));
  // ffprobe's reading of the file (when installed; a failing ffprobe fails the test, a missing one says so).
  if (hasFfprobe()) {
    const probe = execFileSync('ffprobe', ['-v', 'error', '-show_entries', 'stream=sample_rate,channels,codec_name', '-of', 'json', file], { encoding: 'utf8' });
    assert.equal(JSON.parse(probe).streams[0], { codec_name: 'pcm_s16le', sample_rate: '48000', channels: 2 });
  } else {
    console.log('  skipped: ffprobe check of the mute recording (ffprobe not found; apt-get install ffmpeg)');
  }
});

test('mute toggles between pushes of partial sample frames keep the analysis in step with the recording', async () => {
  // 8 kHz mono: 2 bytes = one sample = 0.125 ms. Byte counts below are pushed; `muted` bytes are not recorded.
  const cases: { steps: (s: AudioStream) => void; recorded: number; endMs: number }[] = [
    // push 1 byte, mute, unmute, push 1 byte: one whole sample (the carried byte was dropped: endMs 0).
    { steps: (s) => { s.push(new Uint8Array(1)); s.setMuted(true); s.setMuted(false); s.push(new Uint8Array(1)); }, recorded: 2, endMs: 0.125 },
    // 1 byte, mute, 3 muted bytes, unmute, 1 byte: 5 bytes of clock = 2 samples + 1 carried byte.
    { steps: (s) => { s.push(new Uint8Array(1)); s.setMuted(true); s.push(new Uint8Array(3)); s.setMuted(false); s.push(new Uint8Array(1)); }, recorded: 2, endMs: 0.25 },
    // mute, 1 muted byte, unmute, 1 byte: the clock has 2 bytes = 1 sample (it lost the gap's odd byte: 0).
    { steps: (s) => { s.setMuted(true); s.push(new Uint8Array(1)); s.setMuted(false); s.push(new Uint8Array(1)); }, recorded: 1, endMs: 0.125 },
    // 3 bytes, mute/unmute twice, 1 byte: 2 samples.
    { steps: (s) => { s.push(new Uint8Array(3)); s.setMuted(true); s.setMuted(false); s.setMuted(true); s.setMuted(false); s.push(new Uint8Array(1)); }, recorded: 4, endMs: 0.25 },
  ];
  for (const [i, c] of cases.entries()) {
    const file = path.join(tmp, `partial-mute-${i}.wav`);
    let closed!: ClosedEvent;
    await run((open) => {
      const s = open({ sampleRate: 8000, channels: 1, startedAtMs: 0, recordingPath: file });
      c.steps(s);
      void s.closed.then((e) => { closed = e; });
    });
    assert.is(closed.recordedBytes, c.recorded, `case ${i}: recordedBytes`);
    assert.is(closed.endMs, c.endMs, `case ${i}: endMs`);
    assert.is(parseWav(fs.readFileSync(file), { sampleRate: 8000, channels: 1 }).dataSize, c.recorded, `case ${i}: WAV data size`);
  }
});

test('overlap: a participant muted for longer than the 163.84 s history brings back no stale speech', async () => {
  // Alice speaks (fixture, speech 0.3..7.9 s), is muted for 180 s, then is silent for 2 s; she is processed
  // first. Bob speaks from 160.3 s on. Alice's old speech used to reappear 163.84 s later (164.1..171.7 s),
  // where Bob's speech made a false overlap with Alice named as the one interrupted.
  const events: (EngineEvent | StatsEvent)[] = [];
  const engine = new AudioEngine({ threads: 1, maxQueueMs: 120_000 }, (b, stats) => events.push(...stats.toObjects(), ...b));
  const base = { meetingId: 'm', sampleRate: 48000 as const, channels: 1 as const, groupSeconds: 2, startedAtMs: 0 };
  const speech = loadFixture('en-male').samples;
  const alice = engine.openStream({ ...base, participantId: 'alice' });
  pushFrames(alice, toMonoBytes(speech), 960);
  alice.setMuted(true);
  pushFrames(alice, new Uint8Array(48000 * 2 * 180), 48000 * 2);
  alice.setMuted(false);
  pushFrames(alice, toMonoBytes(silence(2000)), 960);
  const aliceEndMs = (speech.length / 48) + 180_000 + 2000;
  const deadline = Date.now() + 10_000;
  // Let Alice's worker reach her last slots before Bob's frames arrive (stats every 250 ms of stream time).
  while (!events.some((e) => e.type === 'stats' && e.streamId === alice.id && e.tMs >= aliceEndMs - 500) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 10));
  }
  const bob = engine.openStream({ ...base, participantId: 'bob' });
  bob.setMuted(true);
  pushFrames(bob, new Uint8Array(48000 * 2 * 160), 48000 * 2);
  bob.setMuted(false);
  pushFrames(bob, toMonoBytes(concat(speech, silence(2000))), 960);
  bob.close();  // Bob first: a closed Alice would leave the timeline before Bob's frames reach her slots
  await bob.closed;
  alice.close();
  await alice.closed;
  engine.close();
  assert.ok(events.some((e) => e.type === 'stats' && e.streamId === bob.id && e.speaking), 'Bob speaks');
  assert.equal(events.filter((e) => e.type === 'overlap'), []);
});

test('startedAtMs outside 0..MAX_STARTED_AT_MS (Unix ms, before the year 10000) is a RangeError naming the option', () => {
  const engine = new AudioEngine({ threads: 1 }, () => {});
  const base = { meetingId: 'm', participantId: 'p', sampleRate: 48000 as const, channels: 2 as const, groupSeconds: 2 };
  try {
    for (const bad of [1e300, -1, MAX_STARTED_AT_MS + 1, 2 ** 53, -1e300]) {
      assert.throws(() => engine.openStream({ ...base, startedAtMs: bad }), (e: unknown) => e instanceof RangeError && /startedAtMs/.test((e as Error).message), String(bad));
    }
    assert.throws(() => engine.openStream({ ...base, startedAtMs: Number.NaN }), TypeError);
    for (const ok of [0, MAX_STARTED_AT_MS, Date.now()]) engine.openStream({ ...base, startedAtMs: ok }).close();
  } finally {
    engine.close();  // also when an assertion failed: an open engine keeps the process alive
  }
});

test('a stream starting at MAX_STARTED_AT_MS reports exact times from there (the largest accepted start)', async () => {
  let closed!: ClosedEvent;
  const events = await run((open) => {
    const s = open({ startedAtMs: MAX_STARTED_AT_MS, sampleRate: 8000, channels: 1 });
    pushFrames(s, toMonoBytes(sine(1000, 440, -10, 8000)), 160);
    void s.closed.then((e) => { closed = e; });
  });
  const stats = events.filter((e): e is StatsEvent => e.type === 'stats');
  assert.ok(stats.length > 0 && stats.every((e) => e.tMs >= MAX_STARTED_AT_MS && e.tMs <= MAX_STARTED_AT_MS + 1000));
  assert.is(closed.endMs, MAX_STARTED_AT_MS + 1000);
});

test('segments: mono WAVs of groupSeconds with stream-clock times', async () => {
  const events = await run((open) => pushFrames(open({ segments: true, groupSeconds: 1.5, channels: 2 }), toStereoBytes(loadFixture('en-female').samples)));
  const segs = events.filter((e): e is SegmentEvent => e.type === 'segment');
  assert.ok(segs.length >= 5);
  segs.forEach((s, i) => {
    assert.is(s.index, i);
    const wav = parseWav(Buffer.from(s.wav), { sampleRate: 48000, channels: 1 });
    assert.is(wav.channels, 1);
    assert.is(wav.sampleRate, 48000);
    if (i < segs.length - 1) {
      assert.is(wav.dataSize, 1.5 * 48000 * 2);
      assert.is(s.endMs - s.startMs, 1500);
    }
  });
  assert.is(segs[0]!.startMs, 1_000_000);
});

/**
 * The interruption meeting of the overlap tests: Alice (en-male, then 6 s of silence); Bob starts 1 s before
 * the end of Alice's last phrase (his fixture from 300 ms on: its speech starts there); the host (excluded)
 * plays Bob's audio. `check` asserts: one interruption, Bob the interrupter, overlapMs the bridged truth, and
 * every overlap with the host reported, flagged.
 */
const interruption = (() => {
  const a = loadFixture('en-male');
  const b = loadFixture('en-female');
  const bobStartMs = 6900;
  return {
    alice: toStereoBytes(concat(a.samples, silence(6000))),
    bob: toStereoBytes(concat(silence(bobStartMs - 300), b.samples.subarray(300 * 48))),
    check(events: (EngineEvent | StatsEvent)[]) {
      const overlaps = events.filter((e): e is OverlapEvent => e.type === 'overlap');
      const starts = overlaps.filter((e) => e.phase === 'start' && !e.excluded);
      assert.is(starts.length, 1, JSON.stringify(overlaps));
      assert.is(starts[0]!.laterParticipantId, 'bob');
      assert.equal(starts[0]!.participants, ['alice', 'bob']);
      const end = overlaps.find((e) => e.phase === 'end' && !e.excluded)!;
      // Truth: the intersection of both talk spurts (annotated speech, pauses under 300 ms bridged); Bob's
      // fixture time τ ≥ 300 ms plays at τ + bobStartMs - 600.
      const truth = intersectionMs(talkSpurts(a.segments, 0), talkSpurts(b.segments, bobStartMs - 600));
      assert.ok(Math.abs(end.overlapMs - truth) <= 150, `overlapMs ${end.overlapMs} vs truth ${truth}`);
      assert.ok(overlaps.some((e) => e.participants.includes('host')), JSON.stringify(overlaps));
      for (const e of overlaps) assert.is(e.excluded, e.participants.includes('host'));
    },
  };
})();

test('overlap: an interruption is reported once with the interrupter (overlapMs = the bridged truth); a backchannel is not; a host\'s are flagged', async () => {
  const a = loadFixture('en-male');
  const events = await run((open) => {
    const sa = open({ participantId: 'alice' });
    const sb = open({ participantId: 'bob' });
    const host = open({ participantId: 'host', excluded: true });
    // Uneven, faster than real time: all of Alice first, then Bob and the host.
    pushFrames(sa, interruption.alice);
    pushFrames(sb, interruption.bob);
    pushFrames(host, interruption.bob);
  });
  interruption.check(events);

  const short = await run((open) => {
    const sa = open({ participantId: 'alice' });
    const sb = open({ participantId: 'bob' });
    pushFrames(sa, toStereoBytes(concat(a.samples, silence(1000))));
    pushFrames(sb, toStereoBytes(concat(silence(2000), sine(200, 220, -10), silence(7000))));
  });
  assert.is(short.filter((e) => e.type === 'overlap').length, 0);
});

test('overlap: a stream closed before the others\' audio is processed still counts for them (a burst after a network stall)', async () => {
  const events = await run(async (open) => {
    const sa = open({ participantId: 'alice' });
    const sb = open({ participantId: 'bob' });
    const host = open({ participantId: 'host', excluded: true });
    // Alice's stream is processed and closed before any audio of Bob and the host arrives.
    pushFrames(sa, interruption.alice);
    sa.close();
    await sa.closed;
    pushFrames(sb, interruption.bob);
    pushFrames(host, interruption.bob);
  });
  interruption.check(events);
});
test.run();
