/**
 * Participants whose identities are names of Object.prototype (issue 18, item 3): `constructor` talks and
 * `__proto__` starts over them (an interruption), streamed through /egress-audio into the real server. The
 * report must count both (talk time, the interruption made and received, keyed by those names as own
 * properties), and the timeline picture must draw one lane per participant with their talk spurts (before: a
 * 24×24 empty SVG, vega grouping lanes by name in a plain object).
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { TestAccount } from '../helpers/auth.js';
import { apiAccount } from '../helpers/sessions.js';
import { concat, loadFixture, silence } from '../helpers/fixtures.js';
import { STREAM_QUEUE_MS, startTestServer, type TestServer } from '../helpers/server.js';
import { SECRET } from '../egress/helpers.js';
import { streamMeeting } from '../feedback/meeting.js';

let server: TestServer;
let owner: TestAccount;
const MEETING = `MT_proto_${process.pid}`;

test.before(async () => {
  server = await startTestServer({ EGRESS_SECRET: SECRET, AUDIO_STREAM_QUEUE_MS: STREAM_QUEUE_MS });
  owner = await apiAccount(server);  // the first account: it reads meetings of no organization
});
test.after(async () => { await server.stop(); });

test('participants named constructor and __proto__: report and picture', async () => {
  const male = loadFixture('en-male');
  const female = loadFixture('en-female');
  await streamMeeting(server, MEETING, [
    { participant: 'constructor', pcm: concat(male.samples, silence(6000)) },
    { participant: '__proto__', pcm: concat(silence(6600), female.samples.subarray(300 * 48)) },
  ]);

  const r = await fetch(`${server.url}/api/sessions/${MEETING}/report`, { headers: owner.headers });
  assert.is(r.status, 200);
  const report = JSON.parse(await r.text());
  const ids = report.participants.map((p: { participantId: string }) => p.participantId);
  assert.equal(ids, ['__proto__', 'constructor']);
  const [proto, ctor] = report.participants;
  assert.ok(proto.talkTimeMs > 3000 && ctor.talkTimeMs > 3000, `talk times ${proto.talkTimeMs}, ${ctor.talkTimeMs}`);
  assert.is(report.interruptionCount, 1);
  assert.is(proto.interruptionsMadeCount, 1);
  assert.is(ctor.interruptionsReceivedCount, 1);
  assert.ok(Object.hasOwn(proto.interruptedCounts, 'constructor') && proto.interruptedCounts.constructor === 1, JSON.stringify(proto.interruptedCounts));
  assert.ok(Object.hasOwn(ctor.interruptedByCounts, '__proto__') && ctor.interruptedByCounts.__proto__ === 1, JSON.stringify(ctor.interruptedByCounts));
  assert.ok(report.timeline.spurts.some((s: { participantId: string }) => s.participantId === '__proto__'));

  const pic = await fetch(`${server.url}/api/sessions/${MEETING}/timeline.svg`, { headers: owner.headers });
  assert.is(pic.status, 200);
  const svg = await pic.text();
  const width = Number(/^<svg[^>]* width="(\d+(?:\.\d+)?)"/.exec(svg)?.[1]);
  assert.ok(width > 500, `picture width ${width}: ${svg.slice(0, 300)}`);
  const lanes = [...svg.matchAll(/aria-label="(lane \d+: [^"]*)"/g)].map((m) => m[1]);
  assert.equal(lanes, ['lane 1: __proto__', 'lane 2: constructor']);
  // Each participant's talk spurts on the picture, and both names written on the lanes' axis.
  assert.match(svg, /aria-label="__proto__ spoke /);
  assert.match(svg, /aria-label="constructor spoke /);
  assert.match(svg, /aria-label="__proto__ interrupted constructor at /);
  assert.match(svg, />__proto__<\/text>/);
  assert.match(svg, />constructor<\/text>/);
});

test.run();
