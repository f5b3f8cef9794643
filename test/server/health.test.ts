import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { http, startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;

test.before(async () => { server = await startTestServer(); });
test.after(async () => { await server.stop(); });

test('GET /health reports status and live counters', async () => {
  const r = await http('GET', `${server.url}/health`);
  assert.is(r.status, 200);
  assert.is(r.body.status, 'ok');
  assert.type(r.body.timestamp, 'number');
  assert.type(r.body.uptimeSec, 'number');
  assert.is(r.body.version, '0.1.0');
  for (const k of ['rooms', 'connections', 'egressStreams', 'egressDroppedBatches', 'egressOverflowBytes']) assert.type(r.body[k], 'number');
});

test('unknown routes get a JSON 404', async () => {
  const r = await http('GET', `${server.url}/no/such/route`);
  assert.is(r.status, 404);
  assert.is(r.body.error.code, 'not_found');
});

test('GET /metrics serves Prometheus text', async () => {
  const res = await fetch(`${server.url}/metrics`);
  assert.is(res.status, 200);
  assert.match(await res.text(), /process_cpu_user_seconds_total/);
});

test('SIGTERM stops the server with exit code 0', async () => {
  const s = await startTestServer();
  assert.is(await s.stop(), 0);
  assert.ok(s.logs.some((l) => l.msg === 'stopped'));
});

test.run();
