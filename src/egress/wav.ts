/**
 * RIFF/WAVE PCM headers (the canonical 44-byte layout of the Microsoft RIFF spec, "WAVE_FORMAT_PCM" = 1):
 * parse one, build one, and repair the sizes of a file cut short by a crash.
 *
 * Layout: "RIFF" <u32 riffSize = fileSize - 8> "WAVE" "fmt " <u32 16> <u16 format=1> <u16 channels>
 * <u32 sampleRate> <u32 byteRate> <u16 blockAlign> <u16 bitsPerSample> "data" <u32 dataBytes> <samples...>.
 * All integers little-endian.
 */
import fs from 'node:fs';

/** Size of the canonical PCM header written by meetcore (and by the native engine). */
export const WAV_HEADER_BYTES = 44;
/** RIFF sizes are 32-bit: the largest data chunk a WAV file can declare. */
export const MAX_WAV_DATA = 0xffff_ffff - 36;

export interface WavHeader {
  /** 1 = PCM. */
  format: number;
  channels: number;
  sampleRate: number;
  bitsPerSample: number;
  /** Bytes per sample frame (all channels). */
  blockAlign: number;
  /** The RIFF chunk size as declared. */
  riffSize: number;
  /** File offset of the first sample byte. */
  dataOffset: number;
  /** The data chunk size as declared. */
  dataBytes: number;
}

/**
 * Parse the chunks of a WAV file up to the `data` chunk header.
 * @param head the first bytes of the file (4 KiB is plenty for PCM files).
 * @returns null when `head` is not RIFF/WAVE with a `fmt ` chunk before a `data` chunk.
 */
export function parseWavHeader(head: Uint8Array): WavHeader | null {
  const b = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  if (b.length < 12 || b.toString('latin1', 0, 4) !== 'RIFF' || b.toString('latin1', 8, 12) !== 'WAVE') return null;
  let off = 12;
  let fmt: Omit<WavHeader, 'riffSize' | 'dataOffset' | 'dataBytes'> | null = null;
  while (off + 8 <= b.length) {
    const id = b.toString('latin1', off, off + 4);
    const size = b.readUInt32LE(off + 4);
    if (id === 'fmt ') {
      if (size < 16 || off + 8 + 16 > b.length) return null;
      fmt = {
        format: b.readUInt16LE(off + 8), channels: b.readUInt16LE(off + 10), sampleRate: b.readUInt32LE(off + 12),
        blockAlign: b.readUInt16LE(off + 20), bitsPerSample: b.readUInt16LE(off + 22),
      };
    } else if (id === 'data') {
      if (!fmt || fmt.blockAlign === 0) return null;
      return { ...fmt, riffSize: b.readUInt32LE(4), dataOffset: off + 8, dataBytes: size };
    }
    off += 8 + size + (size & 1);
  }
  return null;
}

/** A 44-byte PCM s16le header for `dataBytes` of samples. */
export function wavHeader(sampleRate: number, channels: number, dataBytes: number): Buffer {
  const h = Buffer.alloc(WAV_HEADER_BYTES);
  const blockAlign = channels * 2;
  h.write('RIFF', 0, 'latin1');
  h.writeUInt32LE(Math.min(36 + dataBytes, 0xffff_ffff), 4);
  h.write('WAVE', 8, 'latin1');
  h.write('fmt ', 12, 'latin1');
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(1, 20);
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(sampleRate, 24);
  h.writeUInt32LE(sampleRate * blockAlign, 28);
  h.writeUInt16LE(blockAlign, 32);
  h.writeUInt16LE(16, 34);
  h.write('data', 36, 'latin1');
  h.writeUInt32LE(Math.min(dataBytes, MAX_WAV_DATA), 40);
  return h;
}

export interface RepairResult {
  /** True when the header or the length of the file was changed. */
  changed: boolean;
  /** Sample bytes in the data chunk after the repair. */
  dataBytes: number;
  /** Bytes cut from the end (a trailing partial sample frame). */
  truncatedBytes: number;
  /** True when no valid header was found and one was written from `fallback`. */
  rewroteHeader: boolean;
}

/**
 * Make the RIFF and data sizes of a WAV file match its length, cutting a trailing partial sample frame.
 * @param fallback format used to write a fresh 44-byte header when the file has none (e.g. a crash before the
 *   first header write); without it such a file is left alone.
 * @returns what was done, or null when the file has no valid header and no fallback was given.
 * @throws the fs error when the file cannot be opened, read or written.
 */
export function repairWavFile(file: string, fallback?: { sampleRate: number; channels: number }): RepairResult | null {
  const fd = fs.openSync(file, 'r+');
  try {
    const size = fs.fstatSync(fd).size;
    const head = Buffer.alloc(Math.min(size, 4096));
    fs.readSync(fd, head, 0, head.length, 0);
    let wav = parseWavHeader(head);
    let rewroteHeader = false;
    if (!wav) {
      if (!fallback) return null;
      fs.writeSync(fd, wavHeader(fallback.sampleRate, fallback.channels, 0), 0, WAV_HEADER_BYTES, 0);
      wav = parseWavHeader(wavHeader(fallback.sampleRate, fallback.channels, 0))!;
      rewroteHeader = true;
    }
    const available = Math.max(0, fs.fstatSync(fd).size - wav.dataOffset);
    const dataBytes = Math.min(available - (available % wav.blockAlign), MAX_WAV_DATA - (MAX_WAV_DATA % wav.blockAlign));
    const end = wav.dataOffset + dataBytes;
    const truncatedBytes = Math.max(0, fs.fstatSync(fd).size - end);
    const riffSize = end - 8;
    const changed = rewroteHeader || truncatedBytes > 0 || wav.dataBytes !== dataBytes || wav.riffSize !== riffSize;
    if (changed) {
      if (truncatedBytes > 0) fs.ftruncateSync(fd, end);
      const u32 = Buffer.alloc(4);
      u32.writeUInt32LE(riffSize);
      fs.writeSync(fd, u32, 0, 4, 4);
      u32.writeUInt32LE(dataBytes);
      fs.writeSync(fd, u32, 0, 4, wav.dataOffset - 4);
      fs.fsyncSync(fd);
    }
    return { changed, dataBytes, truncatedBytes, rewroteHeader };
  } finally {
    fs.closeSync(fd);
  }
}
