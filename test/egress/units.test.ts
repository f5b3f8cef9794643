/** Pure parts of the egress area: name sanitizing, WAV repair, stats folding, query checks. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PathEscapeError, audioMeetingDir, recordingFileName, resolveUnder, safeNamePart } from '../../src/egress/names.js';
import { checkEgressAudioQuery, egressAudioUrl } from '../../src/egress/query.js';
import { StatsSummaries } from '../../src/egress/stats.js';
import { parseWavHeader, repairWavFile, wavHeader } from '../../src/egress/wav.js';
import type { StatsEvent } from '../../src/pipeline/types.js';
import { openDatabase } from '../../src/store/db.js';
import { SessionStore } from '../../src/store/sessions.js';
import { StatsStore } from '../../src/store/stats.js';

test('safeNamePart keeps [A-Za-z0-9._-], maps the rest to _, caps at 64, never . or ..', () => {
  assert.is(safeNamePart('alice.B-2_x'), 'alice.B-2_x');
  assert.is(safeNamePart('../etc/passwd'), '.._etc_passwd');
  assert.is(safeNamePart('a\u0000b c/é'), 'a_b_c__');
  assert.is(safeNamePart('.'), '_');
  assert.is(safeNamePart('..'), '__');
  assert.is(safeNamePart(''), '_');
  assert.is(safeNamePart('x'.repeat(100)).length, 64);
  assert.is(recordingFileName(1700000000123, 'room 1', '../p', '', 2), '1700000000123_room_1_.._p__-2.wav');
});

test('resolveUnder refuses anything that leaves the root', () => {
  assert.throws(() => resolveUnder('/srv/storage', '..', 'x'), (e: unknown) => e instanceof PathEscapeError);
  assert.throws(() => resolveUnder('/srv/storage', '/etc/passwd'), (e: unknown) => e instanceof PathEscapeError);
  assert.throws(() => resolveUnder('/srv/storage', '.'), (e: unknown) => e instanceof PathEscapeError);
  assert.is(audioMeetingDir('/srv/storage', '..'), '/srv/storage/egress/audio/__');
});

test('repairWavFile sets sizes from the length, cuts a partial frame, writes a header when there is none', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meetcore-wav-'));
  const file = path.join(dir, 'a.wav');
  const data = Buffer.alloc(4000, 7);
  fs.writeFileSync(file, Buffer.concat([wavHeader(48000, 2, 100), data, Buffer.from([1, 2, 3])]));
  const r = repairWavFile(file)!;
  assert.equal(r, { changed: true, dataBytes: 4000, truncatedBytes: 3, rewroteHeader: false });
  const h = parseWavHeader(fs.readFileSync(file))!;
  assert.equal([h.dataBytes, h.riffSize, h.channels, h.sampleRate, h.blockAlign], [4000, 4036, 2, 48000, 4]);
  assert.is(fs.statSync(file).size, 4044);
  assert.equal(repairWavFile(file), { changed: false, dataBytes: 4000, truncatedBytes: 0, rewroteHeader: false });

  const bare = path.join(dir, 'b.wav');
  fs.writeFileSync(bare, Buffer.alloc(10));
  assert.is(repairWavFile(bare), null);
  assert.equal(repairWavFile(bare, { sampleRate: 16000, channels: 1 }), { changed: true, dataBytes: 0, truncatedBytes: 0, rewroteHeader: true });
  assert.equal(parseWavHeader(fs.readFileSync(bare))!.sampleRate, 16000);
});

test('StatsSummaries: exact cumulative speech from the 10 s coverage window, one row per participant', () => {
  const db = openDatabase(':memory:');
  new SessionStore(db).open({ roomName: 'r', meetingId: 'M' });
  const store = new StatsStore(db);
  const sums = new StatsSummaries(store);
  const t0 = 1_000_000;
  sums.addStream(1, 48000, t0, 'M', 'p');
  // 25 s of 10 ms frames with an irregular speech pattern; a report every 25 frames (250 ms), as the engine does.
  const speech: number[] = Array.from({ length: 2500 }, (_, i) => (i % 37 < 20 && i % 300 < 240 ? 1 : 0));
  const report = (frames: number, extra: Partial<StatsEvent> = {}): StatsEvent => {
    const window = speech.slice(Math.max(0, frames - 1000), frames).reduce((a, b) => a + b, 0);
    return {
      type: 'stats', streamId: 1, meetingId: 'M', participantId: 'p', tMs: t0 + frames * 10, speaking: speech[frames - 1] === 1, muted: false,
      rmsDbfs: -30, peakDbfs: -10, clippedSamples: 1, samples: 480 * 25, speechCoverage10s: window / 1000, speechMs3s: 0,
      rmsDbfs3s: -25, clippedRatio3s: 0, rmsEmaDbfs: -26, noiseFloorDbfs: -60, lastSpokeAtMs: t0 + frames * 10,
      speechStartedAtMs: null, overflowBytes: 0, recordedBytes: 0, ...extra,
    };
  };
  const truth = (frames: number) => speech.slice(0, frames).reduce((a, b) => a + b, 0) * 10;
  for (let f = 25; f <= 2500; f += 100) sums.applyBatch([report(f), report(f + 25), report(f + 50), report(f + 75, { peakDbfs: f === 1025 ? -2 : -10 })]);
  const s = store.get('M', 'p')!;
  assert.is(s.speechMs, truth(2500));
  assert.is(s.analysedMs, 25_000);
  assert.is(s.clippedSamples, 100);
  assert.is(s.peakDbfs, -2);
  assert.is(s.lastSpokeAt, t0 + 25_000);
  // A new StatsSummaries (server restart, reconnect) resumes from the stored row.
  const again = new StatsSummaries(store);
  again.addStream(2, 48000, t0 + 30_000, 'M', 'p');
  again.applyBatch([{ ...report(25), streamId: 2, tMs: t0 + 30_250 }]);
  assert.is(store.get('M', 'p')!.analysedMs, 25_250);
  assert.is(store.get('M', 'p')!.speechMs, truth(2500) + truth(25));
  db.close();
});

test('the URL builder and the handler agree; the signature covers every parameter', () => {
  const config = { EGRESS_SECRET: 's'.repeat(32), PUBLIC_URL: 'http://h:1' };
  const url = new URL(egressAudioUrl(config, { roomName: 'r/ü', participant: 'p q', sampleRate: 24000, channels: 1, groupSeconds: 0.5 }, 1000));
  const q = checkEgressAudioQuery(url.search.slice(1), { secret: config.EGRESS_SECRET, allowUnsigned: false }, 1000);
  assert.equal({ ...q, sig: undefined }, { roomName: 'r/ü', participant: 'p q', sampleRate: 24000, channels: 1, groupSeconds: 0.5, exp: 1000 + 86400, sig: undefined });
  url.searchParams.set('channels', '2');
  assert.throws(() => checkEgressAudioQuery(url.search.slice(1), { secret: config.EGRESS_SECRET, allowUnsigned: false }, 1000), /bad signature/);
  assert.throws(() => checkEgressAudioQuery('roomName=a&roomName=b', { secret: 'x', allowUnsigned: true }), /roomName: given more than once/);
  assert.is(checkEgressAudioQuery('roomName=a', { secret: 'x', allowUnsigned: true }).sampleRate, 48000);
});

test.run();
