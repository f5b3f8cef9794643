/**
 * A video recording whose disk is slower than the stream (VideoFile): memory stays bounded. A writer handed more
 * than its bound while the kernel has not taken the earlier blocks fails as on a write error ("storage too
 * slow"), cut back to the last whole IVF frame the kernel accepted. Appending synchronously stands in for the
 * slow disk: no write completes until the event loop turns.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { VideoFile } from '../../src/egress/video-file.js';

/** A 32-byte IVF file header (VP8) and `n` frames of `size` payload bytes each. */
function ivf(n: number, size: number): { header: Buffer; frames: Buffer[] } {
  const header = Buffer.alloc(32);
  header.write('DKIF', 0, 'ascii');
  header.writeUInt16LE(0, 4);
  header.writeUInt16LE(32, 6);
  header.write('VP80', 8, 'ascii');
  const frames = Array.from({ length: n }, (_, i) => {
    const f = Buffer.alloc(12 + size, i & 0xff);
    f.writeUInt32LE(size, 0);
    f.writeBigUInt64LE(BigInt(i), 4);
    return f;
  });
  return { header, frames };
}

/** Frame ends of an IVF file, from its bytes. */
function frameEnds(file: Buffer): number[] {
  const ends = [32];
  for (let p = 32; p + 12 <= file.length;) { p += 12 + file.readUInt32LE(p); ends.push(p); }
  return ends;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meetcore-videofile-'));
test.after(() => { fs.rmSync(dir, { recursive: true, force: true }); });

test('over its bound of bytes waiting for the disk, the recording fails "storage too slow", cut to a whole frame', async () => {
  const { header, frames } = ivf(100, 10_000);  // about 1 MB
  const errors: string[] = [];
  const f = VideoFile.create(path.join(dir, 'slow.ivf'), 'vp8', [header], (t) => errors.push(t), 256 * 1024);
  for (const fr of frames) f.append(fr);  // no write can complete meanwhile
  await f.end();
  assert.equal(errors.length, 1);
  assert.match(errors[0]!, /^storage too slow: over 262144 bytes/);
  assert.is(f.error, errors[0]);
  const bytes = fs.readFileSync(path.join(dir, 'slow.ivf'));
  assert.is(bytes.length, f.bytes);
  assert.ok(bytes.length > 32 && bytes.length <= 256 * 1024 + 64 * 1024, `${bytes.length} bytes kept`);
  assert.ok(frameEnds(bytes).includes(bytes.length), 'the file ends with a whole frame');
});

test('within the bound the same stream is written whole', async () => {
  const { header, frames } = ivf(100, 10_000);
  const f = VideoFile.create(path.join(dir, 'ok.ivf'), 'vp8', [header], () => assert.unreachable('no error'));
  for (const fr of frames) f.append(fr);
  await f.end();
  assert.is(f.error, null);
  assert.equal(fs.readFileSync(path.join(dir, 'ok.ivf')), Buffer.concat([header, ...frames]));
});

test.run();
