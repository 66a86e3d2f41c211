// The unmodified official client in a real browser: headless Chromium (Debian's package, driven
// by playwright-core; no browser is ever downloaded) loads the client bundle the server serves
// at /socket.io/socket.io.js, in a page of the server's own origin (no CORS needed), and two
// pages chat through the relay.
//
// Chromium: CHROMIUM_PATH, else /usr/bin/chromium (`apt-get install -y chromium`). When it is
// missing the browser tests fail if CI is set and are skipped otherwise.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { afterEach, test } from 'node:test';
import { chromium } from 'playwright-core';
import { DEADLINE_MS, closeAll, fetchWithDeadline, url } from './helpers.js';

afterEach(closeAll);

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
const skip = !haveChromium && !process.env.CI ? `no Chromium at ${CHROMIUM} (apt-get install -y chromium)` : false;

test('the client bundle is served as JavaScript with an ETag, and revalidates with 304', async () => {
  const res = await fetchWithDeadline(url('/socket.io/socket.io.js'));
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^application\/javascript/);
  assert.ok(res.body.length > 10_000, `bundle is ${res.body.length} bytes`);
  assert.match(res.text, /Socket\.IO v4\./, 'socket.io-client v4 bundle banner');
  const etag = res.headers.get('etag');
  assert.match(etag ?? '', /^"4\.\d+\.\d+"$/, 'ETag is the client version');
  const again = await fetchWithDeadline(url('/socket.io/socket.io.js'), { headers: { 'If-None-Match': etag } });
  assert.equal(again.status, 304);
});

test('GET /healthz answers 200', async () => {
  const res = await fetchWithDeadline(url('/healthz'));
  assert.equal(res.status, 200);
});

async function launch() {
  if (!haveChromium) throw new Error(`CI is set and there is no Chromium at ${CHROMIUM}: apt-get install -y chromium`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--disable-quic',
    ],
    timeout: 30_000,
  });
}

/**
 * A page of the server's origin with the official bundle loaded and a client connected with
 * `options`; every 'chat' it receives is pushed to window.received.
 */
async function openClientPage(browser, options = {}) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err));
  const res = await page.goto(url('/healthz'));
  assert.equal(res.status(), 200);
  await page.addScriptTag({ url: url('/socket.io/socket.io.js') });
  await page.evaluate(
    ({ base, options }) => {
      window.received = [];
      window.markers = [];
      window.socket = io(base, { reconnection: false, ...options });
      // With connection state recovery on (the CONNECT reply had a pid), the server appends an
      // offset string to every event: check it and keep the application's arguments only.
      const appArgs = (args) => {
        if (!window.socket._pid) return args;
        const offset = args[args.length - 1];
        return typeof offset === 'string' && offset !== '' ? args.slice(0, -1) : ['NO OFFSET', ...args];
      };
      window.socket.on('chat', (...args) => window.received.push(appArgs(args)));
      window.socket.on('marker', (...args) => window.markers.push(appArgs(args)));
      window.connectError = null;
      window.socket.on('connect_error', (err) => (window.connectError = String(err)));
    },
    { base: url(), options },
  );
  await page.waitForFunction(() => window.socket.connected || window.connectError, null, { timeout: DEADLINE_MS });
  assert.equal(await page.evaluate(() => window.connectError), null, 'connect_error in the page');
  return { page, context, errors };
}

test('two Chromium pages chat through the relay (default transports + polling-only)', { skip, timeout: 60_000 }, async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const a = await openClientPage(browser); // polling, then upgrade to websocket
  const b = await openClientPage(browser, { transports: ['polling'], upgrade: false });
  try {
    await a.page.waitForFunction(() => window.socket.io.engine.transport.name === 'websocket', null, { timeout: DEADLINE_MS });
    assert.equal(await b.page.evaluate(() => window.socket.io.engine.transport.name), 'polling');

    const ids = await Promise.all([a.page, b.page].map((p) => p.evaluate(() => [window.socket.id, window.socket.io.engine.id])));
    for (const [id, engineID] of ids) {
      assert.ok(id && engineID && id !== engineID);
    }

    const text = 'hello from page A ✓ 😀';
    await a.page.evaluate((t) => window.socket.emit('chat', t), text);
    await b.page.waitForFunction(() => window.received.length > 0, null, { timeout: DEADLINE_MS });
    assert.deepEqual(await b.page.evaluate(() => window.received), [[text]]);

    // Binary from the browser: an ArrayBuffer, received as bytes.
    await a.page.evaluate(() => window.socket.emit('chat', 'bytes', new Uint8Array([1, 2, 254, 255]).buffer));
    await b.page.waitForFunction(() => window.received.length > 1, null, { timeout: DEADLINE_MS });
    const bin = await b.page.evaluate(() => {
      const [label, data] = window.received[1];
      return [label, Array.from(new Uint8Array(data))];
    });
    assert.deepEqual(bin, ['bytes', [1, 2, 254, 255]]);

    // Acks from the browser.
    const acked = await a.page.evaluate(() => window.socket.timeout(2000).emitWithAck('chat', 'ack me').then(() => 'acked', (e) => String(e)));
    assert.equal(acked, 'acked');

    // B answers after A's messages; once A has the marker, an echo of its own chat would be in.
    await b.page.evaluate(() => window.socket.emit('marker', 'from B'));
    await a.page.waitForFunction(() => window.markers.length > 0, null, { timeout: DEADLINE_MS });
    assert.deepEqual(await a.page.evaluate(() => window.received), [], 'page A got its own chat');
    assert.deepEqual(await a.page.evaluate(() => window.markers), [['from B']]);

    assert.deepEqual(a.errors, []);
    assert.deepEqual(b.errors, []);
  } finally {
    await Promise.all([a, b].map(async ({ page, context }) => {
      await page.evaluate(() => window.socket.disconnect()).catch(() => {});
      await context.close();
    }));
  }
});
