/**
 * Baseline for `npm run bench -- signaling`: a plain Socket.IO v4 signaling server on node:http, the way the
 * seed projects do it (rooms with socket.join, relay with io.to(socketId).emit, no validation, no limits).
 * Same event names and payloads as meetcore for what the bench uses: `connected {participantId}` on
 * connection, `join-room {roomId, name}` → `room-joined {roomId, participantId, participants}` and
 * `user-connected` to the room, `ice {to, candidate, sdpMid, sdpMLineIndex}` → `ice {from, ...}` to `to`.
 * Prints `{"port":N}` once listening. Run: node --import tsx bench/_sio_plain.ts
 */
import http from 'node:http';
import { Server } from 'socket.io';

const server = http.createServer((_req, res) => { res.writeHead(404).end(); });
const io = new Server(server, { serveClient: false });
const names = new Map<string, string>();

io.on('connection', (socket) => {
  socket.emit('connected', { participantId: socket.id });
  socket.on('join-room', async ({ roomId, name, rid }: { roomId: string; name?: string; rid?: unknown }) => {
    names.set(socket.id, name ?? '');
    await socket.join(roomId);
    const ids = [...(io.sockets.adapter.rooms.get(roomId) ?? [])];
    socket.emit('room-joined', { rid, roomId, participantId: socket.id, participants: ids.map((id) => ({ participantId: id, name: names.get(id) })) });
    socket.to(roomId).emit('user-connected', { roomId, participantId: socket.id, name });
  });
  socket.on('ice', ({ to, candidate, sdpMid, sdpMLineIndex }: { to: string; candidate: unknown; sdpMid?: string; sdpMLineIndex?: number }) => {
    io.to(to).emit('ice', { from: socket.id, candidate, sdpMid, sdpMLineIndex });
  });
  socket.on('disconnect', () => { names.delete(socket.id); });
});
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof addr === 'object' && addr ? addr.port : 0 })}\n`);
});
process.on('SIGTERM', () => { io.close(); process.exit(0); });
