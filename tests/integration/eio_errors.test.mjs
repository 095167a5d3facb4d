// Engine.IO error answers, checked with raw HTTP against what Node's
// engine.io answers (packages/engine.io/lib/server.ts, verify() and
// handshake()): HTTP 400, Content-Type application/json, body
// {"code":N,"message":"..."}; plus the requests that must close a session.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, request, eioUrl, eioHandshake, eioGet, eioPost, probeSession, waitSessionGone,
  RawConn, rawRequest, sleep,
} from './lib/server.mjs';
import { openRawWs, wsUrl } from './lib/eio.mjs';

const MESSAGES = {
  0: 'Transport unknown',
  1: 'Session ID unknown',
  2: 'Bad handshake method',
  3: 'Bad request',
  4: 'Forbidden',
  5: 'Unsupported protocol version',
};
const MAX = 1000; // maxHttpBufferSize for this file's main server

let srv;
before(async () => {
  srv = await startServer({ args: ['--eio-echo', '/engine.io/', '--set', `maxHttpBufferSize=${MAX}`] });
});
after(async () => {
  await srv?.stop();
});

function assertEioError(res, code, what) {
  if (res.stillAlive) what += ' (the session was still alive at the deadline: a GET with the other transport got code 3)';
  assert.equal(res.status, 400, `${what}: status ${res.status}, body ${JSON.stringify(res.text)}`);
  assert.match(res.headers['content-type'] || '', /^application\/json/, `${what}: content-type`);
  assert.deepEqual(JSON.parse(res.text), { code, message: MESSAGES[code] }, what);
}

// [behaviour, method, query (null value = parameter left out), code]
const table = [
  ['unknown transport "abc" answers code 0', 'GET', { transport: 'abc' }, 0],
  ['missing transport answers code 0', 'GET', { transport: null }, 0],
  ['unknown transport is checked before the handshake method (POST, no sid)', 'POST', { transport: 'abc' }, 0],
  ['unknown transport is checked before the protocol version (EIO=3)', 'GET', { transport: 'abc', EIO: '3' }, 0],
  ['unknown sid on GET answers code 1', 'GET', { sid: 'AAAAAAAAAAAAAAAAAAAA' }, 1],
  ['unknown sid on POST answers code 1', 'POST', { sid: 'nope' }, 1],
  ['POST without sid answers code 2', 'POST', {}, 2],
  ['PUT without sid answers code 2', 'PUT', {}, 2],
  ['POST without sid answers code 2 even with EIO=3 (method is checked first)', 'POST', { EIO: '3' }, 2],
  ['websocket transport as a plain GET (no Upgrade headers, no sid) answers code 3', 'GET', { transport: 'websocket' }, 3],
  ['EIO=3 with allowEIO3 off answers code 5', 'GET', { EIO: '3' }, 5],
  ['missing EIO answers code 5 (Node treats it as protocol 3)', 'GET', { EIO: null }, 5],
  ['non-numeric EIO=abc answers code 5', 'GET', { EIO: 'abc' }, 5],
];

for (const [name, method, query, code] of table) {
  test(name, async () => {
    const q = new URLSearchParams({ EIO: '4', transport: 'polling' });
    for (const [k, v] of Object.entries(query)) {
      if (v === null) q.delete(k); else q.set(k, v);
    }
    const url = `${srv.url}/engine.io/?${q}`;
    const res = await request(url, { method, body: method === 'GET' ? undefined : '4x', headers: method === 'GET' ? {} : { 'Content-Type': 'text/plain' } });
    assertEioError(res, code, `${method} ${url}`);
  });
}

// Node's engine.io answers code 4 only from an allowRequest hook, and then
// with HTTP 403, not 400; siolua has no such hook, so there is no Node
// behaviour to compare with here. (The cors tests cover origins outside
// cors.origin, which Node does not refuse.)
test('code 4 "Forbidden" (Node: only from an allowRequest hook, with HTTP 403)', { skip: 'no --set option maps to allowRequest' }, () => {});

