/**
 * Hume prosody end to end with the real server and the Hume double (test/hume/double.ts): two LiveKit-like
 * egress clients stream the speech fixtures; each track gets its own Hume socket with the API key header;
 * every payload is a mono WAV of at most 5 s with a payload id; the predictions reach a host socket joined to
 * `feedback:<meetingId>` as `prosody` events and SQLite. A refused API key stops after the configured number
 * of attempts; without HUME_API_KEY nothing is sent and one start-up line says so.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import Database from 'better-sqlite3';
import path from 'node:path';
import { prosodyPayloads } from '../../src/hume/store.js';
import { http } from '../helpers/server.js';
import { EMOTIONS } from './double.js';
import { closed, open, sendPcm, signedEgressUrl } from '../egress/helpers.js';
import {
  API_KEY, SPEECH_FEMALE, SPEECH_MALE, counters, engineSegments, hostSocket, logsMatching, prosodyRows, startPair, streamTrack, waitFor,
} from './helpers.js';

/** Independent top-5: mean score per emotion over the predictions, weighted by their durations. */
function expectedTop5(predictions: { time: { begin: number; end: number }; emotions: { name: string; score: number }[] }[]) {
  const sum = new Map<string, number>();
  let total = 0;
  for (const p of predictions) {
    const w = p.time.end - p.time.begin;
    total += w;
    for (const e of p.emotions) sum.set(e.name, (sum.get(e.name) ?? 0) + e.score * w);
  }
  return [...sum].map(([name, s]) => ({ name, score: s / total })).sort((a, b) => b.score - a.score).slice(0, 5);
}

test('two tracks: one socket each, ≤ 5 s mono WAV payloads with ids, prosody events to hosts and rows in SQLite', async () => {
  const pair = await startPair();
  const { server, double } = pair;
  try {
    const meetingId = 'MT_hume_e2e';
    // The first 10 ms of alice's track open the meeting; its host can join its feedback room only then.
    const first = await open(signedEgressUrl(server, { roomName: 'hume room', meetingId, participant: 'alice', trackId: 'TR_a', groupSeconds: '5' }));
    const head = 48_000 * 4 / 100;
    await sendPcm(first, SPEECH_MALE.subarray(0, head));
    const host = await hostSocket(server, meetingId);
    await Promise.all([
      (async () => { await sendPcm(first, SPEECH_MALE.subarray(head)); const done = closed(first); first.close(); await done; })(),
      streamTrack(server, { roomName: 'hume room', meetingId, participant: 'bob', trackId: 'TR_b', groupSeconds: '2' }, SPEECH_FEMALE),
    ]);
    const segments = await engineSegments(server, meetingId, 2);
    // en-male 9.54 s in 5 s groups: 5 s + a 4.54 s tail; en-female 8.74 s in 2 s groups: 4 + a 0.74 s tail.
    assert.is(segments, 7);
    const rows = await waitFor(() => { const r = prosodyRows(server, meetingId); return r.length === segments ? r : null; }, 'prosody rows', 20_000);
    await waitFor(() => host.messages.filter((m) => m.type === 'prosody').length === segments, 'prosody events');

    // One socket per track, each with the API key; each socket carries one recording's payloads.
    assert.is(double.connections.length, 2);
    for (const c of double.connections) {
      assert.is(c.apiKey, API_KEY);
      assert.is(c.url, '/v0/stream/models');
    }
    assert.is(double.payloads.length, segments);
    for (const c of double.connections) {
      const recs = new Set(double.payloads.filter((p) => p.conn === c.id).map((p) => p.payloadId!.split(':')[0]));
      assert.is(recs.size, 1, 'one recording per socket');
    }
    const ids = double.payloads.map((p) => p.payloadId);
    assert.is(new Set(ids).size, ids.length, 'payload ids are unique');
    for (const p of double.payloads) {
      assert.match(p.payloadId ?? '', /^\d+:\d+$/);
      assert.equal([p.format, p.channels, p.sampleRate, p.bitsPerSample], [1, 1, 48000, 16]);
      assert.ok(p.durationMs > 0 && p.durationMs <= 5000, `${p.payloadId}: ${p.durationMs} ms`);
    }
    const durations = double.payloads.map((p) => p.durationMs).sort((a, b) => b - a);
    assert.is(durations[0], 5000, 'a full 5 s group is sent whole');
    assert.ok(double.replies.every((r) => r.kind === 'predictions'));

    // Events to the host: shape of PROTOCOL.md §5, top 5 emotions, the same as stored.
    const events = host.messages.filter((m) => m.type === 'prosody');
    for (const e of events) {
      assert.equal(Object.keys(e).sort(), ['emotions', 'meetingId', 'participantId', 'type', 'window']);
      assert.is(e.meetingId, meetingId);
      assert.ok(['alice', 'bob'].includes(e.participantId));
      assert.ok(Number.isInteger(e.window.start) && e.window.end > e.window.start && e.window.end - e.window.start <= 5000);
      assert.is(e.emotions.length, 5);
      for (let i = 1; i < 5; i++) assert.ok(e.emotions[i - 1].score >= e.emotions[i].score, 'highest first');
      assert.ok(e.emotions.every((x: { name: string }) => (EMOTIONS as readonly string[]).includes(x.name)));
    }
    for (const row of rows) {
      const reply = double.replies.find((r) => r.payloadId === row.payload_id)!;
      const want = expectedTop5(reply.body.prosody.predictions);
      const got = JSON.parse(row.emotions) as { name: string; score: number }[];
      assert.equal(got.map((x) => x.name), want.map((x) => x.name), `${row.payload_id}: top 5 names`);
      got.forEach((x, i) => assert.ok(Math.abs(x.score - want[i]!.score) < 1e-4));
      assert.is(row.predictions, 2);
      const ev = events.find((e) => e.participantId === row.participant && e.window.start === row.start_ms);
      assert.ok(ev, `event for ${row.payload_id}`);
      assert.equal(ev.emotions, got);
      assert.is(ev.window.end, row.end_ms);
    }
    assert.equal(rows.filter((r) => r.participant === 'alice').map((r) => r.segment_index), [0, 1]);
    assert.equal(rows.filter((r) => r.participant === 'bob').map((r) => r.segment_index).sort(), [0, 1, 2, 3, 4]);

    // Counters, the store function the metrics endpoint uses, and Prometheus.
    const c = counters(server, meetingId);
    assert.is(c.payloads_sent, segments);
    assert.is(c.segments, segments);
    assert.is(c.predictions, segments);
    assert.is(c.dropped, undefined);
    const db = new Database(path.join(server.dataDir, 'meetcore.db'), { readonly: true });
    try {
      assert.is(prosodyPayloads(db, meetingId), segments);
      assert.is(prosodyPayloads(db, 'MT_unknown'), 0);
    } finally { db.close(); }
    const metrics = await http('GET', `${server.url}/metrics`);
    assert.match(metrics.body, new RegExp(`meetcore_hume_payloads_sent_total ${segments}\\b`));
    host.ws.close();
  } finally {
    await pair.stop();
  }
  // Graceful stop closed the Hume sockets.
  assert.ok(double.connections.every((c) => c.closed));
});

