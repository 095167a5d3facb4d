// Static files from APP_DIR/public and the HTTP/1.1 connection rules around
// them (keep-alive, pipelining, Connection: close, header time and size
// limits). Paths are sent with raw TCP where a client library would
// normalise them.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { symlinkSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  startServer, makeAppDir, makeTempDir, request, RawConn, rawRequest, sleep,
} from './lib/server.mjs';

// A 1x1 PNG.
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d4944415478da63f8cfc0f01f0005000201a5e5d5c30000000049454e44ae426082', 'hex');
const SECRET = 'TOP-SECRET-outside-public';
const FILES = {
  'public/index.html': '<!doctype html><title>siolua</title><p>index page</p>\n',
  'public/app.js': 'console.log("app");\n',
  'public/style.css': 'body { color: red }\n',
  'public/img.png': PNG,
  'public/icon.svg': '<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>\n',
  'public/data.json': '{"a":1}\n',
  'public/hello world.txt': 'spaces are fine\n',
  'public/sub/page.txt': 'nested\n',
  'secret.txt': `${SECRET}\n`,
};

let app;
let outside;
let srv;
before(async () => {
  app = makeAppDir(FILES);
  outside = makeTempDir('siolua-outside-');
  writeFileSync(join(outside, 'secret.txt'), `${SECRET}\n`);
  mkdirSync(join(outside, 'dir'));
  writeFileSync(join(outside, 'dir', 'secret.txt'), `${SECRET}\n`);
  symlinkSync(join(outside, 'secret.txt'), join(app, 'public', 'leak.txt'));
  symlinkSync(join(outside, 'dir'), join(app, 'public', 'leakdir'));
  symlinkSync('../secret.txt', join(app, 'public', 'relleak.txt'));
  srv = await startServer({ appDir: app });
});
after(async () => {
  await srv?.stop();
});

const get = (path, headers = {}) => request(`${srv.url}${path}`, { headers });
const raw = (path, method = 'GET', extra = '') =>
  rawRequest(srv.port, `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n${extra}\r\n`, { head: method === 'HEAD', closeWaitMs: 1000 });

test('/ serves public/index.html as text/html', async () => {
  const res = await get('/');
  assert.equal(res.status, 200);
  assert.match(res.headers['content-type'], /^text\/html/);
  assert.equal(res.text, FILES['public/index.html']);
  assert.equal(Number(res.headers['content-length']), Buffer.byteLength(FILES['public/index.html']));
});

for (const [path, type, file] of [
  ['/index.html', /^text\/html/, 'public/index.html'],
  ['/app.js', /^(text|application)\/javascript/, 'public/app.js'],
  ['/style.css', /^text\/css/, 'public/style.css'],
  ['/img.png', /^image\/png$/, 'public/img.png'],
  ['/icon.svg', /^image\/svg\+xml/, 'public/icon.svg'],
  ['/data.json', /^application\/json/, 'public/data.json'],
  ['/sub/page.txt', /^text\/plain/, 'public/sub/page.txt'],
]) {
  test(`${path} is served byte for byte with Content-Type ${type.source}`, async () => {
    const res = await get(path);
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'] || '', type);
    assert.deepEqual(res.body, Buffer.from(FILES[file]));
  });
}

test('a percent-encoded file name is decoded (/hello%20world.txt)', async () => {
  const res = await get('/hello%20world.txt');
  assert.equal(res.status, 200);
  assert.equal(res.text, FILES['public/hello world.txt']);
});

test('a query string is ignored when mapping to a file', async () => {
  const res = await get('/app.js?v=3&x=y');
  assert.equal(res.status, 200);
  assert.equal(res.text, FILES['public/app.js']);
});

test('a missing file answers 404', async () => {
  const res = await get('/no-such-file.js');
  assert.equal(res.status, 404);
});

