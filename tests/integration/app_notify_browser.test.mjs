// apps/notify's demo page (public/index.html + notify.js) in headless
// Chromium: log in (development mode: the page fetches /api/dev-token),
// receive a notification POSTed by the test, send with the page's own form,
// one page kept on long-polling (its WebSocket removed before the page's
// scripts run), a page of another user that hears nothing of it, and the
// login errors in production mode (pasted tokens). Screenshots go to
// /tmp/siolua-notify-*.png (SIOLUA_SCREENSHOT_DIR to change the folder).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { request, makeTempDir } from './lib/server.mjs';
import { startNotify, assertCleanStop, notify, tokenFor, DEV_KEY } from './lib/notify.mjs';

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const SHOTS = process.env.SIOLUA_SCREENSHOT_DIR || '/tmp';
const shot = (name) => join(SHOTS, `siolua-notify-${name}.png`);

async function launch(t) {
  const context = await chromium.launchPersistentContext(makeTempDir('siolua-chromium-'), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1000, height: 760 },
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  t.after(() => context.close());
  return context;
}

// A page of the app, recording its errors, failed requests and websockets.
// polling: removes window.WebSocket before any script of the page runs, so
// socket.io-client cannot upgrade and stays on long-polling.
async function openPage(context, srv, { polling = false, reuseFirst = false } = {}) {
  const page = (reuseFirst && context.pages()[0]) || await context.newPage();
  const rec = { page, errors: [], failed: [], websockets: [], polls: [], bad: [] };
  page.on('pageerror', (e) => rec.errors.push(e.message));
  // HTTP errors are checked through rec.bad (their console lines say no URL).
  page.on('console', (m) => { if (m.type() === 'error' && !/^Failed to load resource/.test(m.text())) rec.errors.push(`console: ${m.text()}`); });
  page.on('response', (r) => { if (r.status() >= 400) rec.bad.push(`${r.request().method()} ${r.url().replace(srv.url, '')} ${r.status()}`); });
  page.on('requestfailed', (r) => rec.failed.push(`${r.url()} ${r.failure()?.errorText}`));
  page.on('websocket', (ws) => rec.websockets.push(ws.url()));
  page.on('request', (r) => { if (/\/socket\.io\/\?EIO=4&transport=polling/.test(r.url())) rec.polls.push(r.url()); });
  if (polling) {
    await page.addInitScript(() => {
      delete window.WebSocket;
      window.WebSocket = undefined;
    });
  }
  const res = await page.goto(`${srv.url}/`, { waitUntil: 'load' });
  assert.equal(res.status(), 200);
  return rec;
}

const visible = (page, sel) => page.isVisible(sel);
const text = async (page, sel) => (await page.textContent(sel)).trim();

// Fills the login form and waits for the inbox (the "ready" event).
async function login(page, user, token) {
  await page.fill('#user', user);
  if (token !== undefined) await page.fill('#token', token);
  await page.click('#login-form button[type=submit]');
}

async function loggedIn(page, user) {
  await page.waitForSelector('#inbox', { state: 'visible', timeout: 10_000 });
  await page.waitForFunction(() => document.getElementById('status').textContent === 'connected', null, { timeout: 10_000 });
  assert.equal(await text(page, '#me'), user);
  assert.equal(await visible(page, '#login'), false);
  assert.equal(await page.getAttribute('#status', 'class'), 'status on');
}

// The notifications a page lists, newest first: {event, body}.
const listed = (page) => page.$$eval('#notes li', (lis) => lis.map((li) => ({
  event: li.dataset.event,
  name: li.querySelector('.event').textContent,
  body: li.querySelector('pre').textContent,
  time: li.querySelector('.time').textContent,
})));

async function waitListed(page, n) {
  await page.waitForFunction((k) => document.querySelectorAll('#notes li').length >= k, n, { timeout: 10_000 });
  return listed(page);
}

const pretty = (v) => JSON.stringify(v, null, 2);

// Layout: every visible card lies inside main's content box (main is
// centred, at most 720px wide, 16px padding), so cards are centred and none
// is pushed wider by its content; the send button is one line high.
async function assertLayout(page, label) {
  const box = await page.evaluate(() => {
    const main = document.querySelector('main').getBoundingClientRect();
    const cards = [...document.querySelectorAll('.card')].filter((c) => !c.hidden)
      .map((c) => { const r = c.getBoundingClientRect(); return { id: c.id, left: r.left, right: r.right }; });
    const btn = document.querySelector('#send-form button');
    const input = document.querySelector('#send-form input');
    return {
      main: { left: main.left, right: main.right },
      cards,
      view: document.documentElement.clientWidth,
      scrollWidth: document.documentElement.scrollWidth,
      sendVisible: !document.getElementById('send').hidden,
      // The send form's controls, left to right: [left, right] of each.
      controls: [...document.querySelectorAll('#send-form input, #send-form button')]
        .map((el) => { const r = el.getBoundingClientRect(); return [r.left, r.right]; }),
      btnHeight: btn.getBoundingClientRect().height,
      inputHeight: input.getBoundingClientRect().height,
    };
  });
  const where = `${label}: ${JSON.stringify(box)}`;
  assert.ok(box.scrollWidth <= box.view, `horizontal scroll; ${where}`);
  for (const c of box.cards) {
    assert.ok(c.left >= box.main.left + 16 - 0.5 && c.right <= box.main.right - 16 + 0.5, `card #${c.id} outside main; ${where}`);
    assert.ok(Math.abs(c.left - (box.view - c.right)) <= 1, `card #${c.id} not centred; ${where}`);
  }
  if (box.sendVisible) {
    assert.ok(box.btnHeight <= box.inputHeight + 1, `the send button wraps; ${where}`);
    // Side by side (wide) or stacked (narrow), no control overlaps the next.
    for (let i = 1; i < box.controls.length; i++) {
      const [prev, cur] = [box.controls[i - 1], box.controls[i]];
      const sideBySide = cur[0] > prev[0] + 1;
      if (sideBySide) assert.ok(prev[1] <= cur[0] + 0.5, `send form controls ${i - 1} and ${i} overlap; ${where}`);
    }
  }
}

