// HTTP routes written in Lua (sio.http, docs/lua-api.md "HTTP routes"),
// against tests/apps/http_routes: :params, query, lower-case headers,
// bodies, req:json() (good and bad), res:status/header/send/json, handlers
// that sleep, errors (500 + one log line), no answer (204), unknown paths
// (404), bodies over maxHttpBufferSize (413), precedence (the Socket.IO
// path and its client bundle first, routes before public/ files), HEAD on
// a GET route, a route emitting to a Socket.IO room (POST /api/notify/:user
// reaches a connected socket.io-client), and a client that leaves before a
// slow handler answers.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request, RawConn, until, startServer } from './lib/server.mjs';
import {
  startApp, connected, ask, collect, APPS_DIR, stopProblems, uniq,
} from './lib/sio.mjs';

let srv;
before(async () => { srv = await startApp('http_routes'); });
after(async () => { await srv?.kill(); });

const MAIN = readFileSync(join(APPS_DIR, 'http_routes', 'main.lua'), 'utf8').split('\n');
function lineOf(needle) {
  const i = MAIN.findIndex((l) => l.includes(needle));
  assert.ok(i >= 0, `main.lua has no line with ${needle}`);
  return i + 1;
}

const url = (p) => `${srv.url}${p}`;
const get = (p, opts = {}) => request(url(p), opts);
const post = (p, body, headers = {}) => request(url(p), { method: 'POST', body, headers });
const json = (res) => JSON.parse(res.text);

// Waits for a log line (after offset) matching re; returns it.
async function logLine(offset, re, timeoutMs = 3000) {
  const ok = await until(() => re.test(srv.stderr().slice(offset)), { timeoutMs });
  assert.ok(ok, `log has no ${re}; new log:\n${srv.stderr().slice(offset)}`);
  return srv.stderr().slice(offset).split('\n').find((l) => re.test(l));
}

test('GET with :params: one and two parameters, the decoded query, path, url, method and address', async () => {
  const r1 = await get('/api/users/42?a=1&b=hello%20world&c=x+y&empty=');
  assert.equal(r1.status, 200);
  assert.match(r1.headers['content-type'], /^application\/json/);
  const d1 = json(r1);
  assert.deepEqual(d1.params, { id: '42' });
  assert.deepEqual(d1.query, { a: '1', b: 'hello world', c: 'x y', empty: '' });
  assert.equal(d1.method, 'GET');
  assert.equal(d1.path, '/api/users/42');
  assert.equal(d1.url, '/api/users/42?a=1&b=hello%20world&c=x+y&empty=');
  assert.equal(d1.body, '');
  assert.match(d1.address, /127\.0\.0\.1/);

  const r2 = await get('/api/shops/north/items/7');
  assert.equal(r2.status, 200);
  assert.deepEqual(json(r2).params, { shop: 'north', item: '7' });
  assert.deepEqual(json(r2).query, {});

  // A parameter is one segment: more segments, or none, do not match.
  assert.equal((await get('/api/users/42/extra')).status, 404);
  assert.equal((await get('/api/users/')).status, 404);
});

test('request headers reach the handler with lower-case names and their values as sent', async () => {
  const res = await get('/api/users/1', { headers: { 'X-Custom-Thing': 'Mixed Case Value', 'X-ANOTHER': 'v2' } });
  const d = json(res);
  assert.equal(d.custom, 'Mixed Case Value');
  assert.ok(d.header_names.includes('x-custom-thing'), d.header_names.join(','));
  assert.ok(d.header_names.includes('x-another'), d.header_names.join(','));
  assert.ok(d.header_names.includes('host'));
  for (const n of d.header_names) assert.equal(n, n.toLowerCase(), `header name ${n} is not lower-case`);
});

test('POST, PUT, PATCH, DELETE and OPTIONS routes get the body and content-type; sio.http.route takes any method', async () => {
  const body = 'name=ada&x=1 \u00e9';
  for (const method of ['POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']) {
    // Content-Length set by hand: node sends DELETE/OPTIONS bodies without any framing otherwise.
    const res = await request(url('/api/echo?m=1'), {
      method, body, headers: { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) },
    });
    assert.equal(res.status, 200, `${method}: ${res.status} ${res.text}`);
    const d = json(res);
    assert.equal(d.method, method);
    assert.equal(d.body, body);
    assert.equal(d.content_type, 'text/plain; charset=utf-8');
    assert.deepEqual(d.query, { m: '1' });
  }
  // A binary body arrives byte for byte (and res:send sends bytes back).
  const bytes = Buffer.from([0, 1, 2, 255, 0x0d, 0x0a, 0x7f, 0xc3]);
  const raw = await post('/api/raw', bytes, { 'Content-Type': 'application/octet-stream' });
  assert.equal(raw.status, 200);
  assert.equal(raw.headers['x-length'], String(bytes.length));
  assert.deepEqual(raw.body, bytes);
  const rep = await request(url('/api/any'), { method: 'REPORT' });
  assert.equal(rep.status, 200);
  assert.equal(json(rep).method, 'REPORT');
  assert.equal((await request(url('/api/any'), { method: 'GET' })).status, 404);
});

