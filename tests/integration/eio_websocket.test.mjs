// Engine.IO v4 over WebSocket only (no polling first) against the
// --eio-echo endpoint: the real engine.io-client, and raw `ws` frames where
// the framing itself is the point.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, waitSessionGone, probeSession, once, asBytes, sleep } from './lib/server.mjs';
import { openEio, openRawWs, wsUrl } from './lib/eio.mjs';

let srv;
before(async () => {
  srv = await startServer({ args: ['--eio-echo', '/engine.io/'] });
});
after(async () => {
  await srv?.stop();
});

test('direct websocket: the first frame is a text open packet with exactly the five keys and upgrades []', async (t) => {
  const c = await openRawWs(wsUrl(srv), { t });
  await c.waitFrames(1);
  const f = c.frames[0];
  assert.equal(typeof f.text, 'string', `first frame is binary: ${JSON.stringify(f)}`);
  assert.equal(f.text[0], '0');
  const hs = JSON.parse(f.text.slice(1));
  assert.deepEqual(Object.keys(hs).sort(), ['maxPayload', 'pingInterval', 'pingTimeout', 'sid', 'upgrades']);
  assert.deepEqual(hs.upgrades, []);
  assert.equal(typeof hs.sid, 'string');
  assert.equal(hs.maxPayload, 1000000);
});

test('engine.io-client opens a websocket-only session directly (handshake upgrades [] and transport websocket)', async (t) => {
  const c = await openEio(srv, { t, transports: ['websocket'] });
  assert.equal(c.socket.transport.name, 'websocket');
  assert.deepEqual(c.handshake.upgrades, []);
  assert.equal(c.handshake.sid, c.socket.id);
});

test('text message is echoed back as text over websocket', async (t) => {
  const c = await openEio(srv, { t, transports: ['websocket'] });
  c.socket.send('hello ws');
  await c.waitMessages(1);
  assert.equal(c.messages[0], 'hello ws');
});

test('binary message is echoed back as binary with identical bytes over websocket', async (t) => {
  const c = await openEio(srv, { t, transports: ['websocket'] });
  const bytes = Uint8Array.from({ length: 256 }, (_, i) => 255 - i);
  c.socket.send(bytes);
  await c.waitMessages(1);
  assert.notEqual(typeof c.messages[0], 'string');
  assert.deepEqual(asBytes(c.messages[0]), Buffer.from(bytes));
});

test('raw frames: text frame "4hello" comes back as "4hello", binary frame 01 02 03 04 comes back as the same bytes with no type prefix', async (t) => {
  const c = await openRawWs(wsUrl(srv), { t });
  await c.waitFrames(1); // open
  c.ws.send('4hello');
  c.ws.send(Buffer.from([1, 2, 3, 4]));
  await c.waitFrames(3);
  assert.deepEqual(c.frames[1], { text: '4hello' });
  assert.deepEqual(c.frames[2], { binary: Buffer.from([1, 2, 3, 4]) });
});

test('500 KB text and 500 KB binary messages are echoed intact', async (t) => {
  const c = await openEio(srv, { t, transports: ['websocket'] });
  const text = 'x'.repeat(250_000) + '€'.repeat(80_000) + 'end'; // 490 003 bytes of UTF-8
  const bin = Buffer.alloc(500_000);
  for (let i = 0; i < bin.length; i++) bin[i] = (i * 7 + 3) & 0xff;
  c.socket.send(text);
  c.socket.send(bin);
  await c.waitMessages(2, 10000);
  assert.equal(c.messages[0].length, text.length);
  assert.ok(c.messages[0] === text, 'large text differs');
  assert.ok(asBytes(c.messages[1]).equals(bin), 'large binary differs');
});

test('2000 messages sent back to back over websocket are all echoed once, in order', async (t) => {
  const c = await openEio(srv, { t, transports: ['websocket'] });
  const N = 2000;
  for (let i = 0; i < N; i++) c.socket.send(String(i));
  await c.waitMessages(N);
  await sleep(50);
  assert.deepEqual(c.messages, Array.from({ length: N }, (_, i) => String(i)));
});

test('an unparsable text frame "abc" closes the websocket', async (t) => {
  const c = await openRawWs(wsUrl(srv), { t });
  await c.waitFrames(1);
  c.ws.send('abc');
  assert.equal(await c.closesWithin(2000), true, 'socket still open 2 s after "abc"');
});

