// The demo page at / in headless Chromium (Debian's package through playwright-core), driven
// through its own buttons as a person would: two pages chat over Socket.IO, switch namespace,
// chat on a plain WebSocket channel, and one drops its connection, misses a message, reconnects
// and shows recovered = true with the missed message replayed.
//
// Run by TestDemoInChromium (SOCKBUS_URL: a default sockbus, recovery on). Chromium:
// CHROMIUM_PATH, else /usr/bin/chromium.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';

const DEADLINE_MS = 10_000;
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const base = (process.env.SOCKBUS_URL || '').replace(/\/+$/, '');

let browser;
before(async () => {
  assert.ok(base, 'SOCKBUS_URL is not set');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-quic'],
    timeout: 30_000,
  });
});
after(() => browser?.close());

/** Opens the demo page as nick and waits until both its connections are up. */
async function openDemo(nick) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(String(err)));
  page.on('console', (msg) => msg.type() === 'error' && errors.push(msg.text()));
  const res = await page.goto(base + '/');
  assert.equal(res.status(), 200);
  await page.fill('#nick', nick);
  await page.dispatchEvent('#nick', 'change');
  await waitText(page, '#io-status', /^connected to \/chat as \S+ over (polling|websocket)$/);
  await waitText(page, '#ws-status', /^connected to channel lobby$/);
  return { page, context, errors };
}

/** Waits until the element's text matches re. */
async function waitText(page, selector, re) {
  await page.waitForFunction(
    ([sel, src, flags]) => new RegExp(src, flags).test(document.querySelector(sel)?.textContent ?? ''),
    [selector, re.source, re.flags],
    { timeout: DEADLINE_MS },
  ).catch(async (err) => {
    throw new Error(`${selector} never matched ${re}: it says ${JSON.stringify(await page.textContent(selector))} (${err.message})`);
  });
}

/** Waits for a log line of the given kind with exactly text. */
async function waitLine(page, log, kind, text) {
  await page.waitForFunction(
    ([log, kind, text]) => [...document.querySelectorAll(`#${log} li[data-kind=${kind}]`)].some((li) => li.textContent === text),
    [log, kind, text],
    { timeout: DEADLINE_MS },
  ).catch(async (err) => {
    const lines = await page.$$eval(`#${log} li`, (lis) => lis.map((li) => `${li.dataset.kind}: ${li.textContent}`));
    throw new Error(`no ${kind} line ${JSON.stringify(text)} in #${log}: ${JSON.stringify(lines)} (${err.message})`);
  });
}

/** Sends text through the Socket.IO form and waits for its stored ack. */
async function say(page, text) {
  await page.fill('#io-text', text);
  await page.click('#io-send');
  await page.waitForFunction(
    (text) => [...document.querySelectorAll('#io-log li[data-kind=own]')].some((li) => li.textContent.endsWith(text + ' ✓') && li.dataset.acked === 'ok'),
    text,
    { timeout: DEADLINE_MS },
  );
}

async function switchNamespace(page, ns) {
  await page.fill('#ns', ns);
  await page.click('#ns-switch');
  await waitText(page, '#io-status', new RegExp(`^connected to ${ns} as `));
}

async function lines(page, log) {
  return page.$$eval(`#${log} li`, (lis) => lis.map((li) => li.textContent));
}

test('two demo pages chat, switch namespace, use a channel, and recover a dropped connection', { timeout: 120_000 }, async () => {
  const a = await openDemo('alice');
  const b = await openDemo('bob');
  try {
    // Who is here: both pages' sockets of /chat, on each page.
    await waitText(a.page, '#io-here-count', /^2$/);
    await waitText(b.page, '#io-here', /\(you\)/);
    // Socket.IO on /chat, stored before the ✓.
    await say(b.page, 'hello from bob');
    await waitLine(a.page, 'io-log', 'live', 'bob: hello from bob');

    // Namespace switch: A on /news does not get /chat; B follows and they talk there.
    await switchNamespace(a.page, '/news');
    await say(b.page, 'only on chat');
    await switchNamespace(b.page, '/news');
    await say(b.page, 'news 1');
    await waitLine(a.page, 'io-log', 'live', 'bob: news 1');
    assert.ok(!(await lines(a.page, 'io-log')).some((l) => l.includes('only on chat')), 'A on /news got a /chat message');

    // Plain WebSocket channel: every member gets every frame, the sender too.
    await a.page.fill('#ws-text', 'over plain websocket');
    await a.page.click('#ws-send');
    await waitLine(a.page, 'ws-log', 'live', 'alice: over plain websocket');
    await waitLine(b.page, 'ws-log', 'live', 'alice: over plain websocket');

    // Drop: A's transport closes, B says something A misses, A reconnects and is recovered.
    const idBefore = await a.page.evaluate(() => window.sockbusDemo.socket.id);
    await a.page.click('#io-drop');
    await waitText(a.page, '#io-status', /^disconnected$/);
    assert.equal(await a.page.isEnabled('#io-reconnect'), true, 'Reconnect enabled after the drop');
    await say(b.page, 'missed while away');
    assert.ok(!(await lines(a.page, 'io-log')).some((l) => l.includes('missed while away')), 'A got it while dropped');
    await a.page.click('#io-reconnect');
    await waitText(a.page, '#io-recovered', /^true$/);
    await waitLine(a.page, 'io-log', 'replayed', 'bob: missed while away');
    await waitLine(a.page, 'io-log', 'system', 'reconnected, recovered = true: the highlighted messages above were missed while away');
    assert.equal(await a.page.evaluate(() => window.sockbusDemo.socket.recovered), true);
    assert.equal(await a.page.evaluate(() => window.sockbusDemo.socket.id), idBefore, 'same socket id');
    // Live again afterwards, and the missed message came once.
    await say(b.page, 'after the drop');
    await waitLine(a.page, 'io-log', 'live', 'bob: after the drop');
    assert.equal((await lines(a.page, 'io-log')).filter((l) => l === 'bob: missed while away').length, 1);

    assert.deepEqual(a.errors, []);
    assert.deepEqual(b.errors, []);
  } finally {
    await a.context.close();
    await b.context.close();
  }
});
