// A backend outside the process answers a client's ack over NATS request/reply, with the
// real `nats` CLI as the backend: sockbus publishes the client's event on
// sockbus.in.<namespace>.<event> as a request, and the first reply is the ack.
// Needs SOCKBUS_NATS_URL and NATS_CLI (the Go test TestNodeClients sets both); skipped
// against the reference relay, which has no bus.

import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { connect, closeAll, nonce, withDeadline } from './helpers.js';

afterEach(closeAll);

const natsURL = process.env.SOCKBUS_NATS_URL;
const natsCLI = process.env.NATS_CLI;

test('a NATS backend answers a client ack (nats reply)', { skip: !natsURL ? 'no NATS (reference relay)' : !natsCLI ? 'nats CLI not installed' : false }, async () => {
  const socket = await connect({ transports: ['websocket'] });
  // `nats reply` answers every request on the subject with a fixed body: a JSON array is
  // the ack's argument list. "~" is the subject token of the main namespace "/".
  const backend = spawn(natsCLI, ['--server', natsURL, 'reply', 'sockbus.in.~.question', '["forty-two",42]'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  backend.stdout.on('data', (d) => (out += d));
  backend.stderr.on('data', (d) => (out += d));
  try {
    // Until the backend's subscription is registered the relay answers (empty ack once
    // stored); keep asking, bounded, until the backend's answer arrives.
    const deadline = Date.now() + 15000;
    let answer;
    for (;;) {
      // emitWithAck resolves with the first argument only: collect them all.
      answer = await withDeadline(
        new Promise((resolve, reject) =>
          socket.timeout(5000).emit('question', 'what?', (err, ...args) => (err ? reject(err) : resolve(args))),
        ),
        6000,
        'ack',
      );
      if (answer.length > 0 || Date.now() > deadline) break;
      await withDeadline(new Promise((r) => setTimeout(r, 50)), 1000, 'retry pause');
    }
    assert.deepEqual(answer, ['forty-two', 42], `backend answer (nats reply output: ${out})`);
  } finally {
    backend.kill('SIGTERM');
  }
});

test('a NATS backend broadcasts with acks (nats request --replies)', { skip: !natsURL ? 'no NATS (reference relay)' : !natsCLI ? 'nats CLI not installed' : false }, async () => {
  // A live Socket.IO message with a reply subject is a broadcast with acks: every client
  // gets the event with an ack id of its own, and each node answers on the reply subject
  // with its count (a Sockbus-Ack-Count header) and then one reply per client ack.
  const nsp = `/${nonce('poll')}`;
  const sockets = await Promise.all(['alice', 'bob'].map(async (name) => {
    const s = await connect({ nsp, transports: ['websocket'] });
    s.on('poll', (question, ack) => ack({ name, question }));
    return s;
  }));
  assert.equal(sockets.length, 2);
  const subject = `sockbus.live.io.${nsp.slice(1)}.all.poll`;
  const deadline = String(Date.now() + 10000);
  const backend = spawn(
    natsCLI,
    ['--server', natsURL, 'request', subject, '["lunch?"]', '--replies', '3', '--reply-timeout', '5s', '--timeout', '5s',
      '-H', `Sockbus-Ack-Deadline:${deadline}`],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  backend.stdout.on('data', (d) => (out += d));
  backend.stderr.on('data', (d) => (out += d));
  const code = await withDeadline(new Promise((resolve) => backend.on('close', resolve)), 15000, 'nats request to end');
  assert.equal(code, 0, `nats request failed:\n${out}`);
  assert.match(out, /Sockbus-Ack-Count: 2/, `the node's count:\n${out}`);
  for (const name of ['alice', 'bob']) {
    assert.ok(out.includes(`[{"name":"${name}","question":"lunch?"}]`), `${name}'s ack in:\n${out}`);
  }
});

test('a NATS backend disconnects one socket (nats pub …ctl.disconnect)', { skip: !natsURL ? 'no NATS (reference relay)' : !natsCLI ? 'nats CLI not installed' : false }, async () => {
  // Socket operations are messages too: sockbus.io.<ns>.ctl.{join,leave,disconnect}, targets in
  // the Sockbus-Rooms header (a socket id is a room). Stored, so they apply in order with events.
  const nsp = `/${nonce('kick')}`;
  const [target, bystander] = await Promise.all([connect({ nsp }), connect({ nsp })]);
  const gone = new Promise((resolve) => target.on('disconnect', resolve));
  const subject = `sockbus.io.${nsp.slice(1)}.ctl.disconnect`;
  const backend = spawn(natsCLI, ['--server', natsURL, 'pub', subject, '{"close":false}', '-H', `Sockbus-Rooms:${target.id}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  backend.stdout.on('data', (d) => (out += d));
  backend.stderr.on('data', (d) => (out += d));
  const code = await withDeadline(new Promise((resolve) => backend.on('close', resolve)), 15000, 'nats pub to end');
  assert.equal(code, 0, `nats pub failed:\n${out}`);
  assert.equal(await withDeadline(gone, 5000, 'the target to be disconnected'), 'io server disconnect');
  assert.ok(bystander.connected, 'the bystander stays connected');
});
