// Connection state recovery and history against real sockbus processes, with the official
// socket.io-client: a dropped transport, kill -9 and restart, unrecoverable cases, retention,
// late joiners. No sleeps: every wait is an event with a deadline.

import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { Server } from './server.js';

const DEADLINE = 10000;
const cleanups = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()();
});

function deadline(promise, what, ms = DEADLINE) {
  let t;
  return Promise.race([
    promise.finally(() => clearTimeout(t)),
    new Promise((_, reject) => (t = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms))),
  ]);
}

async function server(args = []) {
  const s = new Server(args);
  cleanups.push(() => s.destroy());
  await s.start();
  return s;
}

function client(s, opts = {}) {
  const c = io(s.url, { forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 200, ...opts });
  cleanups.push(async () => c.disconnect());
  return c;
}

const connected = (c, what = 'connect') => deadline(new Promise((r) => (c.connected ? r() : c.once('connect', r))), what);
const next = (c, ev, what) => deadline(new Promise((r) => c.once(ev, (...a) => r(a))), what || ev);

/** Collects ('n', value, offset) events: the value list, in arrival order. */
function recorder(c) {
  const got = [];
  const waiters = [];
  c.on('n', (v) => {
    got.push(v);
    for (const w of waiters.splice(0)) w();
  });
  return {
    got,
    until: (pred, what) =>
      deadline(
        new Promise((r) => {
          const check = () => (pred(got) ? r() : waiters.push(check));
          check();
        }),
        what,
      ),
  };
}

/** A and B connected to a fresh server; A has received event 1 from B (so it holds an offset). */
async function pairWithOffset(args = []) {
  const s = await server(args);
  const a = client(s, { transports: ['websocket'] });
  const b = client(s, { transports: ['websocket'] });
  await Promise.all([connected(a), connected(b)]);
  const rec = recorder(a);
  await emitAcked(b, [1]);
  await rec.until((g) => g.length === 1, 'first event');
  return { s, a, b, rec, idBefore: a.id };
}

/** Drops A's transport and keeps it away until comeBack. */
async function dropAway(a) {
  a.io.reconnection(false);
  const gone = next(a, 'disconnect', 'disconnect');
  a.io.engine.close();
  await gone;
}

async function comeBack(a) {
  a.io.reconnection(true);
  const back = next(a, 'connect', 'reconnect');
  a.connect();
  await back;
}

async function emitAcked(c, values) {
  for (const v of values) await c.timeout(DEADLINE).emitWithAck('n', v);
}

async function dropAndRecover(transports) {
  const s = await server();
  const a = client(s, { transports });
  const b = client(s, { transports: ['websocket'] });
  await Promise.all([connected(a), connected(b)]);
  if (transports.length > 1) await deadline(new Promise((r) => (a.io.engine.transport.name === 'websocket' ? r() : a.io.engine.once('upgrade', r))), 'upgrade');
  const idBefore = a.id;
  const rec = recorder(a);
  await emitAcked(b, [1]);
  await rec.until((g) => g.length === 1, 'first live event');

  // Drop A's transport; B sends while A is away; A comes back on its own.
  a.io.opts.reconnectionDelay = a.io.opts.reconnectionDelayMax = 500;
  a.io.reconnectionDelay(500);
  a.io.reconnectionDelayMax(500);
  const back = next(a, 'connect', 'reconnect');
  a.io.engine.close();
  await emitAcked(b, [2, 3, 4, 5]);
  await back;
  assert.equal(a.recovered, true, 'socket.recovered');
  assert.equal(a.id, idBefore, 'same socket id');
  await emitAcked(b, [6]);
  await rec.until((g) => g.includes(6), 'live event after recovery');
  assert.deepEqual(rec.got, [1, 2, 3, 4, 5, 6], 'missed events once, in order, then live, no duplicates');
}

test('a dropped websocket recovers: same id, missed events in order, once, then live', async () => {
  await dropAndRecover(['websocket']);
});

test('a dropped polling-then-upgraded connection recovers', async () => {
  await dropAndRecover(['polling', 'websocket']);
});

