/**
 * Versions of stored reports (src/meetings/index.ts `stamp`, src/store/reports.ts): a meeting's last stream
 * closes (its report so far is stored) and the meeting ends (its final report is stored) in the same
 * millisecond, before the first store is written. Both stores get their own version (created_at), so the
 * render worker writes both, the final one last, and the final report is announced. Real Meetings, render
 * worker and SQLite file; the logger writes into an array read by the test.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { EgressStreamInfo } from '../../src/context.js';
import { Meetings } from '../../src/meetings/index.js';
import type { ReportSummary } from '../../src/meetings/render-pool.js';
import { openDatabase } from '../../src/store/db.js';
import { ReportStore } from '../../src/store/reports.js';
import { SessionStore } from '../../src/store/sessions.js';

test('a report stored at the last stream\'s close and the final report asked for in the same millisecond are both written, the final one left', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meetcore-report-stamps-'));
  const db = openDatabase(path.join(dir, 'meetcore.db'));
  const lines: string[] = [];
  const sessions = new SessionStore(db);
  const meetings = new Meetings({ sessions, reports: new ReportStore(db), log: pino({ level: 'debug' }, { write: (line: string) => { lines.push(line); } }) });
  const logged = (meetingId: string) => lines.map((l) => JSON.parse(l) as { level: number; msg: string; meetingId?: string; final?: boolean }).filter((l) => l.meetingId === meetingId);
  try {
    // Until both stores of a meeting are asked for within one millisecond (the first attempt, but on a busy machine).
    for (let attempt = 1; ; attempt++) {
      const meetingId = `s${attempt}`;
      sessions.open({ roomName: `room-${meetingId}`, meetingId });
      const info: EgressStreamInfo = { streamId: attempt, kind: 'audio', meetingId, roomName: `room-${meetingId}`, participant: 'p1', trackId: 'TR_p1', startedAt: Date.now(), recordingId: attempt, path: path.join(dir, `${meetingId}.wav`) };
      meetings.streamOpened(info);
      // The render worker started and the code paths run once (a report rendered), so that nothing below waits.
      await meetings.reportJson(meetingId)!.bytes;
      const announced = new Promise<ReportSummary>((resolve) => meetings.once('meeting.report', resolve));
      for (const t = Date.now(); Date.now() === t;);
      const t0 = Date.now();
      meetings.streamClosed(info, 'ended', 1000);
      meetings.finish(meetingId, Date.now());
      const sameMs = Date.now() === t0;
      let timer: NodeJS.Timeout | undefined;
      const summary = await Promise.race([announced, new Promise<null>((r) => { timer = setTimeout(() => r(null), 20_000); })]);
      clearTimeout(timer);
      assert.equal(logged(meetingId).filter((l) => l.level >= 50), [], 'nothing failed');
      assert.ok(summary, 'the final report was announced');
      assert.is(summary.meetingId, meetingId);
      assert.is(summary.final, true);
      assert.is(new ReportStore(db).get(meetingId)?.final, true, 'the final report is the one stored');
      assert.equal(logged(meetingId).filter((l) => l.msg === 'meeting report stored').map((l) => l.final), [false, true], 'both stores were written, in order');
      if (sameMs) break;
      assert.ok(attempt < 50, 'the two stores were never asked for within one millisecond');
    }
  } finally {
    await meetings.close();
    db.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
