// Reference relay: a Node socket.io 4.8 server that plays sockbus's default app, so the
// JavaScript suite in test/node/ can be validated against known-good behaviour (and used as a
// baseline in benchmarks). It is not part of sockbus.
//
//   PORT=0 node relay.js        → prints "listening http://127.0.0.1:<port>" on stdout
//
// Behaviour (mirrors handlers/ in the Go server):
//   - every namespace is accepted (io.of(/.*/) plus the main namespace "/");
//   - every event a socket emits is broadcast to every other socket of its namespace,
//     and acknowledged with no arguments when the client asked for an ack;
//   - GET /healthz answers 200 "ok" (the browser test needs a same-origin page);
//   - path /socket.io/, no CORS configuration, the client bundle served at
//     /socket.io/socket.io.js (socket.io's default);
//   - connection state recovery off, or on with RECOVERY=1 (sockbus's default is on: the
//     server then appends an offset string to every event, which the suite must cope with).

import http from 'node:http';
import { Server } from 'socket.io';

const port = Number.parseInt(process.env.PORT ?? '0', 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`relay: invalid PORT ${JSON.stringify(process.env.PORT)}`);
  process.exit(2);
}
const host = process.env.HOST ?? '127.0.0.1';

// Registered before socket.io attaches: engine.io keeps it as the fallback for every request
// that is not under /socket.io/.
const httpServer = http.createServer((req, res) => {
  if (req.method === 'GET' && (req.url === '/healthz' || req.url?.startsWith('/healthz?'))) {
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('ok');
    return;
  }
  res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end('not found');
});

const recovery = process.env.RECOVERY === '1';
const io = new Server(httpServer, {
  path: '/socket.io/',
  ...(recovery ? { connectionStateRecovery: { maxDisconnectionDuration: 2 * 60 * 1000 } } : {}),
});

function relay(socket) {
  socket.onAny((event, ...args) => {
    const ack = typeof args[args.length - 1] === 'function' ? args.pop() : null;
    socket.broadcast.emit(event, ...args);
    if (ack) ack();
  });
}

io.of('/').on('connection', relay);
io.of(/.*/).on('connection', relay);

httpServer.listen(port, host, () => {
  const { port: bound } = httpServer.address();
  console.log(`listening http://${host}:${bound}`);
  console.error(`relay: socket.io, connection state recovery ${recovery ? 'on' : 'off'}`);
});

let closing = false;
function shutdown(signal) {
  if (closing) return;
  closing = true;
  // io.close() disconnects every socket and closes the HTTP server.
  io.close(() => process.exit(0));
  setTimeout(() => {
    console.error(`relay: forced exit after ${signal}`);
    process.exit(1);
  }, 3000).unref();
}
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGINT', () => shutdown('SIGINT'));
