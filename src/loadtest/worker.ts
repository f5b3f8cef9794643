/**
 * A load worker of `meetcore bench` (a child process: `meetcore __bench-worker`, driven over IPC by
 * src/loadtest/cli.ts). It opens the units of load it is given and measures them on its own clock:
 * - signaling room: P participants on /ws (JSON or msgpack) or Socket.IO join one room; each sends an
 *   ICE-sized `ice` message to the next participant `iceRate` times a second and a `chat` to the room
 *   `chatRate` times a second (open loop, paced on the clock); latency = delivery − send (send time carried in
 *   the message, same process);
 * - egress stream: one LiveKit-like /egress-audio client (48 kHz stereo s16le, `frameMs` frames, real time,
 *   the speech fixtures looped); each 100 ms it samples its send backlog (bytes the socket has not yet
 *   written, as ms of audio: the server not reading fast enough shows here);
 * - meeting: P egress streams following a script (src/loadtest/script.ts, looped) plus a host on /ws in
 *   `feedback:<meetingId>`; latency = feedback arrival − the stream-clock moment the event's window ends;
 *   speech_overlap reports are matched against the script's truth (matchOverlaps: same pair, start within 1 s
 *   or intersecting windows, each at most once), and those left over against its backchannels.
 * With `snrDb`, egress and meeting audio carry seeded white noise at that SNR (src/loadtest/script.ts addNoise).
 *
 * IPC, parent → worker: {cmd:'add', units: Unit[]} → {type:'added', opened, errors, messages};
 * {cmd:'mark'} (start of a measured window: counters reset) → {type:'marked'}; {cmd:'collect'} →
 * {type:'collected', ...WorkerFigures}; {cmd:'close'} → exits. Unsolicited: {type:'error', message} on a
 * failure that is not one unit's.
 */
import { Packr } from 'msgpackr';
import WebSocket from 'ws';
import { io, type Socket } from 'socket.io-client';
import { FIXTURES, concat, loadFixture, silence, toStereoBytes } from './fixtures.js';
import { merge, newHistogram, record, type Histogram } from './hist.js';
import { addNoise, matchOverlaps, meetingScript, type DetectedOverlap, type ScriptedBackchannel, type ScriptedOverlap } from './script.js';

export type Transport = 'ws-json' | 'ws-msgpack' | 'sio';

export type Unit =
  | { kind: 'room'; baseUrl: string; transport: Transport; roomId: string; participants: number; iceRate: number; chatRate: number; token: string | null }
  | { kind: 'stream'; url: string; frameMs: number; seed: number; snrDb: number | null }
  | { kind: 'meeting'; meetingId: string; urls: string[]; participants: string[]; frameMs: number; seconds: number; seed: number; hostWsUrl: string; hostToken: string; minOverlapMs: number; snrDb: number | null };

/** What a worker measured since the last mark. */
export interface WorkerFigures {
  hist: Histogram;
  /** signaling: messages delivered; egress/meeting: not used. */
  delivered: number;
  /** egress/meeting: audio bytes the socket accepted (sent − still buffered). */
  acceptedBytes: number;
  errors: number;
  /** Streams whose backlog passed `backlogLimitMs` in the window. */
  behindRealTime: number;
  /** CPU µs of this process (user + system) in the window. */
  cpuUs: number;
  /** Wall µs of the window. */
  wallUs: number;
  /** Lateness of this worker's pacing timer, p99 ms (the generator itself falling behind). */
  timerLateP99Ms: number;
  /**
   * Meetings, over everything streamed so far (the script's loops): interruptions in the truth, speech_overlap
   * reports, reports matched to the truth (and of those, naming the right interrupter), scripted backchannels,
   * and reports not matched to the truth that match a backchannel.
   */
  overlap: OverlapFigures;
  /** Open sockets. */
  sockets: number;
}

export interface OverlapFigures { truth: number; reported: number; truePositives: number; rightInterrupter: number; backchannels: number; onBackchannels: number }

const packr = new Packr({ useRecords: false });
/** A typical server-reflexive ICE candidate line (~150 bytes); the send time is appended as its last token. */
const CANDIDATE = 'candidate:842163049 1 udp 1677729535 192.0.2.77 54321 typ srflx raddr 10.0.0.5 rport 54321 generation 0 ufrag EsAw network-id 1 network-cost 10 ts ';
const BYTES_PER_MS = 48 * 4;
/** Backlog a stream may have before it counts as behind real time (set by the parent with 'add'). */
let backlogLimitMs = 200;

