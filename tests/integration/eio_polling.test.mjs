// Engine.IO v4 over HTTP long-polling against the --eio-echo endpoint, with
// the real engine.io-client and with raw requests where the wire format
// itself is the point.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startServer, request, eioUrl, eioHandshake, eioGet, eioPost, decodePayload,
  waitSessionGone, once, asBytes, SEP, sleep, rawRequest, RawConn,
} from './lib/server.mjs';
import { openEio } from './lib/eio.mjs';

let srv;
before(async () => {
  srv = await startServer({ args: ['--eio-echo', '/engine.io/'] });
});
after(async () => {
  await srv?.stop();
});

test('polling handshake answers 200 with an open packet holding exactly sid, upgrades, pingInterval, pingTimeout, maxPayload', async () => {
  const res = await request(eioUrl(srv.url));
  assert.equal(res.status, 200);
  assert.match(res.headers['content-type'] || '', /^text\/plain/);
  assert.equal(res.text[0], '0', `body: ${JSON.stringify(res.text)}`);
  const hs = JSON.parse(res.text.slice(1));
  assert.deepEqual(Object.keys(hs).sort(), ['maxPayload', 'pingInterval', 'pingTimeout', 'sid', 'upgrades']);
  assert.equal(typeof hs.sid, 'string');
  assert.ok(hs.sid.length > 0);
  assert.deepEqual(hs.upgrades, ['websocket']);
  assert.equal(hs.pingInterval, 25000);
  assert.equal(hs.pingTimeout, 20000);
  assert.equal(hs.maxPayload, 1000000);
});

test('two handshakes get different sids', async () => {
  const a = await eioHandshake(srv.url);
  const b = await eioHandshake(srv.url);
  assert.notEqual(a.sid, b.sid);
});

test('engine.io-client opens a polling-only session', async (t) => {
  const c = await openEio(srv, { t, transports: ['polling'] });
  assert.equal(c.socket.readyState, 'open');
  assert.equal(c.socket.transport.name, 'polling');
  assert.equal(typeof c.socket.id, 'string');
  assert.equal(c.handshake.sid, c.socket.id);
});

test('text message is echoed back as text', async (t) => {
  const c = await openEio(srv, { t });
  c.socket.send('hello');
  await c.waitMessages(1);
  assert.equal(c.messages[0], 'hello');
});

test('multi-byte UTF-8 text (accents, euro sign, emoji) is echoed unchanged', async (t) => {
  const c = await openEio(srv, { t });
  const s = 'héllo € 😀 — 日本語';
  c.socket.send(s);
  await c.waitMessages(1);
  assert.equal(c.messages[0], s);
});

test('300 messages sent back to back are all echoed once, in order', async (t) => {
  const c = await openEio(srv, { t });
  const N = 300;
  for (let i = 0; i < N; i++) c.socket.send(`m${i}`);
  await c.waitMessages(N);
  await sleep(50); // anything extra (a duplicate) would show up here
  assert.deepEqual(c.messages, Array.from({ length: N }, (_, i) => `m${i}`));
});

test('binary Uint8Array with all 256 byte values is echoed as binary with identical bytes', async (t) => {
  const c = await openEio(srv, { t });
  const bytes = Uint8Array.from({ length: 256 }, (_, i) => i);
  c.socket.send(bytes);
  await c.waitMessages(1);
  const got = c.messages[0];
  assert.notEqual(typeof got, 'string', 'binary came back as text');
  assert.deepEqual(asBytes(got), Buffer.from(bytes));
});

test('binary ArrayBuffer is echoed as binary with identical bytes', async (t) => {
  const c = await openEio(srv, { t });
  const ab = new Uint8Array([0, 1, 2, 250, 251, 255, 0x1e, 0x34]).buffer;
  c.socket.send(ab);
  await c.waitMessages(1);
  assert.notEqual(typeof c.messages[0], 'string');
  assert.deepEqual(asBytes(c.messages[0]), Buffer.from(ab));
});

test('interleaved text and binary messages keep their order and their kinds', async (t) => {
  const c = await openEio(srv, { t });
  const sent = [];
  for (let i = 0; i < 40; i++) {
    const m = i % 2 ? Buffer.from([i, 255 - i]) : `text-${i}`;
    sent.push(m);
    c.socket.send(m);
  }
  await c.waitMessages(sent.length);
  c.messages.forEach((m, i) => {
    if (typeof sent[i] === 'string') assert.equal(m, sent[i], `message ${i}`);
    else assert.deepEqual(asBytes(m), sent[i], `message ${i}`);
  });
});

test('raw POST answers 200 with body exactly "ok" and the echo comes back on the next GET', async () => {
  const { sid } = await eioHandshake(srv.url);
  const p = await eioPost(srv.url, sid, '4hello');
  assert.equal(p.status, 200);
  assert.equal(p.text, 'ok');
  const g = await eioGet(srv.url, sid);
  assert.equal(g.status, 200);
  assert.equal(g.text, '4hello');
});

test('binary travels as "b" + base64 in polling bodies in both directions', async () => {
  const { sid } = await eioHandshake(srv.url);
  const p = await eioPost(srv.url, sid, 'bAQIDBA==');
  assert.equal(p.status, 200);
  const g = await eioGet(srv.url, sid);
  assert.equal(g.text, 'bAQIDBA==');
});

test('several queued packets are returned in one GET body joined by \\x1e, in order', async () => {
  const { sid } = await eioHandshake(srv.url);
  const p = await eioPost(srv.url, sid, ['4a', 'bAQIDBA==', '4c'].join(SEP));
  assert.equal(p.status, 200);
  const g = await eioGet(srv.url, sid);
  assert.deepEqual(decodePayload(g.text), ['4a', 'bAQIDBA==', '4c']);
});

