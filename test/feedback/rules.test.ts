/**
 * The feedback rules (src/feedback/rules.ts) on synthetic engine events: thresholds, cooldown, mute, hosts,
 * backchannels and the floor; and the TTL of the feedback store on a real SQLite file.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MeetingRules, type RuleThresholds } from '../../src/feedback/rules.js';
import type { StatsEvent } from '../../src/pipeline/types.js';
import { openDatabase } from '../../src/store/db.js';
import { FeedbackStore, type FeedbackEvent } from '../../src/store/feedback.js';

const T: RuleThresholds = { volumeLowDbfs: -38, volumeHighDbfs: -8, clippedRatio: 0.01, silenceMs: 30_000, monologueMs: 90_000, cooldownMs: 15_000 };

function stats(participantId: string, tMs: number, o: Partial<StatsEvent> = {}): StatsEvent {
  return {
    type: 'stats', streamId: 1, meetingId: 'm', participantId, tMs, speaking: false, muted: false, rmsDbfs: -60, peakDbfs: -50,
    clippedSamples: 0, samples: 4800, speechCoverage10s: 0, speechMs3s: 0, rmsDbfs3s: null, clippedRatio3s: 0, rmsEmaDbfs: null,
    noiseFloorDbfs: -70, lastSpokeAtMs: null, speechStartedAtMs: null, overflowBytes: 0, recordedBytes: 0, ...o,
  };
}
const speaking = (id: string, t: number, since: number, o: Partial<StatsEvent> = {}) =>
  stats(id, t, { speaking: true, lastSpokeAtMs: t, speechStartedAtMs: since, speechMs3s: Math.min(3000, t - since), rmsDbfs3s: -20, ...o });

test('volume_low fires once per cooldown while quiet speech lasts; not before 1 s of speech; not while muted', () => {
  const r = new MeetingRules(T, () => false);
  r.open('a', 0);
  assert.is(r.stats(speaking('a', 900, 0, { rmsDbfs3s: -45 })).length, 0, 'under 1 s of speech');
  const fired: number[] = [];
  for (let t = 1000; t <= 40_000; t += 100) for (const f of r.stats(speaking('a', t, 0, { rmsDbfs3s: -45 }))) fired.push(f.atMs);
  assert.equal(fired, [1000, 16_000, 31_000]);
  const m = new MeetingRules(T, () => false);
  m.open('a', 0);
  for (let t = 1000; t <= 5000; t += 100) assert.is(m.stats(speaking('a', t, 0, { rmsDbfs3s: -45, muted: true })).length, 0);
});

test('volume_high on loud speech or > 1 % clipping; normal speech gives nothing', () => {
  const r = new MeetingRules(T, () => false);
  r.open('a', 0);
  r.open('b', 0);
  r.open('c', 0);
  assert.is(r.stats(speaking('a', 2000, 0, { rmsDbfs3s: -5 }))[0]?.kind, 'volume_high');
  assert.is(r.stats(speaking('b', 2000, 0, { rmsDbfs3s: -15, clippedRatio3s: 0.02 }))[0]?.kind, 'volume_high');
  assert.is(r.stats(speaking('c', 2000, 0, { rmsDbfs3s: -20, clippedRatio3s: 0.001 })).length, 0);
});

test('silence_prolonged counts from the last speech or the unmute, never while muted', () => {
  const r = new MeetingRules(T, () => false);
  r.open('a', 0);
  r.stats(stats('a', 5000, { lastSpokeAtMs: 5000 }));
  assert.is(r.stats(stats('a', 34_900, { lastSpokeAtMs: 5000 })).length, 0);
  const f = r.stats(stats('a', 35_000, { lastSpokeAtMs: 5000 }));
  assert.is(f[0]?.kind, 'silence_prolonged');
  assert.equal(f[0]!.window, { start: 5000, end: 35_000 });
  const m = new MeetingRules(T, () => false);
  m.open('b', 0);
  for (let t = 100; t <= 40_000; t += 100) assert.is(m.stats(stats('b', t, { muted: t < 20_000 })).filter((x) => x.atMs < 50_000).length, 0);
  assert.is(m.stats(stats('b', 50_000))[0]?.kind, 'silence_prolonged', '30 s after the unmute at 20 s');
});

test('hosts are never judged, and overlaps with a host are dropped', () => {
  const r = new MeetingRules(T, (id) => id === 'host');
  r.open('host', 0);
  assert.is(r.stats(speaking('host', 5000, 0, { rmsDbfs3s: -60 })).length, 0);
  assert.is(r.stats(stats('host', 60_000, { lastSpokeAtMs: 5000 })).length, 0);
  const o = r.overlap({ type: 'overlap', meetingId: 'm', phase: 'start', participants: ['a', 'host'], laterParticipantId: 'host', startMs: 0, tMs: 500, overlapMs: 500, excluded: true });
  assert.is(o.finding, null);
  const g = r.overlap({ type: 'overlap', meetingId: 'm', phase: 'start', participants: ['a', 'b'], laterParticipantId: 'b', startMs: 0, tMs: 500, overlapMs: 500, excluded: false });
  assert.is(g.finding?.participantId, 'b');
  const e = r.overlap({ type: 'overlap', meetingId: 'm', phase: 'end', participants: ['a', 'b'], laterParticipantId: 'b', startMs: 0, tMs: 1400, overlapMs: 1400, excluded: false });
  assert.equal(e.end, { overlapKey: g.finding!.overlapKey, endMs: 1400, overlapMs: 1400 });
});

test('monologue: 90 s of one turn with pauses under 3 s; a 500 ms backchannel does not break it, a 2 s reply does', () => {
  const run = (other: (t: number) => StatsEvent) => {
    const r = new MeetingRules(T, () => false);
    r.open('a', 0);
    r.open('b', 0);
    let spurt = 0;
    const out: number[] = [];
    for (let t = 100; t <= 100_000; t += 100) {
      // Alice: 4 s spurts with 1 s pauses.
      const inSpurt = t % 5000 < 4000;
      if (t % 5000 === 100) spurt = t;
      const e = inSpurt ? speaking('a', t, spurt) : stats('a', t, { lastSpokeAtMs: spurt + 3900 });
      for (const f of r.stats(e)) if (f.kind === 'monologue_prolonged') out.push(f.atMs);
      r.stats(other(t));
    }
    return out;
  };
  const backchannel = (t: number) => (t >= 40_000 && t < 40_500 ? speaking('b', t, 40_000) : stats('b', t, { lastSpokeAtMs: t >= 40_000 ? 40_400 : null }));
  const withBackchannel = run(backchannel);
  assert.ok(withBackchannel[0]! >= 90_000 && withBackchannel[0]! < 91_000, `first at ${withBackchannel[0]}`);
  const reply = (t: number) => (t >= 40_000 && t < 42_000 ? speaking('b', t, 40_000) : stats('b', t, { lastSpokeAtMs: t >= 40_000 ? 41_900 : null }));
  assert.equal(run(reply), [], 'the floor restarted at 41.9 s: 58 s later is not 90 s');
});

test('feedback store: events delivered longer ago than the TTL are removed by the sweep and on insert; newer stay', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meetcore-fb-'));
  const db = openDatabase(path.join(dir, 'meetcore.db'));
  const day = 86_400_000;
  const store = new FeedbackStore(db, 14 * day);
  const ev = (id: string): FeedbackEvent => ({ type: 'feedback', id, kind: 'volume_low', severity: 'warning', ts: 1, meetingId: 'm', participantId: 'p', window: { start: 0, end: 1 }, message: 'x', tips: [], metadata: {} });
  const now = Date.now();
  store.insert(ev('old'), 10, now - 15 * day);
  store.insert(ev('recent'), 30, now - 13 * day);
  assert.equal(store.list('m').map((e) => e.id).sort(), ['old', 'recent']);
  assert.is(store.sweep(now), 1);
  assert.equal(store.list('m').map((e) => e.id), ['recent']);
  store.insert(ev('older'), 10, now - 20 * day);
  store.insert(ev('new'), 20, now);
  assert.equal(store.list('m').map((e) => e.id).sort(), ['new', 'recent'], 'an insert removes the expired ones');
  assert.equal(store.metrics('m'), { counts: { volume_low: 2 }, latencyMs: { avg: 25, p95: 30 } });
  db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

test.run();
