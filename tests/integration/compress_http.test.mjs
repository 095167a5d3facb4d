// httpCompression (Node's name, on by default, threshold 1024): long-polling
// bodies gzip- or deflate-encoded as Accept-Encoding asks (the handshake
// never), plain without a coding both sides know, under the threshold, or
// with the option off; files from public/ and the client bundle the same
// way for text types; and headless Chromium's XHR polling, which asks for
// gzip, reading them.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { startServer, request, makeAppDir } from './lib/server.mjs';
import { launchChromium, clientPage } from './lib/browser.mjs';
import { startApp, stopProblems } from './lib/sio.mjs';
import { pollWelcome, decodeBody } from './lib/compress.mjs';

const servers = [];
async function app(args = [], name = 'compress') {
  const srv = await startApp(name, { args: ['--no-reload', ...args] });
  servers.push(srv);
  return srv;
}
after(() => Promise.all(servers.map((s) => s.stop())));

const WELCOME = /42\["welcome","x{3000}"\]/;

test('a polling body over the threshold is gzip- or deflate-encoded as Accept-Encoding asks; the handshake never is', async () => {
  const srv = await app();
  for (const [ae, coding] of [['gzip, deflate', 'gzip'], ['deflate', 'deflate'], ['deflate;q=1, gzip;q=0.5', 'deflate'],
    ['*', 'gzip'], ['gzip, deflate, br, zstd', 'gzip']]) {
    const r = await pollWelcome(srv.url, ae);
    assert.equal(r.handshake.headers['content-encoding'], undefined, `handshake, ${ae}`);
    assert.equal(r.poll.headers['content-encoding'], coding, ae);
    assert.match(r.body, WELCOME);
    assert.ok(r.poll.body.length < 500, `${r.poll.body.length} bytes for ${r.body.length}`);
    assert.equal(Number(r.poll.headers['content-length']), r.poll.body.length);
  }
});

test('no Accept-Encoding, identity, an unknown coding (br) or q=0 gets plain output', async () => {
  const srv = await app();
  for (const ae of [undefined, '', 'identity', 'br', 'gzip;q=0, deflate;q=0', 'x-gzip']) {
    const r = await pollWelcome(srv.url, ae);
    assert.equal(r.poll.headers['content-encoding'], undefined, String(ae));
    assert.match(r.body, WELCOME);
  }
});

test('httpCompression=false, or a threshold over the body, sends it plain; the table form sets the threshold', async () => {
  for (const args of [['--set', 'httpCompression=false'], ['--set', 'httpCompression.threshold=5000']]) {
    const srv = await app(args);
    const r = await pollWelcome(srv.url, 'gzip');
    assert.equal(r.poll.headers['content-encoding'], undefined, args.join(' '));
    assert.match(r.body, WELCOME);
  }
  const dir = makeAppDir({
    'main.lua': `local sio = require "siolua"
sio.configure { httpCompression = { threshold = 5000 } }
sio.server:on("connection", function(s) s:emit("welcome", string.rep("x", 3000)) end)`,
  });
  const srv = await startServer({ appDir: dir, args: ['--no-reload'] });
  servers.push(srv);
  const r = await pollWelcome(srv.url, 'gzip');
  assert.equal(r.poll.headers['content-encoding'], undefined);
  assert.match(r.body, WELCOME);
});

test('files and the client bundle are compressed for text types, with Vary: Accept-Encoding; images are not', async () => {
  const big = 'body { color: red; }\n'.repeat(200);
  const png = Buffer.alloc(4000, 7);
  const dir = makeAppDir({ 'public/site.css': big, 'public/small.txt': 'tiny', 'public/pic.png': png });
  const srv = await startServer({ appDir: dir, args: ['--no-reload'] });
  servers.push(srv);
  const get = (p, ae) => request(srv.url + p, { headers: ae ? { 'Accept-Encoding': ae } : {} });
  const css = await get('/site.css', 'gzip, deflate');
  assert.equal(css.headers['content-encoding'], 'gzip');
  assert.equal(css.headers.vary, 'Accept-Encoding');
  assert.equal(decodeBody(css), big);
  assert.ok(css.headers.etag);
  const plain = await get('/site.css');
  assert.equal(plain.headers['content-encoding'], undefined);
  assert.equal(plain.text, big);
  assert.equal((await get('/small.txt', 'gzip')).headers['content-encoding'], undefined);
  const img = await get('/pic.png', 'gzip');
  assert.equal(img.headers['content-encoding'], undefined);
  assert.ok(img.body.equals(png));
  const bundle = await get('/socket.io/socket.io.min.js', 'deflate');
  assert.equal(bundle.headers['content-encoding'], 'deflate');
  assert.match(zlib.inflateSync(bundle.body).toString().slice(0, 200), /Socket\.IO v4/);
  assert.ok(bundle.body.length < 25_000, `${bundle.body.length} bytes`);
  const off = await app(['--set', 'httpCompression=false']);
  assert.equal((await request(off.url + '/socket.io/socket.io.min.js', { headers: { 'Accept-Encoding': 'gzip' } }))
    .headers['content-encoding'], undefined);
});

test('headless Chromium over long-polling reads gzip bodies, both ways whole', { timeout: 60_000 }, async () => {
  const srv = await app();
  const context = await launchChromium();
  try {
    const page = await clientPage(context, srv.url);
    const encodings = [];
    page.on('response', (r) => {
      if (r.url().includes('transport=polling') && r.request().method() === 'GET') encodings.push(r.headers()['content-encoding'] || '');
    });
    const ok = await page.evaluate(async (url) => {
      const s = io(url, { transports: ['polling'], query: { big: 1 } });
      const welcome = await new Promise((res) => s.on('welcome', res));
      let text = '';
      for (let i = 0; text.length < 50000; i++) text += `{"n":${i},"polling":true},`;
      const back = await s.timeout(5000).emitWithAck('echo', text);
      s.close();
      return welcome.length === 3000 && back === text;
    }, srv.url);
    assert.equal(ok, true);
    assert.ok(encodings.includes('gzip'), `polling GETs: ${JSON.stringify(encodings)}`);
  } finally {
    await context.close();
  }
});

test('every server of this file exits 0 with no crash or sanitizer report', async () => {
  const problems = await Promise.all(servers.splice(0).map(stopProblems));
  assert.deepEqual(problems.flat(), []);
});
