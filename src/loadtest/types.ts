/**
 * The result of one `meetcore bench` run: what bench/results/<scenario>-<timestamp>.json holds and what the
 * HTML report (src/loadtest/report.ts) draws. Every figure carries its unit in its name.
 */

export type Scenario = 'signaling' | 'egress' | 'meeting';

/** Latency percentiles of one step, in milliseconds (null when nothing was measured). */
export interface Percentiles {
  p50Ms: number | null;
  p90Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
  /** How many samples the percentiles come from. */
  count: number;
}

/** What the server's /metrics said over one step (absent when /metrics was not reachable). */
export interface ServerFigures {
  /** process_cpu_seconds_total over the step / the step's seconds × 100 (100 = one core busy). */
  cpuPct: number;
  /** process_resident_memory_bytes at the end of the step, MiB. */
  rssMiB: number;
  /** Event-loop delay p99 over the step, ms (src/loadtest/metrics.ts loopDelayP99: meetcore_event_loop_delay_p99_seconds). */
  eventLoopP99Ms: number | null;
  /** Server CPU per unit of load: ms of CPU per participant-second, stream-second or meeting-second. */
  cpuMsPerUnitSec: number;
  /** RSS per unit of load, KiB (RSS at the end of the step / units). */
  rssKiBPerUnit: number;
  /** meetcore's own series read at the end of the step (name → value), e.g. meetcore_ws_connections. */
  series: Record<string, number>;
}

/** One load level. A run without --ramp has one step. */
export interface Step {
  /** 0-based; tables and the console number steps from 1. */
  index: number;
  /** The load: `units` of `unit` (participants, streams or meetings), and how they are shaped. */
  load: { units: number; unit: 'participants' | 'streams' | 'meetings'; rooms?: number; participantsPerRoom?: number; streams?: number; meetings?: number; participantsPerMeeting?: number };
  /** Seconds measured (after the step's settle time). */
  durationSec: number;
  /** Work done per second: delivered messages/s (signaling), stream-seconds of audio accepted per second (egress, meeting). */
  throughput: { value: number; unit: 'messages/s' | 'stream-s/s' };
  /** signaling: relay latency (send → delivery); egress: how late frames left the client against real time; meeting: feedback delivery (overlap end → host). */
  latency: Percentiles;
  /** Failed connections, refused joins, error replies, unexpected closes. */
  errors: number;
  server: ServerFigures | null;
  /** The load generator's own CPU over the step, % of one core summed over its workers; and per core available. */
  generator: { cpuPct: number; workers: number; saturated: boolean };
  /** Whether the step met the service level (always true without --ramp), and why not. */
  held: boolean;
  broke: string | null;
  /** egress and meeting: streams whose send backlog passed the limit (the server did not read fast enough). */
  behindRealTime?: number;
  /**
   * meeting only: speech_overlap reports against the script's truth, over everything streamed so far (up to 3 s
   * ago). truth: scripted interruptions (talk spurts with pauses under 300 ms bridged intersecting ≥ 500 ms, the
   * later spurt ≥ 1 s; src/loadtest/script.ts); reported: speech_overlap events; truePositives: reports matched
   * to a truth (same pair, start within 1 s or intersecting windows, each at most once); precision =
   * truePositives / reported, recall = truePositives / truth; rightInterrupter: matched reports naming the
   * scripted interrupter; backchannels: scripted backchannels (short spurts inside another's turn, never
   * interruptions); reportedOnBackchannels: reports not matched to the truth that match a backchannel.
   */
  overlap?: { truth: number; reported: number; truePositives: number; precision: number | null; recall: number | null; rightInterrupter: number; backchannels: number; reportedOnBackchannels: number };
}

/** A side-by-side comparison when meetcore runs locally (e.g. plain Socket.IO, bare uWS, seed-style egress). */
export interface Baseline {
  name: string;
  throughput: { value: number; unit: 'messages/s' | 'stream-s/s' };
  latency: Percentiles;
  cpuPct: number | null;
}

export interface BenchReport {
  tool: 'meetcore bench';
  /** Version of the report's shape. */
  schema: 1;
  meetcoreVersion: string;
  scenario: Scenario;
  startedAt: string;
  finishedAt: string;
  /** Every option in force, defaults included. */
  options: Record<string, string | number | boolean | null>;
  target: { url: string; local: boolean; serverVersion: string | null; metrics: boolean };
  machine: { hostname: string; platform: string; arch: string; cpuModel: string; cores: number; memoryGiB: number; node: string };
  steps: Step[];
  /** --ramp: the service level, the largest load that held, and the step where it broke. */
  ramp: { slo: Record<string, number>; held: Step | null; brokeAt: Step | null; reason: string | null } | null;
  baselines: Baseline[];
  warnings: string[];
}