test('a plain GET with transport=websocket naming a polling sid answers code 3 and leaves the session working', async () => {
  const { sid } = await eioHandshake(srv.url);
  const res = await request(eioUrl(srv.url, '/engine.io/', { sid, transport: 'websocket' }));
  assertEioError(res, 3, 'transport mismatch');
  const p = await eioPost(srv.url, sid, '4still');
  assert.equal(p.status, 200);
  const g = await eioGet(srv.url, sid);
  assert.equal(g.text, '4still');
});

test('a polling handshake when only websocket is enabled answers code 0', async (t) => {
  const s = await startServer({ t, args: ['--eio-echo', '/engine.io/', '--set', 'transports=websocket'] });
  assertEioError(await request(eioUrl(s.url)), 0, 'polling disabled');
  await s.stop();
});

test('a plain GET with transport=websocket when only polling is enabled answers code 0', async (t) => {
  const s = await startServer({ t, args: ['--eio-echo', '/engine.io/', '--set', 'transports=polling'] });
  assertEioError(await request(eioUrl(s.url, '/engine.io/', { transport: 'websocket' })), 0, 'websocket disabled');
  await s.stop();
});

test('a POST body exactly at maxHttpBufferSize is accepted and echoed', async () => {
  const { sid } = await eioHandshake(srv.url);
  const body = '4' + 'a'.repeat(MAX - 1);
  const p = await eioPost(srv.url, sid, body);
  assert.equal(p.status, 200);
  assert.equal(p.text, 'ok');
  const g = await eioGet(srv.url, sid);
  assert.equal(g.text, body);
});

test('a POST body over maxHttpBufferSize answers 413 and closes the session', async () => {
  const { sid } = await eioHandshake(srv.url);
  const p = await eioPost(srv.url, sid, '4' + 'a'.repeat(MAX * 5));
  assert.equal(p.status, 413);
  const res = await waitSessionGone(srv.url, sid, { deadlineMs: 1000 });
  assertEioError(res, 1, 'GET after the 413');
});

test('a POST announcing a huge Content-Length (1 TB) answers 413 without waiting for the body and closes the session', async () => {
  const { sid } = await eioHandshake(srv.url);
  const c = await RawConn.connect(srv.port);
  try {
    await c.write(`POST /engine.io/?EIO=4&transport=polling&sid=${encodeURIComponent(sid)} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1099511627776\r\n\r\n4`);
    // Feed up to 2 MB while no answer came, so a server that only counts
    // the bytes it has read (as Node does) gets past its limit too.
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    for (let sent = 0; sent < 2 * 1024 * 1024 && c.data.length === 0 && !c.closed; sent += chunk.length) {
      if (!(await c.write(chunk))) break;
    }
    const { responses } = await c.readResponses(1, { timeoutMs: 3000 });
    assert.equal(responses[0].status, 413);
  } finally {
    c.destroy();
  }
  const res = await waitSessionGone(srv.url, sid, { deadlineMs: 1000 });
  assertEioError(res, 1, 'GET after the huge POST');
});

test('a Content-Length too large for 64 bits is refused with 400 or 413 and the server keeps serving', async () => {
  const { response, closed } = await rawRequest(srv.port,
    'POST /engine.io/?EIO=4&transport=polling&sid=x HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999999\r\n\r\n4x',
    { closeWaitMs: 2000 });
  assert.ok([400, 413].includes(response.status), `status ${response.status}`);
  assert.equal(closed, true, 'connection left open after an unparsable Content-Length');
  const { handshake } = await eioHandshake(srv.url);
  assert.equal(typeof handshake.sid, 'string');
});