test('req:json() decodes a JSON body with the exact mapping (and returns the same table twice)', async () => {
  const res = await post('/api/json?tag=good', '{"a":[1,2.5,null],"b":{},"c":[],"big":9007199254740993}', { 'Content-Type': 'application/json' });
  assert.equal(res.status, 200);
  assert.equal(res.text, '{"again_same":true,"got":{"a":[1,2.5,null],"b":{},"c":[],"big":9007199254740993}}');
});

test('req:json() on a bad body answers 400 {"error":"invalid JSON body: ..."} and the handler stops there', async () => {
  for (const [tag, body] of [['bad1', '{bad'], ['bad2', '[1,]'], ['empty', '']]) {
    const off = srv.stderr().length;
    const res = await post(`/api/json?tag=${tag}`, body, { 'Content-Type': 'application/json' });
    assert.equal(res.status, 400, `${JSON.stringify(body)}: ${res.status} ${res.text}`);
    assert.match(res.headers['content-type'], /^application\/json/);
    const d = json(res);
    assert.deepEqual(Object.keys(d), ['error']);
    assert.match(d.error, /^invalid JSON body: ./);
    // The good request after it is logged; the bad one never was.
    await post('/api/json?tag=after', '1');
    await logLine(off, /went on for tag after/);
    assert.ok(!srv.stderr().slice(off).includes(`went on for tag ${tag}`), `the handler went on after a bad body (${tag})`);
    assert.deepEqual(srv.stderr().slice(off).split('\n').filter((l) => /Z error /.test(l)), [],
      'a bad body was logged as an error');
  }
});

test('res:status and res:header (chained) set the answer; res:send(body, status) and res:json(value, status) too', async () => {
  const c = await get('/api/custom');
  assert.equal(c.status, 201);
  assert.equal(c.headers['x-thing'], 'yes');
  assert.equal(c.headers['content-type'], 'text/plain; charset=utf-8');
  assert.equal(c.text, 'custom body');
  assert.equal(c.headers['content-length'], String('custom body'.length));

  const s = await get('/api/send-status');
  assert.equal(s.status, 202);
  assert.equal(s.text, 'accepted');

  const j = await get('/api/json-status');
  assert.equal(j.status, 418);
  assert.match(j.headers['content-type'], /^application\/json/);
  assert.equal(j.text, '{"ok":false}');
});

test('res:json sends the exact JSON text: [] stays [], {} stays {}, integers exact, null', async () => {
  const res = await get('/api/json-exact');
  assert.equal(res.status, 200);
  assert.equal(res.text, '{"big":9223372036854775807,"f":0.5,"list":[],"n":1,"null":null,"obj":{}}');
});

test('a request is answered once: later res:send/res:json calls return false and change nothing', async () => {
  const off = srv.stderr().length;
  const res = await get('/api/twice');
  assert.equal(res.status, 200);
  assert.equal(res.text, 'first');
  const line = await logLine(off, /twice: /);
  assert.match(line, /twice: true false false$/m);
});

test('a handler that sleeps (sio.sleep) answers afterwards; other requests are served meanwhile', async () => {
  const slept = await get('/api/sleep/50');
  assert.equal(slept.status, 200);
  assert.ok(json(slept).slept >= 45, `slept ${json(slept).slept} ms`);

  const key = uniq('hold');
  let held = null;
  const pending = get(`/api/hold/${key}`).then((r) => { held = r; });
  // While it waits, other routes answer (several, so the hold is surely parked).
  for (let i = 0; i < 3; i += 1) assert.equal((await get(`/api/users/${i}`)).status, 200);
  assert.equal(held, null, 'the held request was answered before its release');
  assert.equal((await post(`/api/release/${key}`, '')).text, 'ok');
  await pending;
  assert.equal(held.status, 200);
  assert.equal(held.text, `released ${key}`);
});

