// Presence (docs/socketio.md, "Who is here") with the official socket.io-client, driven by
// app/presence_test.go: three nodes behind a round-robin balancer, --presence-events on.
// Presence is written asynchronously by each socket's node, so lists are polled with a deadline.

import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { connect, once, nonce, closeAll } from '../node/helpers.js';

const MS = 15000;
afterEach(closeAll);

const ack = (s, ...args) => s.timeout(MS).emitWithAck(...args);

async function until(what, fn) {
  const end = Date.now() + MS;
  let last;
  while (Date.now() < end) {
    last = await fn();
    if (last.ok) return last.value;
    await new Promise((r) => setTimeout(r, 100)); // polling interval, not synchronisation
  }
  assert.fail(`${what}: last ${JSON.stringify(last?.value)}`);
}

test('every socket of a room sees the same members, and so does the namespace', async () => {
  const nsp = '/' + nonce('presence');
  const socks = await Promise.all([0, 1, 2].map(() => connect({ nsp, deadlineMs: MS })));
  for (const s of socks) assert.deepEqual(await ack(s, 'sockbus:join', 'lobby'), { ok: true });
  const want = socks.map((s) => s.id).sort();
  for (const s of socks) {
    for (const room of ['lobby', null]) {
      const res = await until(`presence of ${room} from ${s.id}`, async () => {
        const res = await ack(s, 'sockbus:presence', room);
        return { ok: res.count === 3, value: res };
      });
      assert.deepEqual(res.members.map((m) => m.id).sort(), want);
      assert.ok(res.members.every((m) => m.user === null), 'no authentication: user null');
    }
  }
});

test('members are told of another socket joining and leaving', async () => {
  const nsp = '/' + nonce('presence');
  const a = await connect({ nsp, deadlineMs: MS });
  assert.deepEqual(await ack(a, 'sockbus:join', 'lobby'), { ok: true });
  const b = await connect({ nsp, deadlineMs: MS });
  const joined = once(a, 'sockbus:joined', MS);
  assert.deepEqual(await ack(b, 'sockbus:join', 'lobby'), { ok: true });
  assert.deepEqual((await joined)[0], { room: 'lobby', id: b.id, user: null });
  const left = once(a, 'sockbus:left', MS);
  assert.deepEqual(await ack(b, 'sockbus:leave', 'lobby'), { ok: true });
  assert.deepEqual((await left)[0], { room: 'lobby', id: b.id, user: null });
});

test('bad names are refused and the socket keeps working', async () => {
  const s = await connect({ nsp: '/' + nonce('presence'), deadlineMs: MS });
  assert.deepEqual(await ack(s, 'sockbus:presence', 'r'.repeat(300)), { error: 'bad room name' });
  assert.deepEqual(await ack(s, 'sockbus:presence', { not: 'a room' }), { error: 'bad room name' });
  const res = await ack(s, 'sockbus:presence', null);
  assert.equal(res.error, undefined);
});
