/**
 * Benchmark floor for `npm run bench -- ingest`, variant uws: a bare uWebSockets.js server that accepts
 * `/egress-audio` WebSockets and discards every frame. `GET /loop` answers its event-loop delay p99 since the
 * previous read (bench/_loop.ts). Prints `{"port":N}` on stdout once listening.
 * Run: node --import tsx bench/_uws_floor.ts
 */
import uWS from 'uWebSockets.js';
import { readLoop } from './_loop.js';

const app = uWS.App();
app.ws('/egress-audio', {
  maxPayloadLength: 1024 * 1024,
  idleTimeout: 60,
  sendPingsAutomatically: true,
  message: () => { /* discard */ },
});
app.get('/loop', (res) => { res.end(JSON.stringify(readLoop())); });
app.listen('127.0.0.1', 0, (s) => {
  if (!s) { process.stderr.write('listen failed\n'); process.exit(1); }
  process.stdout.write(`${JSON.stringify({ port: uWS.us_socket_local_port(s) })}\n`);
});
process.on('SIGTERM', () => { app.close(); process.exit(0); });