test('a Lua error in a handler answers 500 {"error":"internal server error"} and logs one line with main.lua:<line>; the server goes on', async () => {
  for (const [path, msg] of [['/api/crash', 'deliberate route failure'], ['/api/crash-after-sleep', 'deliberate route failure after a sleep']]) {
    const off = srv.stderr().length;
    const res = await get(path);
    assert.equal(res.status, 500);
    assert.match(res.headers['content-type'], /^application\/json/);
    assert.deepEqual(json(res), { error: 'internal server error' });
    const line = await logLine(off, new RegExp(`${msg}$`, 'm'));
    assert.ok(line.includes(`main.lua:${lineOf(`error("${msg}")`)}: ${msg}`), line);
    assert.match(line, / error /);
    assert.equal(srv.stderr().slice(off).split('\n').filter((l) => l.includes(msg)).length, 1);
    assert.equal((await get('/api/users/9')).status, 200);
  }
});

test('a handler that returns without answering gives 204 with an empty body', async () => {
  const g = await get('/api/silent');
  assert.equal(g.status, 204);
  assert.equal(g.body.length, 0);
  const p = await post('/api/silent', 'some body');
  assert.equal(p.status, 204);
  assert.equal(p.body.length, 0);
});

test('an unknown path is 404, and so is a route path with a method it has no route for', async () => {
  assert.equal((await get('/no/such/path')).status, 404);
  assert.equal((await get('/api/nothing-here')).status, 404);
  assert.equal((await request(url('/api/users/1'), { method: 'DELETE' })).status, 404);
  assert.equal((await post('/api/users/1', 'x')).status, 404);
  assert.equal((await get('/api/echo')).status, 404);
});

test('with --set maxHttpBufferSize=1000 a route body of 1000 bytes is served and one over it is 413 (Content-Length and chunked); the server goes on', async (t) => {
  const small = await startServer({ appDir: join(APPS_DIR, 'http_routes'), args: ['--set', 'maxHttpBufferSize=1000'], t });
  const at = (p) => `${small.url}${p}`;
  const ok = await request(at('/api/silent'), { method: 'POST', body: 'a'.repeat(1000) });
  assert.equal(ok.status, 204);
  const over = await request(at('/api/silent'), { method: 'POST', body: 'a'.repeat(1001) });
  assert.equal(over.status, 413);
  const big = await request(at('/api/echo'), { method: 'POST', body: 'b'.repeat(5000) });
  assert.equal(big.status, 413);

  // Chunked: the size is only known while reading.
  const c = await RawConn.connect(small.port);
  await c.write('POST /api/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n' +
    `7d0\r\n${'c'.repeat(2000)}\r\n0\r\n\r\n`);
  const { responses } = await c.readResponses(1);
  c.destroy();
  assert.equal(responses[0].status, 413);

  assert.ok(!small.stderr().includes('silent post got 1001'), 'the handler ran for a body over the limit');
  const after = await request(at('/api/users/5'));
  assert.equal(after.status, 200);
  assert.deepEqual(JSON.parse(after.text).params, { id: '5' });
  const { code } = await small.stop();
  assert.equal(code, 0);
});

