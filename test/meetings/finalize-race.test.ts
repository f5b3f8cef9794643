/**
 * The meetings owner (src/meetings/index.ts) with a real SQLite file and its real render worker: a stream that
 * opens and closes while the final report is being stored must be in the final report left in SQLite, and only
 * that report is announced (`meeting.report`).
 *
 * The store runs in the worker thread, so everything the test does synchronously after `finish` happens while
 * the first final report is being made and written.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { EgressStreamInfo } from '../../src/context.js';
import { createLogger } from '../../src/log.js';
import { Meetings } from '../../src/meetings/index.js';
import type { ReportSummary } from '../../src/meetings/render-pool.js';
import { openDatabase } from '../../src/store/db.js';
import { ReportStore } from '../../src/store/reports.js';
import { SessionStore } from '../../src/store/sessions.js';

const T0 = 1_767_225_600_000;
const MEETING = 'MT_finalize_race';

function stream(streamId: number, participant: string): EgressStreamInfo {
  return {
    streamId, kind: 'audio', meetingId: MEETING, roomName: 'room', participant, trackId: `TR_${participant}`,
    startedAt: T0, recordingId: streamId, path: `${participant}.wav`,
  };
}

/** One talk spurt of `participant` on stream `streamId`, [startMs, endMs) Unix ms. */
function spurt(streamId: number, participant: string, startMs: number, endMs: number) {
  return { type: 'speech' as const, streamId, meetingId: MEETING, participantId: participant, startMs, endMs };
}

test('a stream that opens and closes while the final report is stored is in the final report; one report is announced', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meetcore-finalize-'));
  const db = openDatabase(path.join(dir, 'meetcore.db'));
  const sessions = new SessionStore(db);
  const reports = new ReportStore(db);
  const meetings = new Meetings({ sessions, reports, log: createLogger('silent') });
  try {
    sessions.open({ roomName: 'room', meetingId: MEETING, startedAt: T0 });
    const announced: ReportSummary[] = [];
    meetings.on('meeting.report', (s) => announced.push(s));

    const alice = stream(1, 'alice');
    meetings.streamOpened(alice);
    meetings.engineEvents([spurt(1, 'alice', T0, T0 + 2000)]);
    meetings.streamClosed(alice, 'done', T0 + 3000);
    meetings.finish(MEETING, T0 + 3000);
    // The final report is being made in the worker: bob comes and goes meanwhile.
    const bob = stream(2, 'bob');
    meetings.streamOpened(bob);
    meetings.engineEvents([spurt(2, 'bob', T0 + 4000, T0 + 5000)]);
    meetings.streamClosed(bob, 'done', T0 + 6000);

    const deadline = Date.now() + 20_000;
    while (announced.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 300)); // a second announcement would come now
    assert.is(announced.length, 1, `announced ${announced.length} final reports`);
    const stored = reports.get(MEETING);
    assert.ok(stored, 'a report is stored');
    assert.is(stored!.final, true);
    const talk = Object.fromEntries(stored!.participants.map((p) => [p.participantId, p.talkTimeMs]));
    assert.equal(talk, { alice: 2000, bob: 1000 }, 'both streams are in the stored final report');
    assert.is(announced[0]!.participantCount, 2);
  } finally {
    await meetings.close();
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
