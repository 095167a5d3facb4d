// The client bundle the server serves (/socket.io/socket.io.js and its
// siblings, with ETag and 304), and a real headless Chromium page (from
// tests/apps/browser/public/index.html) that loads it, connects, upgrades
// to websocket, emits an event and renders the replies.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from './lib/server.mjs';
import { launchChromium } from './lib/browser.mjs';
import { startApp, stopProblems } from './lib/sio.mjs';

const SCREENSHOT = process.env.SIOLUA_SCREENSHOT || `${process.env.SIOLUA_SCREENSHOT_DIR || '/tmp'}/siolua-browser.png`;

let srv;
before(async () => { srv = await startApp('browser'); });
after(async () => { await srv?.stop(); });

const get = (path, headers = {}) => request(srv.url + path, { headers });

test('GET /socket.io/socket.io.js serves the socket.io-client 4 bundle as application/javascript with an ETag', async () => {
  const res = await get('/socket.io/socket.io.js');
  assert.equal(res.status, 200);
  assert.match(res.headers['content-type'] || '', /^application\/javascript\b/);
  assert.ok(res.headers.etag, 'no ETag');
  assert.match(res.text.slice(0, 200), /Socket\.IO v4\.\d+\.\d+/);
  assert.ok(res.body.length > 100_000, `only ${res.body.length} bytes`);
  assert.ok(res.text.includes('sourceMappingURL=socket.io.js.map'));
});

test('a GET with If-None-Match equal to the ETag gets 304 with no body; a stale ETag gets 200', async () => {
  const first = await get('/socket.io/socket.io.js');
  const etag = first.headers.etag;
  assert.ok(etag, 'no ETag');
  const again = await get('/socket.io/socket.io.js', { 'If-None-Match': etag });
  assert.equal(again.status, 304);
  assert.equal(again.body.length, 0);
  const stale = await get('/socket.io/socket.io.js', { 'If-None-Match': '"not-the-etag"' });
  assert.equal(stale.status, 200);
  assert.equal(stale.body.length, first.body.length);
});

test('socket.io.min.js and socket.io.esm.min.js are served too, each smaller than the full bundle, with an ETag and 304', async () => {
  const full = await get('/socket.io/socket.io.js');
  const min = await get('/socket.io/socket.io.min.js');
  const esm = await get('/socket.io/socket.io.esm.min.js');
  for (const [name, res] of [['min', min], ['esm', esm]]) {
    assert.equal(res.status, 200, `${name}: ${res.status}`);
    assert.match(res.headers['content-type'] || '', /^application\/javascript\b/, name);
    assert.ok(res.headers.etag, `${name}: no ETag`);
    assert.ok(res.body.length > 10_000 && res.body.length < full.body.length, `${name}: ${res.body.length} bytes`);
  }
  assert.match(esm.text, /\bexport\s*\{/);
  const again = await get('/socket.io/socket.io.min.js', { 'If-None-Match': min.headers.etag });
  assert.equal(again.status, 304);
});

test('the source maps (.js.map, .min.js.map, .esm.min.js.map) are served as JSON source maps', async () => {
  for (const name of ['socket.io.js.map', 'socket.io.min.js.map', 'socket.io.esm.min.js.map']) {
    const res = await get(`/socket.io/${name}`);
    assert.equal(res.status, 200, `${name}: ${res.status}`);
    assert.match(res.headers['content-type'] || '', /^application\/json\b/, name);
    const map = JSON.parse(res.text);
    assert.equal(map.version, 3, name);
    assert.ok(Array.isArray(map.sources) && map.sources.length > 0, name);
  }
});

test('a file name under /socket.io/ that is not a client bundle is not served', async () => {
  const res = await get('/socket.io/socket.io.nope.js');
  assert.ok(res.status >= 400 && res.status < 500, `status ${res.status}`);
  assert.doesNotMatch(res.text.slice(0, 200), /Socket\.IO v4/);
});

test('headless Chromium: index.html loads /socket.io/socket.io.js, connects, upgrades to websocket, emits and renders the replies', { timeout: 60_000 }, async () => {
  const context = await launchChromium();
  try {
    const page = context.pages()[0] ?? await context.newPage();
    const pageErrors = [];
    const failed = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('requestfailed', (r) => failed.push(`${r.url()} ${r.failure()?.errorText}`));
    const res = await page.goto(srv.url + '/', { waitUntil: 'load' });
    assert.equal(res.status(), 200);
    const text = async (id) => (await page.textContent(`#${id}`)).trim();
    await page.waitForFunction(() => document.getElementById('reply').textContent !== '', null, { timeout: 10_000 });
    await page.waitForFunction(() => document.getElementById('transport').textContent === 'websocket', null, { timeout: 10_000 });
    await page.waitForFunction(() => document.getElementById('news').textContent !== '', null, { timeout: 10_000 });
    assert.equal(await text('status'), 'connected');
    assert.equal(await text('reply'), 'hello chromium, from Lua');
    const id = await text('id');
    assert.ok(id.length > 0);
    assert.equal(await text('welcome'), `welcome, ${id}`);
    assert.equal(await text('news'), 'greeted chromium');
    assert.equal(await text('transport'), 'websocket');
    await page.screenshot({ path: SCREENSHOT });
    assert.deepEqual(pageErrors, []);
    assert.deepEqual(failed.filter((f) => !/ERR_ABORTED/.test(f)), []);
  } finally {
    await context.close();
  }
});

test('headless Chromium with the msgpack bundle against a server with parser=msgpack: connects, upgrades, acks, and an ArrayBuffer goes up and comes back', { timeout: 60_000 }, async (t) => {
  const mp = await startApp('browser', { t, args: ['--set', 'parser=msgpack'] });
  const context = await launchChromium();
  try {
    const page = context.pages()[0] ?? await context.newPage();
    const pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    assert.equal((await page.goto(mp.url + '/msgpack.html', { waitUntil: 'load' })).status(), 200);
    const text = async (id) => (await page.textContent(`#${id}`)).trim();
    await page.waitForFunction(() => document.getElementById('bytes').textContent !== '', null, { timeout: 10_000 });
    await page.waitForFunction(() => document.getElementById('transport').textContent === 'websocket', null, { timeout: 10_000 });
    assert.equal(await text('status'), 'connected');
    assert.equal(await text('reply'), 'hello chromium, from Lua');
    assert.equal(await text('bytes'), '250,3,2,1');
    assert.deepEqual(pageErrors, []);
  } finally {
    await context.close();
  }
  assert.deepEqual(await stopProblems(mp), []);
});

// Last: a crash or a sanitizer report anywhere in the run shows up here.
test('the server exits 0 on SIGTERM after the run, with no crash or sanitizer report', async () => {
  assert.deepEqual(await stopProblems(srv), []);
});