test('precedence: a route "/socket.io/:x" shadows neither the Socket.IO endpoint nor the client bundle, but answers other paths under it', async (t) => {
  const bundle = await get('/socket.io/socket.io.js');
  assert.ok(!bundle.text.startsWith('route'), `the route answered for the client bundle: ${bundle.text}`);
  assert.equal(bundle.status, 200);
  assert.match(bundle.headers['content-type'], /javascript/);
  const min = await get('/socket.io/socket.io.min.js');
  assert.equal(min.status, 200);
  assert.match(min.headers['content-type'], /javascript/);

  const hs = await get('/socket.io/?EIO=4&transport=polling');
  assert.equal(hs.status, 200);
  assert.match(hs.text, /^0\{"sid":/);

  const other = await get('/socket.io/anything');
  assert.equal(other.status, 200);
  assert.equal(other.text, 'route socket.io anything');

  // And a real client connects through it.
  const s = await connected(srv, '/', { t, transports: ['polling'] });
  assert.equal(s.connected, true);
});

test('precedence: a route shadows a public/ file of the same path; other public/ files are served', async () => {
  const shadowed = await get('/shadowed.txt');
  assert.equal(shadowed.status, 200);
  assert.equal(shadowed.text, 'from the route');
  const file = await get('/static.txt');
  assert.equal(file.status, 200);
  assert.equal(file.text, 'a static file\n');
});

test('POST /api/notify/:user emits "notice" to the room user:<name>: its sockets (websocket and polling) get it, others do not', async (t) => {
  const adaWs = await connected(srv, '/', { t, transports: ['websocket'] });
  const adaPoll = await connected(srv, '/', { t, transports: ['polling'] });
  const bob = await connected(srv, '/', { t, transports: ['websocket'] });
  const user = uniq('ada');
  await ask(adaWs, 'login', user);
  await ask(adaPoll, 'login', user);
  await ask(bob, 'login', uniq('bob'));
  const gotWs = collect(adaWs, 'notice');
  const gotPoll = collect(adaPoll, 'notice');
  const gotBob = collect(bob, 'notice');

  const res = await post(`/api/notify/${user}`, JSON.stringify({ text: 'you have mail' }), { 'Content-Type': 'application/json' });
  assert.equal(res.status, 200);
  assert.deepEqual(json(res), { delivered: true });
  await gotWs.wait(1);
  await gotPoll.wait(1);
  assert.deepEqual(gotWs, [['you have mail']]);
  assert.deepEqual(gotPoll, [['you have mail']]);

  // A bad body: 400 and nothing emitted.
  const bad = await post(`/api/notify/${user}`, '{"text":', { 'Content-Type': 'application/json' });
  assert.equal(bad.status, 400);
  await post(`/api/notify/${user}`, JSON.stringify({ text: 'second' }));
  await gotWs.wait(2);
  await gotPoll.wait(2);
  assert.deepEqual(gotWs, [['you have mail'], ['second']]);
  assert.deepEqual(gotPoll, [['you have mail'], ['second']]);
  assert.deepEqual(gotBob, []);
});

test('HEAD on a GET route runs the GET handler (req.method "HEAD") and answers its headers with no body', async () => {
  const c = await RawConn.connect(srv.port);
  await c.write('HEAD /api/head-check HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  const closed = await c.waitClose(3000);
  c.destroy();
  const raw = c.data.toString('latin1');
  assert.ok(closed, `the connection was not closed after Connection: close; got ${JSON.stringify(raw)}`);
  assert.match(raw, /^HTTP\/1\.1 200 /);
  assert.match(raw, /\r\nx-route: get HEAD\r\n/i);
  assert.match(raw, /\r\ncontent-length: 19\r\n/i);
  assert.ok(raw.endsWith('\r\n\r\n'), `HEAD answer carries a body: ${JSON.stringify(raw)}`);

  const g = await get('/api/head-check');
  assert.equal(g.text, 'the body of the GET');
  assert.equal(g.headers['x-route'], 'get GET');
});

test('pipelined requests on one connection are answered in order even when the first handler waits', async () => {
  const key = uniq('pipe');
  const c = await RawConn.connect(srv.port);
  await c.write(`GET /api/hold/${key} HTTP/1.1\r\nHost: x\r\n\r\nGET /api/users/77 HTTP/1.1\r\nHost: x\r\n\r\n`);
  await get('/api/users/0'); // another connection meanwhile
  assert.equal((await post(`/api/release/${key}`, '')).status, 200);
  const { responses } = await c.readResponses(2);
  c.destroy();
  assert.equal(responses[0].text, `released ${key}`);
  assert.equal(responses[1].status, 200);
  assert.deepEqual(JSON.parse(responses[1].text).params, { id: '77' });
});

test('a client that disconnects before a slow handler answers: the answer goes nowhere (res:send returns false) and the server stays healthy', async (t) => {
  const s = await connected(srv, '/', { t, transports: ['websocket'] });
  for (let i = 0; i < 3; i += 1) {
    const key = uniq('gone');
    const c = await RawConn.connect(srv.port);
    await c.write(`GET /api/hold/${key} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await get('/api/users/0'); // the hold request has reached its handler by now
    c.destroy();
    await c.waitClose();
    const off = srv.stderr().length;
    await post(`/api/release/${key}`, '');
    const line = await logLine(off, new RegExp(`hold ${key} answered: `));
    assert.match(line, /answered: false$/);
  }
  const next = await get('/api/users/3');
  assert.equal(next.status, 200);
  assert.deepEqual(json(next).params, { id: '3' });
  assert.deepEqual(await ask(s, 'login', uniq('u')), []);
  assert.equal(srv.proc.exitCode, null);
});

// Last: a crash or a sanitizer report anywhere in the run shows up here.
test('the server exits 0 on SIGTERM after the run, with no crash or sanitizer report', async () => {
  assert.deepEqual(await stopProblems(srv), []);
});
