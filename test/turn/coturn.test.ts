/**
 * coturn for real: a `turnserver` started from the project's turnserver.conf (with loopback-only overrides
 * given here on the command line, never in the shipped file) and `turnutils_uclient` allocating relays with
 * the TURN REST credentials meetcore hands out (POST /api/turn-credentials, GET /api/ice-servers), then asking
 * for relays to loopback, private and special-purpose peers (`-e`), which the shipped file must refuse.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHmac } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { coturnAvailable, coturnVersion, relayToPeer, startCoturn, startPeer, uclient, versionAtLeast, type Coturn } from './coturn.js';
import { http, ROOT, startTestServer, type TestServer } from '../helpers/server.js';
import { requireTools } from '../helpers/requires.js';

requireTools(['turnserver', 'turnutils_uclient', 'turnutils_peer'], 'apt-get install -y --no-install-recommends coturn');

const SECRET = 'turn-test-secret-0123456789';
/** The IPv4-mapped rule of the shipped file (CVE-2026-27624: coturn < 4.9.0 does not map ::ffff:a.b.c.d to a.b.c.d). */
const MAPPED_RULE = 'denied-peer-ip=::ffff:0.0.0.0-::ffff:255.255.255.255';
/** Loopback allowed on the command line (--allow-loopback-peers --allowed-peer-ip 127.0.0.1 / ::1), IPv6 relay ::1. */
let turn: Coturn;
/** The shipped file as is. Its IPv6 relay is ::ffff:127.0.0.1: an IPv6 socket on the IPv4 loopback, which can
 *  really send to ::ffff:127.0.0.1, i.e. to 127.0.0.1 (with relay ::1 the send would fail: network unreachable). */
let strict: Coturn;
/** The shipped file without MAPPED_RULE, same relays as `strict`: the control showing what that line stops. */
let unruled: Coturn;
let peer: Awaited<ReturnType<typeof startPeer>>;
let server: TestServer;
const version = coturnAvailable() ? coturnVersion() : [0, 0, 0];

/** base64(HMAC-SHA1(secret, username)): the coturn TURN REST formula (REFERENCE.md), computed independently. */
const sign = (secret: string, username: string) => createHmac('sha1', secret).update(username).digest('base64');

test.before(async () => {
  if (!coturnAvailable()) throw new Error('turnserver/turnutils_uclient not found: apt-get install coturn');
  const dualStack = ['127.0.0.1', '::ffff:127.0.0.1'];
  [turn, strict, unruled, peer] = await Promise.all([
    startCoturn({ secret: SECRET, allowLoopbackPeers: true, relayIps: ['127.0.0.1', '::1'] }),
    startCoturn({ secret: SECRET, allowLoopbackPeers: false, relayIps: dualStack }),
    startCoturn({
      secret: SECRET, allowLoopbackPeers: false, relayIps: dualStack,
      editConfig: (conf) => conf.replace(`\n${MAPPED_RULE}\n`, '\n'),
    }),
    startPeer(),
  ]);
  server = await startTestServer({ TURN_URLS: `turn:127.0.0.1:${turn.port}`, TURN_SECRET: SECRET, TURN_TTL: '3600', STUN_SERVERS: '[]' });
});
test.after(async () => {
  await Promise.all([server?.stop(), turn?.stop(), strict?.stop(), unruled?.stop(), peer?.stop()]);
});

let probes = 0;
/** A fresh meetcore credential (its own userId: coturn's user-quota counts allocations per username). */
async function credential(): Promise<{ username: string; credential: string }> {
  const r = await http('POST', `${server.url}/api/turn-credentials`, { userId: `probe-${++probes}`, ttlSec: 600 });
  assert.is(r.status, 200);
  return r.body;
}
async function probe(on: Coturn, peerAddr: string, opts: { messages?: number; createPermission?: boolean } = {}) {
  const c = await credential();
  return relayToPeer(on.port, c.username, c.credential, peerAddr, { peerPort: peer.port, messages: opts.messages ?? 0, createPermission: opts.createPermission });
}

