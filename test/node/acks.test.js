// Acknowledgements. The relay acknowledges every event that asks for it, with no arguments,
// and forwards the event to the others WITHOUT an ack id, so an ack timeout cannot be provoked
// against it: what is tested is that acks resolve promptly, match their emits, and never leak
// to the receivers as a callback argument.

import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { DEADLINE_MS, bytes, closeAll, collect, connect, connectMany, manager, once, withDeadline } from './helpers.js';

afterEach(closeAll);

for (const transport of ['websocket', 'polling']) {
  const opts = transport === 'polling' ? { transports: ['polling'], upgrade: false } : { transports: ['websocket'] };

  test(`emitWithAck resolves with no value and the receiver gets no ack function (${transport})`, async () => {
    const [a, b] = await connectMany(2, opts);
    const atB = once(b, 'x');
    const started = performance.now();
    const value = await a.timeout(2000).emitWithAck('x', 1);
    const elapsed = performance.now() - started;
    assert.equal(value, undefined, 'the relay acks with no arguments');
    assert.ok(elapsed < 2000, `ack took ${elapsed} ms`);
    const args = await atB;
    assert.deepEqual(args, [1], 'the receiver gets the arguments only');
    assert.ok(args.every((v) => typeof v !== 'function'), 'no ack callback forwarded');
  });

  test(`50 concurrent acks each resolve, and the receiver sees all 50 in order (${transport})`, async () => {
    const [a, b] = await connectMany(2, opts);
    const atB = collect(b, 'many', 50);
    const acks = Array.from({ length: 50 }, (_, i) => a.timeout(DEADLINE_MS).emitWithAck('many', i, { i }));
    const values = await Promise.all(acks);
    assert.deepEqual(values, Array(50).fill(undefined));
    assert.deepEqual(await atB, Array.from({ length: 50 }, (_, i) => [i, { i }]));
  });
}

test('callback-style ack (emit with a function as last argument) is called once', async () => {
  const [a, b] = await connectMany(2, { transports: ['websocket'] });
  const atB = once(b, 'cb');
  let calls = 0;
  const acked = withDeadline(
    new Promise((resolve) => {
      a.emit('cb', 'payload', (...ackArgs) => {
        calls++;
        resolve(ackArgs);
      });
    }),
    DEADLINE_MS,
    'the ack callback',
  );
  assert.deepEqual(await acked, []);
  assert.deepEqual(await atB, ['payload']);
  // A second ack for the same id would be a server bug; a later round trip flushes it out.
  await a.timeout(DEADLINE_MS).emitWithAck('flush');
  assert.equal(calls, 1);
});

test('acks work in a custom namespace and on two namespaces of one connection', async () => {
  const m = manager({ transports: ['websocket'] });
  const root = await connect({ manager: m, nsp: '/' });
  const custom = await connect({ manager: m, nsp: '/acks' });
  const peer = await connect({ nsp: '/acks', transports: ['websocket'] });
  const atPeer = once(peer, 'in-acks');
  // Interleaved: the server's bookkeeping must keep the two namespaces' ack ids apart.
  const [r1, c1, r2, c2] = await Promise.all([
    root.timeout(DEADLINE_MS).emitWithAck('a', 1),
    custom.timeout(DEADLINE_MS).emitWithAck('in-acks', 2),
    root.timeout(DEADLINE_MS).emitWithAck('b', 3),
    custom.timeout(DEADLINE_MS).emitWithAck('c', 4),
  ]);
  assert.deepEqual([r1, c1, r2, c2], [undefined, undefined, undefined, undefined]);
  assert.deepEqual(await atPeer, [2]);
});

test('an ack with binary arguments resolves (binary event + ack id)', async () => {
  const [a, b] = await connectMany(2, { transports: ['polling'], upgrade: false });
  const atB = once(b, 'bin-ack');
  const value = await a.timeout(DEADLINE_MS).emitWithAck('bin-ack', Buffer.from([1, 2, 3]), { b: Buffer.from([4]) });
  assert.equal(value, undefined);
  const [buf, obj] = await atB;
  assert.deepEqual([...bytes(buf)], [1, 2, 3]);
  assert.deepEqual([...bytes(obj.b)], [4]);
});
