// The Socket.IO Admin UI (the unmodified @socket.io/admin-ui package's ui/dist, served by sockbus
// at /admin/) in headless Chromium against a sockbus started with --admin-ui and a login
// (ADMIN_USER, ADMIN_PASSWORD). Two official clients are connected on "/"; the UI refuses a wrong
// password, logs in, lists both sockets and the room one is in, and its disconnect button
// disconnects that client only.
//
// Run by TestAdminUIInChromium (admin_integration_test.go). Chromium: CHROMIUM_PATH, else
// /usr/bin/chromium; missing, the test fails if CI is set and is skipped otherwise.

import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { afterEach, test } from 'node:test';
import { io } from 'socket.io-client';
import { chromium } from 'playwright-core';
import { closeAll, connect, fetchWithDeadline, once, url, withDeadline } from '../node/helpers.js';

afterEach(closeAll);

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
const skip = !haveChromium && !process.env.CI ? `no Chromium at ${CHROMIUM} (apt-get install -y chromium)` : false;
const USER = process.env.ADMIN_USER;
const PASSWORD = process.env.ADMIN_PASSWORD;

test('the UI files are served at /admin/', async () => {
  const res = await fetchWithDeadline(url('/admin/'));
  assert.equal(res.status, 200);
  assert.match(res.text, /<title>Socket\.IO Admin UI<\/title>/);
  const js = res.text.match(/src="(js\/app\.[0-9a-f]+\.js)"/);
  assert.ok(js, 'index.html names its app bundle');
  const app = await fetchWithDeadline(url('/admin/' + js[1]));
  assert.equal(app.status, 200);
  assert.match(app.headers.get('content-type') ?? '', /javascript/);
});

test('the admin UI logs in, lists sockets and rooms, and disconnects a client', { skip, timeout: 120_000 }, async (t) => {
  assert.ok(USER && PASSWORD, 'ADMIN_USER and ADMIN_PASSWORD must be set');
  const a = await connect();
  const b = await connect();
  const [aID, bID] = [a.id, b.id]; // a socket's id is unset once it disconnects
  // Put client A in a room, through the admin protocol itself (a second, scripted admin).
  const op = io(url('/admin'), { forceNew: true, reconnection: false, auth: { username: USER, password: PASSWORD } });
  t.after(() => op.disconnect());
  // Admin events are volatile (no recovery offset), so not helpers' once().
  const event = (name) => withDeadline(new Promise((resolve) => op.once(name, (...args) => resolve(args))), 15_000, `admin event ${name}`);
  await event('config');
  const joined = event('room_joined');
  op.emit('join', '/', 'lobby', aID);
  assert.deepEqual((await joined).slice(0, 3), ['/', 'lobby', aID]);

  if (!haveChromium) throw new Error(`CI is set and there is no Chromium at ${CHROMIUM}: apt-get install -y chromium`);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'],
    timeout: 30_000,
  });
  t.after(() => browser.close());
  const context = await browser.newContext({ locale: 'en-US' });
  // Loopback only, as offline: sockbus serves the icon font and Roboto the
  // UI's index.html would load from jsDelivr and Google Fonts.
  const base = url();
  const external = [];
  await context.route('**/*', (route) => {
    if (route.request().url().startsWith(base)) return route.continue();
    external.push(route.request().url());
    return route.abort();
  });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (err) => errors.push(err));
  page.setDefaultTimeout(15_000);

  await page.goto(url('/admin/'));
  // Both font families declared and loaded (a missing stylesheet declares none).
  await page.waitForFunction(() => ['Material Design Icons', 'Roboto'].every((family) =>
    [...document.fonts].some((f) => f.family.replaceAll('"', '') === family && f.status === 'loaded')));
  const serverURL = page.getByLabel('Server URL');
  await serverURL.fill(base);
  await page.getByLabel('Username').fill(USER);
  await page.getByLabel('Password').fill('wrong password');
  await page.getByRole('button', { name: 'Connect' }).click();
  await page.getByText('Invalid credentials').waitFor();

  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Connect' }).click();
  await serverURL.waitFor({ state: 'hidden' });

  // Sockets of "/", the UI's default namespace: both clients, with their ids.
  await page.goto(url('/admin/#/sockets/'));
  await page.getByText(aID).waitFor();
  await page.getByText(bID).waitFor();

  // A client arriving now, over polling then upgraded: listed, then shown on WebSocket
  // (socket_updated).
  const c = await connect();
  const cID = c.id;
  await withDeadline(
    new Promise((resolve) => (c.io.engine.transport.name === 'websocket' ? resolve() : c.io.engine.once('upgrade', resolve))),
    15_000,
    'client C upgraded',
  );
  await page.locator('tr', { hasText: cID }).filter({ hasText: 'websocket' }).waitFor();

  // Rooms: "lobby", holding client A.
  await page.goto(url('/admin/#/rooms/'));
  await page.getByRole('cell', { name: 'lobby', exact: true }).waitFor();

  // Disconnect client A from its row of the sockets page.
  await page.goto(url('/admin/#/sockets/'));
  const gone = once(a, 'disconnect', 15_000);
  await page.locator('tr', { hasText: aID }).locator('button:has(.mdi-logout)').click();
  assert.equal((await gone)[0], 'io server disconnect');
  assert.equal(b.connected, true, 'client B is still connected');
  // The UI saw it go: A leaves the sockets table, B stays. (The click also opened A's details.)
  await page.goto(url('/admin/#/sockets/'));
  const row = (id) => page.locator('td.text-start', { hasText: id }); // a cell of the sockets table
  await row(bID).waitFor();
  await row(aID).waitFor({ state: 'detached' });
  assert.deepEqual(errors, []);
  assert.deepEqual(external, [], 'the admin UI asked for files outside sockbus');
});
