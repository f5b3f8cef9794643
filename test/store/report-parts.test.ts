/**
 * Stored meeting reports in parts (src/store/reports.ts, migration 010), on real SQLite files in a temp folder:
 * a ~1 MB report round-trips byte for byte with a 4-byte character cut by a part boundary; a new version
 * replaces the old one and leaves none of its parts; parts of a write cut midway are never read and are removed
 * by the next write; a reader on another connection during a write reads the old report whole, then the new
 * one; a database at schema 9 with a report stored the old way (one TEXT column) is migrated and reads back
 * the same report.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openDatabase, type Db } from '../../src/store/db.js';
import { migrations } from '../../src/store/migrations/index.js';
import { REPORT_PART_BYTES, ReportStore } from '../../src/store/reports.js';
import { SessionStore } from '../../src/store/sessions.js';
import type { MeetingReport } from '../../src/meetings/report.js';

const EMOJI = '😀';
const T0 = 1_767_225_600_000;
let dir: string;
const opened: Db[] = [];

test.before(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meetcore-report-parts-')); });
test.after(() => {
  for (const db of opened) if (db.open) db.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh database file (all migrations) with a session for `meetingId`. */
function database(name: string, meetingId: string): Db {
  const db = openDatabase(path.join(dir, `${name}.db`));
  opened.push(db);
  new SessionStore(db).open({ roomName: `room-${meetingId}`, meetingId });
  return db;
}

/** A second connection to the file of `db`. */
function another(db: Db): Db {
  const other = openDatabase(db.name);
  opened.push(other);
  return other;
}

/**
 * A report of about `spurts` × 60 bytes whose first participant is named `name` (the participants come
 * before the timeline in its JSON).
 */
function report(meetingId: string, name: string, spurts: number, final = false): MeetingReport {
  const participant = (id: string, n: string | null) => ({
    participantId: id, name: n, isHost: false, talkTimeMs: 0, talkSharePercent: 0, turnCount: 0, longestMonologueMs: 0,
    interruptionsMadeCount: 0, interruptionsReceivedCount: 0, interruptedCounts: {}, interruptedByCounts: {}, backchannelCount: 0, patienceMs: null,
  });
  return {
    meetingId, final, startedAtMs: T0, endedAtMs: T0 + spurts * 700, durationMs: spurts * 700, speechMs: 0, silenceSharePercent: 0,
    speakerSwitchCount: 0, speakerSwitchesPerMin: 0, interruptionCount: 0, backchannelCount: 0,
    participants: [participant('p0', name), participant('p1', 'Zoë')],
    timeline: { spurts: Array.from({ length: spurts }, (_, i) => ({ participantId: `p${i % 2}`, startMs: T0 + i * 700, endMs: T0 + i * 700 + 500 })), interruptions: [], backchannels: [] },
    generatedAt: T0,
  };
}

/** A ~1 MB report whose first participant's name puts an emoji's 4 UTF-8 bytes across the first part boundary (2 bytes each side). */
function reportAcrossBoundary(meetingId: string): { report: MeetingReport; json: Buffer } {
  // The byte offset of the name's first character (the name is ASCII up to the emoji).
  const at = Buffer.from(JSON.stringify(report(meetingId, 'NAME', 17_000)), 'utf8').indexOf('"NAME"') + 1;
  const r = report(meetingId, `${'a'.repeat(REPORT_PART_BYTES - 2 - at)}${EMOJI} Ana`, 17_000);
  const json = Buffer.from(JSON.stringify(r), 'utf8');
  assert.equal(json.subarray(REPORT_PART_BYTES - 2, REPORT_PART_BYTES + 2), Buffer.from(EMOJI, 'utf8'), 'the emoji is across the boundary');
  assert.ok(json.length > 1_000_000, `${json.length} bytes`);
  return { report: r, json };
}

/** The parts stored for a meeting: version, seq and length of each, in order. */
function parts(db: Db, meetingId: string): { version: number; seq: number; length: number }[] {
  return db.prepare<[string], { version: number; seq: number; length: number }>(
    'SELECT version, seq, length(bytes) AS length FROM meeting_report_parts WHERE meeting_id = ? ORDER BY version, seq').all(meetingId);
}

test('a ~1 MB report with an emoji across a part boundary round-trips byte for byte, in 256 KiB parts', () => {
  const db = database('roundtrip', 'm1');
  const { report: r, json } = reportAcrossBoundary('m1');
  const store = new ReportStore(db);
  store.put(r, T0 + 1);
  assert.equal(store.bytes('m1'), json);
  assert.equal(store.get('m1'), r);
  assert.is(store.get('m1')!.participants[0]!.name!.slice(-6), `${EMOJI} Ana`);
  assert.is(store.storedAt('m1'), T0 + 1);
  const stored = parts(db, 'm1');
  assert.is(stored.length, Math.ceil(json.length / REPORT_PART_BYTES));
  assert.ok(stored.every((p, i) => p.version === T0 + 1 && p.seq === i && p.length === Math.min(REPORT_PART_BYTES, json.length - i * REPORT_PART_BYTES)));
  // Read on another connection, from the file.
  const other = new ReportStore(another(db));
  assert.equal(other.bytes('m1'), json);
  assert.is(other.storedAt('m1'), T0 + 1);
  assert.is(other.bytes('none'), null);
  assert.is(other.get('none'), null);
  assert.is(other.storedAt('none'), null);
});