test('responses carry an ETag; If-None-Match with it answers 304 with no body, another tag answers 200', async () => {
  const first = await get('/style.css');
  const etag = first.headers.etag;
  assert.ok(etag, 'no ETag header');
  const again = await get('/style.css');
  assert.equal(again.headers.etag, etag, 'ETag not stable');
  const cached = await rawRequest(srv.port, `GET /style.css HTTP/1.1\r\nHost: x\r\nIf-None-Match: ${etag}\r\nConnection: close\r\n\r\n`, { closeWaitMs: 1000 });
  assert.equal(cached.response.status, 304);
  const headEnd = cached.raw.indexOf('\r\n\r\n') + 4;
  assert.equal(cached.raw.length - headEnd, 0, `304 carried a body: ${JSON.stringify(cached.raw.subarray(headEnd).toString())}`);
  const other = await get('/style.css', { 'If-None-Match': '"something-else"' });
  assert.equal(other.status, 200);
  assert.equal(other.text, FILES['public/style.css']);
});

test('after a file changes its ETag changes and the old tag no longer gets a 304', async () => {
  writeFileSync(join(app, 'public', 'changing.txt'), 'version one\n');
  const v1 = await get('/changing.txt');
  assert.equal(v1.status, 200);
  const etag = v1.headers.etag;
  assert.ok(etag, 'no ETag header');
  writeFileSync(join(app, 'public', 'changing.txt'), 'version two, longer\n');
  const v2 = await get('/changing.txt', { 'If-None-Match': etag });
  assert.equal(v2.status, 200, 'stale ETag still answered 304');
  assert.equal(v2.text, 'version two, longer\n');
  assert.notEqual(v2.headers.etag, etag);
});

test('If-None-Match with a list that contains the ETag answers 304', async () => {
  const { headers } = await get('/data.json');
  const res = await get('/data.json', { 'If-None-Match': `"nope", ${headers.etag}` });
  assert.equal(res.status, 304);
  assert.equal(res.body.length, 0);
});

test('a 20 MB file (bigger than a connection\'s output cap) is served intact', async () => {
  const big = Buffer.alloc(20 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4) big.writeUInt32LE(i, i);
  writeFileSync(join(app, 'public', 'big.bin'), big);
  const res = await request(`${srv.url}/big.bin`, { timeoutMs: 15000 });
  assert.equal(res.status, 200);
  assert.equal(Number(res.headers['content-length']), big.length);
  assert.ok(res.body.equals(big), `body differs (got ${res.body.length} bytes)`);
});

test('HEAD answers the GET headers (type, length, ETag) and sends no body', async () => {
  const g = await get('/img.png');
  const { response, raw: bytes, closed } = await raw('/img.png', 'HEAD');
  assert.equal(response.status, 200);
  assert.equal(response.headers['content-type'], g.headers['content-type']);
  assert.equal(Number(response.headers['content-length']), PNG.length);
  assert.equal(response.headers.etag, g.headers.etag);
  assert.equal(closed, true, 'Connection: close not honoured');
  const headEnd = bytes.indexOf('\r\n\r\n') + 4;
  assert.equal(bytes.length - headEnd, 0, 'HEAD response carried body bytes');
});

for (const path of [
  '/../secret.txt',
  '/%2e%2e/secret.txt',
  '/%2E%2E/secret.txt',
  '/.%2e/secret.txt',
  '/..%2fsecret.txt',
  '/sub/../../secret.txt',
  '/sub/%2e%2e/%2e%2e/secret.txt',
  '//etc/passwd',
  '/leak.txt',
  '/leakdir/secret.txt',
  '/relleak.txt',
]) {
  test(`no escape from public/: ${path} answers 404 and leaks nothing`, async () => {
    const { response } = await raw(path);
    assert.equal(response.status, 404, `${path}: ${response.status} ${response.text.slice(0, 200)}`);
    assert.ok(!response.text.includes(SECRET), 'secret leaked');
    assert.ok(!response.text.includes('root:'), '/etc/passwd leaked');
  });
}

test('an encoded NUL byte in the path is not served (400 or 404)', async () => {
  const { response } = await raw('/index.html%00.png');
  assert.ok([400, 404].includes(response.status), `status ${response.status}`);
});

