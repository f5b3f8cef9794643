/**
 * The file of a video recording (`/egress-video`), written from the JS thread in blocks, with the same
 * accounting rules as the native WAV writer (native/core/recording.h):
 *
 * - `append` copies into a 64 KiB block (uWS reuses the message memory after its callback, so a copy is needed
 *   anyway; this one allocates nothing per frame). A full block, or whatever waits 500 ms after the first byte
 *   of a block, goes to the kernel with one `fs.writev` of every waiting block, one write in flight at a time;
 *   a partial write continues with the remainder.
 * - `bytes` counts only bytes the kernel accepted: the file's length.
 * - On the first write error (ENOSPC, EDQUOT, EIO, ...) nothing more is written: the file is cut back
 *   (ftruncate) to the last whole coded unit of what was accepted (the end of the last complete IVF frame; the
 *   start of the last H.264 start code), `bytes` becomes that length, `error` the OS text
 *   (`"ENOSPC: no space left on device"`) and `onError` is called. A file cut back to 0 bytes is removed.
 * - A disk slower than the stream: once more than `VIDEO_MAX_WAITING_BYTES` wait for the kernel, the recording
 *   fails like on a write error, with `error` = "storage too slow: …" (memory stays bounded).
 * - `VideoFile.create` writes the first bytes synchronously, so a disk that is already full (or a folder that
 *   cannot be written) is known before the stream is accepted; the file is then removed and the error thrown.
 */
import fs from 'node:fs';
import { recordingErrorText } from './socket.js';

/** Bytes per block handed to the kernel. */
export const VIDEO_BLOCK_BYTES = 64 * 1024;
/** Longest time a written byte waits in the block before it goes to the kernel, ms. */
export const VIDEO_FLUSH_MS = 500;
/**
 * Most bytes that may wait for the kernel (queued and in flight) before the recording gives up as if the disk
 * had failed ("storage too slow"): 16 MiB, about 30 s of a 4 Mbit/s stream.
 */
export const VIDEO_MAX_WAITING_BYTES = 16 * 1024 * 1024;

/** IVF file header length (the `DKIF` header, version 0), bytes. */
export const IVF_FILE_HEADER_BYTES = 32;
/** IVF frame header length: u32le payload size, u64le pts. */
const IVF_FRAME_HEADER_BYTES = 12;

/**
 * Walks an IVF stream fed chunk by chunk, split anywhere: the 32-byte file header, then frames of a 12-byte
 * header (u32le payload size, u64le pts) and their payload. Used by the mute gate (where frames start) and
 * by the cut points of a failed recording (where frames end).
 */
export class IvfWalker {
  /** Bytes still to pass before the next frame header: the file header, then each frame's payload. */
  private skip = IVF_FILE_HEADER_BYTES;
  private readonly header = Buffer.alloc(IVF_FRAME_HEADER_BYTES);
  private headerLen = 0;

  /**
   * Consume the next chunk.
   * @param onFrame called for each frame header completed in this chunk: the offset in the chunk just after the
   *   header, and the payload size in bytes.
   * @returns the offset in the chunk of the first frame header that starts in it, or null.
   */
  feed(chunk: Uint8Array, onFrame?: (after: number, size: number) => void): number | null {
    let first: number | null = null;
    let p = 0;
    while (p < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - p);
        this.skip -= n;
        p += n;
        continue;
      }
      if (this.headerLen === 0 && first === null) first = p;
      const n = Math.min(IVF_FRAME_HEADER_BYTES - this.headerLen, chunk.length - p);
      this.header.set(chunk.subarray(p, p + n), this.headerLen);
      this.headerLen += n;
      p += n;
      if (this.headerLen === IVF_FRAME_HEADER_BYTES) {
        this.skip = this.header.readUInt32LE(0);
        this.headerLen = 0;
        onFrame?.(p, this.skip);
      }
    }
    return first;
  }
}
const START_CODE = Buffer.from([0, 0, 1]);

/** Where a file of a container may be cut so that it ends with a whole unit. */
interface CutPoints {
  /** See every appended byte, in order (offsets are the file's). */
  feed(part: Uint8Array): void;
  /** Largest cut ≤ `limit` (bytes accepted) leaving only whole units; may read the file through `fd`. */
  cutAt(limit: number, fd: number): number;
}

/** IVF: after the 32-byte file header, each frame is a 12-byte header (u32le payload size, u64le pts) and its payload. */
export class IvfCutPoints implements CutPoints {
  /** Frame ends (and the file header's end) not yet known to be ≤ what the kernel accepted, ascending. */
  private ends: number[] = [IVF_FILE_HEADER_BYTES];
  /** Largest known unit end passed by an earlier `cutAt` / `confirm` (0: none). */
  private safe = 0;
  private offset = 0;
  private readonly walker = new IvfWalker();

