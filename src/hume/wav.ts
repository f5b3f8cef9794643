/**
 * The little WAV handling Hume needs: Hume's streaming API takes a real media file (REFERENCE.md: "wrap PCM
 * in a WAV header") of at most 5000 ms of audio per payload (longer → error E0203). Segments of the native
 * engine are canonical RIFF/WAVE PCM files (src/pipeline/types.ts SegmentEvent.wav); this module reads
 * their header and cuts anything longer than the limit into pieces that each carry their own header.
 */

/** Hume's limit of audio per payload, ms (REFERENCE.md, error E0203). */
export const HUME_MAX_PAYLOAD_MS = 5000;

/** What a PCM WAV header says. */
export interface WavInfo {
  format: number;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  /** Bytes per sample frame (all channels). */
  blockAlign: number;
  /** Offset of the first data byte. */
  dataOffset: number;
  /** Bytes of audio data actually present (the header's size, clamped to the file). */
  dataBytes: number;
  /** Audio duration, ms. */
  durationMs: number;
}

/**
 * Read a RIFF/WAVE file's `fmt ` and `data` chunks (any chunk order, odd chunk sizes padded as RIFF says).
 * @throws Error when the bytes are not a PCM WAV file with a data chunk.
 */
export function readWav(bytes: Uint8Array): WavInfo {
  const b = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (b.length < 12 || b.toString('latin1', 0, 4) !== 'RIFF' || b.toString('latin1', 8, 12) !== 'WAVE') throw new Error('not a RIFF/WAVE file');
  let fmt: Omit<WavInfo, 'dataOffset' | 'dataBytes' | 'durationMs'> | null = null;
  for (let off = 12; off + 8 <= b.length;) {
    const id = b.toString('latin1', off, off + 4);
    const size = b.readUInt32LE(off + 4);
    const body = off + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + 16 > b.length) throw new Error('truncated fmt chunk');
      fmt = {
        format: b.readUInt16LE(body), channels: b.readUInt16LE(body + 2), sampleRate: b.readUInt32LE(body + 4),
        blockAlign: b.readUInt16LE(body + 12), bitsPerSample: b.readUInt16LE(body + 14),
      };
    } else if (id === 'data') {
      if (!fmt) throw new Error('data chunk before fmt chunk');
      if (fmt.channels < 1 || fmt.sampleRate < 1 || fmt.blockAlign < 1) throw new Error('invalid fmt chunk');
      const dataBytes = Math.min(size, b.length - body);
      const frames = Math.floor(dataBytes / fmt.blockAlign);
      return { ...fmt, dataOffset: body, dataBytes, durationMs: (frames * 1000) / fmt.sampleRate };
    }
    off = body + size + (size & 1);
  }
  throw new Error('no data chunk');
}

/** A canonical 44-byte PCM WAV header for `dataBytes` of audio. */
export function wavHeader(info: Pick<WavInfo, 'format' | 'channels' | 'sampleRate' | 'bitsPerSample' | 'blockAlign'>, dataBytes: number): Buffer {
  const h = Buffer.alloc(44);
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(36 + dataBytes, 4);
  h.write('WAVE', 8, 'latin1');
  h.write('fmt ', 12, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(info.format, 20);
  h.writeUInt16LE(info.channels, 22);
  h.writeUInt32LE(info.sampleRate, 24);
  h.writeUInt32LE(info.sampleRate * info.blockAlign, 28);
  h.writeUInt16LE(info.blockAlign, 32);
  h.writeUInt16LE(info.bitsPerSample, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(dataBytes, 40);
  return h;
}

/** A piece of a WAV file ready to send: a complete WAV file and its place in the original, ms. */
export interface WavPiece {
  wav: Buffer;
  offsetMs: number;
  durationMs: number;
}

/**
 * Cut a WAV file into complete WAV files of at most `maxMs` of audio each (one piece, unchanged, when it is
 * short enough). Cuts fall on sample-frame boundaries.
 * @throws Error when `bytes` is not a PCM WAV file (see readWav) or holds no audio.
 */
export function splitWav(bytes: Uint8Array, maxMs = HUME_MAX_PAYLOAD_MS): WavPiece[] {
  const info = readWav(bytes);
  if (info.dataBytes < info.blockAlign) throw new Error('the WAV file holds no audio');
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (info.durationMs <= maxMs) return [{ wav: buf, offsetMs: 0, durationMs: info.durationMs }];
  const framesPerPiece = Math.max(1, Math.floor((maxMs * info.sampleRate) / 1000));
  const totalFrames = Math.floor(info.dataBytes / info.blockAlign);
  const pieces: WavPiece[] = [];
  for (let f = 0; f < totalFrames; f += framesPerPiece) {
    const n = Math.min(framesPerPiece, totalFrames - f);
    const start = info.dataOffset + f * info.blockAlign;
    const data = buf.subarray(start, start + n * info.blockAlign);
    pieces.push({ wav: Buffer.concat([wavHeader(info, data.length), data]), offsetMs: (f * 1000) / info.sampleRate, durationMs: (n * 1000) / info.sampleRate });
  }
  return pieces;
}
