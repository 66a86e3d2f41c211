// Three sockbus nodes behind a round-robin HTTP proxy (SOCKBUS_URL): every HTTP request and every
// WebSocket upgrade goes to the next node, so a session's polls, POSTs and upgrade reach nodes
// other than the one that opened it, which forward them to it over the bus. Driven by
// TestClusterBehindRoundRobin (cluster_test.go), which also checks the proxy spread the requests.

import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { DEADLINE_MS, closeAll, collect, connect, nonce, once, withDeadline } from '../node/helpers.js';

afterEach(closeAll);

const modes = {
  default: {},
  'polling only': { transports: ['polling'], upgrade: false },
  'websocket only': { transports: ['websocket'] },
};

// Interest in a namespace reaches the other nodes asynchronously: send markers until `to`
// hears one from `from`.
async function warmUp(from, to) {
  const tag = nonce('warm');
  let heard = false;
  const got = new Promise((resolve) => {
    const on = (t) => {
      if (t === tag) {
        heard = true;
        to.off('warm', on);
        resolve();
      }
    };
    to.on('warm', on);
  });
  const deadline = Date.now() + 20000;
  while (!heard) {
    assert.ok(Date.now() < deadline, 'a node never delivered another node\'s event');
    from.emit('warm', tag);
    await Promise.race([got, new Promise((r) => setTimeout(r, 100))]);
  }
}

for (const [name, opts] of Object.entries(modes)) {
  test(`${name}: connects, emits with acks, receives broadcasts from the other nodes in order`, async () => {
    const sockets = [];
    for (let i = 0; i < 3; i++) sockets.push(await connect({ ...opts, deadlineMs: 10000 }));
    const [a, b, c] = sockets;
    if (name === 'default') {
      // Upgrades land on any node: each must end on WebSocket.
      for (const s of sockets) {
        if (s.io.engine.transport.name !== 'websocket') await once(s.io.engine, 'upgrade', 10000);
        assert.equal(s.io.engine.transport.name, 'websocket');
      }
    }
    for (const s of sockets) assert.equal(s.io.engine.transport.name, opts.transports?.[0] ?? 'websocket');
    await warmUp(a, b);
    await warmUp(a, c);
    await warmUp(b, a);

    const n = 30;
    const atB = collect(b, 'seq', n, 20000);
    const atC = collect(c, 'seq', n, 20000);
    const acks = [];
    for (let i = 0; i < n; i++) {
      const args = i % 10 === 0 ? [i, Buffer.from([i, 255, 0])] : [i];
      acks.push(withDeadline(a.emitWithAck('seq', ...args), 20000, `ack ${i}`));
    }
    await Promise.all(acks);
    for (const got of [await atB, await atC]) {
      assert.deepEqual(got.map((args) => args[0]), [...Array(n).keys()], 'order');
      for (const args of got) {
        if (args[0] % 10 === 0) assert.deepEqual([...args[1]], [args[0], 255, 0], 'binary attachment');
      }
    }
    // And back: C's event reaches A and B.
    const token = nonce('back');
    const atA = once(a, 'back', DEADLINE_MS * 2);
    const atB2 = once(b, 'back', DEADLINE_MS * 2);
    await withDeadline(c.emitWithAck('back', token), 20000, 'ack of back');
    assert.deepEqual(await atA, [token]);
    assert.deepEqual(await atB2, [token]);
  });
}

test('recovery through the balancer: a dropped client comes back with the events it missed', async () => {
  const a = await connect({ reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200, deadlineMs: 10000 });
  const b = await connect({ deadlineMs: 10000 });
  await warmUp(b, a); // a now holds an offset
  const got = collect(a, 'missed', 3, 20000);
  const back = once(a, 'connect', 20000);
  const gone = once(a, 'disconnect', 5000);
  a.io.engine.close(); // transport close: recoverable
  await gone;
  for (let i = 1; i <= 3; i++) await withDeadline(b.emitWithAck('missed', i), 20000, `ack ${i}`);
  await back;
  assert.equal(a.recovered, true, 'recovered');
  assert.deepEqual((await got).map((args) => args[0]), [1, 2, 3]);
});