  feed(part: Uint8Array): void {
    this.walker.feed(part, (after, size) => this.ends.push(this.offset + after + size));
    this.offset += part.length;
  }

  /** Forget unit ends ≤ `accepted` but the last (keeps the list as short as the bytes in flight). */
  confirm(accepted: number): void {
    let i = 0;
    while (i < this.ends.length && this.ends[i]! <= accepted) this.safe = this.ends[i++]!;
    if (i > 0) this.ends = this.ends.slice(i);
  }

  cutAt(limit: number): number {
    this.confirm(limit);
    return this.safe;
  }
}

/**
 * Annex-B H.264: a unit starts at each `00 00 01` (with one leading `00` when present). Nothing is tracked
 * while writing (no per-byte work on the hot path); `cutAt` reads the file back from `limit`, 1 MiB at a time,
 * until it finds the last start code.
 */
export class AnnexBCutPoints implements CutPoints {
  feed(): void { /* nothing: the cut is found in the file */ }

  cutAt(limit: number, fd: number): number {
    const window = 1 << 20;
    for (let end = limit; end >= START_CODE.length;) {
      const start = Math.max(0, end - window);
      const buf = Buffer.alloc(end - start);
      readFully(fd, buf, start);
      const i = buf.lastIndexOf(START_CODE);
      if (i >= 0) {
        const at = start + i;
        if (at === 0) return 0;
        const before = i > 0 ? buf[i - 1]! : readByte(fd, at - 1);
        return before === 0 ? at - 1 : at;
      }
      if (start === 0) return 0;
      end = start + START_CODE.length - 1;  // a start code across the window edge is seen by the next window
    }
    return 0;
  }
}

function readFully(fd: number, buf: Buffer, position: number): void {
  for (let off = 0; off < buf.length;) {
    const n = fs.readSync(fd, buf, off, buf.length - off, position + off);
    if (n === 0) throw new Error(`unexpected end of file at ${position + off}`);
    off += n;
  }
}

function readByte(fd: number, position: number): number {
  const b = Buffer.alloc(1);
  readFully(fd, b, position);
  return b[0]!;
}

/** The buffers of `bufs` past their first `n` bytes. */
function dropFront(bufs: Buffer[], n: number): Buffer[] {
  let i = 0;
  while (i < bufs.length && n >= bufs[i]!.length) n -= bufs[i++]!.length;
  const rest = bufs.slice(i);
  if (n > 0 && rest.length > 0) rest[0] = rest[0]!.subarray(n);
  return rest;
}

/** "ENOSPC: no space left on device" for an fs error, else the message. */
function osText(err: unknown): string {
  return recordingErrorText(err) ?? (err as Error).message ?? String(err);
}

export class VideoFile {
  /** Bytes the kernel accepted: the file's length (after a failure: the length of the cut file). */
  private written = 0;
  /** The first failure as OS text, or null. */
  error: string | null = null;
  /** Resolves once the file is closed (and, after a failure, cut back or removed). */
  readonly closed: Promise<void>;

  private fd: number;
  private block = Buffer.allocUnsafe(VIDEO_BLOCK_BYTES);
  private fill = 0;
  private queue: Buffer[] = [];
  private inFlight = false;
  /** Bytes handed to `queueBlock` and not yet accepted by the kernel. */
  private waiting = 0;
  /** Set when `waiting` would pass the bound: nothing more is queued, and the write in flight ends the file. */
  private tooSlow = false;
  private ending = false;
  private timer: NodeJS.Timeout | null = null;
  private resolveClosed!: () => void;

  private constructor(readonly path: string, fd: number, private readonly cuts: CutPoints, private readonly onError: (text: string) => void, private readonly maxWaitingBytes: number) {
    this.fd = fd;
    this.closed = new Promise<void>((r) => { this.resolveClosed = r; });
  }

