// Malformed input never takes the server down. Every case sends garbage on a raw connection
// (a `ws` WebSocket or fetch against a polling session), checks what the protocol requires of
// that one connection (a decode error closes it), and then proves a brand-new official client
// can still connect and round-trip an event.

import assert from 'node:assert/strict';
import net from 'node:net';
import { afterEach, test } from 'node:test';
import {
  DEADLINE_MS,
  assertServerAlive,
  bytes,
  closeAll,
  connect,
  enginePollURL,
  fetchWithDeadline,
  once,
  pollingHandshake,
  rawSocketIO,
  rawWS,
  splitPayload,
  track,
  url,
  withDeadline,
} from './helpers.js';

afterEach(closeAll);

// ---------------------------------------------------------------------------------------------
// WebSocket garbage, sent after the Socket.IO CONNECT to "/" (`40`) or right after the
// Engine.IO handshake. [what, frame, ends]: `ends` cases are decode errors or protocol
// violations, which close the whole connection (socket.io 4.8 closes on every one of them);
// for the others only the server's survival is required.

const WS_GARBAGE = [
  ['unknown Socket.IO packet type', '4zzz', true],
  ['unterminated JSON', '42["unterminated', true],
  ['binary event with no attachment count and an out-of-range placeholder', '45-["x",{"_placeholder":true,"num":9}]', true],
  ['binary frame without a preceding header packet', Buffer.from([0x01, 0x02, 0x03, 0xff]), true],
  ['huge invalid number of attachments', '4599999999999999999999-["x",{"_placeholder":true,"num":0}]', true],
  ['attachment count in exponent notation', '451e+99-["x"]', true],
  ['CONNECT with a broken namespace and payload', '40/does,not{', true],
  ['plain text that is no Engine.IO packet', 'hello', true],
  ['empty frame', '', true],
  ['Engine.IO message with no Socket.IO packet', '4', true],
  ['EVENT payload not an array', '42{"a":1}', true],
  ['EVENT with an empty array', '42[]', true],
  ['EVENT with a reserved event name', '42["connect"]', true],
  ['EVENT for a namespace not joined', '42/not-joined,["x"]', true],
  ['second CONNECT to a joined namespace', '40', true],
  ['ping from the client (server pings in v4)', '2', true],
  // socket.io ignores it; the protocol does not say.
  ['Engine.IO upgrade packet on a websocket-only session', '5', false],
];

for (const [what, garbage, ends] of WS_GARBAGE) {
  for (const connected of [true, false]) {
    // A second CONNECT is only garbage once the first one happened.
    if (!connected && garbage === '40') continue;
    test(`websocket garbage ${connected ? 'after CONNECT' : 'before CONNECT'}: ${what}`, async () => {
      const { ws } = await rawSocketIO({ connectNsp: connected ? '/' : null });
      ws.send(garbage);
      if (ends) {
        const closed = await withDeadline(ws.closed, DEADLINE_MS, `server closing the connection after ${JSON.stringify(String(garbage))}`);
        assert.equal(typeof closed.code, 'number');
      }
      await assertServerAlive();
    });
  }
}

test('websocket: an ACK for an unknown id is ignored and the connection stays usable', async () => {
  const peer = await connect({ transports: ['websocket'] });
  const { ws } = await rawSocketIO();
  ws.send('4399[]');
  ws.send('43123456789["x"]');
  const got = once(peer, 'after-bad-ack');
  ws.send('42["after-bad-ack",1]');
  assert.deepEqual(await got, [1]);
  assert.equal(ws.readyState, ws.OPEN);
});

