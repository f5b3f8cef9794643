/**
 * Meeting, participant and recording state as the public API serves it (PROTOCOL.md §1, issue 14): end-to-end
 * tests assert through `GET /api/sessions` and `GET /api/sessions/:meetingId` (and the meeting's report through
 * `GET /api/sessions/:meetingId/report`), never by reading SQLite, so the storage can change under them.
 *
 * The bearer is an account this helper registers once per server object through the public routes
 * (POST /auth/register + /auth/login). A meeting of no organization (any room name outside an organization's
 * `org_…:` namespace: every meeting the tests open by egress streams or LiveKit webhooks) is readable by the
 * owners and admins of the server's first organization (UNSCOPED_MEETINGS_ORG=first), whatever REQUIRE_AUTH
 * says: a test that registers accounts of its own asks for this one first (`apiAccount`), or uses its own.
 *
 * The JSON shapes below are written from PROTOCOL.md, not imported from src/.
 */
import { registerAccount, type TestAccount } from './auth.js';
import { http, type TestServer } from './server.js';

type Server = Pick<TestServer, 'url'>;

export interface ParticipantJson {
  meetingId: string;
  identity: string;
  name: string | null;
  roles: string[];
  isHost: boolean;
  joinedAt: number;
  leftAt: number | null;
  /** Latest analysis summary (speechMs, analysedMs, peakDbfs, ...), null before any. */
  stats: { speechMs: number; analysedMs: number; peakDbfs: number | null; rmsEmaDbfs: number | null; [k: string]: unknown } | null;
}

export interface RecordingJson {
  id: number;
  meetingId: string;
  participant: string;
  trackId: string;
  kind: 'audio' | 'video';
  codec: string;
  /** Relative to STORAGE_DIR. */
  path: string;
  sampleRate: number | null;
  channels: number | null;
  bytes: number;
  startedAt: number;
  endedAt: number | null;
  status: 'RECORDING' | 'COMPLETE' | 'REPAIRED' | 'FAILED';
  closeReason: string | null;
  mutedIntervals: { startMs: number; endMs: number | null }[];
  /** What the file lacks: offset and length in bytes of the WAV data. */
  gaps: { offset: number; bytes: number }[];
  egressId: string | null;
  egressStatus: string | null;
  egressError: string | null;
  durationMs: number | null;
}

export interface SessionJson {
  meetingId: string;
  roomName: string;
  roomSid: string | null;
  status: 'ACTIVE' | 'ENDED';
  startedAt: number;
  endedAt: number | null;
  orgId: string | null;
  participantCount: number;
  recordingCount: number;
  /** Oldest join first (in GET /api/sessions, the first 50 at most: `participantCount` says how many there are). */
  participants: ParticipantJson[];
  /** Oldest first (in GET /api/sessions, the first 50 at most: `recordingCount` says how many there are). */
  recordings: RecordingJson[];
}

/** By DATA_DIR (a restarted server keeps its accounts and secrets, so the same account and tokens), else by URL. */
const accounts = new Map<string, Promise<TestAccount>>();

/**
 * The account this helper reads with, registered on `server` the first time it is asked for; a server restarted
 * on the same DATA_DIR (`startTestServer(env, dirs)`) gets the same account.
 */
export function apiAccount(server: Server): Promise<TestAccount> {
  const key = 'dataDir' in server && typeof server.dataDir === 'string' ? `dir:${server.dataDir}` : `url:${server.url}`;
  let account = accounts.get(key);
  if (!account) {
    account = registerAccount(server);
    account.catch(() => accounts.delete(key));
    accounts.set(key, account);
  }
  return account;
}

/** `{ authorization: 'Bearer …' }` of `apiAccount(server)`. */
export async function apiHeaders(server: Server): Promise<Record<string, string>> {
  return (await apiAccount(server)).headers;
}

/**
 * GET /api/sessions/:meetingId.
 * @returns the meeting, or null when the API answers 404.
 * @throws Error on any other answer.
 */
export async function getSession(server: Server, meetingId: string): Promise<SessionJson | null> {
  const r = await http('GET', `${server.url}/api/sessions/${encodeURIComponent(meetingId)}`, undefined, await apiHeaders(server));
  if (r.status === 404) return null;
  if (r.status !== 200) throw new Error(`GET /api/sessions/${meetingId}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body as SessionJson;
}

/** GET /api/sessions/:meetingId that must be 200. */
export async function session(server: Server, meetingId: string): Promise<SessionJson> {
  const s = await getSession(server, meetingId);
  if (!s) throw new Error(`GET /api/sessions/${meetingId}: 404`);
  return s;
}

/**
 * Every meeting the bearer can see (GET /api/sessions, paged), newest first, each with all its participants and
 * recordings (a meeting the list gives in part, by its counts, is read again from GET /api/sessions/:meetingId).
 */
export async function listSessions(server: Server): Promise<SessionJson[]> {
  const all: SessionJson[] = [];
  const limit = 500;
  for (let offset = 0; ; offset += limit) {
    const r = await http('GET', `${server.url}/api/sessions?limit=${limit}&offset=${offset}`, undefined, await apiHeaders(server));
    if (r.status !== 200) throw new Error(`GET /api/sessions: ${r.status} ${JSON.stringify(r.body)}`);
    const page = r.body.sessions as SessionJson[];
    for (const s of page) {
      const partial = s.participants.length < s.participantCount || s.recordings.length < s.recordingCount;
      all.push(partial ? (await getSession(server, s.meetingId)) ?? s : s);
    }
    if (page.length < limit) return all;
  }
}

/** The recordings of every visible meeting, by id. */
export async function allRecordings(server: Server): Promise<RecordingJson[]> {
  return (await listSessions(server)).flatMap((s) => s.recordings).sort((a, b) => a.id - b.id);
}

/** The recordings of one participant identity, in any meeting, by id. */
export async function recordingsOf(server: Server, participant: string): Promise<RecordingJson[]> {
  return (await allRecordings(server)).filter((r) => r.participant === participant);
}

/** The first recording of `participant` that is closed (status other than RECORDING), or undefined. */
export async function closedRecordingOf(server: Server, participant: string): Promise<RecordingJson | undefined> {
  return (await recordingsOf(server, participant)).find((r) => r.status !== 'RECORDING');
}

/** How many meetings (and ACTIVE ones), participants and recordings the API shows. */
export async function counts(server: Server): Promise<{ sessions: number; active: number; participants: number; recordings: number }> {
  const all = await listSessions(server);
  return {
    sessions: all.length,
    active: all.filter((s) => s.status === 'ACTIVE').length,
    participants: all.reduce((n, s) => n + s.participants.length, 0),
    recordings: all.reduce((n, s) => n + s.recordings.length, 0),
  };
}
