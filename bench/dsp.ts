/**
 * `npm run bench -- dsp [--seconds 60] [--iterations 20]`: native analysis cost per stream-second of 48 kHz
 * stereo speech (levels, VAD, smoothing, rolling stats; one thread, no queue, no file) side by side with a
 * memcpy of the same bytes and with the whole engine path (queue push + worker, CPU time of the process),
 * once with the recording off and once writing the WAV recording to a file in the OS temp folder (the
 * writer's block writes and header patches included). Reports µs per stream-second and ratios.
 * Targets (reported, not asserted): native analysis ≤ 20 µs per stream-second; engine path (push + worker,
 * 10 ms frames, recording off) ≤ 2 × (native analysis + memcpy).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { AudioEngine } from '../src/pipeline/engine.js';
import { loadAddon } from '../src/pipeline/native.js';
import { concat, loadFixture, toStereoBytes } from '../test/helpers/fixtures.js';
import { printTargets, target } from './_targets.js';
import { round } from './_util.js';

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
    const s = engine.openStream({ meetingId: 'bench', participantId: 'p', sampleRate: 48000, channels: 2, groupSeconds: 2, startedAtMs: 0, maxQueueMs: 120_000, recordingPath });
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
  const analysisUs = round(perSec(analysisNs), 2);
  const memcpyUs = round(perSec(memcpyNs), 2);
  const engineUs = round(perSec(engineNs), 2);
  const recordingUs = round(perSec(recordingNs), 2);
  const engineBudget = round(2 * (analysisUs + memcpyUs), 2);
  const rows = {
    'native analysis': { 'µs per stream-second': analysisUs, 'x memcpy': round(analysisNs / memcpyNs, 1) },
    'memcpy (Buffer.copy)': { 'µs per stream-second': memcpyUs, 'x memcpy': 1 },
    'engine path (push + worker, 10 ms frames)': { 'µs per stream-second': engineUs, 'x memcpy': round(engineNs / memcpyNs, 1) },
    'engine path + WAV recording': { 'µs per stream-second': recordingUs, 'x memcpy': round(recordingNs / memcpyNs, 1) },
  };
  console.table(rows);
  const targets = [
    target('native analysis per stream-second', analysisUs, '<=', 20, 'µs'),
    target('engine path ≤ 2 × (native analysis + memcpy)', engineUs, '<=', engineBudget, 'µs'),
    target('engine path / (native analysis + memcpy)', round(engineUs / (analysisUs + memcpyUs), 2), '<=', 2, '×'),
  ];
  printTargets(targets);
  return {
    options: { seconds, iterations },
    analysisUsPerStreamSecond: analysisUs, memcpyUsPerStreamSecond: memcpyUs, engineUsPerStreamSecond: engineUs, recordingUsPerStreamSecond: recordingUs,
    ratios: { engineOverAnalysisPlusMemcpy: round(engineUs / (analysisUs + memcpyUs), 2), analysisOverMemcpy: round(analysisNs / memcpyNs, 1) },
    rows, targets,
  };
}