test('a close packet "1" sent as a text frame closes the websocket at once (not by ping timeout)', async (t) => {
  const c = await openRawWs(wsUrl(srv), { t });
  await c.waitFrames(1);
  const sid = JSON.parse(c.frames[0].text.slice(1)).sid;
  c.ws.send('1');
  assert.equal(await c.closesWithin(1000), true, 'socket still open 1 s after "1" (pingInterval is 25 s)');
  const res = await waitSessionGone(srv.url, sid, { transport: 'websocket', deadlineMs: 1000 });
  assert.deepEqual(JSON.parse(res.text), { code: 1, message: 'Session ID unknown' });
});

test('engine.io-client close() over websocket ends the session on the server', async (t) => {
  const c = await openEio(srv, { t, transports: ['websocket'] });
  const sid = c.socket.id;
  const closed = once(c.socket, 'close');
  c.socket.close();
  await closed;
  const res = await waitSessionGone(srv.url, sid, { transport: 'websocket' });
  assert.equal(res.status, 400);
  assert.deepEqual(JSON.parse(res.text), { code: 1, message: 'Session ID unknown' });
});

test('websocket upgrade naming an unknown sid is refused (HTTP 400 or closed without an open packet)', async (t) => {
  let c;
  try {
    c = await openRawWs(wsUrl(srv, { sid: 'no-such-sid' }), { t });
  } catch (e) {
    assert.equal(e.statusCode, 400, e.message);
    return;
  }
  assert.equal(await c.closesWithin(2000), true, 'connection stays open');
  assert.ok(!c.frames.some((f) => f.text?.startsWith('0')), `got an open packet: ${JSON.stringify(c.frames)}`);
});

test('websocket message at maxHttpBufferSize is echoed; one far over it closes the socket and is not echoed', async (t) => {
  const small = await startServer({ t, args: ['--eio-echo', '/engine.io/', '--set', 'maxHttpBufferSize=1000'] });
  const c = await openRawWs(wsUrl(small), { t });
  await c.waitFrames(1);
  assert.equal(JSON.parse(c.frames[0].text.slice(1)).maxPayload, 1000);
  const atLimit = '4' + 'a'.repeat(999); // 1000 bytes
  c.ws.send(atLimit);
  await c.waitFrames(2);
  assert.deepEqual(c.frames[1], { text: atLimit });
  c.ws.send('4' + 'b'.repeat(5000));
  assert.equal(await c.closesWithin(2000), true, 'socket still open after a 5001-byte frame');
  assert.ok(!c.frames.some((f) => f.text?.startsWith('4b')), 'oversized message was echoed');
  await small.stop();
});

// The output cap is set small (sessionQueueCap, in bytes) so the test does
// not have to fill the default 16 MB plus the kernel's socket buffers.
test('slow reader: a websocket client that stops reading while the echo piles up is cut off at the output cap', async (t) => {
  const s = await startServer({ t, args: ['--eio-echo', '/engine.io/', '--set', 'sessionQueueCap=2000000'] });
  const c = await openRawWs(wsUrl(s), { t });
  await c.waitFrames(1);
  const sid = JSON.parse(c.frames[0].text.slice(1)).sid;
  c.ws.pause(); // stop reading from the socket: the server's writes back up
  const msg = '4' + 'z'.repeat(500_000);
  let gone = false;
  // Up to 64 MB of echo: far over the cap plus any kernel buffering.
  for (let i = 0; i < 128 && !gone; i++) {
    await new Promise((resolve) => c.ws.send(msg, () => resolve()));
    if (i % 16 === 15) gone = (await probeSession(s.url, sid, { transport: 'websocket' })).state === 'gone';
  }
  const res = await waitSessionGone(s.url, sid, { transport: 'websocket', deadlineMs: 3000 });
  assert.equal(res.status, 400, 'session still alive after 64 MB of unread echo');
  assert.deepEqual(JSON.parse(res.text), { code: 1, message: 'Session ID unknown' });
  // The server itself is fine.
  const other = await openEio(s, { t, transports: ['websocket'] });
  other.socket.send('ok');
  await other.waitMessages(1);
  await s.stop();
});
