/**
 * Who may read GET /metrics (src/auth/authorization.ts `mayScrapeMetrics`, README "Metrics"):
 * - METRICS_LOCAL_ONLY=true: a direct loopback connection is served; a request carrying a proxy's forwarding
 *   header (Forwarded, X-Forwarded-For, X-Real-IP) is refused with 403 although it comes from 127.0.0.1, as it
 *   does through a reverse proxy on the same host (test/deploy/nginx.test.ts runs the README's nginx example);
 * - METRICS_TOKEN: `Authorization: Bearer <token>` is required (401 with `WWW-Authenticate: Bearer`), from
 *   anywhere, proxied or not;
 * - both: both rules apply; a token shorter than 16 characters stops the start naming the variable.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { metricsHeaders, parseOptions } from '../../src/loadtest/cli.js';
import { scrape as benchScrape } from '../../src/loadtest/metrics.js';

const TOKEN = 'metrics-token-0123456789abcdef';
const FORWARDED: Record<string, string>[] = [
  { 'x-forwarded-for': '203.0.113.7' },
  { forwarded: 'for=203.0.113.7;proto=https' },
  { 'x-real-ip': '203.0.113.7' },
];

const servers: TestServer[] = [];
async function start(env: Record<string, string>): Promise<TestServer> {
  const s = await startTestServer(env);
  servers.push(s);
  return s;
}
test.after(async () => { for (const s of servers) await s.stop(); });

async function scrape(server: TestServer, headers: Record<string, string> = {}): Promise<{ status: number; text: string; headers: Headers }> {
  const res = await fetch(`${server.url}/metrics`, { headers });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

test('METRICS_LOCAL_ONLY: a direct loopback scrape is served, a forwarded one gets 403 naming the header', async () => {
  const server = await start({ METRICS_LOCAL_ONLY: 'true' });
  const direct = await scrape(server);
  assert.is(direct.status, 200);
  assert.match(direct.text, /^# HELP /m);
  for (const headers of FORWARDED) {
    const r = await scrape(server, headers);
    assert.is(r.status, 403, JSON.stringify(headers));
    const body = JSON.parse(r.text);
    assert.is(body.error.code, 'forbidden');
    assert.match(body.error.message, new RegExp(`forwarded by a proxy: ${Object.keys(headers)[0]}`));
    assert.not.match(r.text, /# HELP/);
  }
});

test('METRICS_TOKEN: without the bearer token 401 with WWW-Authenticate, with it 200 (forwarded or not)', async () => {
  const server = await start({ METRICS_TOKEN: TOKEN });
  for (const headers of <Record<string, string>[]>[{}, { authorization: 'Bearer wrong-token-0123456789abcdef' }, { authorization: TOKEN }, { authorization: `Basic ${TOKEN}` }]) {
    const r = await scrape(server, headers);
    assert.is(r.status, 401, JSON.stringify(headers));
    assert.is(r.headers.get('www-authenticate'), 'Bearer realm="metrics"');
    assert.is(JSON.parse(r.text).error.code, 'unauthorized');
  }
  assert.is((await scrape(server, { authorization: `Bearer ${TOKEN}` })).status, 200);
  assert.is((await scrape(server, { authorization: `bearer ${TOKEN}`, ...FORWARDED[0] })).status, 200);
});

test("meetcore bench reads a METRICS_TOKEN server's /metrics with BENCH_METRICS_TOKEN, and without it gets nothing", async () => {
  const server = await start({ METRICS_TOKEN: TOKEN });
  assert.is(await benchScrape(server.url, metricsHeaders(parseOptions(['signaling', '--target', server.url], {}))), null);
  const withToken = parseOptions(['signaling', '--target', server.url], { BENCH_METRICS_TOKEN: TOKEN });
  const values = (await benchScrape(server.url, metricsHeaders(withToken)))?.values;
  assert.ok(values?.has('process_cpu_seconds_total'), 'the scrape with the token has the process figures');
});

test('both settings: a forwarded scrape is refused even with the token, a direct one needs the token', async () => {
  const server = await start({ METRICS_LOCAL_ONLY: 'true', METRICS_TOKEN: TOKEN });
  assert.is((await scrape(server, { authorization: `Bearer ${TOKEN}` })).status, 200);
  assert.is((await scrape(server)).status, 401);
  assert.is((await scrape(server, { authorization: `Bearer ${TOKEN}`, ...FORWARDED[1] })).status, 403);
});

test('a METRICS_TOKEN under 16 characters stops the start naming the variable', async () => {
  try {
    await start({ METRICS_TOKEN: 'short' });
    assert.unreachable('the server started with a 5-character METRICS_TOKEN');
  } catch (err) {
    assert.match((err as Error).message, /METRICS_TOKEN: invalid value "short"/);
  }
});

test.run();
