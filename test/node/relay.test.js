// The default relay app: every event a socket emits goes to every other socket of its
// namespace, never back to the sender, unchanged and in order.
//
// Absence is proved by ordering, never by waiting: a socket that must NOT receive X also
// receives a marker that the server handles causally after X, so once the marker is in, X
// would have been too.

import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { closeAll, collect, connect, connectMany, nonce, once, record, recordAny } from './helpers.js';

afterEach(closeAll);

test('exclude sender: A emits, B and C receive, A does not', async () => {
  const [a, b, c] = await connectMany(3, { transports: ['websocket'] });
  const mine = record(a, 'msg');
  const token = nonce('msg');
  const atB = once(b, 'msg');
  const atC = once(c, 'msg');
  a.emit('msg', token);
  assert.deepEqual(await atB, [token]);
  assert.deepEqual(await atC, [token]);

  // B emits only after it has A's event, so the server handled A's event first.
  const marker = once(a, 'marker');
  b.emit('marker', 'after-msg');
  assert.deepEqual(await marker, ['after-msg']);
  assert.deepEqual(mine, [], 'the sender received its own event');
});

test('exclude sender on polling too', async () => {
  const [a, b] = await connectMany(2, { transports: ['polling'], upgrade: false });
  const mine = record(a, 'msg');
  const got = once(b, 'msg');
  a.emit('msg', 1);
  assert.deepEqual(await got, [1]);
  const marker = once(a, 'marker');
  b.emit('marker');
  await marker;
  assert.deepEqual(mine, []);
});

test('every event reaches every other socket exactly once (the io.emit of the relay)', async () => {
  const n = 6;
  const sockets = await connectMany(n, { transports: ['websocket'] });
  const ids = sockets.map((s) => s.id);
  const hellos = sockets.map((s) => collect(s, 'hello', n - 1));
  sockets.forEach((s, i) => s.emit('hello', ids[i]));
  const received = await Promise.all(hellos);

  // Everyone has every hello, so each "end" below is handled after all of them: after it
  // arrives no late duplicate or self-echo can still be on its way.
  const ends = sockets.map((s) => once(s, 'end'));
  sockets[0].emit('end', 0);
  sockets[1].emit('end', 1);
  const endArgs = await Promise.all(ends);

  for (let i = 0; i < n; i++) {
    const senders = received[i].map(([id]) => id).sort();
    const expected = ids.filter((_, j) => j !== i).sort();
    assert.deepEqual(senders, expected, `socket ${i} got each other socket's hello once`);
    assert.ok(!senders.includes(ids[i]), `socket ${i} got its own hello`);
  }
  assert.deepEqual(endArgs[0], [1], 'socket 0 got socket 1 end, not its own');
  assert.deepEqual(endArgs[1], [0], 'socket 1 got socket 0 end, not its own');
  // Two senders on two connections have no order between them: either end may come first.
  for (let i = 2; i < n; i++) assert.ok([0, 1].includes(endArgs[i][0]), `socket ${i} got an end`);
});

test('arguments arrive unchanged: types, unicode, many arguments, none at all', async () => {
  const [a, b] = await connectMany(2, { transports: ['websocket'] });
  const cases = [
    ['message-back', 1, '2', { 3: [true] }],
    ['empty'],
    ['scalars', 0, -0.5, 1e21, Number.MAX_SAFE_INTEGER, true, false, null, ''],
    ['unicode', 'héllo wörld ✓ 😀 \u2028 \u0000 "quoted" \\ back', { 'ключ': 'значение', '😀': ['😀'] }],
    ['deep', { a: { b: { c: { d: { e: [1, [2, [3, [4, [5]]]]] } } } } }],
    ['many', ...Array.from({ length: 40 }, (_, i) => i)],
    ['big-string', 'x'.repeat(100_000)],
    ['looks-like-placeholder', { _placeholder: false, num: 0 }],
  ];
  const got = collect(b, 'probe', cases.length);
  for (const [name, ...args] of cases) a.emit('probe', name, ...args);
  const received = await got;
  for (let i = 0; i < cases.length; i++) {
    // JSON drops -0 → 0, so compare through a JSON round trip of what was sent.
    assert.deepEqual(received[i], JSON.parse(JSON.stringify(cases[i])), `case ${cases[i][0]}`);
  }
});

test('event names are relayed as given', async () => {
  const [a, b] = await connectMany(2, { transports: ['websocket'] });
  const names = ['plain', 'with space', 'dots.and/slashes', 'ünïcødé ✓', 'a'.repeat(200), '%41', '~', '*', '>'];
  const seen = recordAny(b);
  const done = once(b, 'done');
  for (const name of names) a.emit(name, name.length);
  a.emit('done');
  await done;
  assert.deepEqual(
    seen.filter(([e]) => e !== 'done'),
    names.map((name) => [name, name.length]),
  );
});

test('ordering: 20 receivers get all 200 events of one sender, in order, exactly once', async () => {
  const receiversN = 20;
  const eventsN = 200;
  // Half on websocket, half on polling: polling batches many packets per response.
  const receivers = await Promise.all(
    Array.from({ length: receiversN }, (_, i) =>
      connect(i % 2 ? { transports: ['polling'], upgrade: false } : { transports: ['websocket'] }),
    ),
  );
  const sender = await connect({ transports: ['websocket'] });
  const streams = receivers.map((r) => collect(r, 'seq', eventsN, 15_000));
  for (let i = 0; i < eventsN; i++) sender.emit('seq', i, `payload-${i}`);
  const got = await Promise.all(streams);

  const ends = receivers.map((r) => once(r, 'end'));
  sender.emit('end');
  await Promise.all(ends);

  got.forEach((events, r) => {
    assert.equal(events.length, eventsN, `receiver ${r} count (duplicates?)`);
    events.forEach(([seq, payload], i) => {
      if (seq !== i || payload !== `payload-${i}`) {
        assert.fail(`receiver ${r}: position ${i} holds ${JSON.stringify([seq, payload])}`);
      }
    });
  });
});

test('socket.id is a non-empty string, differs from the engine id and between sockets', async () => {
  const [a, b] = await connectMany(2, { transports: ['websocket'] });
  const c = await connect({ transports: ['polling'], upgrade: false });
  for (const s of [a, b, c]) {
    assert.equal(typeof s.id, 'string');
    assert.ok(s.id.length > 0);
    assert.equal(typeof s.io.engine.id, 'string');
    assert.ok(s.io.engine.id.length > 0);
    assert.notEqual(s.id, s.io.engine.id);
  }
  assert.equal(new Set([a.id, b.id, c.id, a.io.engine.id, b.io.engine.id, c.io.engine.id]).size, 6);
});

test('a reconnecting client gets a new socket id and is relayed to again', async () => {
  const [a, b] = await connectMany(2, { transports: ['websocket'] });
  const firstID = a.id;
  a.disconnect();
  const reconnected = once(a, 'connect');
  a.connect();
  await reconnected;
  assert.notEqual(a.id, firstID);
  const got = once(a, 'again');
  b.emit('again', 'x');
  assert.deepEqual(await got, ['x']);
});
