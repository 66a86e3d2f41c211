// A socket.io-client that stops reading, driven by slow_test.go against sockbus (the official
// server buffers without bound, so this is sockbus behaviour, not the protocol's): its queue
// overflows, the server finishes the frame it was writing and closes the WebSocket with 1008
// "slow consumer"; the client, reading again, sees a transport close, reconnects by itself and
// recovers its session. Nothing sleeps: every wait is an event raced against a deadline.

import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { io } from 'socket.io-client';

const URL = process.env.SOCKBUS_URL;
const DEADLINE_MS = 30000;
const opened = [];
after(() => opened.forEach((s) => s.disconnect()));

function client() {
  const s = io(URL + '/slow', { forceNew: true, transports: ['websocket'], reconnectionDelay: 100 });
  opened.push(s);
  return s;
}

function event(emitter, name, what) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(what + ' did not happen in time')), DEADLINE_MS);
    emitter.once(name, (...args) => { clearTimeout(timer); resolve(args); });
  });
}

test('a client that stops reading is closed with 1008, then reconnects and recovers', async () => {
  const slow = client();
  const fast = client();
  await Promise.all([event(slow, 'connect', 'connect'), event(fast, 'connect', 'connect')]);
  const ws = slow.io.engine.transport.ws; // the `ws` WebSocket under the websocket transport
  const closed = event(ws, 'close', 'the WebSocket close');
  const disconnected = event(slow, 'disconnect', 'disconnect');
  ws._socket.pause(); // the attack: read nothing
  const payload = 'z'.repeat(64 << 10);
  for (let i = 0; i < 320; i++) { // 20 MiB: past the 8 MiB queue and the socket buffers
    await fast.timeout(DEADLINE_MS).emitWithAck('flood', i, payload); // acked once stored
  }
  ws._socket.resume();
  const [code, reason] = await closed;
  assert.equal(code, 1008);
  assert.equal(reason.toString(), 'slow consumer');
  assert.equal((await disconnected)[0], 'transport close');
  await event(slow, 'connect', 'the reconnect');
  assert.equal(slow.recovered, true);
});
