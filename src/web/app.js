// The built-in call page of meetcore (served at GET / and /participant/:roomId). Plain browser JavaScript,
// no dependencies: a small signaling client that mirrors src/client (JSON subprotocol `meetcore.json`,
// requests with `rid`, events by `type`, reconnect with backoff), and a P2P mesh of RTCPeerConnections using
// the ICE servers meetcore hands out (STUN, and TURN REST credentials for coturn).
//
// Query parameters: name=<display name>, autojoin=1 (join without clicking), relay=1 (iceTransportPolicy
// "relay": media only through TURN). State for tests and debugging: window.meetcoreCall.
'use strict';

/** Signaling over /ws (PROTOCOL.md §2), the browser twin of src/client's SignalingClient. */
class Signaling {
  constructor(url) {
    this.url = url;
    this.ws = null;
    this.handlers = new Map();
    this.pending = new Map();
    this.nextRid = 1;
    this.participantId = null;
    this.closedByUser = false;
    this.attempts = 0;
  }

  /** Open the socket; resolves on the server's `connected` message. */
  connect() {
    this.closedByUser = false;
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(this.url, 'meetcore.json');
      this.ws = ws;
      let opened = false;
      ws.onmessage = (ev) => {
        let m;
        try { m = JSON.parse(ev.data); } catch { return; }
        if (m.type === 'connected') { opened = true; this.attempts = 0; this.participantId = m.participantId; resolve(m); }
        this.dispatch(m);
      };
      ws.onclose = (ev) => {
        for (const p of this.pending.values()) p.reject(new Error(`socket closed (${ev.code})`));
        this.pending.clear();
        if (!opened) reject(new Error(`cannot connect (${ev.code})`));
        this.emit({ type: 'close', code: ev.code, reason: ev.reason });
        if (!this.closedByUser && opened) this.scheduleReconnect();
      };
    });
  }

  scheduleReconnect() {
    const delay = Math.min(10000, 250 * 2 ** this.attempts++);
    setTimeout(() => {
      this.connect().then(() => this.emit({ type: 'reconnected' }), () => this.scheduleReconnect());
    }, delay);
  }

  on(type, fn) {
    if (!this.handlers.has(type)) this.handlers.set(type, new Set());
    this.handlers.get(type).add(fn);
    return () => this.handlers.get(type).delete(fn);
  }

  /** Resolve with the next message of `type`. */
  next(type, timeoutMs = 10000) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { off(); reject(new Error(`no ${type} in time`)); }, timeoutMs);
      const off = this.on(type, (m) => { clearTimeout(timer); off(); resolve(m); });
    });
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(message));
  }

  /** Send with a `rid`; resolves with the reply, rejects with the `error` reply ({code, message}). */
  request(message, timeoutMs = 10000) {
    const rid = `w${this.nextRid++}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.pending.delete(rid); reject(new Error(`no reply to ${message.type}`)); }, timeoutMs);
      this.pending.set(rid, {
        resolve: (m) => { clearTimeout(timer); resolve(m); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      this.send({ ...message, rid });
    });
  }

  close() {
    this.closedByUser = true;
    if (this.ws) this.ws.close(1000);
  }

  dispatch(m) {
    if (m.rid !== undefined && this.pending.has(String(m.rid))) {
      const p = this.pending.get(String(m.rid));
      this.pending.delete(String(m.rid));
      if (m.type === 'error') p.reject(Object.assign(new Error(`${m.code}: ${m.message}`), { code: m.code }));
      else p.resolve(m);
    }
    this.emit(m);
  }

  emit(m) {
    for (const fn of this.handlers.get(m.type) || []) fn(m);
  }
}

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const ROOM_PATH = /^\/participant\/([^/]+)\/?$/;

const state = {
  roomId: null,
  name: null,
  signaling: null,
  localStream: null,
  iceServers: [],
  /** participantId → {pc, name, tile, pendingIce: []} */
  peers: new Map(),
  participants: [],
  joined: false,
  relayOnly: params.get('relay') === '1',
  chat: [],
};
window.meetcoreCall = state;

function setStatus(text) { $('status').textContent = text; }

function roomFromInput(text) {
  const t = text.trim();
  try {
    const u = new URL(t);
    const m = ROOM_PATH.exec(u.pathname);
    if (m) return decodeURIComponent(m[1]);
  } catch { /* not a URL: a room id */ }
  return t;
}

function showLobby() {
  $('lobby').hidden = false;
  $('room').hidden = true;
  $('create').onclick = async () => {
    setStatus('creating a room…');
    const res = await fetch('/api/rooms', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    const body = await res.json();
    if (!res.ok) { setStatus(`cannot create a room: ${body.error ? body.error.message : res.status}`); return; }
    location.href = new URL(body.joinURL).pathname;
  };
  $('open').onsubmit = (ev) => {
    ev.preventDefault();
    location.href = `/participant/${encodeURIComponent(roomFromInput($('roomInput').value))}`;
  };
}

function showRoom(roomId) {
  state.roomId = roomId;
  $('lobby').hidden = true;
  $('room').hidden = false;
  $('roomTitle').textContent = roomId;
  const link = `${location.origin}/participant/${encodeURIComponent(roomId)}`;
  $('joinLink').textContent = link;
  $('joinLink').href = link;
  $('nameInput').value = params.get('name') || localStorage.getItem('meetcore.name') || '';
  $('joinForm').onsubmit = (ev) => { ev.preventDefault(); join($('nameInput').value.trim()).catch(fail); };
  $('leaveBtn').onclick = leave;
  $('micBtn').onclick = () => toggle('audio', $('micBtn'), 'Mute mic', 'Unmute mic');
  $('camBtn').onclick = () => toggle('video', $('camBtn'), 'Camera off', 'Camera on');
  $('chatForm').onsubmit = (ev) => {
    ev.preventDefault();
    const text = $('chatInput').value.trim();
    if (!text) return;
    state.signaling.send({ type: 'chat', roomId: state.roomId, text });
    $('chatInput').value = '';
  };
  if (params.get('autojoin') === '1' && $('nameInput').value) join($('nameInput').value.trim()).catch(fail);
}

function fail(err) {
  console.error(err);
  setStatus(`error: ${err.message}`);
}

async function join(name) {
  if (state.joined) return;
  state.name = name;
  localStorage.setItem('meetcore.name', name);
  $('joinBtn').disabled = true;
  setStatus('camera and microphone…');
  if (!state.localStream) {
    try {
      state.localStream = await navigator.mediaDevices.getUserMedia({ audio: true, video: { width: 640, height: 480 } });
    } catch (err) {
      setStatus(`no camera/microphone (${err.name}): joining to receive only`);
      state.localStream = new MediaStream();
    }
    $('localVideo').srcObject = state.localStream;
  }
  const wsUrl = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  const sig = state.signaling || new Signaling(wsUrl);
  if (!state.signaling) {
    state.signaling = sig;
    wireSignaling(sig);
    await sig.connect();
  }
  await enterRoom();
}

/** join-room, then offer to everyone already there (newcomers offer, so two peers never both offer). */
async function enterRoom() {
  const sig = state.signaling;
  setStatus('joining…');
  const iceServers = sig.next('ice-servers');
  const reply = await sig.request({ type: 'join-room', roomId: state.roomId, name: state.name });
  state.iceServers = (await iceServers).iceServers || [];
  state.joined = true;
  state.participants = reply.participants;
  renderPeople();
  for (const m of reply.chat || []) addChat(m);
  $('joinBtn').hidden = true;
  for (const b of ['leaveBtn', 'micBtn', 'camBtn']) $(b).hidden = false;
  for (const el of $('chatForm').elements) el.disabled = false;
  $('qr').src = `/api/rooms/${encodeURIComponent(state.roomId)}/qr.svg`;
  setStatus(`in room as ${state.name}`);
  for (const p of reply.participants) {
    if (p.participantId !== sig.participantId) await offerTo(p.participantId, p.name);
  }
}

function wireSignaling(sig) {
  sig.on('room-participants', (m) => { if (m.roomId === state.roomId) { state.participants = m.participants; renderPeople(); } });
  sig.on('user-disconnected', (m) => { if (m.roomId === state.roomId) dropPeer(m.participantId); });
  sig.on('offer', (m) => onOffer(m).catch(fail));
  sig.on('answer', (m) => onAnswer(m).catch(fail));
  sig.on('ice', (m) => onIce(m).catch(fail));
  sig.on('chat', (m) => { if (m.roomId === state.roomId) addChat(m); });
  sig.on('error', (m) => { if (m.rid === undefined) setStatus(`server: ${m.code}: ${m.message}`); });
  sig.on('close', () => {
    for (const id of [...state.peers.keys()]) dropPeer(id);
    if (state.joined) setStatus('connection lost, reconnecting…');
  });
  sig.on('reconnected', () => { if (state.joined) enterRoom().catch(fail); });
  setInterval(() => { if (state.joined) sig.send({ type: 'heartbeat' }); }, 20000);
}

function newPeer(id, name) {
  const pc = new RTCPeerConnection({ iceServers: state.iceServers, iceTransportPolicy: state.relayOnly ? 'relay' : 'all' });
  const tile = document.createElement('figure');
  tile.dataset.participant = id;
  tile.innerHTML = '<video autoplay playsinline></video><figcaption></figcaption>';
  tile.querySelector('figcaption').textContent = name || id.slice(0, 8);
  $('videos').append(tile);
  const peer = { pc, name, tile, pendingIce: [] };
  state.peers.set(id, peer);
  for (const track of state.localStream.getTracks()) pc.addTrack(track, state.localStream);
  pc.onicecandidate = (ev) => {
    if (ev.candidate) state.signaling.send({ type: 'ice', to: id, candidate: ev.candidate.candidate, sdpMid: ev.candidate.sdpMid, sdpMLineIndex: ev.candidate.sdpMLineIndex });
  };
  pc.ontrack = (ev) => {
    const video = tile.querySelector('video');
    if (video.srcObject !== ev.streams[0]) video.srcObject = ev.streams[0] || new MediaStream([ev.track]);
  };
  pc.onconnectionstatechange = () => {
    tile.dataset.state = pc.connectionState;
    if (pc.connectionState === 'failed') setStatus(`connection to ${name || id} failed`);
  };
  return peer;
}

async function offerTo(id, name) {
  const { pc } = newPeer(id, name);
  await pc.setLocalDescription(await pc.createOffer());
  state.signaling.send({ type: 'offer', to: id, sdp: { type: pc.localDescription.type, sdp: pc.localDescription.sdp } });
}

async function onOffer(m) {
  const known = state.participants.find((p) => p.participantId === m.from);
  const peer = state.peers.get(m.from) || newPeer(m.from, known && known.name);
  await peer.pc.setRemoteDescription(m.sdp);
  await flushIce(peer);
  await peer.pc.setLocalDescription(await peer.pc.createAnswer());
  state.signaling.send({ type: 'answer', to: m.from, sdp: { type: peer.pc.localDescription.type, sdp: peer.pc.localDescription.sdp } });
}

async function onAnswer(m) {
  const peer = state.peers.get(m.from);
  if (!peer) return;
  await peer.pc.setRemoteDescription(m.sdp);
  await flushIce(peer);
}

async function onIce(m) {
  const peer = state.peers.get(m.from);
  if (!peer || !m.candidate) return;
  const init = typeof m.candidate === 'string' ? { candidate: m.candidate, sdpMid: m.sdpMid, sdpMLineIndex: m.sdpMLineIndex } : m.candidate;
  if (!peer.pc.remoteDescription) { peer.pendingIce.push(init); return; }
  await peer.pc.addIceCandidate(init);
}

async function flushIce(peer) {
  for (const c of peer.pendingIce.splice(0)) await peer.pc.addIceCandidate(c);
}

function dropPeer(id) {
  const peer = state.peers.get(id);
  if (!peer) return;
  peer.pc.close();
  peer.tile.remove();
  state.peers.delete(id);
}

function leave() {
  state.joined = false;
  state.signaling.request({ type: 'leave-room', roomId: state.roomId }).catch(() => undefined);
  for (const id of [...state.peers.keys()]) dropPeer(id);
  for (const t of state.localStream ? state.localStream.getTracks() : []) t.stop();
  state.localStream = null;
  $('joinBtn').hidden = false;
  $('joinBtn').disabled = false;
  for (const b of ['leaveBtn', 'micBtn', 'camBtn']) $(b).hidden = true;
  for (const el of $('chatForm').elements) el.disabled = true;
  setStatus('left the room');
}

function toggle(kind, button, onLabel, offLabel) {
  const tracks = kind === 'audio' ? state.localStream.getAudioTracks() : state.localStream.getVideoTracks();
  const enable = !(tracks[0] && tracks[0].enabled);
  for (const t of tracks) t.enabled = enable;
  button.textContent = enable ? onLabel : offLabel;
}

function renderPeople() {
  $('people').textContent = state.participants.map((p) => p.name || p.participantId.slice(0, 8)).join(', ') || '-';
}

function addChat(m) {
  if (state.chat.some((c) => c.id === m.id)) return;
  state.chat.push(m);
  const line = document.createElement('p');
  const who = document.createElement('strong');
  who.textContent = `${m.name || String(m.from).slice(0, 8)}: `;
  line.append(who, document.createTextNode(m.text));
  line.title = new Date(m.ts).toLocaleTimeString();
  $('chatlog').append(line);
  $('chatlog').scrollTop = $('chatlog').scrollHeight;
}

/**
 * The room of a `/participant/<roomId>` path: `{roomId}`, `{}` for any other path (the lobby), or `{error}`
 * when the room id is not valid URL encoding (`/participant/%E0`).
 */
function roomOfPath(pathname) {
  const m = ROOM_PATH.exec(pathname);
  if (!m) return {};
  try {
    return { roomId: decodeURIComponent(m[1]) };
  } catch {
    return { error: `The room id in this address (${m[1].slice(0, 200)}) is not valid URL encoding: create a room or open a join link.` };
  }
}

const pathRoom = roomOfPath(location.pathname);
if (pathRoom.roomId !== undefined) showRoom(pathRoom.roomId);
else {
  showLobby();
  if (pathRoom.error) setStatus(pathRoom.error);
}
