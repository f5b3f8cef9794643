/**
 * `npm run bench -- dsp [--seconds 60] [--iterations 20]`: native analysis cost per stream-second of 48 kHz
 * stereo speech (levels, VAD, smoothing, rolling stats; one thread, no ring, no file) side by side with a
 * memcpy of the same bytes and with the whole engine path (ring push + worker, CPU time of the process),
 * once with the recording off and once writing the WAV recording to a file in the OS temp folder (the
 * writer's block writes and header patches included). Reports µs per stream-second and ratios.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { AudioEngine } from '../src/pipeline/engine.js';
import { loadAddon } from '../src/pipeline/native.js';
import { concat, loadFixture, toStereoBytes } from '../test/helpers/fixtures.js';

export async function run(args: string[]): Promise<object> {
  const { values } = parseArgs({ args, options: { seconds: { type: 'string', default: '60' }, iterations: { type: 'string', default: '20' } } });
  const seconds = Number(values.seconds);
  const iterations = Number(values.iterations);
  const clip = concat(loadFixture('en-male').samples, loadFixture('en-female').samples, loadFixture('pt-br').samples);
  const mono = new Int16Array(seconds * 48000);
  for (let i = 0; i < mono.length; i++) mono[i] = clip[i % clip.length]!;
  const pcm = toStereoBytes(mono);
  const addon = loadAddon();

  addon.testing.benchAnalyze(pcm, 48000, 2, 2);  // warm-up
  const analysisNs = addon.testing.benchAnalyze(pcm, 48000, 2, iterations) / iterations;

  const dst = Buffer.alloc(pcm.length);
  for (let i = 0; i < 3; i++) pcm.copy(dst);
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) pcm.copy(dst);
  const memcpyNs = ((performance.now() - t0) * 1e6) / iterations;

  // Whole engine path, 10 ms pushes as LiveKit sends them: CPU of this process (JS push + worker thread).
  const enginePath = async (recordingPath?: string): Promise<number> => {
    const engine = new AudioEngine({ threads: 1 }, () => {});
    const cpu0 = process.cpuUsage();
    const s = engine.openStream({ meetingId: 'bench', participantId: 'p', sampleRate: 48000, channels: 2, groupSeconds: 2, startedAtMs: 0, ringMs: 120_000, recordingPath });
    for (let o = 0; o < pcm.length; o += 1920) s.push(pcm.subarray(o, o + 1920));
    s.close();
    await s.closed;
    const cpu = process.cpuUsage(cpu0);
    engine.close();
    return (cpu.user + cpu.system) * 1000;
  };
  const engineNs = await enginePath();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'meetcore-bench-'));
  let recordingNs: number;
  try {
    await enginePath(path.join(dir, 'warm-up.wav'));
    recordingNs = await enginePath(path.join(dir, 'bench.wav'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }

  const perSec = (ns: number) => ns / 1000 / seconds;
  const rows = {
    'native analysis': { 'µs per stream-second': +perSec(analysisNs).toFixed(2), 'x memcpy': +(analysisNs / memcpyNs).toFixed(1) },
    'memcpy (Buffer.copy)': { 'µs per stream-second': +perSec(memcpyNs).toFixed(2), 'x memcpy': 1 },
    'engine path (push + worker, 10 ms frames)': { 'µs per stream-second': +perSec(engineNs).toFixed(2), 'x memcpy': +(engineNs / memcpyNs).toFixed(1) },
    'engine path + WAV recording': { 'µs per stream-second': +perSec(recordingNs).toFixed(2), 'x memcpy': +(recordingNs / memcpyNs).toFixed(1) },
  };
  console.table(rows);
  console.log(`target: native analysis ≤ 20 µs per stream-second → ${perSec(analysisNs) <= 20 ? 'met' : 'NOT met'}`);
  return { seconds, iterations, analysisUsPerStreamSecond: perSec(analysisNs), memcpyUsPerStreamSecond: perSec(memcpyNs), engineUsPerStreamSecond: perSec(engineNs), recordingUsPerStreamSecond: perSec(recordingNs), rows };
}
