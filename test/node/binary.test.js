// Binary payloads: Buffers and Uint8Arrays, top-level and nested, arrive byte-for-byte over every
// sender/receiver transport pair (websocket sends raw binary frames; polling sends `b`+base64).

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { afterEach, test } from 'node:test';
import { bytes, closeAll, collect, connect, once, record } from './helpers.js';

afterEach(closeAll);

const TRANSPORTS = {
  websocket: { transports: ['websocket'] },
  polling: { transports: ['polling'], upgrade: false },
};

function assertSameBytes(actual, expected, what) {
  const got = bytes(actual);
  assert.equal(got.length, expected.length, `${what}: length`);
  assert.ok(Buffer.compare(got, Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength)) === 0, `${what}: bytes differ`);
}

for (const [from, fromOpts] of Object.entries(TRANSPORTS)) {
  for (const [to, toOpts] of Object.entries(TRANSPORTS)) {
    test(`binary ${from} → ${to}: top-level, nested, mixed with JSON`, async () => {
      const sender = await connect(fromOpts);
      const receiver = await connect(toOpts);
      const top = Buffer.from([0, 1, 2, 127, 128, 253, 254, 255]);
      const u8 = new Uint8Array([9, 8, 7, 0, 255, 10, 13, 0x1e]); // \n \r and the polling separator
      const view = new Uint8Array(Buffer.from('..offset view..')).subarray(2, 13); // non-zero byteOffset
      const nested = {
        name: 'file.bin',
        meta: { blob: Buffer.from('héllo\u0000world'), size: 12 },
        list: [Buffer.from([1]), 'text between', new Uint8Array(300).map((_, i) => i & 255)],
      };
      const got = collect(receiver, 'bin', 4);
      sender.emit('bin', 'top', top);
      sender.emit('bin', 'u8', u8, 'after');
      sender.emit('bin', 'view', view);
      sender.emit('bin', 'nested', nested, top, 42);
      const [t, u, v, n] = await got;

      assert.equal(t[0], 'top');
      assertSameBytes(t[1], top, 'top-level Buffer');
      assert.equal(u[0], 'u8');
      assertSameBytes(u[1], u8, 'top-level Uint8Array');
      assert.equal(u[2], 'after', 'JSON argument after a binary one');
      assert.equal(v[0], 'view');
      assertSameBytes(v[1], view, 'Uint8Array view with offset');
      assert.equal(n[0], 'nested');
      assert.equal(n[1].name, 'file.bin');
      assert.equal(n[1].meta.size, 12);
      assertSameBytes(n[1].meta.blob, nested.meta.blob, 'nested Buffer');
      assertSameBytes(n[1].list[0], nested.list[0], 'Buffer in an array');
      assert.equal(n[1].list[1], 'text between');
      assertSameBytes(n[1].list[2], nested.list[2], 'Uint8Array in an array');
      assertSameBytes(n[2], top, 'second top-level attachment');
      assert.equal(n[3], 42);
      assert.equal(n.length, 4);
    });
  }
}

for (const [name, opts] of Object.entries(TRANSPORTS)) {
  test(`binary edge sizes over ${name}: empty, 1 byte, 256 KiB random`, async () => {
    const sender = await connect(opts);
    const receiver = await connect(opts);
    const empty = Buffer.alloc(0);
    const one = Buffer.from([0x42]);
    const big = randomBytes(256 * 1024);
    const got = collect(receiver, 'sizes', 3);
    sender.emit('sizes', empty);
    sender.emit('sizes', one);
    sender.emit('sizes', big);
    const [[e], [o], [b]] = await got;
    assertSameBytes(e, empty, 'empty');
    assertSameBytes(o, one, 'one byte');
    assertSameBytes(b, big, '256 KiB');
  });

  test(`ten attachments in one event and many binary events in a row over ${name}`, async () => {
    const sender = await connect(opts);
    const receiver = await connect(opts);
    const ten = Array.from({ length: 10 }, (_, i) => Buffer.from([i, i, i]));
    const got = once(receiver, 'ten');
    sender.emit('ten', ...ten);
    const args = await got;
    assert.equal(args.length, 10);
    args.forEach((a, i) => assertSameBytes(a, ten[i], `attachment ${i}`));

    const stream = collect(receiver, 'chunk', 50);
    for (let i = 0; i < 50; i++) sender.emit('chunk', i, Buffer.alloc(64, i));
    const chunks = await stream;
    chunks.forEach(([i, buf], k) => {
      assert.equal(i, k, 'order');
      assertSameBytes(buf, Buffer.alloc(64, k), `chunk ${k}`);
    });
  });
}

test('a JSON object shaped like a placeholder in a non-binary event is not treated as binary', async () => {
  const sender = await connect(TRANSPORTS.websocket);
  const receiver = await connect(TRANSPORTS.polling);
  const fake = { _placeholder: true, num: 0 };
  const got = once(receiver, 'fake');
  sender.emit('fake', fake, 'x');
  const args = await got;
  // socket.io-client only reconstructs placeholders in BINARY_EVENT packets.
  assert.deepEqual(args, [fake, 'x']);
});

test('the sender of binary does not get it back', async () => {
  const a = await connect(TRANSPORTS.websocket);
  const b = await connect(TRANSPORTS.websocket);
  const mine = record(a, 'bin');
  const got = once(b, 'bin');
  a.emit('bin', Buffer.from([1, 2, 3]));
  await got;
  const marker = once(a, 'marker');
  b.emit('marker');
  await marker;
  assert.deepEqual(mine, []);
});
