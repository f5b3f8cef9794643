/**
 * Start-up repair of recordings cut by a crash (PROTOCOL.md §4): a row still RECORDING means the previous
 * process died before finalizing it. Its file keeps every byte flushed before the crash, but the RIFF and
 * data sizes may be up to one flush behind and a partial sample frame may trail. The repair sets both sizes
 * from the file length (cutting the partial frame) and closes the row as REPAIRED (endedAt = file mtime).
 * Then every .wav under `STORAGE_DIR/egress/audio/<meeting>/` is checked the same way (orphans whose row
 * was never written, segment files).
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from '../log.js';
import type { MutedInterval, Recording, RecordingStore } from '../store/recordings.js';
import { resolveUnder } from './names.js';
import { repairWavFile } from './wav.js';

export interface RepairReport {
  /** Rows closed as REPAIRED. */
  repaired: number;
  /** Rows closed as FAILED (file missing or unreadable). */
  failed: number;
  /** Files without a row (or with a COMPLETE row) whose header sizes were wrong and were fixed. */
  orphansFixed: number;
  /** .wav files that are not RIFF/WAVE at all (left alone, logged). */
  unreadable: number;
}

/**
 * Run the repair synchronously (start-up, before any egress stream exists).
 * Never throws: a file that cannot be repaired is logged and its row marked FAILED.
 */
export function repairRecordings(storageDir: string, recordings: RecordingStore, log: Logger): RepairReport {
  const report: RepairReport = { repaired: 0, failed: 0, orphansFixed: 0, unreadable: 0 };
  for (const row of recordings.byStatus('RECORDING')) {
    if (row.kind !== 'audio') continue;
    try {
      const file = resolveUnder(storageDir, row.path);
      const mtime = Math.round(fs.statSync(file).mtimeMs);
      const fmt = { sampleRate: row.sampleRate ?? 48000, channels: row.channels ?? 2 };
      const r = repairWavFile(file, fmt)!;
      recordings.finish(row.id, {
        bytes: r.dataBytes, endedAt: mtime, status: 'REPAIRED',
        closeReason: 'server stopped before the stream ended; sizes repaired at start-up',
        mutedIntervals: closeOpenIntervals(row, r.dataBytes),
      });
      report.repaired++;
      log.warn({ recordingId: row.id, path: row.path, dataBytes: r.dataBytes, truncatedBytes: r.truncatedBytes, rewroteHeader: r.rewroteHeader }, 'recording repaired after a crash');
    } catch (err) {
      recordings.finish(row.id, { bytes: row.bytes, endedAt: Date.now(), status: 'FAILED', closeReason: `repair failed: ${(err as Error).message}`, mutedIntervals: closeOpenIntervals(row, row.bytes) });
      report.failed++;
      log.error({ err, recordingId: row.id, path: row.path }, 'recording could not be repaired');
    }
  }
  const root = path.join(storageDir, 'egress', 'audio');
  for (const file of wavFiles(root)) {
    try {
      const r = repairWavFile(file);
      if (r === null) {
        report.unreadable++;
        log.warn({ file }, 'not a RIFF/WAVE file; left alone');
      } else if (r.changed) {
        report.orphansFixed++;
        log.warn({ file, dataBytes: r.dataBytes, truncatedBytes: r.truncatedBytes }, 'WAV header sizes fixed');
      }
    } catch (err) {
      log.error({ err, file }, 'cannot check WAV file');
    }
  }
  return report;
}

/** `<root>/<meeting>/*.wav` (two levels, regular files only). */
function wavFiles(root: string): string[] {
  const out: string[] = [];
  let meetings: fs.Dirent[];
  try { meetings = fs.readdirSync(root, { withFileTypes: true }); } catch { return out; }
  for (const m of meetings) {
    if (!m.isDirectory()) continue;
    const dir = path.join(root, m.name);
    for (const f of fs.readdirSync(dir, { withFileTypes: true })) {
      if (f.isFile() && f.name.endsWith('.wav')) out.push(path.join(dir, f.name));
    }
  }
  return out;
}

/**
 * A mute still open at the crash ends at the recording's last known stream time: the start plus the
 * recorded samples plus the closed muted spans (never before the mute's own start).
 */
function closeOpenIntervals(row: Recording, dataBytes: number): MutedInterval[] {
  const blockAlign = (row.channels ?? 2) * 2;
  const recordedMs = (Math.floor(dataBytes / blockAlign) / (row.sampleRate ?? 48000)) * 1000;
  const mutedMs = row.mutedIntervals.reduce((sum, m) => sum + (m.endMs === null ? 0 : m.endMs - m.startMs), 0);
  const endEstimate = Math.round(row.startedAt + recordedMs + mutedMs);
  return row.mutedIntervals.map((m) => (m.endMs === null ? { startMs: m.startMs, endMs: Math.max(m.startMs, endEstimate) } : m));
}
