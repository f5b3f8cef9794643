/**
 * GET /metrics with live state: a /ws client in a room and an audio egress stream. The text must pass
 * `promtool check metrics` (Debian package `prometheus`; the test fails when promtool is missing) and carry
 * meetcore's series (README "Metrics") with the values this state implies.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import WebSocket from 'ws';
import { SignalingClient } from '../../src/client/index.js';
import { requireTools } from '../helpers/requires.js';
import { promtool } from '../helpers/promtool.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { sine, toStereoBytes } from '../helpers/fixtures.js';
import { FRAME_BYTES, SECRET, open, sendPcm, signedEgressUrl } from '../egress/helpers.js';

requireTools(['promtool'], 'apt-get install -y --no-install-recommends prometheus', 'fail');

let server: TestServer;
test.before(async () => { server = await startTestServer({ EGRESS_SECRET: SECRET, AUDIO_STREAM_QUEUE_MS: '30000' }); });
test.after(async () => { await server.stop(); });

/** `name{labels}` → value, from the Prometheus text format. */
function parse(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

async function scrape(): Promise<{ text: string; values: Map<string, number> }> {
  const res = await fetch(`${server.url}/metrics`);
  assert.is(res.status, 200);
  const text = await res.text();
  return { text, values: parse(text) };
}

test('/metrics passes promtool and reports rooms, connections and egress streams', async () => {
  const client = await new SignalingClient({ url: server.wsUrl, WebSocket }).connect();
  await client.join('metrics-room');
  const hook = await fetch(`${server.url}/livekit/webhook`, { method: 'POST', body: '{}' });
  assert.is(hook.status, 503);  // LiveKit is not configured in this server
  const ws = await open(signedEgressUrl(server, { roomName: 'metrics room', participant: 'alice', trackId: 'TR_alice' }));
  const pcm = toStereoBytes(sine(2000, 440, -12));
  await sendPcm(ws, pcm);
  try {
    let m = await scrape();
    for (let i = 0; i < 100 && m.values.get('meetcore_egress_received_bytes_total{kind="audio"}') !== pcm.length; i++) {
      await new Promise((r) => setTimeout(r, 50));
      m = await scrape();
    }
    const check = promtool(['check', 'metrics'], m.text);
    assert.is(check.status, 0, `promtool check metrics failed:\n${check.output}`);

    const v = (key: string): number => {
      const x = m.values.get(key);
      assert.ok(x !== undefined, `series ${key} missing from /metrics`);
      return x!;
    };
    assert.is(v('meetcore_rooms'), 1);
    assert.is(v('meetcore_signaling_connections{transport="ws"}'), 1);
    assert.is(v('meetcore_signaling_connections{transport="socket.io"}'), 0);
    assert.is(v('meetcore_egress_streams{kind="audio"}'), 1);
    assert.is(v('meetcore_egress_streams{kind="video"}'), 0);
    assert.is(v('meetcore_egress_received_bytes_total{kind="audio"}'), pcm.length);
    assert.is(v('meetcore_egress_received_frames_total{kind="audio"}'), Math.ceil(pcm.length / FRAME_BYTES));
    assert.is(v('meetcore_egress_received_bytes_total{kind="video"}'), 0);
    assert.is(v('meetcore_recording_write_errors_total{kind="audio"}'), 0);
    assert.is(v('meetcore_egress_ring_overflow_bytes_total'), 0);
    assert.is(v('meetcore_engine_dropped_batches_total'), 0);
    for (const kind of ['volume_low', 'volume_high', 'silence_prolonged', 'speech_overlap', 'monologue_prolonged']) {
      assert.ok(v(`meetcore_feedback_events_total{kind="${kind}"}`) >= 0);
    }
    assert.ok(v('meetcore_feedback_delivery_latency_seconds_count') >= 0);
    assert.ok(m.values.has('meetcore_feedback_delivery_latency_seconds_bucket{le="+Inf"}'));
    assert.is(v('meetcore_signaling_slow_closed_total{transport="ws"}'), 0);
    for (const kind of ['uncaught_exception', 'unhandled_rejection', 'native_callback']) assert.is(v(`meetcore_uncaught_errors_total{kind="${kind}"}`), 0, kind);
    // The meetcore_hume_* series are registered only when Hume is configured (HUME_API_KEY).
    assert.not.ok(m.values.has('meetcore_hume_payloads_sent_total'));
    assert.is(v('meetcore_livekit_webhooks_total{event="unknown",result="unavailable"}'), 1);
    assert.match(m.text, /# TYPE process_cpu_user_seconds_total counter/);
    assert.not.match(m.text, /nodejs_active_handles_total/);
  } finally {
    ws.close();
    client.close();
  }
});

test('the example alerts in docs/alerts.yml pass promtool check rules', () => {
  const r = promtool(['check', 'rules', 'docs/alerts.yml']);
  assert.is(r.status, 0, `promtool check rules docs/alerts.yml failed:\n${r.output}`);
});

test.run();