test('a credential from POST /api/turn-credentials has the TURN REST shape and coturn relays with it', async () => {
  const before = Math.floor(Date.now() / 1000);
  const r = await http('POST', `${server.url}/api/turn-credentials`, { userId: 'alice', ttlSec: 600 });
  assert.is(r.status, 200);
  assert.equal(r.body.urls, [`turn:127.0.0.1:${turn.port}`]);
  assert.is(r.body.ttlSec, 600);
  const m = /^(\d+):alice$/.exec(r.body.username);
  assert.ok(m, `username ${r.body.username}`);
  const expiry = Number(m![1]);
  assert.ok(expiry >= before + 600 && expiry <= Math.floor(Date.now() / 1000) + 600, `expiry ${expiry}`);
  assert.is(r.body.credential, sign(SECRET, r.body.username));

  const out = await uclient(turn.port, r.body.username, r.body.credential);
  assert.is(out.code, 0, out.text);
  assert.ok(out.received > 0, `relayed messages received: ${out.received}\n${out.text}`);
});

test('the TURN entry of GET /api/ice-servers/:userId is accepted by coturn', async () => {
  const r = await http('GET', `${server.url}/api/ice-servers/bob`);
  assert.is(r.status, 200);
  const entry = (r.body.iceServers as { urls: string[]; username?: string; credential?: string }[]).find((s) => s.username);
  assert.ok(entry, JSON.stringify(r.body));
  assert.match(entry!.username!, /^\d+:bob$/);
  const out = await uclient(turn.port, entry!.username!, entry!.credential!);
  assert.is(out.code, 0, out.text);
  assert.ok(out.received > 0, out.text);
});

test('an expired credential is refused (correctly signed, expiry in the past)', async () => {
  const username = `${Math.floor(Date.now() / 1000) - 60}:alice`;
  const out = await uclient(turn.port, username, sign(SECRET, username));
  assert.is.not(out.code, 0, out.text);
  assert.is(out.received, 0);
  assert.ok(turn.log().includes(`<${username}>`), 'coturn logged the refused username');
});

test('forged credentials are refused: wrong secret, and a changed userId with a real credential', async () => {
  const r = await http('POST', `${server.url}/api/turn-credentials`, { userId: 'carol', ttlSec: 600 });
  assert.is(r.status, 200);
  const wrongSecret = await uclient(turn.port, r.body.username, sign('not-the-secret', r.body.username));
  assert.is.not(wrongSecret.code, 0, wrongSecret.text);
  const renamed = (r.body.username as string).replace(/:carol$/, ':mallory');
  const swapped = await uclient(turn.port, renamed, r.body.credential);
  assert.is.not(swapped.code, 0, swapped.text);
  const extended = `${Number((r.body.username as string).split(':')[0]) + 86400}:carol`;
  const longer = await uclient(turn.port, extended, r.body.credential);
  assert.is.not(longer.code, 0, longer.text);
  // The genuine credential still works on the same server, so the refusals above are about the credentials.
  const genuine = await uclient(turn.port, r.body.username, r.body.credential);
  assert.is(genuine.code, 0, genuine.text);
});

test('POST /api/turn-credentials rejects a bad body: missing userId, ":" in userId, ttlSec out of range, not JSON', async () => {
  for (const body of [{}, { userId: 'a:b' }, { userId: 'alice', ttlSec: 5 }, { userId: 'alice', ttlSec: 'long' }, { userId: 'x'.repeat(500) }]) {
    const r = await http('POST', `${server.url}/api/turn-credentials`, body);
    assert.is(r.status, 400, JSON.stringify(body));
    assert.is(r.body.error.code, 'bad_request');
  }
  const r = await http('POST', `${server.url}/api/turn-credentials`, 'userId=alice', { 'content-type': 'application/x-www-form-urlencoded' });
  assert.is(r.status, 415);
});

test('the shipped turnserver.conf refuses loopback peers (no allow-loopback-peers, denied-peer-ip 127/8)', async () => {
  const r = await http('POST', `${server.url}/api/turn-credentials`, { userId: 'dave' });
  const out = await uclient(strict.port, r.body.username, r.body.credential);
  assert.is(out.received, 0, out.text);
  assert.match(out.text, /403 \(Forbidden IP\)/);
});

/**
 * Peers the shipped file must refuse, with the line that covers each. `own`: coturn's built-in check (loopback
 * without allow-loopback-peers, 0.0.0.0/8 and ::, no-multicast-peers, which counts everything from 224.0.0.0 up)
 * answers before the list, so the line is a second guard and coturn logs nothing; for the others coturn logs
 * "A peer IP <peer> denied in the range: <line>". Peers are written as coturn prints them.
 */
