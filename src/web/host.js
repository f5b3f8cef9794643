// The host console of meetcore (served at GET /host/:meetingId). Plain browser JavaScript, no dependencies,
// no build step.
//
// Token: the host's meetcore access token comes in the URL fragment (/host/<meetingId>#token=<access token>,
// never sent to a server by the browser). It is moved to sessionStorage (this tab only) and removed from the
// address bar at once; it is sent as `Authorization: Bearer` on fetches and, because the server asks for it
// there, as `?token=` on the /ws upgrade only. Without one the page asks for it.
//
// What it shows:
// - live feedback: joins the signaling room `feedback:<meetingId>` over /ws (JSON subprotocol
//   `meetcore.json`, requests with `rid`, reconnect with backoff; a join refused with not_found, the meeting
//   not started yet, is retried), lists `{type:"feedback"}` events newest first (message, kind, time); the
//   events stored before the page opened come from GET /feedback/:meetingId;
// - talk share: bars of `report.participants[].talkSharePercent` from GET /api/sessions/:meetingId/report,
//   and who is speaking from GET /feedback/debug/:meetingId?report=false (`{meetingId, participants: [live]}`),
//   both polled every 2 s;
// - timeline: GET /api/sessions/:meetingId/timeline.svg every 5 s, shown in an <img> through a blob: URL.
// Every poll sends the ETag of the reply it holds as If-None-Match: the server answers 304 (no body) while
// the report version (and the feedback, for the picture) did not change, and nothing is fetched or redrawn;
// - meeting ended: on `{type:"meeting_report", meetingId, final, ...}` the final report is read from
//   GET /api/sessions/:meetingId/report (also when the page opens late), the final figures in a table; polling
//   stops after one last timeline.
// Errors (401, 403, 404, network) are written on the page as the server gave them. State for tests and
// debugging: window.meetcoreHost.
'use strict';

const $ = (id) => document.getElementById(id);
const HOST_PATH = /^\/host\/([^/]+)\/?$/;
const TOKEN_KEY = 'meetcore.host.token';
const DEBUG_POLL_MS = 2000;
const TIMELINE_POLL_MS = 5000;
const MAX_EVENTS = 500;

const state = {
  meetingId: null,
  token: null,
  ws: null,
  wsAttempts: 0,
  joinAttempts: 0,
  joined: false,
  nextRid: 1,
  joinRid: null,
  /** Feedback events by id. */
  events: new Map(),
  /** The latest report shown (live or final). */
  report: null,
  /** participantId → live view from the debug route (speaking, muted, …). */
  live: new Map(),
  final: false,
  stopped: false,
  timers: { ws: 0, join: 0, debug: 0, timeline: 0 },
  /** ETag of the reply held, by path (sent back as If-None-Match). */
  etags: new Map(),
  /** Replies by status, for tests: how many 200s and 304s each poll got. */
  replies: { report: { 200: 0, 304: 0 }, timeline: { 200: 0, 304: 0 } },
  timelineUrl: null,
  /** Pictures shown so far; the sequence number of the latest fetch (an older reply is dropped). */
  timelineUpdates: 0,
  timelineSeq: 0,
  namesKey: '',
};
window.meetcoreHost = state;

// ---------------------------------------------------------------------------------------------------------
// Token

/** Move `#token=` into sessionStorage and out of the address bar; returns the token to use, or null. */
function takeToken() {
  const fragment = location.hash.slice(1);
  if (fragment) {
    const params = new URLSearchParams(fragment);
    const token = params.get('token');
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    params.delete('token');
    const rest = params.toString();
    history.replaceState(null, '', location.pathname + location.search + (rest ? `#${rest}` : ''));
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function askForToken(message) {
  $('tokenSection').hidden = false;
  if (message) showError(message);
  $('tokenForm').onsubmit = (ev) => {
    ev.preventDefault();
    const token = $('tokenInput').value.trim();
    if (!token) return;
    $('tokenInput').value = '';
    sessionStorage.setItem(TOKEN_KEY, token);
    $('tokenSection').hidden = true;
    hideError();
    start(token);
  };
}

/** The server refused the token: stop everything and ask for another. */
function refused(detail) {
  stop();
  sessionStorage.removeItem(TOKEN_KEY);
  setStatus('not authorized');
  askForToken(`The server refused the access token (${detail}). Paste a valid token of an owner or admin of the meeting's organization.`);
}

// ---------------------------------------------------------------------------------------------------------
// Page text

function setStatus(text) { $('status').textContent = text; }
function showError(text) { $('error').textContent = text; $('error').hidden = false; }
function hideError() { $('error').hidden = true; $('error').textContent = ''; }

function fmt(n, digits = 1) {
  return typeof n === 'number' && Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: digits }) : '—';
}