  /**
   * Create `file` (it must not exist) and write `first` synchronously.
   * @param codec picks the unit boundaries a failure cuts back to (H.264 start codes or IVF frames).
   * @param onError called once, on the first write error after the creation, with the OS text.
   * @param maxWaitingBytes see VIDEO_MAX_WAITING_BYTES.
   * @throws the fs error (ENOSPC, EROFS, EACCES, EEXIST, ...) when the file cannot be created or `first`
   *   cannot be written; the file is removed again, nothing is left behind.
   */
  static create(file: string, codec: 'h264' | 'vp8' | 'vp9', first: readonly Uint8Array[], onError: (text: string) => void, maxWaitingBytes = VIDEO_MAX_WAITING_BYTES): VideoFile {
    const fd = fs.openSync(file, 'wx+', 0o666);  // read too: an H.264 cut is found by reading back
    const f = new VideoFile(file, fd, codec === 'h264' ? new AnnexBCutPoints() : new IvfCutPoints(), onError, maxWaitingBytes);
    try {
      let rest = first.filter((b) => b.length > 0).map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength));
      for (const b of rest) f.cuts.feed(b);
      while (rest.length > 0) {
        const n = fs.writevSync(fd, rest);
        if (n === 0) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write' });
        f.written += n;
        rest = dropFront(rest, n);
      }
    } catch (err) {
      fs.closeSync(fd);
      fs.rmSync(file, { force: true });
      throw err;
    }
    return f;
  }

  /** Bytes the kernel accepted so far (= the file's length). */
  get bytes(): number {
    return this.written;
  }

  /** Append a copy of `part` (ignored after a failure or `end`). */
  append(part: Uint8Array): void {
    if (this.error !== null || this.tooSlow || this.ending || part.length === 0) return;
    this.cuts.feed(part);
    for (let p = 0; p < part.length;) {
      const n = Math.min(part.length - p, VIDEO_BLOCK_BYTES - this.fill);
      this.block.set(part.subarray(p, p + n), this.fill);
      this.fill += n;
      p += n;
      if (this.fill === VIDEO_BLOCK_BYTES) this.queueBlock();
    }
    if (this.fill > 0 && this.timer === null) {
      this.timer = setTimeout(() => { this.timer = null; this.queueBlock(); }, VIDEO_FLUSH_MS);
      this.timer.unref();
    }
  }

  /** Write what is buffered and close. Idempotent; resolves like `closed`. */
  end(): Promise<void> {
    if (!this.ending) {
      this.ending = true;
      if (this.timer) { clearTimeout(this.timer); this.timer = null; }
      if (this.error === null) this.queueBlock();
      this.finishIfIdle();
    }
    return this.closed;
  }

  private queueBlock(): void {
    if (this.fill === 0 || this.error !== null || this.tooSlow) return;
    const block = this.fill === VIDEO_BLOCK_BYTES ? this.block : this.block.subarray(0, this.fill);
    this.fill = 0;
    if (this.waiting + block.length > this.maxWaitingBytes) {
      // Dropped: the write in flight (there is one, or nothing would be waiting) ends the file when it returns.
      this.tooSlow = true;
      return;
    }
    this.waiting += block.length;
    this.queue.push(block);
    this.block = Buffer.allocUnsafe(VIDEO_BLOCK_BYTES);
    this.pump();
  }

  private pump(): void {
    if (this.inFlight || this.error !== null || this.queue.length === 0) return;
    const bufs = this.queue;
    this.queue = [];
    this.inFlight = true;
    this.writeBuffers(bufs);
  }

  private writeBuffers(bufs: Buffer[]): void {
    fs.writev(this.fd, bufs, (err, n) => {
      if (!err) {
        this.written += n;
        this.waiting -= n;
        if (this.cuts instanceof IvfCutPoints) this.cuts.confirm(this.written);
        const rest = dropFront(bufs, n);
        if (rest.length > 0 && n > 0) { this.writeBuffers(rest); return; }  // partial write: the next call reports why
        if (rest.length > 0) err = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', syscall: 'write' });
      }
      this.inFlight = false;
      if (!err && this.tooSlow) err = new Error(`storage too slow: over ${this.maxWaitingBytes} bytes waited for the disk`);
      if (err) this.fail(err);
      else this.pump();
      this.finishIfIdle();
    });
  }

  /** First write error: stop, cut back to the last whole unit of what was accepted, tell the owner. */
  private fail(err: unknown): void {
    if (this.error !== null) return;
    this.error = osText(err);
    this.queue = [];
    this.fill = 0;
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    try {
      const cut = this.cuts.cutAt(this.written, this.fd);
      fs.ftruncateSync(this.fd, cut);
      this.written = cut;
    } catch (e) {
      this.error += `; cutting the file back failed: ${osText(e)}`;
    }
    this.onError(this.error);
  }

  private finishIfIdle(): void {
    if (!this.ending || this.inFlight || this.queue.length > 0 || this.fd < 0) return;
    const fd = this.fd;
    this.fd = -1;
    fs.close(fd, (err) => {
      if (err && this.error === null) this.error = osText(err);
      if (this.error !== null && this.written === 0) {
        fs.rm(this.path, { force: true }, () => this.resolveClosed());  // nothing worth keeping: no 0-byte file
        return;
      }
      this.resolveClosed();
    });
  }
}