test('a second put replaces the report and leaves no part of the old version; the stored version again is refused', () => {
  const db = database('replace', 'm2');
  const store = new ReportStore(db);
  const { report: first } = reportAcrossBoundary('m2');
  store.put(first, T0 + 1);
  const second = report('m2', 'Bea', 9_000, true);
  store.put(second, T0 + 2);
  assert.equal(store.get('m2'), second);
  assert.is(store.storedAt('m2'), T0 + 2);
  assert.equal([...new Set(parts(db, 'm2').map((p) => p.version))], [T0 + 2], 'only the new version\'s parts are left');
  assert.equal(db.prepare('SELECT final, created_at FROM meeting_reports WHERE meeting_id = ?').get('m2'), { final: 1, created_at: T0 + 2 });
  assert.throws(() => store.put(first, T0 + 2), (e: unknown) => e instanceof RangeError);
  assert.equal(store.get('m2'), second);
});

test('the parts of a write cut midway are never read, and the next write (even of the same version) removes them first', () => {
  const db = database('leftover', 'm3');
  const store = new ReportStore(db);
  const old = report('m3', 'Old', 9_000);
  store.put(old, T0 + 1);
  // A write of version T0 + 2 that stops after its second part (as a crash would).
  let written = 0;
  const cut = () => { if (++written === 2) throw new Error('cut'); };
  assert.throws(() => store.put(reportAcrossBoundary('m3').report, T0 + 2, { between: cut }), /cut/);
  assert.equal(parts(db, 'm3').filter((p) => p.version === T0 + 2).map((p) => p.seq), [0, 1], 'two parts of the cut write are in the table');
  // A fresh connection (no stamp in memory) reads the committed report only.
  const fresh = new ReportStore(another(db));
  assert.equal(fresh.get('m3'), old);
  assert.is(fresh.storedAt('m3'), T0 + 1);
  // The next write may have the cut one's version (the server's next stamp is the stored one's + 1 at least).
  const next = report('m3', 'Next', 100);
  fresh.put(next, T0 + 2);
  assert.equal(fresh.get('m3'), next);
  assert.equal(fresh.bytes('m3'), Buffer.from(JSON.stringify(next), 'utf8'));
  assert.equal(parts(db, 'm3').map((p) => [p.version, p.seq]), [[T0 + 2, 0]], 'neither the cut write\'s parts nor the old ones are left');
});

test('a reader on another connection during a write reads the old report whole until the new one is committed, then the new one whole', () => {
  const db = database('reader', 'm4');
  const writer = new ReportStore(db);
  const reader = new ReportStore(another(db));
  const old = reportAcrossBoundary('m4');
  writer.put(old.report, T0 + 1);
  const next = report('m4', `Nova ${EMOJI}`, 16_000, true);
  const nextJson = Buffer.from(JSON.stringify(next), 'utf8');
  const seen: string[] = [];
  writer.put(next, T0 + 2, {
    between: () => {
      const b = reader.bytes('m4');
      seen.push(b?.equals(old.json) ? 'old' : b?.equals(nextJson) ? 'new' : `neither (${b?.length ?? 'null'} bytes)`);
    },
  });
  const newParts = Math.ceil(nextJson.length / REPORT_PART_BYTES);
  const oldParts = Math.ceil(old.json.length / REPORT_PART_BYTES);
  // After each new part: the old report; between the deletions of the old parts: the new one.
  assert.equal(seen, [...Array<string>(newParts).fill('old'), ...Array<string>(oldParts - 1).fill('new')]);
  assert.equal(reader.bytes('m4'), nextJson);
});

test('a database at schema 9 with a report stored the old way is migrated: the report reads back equal, then is replaced by parts', () => {
  const file = path.join(dir, 'schema9.db');
  const v9 = openDatabase(file, migrations.filter((m) => m.version <= 9));
  // The row as schema 9 has it (the stores of today prepare statements of later migrations).
  v9.prepare("INSERT INTO sessions (meeting_id, room_name, status, started_at) VALUES ('m5', 'room-m5', 'ACTIVE', ?)").run(T0);
  const old = report('m5', `Zé ${EMOJI}`, 3_000, true);
  v9.prepare('INSERT INTO meeting_reports (meeting_id, report, final, created_at) VALUES (?, ?, 1, ?)').run('m5', JSON.stringify(old), T0 + 7);
  v9.close();

  const db = openDatabase(file);
  opened.push(db);
  const store = new ReportStore(db);
  assert.equal(store.get('m5'), old);
  assert.equal(store.bytes('m5'), Buffer.from(JSON.stringify(old), 'utf8'));
  assert.is(store.storedAt('m5'), T0 + 7);
  assert.equal(parts(db, 'm5').map((p) => [p.version, p.seq]), [[T0 + 7, 0]], 'one part, version = created_at');
  const columns = db.prepare<[], string>("SELECT name FROM pragma_table_info('meeting_reports')").pluck().all();
  assert.equal(columns, ['meeting_id', 'final', 'created_at']);
  assert.is(db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'meeting_reports_stamp'").get(), undefined);
  const next = report('m5', 'Next', 10);
  store.put(next, T0 + 8);
  assert.equal(store.get('m5'), next);
  assert.equal(parts(db, 'm5').map((p) => p.version), [T0 + 8]);
});

test('storedAt keeps at most 10,000 stamps noted by other connections, and forgets one on request', () => {
  const db = database('stamps', 'm6');
  const store = new ReportStore(db);
  // Noted (as the render worker's writes are), never stored here: the row says there is none.
  store.noteStored('m6', T0);
  assert.is(store.storedAt('m6'), T0, 'the noted stamp');
  store.forget('m6');
  assert.is(store.storedAt('m6'), null, 'forgotten: read from the row');
  store.noteStored('m6', T0);
  for (let i = 0; i < 10_000; i++) store.noteStored(`other-${i}`, T0 + i);
  assert.is(store.storedAt('m6'), null, 'the oldest stamp went beyond 10,000: read from the row');
  assert.is(store.storedAt('other-9999'), T0 + 9999);
});

test.run();