/** Milliseconds as m:ss. */
function clock(ms) {
  if (typeof ms !== 'number' || !Number.isFinite(ms)) return '—';
  const s = Math.max(0, Math.round(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

function plural(count, one, many = `${one}s`) {
  return `${count} ${count === 1 ? one : many}`;
}

function seconds(ms) {
  return typeof ms === 'number' && Number.isFinite(ms) ? `${fmt(ms / 1000)} s` : '—';
}

function participantLabel(p) {
  return `${p.name || p.participantId}${p.isHost ? ' (host)' : ''}`;
}

function nameOf(participantId) {
  const p = state.report && state.report.participants.find((x) => x.participantId === participantId);
  return p ? participantLabel(p) : participantId;
}

// ---------------------------------------------------------------------------------------------------------
// HTTP

/**
 * GET `path` with the bearer token. Returns {ok, status, body} (body: parsed JSON, or a Blob with `as`
 * 'blob'), {ok: true, status: 304, notModified: true} when `conditional` and the server still has the reply
 * held (its ETag, kept per path, sent as If-None-Match), or {ok: false, status, error} with the server's error
 * text. A 401 stops the page (refused).
 */
async function api(path, as = 'json', conditional = false) {
  let res;
  const headers = { authorization: `Bearer ${state.token}` };
  const held = conditional ? state.etags.get(path) : undefined;
  if (held) headers['if-none-match'] = held;
  try {
    res = await fetch(path, { headers, cache: 'no-store', referrerPolicy: 'no-referrer' });
  } catch (err) {
    return { ok: false, status: 0, error: `network error: ${err.message}` };
  }
  if (res.status === 304) return { ok: true, status: 304, notModified: true };
  if (res.ok) {
    try {
      const body = as === 'blob' ? await res.blob() : await res.json();
      const etag = res.headers.get('etag');
      if (conditional && etag) state.etags.set(path, etag);
      return { ok: true, status: res.status, body };
    } catch (err) {
      return { ok: false, status: res.status, error: `${res.status}: unreadable reply (${err.message})` };
    }
  }
  let text = '';
  try { text = await res.text(); } catch { /* no body */ }
  let error = `${res.status} ${res.statusText}`.trim();
  try {
    const body = JSON.parse(text);
    if (body && body.error) error = `${res.status} ${body.error.code}: ${body.error.message}`;
  } catch {
    if (text) error += `: ${text.slice(0, 200)}`;
  }
  if (res.status === 401 && !state.stopped) refused(error);
  return { ok: false, status: res.status, error };
}

/** The report inside a reply: the body itself or its `report` field, when it looks like a MeetingReport. */
function reportOf(body) {
  const r = body && typeof body === 'object' && body.report !== undefined ? body.report : body;
  return r && typeof r === 'object' && Array.isArray(r.participants) ? r : null;
}

// ---------------------------------------------------------------------------------------------------------
// Signaling: the feedback room

function connect() {
  if (state.stopped) return;
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const ws = new WebSocket(`${scheme}://${location.host}/ws?token=${encodeURIComponent(state.token)}`, 'meetcore.json');
  state.ws = ws;
  let opened = false;
  ws.onmessage = (ev) => {
    let m;
    try { m = JSON.parse(ev.data); } catch { return; }
    if (m.type === 'connected') {
      opened = true;
      state.wsAttempts = 0;
      state.joinAttempts = 0;
      setStatus('connected, joining the feedback room…');
      join();
    }
    onMessage(m);
  };
  ws.onclose = (ev) => {
    if (state.ws === ws) state.ws = null;
    state.joined = false;
    clearTimeout(state.timers.join);
    // Once the meeting has ended nothing more comes on the feedback room: no reconnect.
    if (state.stopped || state.final) return;
    const delay = Math.min(10000, 250 * 2 ** state.wsAttempts++);
    setStatus(opened
      ? `connection lost (${ev.code}), reconnecting in ${fmt(delay / 1000)} s…`
      : `cannot connect to /ws (${ev.code}${ev.code === 1006 ? ': refused or unreachable' : ''}), retrying in ${fmt(delay / 1000)} s…`);
    state.timers.ws = setTimeout(connect, delay);
  };
}

function send(message) {
  if (state.ws && state.ws.readyState === WebSocket.OPEN) state.ws.send(JSON.stringify(message));
}

function join() {
  state.joinRid = `h${state.nextRid++}`;
  send({ type: 'join-room', roomId: `feedback:${state.meetingId}`, name: 'host console', role: 'host', rid: state.joinRid });
}

function onMessage(m) {
  if (m.rid !== undefined && String(m.rid) === state.joinRid) {
    state.joinRid = null;
    if (m.type === 'room-joined') {
      state.joined = true;
      state.joinAttempts = 0;
      setStatus(state.final ? 'meeting ended' : 'live: receiving feedback');
      void loadStoredFeedback();
    } else if (m.type === 'error') {
      joinRefused(m.code, m.message);
    }
    return;
  }
  switch (m.type) {
    case 'feedback':
      if (m.meetingId === undefined || m.meetingId === state.meetingId) addEvents([m]);
      return;
    case 'meeting_report':
      // The figures only: the stored final report is read from its route (m.reportUrl).
      if (m.meetingId === state.meetingId && m.final) loadFinalReport();
      return;
    case 'room-left':
      // The server took this socket out of the room (e.g. the token expired).
      if (m.rid === undefined && m.roomId === `feedback:${state.meetingId}`) {
        state.joined = false;
        if (m.code === 'unauthorized') refused(`${m.code}: ${m.reason}`);
        else showError(`Removed from the feedback room: ${m.code || 'left'}: ${m.reason || ''}`);
      }
      return;
    case 'error':
      if (m.rid === undefined) setStatus(`server: ${m.code}: ${m.message}`);
      return;
    default:
  }
}

function joinRefused(code, message) {
  if (code === 'unauthorized') { refused(`${code}: ${message}`); return; }
  if (code === 'forbidden') {
    stop();
    setStatus('not allowed');
    showError(`This token may not receive the meeting's feedback (${code}: ${message}). Hosts are owners or admins of the meeting's organization.`);
    return;
  }
  // not_found: the meeting has not started yet. Anything else: try again too.
  const delay = Math.min(10000, 1000 * 2 ** state.joinAttempts++);
  setStatus(code === 'not_found'
    ? `waiting for the meeting to start (${code}: ${message}), next try in ${fmt(delay / 1000)} s`
    : `cannot join the feedback room (${code}: ${message}), next try in ${fmt(delay / 1000)} s`);
  clearTimeout(state.timers.join);
  state.timers.join = setTimeout(() => { if (!state.stopped && state.ws) join(); }, delay);
}

/** Events stored before the page joined (or while it was reconnecting). */
async function loadStoredFeedback() {
  const r = await api(`/feedback/${encodeURIComponent(state.meetingId)}`);
  if (r.ok && Array.isArray(r.body.events)) addEvents(r.body.events);
}

// ---------------------------------------------------------------------------------------------------------
// Feedback list

function addEvents(list) {
  let added = false;
  for (const e of list) {
    if (!e || typeof e.kind !== 'string') continue;
    const id = e.id || `${e.kind}|${e.participantId}|${e.ts}`;
    if (state.events.has(id)) continue;
    state.events.set(id, { ...e, id, receivedAt: Date.now() });
    added = true;
  }
  if (!added) return;
  if (state.events.size > MAX_EVENTS) {
    const oldest = [...state.events.values()].sort(byNewest).slice(MAX_EVENTS);
    for (const e of oldest) state.events.delete(e.id);
  }
  renderEvents();
}

function byNewest(a, b) {
  return (Number(b.ts) || 0) - (Number(a.ts) || 0) || b.receivedAt - a.receivedAt;
}

function renderEvents() {
  const list = $('events');
  const items = [...state.events.values()].sort(byNewest).map((e) => {
    const li = document.createElement('li');
    li.dataset.kind = e.kind;
    li.dataset.participant = String(e.participantId ?? '');
    if (e.severity) li.dataset.severity = e.severity;
    const msg = document.createElement('div');
    msg.className = 'message';
    msg.textContent = e.message || e.kind;
    const meta = document.createElement('div');
    meta.className = 'meta';
    const kind = document.createElement('span');
    kind.className = 'kind';
    kind.textContent = e.kind;
    const who = document.createElement('span');
    who.textContent = nameOf(e.participantId);
    const time = document.createElement('time');
    const ts = Number(e.ts);
    if (Number.isFinite(ts)) {
      time.dateTime = new Date(ts).toISOString();
      const start = state.report && state.report.startedAtMs;
      time.textContent = new Date(ts).toLocaleTimeString() + (typeof start === 'number' ? ` (${clock(ts - start)} into the meeting)` : '');
    }
    meta.append(kind, who, time);
    li.append(msg, meta);
    return li;
  });
  list.replaceChildren(...items);
  $('noEvents').hidden = items.length > 0;
}

// ---------------------------------------------------------------------------------------------------------
// Talk share (live report) and the final figures

/** Who speaks (the live view, without the report), then the report when its version changed. */
async function pollDebug() {
  if (state.stopped || state.final) return;
  const id = encodeURIComponent(state.meetingId);
  const [live, r] = await Promise.all([api(`/feedback/debug/${id}?report=false`, 'json', true), api(`/api/sessions/${id}/report`, 'json', true)]);
  if (state.stopped || state.final) return;
  if (live.ok && !live.notModified) {
    state.live = new Map((Array.isArray(live.body.participants) ? live.body.participants : []).map((p) => [p.participantId, p]));
  }
  if (r.ok) state.replies.report[r.status === 304 ? 304 : 200]++;
  if (r.ok && !r.notModified) {
    const report = reportOf(r.body);
    if (report && report.final) { showFinal(report); return; }
    if (report) renderShare(report);
  } else if (r.notModified) {
    if (state.report && live.ok && !live.notModified) renderShare(state.report);
  } else if (r.status === 404) {
    $('shareNote').textContent = `No report yet (${r.error}).`;
  } else {
    $('shareNote').textContent = `Talk share unavailable: ${r.error}`;
  }
  state.timers.debug = setTimeout(pollDebug, DEBUG_POLL_MS);
}

function renderShare(report) {
  state.report = report;
  const rows = report.participants.map((p, i) => {
    const row = document.createElement('div');
    row.className = 'share-row';
    row.dataset.participant = p.participantId;
    const who = document.createElement('span');
    who.className = 'who';
    who.textContent = participantLabel(p);
    who.title = p.participantId;
    const live = state.live.get(p.participantId);
    if (!state.final && live && live.speaking) who.classList.add('speaking');
    const track = document.createElement('div');
    track.className = 'track';
    const bar = document.createElement('div');
    bar.className = 'bar';
    const share = Math.max(0, Math.min(100, Number(p.talkSharePercent) || 0));
    bar.style.width = `${share}%`;
    bar.style.background = PALETTE[i % PALETTE.length];
    bar.dataset.share = String(share);
    track.append(bar);
    const value = document.createElement('span');
    value.className = 'value';
    value.textContent = `${fmt(share)} % · ${clock(p.talkTimeMs)}`;
    row.append(who, track, value);
    return row;
  });
  $('share').replaceChildren(...rows);
  $('shareNote').textContent = report.participants.length === 0
    ? 'No speech yet.'
    : `${report.final ? 'Final figures' : 'Live'} · updated ${new Date(report.generatedAt || Date.now()).toLocaleTimeString()}`;
  // The feedback list names participants and counts time from the start: redraw it when those change.
  const key = JSON.stringify([report.startedAtMs, report.participants.map((p) => [p.participantId, p.name, p.isHost])]);
  if (key !== state.namesKey) {
    state.namesKey = key;
    renderEvents();
  }
}

/** The colours of src/meetings/timeline-svg.ts, so a bar matches its lane in the picture. */
const PALETTE = ['#4c78a8', '#f58518', '#54a24b', '#b279a2', '#72b7b2', '#eeca3b', '#9d755d', '#79706e', '#8cd17d', '#86bcb6'];

function showFinal(report) {
  const first = !state.final;
  state.final = true;
  clearTimeout(state.timers.debug);
  renderShare(report);
  $('ended').hidden = false;
  const n = (v) => (typeof v === 'number' ? v : 0);
  $('endedSummary').textContent = [
    `Duration ${clock(report.durationMs)}`,
    `speech ${clock(report.speechMs)}`,
    `silence ${fmt(report.silenceSharePercent)} %`,
    `interactivity ${fmt(report.speakerSwitchesPerMin)} speaker switches/min (${plural(n(report.speakerSwitchCount), 'switch', 'switches')})`,
    plural(n(report.interruptionCount), 'interruption'),
    plural(n(report.backchannelCount), 'backchannel'),
  ].join(' · ');
  const rows = report.participants.map((p) => {
    const tr = document.createElement('tr');
    tr.dataset.participant = p.participantId;
    const cells = [
      [participantLabel(p), false], [clock(p.talkTimeMs), true], [`${fmt(p.talkSharePercent)} %`, true], [fmt(p.turnCount, 0), true],
      [clock(p.longestMonologueMs), true], [fmt(p.interruptionsMadeCount, 0), true], [fmt(p.interruptionsReceivedCount, 0), true],
      [fmt(p.backchannelCount, 0), true], [p.patienceMs === null ? '—' : seconds(p.patienceMs), true],
    ];
    for (const [text, num] of cells) {
      const td = document.createElement(num ? 'td' : 'th');
      if (num) td.className = 'num';
      td.textContent = text;
      tr.append(td);
    }
    return tr;
  });
  $('finalTable').tBodies[0].replaceChildren(...rows);
  setStatus('meeting ended');
  if (first) {
    // One last picture with the final report, then no more polling.
    clearTimeout(state.timers.timeline);
    void pollTimeline();
  }
}

// ---------------------------------------------------------------------------------------------------------
// Timeline picture

async function pollTimeline() {
  if (state.stopped) return;
  const seq = ++state.timelineSeq;
  const r = await api(`/api/sessions/${encodeURIComponent(state.meetingId)}/timeline.svg`, 'blob', true);
  // Stopped, or a later fetch started meanwhile (the final one): that one shows its picture.
  if (state.stopped || seq !== state.timelineSeq) return;
  if (r.ok) state.replies.timeline[r.status === 304 ? 304 : 200]++;
  if (r.notModified) {
    // The picture shown is the server's latest: nothing to fetch or redraw.
  } else if (r.ok) {
    // An <img> shows an SVG blob only with the SVG type, whatever the server labelled it.
    const url = URL.createObjectURL(new Blob([r.body], { type: 'image/svg+xml' }));
    const img = $('timeline');
    const previous = state.timelineUrl;
    state.timelineUrl = url;
    img.onload = () => {
      if (previous) URL.revokeObjectURL(previous);
      state.timelineUpdates++;
      img.hidden = false;
      $('timelineNote').textContent = `${state.final ? 'Final' : 'Live'} · updated ${new Date().toLocaleTimeString()}`;
    };
    img.onerror = () => { $('timelineNote').textContent = 'The timeline picture could not be shown (not a valid SVG).'; };
    img.src = url;
  } else {
    $('timelineNote').textContent = r.status === 404 ? `No timeline yet (${r.error}).` : `Timeline unavailable: ${r.error}`;
  }
  if (!state.final) state.timers.timeline = setTimeout(pollTimeline, TIMELINE_POLL_MS);
}

// ---------------------------------------------------------------------------------------------------------
// Start and stop

function stop() {
  state.stopped = true;
  for (const t of Object.values(state.timers)) clearTimeout(t);
  if (state.ws) { const ws = state.ws; state.ws = null; ws.close(1000); }
}

/** A report stored before the page opened (the meeting already ended): show it. Absent (404) is normal. */
async function loadFinalReport() {
  const r = await api(`/api/sessions/${encodeURIComponent(state.meetingId)}/report`);
  const report = r.ok ? reportOf(r.body) : null;
  if (report && report.final) showFinal(report);
}

function start(token) {
  state.token = token;
  state.stopped = false;
  connect();
  void pollDebug();
  void pollTimeline();
  void loadFinalReport();
}

/**
 * The meetingId named by the page's path (`/host/<meetingId>`, percent-encoded), or `{error}` with the text to
 * show when the path names none, cannot be decoded (`/host/%E0` is not UTF-8) or names one over 128
 * characters (the server's bound).
 */
function meetingOfPath(pathname) {
  const usage = 'Open this page as /host/<meetingId>#token=<access token>, the meeting id URL-encoded.';
  const m = HOST_PATH.exec(pathname);
  if (!m) return { error: usage };
  let id;
  try {
    id = decodeURIComponent(m[1]);
  } catch {
    return { error: `The meeting id in this address (${m[1].slice(0, 200)}) is not valid URL encoding. ${usage}` };
  }
  if (id.length > 128) return { error: `The meeting id in this address has ${id.length} characters; meeting ids have 1 to 128. ${usage}` };
  return { id };
}

const meetingPath = meetingOfPath(location.pathname);
const initialToken = takeToken();
if (meetingPath.error) {
  setStatus('no meeting');
  showError(meetingPath.error);
} else {
  state.meetingId = meetingPath.id;
  $('meeting').textContent = state.meetingId;
  document.title = `meetcore host · ${state.meetingId}`;
  if (initialToken) start(initialToken);
  else { setStatus('no access token'); askForToken(); }
}