test('keep-alive: two requests one after the other on one connection are both answered', async () => {
  const c = await RawConn.connect(srv.port);
  try {
    await c.write('GET /app.js HTTP/1.1\r\nHost: x\r\n\r\n');
    await c.readResponses(1);
    assert.equal(c.closed, false, 'server closed a keep-alive connection after one response');
    await c.write('GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n');
    const { responses } = await c.readResponses(2);
    assert.equal(responses[0].text, FILES['public/app.js']);
    assert.equal(responses[1].status, 200);
    assert.equal(responses[1].text, FILES['public/style.css']);
  } finally {
    c.destroy();
  }
});

test('pipelining: three requests written at once are answered in order', async () => {
  const c = await RawConn.connect(srv.port);
  try {
    await c.write('GET /app.js HTTP/1.1\r\nHost: x\r\n\r\nGET /no-such HTTP/1.1\r\nHost: x\r\n\r\nGET /data.json HTTP/1.1\r\nHost: x\r\n\r\n');
    const { responses } = await c.readResponses(3);
    assert.deepEqual(responses.map((r) => r.status), [200, 404, 200]);
    assert.equal(responses[0].text, FILES['public/app.js']);
    assert.equal(responses[2].text, FILES['public/data.json']);
  } finally {
    c.destroy();
  }
});

test('Connection: close is honoured: the server closes after the response', async () => {
  const { response, closed } = await raw('/app.js');
  assert.equal(response.status, 200);
  assert.equal(closed, true);
});

test('HTTP/1.0 without keep-alive gets its answer and the connection closed', async () => {
  const { response, closed } = await rawRequest(srv.port, 'GET /app.js HTTP/1.0\r\n\r\n', { closeWaitMs: 1000 });
  assert.equal(response.status, 200);
  assert.equal(response.text, FILES['public/app.js']);
  assert.equal(closed, true);
});

test('a request header block over the size limit (100 KB) answers 431', async () => {
  const c = await RawConn.connect(srv.port);
  try {
    await c.write(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(100 * 1024)}\r\n\r\n`);
    const { responses } = await c.readResponses(1);
    assert.equal(responses[0].status, 431);
  } finally {
    c.destroy();
  }
});

test('a malformed request line answers 400', async () => {
  const { response } = await rawRequest(srv.port, 'THIS IS NOT HTTP\r\n\r\n', { closeWaitMs: 1000 });
  assert.equal(response.status, 400);
});

test('slow headers: a partial header left hanging is cut off after httpHeaderTimeout', async (t) => {
  const s = await startServer({ t, appDir: app, args: ['--set', 'httpHeaderTimeout=300'] });
  const c = await RawConn.connect(s.port);
  try {
    await c.write('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    assert.equal(await c.waitClose(300 * 3 + 500), true, 'connection still open long after httpHeaderTimeout');
    assert.ok(!c.data.toString('latin1').startsWith('HTTP/1.1 200'), 'a partial request got a 200');
  } finally {
    c.destroy();
  }
  const ok = await request(`${s.url}/app.js`);
  assert.equal(ok.status, 200, 'server stopped serving after cutting a slow client');
  await s.stop();
});

test('slow headers: trickling one header byte every 50 ms does not extend httpHeaderTimeout', async (t) => {
  const s = await startServer({ t, appDir: app, args: ['--set', 'httpHeaderTimeout=300'] });
  const c = await RawConn.connect(s.port);
  try {
    await c.write('GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    const start = Date.now();
    while (!c.closed && Date.now() - start < 300 * 3 + 500) {
      await c.write('a');
      await sleep(50);
    }
    assert.equal(c.closed, true, 'a trickling client kept the connection open past httpHeaderTimeout');
  } finally {
    c.destroy();
  }
  await s.stop();
});

test('keepAliveTimeout: an idle keep-alive connection is closed by the server after it', async (t) => {
  const s = await startServer({ t, appDir: app, args: ['--set', 'keepAliveTimeout=300'] });
  const c = await RawConn.connect(s.port);
  try {
    await c.write('GET /app.js HTTP/1.1\r\nHost: x\r\n\r\n');
    const { responses } = await c.readResponses(1);
    assert.equal(responses[0].status, 200);
    assert.equal(c.closed, false);
    assert.equal(await c.waitClose(300 * 3 + 500), true, 'idle connection still open long after keepAliveTimeout');
  } finally {
    c.destroy();
  }
  await s.stop();
});