let hist = newHistogram();
let timerLate = newHistogram();
let delivered = 0;
let acceptedBytes = 0;
let errors = 0;
let behind = new Set<object>();
let cpuMark = process.cpuUsage();
let wallMark = performance.now();
let overlap: OverlapFigures = noOverlaps();

// ---------------------------------------------------------------------------------------------- signaling

interface Peer { id: string; send(type: string, body: Record<string, unknown>): void; close(): void }
const rooms: { peers: Peer[]; timer: NodeJS.Timeout | null }[] = [];

function onRelayed(type: string, body: Record<string, unknown>): void {
  if (type === 'ice' && typeof body.candidate === 'string') {
    delivered++;
    record(hist, performance.now() - Number(body.candidate.slice(body.candidate.lastIndexOf(' ') + 1)));
  } else if (type === 'chat' && typeof body.text === 'string' && body.text.startsWith('t=')) {
    delivered++;
    record(hist, performance.now() - Number(body.text.slice(2)));
  } else if (type === 'error') {
    errors++;
  }
}

function openWsPeer(unit: Extract<Unit, { kind: 'room' }>): Promise<Peer> {
  const msgpack = unit.transport === 'ws-msgpack';
  const url = `${unit.baseUrl.replace(/^http/, 'ws')}/ws${unit.token ? `?token=${encodeURIComponent(unit.token)}` : ''}`;
  const ws = new WebSocket(url, msgpack ? 'meetcore.msgpack' : 'meetcore.json', { perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    const peer: Peer = {
      id: '',
      send: (type, body) => { if (ws.readyState === WebSocket.OPEN) ws.send(msgpack ? packr.pack({ type, ...body }) : JSON.stringify({ type, ...body })); },
      close: () => ws.close(),
    };
    let joined = false;
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const m = (isBinary ? packr.unpack(data) : JSON.parse(data.toString())) as { type: string; participantId?: string; code?: string } & Record<string, unknown>;
      if (m.type === 'connected') { peer.id = m.participantId!; peer.send('join-room', { roomId: unit.roomId, name: 'bench' }); return; }
      if (m.type === 'room-joined' && !joined) { joined = true; resolve(peer); return; }
      if (m.type === 'error' && !joined) { reject(new Error(`join refused: ${m.code}`)); return; }
      onRelayed(m.type, m);
    });
    ws.once('error', (err) => { if (!joined) reject(err); else errors++; });
    ws.once('close', () => { if (!joined) reject(new Error('closed before joining')); else if (!closing) errors++; });
  });
}

function openSioPeer(unit: Extract<Unit, { kind: 'room' }>): Promise<Peer> {
  const socket: Socket = io(unit.baseUrl, { transports: ['websocket'], forceNew: true, reconnection: false, ...(unit.token ? { query: { token: unit.token } } : {}) });
  return new Promise((resolve, reject) => {
    const peer: Peer = { id: '', send: (type, body) => { socket.emit(type, body); }, close: () => socket.close() };
    let joined = false;
    socket.once('connected', (m: { participantId: string }) => { peer.id = m.participantId; socket.emit('join-room', { roomId: unit.roomId, name: 'bench' }); });
    socket.once('room-joined', () => { joined = true; resolve(peer); });
    socket.on('ice', (m: Record<string, unknown>) => onRelayed('ice', m));
    socket.on('chat', (m: Record<string, unknown>) => onRelayed('chat', m));
    socket.on('error', (m: { code?: string }) => { if (!joined) reject(new Error(`join refused: ${m?.code}`)); else errors++; });
    socket.once('connect_error', (err: Error) => reject(err));
    socket.on('disconnect', () => { if (joined && !closing) errors++; });
  });
}

async function openRoom(unit: Extract<Unit, { kind: 'room' }>): Promise<void> {
  const peers: Peer[] = [];
  for (let i = 0; i < unit.participants; i++) peers.push(await (unit.transport === 'sio' ? openSioPeer(unit) : openWsPeer(unit)));
  const room = { peers, timer: null as NodeJS.Timeout | null };
  rooms.push(room);
  // Open loop: each participant's sends are due on the clock at its own phase, whatever the replies do.
  const start = performance.now() + Math.random() * 1000;
  const iceEvery = unit.iceRate > 0 ? 1000 / unit.iceRate : Infinity;
  const chatEvery = unit.chatRate > 0 ? 1000 / unit.chatRate : Infinity;
  const nextIce = peers.map((_, i) => start + (i / peers.length) * iceEvery);
  const nextChat = peers.map((_, i) => start + (i / peers.length) * chatEvery);
  room.timer = setInterval(() => {
    const now = performance.now();
    peers.forEach((p, i) => {
      while (nextIce[i]! <= now) {
        const to = peers[(i + 1) % peers.length]!;
        p.send('ice', { to: to.id, candidate: CANDIDATE + now.toFixed(3), sdpMid: '0', sdpMLineIndex: 0 });
        nextIce[i]! += iceEvery;
      }
      while (nextChat[i]! <= now) {
        p.send('chat', { roomId: unit.roomId, text: `t=${now.toFixed(3)}` });
        nextChat[i]! += chatEvery;
      }
    });
  }, 10);
}