const REFUSED: { peer: string; range: string; own?: true }[] = [
  { peer: '127.0.0.1', range: '127.0.0.0-127.255.255.255', own: true },
  { peer: '::1', range: '::1', own: true },
  { peer: '::ffff:127.0.0.1', range: '::ffff:0.0.0.0-::ffff:255.255.255.255' },
  { peer: '::ffff:169.254.169.254', range: '::ffff:0.0.0.0-::ffff:255.255.255.255' },
  { peer: '::', range: '::1.0.0.0-::255.255.255.255', own: true },
  { peer: '::127.0.0.1', range: '::1.0.0.0-::255.255.255.255' },
  { peer: '::ffff:0:7f00:1', range: '::ffff:0:0.0.0.0-::ffff:0:255.255.255.255' },
  { peer: '64:ff9b::7f00:1', range: '64:ff9b::-64:ff9b::ffff:ffff' },
  { peer: '64:ff9b:1::1', range: '64:ff9b:1::-64:ff9b:1:ffff:ffff:ffff:ffff:ffff' },
  { peer: '100::1', range: '100::-100::ffff:ffff:ffff:ffff' },
  { peer: '2001::1', range: '2001::-2001:0:ffff:ffff:ffff:ffff:ffff:ffff' },
  { peer: '2001:2::1', range: '2001:2::-2001:2:0:ffff:ffff:ffff:ffff:ffff' },
  { peer: '2001:db8::1', range: '2001:db8::-2001:db8:ffff:ffff:ffff:ffff:ffff:ffff' },
  { peer: '2002:7f00:1::1', range: '2002::-2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff' },
  { peer: '3fff::1', range: '3fff::-3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff' },
  { peer: 'fd00::1', range: 'fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff' },
  { peer: 'fe80::1', range: 'fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff' },
  { peer: 'fec0::1', range: 'fec0::-feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff' },
  { peer: 'ff02::1', range: 'ff00::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', own: true },
  { peer: '0.0.0.0', range: '0.0.0.0-0.255.255.255', own: true },
  { peer: '0.1.2.3', range: '0.0.0.0-0.255.255.255', own: true },
  { peer: '10.0.0.1', range: '10.0.0.0-10.255.255.255' },
  { peer: '100.64.0.1', range: '100.64.0.0-100.127.255.255' },
  { peer: '169.254.169.254', range: '169.254.0.0-169.254.255.255' },
  { peer: '172.16.0.1', range: '172.16.0.0-172.31.255.255' },
  { peer: '192.0.0.1', range: '192.0.0.0-192.0.0.255' },
  { peer: '192.0.2.1', range: '192.0.2.0-192.0.2.255' },
  { peer: '192.88.99.1', range: '192.88.99.0-192.88.99.255' },
  { peer: '192.168.1.1', range: '192.168.0.0-192.168.255.255' },
  { peer: '198.18.0.1', range: '198.18.0.0-198.19.255.255' },
  { peer: '198.51.100.1', range: '198.51.100.0-198.51.100.255' },
  { peer: '203.0.113.1', range: '203.0.113.0-203.0.113.255' },
  { peer: '224.0.0.1', range: '224.0.0.0-239.255.255.255', own: true },
  { peer: '240.0.0.1', range: '240.0.0.0-255.255.255.255', own: true },
];

test('turnserver.conf: coturn takes every denied-peer-ip line (one address or first-last, no CIDR), each range above is there, none starts at ::', () => {
  const lines = [...fs.readFileSync(path.join(ROOT, 'turnserver.conf'), 'utf8').matchAll(/^denied-peer-ip=(.*)$/gm)].map((m) => m[1]);
  for (const { range } of REFUSED) assert.ok(lines.includes(range), `turnserver.conf lacks denied-peer-ip=${range}`);
  // coturn 4.6.1 logs "ERROR: Wrong address format: <text>" for a line it cannot read (CIDR, a name that does
  // not resolve) and goes on without it; every line it took is echoed as "Black listing: <line>".
  assert.not.match(strict.log(), /Wrong address format|Bad configuration format/);
  for (const line of lines) assert.ok(strict.log().includes(`Black listing: ${line}\n`), `coturn did not take denied-peer-ip=${line}`);
  // An all-zero lower bound means "no lower bound" to coturn: `denied-peer-ip=::` refuses every peer, a range
  // from :: every IPv4 peer too, and so does one from 0.0.0.0 to an IPv6 address.
  for (const line of lines) {
    const unbounded = /^(::|0\.0\.0\.0)$/.test(line) || line.startsWith('::-') || /^0\.0\.0\.0-.*:/.test(line);
    assert.not.ok(unbounded, `denied-peer-ip=${line} starts at the unspecified address: coturn reads that as no lower bound`);
  }
});

