// Shared helpers for the JavaScript suite. Every test talks to the server at SOCKBUS_URL
// (sockbus, or test/reference/relay.js when validating the suite) with the official
// socket.io-client, raw `ws` connections or fetch.
//
// Rules the helpers enforce:
//   - nothing waits by sleeping: every wait is an event or a promise raced against a deadline,
//     and a missed deadline rejects with an error that says what was awaited;
//   - everything opened through them (clients, managers, raw WebSockets, long polls) is
//     registered and released by closeAll(); test files call `afterEach(closeAll)`;
//   - events are seen as the application sent them: with connection state recovery on (sockbus's
//     default; the reference relay with RECOVERY=1) the server appends an offset string to every
//     event, which once()/collect()/record()/recordAny() check and remove (see appArgs).
//
// Run the files one at a time (`node --test --test-concurrency=1 test/node/`; that is already
// the default on a 2-core machine): the relay broadcasts to every socket of a namespace, so two
// files running at once against one server would see each other's events.

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { io, Manager, Socket } from 'socket.io-client';
import WebSocket from 'ws';

/** Default deadline for one wait (ms). Generous for a loaded 2-core CI machine. */
export const DEADLINE_MS = 5000;

/** Base URL of the server under test, plus an optional path. */
export function url(path = '') {
  const base = process.env.SOCKBUS_URL;
  if (!base) {
    throw new Error(
      'SOCKBUS_URL is not set: start sockbus (or test/reference/relay.js) and export ' +
        'SOCKBUS_URL=http://127.0.0.1:<port>',
    );
  }
  return base.replace(/\/+$/, '') + path;
}

/** ws:// URL of the Engine.IO endpoint with the given query (EIO=4 and transport=websocket by default). */
export function engineWSURL(query = {}) {
  const u = new URL(url('/socket.io/'));
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  for (const [k, v] of Object.entries({ EIO: '4', transport: 'websocket', ...query })) {
    u.searchParams.set(k, v);
  }
  return u.toString();
}

/** http(s):// URL of the Engine.IO polling endpoint with the given query. */
export function enginePollURL(query = {}) {
  const u = new URL(url('/socket.io/'));
  for (const [k, v] of Object.entries({ EIO: '4', transport: 'polling', ...query })) {
    u.searchParams.set(k, v);
  }
  return u.toString();
}

/** A short unique string, for payloads that must not be confused with another test's. */
export function nonce(prefix = 'n') {
  return `${prefix}-${randomUUID()}`;
}

// ---------------------------------------------------------------------------------------------
// Deadlines and events