test('development mode: log in as 42 in two pages (one on websocket, one kept on long-polling) and as 7 in a third; a POSTed notification and the page\'s own form reach both pages of 42 and not 7', { timeout: 90_000 }, async (t) => {
  const srv = await startNotify(t, { dev: true });
  const context = await launch(t);

  const a = await openPage(context, srv, { reuseFirst: true });
  const pa = a.page;
  // Before logging in: the login card only, offline.
  assert.equal(await visible(pa, '#login'), true);
  assert.equal(await visible(pa, '#inbox'), false);
  assert.equal(await visible(pa, '#send'), false);
  assert.equal(await text(pa, '#status'), 'offline');
  await assertLayout(pa, 'login');
  await pa.screenshot({ path: shot('login'), fullPage: true });

  await login(pa, '42');
  await loggedIn(pa, '42');
  assert.equal(await visible(pa, '#send'), true, 'development mode: the page has the key, so it shows the form');
  assert.equal(await pa.inputValue('#to'), '42');
  assert.equal(await visible(pa, '#empty'), true);
  assert.deepEqual(await listed(pa), []);

  const b = await openPage(context, srv, { polling: true });
  const pb = b.page;
  await login(pb, '42');
  await loggedIn(pb, '42');

  const c = await openPage(context, srv);
  const pc = c.page;
  await login(pc, '7');
  await loggedIn(pc, '7');

  // The test's backend POST.
  const data = { text: 'from the test', n: 1 };
  const res = await notify(srv, { user: 42, event: 'notice', data }, { key: DEV_KEY });
  assert.equal(res.status, 200);
  assert.deepEqual(res.json, { delivered: true, user: '42', event: 'notice', sockets: 2 });
  for (const p of [pa, pb]) {
    const notes = await waitListed(p, 1);
    assert.equal(notes.length, 1);
    assert.equal(notes[0].event, 'notice');
    assert.equal(notes[0].name, 'notice');
    assert.equal(notes[0].body, pretty(data));
    assert.notEqual(notes[0].time, '');
    assert.equal(await visible(p, '#empty'), false);
  }

  // An event without data is listed with an empty body.
  assert.equal((await notify(srv, { user: 42, event: 'ping' }, { key: DEV_KEY })).json.sockets, 2);
  for (const p of [pa, pb]) {
    const notes = await waitListed(p, 2);
    assert.deepEqual(notes.map((n) => [n.event, n.body]), [['ping', ''], ['notice', pretty(data)]]);
  }

  // The page's own form, from page a to 42: both pages of 42 list it.
  await pa.fill('#text', 'Hello from the page');
  await pa.click('#send-form button[type=submit]');
  await pa.waitForFunction(() => document.getElementById('send-result').textContent !== '', null, { timeout: 10_000 });
  assert.equal(await text(pa, '#send-result'), 'delivered to 2 socket(s)');
  for (const p of [pa, pb]) {
    const notes = await waitListed(p, 3);
    assert.deepEqual(notes.map((n) => [n.event, n.body]), [
      ['notice', pretty({ text: 'Hello from the page' })],
      ['ping', ''],
      ['notice', pretty(data)],
    ]);
  }

  // From page b's form (the polling page) to user 7: page c lists it.
  await pb.fill('#to', '7');
  await pb.fill('#event', 'alert');
  await pb.fill('#text', 'for seven');
  await pb.click('#send-form button[type=submit]');
  await pb.waitForFunction(() => document.getElementById('send-result').textContent !== '', null, { timeout: 10_000 });
  assert.equal(await text(pb, '#send-result'), 'delivered to 1 socket(s)');
  const seven = await waitListed(pc, 1);
  // Page c (user 7) lists only that one: 42's three were sent before it.
  assert.deepEqual(seven.map((n) => [n.event, n.body]), [['alert', pretty({ text: 'for seven' })]]);
  assert.equal((await listed(pa)).length, 3);

  // A refused send shows the server's message.
  await pa.fill('#event', 'disconnect');
  await pa.click('#send-form button[type=submit]');
  await pa.waitForFunction(() => /reserved/.test(document.getElementById('send-result').textContent), null, { timeout: 10_000 });
  assert.equal(await text(pa, '#send-result'), '"event" is a reserved name: disconnect');

  // Transports: page a upgraded to websocket, page b never opened one and
  // kept polling (its polls after the handshake carry the session id).
  assert.ok(a.websockets.some((u) => /\/socket\.io\/\?EIO=4&transport=websocket/.test(u)), JSON.stringify(a.websockets));
  assert.deepEqual(b.websockets, []);
  assert.ok(b.polls.filter((u) => /[?&]sid=/.test(u)).length >= 2, JSON.stringify(b.polls));

  for (const [p, label] of [[pa, 'page a'], [pb, 'page b'], [pc, 'page c']]) await assertLayout(p, label);
  await pa.screenshot({ path: shot('inbox-websocket'), fullPage: true });
  await pb.screenshot({ path: shot('inbox-polling'), fullPage: true });
  await pc.screenshot({ path: shot('inbox-user7'), fullPage: true });
  await pa.setViewportSize({ width: 390, height: 800 });
  await assertLayout(pa, 'page a, 390px wide');
  await pa.screenshot({ path: shot('inbox-narrow'), fullPage: true });

  assert.deepEqual(a.bad, ['POST /api/notify 400'], 'only the reserved name was refused');
  for (const r of [a, b, c]) {
    if (r !== a) assert.deepEqual(r.bad, []);
    assert.deepEqual(r.errors, []);
    assert.deepEqual(r.failed.filter((f) => !/ERR_ABORTED/.test(f)), []);
  }
  await context.close();
  await assertCleanStop(srv);
});

