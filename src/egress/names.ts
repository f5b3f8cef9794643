/**
 * Safe file names for egress recordings (PROTOCOL.md §4): every part taken from a URL (room, participant,
 * track, meetingId) is reduced to `[A-Za-z0-9._-]` (anything else → `_`), at most 64 characters, never `.`
 * or `..`, and the resolved path is checked to stay under the storage root.
 */
import fs from 'node:fs';
import path from 'node:path';

/** Longest name part kept, in UTF-16 code units (PROTOCOL.md §4). */
export const MAX_NAME_PART = 64;

/**
 * Reduce one untrusted string to a safe single path component.
 * @returns a non-empty string of `[A-Za-z0-9._-]`, ≤ 64 characters, never `.` or `..` (`''` becomes `_`).
 */
export function safeNamePart(value: string): string {
  const s = value.replace(/[^A-Za-z0-9._-]/g, '_').slice(0, MAX_NAME_PART);
  if (s === '' || s === '.' || s === '..') return '_'.repeat(Math.max(1, s.length));
  return s;
}

/** Thrown when a computed path would leave its root (a bug or an attack; never expected after sanitizing). */
export class PathEscapeError extends Error {
  constructor(readonly root: string, readonly target: string) {
    super(`${target} is outside ${root}`);
    this.name = 'PathEscapeError';
  }
}

/**
 * Join `parts` under `root` and check that the resolved result is strictly inside `root`.
 * @throws PathEscapeError when it is not.
 */
export function resolveUnder(root: string, ...parts: string[]): string {
  const base = path.resolve(root);
  const target = path.resolve(base, ...parts);
  if (!target.startsWith(base + path.sep)) throw new PathEscapeError(base, target);
  return target;
}

/** Folder of the audio recordings of one meeting: `<storage>/egress/audio/<meetingId>`. */
export function audioMeetingDir(storageDir: string, meetingId: string): string {
  return resolveUnder(storageDir, 'egress', 'audio', safeNamePart(meetingId));
}

/**
 * The recording file name of PROTOCOL.md §4: `<startedAtMs>_<room>_<participant>_<track>.wav`, with an
 * optional `-<n>` suffix (n ≥ 1) used to avoid overwriting an existing file.
 */
export function recordingFileName(startedAtMs: number, room: string, participant: string, track: string, suffix = 0): string {
  const base = `${Math.trunc(startedAtMs)}_${safeNamePart(room)}_${safeNamePart(participant)}_${safeNamePart(track)}`;
  return `${base}${suffix > 0 ? `-${suffix}` : ''}.wav`;
}

/** The segment file written next to a recording: `<recording without .wav>_seg<index>.wav`. */
export function segmentPath(recordingPath: string, index: number): string {
  return `${recordingPath.replace(/\.wav$/, '')}_seg${index}.wav`;
}

/**
 * The first path `dir/name(n)` (n = 0, 1, ...) that no live stream holds (`inUse`) and no file occupies, so two
 * streams starting in the same millisecond never share a recording.
 * @throws PathEscapeError if a name would resolve outside `dir`.
 */
export function freeRecordingPath(dir: string, inUse: ReadonlySet<string>, name: (suffix: number) => string): string {
  for (let n = 0; ; n++) {
    const file = resolveUnder(dir, name(n));
    if (!inUse.has(file) && !fs.existsSync(file)) return file;
  }
}

/**
 * Undo `fs.mkdirSync(dir, { recursive: true })` after a failed start: remove `dir` and its parents up to
 * `created` (the first folder that call created, its return value) while they are empty. Never throws; a folder
 * that is not empty (another stream's files) or was not created by that call stays.
 */
export function removeEmptyDirs(dir: string, created: string | undefined): void {
  if (!created) return;
  const top = path.resolve(created);
  for (let d = path.resolve(dir); d.startsWith(top); d = path.dirname(d)) {
    try { fs.rmdirSync(d); } catch { return; }
    if (d === top) return;
  }
}
