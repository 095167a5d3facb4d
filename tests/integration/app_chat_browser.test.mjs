// apps/chat in headless Chromium (Debian's /usr/bin/chromium driven by
// playwright-core): the page at / logs in through its form, shows messages
// and notices from other pages, runs commands typed in its input, shares a
// name between the tabs of one browser, refuses it to another browser,
// and works on long-polling only. Screenshots go to /tmp (SIOLUA_SHOTS
// overrides the folder) for a person to look at.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { makeTempDir } from './lib/server.mjs';
import { startChat, assertCleanStop } from './lib/chat.mjs';

const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const SHOTS = process.env.SIOLUA_SHOTS || process.env.SIOLUA_SCREENSHOT_DIR || '/tmp';
const shot = (name) => join(SHOTS, `siolua-chat-${name}.png`);
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

// Each browser is a fresh profile: its own localStorage, so its own key.
async function browser(t, options = {}) {
  const context = await chromium.launchPersistentContext(makeTempDir('siolua-chromium-'), {
    executablePath: CHROMIUM, headless: true, args: ARGS, viewport: { width: 1000, height: 700 }, ...options,
  });
  t.after(() => context.close());
  return context;
}

// A page of the chat, watched for script errors, failed requests and
// WebSocket use.
async function openChat(context, url) {
  const page = await context.newPage();
  page.problems = [];
  page.websockets = [];
  page.on('pageerror', (e) => page.problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    // A long-poll cut short when the page closes is not a problem.
    if (!/ERR_ABORTED/.test(r.failure()?.errorText ?? '')) page.problems.push(`${r.url()} ${r.failure()?.errorText}`);
  });
  page.on('websocket', (ws) => page.websockets.push(ws.url()));
  const res = await page.goto(url, { waitUntil: 'load' });
  assert.equal(res.status(), 200);
  return page;
}

async function logIn(page, name) {
  await page.locator('#login').waitFor({ state: 'visible' });
  await page.fill('#login-name', name);
  await page.click('#login button');
  await page.locator('#login').waitFor({ state: 'hidden' });
  assert.equal(await page.textContent('#user'), name);
}

async function type(page, text) {
  await page.fill('#input', text);
  await page.press('#input', 'Enter');
}

const notice = (page, text) => page.locator('#log li.notice', { hasText: text });
const chatLine = (page, user, text) => page.locator(`#log li.msg[data-user="${user}"] .text`, { hasText: text });

