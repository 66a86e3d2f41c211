// Rooms from the client (docs/socketio.md, "Rooms from the client") with the official
// socket.io-client against sockbus's relay, driven by app/clientrooms_test.go: one node, or three
// behind a round-robin balancer (every request of a session to the next node). The server runs
// with --max-rooms-per-socket=$MAX_ROOMS and no authentication (any room may be joined).
// Absence is proved by ordering: a marker relayed after the fact arrives first. No sleeps.

import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { connect, once, nonce, closeAll, recordAny } from '../node/helpers.js';

const MS = 15000;
const MAX_ROOMS = Number(process.env.MAX_ROOMS || 50);
afterEach(closeAll);

const freshNsp = () => '/' + nonce('rooms');
const ack = (s, ...args) => s.timeout(MS).emitWithAck(...args);

async function members(n, nsp, room, opts = {}) {
  const socks = await Promise.all(Array.from({ length: n }, () => connect({ nsp, deadlineMs: MS, ...opts })));
  for (const s of socks) assert.deepEqual(await ack(s, 'sockbus:join', room), { ok: true });
  return socks;
}

test('a room publish reaches every other member once, not the sender, not a non-member', async () => {
  const nsp = freshNsp();
  const [a, b, c] = await members(3, nsp, 'lobby');
  const outside = await connect({ nsp, deadlineMs: MS });
  const seenA = recordAny(a);
  const seenOut = recordAny(outside);
  const atB = recordAny(b);
  const atC = once(c, 'say', MS);
  assert.equal(await ack(a, 'sockbus:to', 'lobby', 'say', 'hi', { n: 1 }), undefined, 'ack after the store, no arguments');
  assert.deepEqual(await atC, ['hi', { n: 1 }]);
  const marks = [once(a, 'mark', MS), once(outside, 'mark', MS), once(b, 'mark', MS)];
  c.emit('mark'); // relayed to everyone else after c got the publish
  await Promise.all(marks);
  assert.deepEqual(seenA, [['mark']], 'the sender got only the marker');
  assert.deepEqual(seenOut, [['mark']], 'a non-member got only the marker');
  assert.deepEqual(atB, [['say', 'hi', { n: 1 }], ['mark']], 'the other member got it once');
});

test('after sockbus:leave a socket gets no more of the room', async () => {
  const nsp = freshNsp();
  const [a, b] = await members(2, nsp, 'lobby');
  assert.deepEqual(await ack(b, 'sockbus:leave', 'lobby'), { ok: true });
  const seenB = recordAny(b);
  await ack(a, 'sockbus:to', 'lobby', 'say', 'after');
  const mark = once(b, 'mark', MS);
  a.emit('mark');
  await mark;
  assert.deepEqual(seenB, [['mark']]);
});

test('binary arguments of a room publish arrive intact', async () => {
  const nsp = freshNsp();
  const [a, b] = await members(2, nsp, 'files');
  const got = once(b, 'file', MS);
  const data = Buffer.from([0, 1, 2, 253, 254, 255]);
  await ack(a, 'sockbus:to', 'files', 'file', 'name.bin', data, { nested: Buffer.from('xy') });
  const [name, bin, obj] = await got;
  assert.equal(name, 'name.bin');
  assert.ok(Buffer.from(bin).equals(data));
  assert.ok(Buffer.from(obj.nested).equals(Buffer.from('xy')));
});

test('hostile names and refused publishes get the error ack and change nothing', async () => {
  const nsp = freshNsp();
  const [a, b] = await members(2, nsp, 'lobby');
  assert.deepEqual(await ack(a, 'sockbus:join', 'a.>'), { ok: true }, 'a.> is a room like any other');
  assert.deepEqual(await ack(a, 'sockbus:join', 'x'.repeat(300)), { error: 'bad room name' });
  assert.deepEqual(await ack(a, 'sockbus:join', ''), { error: 'bad room name' });
  assert.deepEqual(await ack(a, 'sockbus:join', b.id), { error: 'bad room name' }, "another socket's id");
  assert.deepEqual(await ack(a, 'sockbus:join', { room: 'x' }), { error: 'bad room name' });
  assert.deepEqual(await ack(a, 'sockbus:to', 'elsewhere', 'say', 1), { error: 'not a member of the room' });
  assert.deepEqual(await ack(a, 'sockbus:to', 'lobby', 'sockbus:join', 'x'), { error: 'bad event name' });
  assert.deepEqual(await ack(a, 'sockbus:to', 'lobby', 'disconnect'), { error: 'bad event name' });
  assert.deepEqual(await ack(a, 'sockbus:whatever', 1), { error: 'unknown sockbus event' });
  const seenB = recordAny(b);
  a.emit('sockbus:join', 'lobby2'); // no ack: answered by nobody, relayed to nobody
  a.emit('sockbus:whatever', 'x');
  const mark = once(b, 'mark', MS);
  a.emit('mark');
  await mark;
  assert.deepEqual(seenB, [['mark']], 'sockbus: events are never relayed');
  // a.> works as a room: b joins and gets a publish to it.
  assert.deepEqual(await ack(b, 'sockbus:join', 'a.>'), { ok: true });
  const got = once(b, 'dot', MS);
  await ack(a, 'sockbus:to', 'a.>', 'dot', 1);
  assert.deepEqual(await got, [1]);
});

test('a member that dropped recovers its room and the publish it missed', async () => {
  const nsp = freshNsp();
  const [a] = await members(1, nsp, 'lobby');
  const [b] = await members(1, nsp, 'lobby', { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 200 });
  const first = once(b, 'say', MS);
  await ack(a, 'sockbus:to', 'lobby', 'say', 'first'); // gives b an offset to recover from
  await first;
  const gone = once(b, 'disconnect', MS);
  b.io.engine.close();
  await gone;
  await ack(a, 'sockbus:to', 'lobby', 'say', 'missed');
  const missed = once(b, 'say', MS);
  await once(b, 'connect', MS);
  assert.equal(b.recovered, true, 'socket.recovered');
  assert.deepEqual(await missed, ['missed']);
  const live = once(b, 'say', MS);
  await ack(a, 'sockbus:to', 'lobby', 'say', 'live'); // the room came back with the session
  assert.deepEqual(await live, ['live']);
});

test('joins are bounded by --max-rooms-per-socket and by the event budget', async () => {
  const nsp = freshNsp();
  const s = await connect({ nsp, deadlineMs: MS });
  const answers = await Promise.all(Array.from({ length: MAX_ROOMS + 10 }, (_, i) => ack(s, 'sockbus:join', `room-${i}`)));
  assert.deepEqual(answers.slice(0, MAX_ROOMS), Array(MAX_ROOMS).fill({ ok: true }));
  assert.deepEqual(answers.slice(MAX_ROOMS), Array(10).fill({ error: 'too many rooms' }));
  // A flood past the connection's budget (100/s, bursts of 1000): the rest are refused, the
  // socket stays connected.
  const flood = await Promise.all(Array.from({ length: 1500 }, () => ack(s, 'sockbus:join', 'room-0')));
  const limited = flood.filter((r) => r && r.error === 'rate limit exceeded').length;
  assert.ok(limited >= 300, `rate-limited ${limited} of 1500`);
  assert.ok(flood.every((r) => r.ok || r.error === 'rate limit exceeded'), 'only ok or rate limit');
  assert.equal(s.connected, true);
  const other = await connect({ nsp, deadlineMs: MS });
  assert.deepEqual(await ack(other, 'sockbus:join', 'after-flood'), { ok: true }, 'others are still served');
});
