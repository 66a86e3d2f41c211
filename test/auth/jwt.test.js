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