test('a session that received nothing recovers from its start (pid, no offset)', async () => {
  // socket.io-client sends only its pid when no event reached it before the drop (no offset
  // yet); sockbus knows where the session started, so it recovers from there.
  const s = await server();
  const b = client(s, { transports: ['websocket'] });
  await connected(b);
  await emitAcked(b, [0]); // stored before A's session: never replayed to it
  const a = client(s, { transports: ['websocket'] });
  await connected(a);
  const idBefore = a.id;
  const rec = recorder(a);
  await dropAway(a);
  assert.deepEqual(rec.got, [], 'nothing received before the drop');
  await emitAcked(b, [1, 2, 3]);
  await comeBack(a);
  assert.equal(a.recovered, true, 'socket.recovered');
  assert.equal(a.id, idBefore, 'same socket id');
  await emitAcked(b, [4]);
  await rec.until((g) => g.includes(4), 'live event after recovery');
  assert.deepEqual(rec.got, [1, 2, 3, 4], 'missed events once, in order, then live; nothing from before');
});

test('recovery after the server is killed with -9 and restarted on the same data', async () => {
  const { s, a, b, rec, idBefore } = await pairWithOffset();
  // A goes away for longer than the outage; B's events are acknowledged, so stored.
  await dropAway(a);
  await emitAcked(b, [2, 3, 4]);
  await s.kill9();
  await s.start();
  await comeBack(a);
  assert.equal(a.recovered, true, 'recovered after kill -9');
  assert.equal(a.id, idBefore);
  await rec.until((g) => g.length >= 4, 'replayed events');
  assert.deepEqual(rec.got, [1, 2, 3, 4]);
});

test('500 acknowledged events survive kill -9 in order', async () => {
  const s = await server();
  const a = client(s, { transports: ['websocket'] });
  await connected(a);
  const values = Array.from({ length: 500 }, (_, i) => i);
  // Pipelined: all 500 in flight, each acknowledged once stored.
  await deadline(Promise.all(values.map((v) => a.timeout(DEADLINE * 2).emitWithAck('n', v))), '500 acks', DEADLINE * 3);
  await s.kill9();
  await s.start();
  const late = client(s, { transports: ['websocket'], auth: { history: 500 } });
  const rec = recorder(late);
  await connected(late);
  await rec.until((g) => g.length === 500, '500 events from history');
  assert.deepEqual(rec.got, values);
});

