/**
 * Per-meeting pipeline logs (PROTOCOL.md §4): `STORAGE_DIR/pipeline-logs/<meetingId>.log`, one JSON object
 * per line (stream opened/closed, and one line per engine batch with that meeting's flush/stats figures).
 * Each meeting has one buffered append stream (fs.WriteStream: lines written while a write is in flight are
 * coalesced into one writev), opened on first use and closed when the meeting's last stream ends.
 */
import fs from 'node:fs';
import type { Logger } from '../log.js';
import { resolveUnder, safeNamePart } from './names.js';

export class PipelineLogs {
  private readonly open = new Map<string, fs.WriteStream>();
  private readonly dir: string;

  /** @param storageDir STORAGE_DIR; the folder `pipeline-logs` is created on first use. */
  constructor(storageDir: string, private readonly log: Logger) {
    this.dir = resolveUnder(storageDir, 'pipeline-logs');
  }

  /** Path of a meeting's log file (the meeting id reduced to a safe file name). */
  pathOf(meetingId: string): string {
    return resolveUnder(this.dir, `${safeNamePart(meetingId)}.log`);
  }

  /** Append one record as a JSON line (`ts` = wall clock, Unix ms, is added first). Never throws. */
  write(meetingId: string, record: Record<string, unknown>): void {
    let stream = this.open.get(meetingId);
    if (!stream) {
      try {
        fs.mkdirSync(this.dir, { recursive: true });
      } catch (err) {
        this.log.error({ err, dir: this.dir }, 'cannot create the pipeline log folder');
        return;
      }
      stream = fs.createWriteStream(this.pathOf(meetingId), { flags: 'a' });
      stream.on('error', (err) => this.log.error({ err, meetingId }, 'pipeline log write failed'));
      this.open.set(meetingId, stream);
    }
    stream.write(`${JSON.stringify({ ts: Date.now(), meetingId, ...record })}\n`);
  }

  /** Flush and close a meeting's log; resolves when its bytes are on disk (no-op when not open). */
  close(meetingId: string): Promise<void> {
    const stream = this.open.get(meetingId);
    if (!stream) return Promise.resolve();
    this.open.delete(meetingId);
    return new Promise((resolve) => {
      stream.end(() => resolve());
      stream.once('error', () => resolve());
    });
  }

  /** Close every open log (shutdown). */
  async closeAll(): Promise<void> {
    await Promise.all([...this.open.keys()].map((id) => this.close(id)));
  }
}