// ---------------------------------------------------------------------------------------------- egress

/** A stream's audio, mono 48 kHz, looped; frames are made stereo as they are sent (tracks stay small). */
interface Stream { ws: WebSocket; mono: Int16Array; off: number; sent: number; t0: number; frameSamples: number; frameMs: number; key: object }
const streams: Stream[] = [];
/** The egress loop by SNR ('clean' or dB): streams share it, so memory stays flat with the count. */
const loops = new Map<string, Int16Array>();

/**
 * The fixtures one after another with 1 s of silence between them (what an egress stream sends, looped); with
 * `snrDb`, white noise at that SNR re the RMS of the fixtures' annotated speech.
 */
function speechLoop(snrDb: number | null): Int16Array {
  const key = snrDb === null ? 'clean' : String(snrDb);
  let loop = loops.get(key);
  if (!loop) {
    loop = concat(...FIXTURES.flatMap((f) => [loadFixture(f).samples, silence(1000)]));
    if (snrDb !== null) {
      const segments: [number, number][] = [];
      let at = 0;
      for (const f of FIXTURES) { const x = loadFixture(f); segments.push(...x.segments.map(([s, e]): [number, number] => [at + s, at + e])); at += x.samples.length / 48 + 1000; }
      addNoise(loop, segments, snrDb, 1);
    }
    loops.set(key, loop);
  }
  return loop;
}

/** Scripts by (participants, seed mod 7, seconds, overlap minimum, SNR): meetings share them, so memory stays flat with the count. */
const scripts = new Map<string, ReturnType<typeof meetingScript>>();

function openStream(url: string, mono: Int16Array, frameMs: number, offsetMs: number): Promise<Stream> {
  const ws = new WebSocket(url, { perMessageDeflate: false });
  return new Promise((resolve, reject) => {
    ws.once('open', () => {
      const frameSamples = frameMs * 48;
      const start = Math.floor(((offsetMs * 48) % mono.length) / frameSamples) * frameSamples;
      const s: Stream = { ws, mono, off: start, sent: 0, t0: performance.now(), frameSamples, frameMs, key: {} };
      streams.push(s);
      resolve(s);
    });
    ws.once('unexpected-response', (_req, res) => reject(new Error(`egress refused: HTTP ${res.statusCode}`)));
    ws.once('error', reject);
    ws.on('close', () => { if (!closing) errors++; });
  });
}

let lastBacklogSample = 0;
/** Sends every frame that is due (real time since each stream opened) and samples the backlogs each 100 ms. */
function pumpStreams(now: number): void {
  const sample = now - lastBacklogSample >= 100;
  if (sample) lastBacklogSample = now;
  for (const s of streams) {
    if (s.ws.readyState !== WebSocket.OPEN) continue;
    const due = Math.floor((now - s.t0) / s.frameMs) + 1;
    while (s.sent < due) {
      if (s.off + s.frameSamples > s.mono.length) s.off = 0;
      s.ws.send(toStereoBytes(s.mono, s.off, s.frameSamples), { binary: true });
      s.off += s.frameSamples;
      s.sent++;
      acceptedBytes += s.frameSamples * 4;
    }
    if (sample) {
      const backlogMs = s.ws.bufferedAmount / BYTES_PER_MS;
      // A meeting's latency is its feedback delivery: the backlog only decides "behind real time" there.
      if (meetings.length === 0) record(hist, backlogMs);
      if (backlogMs > backlogLimitMs) behind.add(s.key);
    }
  }
}

// ---------------------------------------------------------------------------------------------- meetings

interface Meeting { truth: ScriptedOverlap[]; backchannels: ScriptedBackchannel[]; seconds: number; t0: number; found: DetectedOverlap[]; host: WebSocket }
const meetings: Meeting[] = [];