test('late joiner: auth.history N gets the last N events first; asking nothing gets nothing old', async () => {
  const s = await server();
  const b = client(s, { transports: ['websocket'] });
  await connected(b);
  await emitAcked(b, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  const late = client(s, { transports: ['websocket'], auth: { history: 4 } });
  const plain = client(s, { transports: ['websocket'] });
  const rl = recorder(late);
  const rp = recorder(plain);
  await Promise.all([connected(late), connected(plain)]);
  await emitAcked(b, [11]);
  await rl.until((g) => g.includes(11), 'live event for the late joiner');
  await rp.until((g) => g.includes(11), 'live event for the plain client');
  assert.deepEqual(rl.got, [7, 8, 9, 10, 11], 'last 4, oldest first, then live');
  assert.deepEqual(rp.got, [11], 'no history unasked');
});

test('unrecoverable: history trimmed by retention gives a fresh session and nothing partial', async () => {
  const { a, b, rec, idBefore } = await pairWithOffset(['--history-max-msgs', '3']);
  await dropAway(a);
  await emitAcked(b, [2, 3, 4, 5, 6]); // only 4, 5, 6 are kept: 2 and 3 are trimmed
  await comeBack(a);
  assert.equal(a.recovered, false);
  assert.notEqual(a.id, idBefore, 'a fresh id');
  await emitAcked(b, [7]);
  await rec.until((g) => g.includes(7), 'live event');
  assert.deepEqual(rec.got, [1, 7], 'nothing partial replayed');
});

test('unrecoverable: a recreated stream (new data dir, new epoch) gives a fresh session', async () => {
  const { s, a, b } = await pairWithOffset();
  a.io.reconnection(false);
  b.io.reconnection(false);
  const gone = next(a, 'disconnect', 'disconnect');
  await s.kill9();
  await gone;
  const fresh = new Server();
  cleanups.push(() => fresh.destroy());
  fresh.addr = s.addr; // same address, new data: the namespace stream has a new epoch
  await fresh.start();
  await comeBack(a);
  assert.equal(a.recovered, false);
});

test('unrecoverable: past the recovery window the session is gone', async () => {
  const { a, b, idBefore } = await pairWithOffset(['--recovery-window', '1s']);
  await dropAway(a);
  await emitAcked(b, [2]);
  // Wait out the window by polling a clock, not by sleeping on a guess.
  const until = Date.now() + 2500;
  await deadline(new Promise((r) => { const t = setInterval(() => Date.now() > until && (clearInterval(t), r()), 50); }), 'window');
  await comeBack(a);
  assert.equal(a.recovered, false);
  assert.notEqual(a.id, idBefore);
});

/** The server process's resident memory now, in MiB (Linux /proc; 0 elsewhere). */
function rssMiB(s) {
  try {
    const m = readFileSync(`/proc/${s.proc.pid}/status`, 'utf8').match(/VmRSS:\s+(\d+) kB/);
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * A proxy to s on a loopback port that holds every response for delayMs before passing it on,
 * as a slow link or a distant proxy would: the client's next poll comes that much later.
 */
async function slowProxy(s, delayMs) {
  const [host, port] = s.addr.split(':');
  const agent = new http.Agent({ keepAlive: true });
  const proxy = http.createServer((req, res) => {
    const up = http.request({ host, port, path: req.url, method: req.method, headers: req.headers, agent }, (ur) => {
      setTimeout(() => {
        res.writeHead(ur.statusCode, ur.headers);
        ur.pipe(res);
      }, delayMs);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise((r) => proxy.listen(0, '127.0.0.1', r));
  cleanups.push(async () => {
    proxy.closeAllConnections();
    agent.destroy();
    await new Promise((r) => proxy.close(r));
  });
  return { url: `http://127.0.0.1:${proxy.address().port}` };
}

test('a polling client that missed 20,000 events recovers them all, paced on its polls', async (t) => {
  // 20,000 events of 1 KiB (20 MB: more frames and more than twice the bytes of a session's
  // outbound bounds, 16,384 frames and 8 MiB) to a client whose polls come 100 ms apart (a
  // slow link): a replay that does not wait for the client's GETs overflows the polling
  // buffer between two polls, the session is cut as a slow consumer and the client recovers
  // again from where it got to, a part of the backlog per session.
  const N = 20000;
  const pad = 'p'.repeat(1024);
  const s = await server(['--max-events-per-second', '0', '--max-events-per-address', '0']);
  const a = client(await slowProxy(s, 100), { transports: ['polling'] });
  const b = client(s, { transports: ['websocket'] });
  await Promise.all([connected(a), connected(b)]);
  const rec = recorder(a);
  await emitAcked(b, [0]);
  await rec.until((g) => g.length === 1, 'first event');
  const idBefore = a.id;
  await dropAway(a);
  for (let i = 1; i <= N; i += 500) { // pipelined 500 at a time, each acknowledged once stored
    const batch = Array.from({ length: Math.min(500, N + 1 - i) }, (_, k) => b.timeout(DEADLINE * 2).emitWithAck('n', i + k, pad));
    await deadline(Promise.all(batch), `events ${i}..`, DEADLINE * 3);
  }
  const rssBefore = rssMiB(s);
  let rssPeak = rssBefore;
  const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, rssMiB(s))), 20);
  cleanups.push(async () => clearInterval(sampler));
  let opens = 0; // Engine.IO sessions the client opened to recover: one, if the replay never overflows
  a.io.on('open', () => opens++);
  const start = performance.now();
  a.io.reconnection(true);
  const back = deadline(new Promise((r) => a.once('connect', r)), 'the polling recovery', DEADLINE * 3); // a loaded machine
  a.connect();
  await back;
  const tookMs = Math.round(performance.now() - start);
  clearInterval(sampler);
  assert.equal(a.recovered, true, 'socket.recovered');
  assert.equal(a.id, idBefore, 'same socket id');
  assert.equal(a.io.engine.transport.name, 'polling');
  assert.equal(opens, 1, 'recovered in one session (not cut as a slow consumer and retried)');
  await rec.until((g) => g.length === N + 1, `${N} replayed events`);
  await emitAcked(b, [N + 1]);
  await rec.until((g) => g.length === N + 2, 'live event after recovery');
  assert.deepEqual(rec.got, Array.from({ length: N + 2 }, (_, i) => i), 'every event once, in order, then live');
  t.diagnostic(`polling recovery of ${N} events: ${tookMs} ms, ${opens} session(s); server RSS ${rssBefore.toFixed(1)} MiB before, peak ${rssPeak.toFixed(1)} MiB during`);
});
