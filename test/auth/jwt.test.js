// JWT authentication with the official socket.io-client, driven by auth_integration_test.go,
// which starts sockbus with --auth-jwt-key=$JWT_SECRET. Tokens are HS256, signed here when a
// test needs them (so a short-lived one is fresh). Nothing sleeps: every wait is an event raced
// against a deadline.

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, test } from 'node:test';
import { io } from 'socket.io-client';

const URL = process.env.SOCKBUS_URL;
const SECRET = process.env.JWT_SECRET;

function sign(claims, secret = SECRET) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = b64({ alg: 'HS256', typ: 'JWT' }) + '.' + b64(claims);
  return body + '.' + createHmac('sha256', secret).update(body).digest('base64url');
}
const now = () => Math.floor(Date.now() / 1000);
const aliceScope = { namespaces: ['/', '/chat*'] };
const token = (extra = {}) => sign({ sub: 'alice', exp: now() + 3600, sockbus: aliceScope, ...extra });
const DEADLINE_MS = 10000;
const opened = [];
after(() => opened.forEach((s) => s.disconnect()));

function client(nsp, token, transport = 'websocket') {
  const s = io(URL + nsp, {
    forceNew: true,
    reconnection: false,
    transports: [transport],
    auth: token === undefined ? {} : { token },
  });
  opened.push(s);
  return s;
}

// outcome resolves with ['connect'] or ['connect_error', message, data].
function outcome(s) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('neither connect nor connect_error in time')), DEADLINE_MS);
    s.once('connect', () => { clearTimeout(timer); resolve(['connect']); });
    s.once('connect_error', (err) => { clearTimeout(timer); resolve(['connect_error', err.message, err.data]); });
  });
}

for (const transport of ['websocket', 'polling']) {
  test(`a valid token connects and its events reach others (${transport})`, async () => {
    const a = client('/chat', token(), transport);
    const b = client('/chat', token(), transport);
    assert.deepEqual(await Promise.all([outcome(a), outcome(b)]), [['connect'], ['connect']]);
    const got = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('event not relayed')), DEADLINE_MS);
      b.once('from-alice', (...args) => { clearTimeout(timer); resolve(args[0]); });
    });
    a.emit('from-alice', 'hi ' + transport);
    assert.equal(await got, 'hi ' + transport);
  });
}

test('no token is refused with "token required"', async () => {
  const [kind, message, data] = await outcome(client('/chat', undefined));
  assert.equal(kind, 'connect_error');
  assert.equal(message, 'token required');
  assert.deepEqual(data, { status: 401 });
});

test('an expired token is refused with "token expired"', async () => {
  const [kind, message, data] = await outcome(client('/chat', token({ exp: now() - 60 })));
  assert.equal(kind, 'connect_error');
  assert.equal(message, 'token expired');
  assert.deepEqual(data, { status: 401 });
});

test('a token signed with another key is refused with "invalid token"', async () => {
  const [kind, message] = await outcome(client('/chat', sign({ sub: 'alice', exp: now() + 3600 }, SECRET + '-other')));
  assert.equal(kind, 'connect_error');
  assert.equal(message, 'invalid token');
});

test('a namespace outside the token\'s scope is refused with "namespace not allowed"', async () => {
  const [kind, message, data] = await outcome(client('/secret', token()));
  assert.equal(kind, 'connect_error');
  assert.equal(message, 'namespace not allowed');
  assert.deepEqual(data, { status: 403 });
});

test('a socket whose token expires is disconnected by the server', async () => {
  const s = client('/chat', token({ exp: now() + 2 }));
  assert.deepEqual(await outcome(s), ['connect']);
  const reason = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('not disconnected at exp')), 3 * DEADLINE_MS);
    s.once('disconnect', (r) => { clearTimeout(timer); resolve(r); });
  });
  assert.equal(reason, 'io server disconnect');
});

// ackOf emits with an ack and resolves with its one argument.
const ackOf = (s, ...args) => s.timeout(DEADLINE_MS).emitWithAck(...args);

// untilPast resolves once the clock passed Unix second t: waiting for time
// itself, not for the server.
const untilPast = (t) => new Promise((resolve) => setTimeout(resolve, Math.max(0, t * 1000 - Date.now())));

test('a socket that refreshes its token stays connected past the old exp', async () => {
  const exp = now() + 2;
  const s = client('/chat', token({ exp }));
  const other = client('/chat', token());
  assert.deepEqual(await Promise.all([outcome(s), outcome(other)]), [['connect'], ['connect']]);
  let relayed = false;
  other.on('sockbus:refresh', () => { relayed = true; });
  let disconnected = '';
  s.on('disconnect', (r) => { disconnected = r; });
  const later = now() + 3600;
  assert.deepEqual(await ackOf(s, 'sockbus:refresh', token({ exp: later })), { ok: true, exp: later });
  // Refused refreshes leave the new expiry in place.
  assert.deepEqual(await ackOf(s, 'sockbus:refresh', sign({ sub: 'mallory', exp: later, sockbus: aliceScope })),
    { error: 'token is for another user' });
  assert.deepEqual(await ackOf(s, 'sockbus:refresh', token({ sockbus: { namespaces: ['/other'] } })),
    { error: 'namespace not allowed' });
  assert.deepEqual(await ackOf(s, 'sockbus:refresh', token({ exp: now() - 60 })), { error: 'token expired' });
  assert.deepEqual(await ackOf(s, 'sockbus:refresh', token() + 'x'), { error: 'invalid token' });
  assert.deepEqual(await ackOf(s, 'sockbus:refresh'), { error: 'token required' });
  await untilPast(exp + 2);
  // Still served: an acked event round-trips, and nothing was relayed.
  assert.equal(await ackOf(s, 'after-old-exp', 1), undefined); // the relay's ack: stored
  assert.equal(disconnected, '');
  assert.equal(s.connected, true);
  assert.equal(relayed, false, 'the refresh event reached another socket');
});

test('a refused refresh does not move the expiry', async () => {
  const s = client('/chat', token({ exp: now() + 2 }));
  assert.deepEqual(await outcome(s), ['connect']);
  const reason = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('not disconnected at exp')), 3 * DEADLINE_MS);
    s.once('disconnect', (r) => { clearTimeout(timer); resolve(r); });
  });
  assert.deepEqual(await ackOf(s, 'sockbus:refresh', sign({ sub: 'alice', exp: now() + 3600 }, SECRET + '-other')),
    { error: 'invalid token' });
  assert.equal(await reason, 'io server disconnect');
});