test('two pages log in, exchange messages, see notices, change room with /j, and one of them on long-polling only', { timeout: 60_000 }, async (t) => {
  const srv = await startChat(t);
  const ctx = await browser(t);
  const alice = await openChat(ctx, `${srv.url}/`);
  await logIn(alice, 'alice');
  assert.equal(await alice.textContent('#room'), 'lobby');
  const bob = await openChat(ctx, `${srv.url}/?transport=polling`);
  await logIn(bob, 'bob');
  await notice(alice, 'User bob logged in').waitFor();
  await notice(bob, 'Currently logged in as bob').waitFor();

  await type(alice, 'Hello Bob! <b>not bold</b>');
  await chatLine(bob, 'alice', 'Hello Bob! <b>not bold</b>').waitFor();
  assert.equal(await bob.locator('#log li.msg b').count(), 0, 'text is never parsed as HTML');
  await chatLine(alice, 'alice', 'Hello Bob!').waitFor();
  assert.ok(await alice.locator('#log li.msg.mine[data-user="alice"]').count() >= 1, 'own messages are marked');
  assert.equal(await alice.locator('#log li.notice', { hasText: 'said:' }).count(), 0, 'no plain "said" copies on the page');

  await type(bob, 'Hi Alice, this is a longer message to see how the bubbles wrap when a line is too long for one row.');
  await chatLine(alice, 'bob', 'Hi Alice').waitFor();

  await type(alice, '/j dev');
  await alice.waitForFunction(() => document.getElementById('room').textContent === 'dev');
  await notice(alice, 'You joined room dev').waitFor();
  await notice(bob, 'User alice left this room').waitFor();
  assert.match(await alice.title(), /#dev/);
  await type(bob, '/j #dev');
  await notice(alice, 'User bob joined this room').waitFor();
  await type(bob, 'made it to dev');
  await chatLine(alice, 'bob', 'made it to dev').waitFor();
  await type(alice, '/who');
  await notice(alice, 'Users in room dev (2): alice, bob').waitFor();

  await alice.screenshot({ path: shot('alice') });
  await bob.screenshot({ path: shot('bob') });
  assert.equal(bob.websockets.length, 0, `the polling-only page opened ${bob.websockets}`);
  assert.ok(alice.websockets.length >= 1, 'the default page upgrades to websocket');
  assert.deepEqual([...alice.problems, ...bob.problems], []);
  await assertCleanStop(srv);
});

test('a second tab of the same browser shares a name and gets /msg to it; another browser is refused that name with a clear message, and sees the disconnect notice', { timeout: 60_000 }, async (t) => {
  const srv = await startChat(t);
  const home = await browser(t);
  const tab1 = await openChat(home, `${srv.url}/`);
  await logIn(tab1, 'carol');
  const tab2 = await openChat(home, `${srv.url}/`);
  await tab2.locator('#login').waitFor({ state: 'visible' });
  assert.equal(await tab2.inputValue('#login-name'), 'carol', 'the form remembers the name');
  await tab2.click('#login button');
  await tab2.locator('#login').waitFor({ state: 'hidden' });
  assert.equal(await tab2.textContent('#user'), 'carol');

  const away = await browser(t);
  const dave = await openChat(away, `${srv.url}/`);
  await dave.locator('#login').waitFor({ state: 'visible' });
  await dave.fill('#login-name', 'Carol');
  await dave.click('#login button');
  await dave.waitForFunction(() => document.getElementById('login-error').textContent !== '');
  assert.equal(await dave.textContent('#login-error'), "Can't log in: the name Carol is taken");
  assert.ok(await dave.isVisible('#login'));
  await dave.screenshot({ path: shot('login-refused') });
  await dave.fill('#login-name', '');
  await dave.click('#login button');
  await dave.waitForFunction(() => /empty/.test(document.getElementById('login-error').textContent));
  await logIn(dave, 'dave');

  await type(dave, '/msg carol are both of your tabs listening?');
  for (const p of [tab1, tab2]) {
    const m = p.locator('#log li.msg.private[data-user="dave"]', { hasText: 'are both of your tabs listening?' });
    await m.waitFor();
    assert.match(await m.textContent(), /private/);
  }
  await dave.locator('#log li.msg.private.mine', { hasText: 'private to carol' }).waitFor();
  await type(dave, '/nonsense');
  await dave.locator('#log li.notice.error', { hasText: 'Unknown command /nonsense' }).waitFor();

  await tab2.close();
  await notice(dave, 'User carol disconnected').waitFor();
  await dave.screenshot({ path: shot('dave') });
  assert.deepEqual([...tab1.problems, ...dave.problems], []);
  await assertCleanStop(srv);
});

test('on a phone-sized screen (dark scheme) the page fits: no horizontal scrolling, input and button on screen', { timeout: 60_000 }, async (t) => {
  const srv = await startChat(t);
  const phone = await browser(t, { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, colorScheme: 'dark' });
  const page = await openChat(phone, `${srv.url}/`);
  await page.locator('#login').waitFor({ state: 'visible' });
  await page.screenshot({ path: shot('phone-login') });
  await logIn(page, 'phoebe');
  const friend = await openChat(phone, `${srv.url}/`);
  await logIn(friend, 'frank');
  await type(friend, 'Hi Phoebe! Does this look right on your phone? A longish line to wrap: https://example.com/a/very/long/path/that/should/wrap/instead/of/overflowing');
  await chatLine(page, 'frank', 'Hi Phoebe').waitFor();
  await type(page, 'Looks good 👍');
  await chatLine(page, 'phoebe', 'Looks good').waitFor();
  await type(page, '/rooms');
  await notice(page, 'Rooms: lobby (2)').waitFor();
  const fits = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    width: window.innerWidth,
    input: document.getElementById('input').getBoundingClientRect().toJSON(),
    button: document.querySelector('#composer button').getBoundingClientRect().toJSON(),
    height: window.innerHeight,
  }));
  assert.ok(fits.scrollWidth <= fits.width, `page is ${fits.scrollWidth}px wide on a ${fits.width}px screen`);
  for (const box of [fits.input, fits.button]) {
    assert.ok(box.left >= 0 && box.right <= fits.width && box.bottom <= fits.height && box.top >= 0, JSON.stringify(fits));
  }
  await page.screenshot({ path: shot('phone') });
  assert.deepEqual([...page.problems, ...friend.problems], []);
  await assertCleanStop(srv);
});

