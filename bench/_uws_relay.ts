/**
 * Relay floor for `npm run bench -- signaling`, target uws-floor: a raw uWebSockets.js server speaking just
 * enough of meetcore's /ws JSON protocol for the bench: `connected {participantId}` on open, `join-room` →
 * `room-joined` (no room bookkeeping), and `ice {to, ...}` → JSON.parse, forwarded as `ice {from, ...}` to the
 * peer `to`. Nothing else: no validation, rate limit, rooms, auth or metrics. Prints `{"port":N}` once listening.
 * Run: node --import tsx bench/_uws_relay.ts
 */
import uWS from 'uWebSockets.js';

interface Data { id: string }
const peers = new Map<string, uWS.WebSocket<Data>>();
const decoder = new TextDecoder();
let next = 0;

const app = uWS.App();
app.ws<Data>('/ws', {
  maxPayloadLength: 64 * 1024,
  idleTimeout: 120,
  sendPingsAutomatically: true,
  upgrade: (res, req, context) => {
    const protocol = (req.getHeader('sec-websocket-protocol').split(',')[0] ?? '').trim();
    res.upgrade<Data>({ id: `p${next++}` }, req.getHeader('sec-websocket-key'), protocol, req.getHeader('sec-websocket-extensions'), context);
  },
  open: (ws) => {
    const { id } = ws.getUserData();
    peers.set(id, ws);
    ws.send(JSON.stringify({ type: 'connected', participantId: id }));
  },
  message: (ws, msg) => {
    const m = JSON.parse(decoder.decode(msg)) as { type: string; to?: string; candidate?: unknown; sdpMid?: unknown; sdpMLineIndex?: unknown; roomId?: string; rid?: unknown };
    const { id } = ws.getUserData();
    if (m.type === 'ice') {
      peers.get(m.to ?? '')?.send(JSON.stringify({ type: 'ice', from: id, candidate: m.candidate, sdpMid: m.sdpMid, sdpMLineIndex: m.sdpMLineIndex }));
    } else if (m.type === 'join-room') {
      ws.send(JSON.stringify({ type: 'room-joined', rid: m.rid, roomId: m.roomId, participantId: id, participants: [] }));
    }
  },
  close: (ws) => { peers.delete(ws.getUserData().id); },
});
app.listen('127.0.0.1', 0, (s) => {
  if (!s) { process.stderr.write('listen failed\n'); process.exit(1); }
  process.stdout.write(`${JSON.stringify({ port: uWS.us_socket_local_port(s) })}\n`);
});
process.on('SIGTERM', () => { app.close(); process.exit(0); });