async function openMeeting(unit: Extract<Unit, { kind: 'meeting' }>): Promise<void> {
  const key = `${unit.participants.join(',')}|${unit.seed % 7}|${unit.seconds}|${unit.minOverlapMs}|${unit.snrDb}`;
  if (!scripts.has(key)) scripts.set(key, meetingScript(unit.participants, unit.seconds, unit.seed % 7, { minOverlapMs: unit.minOverlapMs, snrDb: unit.snrDb }));
  const { tracks, overlaps, backchannels } = scripts.get(key)!;
  const opened = await Promise.all(unit.urls.map((url, i) => openStream(url, tracks[i]!, unit.frameMs, 0)));
  // One meeting's streams start together: their scripts line up on the stream clock.
  const t0 = performance.now();
  for (const s of opened) { s.t0 = t0; s.sent = 0; }
  const wallT0 = Date.now();
  const meeting: Meeting = { truth: overlaps, backchannels, seconds: unit.seconds, t0, found: [], host: await joinFeedback(unit.hostWsUrl, unit.hostToken, unit.meetingId) };
  meeting.host.on('message', (data: Buffer) => {
    const m = JSON.parse(data.toString()) as { type: string; kind?: string; participantId?: string; window?: { start: number; end: number }; metadata?: { participants?: string[] } };
    if (m.type !== 'feedback' || !m.window) return;
    record(hist, Date.now() - m.window.end);
    if (m.kind === 'speech_overlap') {
      meeting.found.push({ by: m.participantId ?? '', pair: m.metadata?.participants ?? [], startMs: m.window.start - wallT0, endMs: m.window.end - wallT0 });
    }
  });
  meetings.push(meeting);
}