test('production mode (NOTIFY_SECRET set): no token → the page says to paste one; bad and expired tokens show "Authentication error (reason)"; a minted token logs in, without the send form, and lists a POSTed notification', { timeout: 90_000 }, async (t) => {
  const srv = await startNotify(t);
  assert.equal((await request(`${srv.url}/api/dev-token?user=42`)).status, 404);
  const context = await launch(t);
  const r = await openPage(context, srv, { reuseFirst: true });
  const page = r.page;
  const loginError = async () => {
    await page.waitForSelector('#login-error', { state: 'visible', timeout: 10_000 });
    return text(page, '#login-error');
  };

  await login(page, '42');
  assert.equal(await loginError(), 'no token: paste one (the server has a NOTIFY_SECRET)');
  assert.equal(await visible(page, '#inbox'), false);

  await login(page, '42', tokenFor('42', { secret: 'not-the-secret' }));
  await page.waitForFunction(() => /Authentication error/.test(document.getElementById('login-error').textContent), null, { timeout: 10_000 });
  assert.equal(await loginError(), 'Authentication error (bad signature)');
  await page.screenshot({ path: shot('login-error'), fullPage: true });

  await login(page, '42', tokenFor('42', { ttl: -60 }));
  await page.waitForFunction(() => /expired/.test(document.getElementById('login-error').textContent), null, { timeout: 10_000 });
  assert.equal(await loginError(), 'Authentication error (expired)');
  assert.equal(await visible(page, '#inbox'), false);
  assert.equal(await text(page, '#status'), 'offline');

  const refusalErrors = r.errors.length;
  const refusalBad = r.bad.length;

  // The token is who you are: typed id 42, token for 99.
  await login(page, '42', tokenFor('99'));
  await loggedIn(page, '99');
  assert.equal(await visible(page, '#send'), false, 'no key in production: no send form');

  const res = await notify(srv, { user: '99', event: 'notice', data: { text: 'production' } });
  assert.equal(res.json.sockets, 1, 'the refused attempts left no socket behind');
  const notes = await waitListed(page, 1);
  assert.deepEqual(notes.map((n) => [n.event, n.body]), [['notice', pretty({ text: 'production' })]]);
  await assertLayout(page, 'production');
  await page.screenshot({ path: shot('production'), fullPage: true });

  // While refusing, socket.io-client closes its connection in the middle of
  // its websocket probe and its next poll: Chromium logs the probe as
  // "closed before the connection is established", and that poll may reach
  // the server after the session's close packet (400 Session ID unknown).
  // That is the client's doing; after the login nothing else may go wrong.
  const probeNoise = /^console: WebSocket connection to '[^']*\/socket\.io\/\?EIO=4&transport=websocket&sid=[^']*' failed: WebSocket is closed before the connection is established\.$/;
  const pollNoise = /^GET \/socket\.io\/\?EIO=4&transport=polling&t=[^&]+&sid=\S+ 400$/;
  assert.deepEqual(r.errors.slice(0, refusalErrors).filter((e) => !probeNoise.test(e)), []);
  assert.deepEqual(r.bad.slice(0, refusalBad).filter((e) => !pollNoise.test(e)), ['GET /api/dev-token?user=42 404']);
  assert.deepEqual(r.errors.slice(refusalErrors), []);
  assert.deepEqual(r.bad.slice(refusalBad), []);
  await context.close();
  await assertCleanStop(srv);
});