test('after a server restart the page logs in again by itself, goes back to its room, and others find it there', { timeout: 60_000 }, async (t) => {
  const first = await startChat(t);
  const ctx = await browser(t);
  const page = await openChat(ctx, `${first.url}/`);
  await logIn(page, 'robin');
  await type(page, '/j den');
  await page.waitForFunction(() => document.getElementById('room').textContent === 'den');
  await assertCleanStop(first);
  await page.waitForFunction(() => document.getElementById('status').dataset.state !== 'connected');
  await notice(page, 'Disconnected: reconnecting…').waitFor();
  assert.equal(await page.isEnabled('#input'), false, 'no typing into a dead connection');

  const second = await startChat(t, { args: ['--port', String(first.port)] });
  await page.waitForFunction(() => document.getElementById('status').dataset.state === 'connected'
    && document.getElementById('room').textContent === 'den', null, { timeout: 20_000 });
  assert.equal(await page.isVisible('#login'), false, 'the login form did not come back');
  assert.equal(await page.textContent('#user'), 'robin');
  assert.equal(await page.isEnabled('#input'), true);

  const other = await openChat(await browser(t), `${second.url}/`);
  await logIn(other, 'sam');
  await type(other, '/j den');
  await type(other, '/who');
  await notice(other, 'Users in room den (2): robin, sam').waitFor();
  await notice(page, 'User sam joined this room').waitFor();
  await page.screenshot({ path: shot('reconnected') });
  // Failed requests while the server was down are expected; script errors are not.
  assert.deepEqual(page.problems.filter((p) => p.startsWith('page error')), []);
  assert.deepEqual(other.problems, []);
  await assertCleanStop(second);
});

// The official socket.io chat demo's page (examples/chat/public in
// socketio/socket.io), unmodified, against apps/chat's "/" namespace. Its
// files are read from a checkout of that repository (SOCKETIO_REPO) and
// handed to the browser by request interception, with Debian's jQuery
// standing in for the CDN copy it loads, so the test needs no network.
const SOCKETIO_REPO = process.env.SOCKETIO_REPO || '/work/.mirror/socketio+socket.io/repo';
const JQUERY = '/usr/share/javascript/jquery/jquery.min.js';
const demoFile = (name) => execFileSync('git', ['-C', SOCKETIO_REPO, 'show', `HEAD:examples/chat/public/${name}`]);
const haveDemo = existsSync(SOCKETIO_REPO) && existsSync(JQUERY);

test('the socket.io chat demo\'s own page works against "/": participants, joins, messages, typing, leaving', { timeout: 60_000, skip: !haveDemo && `needs ${SOCKETIO_REPO} and ${JQUERY}` }, async (t) => {
  const srv = await startChat(t);
  const files = {
    [`${srv.url}/demo/`]: ['text/html', demoFile('index.html')],
    [`${srv.url}/demo/style.css`]: ['text/css', demoFile('style.css')],
    [`${srv.url}/main.js`]: ['application/javascript', demoFile('main.js')],
    'https://code.jquery.com/jquery-1.10.2.min.js': ['application/javascript', readFileSync(JQUERY)],
  };
  const ctx = await browser(t);
  await ctx.route(() => true, (route) => {
    const f = files[route.request().url()];
    if (f) return route.fulfill({ status: 200, contentType: f[0], body: f[1] });
    if (route.request().url().startsWith(srv.url)) return route.continue();
    return route.abort();
  });
  const open = async (name) => {
    const page = await openChat(ctx, `${srv.url}/demo/`);
    await page.fill('.usernameInput', name);
    await page.press('.usernameInput', 'Enter');
    return page;
  };
  const log = (page, text) => page.locator('.messages li.log', { hasText: text }).first();

  const ann = await open('ann');
  await log(ann, "there's 1 participant").waitFor();
  const ben = await open('ben');
  await log(ben, 'there are 2 participants').waitFor();
  await log(ann, 'ben joined').waitFor();
  await log(ann, 'there are 2 participants').waitFor();

  await ben.type('.inputMessage', 'hello ann');
  await ann.locator('.messages li.message.typing', { hasText: 'is typing' }).waitFor();
  await ben.press('.inputMessage', 'Enter');
  const msg = ann.locator('.messages li.message:not(.typing)', { hasText: 'hello ann' });
  await msg.waitFor();
  assert.equal(await msg.locator('.username').textContent(), 'ben');
  await ann.locator('.messages li.message.typing').waitFor({ state: 'detached' });
  await ann.screenshot({ path: shot('demo') });
  assert.deepEqual([...ann.problems, ...ben.problems], []);

  await ben.close();
  await log(ann, 'ben left').waitFor();
  // The count comes with `user left` (see its own test in app_chat.test.mjs).
  const logs = await ann.locator('.messages li.log').allTextContents();
  assert.equal(logs[logs.indexOf('ben left') + 1], "there's 1 participant", JSON.stringify(logs));
  await assertCleanStop(srv);
});