test('a POST with Content-Type application/octet-stream (binary body, not allowed in v4) answers 400 and closes the session', async () => {
  const { sid } = await eioHandshake(srv.url);
  const p = await eioPost(srv.url, sid, Buffer.from([0x34, 0x61]), { headers: { 'Content-Type': 'application/octet-stream' } });
  assert.equal(p.status, 400);
  const res = await waitSessionGone(srv.url, sid, { deadlineMs: 1000 });
  assertEioError(res, 1, 'GET after the binary POST');
});

for (const [label, body] of [['"abc"', 'abc'], ['unknown packet type "9x"', '9x'], ['a valid packet followed by garbage', '4ok\x1ezzz']]) {
  test(`a POST body with ${label} closes the session (next GET gets 400 code 1)`, async () => {
    const { sid } = await eioHandshake(srv.url);
    await eioPost(srv.url, sid, body); // Node answers 200 ok; the status is not the point
    const res = await waitSessionGone(srv.url, sid, { deadlineMs: 1000 });
    assertEioError(res, 1, `GET after ${label}`);
  });
}

test('a POST whose body is cut short (connection closed before Content-Length bytes) closes the session', async () => {
  const { sid } = await eioHandshake(srv.url);
  const c = await RawConn.connect(srv.port);
  await c.write(`POST /engine.io/?EIO=4&transport=polling&sid=${encodeURIComponent(sid)} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n4truncated`);
  await sleep(50);
  c.destroy();
  const res = await waitSessionGone(srv.url, sid, { deadlineMs: 1000 });
  assertEioError(res, 1, 'GET after the truncated POST');
});

test('a second GET while one is parked answers 400, completes the first GET with close packet "1", and ends the session', async () => {
  const { sid } = await eioHandshake(srv.url);
  const first = eioGet(srv.url, sid);
  await sleep(50);
  const second = await eioGet(srv.url, sid, { timeoutMs: 2000 });
  assert.equal(second.status, 400);
  const f = await first;
  assert.equal(f.status, 200);
  assert.equal(f.text, '1');
  const res = await eioGet(srv.url, sid, { timeoutMs: 2000 });
  assertEioError(res, 1, 'GET after the overlap');
});

test('a POST on a sid that was upgraded to websocket answers 400 code 3', async (t) => {
  const { sid } = await eioHandshake(srv.url);
  const ws = await openRawWs(wsUrl(srv, { sid }), { t });
  ws.ws.send('2probe');
  await ws.waitFrames(1);
  assert.deepEqual(ws.frames[0], { text: '3probe' });
  ws.ws.send('5');
  ws.ws.send('4up');
  await ws.waitFrames(2);
  const p = await eioPost(srv.url, sid, '4late');
  assertEioError(p, 3, 'POST after upgrade');
  // and the websocket is unaffected
  ws.ws.send('4more');
  await ws.waitFrames(3);
  assert.deepEqual(ws.frames[2], { text: '4more' });
});

test('websocket handshake with EIO=3 (allowEIO3 off) never yields an open packet', async (t) => {
  let c;
  try {
    c = await openRawWs(wsUrl(srv, { EIO: '3' }), { t });
  } catch (e) {
    assert.equal(e.statusCode, 400, e.message);
    return;
  }
  assert.equal(await c.closesWithin(2000), true, 'connection stays open');
  assert.ok(!c.frames.some((f) => f.text?.startsWith('0')), `got an open packet: ${JSON.stringify(c.frames)}`);
});

test('websocket handshake with an unknown transport is refused with HTTP 400', async (t) => {
  await assert.rejects(openRawWs(wsUrl(srv, { transport: 'abc' }), { t }), (e) => {
    assert.equal(e.statusCode, 400, e.message);
    return true;
  });
});

test('after all of the above the server still answers a handshake and echoes', async () => {
  const { sid } = await eioHandshake(srv.url);
  await eioPost(srv.url, sid, '4alive');
  const g = await eioGet(srv.url, sid);
  assert.equal(g.text, '4alive');
  const { state } = await probeSession(srv.url, sid);
  assert.equal(state, 'alive');
});