test('a parked GET is answered as soon as a message is posted', async () => {
  const { sid } = await eioHandshake(srv.url);
  const parked = eioGet(srv.url, sid);
  await sleep(50);
  const p = await eioPost(srv.url, sid, '4wake');
  assert.equal(p.status, 200);
  const g = await parked;
  assert.equal(g.status, 200);
  assert.equal(g.text, '4wake');
});

test('close packet posted while a GET is parked completes the GET with noop "6" and ends the session', async () => {
  const { sid } = await eioHandshake(srv.url);
  const parked = eioGet(srv.url, sid);
  await sleep(50);
  const p = await eioPost(srv.url, sid, '1');
  assert.equal(p.status, 200);
  const g = await parked;
  assert.equal(g.status, 200);
  assert.equal(g.text, '6');
  const after = await eioGet(srv.url, sid);
  assert.equal(after.status, 400);
  assert.deepEqual(JSON.parse(after.text), { code: 1, message: 'Session ID unknown' });
});

test('close packet posted with no GET parked: the GET sent with it still gets noop "6", then the session is gone', async () => {
  // The official suite sends the GET and the close POST at once; either may
  // arrive first. Here the POST surely does.
  const { sid } = await eioHandshake(srv.url);
  const p = await eioPost(srv.url, sid, '1');
  assert.equal(p.status, 200);
  const g = await eioGet(srv.url, sid);
  assert.equal(g.status, 200);
  assert.equal(g.text, '6');
  const after = await eioGet(srv.url, sid);
  assert.equal(after.status, 400);
  assert.deepEqual(JSON.parse(after.text), { code: 1, message: 'Session ID unknown' });
  // A POST after the close finds no session either.
  const late = await eioPost(srv.url, sid, '4hello');
  assert.equal(late.status, 400);
});

test('engine.io-client close() ends the session on the server (next GET with its sid gets 400 code 1)', async (t) => {
  const c = await openEio(srv, { t });
  const sid = c.socket.id;
  c.socket.send('bye');
  await c.waitMessages(1);
  const closed = once(c.socket, 'close');
  c.socket.close();
  await closed;
  const res = await waitSessionGone(srv.url, sid);
  assert.equal(res.status, 400);
  assert.deepEqual(JSON.parse(res.text), { code: 1, message: 'Session ID unknown' });
});

test('a GET whose client drops the connection closes the session', async () => {
  const { sid } = await eioHandshake(srv.url);
  const ac = new AbortController();
  const http = await import('node:http');
  const req = http.request(eioUrl(srv.url, '/engine.io/', { sid }), { agent: false, signal: ac.signal });
  req.on('error', () => {});
  req.end();
  await sleep(100);
  ac.abort();
  const res = await waitSessionGone(srv.url, sid);
  assert.equal(res.status, 400);
  assert.deepEqual(JSON.parse(res.text), { code: 1, message: 'Session ID unknown' });
});

test('a 900 KB text message and a 500 KB binary message round-trip over polling', async (t) => {
  const c = await openEio(srv, { t });
  const text = 'p'.repeat(900_000);
  const bin = Buffer.alloc(500_000);
  for (let i = 0; i < bin.length; i++) bin[i] = (i * 13) & 0xff;
  c.socket.send(text);
  c.socket.send(bin);
  await c.waitMessages(2, 10000);
  assert.ok(c.messages[0] === text, 'large text differs');
  assert.ok(asBytes(c.messages[1]).equals(bin), 'large binary differs');
});

test('a POST with a chunked body (Transfer-Encoding: chunked) is accepted and echoed', async () => {
  const { sid } = await eioHandshake(srv.url);
  const { response } = await rawRequest(srv.port,
    `POST /engine.io/?EIO=4&transport=polling&sid=${encodeURIComponent(sid)} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n4ch\r\n3\r\nunk\r\n0\r\n\r\n`);
  assert.equal(response.status, 200);
  assert.equal(response.text, 'ok');
  const g = await eioGet(srv.url, sid);
  assert.equal(g.text, '4chunk');
});

test('a POST and a GET pipelined on one keep-alive connection are answered in order', async () => {
  const { sid } = await eioHandshake(srv.url);
  const q = `/engine.io/?EIO=4&transport=polling&sid=${encodeURIComponent(sid)}`;
  const c = await RawConn.connect(srv.port);
  try {
    await c.write(`POST ${q} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n4pipeGET ${q} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const { responses } = await c.readResponses(2);
    assert.equal(responses[0].status, 200);
    assert.equal(responses[0].text, 'ok');
    assert.equal(responses[1].status, 200);
    assert.equal(responses[1].text, '4pipe');
  } finally {
    c.destroy();
  }
});

// The output cap is set small (sessionQueueCap, in bytes) so the test stays
// fast; the default is far larger.
test('slow reader: a polling session that keeps posting but never polls is closed when its queue passes the cap', async (t) => {
  const s = await startServer({ t, args: ['--eio-echo', '/engine.io/', '--set', 'sessionQueueCap=2000000'] });
  const { sid } = await eioHandshake(s.url);
  const body = '4' + 'q'.repeat(400_000);
  const status = [];
  for (let i = 0; i < 10; i++) { // 4 MB of echo, twice the cap
    const p = await eioPost(s.url, sid, body);
    status.push(p.status);
    if (p.status !== 200) break;
  }
  const res = await waitSessionGone(s.url, sid, { deadlineMs: 1000 });
  assert.equal(res.status, 400, `session alive after 4 MB queued; POST statuses ${status}`);
  assert.deepEqual(JSON.parse(res.text), { code: 1, message: 'Session ID unknown' });
  await s.stop();
});