test('the shipped file refuses relaying to loopback, private and special-purpose peers in every spelling (ChannelBind 403)', async () => {
  const results: { peer: string; range: string; own?: true; out: Awaited<ReturnType<typeof probe>> }[] = [];
  for (let i = 0; i < REFUSED.length; i += 4) {
    results.push(...await Promise.all(REFUSED.slice(i, i + 4).map(async (r) => ({ ...r, out: await probe(strict, r.peer) }))));
  }
  // coturn 4.9.0+ maps IPv4-in-IPv6 spellings itself, so its own loopback check may answer before the list.
  const logsRange = !versionAtLeast(version, [4, 9, 0]);
  for (const { peer: p, range, own, out } of results) {
    assert.ok(out.refused && !out.granted, `${p} not refused:\n${out.text}`);
    if (!own && logsRange) assert.ok(strict.log().includes(`A peer IP ${p} denied in the range: ${range}\n`), `no log line for ${p} in ${range}`);
  }
});

test('public peers are still relayed (ChannelBind granted for 1.1.1.1 and 2606:4700:4700::1111; no packet sent)', async () => {
  for (const p of ['1.1.1.1', '2606:4700:4700::1111']) {
    const out = await probe(strict, p);
    assert.ok(out.granted && !out.refused, `${p} refused:\n${out.text}`);
  }
});

test('loopback 127.0.0.1 and ::1: the shipped file refuses them; the same uclient command relays when the command line allows them', async () => {
  const [v4, v6, v4strict, v6strict] = await Promise.all([
    probe(turn, '127.0.0.1', { messages: 2 }), probe(turn, '::1', { messages: 2 }),
    probe(strict, '127.0.0.1', { messages: 2 }), probe(strict, '::1', { messages: 2 }),
  ]);
  for (const out of [v4, v6]) assert.ok(out.granted && out.received > 0, `control: not relayed to the loopback peer\n${out.text}`);
  for (const out of [v4strict, v6strict]) assert.ok(out.refused && !out.granted && out.received === 0, out.text);
});

test('IPv4-mapped ::ffff:127.0.0.1 (CVE-2026-27624): refused by the shipped file; without its ::ffff:0:0/96 line coturn < 4.9.0 relays into 127.0.0.1', async () => {
  const v = version.join('.');
  // ChannelBind and CreatePermission (-s), two packets each, on the shipped file and on the same file minus one line.
  const [bind, perm, bindUnruled, permUnruled] = await Promise.all([
    probe(strict, '::ffff:127.0.0.1', { messages: 2 }), probe(strict, '::ffff:127.0.0.1', { messages: 2, createPermission: true }),
    probe(unruled, '::ffff:127.0.0.1', { messages: 2 }), probe(unruled, '::ffff:127.0.0.1', { messages: 2, createPermission: true }),
  ]);
  for (const out of [bind, perm]) assert.ok(out.refused && !out.granted && out.received === 0, out.text);
  if (versionAtLeast(version, [4, 9, 0])) {
    console.log(`  coturn ${v} refuses ::ffff:127.0.0.1 by itself (CVE-2026-27624 fixed in 4.9.0); the shipped line is a second guard`);
    for (const out of [bindUnruled, permUnruled]) assert.ok(out.refused && !out.granted, out.text);
  } else {
    console.log(`  coturn ${v} (< 4.9.0, CVE-2026-27624): without "${MAPPED_RULE}" it relays to ::ffff:127.0.0.1,`
      + ` i.e. into the 127.0.0.1 peer (${bindUnruled.received} + ${permUnruled.received} packets echoed back); the shipped line refuses it`);
    // On such a coturn, the shipped line is what refuses it.
    assert.ok(strict.log().includes('A peer IP ::ffff:127.0.0.1 denied in the range: ::ffff:0.0.0.0-::ffff:255.255.255.255\n'));
    for (const out of [bindUnruled, permUnruled]) assert.ok(out.granted && !out.refused && out.received > 0, `control: not relayed\n${out.text}`);
  }
});

test.run();
