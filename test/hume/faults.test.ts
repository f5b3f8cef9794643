/**
 * Hume faults against the real server and the Hume double: a dropped socket is reopened with backoff and what
 * was in flight is sent again; repeated configuration errors (E0203) stop the track; a slow Hume makes the
 * oldest waiting segments drop (counted) while the payloads in flight stay bounded; an unreadable reply is
 * counted and its payload given up after the reply timeout, the rest keeps working.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { http } from '../helpers/server.js';
import { SPEECH_FEMALE, SPEECH_MALE, counters, engineSegments, logsMatching, prosodyRows, startPair, streamTrack, waitFor } from './helpers.js';

const sum = (c: Record<string, number>, ...names: string[]) => names.reduce((n, k) => n + (c[k] ?? 0), 0);

test('a dropped socket is reopened with backoff and the payloads in flight are sent again', async () => {
  const pair = await startPair({ HUME_MAX_IN_FLIGHT: '8' }, { dropOnMessage: 2 });
  const { server, double } = pair;
  try {
    const meetingId = 'MT_drop';
    await streamTrack(server, { roomName: 'r', meetingId, participant: 'alice', groupSeconds: '1' }, SPEECH_MALE);
    const segments = await engineSegments(server, meetingId, 1);
    assert.ok(segments >= 9, `${segments} segments`);
    await waitFor(() => prosodyRows(server, meetingId).length === segments, 'every segment answered', 20_000);
    assert.is(double.connections.length, 2, 'one reconnect');
    assert.ok(double.connections[0]!.closed);
    // The payload the double dropped the socket on was sent again on the new socket.
    const onSecond = new Set(double.payloads.filter((p) => p.conn === 2).map((p) => p.payloadId));
    const answeredOnFirst = new Set(double.replies.filter((r) => r.conn === 1).map((r) => r.payloadId));
    const rows = prosodyRows(server, meetingId);
    for (const r of rows) assert.ok(answeredOnFirst.has(r.payload_id) || onSecond.has(r.payload_id), `${r.payload_id} answered`);
    assert.is(new Set(rows.map((r) => r.payload_id)).size, segments);
    const c = counters(server, meetingId);
    assert.is(c.predictions, segments);
    assert.is(c.dropped, undefined);
    const messages = double.connections.reduce((n, x) => n + x.messages, 0);
    // Every write counts, resends included (writes into the dying socket never reached the double).
    assert.ok(messages > segments, 'some payloads were sent twice');
    assert.ok(c.payloads_sent! >= messages);
    const closed = logsMatching(server, /Hume socket closed; reconnecting/);
    assert.is(closed.length, 1);
    assert.is(closed[0]!.retryInMs, 500);
    assert.is(logsMatching(server, /Hume socket reopened/).length, 1);
  } finally {
    await pair.stop();
  }
});

test('repeated configuration errors (E0203) stop sending for the track; errors are logged and counted', async () => {
  // The double's limit is lowered to 1 s so that the 2 s segments are refused as too long.
  const pair = await startPair({ HUME_MAX_CONFIG_ERRORS: '3', HUME_MAX_IN_FLIGHT: '1' }, { maxPayloadMs: 1000 });
  const { server, double } = pair;
  try {
    const meetingId = 'MT_config';
    await streamTrack(server, { roomName: 'r', meetingId, participant: 'alice', groupSeconds: '2' }, Buffer.concat([SPEECH_MALE, SPEECH_FEMALE]), { chunkMs: 2000, pauseMs: 300 });
    const segments = await engineSegments(server, meetingId, 1);
    assert.ok(segments >= 8, `${segments} segments`);
    await waitFor(() => { const c = counters(server, meetingId); return sum(c, 'errors', 'dropped') === segments; }, 'every segment accounted for', 15_000);
    assert.is(double.payloads.length, 3, 'nothing sent after the third error');
    assert.ok(double.replies.every((r) => r.kind === 'error' && r.code === 'E0203'));
    const c = counters(server, meetingId);
    assert.is(c.payloads_sent, 3);
    assert.is(c['error:E0203'], 3);
    assert.is(c['dropped:stopped'], segments - 3);
    assert.is(prosodyRows(server, meetingId).length, 0);
    assert.ok(logsMatching(server, /Hume error reply/).length >= 1);
    const stops = logsMatching(server, /stopped sending to Hume for this track/);
    assert.is(stops.length, 1);
    assert.match(String(stops[0]!.reason), /3 consecutive E0203 errors/);
    const metrics = await http('GET', `${server.url}/metrics`);
    assert.match(metrics.body, /meetcore_hume_errors_total\{code="E0203"\} 3\b/);
  } finally {
    await pair.stop();
  }
});

test('account errors (E0300 out of credits) stop every track, later tracks included', async () => {
  const pair = await startPair({ HUME_MAX_CONFIG_ERRORS: '2', HUME_MAX_IN_FLIGHT: '1' }, { errorCode: 'E0300' });
  const { server, double } = pair;
  try {
    const meetingId = 'MT_credits';
    const pace = { chunkMs: 2000, pauseMs: 300 };
    await Promise.all([
      streamTrack(server, { roomName: 'r', meetingId, participant: 'alice', groupSeconds: '2' }, SPEECH_MALE, pace),
      streamTrack(server, { roomName: 'r', meetingId, participant: 'bob', groupSeconds: '2' }, SPEECH_FEMALE, pace),
    ]);
    await waitFor(() => logsMatching(server, /stopped sending to Hume for every track/).length === 1, 'account stop', 10_000);
    const sentBefore = double.payloads.length;
    assert.ok(sentBefore >= 2 && sentBefore <= 3, `${sentBefore} payloads`);
    // A track that starts afterwards sends nothing either.
    await streamTrack(server, { roomName: 'r', meetingId, participant: 'carol', groupSeconds: '2' }, SPEECH_MALE);
    const segments = await engineSegments(server, meetingId, 3);
    await waitFor(() => { const c = counters(server, meetingId); return sum(c, 'errors', 'dropped') === segments; }, 'every segment accounted for', 10_000);
    assert.is(double.payloads.length, sentBefore);
    assert.ok(double.connections.length <= 2, 'no socket for the later track');
    const c = counters(server, meetingId);
    // Two tracks each have a payload in flight: one sent before the stop may be dropped as 'stopped' instead of
    // answered, depending on which reply came first. Every segment is either answered with E0300 or dropped.
    const errors = c['error:E0300']!;
    assert.ok(errors >= 2 && errors <= sentBefore, `${errors} E0300 replies of ${sentBefore} payloads`);
    assert.is(c['dropped:stopped'], segments - errors);
    const stop = logsMatching(server, /stopped sending to Hume for every track/)[0]!;
    assert.match(String(stop.reason), /E0300/);
  } finally {
    await pair.stop();
  }
});

test('a slow Hume: bounded payloads in flight, the oldest waiting segments dropped and counted', async () => {
  const pair = await startPair({ HUME_MAX_IN_FLIGHT: '2' }, { delayMs: 1200 });
  const { server, double } = pair;
  try {
    const meetingId = 'MT_slow';
    await streamTrack(server, { roomName: 'r', meetingId, participant: 'alice', groupSeconds: '0.5' }, Buffer.concat([SPEECH_MALE, SPEECH_FEMALE]));
    const segments = await engineSegments(server, meetingId, 1);
    assert.ok(segments >= 30, `${segments} segments`);
    await waitFor(() => { const c = counters(server, meetingId); return sum(c, 'predictions', 'dropped') === segments; }, 'every segment answered or dropped', 30_000);
    const c = counters(server, meetingId);
    assert.ok(double.maxInFlight() <= 2, `at most 2 unanswered payloads on the socket (saw ${double.maxInFlight()})`);
    assert.ok(double.payloads.every((p) => p.inFlightAtArrival <= 2));
    assert.ok(c['dropped:backpressure']! > 0, 'some segments dropped');
    assert.is(c.dropped, c['dropped:backpressure']);
    assert.is(c.payloads_sent, double.payloads.length);
    assert.is(c.predictions, double.payloads.length);
    // The newest segments are the ones kept: the last segment of the stream was answered.
    const rows = prosodyRows(server, meetingId);
    assert.is(Math.max(...rows.map((r) => r.segment_index)), segments - 1);
    assert.ok(logsMatching(server, /prosody segment dropped/).length >= 1);
  } finally {
    await pair.stop();
  }
});

test('an unreadable reply is counted and its payload given up after the reply timeout; the rest is answered', async () => {
  const pair = await startPair({ HUME_REPLY_TIMEOUT_SEC: '1' }, { garbageOnMessage: 1 });
  const { server, double } = pair;
  try {
    const meetingId = 'MT_garbage';
    await streamTrack(server, { roomName: 'r', meetingId, participant: 'alice', groupSeconds: '2' }, SPEECH_MALE, { chunkMs: 2000, pauseMs: 300 });
    const segments = await engineSegments(server, meetingId, 1);
    await waitFor(() => { const c = counters(server, meetingId); return sum(c, 'predictions', 'dropped') === segments; }, 'every segment answered or dropped', 15_000);
    const c = counters(server, meetingId);
    assert.is(c.unreadable_replies, 1);
    assert.is(c['dropped:timeout'], 1);
    assert.is(c.predictions, segments - 1);
    assert.is(double.replies.filter((r) => r.kind === 'garbage').length, 1);
    assert.is(double.connections.length, 1, 'the socket stays open');
    assert.is(logsMatching(server, /unreadable Hume reply ignored/).length, 1);
    assert.is((await http('GET', `${server.url}/health`)).status, 200);
  } finally {
    await pair.stop();
  }
});

test.run();
