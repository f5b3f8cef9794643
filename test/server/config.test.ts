import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, loadConfig } from '../../src/config.js';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'meetcore-config-'));

test('defaults of PROTOCOL.md §8 with generated secrets kept in DATA_DIR', () => {
  const dir = tmp();
  const c = loadConfig({ DATA_DIR: path.join(dir, 'data') }, dir);
  assert.is(c.PORT, 3001);
  assert.is(c.HOST, '0.0.0.0');
  assert.is(c.PUBLIC_URL, 'http://localhost:3001');
  assert.is(c.APP_DOMAIN, c.PUBLIC_URL);
  assert.is(c.REQUIRE_AUTH, false);
  assert.is(c.JWT_ACCESS_TTL, 900);
  assert.equal(c.STUN_SERVERS, ['stun:stun.l.google.com:19302']);
  assert.is(c.turnEnabled, false);
  assert.is(c.livekitEnabled, false);
  assert.is(c.AUTO_EGRESS, false);
  assert.is(c.FEEDBACK_OVERLAP_MS, 500);
  assert.is(c.EGRESS_SESSION_IDLE_SEC, 600);
  assert.is(c.REGISTRATION, 'first');
  assert.is(c.INVITATION_TTL_HOURS, 72);
  assert.is(c.UNSCOPED_MEETINGS_ORG, 'first');
  assert.equal(c.UNSCOPED_MEETINGS_ROLES, ['owner', 'admin']);
  assert.ok(Object.isFrozen(c));
  const again = loadConfig({ DATA_DIR: path.join(dir, 'data') }, dir);
  assert.is(again.EGRESS_SECRET, c.EGRESS_SECRET, 'generated secret survives a restart');
  assert.is.not(c.JWT_ACCESS_SECRET, c.JWT_REFRESH_SECRET);
});

test('a bad value names its variable', () => {
  const dir = tmp();
  for (const [name, value] of [['PORT', 'abc'], ['PORT', '70000'], ['REQUIRE_AUTH', 'maybe'], ['STUN_SERVERS', '[1]'], ['PUBLIC_URL', 'not a url'], ['FEEDBACK_LOCALE', 'fr'], ['EGRESS_SESSION_IDLE_SEC', '0.5'],
    ['REGISTRATION', 'invite'], ['INVITATION_TTL_HOURS', '0'], ['INVITATION_TTL_HOURS', '9000'], ['UNSCOPED_MEETINGS_ORG', 'org_short'],
    ['UNSCOPED_MEETINGS_ROLES', 'owner,guest'], ['UNSCOPED_MEETINGS_ROLES', ' , ']]) {
    try {
      loadConfig({ DATA_DIR: path.join(dir, 'data'), [name!]: value! }, dir);
      assert.unreachable(`${name}=${value} accepted`);
    } catch (err) {
      assert.instance(err, ConfigError);
      assert.is((err as ConfigError).variable, name);
    }
  }
});

test('LiveKit and TURN turn on only when fully configured', () => {
  const dir = tmp();
  const c = loadConfig({ DATA_DIR: path.join(dir, 'd'), LIVEKIT_URL: 'http://lk:7880', LIVEKIT_API_KEY: 'k', LIVEKIT_API_SECRET: 's', TURN_URLS: 'turn:a:3478', TURN_SECRET: 'x' }, dir);
  assert.ok(c.livekitEnabled);
  assert.ok(c.AUTO_EGRESS);
  assert.ok(c.turnEnabled);
  assert.equal(c.TURN_URLS, ['turn:a:3478']);
});

test.run();