test('websocket: a client DISCONNECT (41) gets no reply and the engine connection stays open', async () => {
  const { ws } = await rawSocketIO();
  ws.send('41');
  // Joining another namespace gets a reply; being the first message after 41, it shows 41 got none.
  ws.send('40/other,');
  const reply = await ws.next();
  assert.match(reply.data, /^40\/other,\{"sid":"[^"]+"/, `expected the /other CONNECT reply, got ${reply.data}`);
  // "/" can be joined again on the same Engine.IO connection, and relays.
  ws.send('40');
  assert.match((await ws.next()).data, /^40\{"sid":"[^"]+"/);
  const peer = await connect({ transports: ['websocket'] });
  const got = once(peer, 'rejoined');
  ws.send('42["rejoined"]');
  assert.deepEqual(await got, []);
});

test('websocket: a frame over maxPayload closes the connection with 1009', async () => {
  const { ws, open } = await rawSocketIO();
  ws.send(`42["big","${'x'.repeat(open.maxPayload)}"]`);
  const closed = await withDeadline(ws.closed, DEADLINE_MS, 'close after an oversized frame');
  assert.equal(closed.code, 1009);
  await assertServerAlive();
});

test('websocket: a BINARY_EVENT header followed by text instead of its attachment closes the connection', async () => {
  const { ws } = await rawSocketIO();
  ws.send('451-["x",{"_placeholder":true,"num":0}]');
  ws.send('42["not-an-attachment"]'); // a decode error: text while an attachment is expected
  await withDeadline(ws.closed, DEADLINE_MS, 'server closing the connection');
  await assertServerAlive();
});

test('websocket: a complete BINARY_EVENT sent by hand is relayed with its bytes', async () => {
  const peer = await connect({ transports: ['websocket'] });
  const { ws } = await rawSocketIO();
  const got = once(peer, 'by-hand');
  ws.send('451-["by-hand",{"_placeholder":true,"num":0},"tail"]');
  ws.send(Buffer.from([0xde, 0xad, 0xbe, 0xef]));
  const [buf, tail] = await got;
  assert.deepEqual([...bytes(buf)], [0xde, 0xad, 0xbe, 0xef]);
  assert.equal(tail, 'tail');
});

// ---------------------------------------------------------------------------------------------
// Polling garbage: POST bodies to a live polling session that has joined "/".

/** Resolves true once the session is gone: a GET is refused (400) or returns a close packet. */
async function pollingSessionEnded(sid, ms = DEADLINE_MS) {
  const deadline = Date.now() + ms;
  const seen = [];
  while (Date.now() < deadline) {
    let res;
    try {
      res = await fetchWithDeadline(enginePollURL({ sid }), {}, Math.max(1, deadline - Date.now()));
    } catch (err) {
      throw new Error(`session ${sid} still open after ${ms} ms (a GET was still pending); earlier GETs: ${JSON.stringify(seen)}`, { cause: err });
    }
    if (res.status === 400) return true;
    assert.equal(res.status, 200, `GET status ${res.status}: ${res.text}`);
    const packets = splitPayload(res.text);
    seen.push(packets);
    if (packets.includes('1')) return true;
  }
  throw new Error(`session ${sid} still open after ${ms} ms; GETs: ${JSON.stringify(seen)}`);
}

async function joinedPollingSession() {
  const { sid } = await pollingHandshake();
  const post = await fetchWithDeadline(enginePollURL({ sid }), { method: 'POST', body: '40' });
  assert.equal(post.status, 200);
  assert.equal(post.text, 'ok');
  const get = await fetchWithDeadline(enginePollURL({ sid }));
  assert.equal(get.status, 200);
  assert.match(get.text, /^40\{"sid":"[^"]+"/);
  return sid;
}

const POLL_GARBAGE = [
  ['unknown Socket.IO packet type', '4zzz', true],
  ['unterminated JSON', '42["unterminated', true],
  ['placeholder out of range', '45-["x",{"_placeholder":true,"num":9}]', true],
  ['huge invalid number of attachments', '4599999999999999999999-["x",{"_placeholder":true,"num":0}]', true],
  ['broken CONNECT', '40/does,not{', true],
  ['plain text', 'hello', true],
  ['empty records', '\x1e\x1e', true],
  ['binary record with invalid base64 and no header', 'b!!not base64!!', true],
  ['bytes that are not UTF-8', Buffer.from([0xff, 0xfe, 0x00, 0x01, 0xc3, 0x28]), true],
  ['valid packet then garbage in one payload', '42["fine"]\x1e4zzz', true],
  ['EVENT for a namespace not joined', '42/not-joined,["x"]', true],
  ['client ping', '2', true],
  ['Engine.IO close packet', '1', true],
  // The protocol says nothing about an empty body: only survival is required.
  ['empty body', '', false],
];

for (const [what, body, ends] of POLL_GARBAGE) {
  test(`polling garbage: ${what}`, async () => {
    const sid = await joinedPollingSession();
    const res = await fetchWithDeadline(enginePollURL({ sid }), {
      method: 'POST',
      body,
      headers: { 'Content-Type': 'text/plain;charset=UTF-8' },
    });
    assert.ok([200, 400].includes(res.status), `POST answered ${res.status}: ${res.text}`);
    if (ends) assert.equal(await pollingSessionEnded(sid), true);
    await assertServerAlive();
  });
}

test('polling: garbage to an unknown sid and without a sid is refused with 400', async () => {
  for (const href of [enginePollURL({ sid: 'not-a-session' }), enginePollURL()]) {
    const res = await fetchWithDeadline(href, { method: 'POST', body: '4zzz' });
    assert.equal(res.status, 400, `${href}: ${res.text}`);
  }
  await assertServerAlive();
});

test('polling: a POST over maxPayload is refused with 413', async () => {
  const { sid, open } = await pollingHandshake();
  const res = await fetchWithDeadline(enginePollURL({ sid }), { method: 'POST', body: `4${'x'.repeat(open.maxPayload + 1)}` });
  assert.equal(res.status, 413);
  await assertServerAlive();
});

test('polling: two concurrent GETs: one is refused with 400 and the session closes', async () => {
  const sid = await joinedPollingSession();
  // Nothing is queued for the session, so whichever GET the server sees first stays parked
  // and the other one overlaps it.
  const [a, b] = await Promise.all([
    fetchWithDeadline(enginePollURL({ sid })),
    fetchWithDeadline(enginePollURL({ sid })),
  ]);
  assert.ok(a.status === 400 || b.status === 400, `GETs answered ${a.status} ${JSON.stringify(a.text)} and ${b.status} ${JSON.stringify(b.text)}`);
  assert.equal(await pollingSessionEnded(sid), true);
  await assertServerAlive();
});

test('polling: POST 1 closes the session', async () => {
  const sid = await joinedPollingSession();
  const post = await fetchWithDeadline(enginePollURL({ sid }), { method: 'POST', body: '1' });
  assert.equal(post.status, 200);
  assert.equal(await pollingSessionEnded(sid), true);
  await assertServerAlive();
});

// ---------------------------------------------------------------------------------------------
// Broken transports: half-written requests, abrupt disconnects, bursts of connections.

test('half-written HTTP requests and abrupt disconnects', async () => {
  const { hostname, port } = new URL(url());
  const partials = [
    'GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n',
    'GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n\r\n\x81',
    'POST /socket.io/?EIO=4&transport=polling&sid=x HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n42["',
    'GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nHost: x\r\n\r\n',
    '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03', // a TLS ClientHello on a plain port
    'NONSENSE\r\n\r\n',
  ];
  for (const data of partials) {
    const sock = net.connect({ host: hostname, port: Number(port) });
    track(() => sock.destroy());
    await withDeadline(once(sock, 'connect'), DEADLINE_MS, 'tcp connect');
    sock.on('error', () => {});
    sock.write(data);
    sock.destroy();
  }
  await assertServerAlive();
});

test('long polls whose connection drops mid-request', async () => {
  const { hostname, port } = new URL(url());
  for (let i = 0; i < 5; i++) {
    const sid = await joinedPollingSession();
    const sock = net.connect({ host: hostname, port: Number(port) });
    track(() => sock.destroy());
    sock.on('error', () => {});
    await withDeadline(once(sock, 'connect'), DEADLINE_MS, 'tcp connect');
    const path = new URL(enginePollURL({ sid })).pathname + new URL(enginePollURL({ sid })).search;
    // Written in full, then the connection is dropped without reading the answer.
    await withDeadline(
      new Promise((resolve) => sock.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}\r\n\r\n`, resolve)),
      DEADLINE_MS,
      'request written',
    );
    sock.destroy();
  }
  await assertServerAlive();
});

test('a burst of WebSockets closed without a handshake or mid-session', async () => {
  const sockets = await Promise.all(Array.from({ length: 30 }, () => rawWS()));
  sockets.forEach((ws, i) => (i % 2 ? ws.terminate() : ws.close(1000)));
  await withDeadline(Promise.all(sockets.map((ws) => ws.closed)), DEADLINE_MS, 'all 30 WebSockets closed');
  await assertServerAlive();
});