/** A /ws socket in `feedback:<meetingId>` (retried while the meeting does not exist yet). */
async function joinFeedback(wsUrl: string, token: string, meetingId: string): Promise<WebSocket> {
  const until = Date.now() + 10_000;
  for (;;) {
    const ws = new WebSocket(`${wsUrl}/ws?token=${encodeURIComponent(token)}`, 'meetcore.json');
    const result = await new Promise<string>((resolve) => {
      ws.on('message', (data: Buffer) => {
        const m = JSON.parse(data.toString()) as { type: string; code?: string };
        if (m.type === 'connected') ws.send(JSON.stringify({ type: 'join-room', roomId: `feedback:${meetingId}`, name: 'bench host' }));
        else if (m.type === 'room-joined') resolve('joined');
        else if (m.type === 'error') resolve(m.code ?? 'error');
      });
      ws.once('error', (err) => resolve(err.message));
    });
    if (result === 'joined') return ws;
    ws.close();
    if (result !== 'not_found' || Date.now() > until) throw new Error(`host cannot join feedback:${meetingId}: ${result}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function noOverlaps(): OverlapFigures {
  return { truth: 0, reported: 0, truePositives: 0, rightInterrupter: 0, backchannels: 0, onBackchannels: 0 };
}

/**
 * Scripted interruptions and backchannels that started in what was streamed up to 3 s ago (time for the last
 * ones to be reported; the script loops), matched with the speech_overlap reports that started in that span.
 */
function scoreOverlaps(now: number): void {
  overlap = noOverlaps();
  for (const m of meetings) {
    const streamedMs = now - m.t0 - 3000;
    const periodMs = m.seconds * 1000;
    const truth: ScriptedOverlap[] = [];
    const backchannels: ScriptedOverlap[] = [];
    for (let base = 0; base < streamedMs; base += periodMs) {
      for (const o of m.truth) if (base + o.startMs <= streamedMs) truth.push({ ...o, startMs: base + o.startMs, endMs: base + o.endMs });
      for (const b of m.backchannels) if (base + b.startMs <= streamedMs) backchannels.push({ a: b.to, b: b.by, startMs: base + b.startMs, endMs: base + b.endMs });
    }
    const found = m.found.filter((f) => f.startMs <= streamedMs);
    const r = matchOverlaps(truth, found);
    overlap.truth += truth.length;
    overlap.reported += found.length;
    overlap.truePositives += r.matched;
    overlap.rightInterrupter += r.rightInterrupter;
    overlap.backchannels += backchannels.length;
    overlap.onBackchannels += matchOverlaps(backchannels, r.unmatched).matched;
  }
}

// ---------------------------------------------------------------------------------------------- driver

let closing = false;
let pacer: NodeJS.Timeout | null = null;

/** The 5 ms pacing timer of the egress streams (started by runWorker only: importing this module starts nothing). */
function startPacer(): void {
  let lastTick = performance.now();
  pacer = setInterval(() => {
    const now = performance.now();
    record(timerLate, Math.max(0, now - lastTick - 5));
    lastTick = now;
    pumpStreams(now);
  }, 5);
}

function figures(): WorkerFigures {
  const cpu = process.cpuUsage(cpuMark);
  const now = performance.now();
  scoreOverlaps(now);
  const late = timerLate.counts.reduce((a, b) => a + b, 0);
  let p99 = 0;
  if (late) {
    let seen = 0;
    for (let i = 0; i < timerLate.counts.length; i++) { seen += timerLate.counts[i]!; if (seen >= 0.99 * late) { p99 = 1.023 ** (i + 1) / 1000; break; } }
  }
  const buffered = streams.reduce((n, s) => n + s.ws.bufferedAmount, 0);
  return {
    hist, delivered, acceptedBytes: Math.max(0, acceptedBytes - buffered), errors, behindRealTime: behind.size,
    cpuUs: cpu.user + cpu.system, wallUs: (now - wallMark) * 1000, timerLateP99Ms: Math.round(p99 * 100) / 100,
    overlap,
    sockets: streams.length + rooms.reduce((n, r) => n + r.peers.length, 0) + meetings.length,
  };
}

function mark(): void {
  hist = newHistogram();
  timerLate = newHistogram();
  delivered = 0;
  // Bytes still buffered at the mark were counted before it: start the window from what is accepted now.
  acceptedBytes = -streams.reduce((n, s) => n + s.ws.bufferedAmount, 0);
  errors = 0;
  behind = new Set();
  cpuMark = process.cpuUsage();
  wallMark = performance.now();
}

type Command = { cmd: 'add'; units: Unit[]; backlogLimitMs?: number } | { cmd: 'mark' } | { cmd: 'collect' } | { cmd: 'close' };

/** Run as a worker: serve the parent's commands until 'close' or the IPC channel closes. */
export function runWorker(): void {
  if (!process.send) throw new Error('__bench-worker must be started by `meetcore bench` (no IPC channel)');
  const reply = (m: object): void => { process.send!(m); };
  startPacer();
  process.on('message', (m: Command) => {
    void (async () => {
      if (m.cmd === 'add') {
        if (m.backlogLimitMs !== undefined) backlogLimitMs = m.backlogLimitMs;
        // Opened concurrently: one after another, a few hundred handshakes would wait on this worker's pacing timer.
        const results = await Promise.allSettled(m.units.map((unit) => {
          if (unit.kind === 'room') return openRoom(unit);
          if (unit.kind === 'stream') return openStream(unit.url, speechLoop(unit.snrDb), unit.frameMs, unit.seed * 7000);
          return openMeeting(unit);
        }));
        const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => (r.reason as Error).message);
        const opened = results.length - failures.length;
        errors += failures.length;
        reply({ type: 'added', opened, errors: failures.length, messages: [...new Set(failures)].slice(0, 5) });
      } else if (m.cmd === 'mark') {
        mark();
        reply({ type: 'marked' });
      } else if (m.cmd === 'collect') {
        reply({ type: 'collected', ...figures() });
      } else if (m.cmd === 'close') {
        closing = true;
        if (pacer) clearInterval(pacer);
        for (const r of rooms) { if (r.timer) clearInterval(r.timer); for (const p of r.peers) p.close(); }
        for (const s of streams) s.ws.close();
        for (const mt of meetings) mt.host.close();
        setTimeout(() => process.exit(0), 300).unref();
      }
    })().catch((err: unknown) => reply({ type: 'error', message: (err as Error).message }));
  });
  process.on('disconnect', () => process.exit(0));
  // The parent may have gone while this process was still loading (a run that fails right after starting its
  // workers): then 'disconnect' was emitted before the handler above, and the pacer would keep it alive.
  if (!process.connected) process.exit(0);
}

/** Add `from`'s figures into `into` (the parent's sum over workers). */
export function addFigures(into: WorkerFigures, from: WorkerFigures): void {
  merge(into.hist, from.hist);
  into.delivered += from.delivered;
  into.acceptedBytes += from.acceptedBytes;
  into.errors += from.errors;
  into.behindRealTime += from.behindRealTime;
  into.cpuUs += from.cpuUs;
  into.wallUs = Math.max(into.wallUs, from.wallUs);
  into.timerLateP99Ms = Math.max(into.timerLateP99Ms, from.timerLateP99Ms);
  for (const k of Object.keys(into.overlap) as (keyof OverlapFigures)[]) into.overlap[k] += from.overlap[k];
  into.sockets += from.sockets;
}

/** An empty sum. */
export function emptyFigures(): WorkerFigures {
  return { hist: newHistogram(), delivered: 0, acceptedBytes: 0, errors: 0, behindRealTime: 0, cpuUs: 0, wallUs: 0, timerLateP99Ms: 0, overlap: noOverlaps(), sockets: 0 };
}
