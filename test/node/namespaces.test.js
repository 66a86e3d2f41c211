// Namespaces: one Engine.IO connection (Manager) carries several namespaces; events never cross
// from one namespace to another; any namespace name is accepted by the relay.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, test } from 'node:test';
import { DEADLINE_MS, closeAll, connect, manager, nonce, once, record, track, url, withDeadline } from './helpers.js';

afterEach(closeAll);

for (const transport of ['websocket', 'polling']) {
  const opts = transport === 'polling' ? { transports: ['polling'], upgrade: false } : { transports: ['websocket'] };

  test(`namespaces multiplexed on one Manager are isolated (${transport})`, async () => {
    const ma = manager(opts);
    const mb = manager(opts);
    const aFirst = await connect({ manager: ma, nsp: '/first' });
    const aSecond = await connect({ manager: ma, nsp: '/second' });
    const bFirst = await connect({ manager: mb, nsp: '/first' });
    const bSecond = await connect({ manager: mb, nsp: '/second' });
    const bRoot = await connect({ manager: mb, nsp: '/' });

    assert.equal(aFirst.io, aSecond.io);
    assert.equal(aFirst.io.engine, aSecond.io.engine, 'socket.io.engine is shared');
    assert.notEqual(aFirst.id, aSecond.id, 'one socket id per namespace');

    const leakedToSecond = record(bSecond, 'only-first');
    const leakedToRoot = record(bRoot, 'only-first');
    const token = nonce('first');
    const atFirst = once(bFirst, 'only-first');
    aFirst.emit('only-first', token);
    assert.deepEqual(await atFirst, [token]);

    // Markers emitted after B's /first has the event, on the same connection B shares across
    // its namespaces: a leaked copy would have arrived before them.
    const markers = [once(bSecond, 'marker'), once(bRoot, 'marker')];
    aSecond.emit('marker', 'second');
    const aRoot = await connect({ manager: ma, nsp: '/' });
    aRoot.emit('marker', 'root');
    assert.deepEqual(await Promise.all(markers), [['second'], ['root']]);
    assert.deepEqual(leakedToSecond, [], 'an event of /first reached /second');
    assert.deepEqual(leakedToRoot, [], 'an event of /first reached /');
  });
}

test('the same event name in two namespaces stays in its own namespace', async () => {
  const m = manager({ transports: ['websocket'] });
  const peer = manager({ transports: ['websocket'] });
  const a1 = await connect({ manager: m, nsp: '/one' });
  const a2 = await connect({ manager: m, nsp: '/two' });
  const b1 = await connect({ manager: peer, nsp: '/one' });
  const b2 = await connect({ manager: peer, nsp: '/two' });
  const got1 = record(b1, 'same');
  const got2 = record(b2, 'same');
  const done = [once(b1, 'done'), once(b2, 'done')];
  for (let i = 0; i < 5; i++) {
    a1.emit('same', 'one', i);
    a2.emit('same', 'two', i);
  }
  a1.emit('done');
  a2.emit('done');
  await Promise.all(done);
  assert.deepEqual(got1, [0, 1, 2, 3, 4].map((i) => ['one', i]));
  assert.deepEqual(got2, [0, 1, 2, 3, 4].map((i) => ['two', i]));
});

test('leaving one namespace keeps the connection and the other namespace working', async () => {
  const m = manager({ transports: ['websocket'] });
  const first = await connect({ manager: m, nsp: '/first' });
  const second = await connect({ manager: m, nsp: '/second' });
  const peer = await connect({ nsp: '/second', transports: ['websocket'] });
  const engineID = m.engine.id;
  first.disconnect();
  const got = once(peer, 'still');
  await second.timeout(DEADLINE_MS).emitWithAck('still', 'here');
  assert.deepEqual(await got, ['here']);
  assert.equal(m.engine.id, engineID, 'same Engine.IO session');
  assert.equal(second.connected, true);

  // Rejoining the namespace on the same connection works too.
  const rejoined = once(first, 'connect');
  first.connect();
  await rejoined;
  const peerFirst = await connect({ nsp: '/first', transports: ['websocket'] });
  const back = once(peerFirst, 'back');
  first.emit('back', 1);
  assert.deepEqual(await back, [1]);
  assert.equal(m.engine.id, engineID);
});

test('namespace names outside [A-Za-z0-9_-] are accepted and relayed', async () => {
  const names = ['/with.dot', '/with space', '/ümlaut-✓', '/a/b', '/~', '/%41', '/' + 'n'.repeat(120)];
  for (const nsp of names) {
    const m = manager({ transports: ['websocket'] });
    const a = await connect({ manager: m, nsp });
    const b = await connect({ manager: manager({ transports: ['websocket'] }), nsp });
    const got = once(b, 'hi');
    a.emit('hi', nsp);
    assert.deepEqual(await got, [nsp], `namespace ${nsp}`);
  }
});

test('after disconnecting every namespace the client process exits by itself (no leaks)', async () => {
  const fixture = fileURLToPath(new URL('./fixtures/multiplex-exit.js', import.meta.url));
  const child = spawn(process.execPath, [fixture], {
    env: { ...process.env, SOCKBUS_URL: url() },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(() => child.exitCode === null && child.signalCode === null && child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const [code, signal] = await withDeadline(
    new Promise((resolve) => child.once('exit', (...args) => resolve(args))),
    10_000,
    'the client process to exit by itself (a leaked socket, listener or timer keeps it alive)',
  ).catch((err) => {
    err.message += `\noutput so far:\n${out}`;
    throw err;
  });
  assert.equal(signal, null, `killed by ${signal}\n${out}`);
  assert.equal(code, 0, `exit code\n${out}`);
  assert.match(out, /^ok$/m);
});