/** Resolves or rejects like `promise`, or rejects with "timed out after ms: what" at the deadline. */
export function withDeadline(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function listen(emitter, event, fn) {
  emitter.on(event, fn);
  return () => (emitter.off ?? emitter.removeListener).call(emitter, event, fn);
}

// Events the client emits itself; they never carry an offset.
const RESERVED_EVENTS = new Set(['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener']);
// Events sockbus sends live (volatile, not stored): no offset, as socket.io's volatile emits.
const LIVE_EVENTS = new Set(['sockbus:joined', 'sockbus:left']);

/** True when the server enabled connection state recovery for this socket (its CONNECT reply had a pid). */
export function recoveryOn(socket) {
  // `_pid` is socket.io-client's own (4.6+) record of the CONNECT reply's pid; the client is
  // pinned to an exact version in package.json.
  return socket instanceof Socket && typeof socket._pid === 'string' && socket._pid !== '';
}

/**
 * The arguments of a received event as the emitting application passed them. With recovery on,
 * the server appends an offset string to every event; it must be there (else this throws) and
 * is removed. Without recovery, or for non-Socket emitters and reserved events, `args` as is.
 */
export function appArgs(emitter, event, args) {
  if (RESERVED_EVENTS.has(event) || LIVE_EVENTS.has(event) || !recoveryOn(emitter)) return args;
  const offset = args[args.length - 1];
  if (typeof offset !== 'string' || offset === '') {
    throw new assert.AssertionError({
      message: `connection state recovery is on but event "${event}" carries no offset string as its last argument: ${describe(args)}`,
    });
  }
  return args.slice(0, -1);
}

function describe(args) {
  try {
    return JSON.stringify(args, (_, v) => (Buffer.isBuffer(v) || v instanceof ArrayBuffer || ArrayBuffer.isView(v) ? `<${v.byteLength} bytes>` : v));
  } catch {
    return String(args);
  }
}

/**
 * Resolves with the argument array of the next `event` on `emitter` (a socket.io-client Socket,
 * Manager, engine, `ws` socket or any EventEmitter); rejects after `ms`. Socket events are
 * passed through appArgs().
 */
export function once(emitter, event, ms = DEADLINE_MS) {
  let off;
  const p = new Promise((resolve, reject) => {
    off = listen(emitter, event, (...args) => {
      off();
      try {
        resolve(appArgs(emitter, event, args));
      } catch (err) {
        reject(err);
      }
    });
  });
  return withDeadline(p, ms, `event "${event}"`).finally(() => off());
}

/**
 * Starts recording every `event` on `socket` at once (so nothing that arrives meanwhile is
 * missed) and resolves when at least `n` have arrived, with the live array of argument arrays:
 * it keeps growing if more arrive later, which is how tests prove "exactly once". Rejects after
 * `ms` saying how many arrived, or as soon as an event fails appArgs().
 */
export function collect(socket, event, n, ms = DEADLINE_MS) {
  const items = [];
  let wake = () => {};
  let fail = () => {};
  const off = listen(socket, event, (...args) => {
    try {
      items.push(appArgs(socket, event, args));
    } catch (err) {
      fail(err);
      return;
    }
    if (items.length >= n) wake();
  });
  registry.add({ close: off });
  const p = new Promise((resolve, reject) => {
    wake = () => resolve(items);
    fail = reject;
  });
  return withDeadline(p, ms, `${n} x "${event}"`).catch((err) => {
    err.message += ` (got ${items.length})`;
    throw err;
  });
}

/**
 * Records every `event` on `socket` into a live array (no waiting). An event that fails
 * appArgs() is recorded as the Error, so assertions on the array show it.
 */
export function record(socket, event) {
  const items = [];
  const off = listen(socket, event, (...args) => {
    try {
      items.push(appArgs(socket, event, args));
    } catch (err) {
      items.push(err);
    }
  });
  registry.add({ close: off });
  return items;
}

/** Like record() for every event: a live array of [event, ...args]. */
export function recordAny(socket) {
  const items = [];
  const fn = (event, ...args) => {
    try {
      items.push([event, ...appArgs(socket, event, args)]);
    } catch (err) {
      items.push([event, err]);
    }
  };
  socket.onAny(fn);
  registry.add({ close: () => socket.offAny(fn) });
  return items;
}

// ---------------------------------------------------------------------------------------------
// Cleanup registry

const registry = new Set();

/** Registers anything with a close() (or a plain function) to be released by closeAll(). */
export function track(thing) {
  registry.add(typeof thing === 'function' ? { close: thing } : thing);
  return thing;
}

/**
 * Closes everything opened through these helpers: socket.io clients and managers, raw
 * WebSockets, pending fetches. Safe to call more than once. Test files: `afterEach(closeAll)`.
 */
export async function closeAll() {
  const things = [...registry];
  registry.clear();
  const errors = [];
  for (const t of things.reverse()) {
    try {
      await t.close();
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length) throw new AggregateError(errors, 'cleanup failed');
}

// ---------------------------------------------------------------------------------------------
// socket.io clients

function trackSocket(socket) {
  registry.add({ close: () => socket.disconnect() });
  return socket;
}

/**
 * A socket.io Manager (one Engine.IO connection shared by namespaces), registered for cleanup.
 * Reconnection is off unless asked for, so a server failure is never masked.
 */
export function manager(opts = {}) {
  const m = new Manager(url(), { reconnection: false, autoConnect: false, ...opts });
  // Manager#disconnect() closes the engine and cancels any reconnection timer.
  registry.add({ close: () => m.disconnect() });
  return m;
}

/**
 * A connected official client. Options are socket.io-client options plus:
 *   nsp        namespace (default "/")
 *   manager    a Manager to multiplex on (from manager()); otherwise a new one (forceNew)
 *   deadlineMs how long to wait for "connect" (default DEADLINE_MS)
 * Rejects on connect_error, on disconnect before connect, or at the deadline.
 */
export async function connect(opts = {}) {
  const { nsp = '/', manager: m, deadlineMs = DEADLINE_MS, ...clientOpts } = opts;
  const socket = m
    ? m.socket(nsp, clientOpts)
    : io(url(nsp), {
        forceNew: true,
        reconnection: false,
        timeout: deadlineMs,
        ...clientOpts,
      });
  trackSocket(socket);
  if (socket.connected) return socket;
  const offs = [];
  try {
    await withDeadline(
      new Promise((resolve, reject) => {
        offs.push(listen(socket, 'connect', resolve));
        offs.push(
          listen(socket, 'connect_error', (err) =>
            reject(new Error(`connect_error on ${nsp}: ${err?.message ?? err}`, { cause: err })),
          ),
        );
        offs.push(
          listen(socket, 'disconnect', (reason) =>
            reject(new Error(`disconnected before connect on ${nsp}: ${reason}`)),
          ),
        );
        if (!socket.active) socket.connect(); // autoConnect: false, on the socket or its Manager
      }),
      deadlineMs,
      `connect to ${nsp}`,
    );
  } catch (err) {
    socket.disconnect();
    throw err;
  } finally {
    for (const off of offs) off();
  }
  return socket;
}

/** Connects `n` clients in parallel with the same options. */
export function connectMany(n, opts = {}) {
  return Promise.all(Array.from({ length: n }, () => connect(opts)));
}

/**
 * Proves the server still works for brand-new official clients: two fresh clients connect and
 * an event goes A → B and back B → A (no acks involved, so ack bugs do not masquerade here).
 */
export async function assertServerAlive(what = 'server') {
  const [a, b] = await connectMany(2, { transports: ['websocket'] });
  const there = nonce('alive');
  const back = nonce('alive-back');
  const atB = once(b, 'alive');
  a.emit('alive', there);
  assert.deepEqual(await atB, [there], `${what}: A → B`);
  const atA = once(a, 'alive-back');
  b.emit('alive-back', back);
  assert.deepEqual(await atA, [back], `${what}: B → A`);
  a.disconnect();
  b.disconnect();
}

/** Bytes of a received binary value (Buffer, ArrayBuffer or typed array), else an assertion failure. */
export function bytes(value) {
  if (Buffer.isBuffer(value)) return value;
  if (value instanceof ArrayBuffer) return Buffer.from(value);
  if (ArrayBuffer.isView(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  assert.fail(`expected binary data, got ${Object.prototype.toString.call(value)}: ${JSON.stringify(value)}`);
}

// ---------------------------------------------------------------------------------------------
// Raw Engine.IO connections

/**
 * A raw WebSocket to the Engine.IO endpoint. Messages are recorded from the first byte:
 *   ws.messages  [{ data: string|Buffer, binary: boolean }]
 *   ws.closed    promise of { code, reason } when the connection closes (never rejects)
 *   ws.next(ms)  the next message not yet taken by next()
 */
export async function rawWS(query = {}, ms = DEADLINE_MS) {
  const ws = new WebSocket(engineWSURL(query), { handshakeTimeout: ms });
  registry.add({ close: () => ws.terminate() });
  ws.messages = [];
  let taken = 0;
  let wake = null;
  ws.on('message', (data, binary) => {
    ws.messages.push({ data: binary ? Buffer.from(data) : data.toString(), binary });
    wake?.();
  });
  ws.on('error', () => {}); // surfaced through `closed` / the deadlines instead
  ws.closed = new Promise((resolve) => {
    ws.on('close', (code, reason) => {
      resolve({ code, reason: reason.toString() });
      wake?.();
    });
  });
  ws.next = (deadline = DEADLINE_MS) =>
    withDeadline(
      new Promise((resolve, reject) => {
        const check = () => {
          if (taken < ws.messages.length) {
            wake = null;
            resolve(ws.messages[taken++]);
          } else if (ws.readyState === WebSocket.CLOSED) {
            wake = null;
            reject(new Error('connection closed while waiting for a message'));
          }
        };
        wake = check;
        check();
      }),
      deadline,
      'next WebSocket message',
    );
  await withDeadline(
    new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
      ws.once('close', () => reject(new Error('closed before open')));
    }),
    ms,
    'raw WebSocket open',
  );
  return ws;
}

/** Parses an Engine.IO open packet `0{...}` and returns its JSON. */
export function parseOpen(text) {
  assert.equal(typeof text, 'string', 'open packet is text');
  assert.equal(text[0], '0', `open packet starts with 0: ${text}`);
  return JSON.parse(text.slice(1));
}

/**
 * A raw WebSocket that has done the Engine.IO handshake and, when `connectNsp` is a string,
 * the Socket.IO CONNECT to that namespace ("/" → `40`). Returns the socket and the open payload.
 */
export async function rawSocketIO({ connectNsp = '/' } = {}) {
  const ws = await rawWS();
  const open = parseOpen((await ws.next()).data);
  if (connectNsp !== null) {
    ws.send(connectNsp === '/' ? '40' : `40${connectNsp},`);
    const reply = (await ws.next()).data;
    const prefix = connectNsp === '/' ? '40' : `40${connectNsp},`;
    assert.ok(reply.startsWith(`${prefix}{"sid":`), `CONNECT reply: ${reply}`);
  }
  return { ws, open };
}

/** fetch() with a deadline; the request is aborted at the deadline or by closeAll(). */
export async function fetchWithDeadline(resource, init = {}, ms = DEADLINE_MS) {
  const ac = new AbortController();
  const entry = { close: () => ac.abort() };
  registry.add(entry);
  const timer = setTimeout(() => ac.abort(new Error(`timed out after ${ms} ms: ${init.method ?? 'GET'} ${resource}`)), ms);
  try {
    const res = await fetch(resource, { ...init, signal: ac.signal });
    const body = Buffer.from(await res.arrayBuffer());
    return { status: res.status, headers: res.headers, body, text: body.toString('utf8') };
  } catch (err) {
    if (ac.signal.aborted && ac.signal.reason instanceof Error) throw ac.signal.reason;
    throw err;
  } finally {
    clearTimeout(timer);
    registry.delete(entry);
  }
}

/** Engine.IO polling handshake; returns { sid, open } for raw polling tests. */
export async function pollingHandshake() {
  const res = await fetchWithDeadline(enginePollURL());
  assert.equal(res.status, 200, `handshake status, body ${res.text}`);
  const open = parseOpen(res.text);
  return { sid: open.sid, open };
}

/** Splits a polling payload into its Engine.IO packets (records separated by \x1e). */
export function splitPayload(text) {
  return text === '' ? [] : text.split('\x1e');
}