test('no prosody about a host: a host\'s segments are not sent (counted as skipped)', async () => {
  const pair = await startPair();
  const { server, double } = pair;
  try {
    const meetingId = 'MT_host';
    // The participant is known as a host before its track starts (as a LiveKit webhook would record it).
    const db = new Database(path.join(server.dataDir, 'meetcore.db'));
    try {
      db.prepare("INSERT INTO sessions (meeting_id, room_name, status, started_at) VALUES (?, 'r', 'ACTIVE', ?)").run(meetingId, Date.now());
      db.prepare("INSERT INTO participants (meeting_id, identity, roles, is_host, joined_at) VALUES (?, 'hana', '[\"host\"]', 1, ?)").run(meetingId, Date.now());
    } finally { db.close(); }
    await Promise.all([
      streamTrack(server, { roomName: 'r', meetingId, participant: 'hana', groupSeconds: '2' }, SPEECH_FEMALE),
      streamTrack(server, { roomName: 'r', meetingId, participant: 'guest', groupSeconds: '2' }, SPEECH_MALE),
    ]);
    const segments = await engineSegments(server, meetingId, 2);
    await waitFor(() => { const c = counters(server, meetingId); return (c.skipped_host ?? 0) + (c.predictions ?? 0) === segments ? c : null; }, 'segments accounted for', 15_000);
    const rows = prosodyRows(server, meetingId);
    assert.ok(rows.length > 0);
    assert.ok(rows.every((r) => r.participant === 'guest'));
    assert.is(double.connections.length, 1, 'no socket for the host track');
    assert.is(counters(server, meetingId).skipped_host, 5);
  } finally {
    await pair.stop();
  }
});

test('a refused API key: logged, counted, retried with backoff, then nothing more is tried', async () => {
  const pair = await startPair({ HUME_API_KEY: 'not-the-right-key', HUME_MAX_CONFIG_ERRORS: '2' });
  const { server, double } = pair;
  try {
    const meetingId = 'MT_hume_badkey';
    await streamTrack(server, { roomName: 'r', meetingId, participant: 'alice', groupSeconds: '1' }, SPEECH_MALE);
    await engineSegments(server, meetingId, 1);
    await waitFor(() => logsMatching(server, /stopped sending to Hume for every track/).length === 1, 'stop log line', 15_000);
    await new Promise((r) => setTimeout(r, 1500));
    assert.is(double.refused.length, 2);
    assert.ok(double.refused.every((r) => r.apiKey === 'not-the-right-key'));
    assert.is(double.connections.length, 0);
    assert.is(double.payloads.length, 0);
    const c = counters(server, meetingId);
    assert.is(c['error:http_401'], 2);
    assert.is(c.payloads_sent, undefined);
    assert.is(c.dropped, c.segments, 'every segment ends dropped (stopped, or backpressure while refused)');
    assert.ok(c['dropped:stopped']! > 0);
    assert.ok(logsMatching(server, /Hume refused the API key/).length >= 2);
  } finally {
    await pair.stop();
  }
});

test('without HUME_API_KEY: no segment, no socket, one clear start-up line', async () => {
  const pair = await startPair({ HUME_API_KEY: '' });
  const { server, double } = pair;
  try {
    const meetingId = 'MT_nokey';
    await streamTrack(server, { roomName: 'r', meetingId, participant: 'alice', groupSeconds: '1' }, SPEECH_MALE);
    assert.is(await engineSegments(server, meetingId, 1), 0, 'segments are not even made');
    await new Promise((r) => setTimeout(r, 500));
    assert.is(double.connections.length + double.refused.length, 0);
    assert.equal(counters(server, meetingId), {});
    assert.is(prosodyRows(server, meetingId).length, 0);
    const lines = server.logs.filter((l) => /hume/i.test(JSON.stringify(l)));
    assert.is(lines.length, 1, JSON.stringify(lines));
    assert.match(String(lines[0]!.msg), /HUME_API_KEY is not set/);
  } finally {
    await pair.stop();
  }
});

test.run();
