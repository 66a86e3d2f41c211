// The benchmarks' Node baseline: socket.io 4.8 playing sockbus's default relay app, plus plain
// WebSocket channels (the `ws` package socket.io itself uses) for the /ws/{channel} scenario.
//
//   PORT=0 node relay.js        → prints "listening http://127.0.0.1:<port>" on stdout
//
//   - every namespace is accepted (io.of(/.*/) plus "/"); every event a socket emits goes to
//     every other socket of its namespace (socket.broadcast.emit) and is acknowledged with no
//     arguments when the client asked for an ack;
//   - connection state recovery is ON (in-memory, socket.io's default 2-minute window), so
//     socket.io pays for offsets and stored packets as sockbus pays for JetStream;
//   - /ws and /ws/{channel}: every message to every connection of the channel, sender included;
//   - GET /healthz answers 200.
//
// Cluster mode (bench cluster scenario): REDIS_URL=redis://127.0.0.1:<port> makes this process one
// node of a socket.io cluster through @socket.io/redis-streams-adapter (the adapter that supports
// connection state recovery: broadcasts and offsets go through one Redis stream, a session is
// kept in Redis when its socket disconnects); NODE_ID names the node in its log lines.
import http from 'node:http';
import { Server } from 'socket.io';
import { WebSocketServer } from 'ws';
import { createClient } from 'redis';
import { createAdapter } from '@socket.io/redis-streams-adapter';

const port = Number.parseInt(process.env.PORT ?? '0', 10);
const host = process.env.HOST ?? '127.0.0.1';
const nodeId = process.env.NODE_ID ?? '';
const redisURL = process.env.REDIS_URL ?? '';

let redisClient = null;
if (redisURL) {
  redisClient = createClient({ url: redisURL });
  redisClient.on('error', (err) => console.error(`node ${nodeId}: redis: ${err.message}`));
  await redisClient.connect();
}

const httpServer = http.createServer((req, res) => {
  if (req.method === 'GET' && (req.url === '/healthz' || req.url?.startsWith('/healthz?'))) {
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('ok');
    return;
  }
  res.writeHead(404);
  res.end();
});

const io = new Server(httpServer, {
  path: '/socket.io/',
  serveClient: false,
  destroyUpgrade: false, // /ws upgrades are ours
  connectionStateRecovery: { maxDisconnectionDuration: 2 * 60 * 1000, skipMiddlewares: true },
  ...(redisClient ? { adapter: createAdapter(redisClient) } : {}),
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

// Plain WebSocket channels.
const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 1 << 20 });
const channels = new Map(); // name → Set of ws
httpServer.on('upgrade', (req, socket, head) => {
  const path = (req.url ?? '').split('?')[0];
  if (path !== '/ws' && !path.startsWith('/ws/')) return; // engine.io's own
  let name;
  try {
    name = decodeURIComponent(path.slice(4)) || 'default';
  } catch {
    socket.destroy();
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    let members = channels.get(name);
    if (!members) channels.set(name, (members = new Set()));
    members.add(ws);
    ws.on('message', (data, isBinary) => {
      for (const m of members) m.send(data, { binary: isBinary });
    });
    ws.on('close', () => {
      members.delete(ws);
      if (members.size === 0) channels.delete(name);
    });
    ws.on('error', () => ws.terminate());
  });
});

httpServer.listen(port, host, () => {
  const mode = redisClient ? ` (cluster node ${nodeId}, redis-streams adapter on ${redisURL})` : '';
  console.log(`listening http://${host}:${httpServer.address().port}${mode}`);
});

let closing = false;
function shutdown() {
  if (closing) return;
  closing = true;
  for (const members of channels.values()) for (const ws of members) ws.terminate();
  io.close(() => {
    if (redisClient) redisClient.quit().finally(() => process.exit(0));
    else process.exit(0);
  });
  setTimeout(() => process.exit(0), 3000).unref();
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
