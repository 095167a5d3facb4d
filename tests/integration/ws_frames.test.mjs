// WebSocket framing rules the real clients never break, against the
// --eio-echo endpoint: frames are written raw under the `ws` client (or
// with its fragment/ping options) and the server's answer is read as
// `ws` sees it. Close codes are the ones Node's `ws` server sends.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import crypto from 'node:crypto';
import { startServer, once } from './lib/server.mjs';
import { openRawWs, wsUrl, clientFrame, closeCode } from './lib/eio.mjs';

const MAX = 1000; // maxHttpBufferSize: the largest message accepted
let srv;
before(async () => {
  srv = await startServer({ args: ['--eio-echo', '/engine.io/', '--set', `maxHttpBufferSize=${MAX}`] });
});
after(async () => {
  await srv?.stop();
});

const frame = clientFrame;

async function opened(t) {
  const c = await openRawWs(wsUrl(srv), { t });
  await c.waitFrames(1); // the open packet
  return c;
}

test('an unmasked client frame closes the websocket with 1002', async (t) => {
  const c = await opened(t);
  c.ws._socket.write(frame('4hello', { masked: false }));
  assert.equal(await closeCode(c), 1002);
  assert.equal(c.frames.length, 1, 'nothing was echoed');
});

test('a frame with an RSV bit set (no extension negotiated) closes with 1002', async (t) => {
  for (const rsv of [4, 2, 1]) {
    const c = await opened(t);
    c.ws._socket.write(frame('4hello', { rsv }));
    assert.equal(await closeCode(c), 1002, `rsv ${rsv}`);
  }
});

test('an unknown opcode, a fragmented ping and a continuation with nothing open close with 1002', async (t) => {
  for (const f of [frame('x', { op: 3 }), frame('x', { op: 9, fin: false }), frame('4x', { op: 0 })]) {
    const c = await opened(t);
    c.ws._socket.write(f);
    assert.equal(await closeCode(c), 1002);
  }
});

test('a message over maxHttpBufferSize closes with 1009, also when only its fragments together are over', async (t) => {
  const c = await opened(t);
  c.ws.send('4' + 'b'.repeat(MAX));
  assert.equal(await closeCode(c), 1009);
  assert.equal(c.frames.length, 1, 'the oversized message was echoed');

  const d = await opened(t);
  d.ws.send('4' + 'a'.repeat(600), { fin: false });
  d.ws.send('b'.repeat(400), { fin: true }); // 1001 bytes in all
  assert.equal(await closeCode(d), 1009);
});

test('a text message that is not UTF-8 closes with 1007; the same bytes as binary are echoed', async (t) => {
  const c = await opened(t);
  c.ws.send(Buffer.from([0x34, 0xff, 0xfe]), { binary: false });
  assert.equal(await closeCode(c), 1007);

  const d = await opened(t);
  d.ws.send(Buffer.from([0x34, 0xc3]), { binary: false, fin: false }); // "4" + half of "é"
  d.ws.send(Buffer.from([0xa9]), { binary: false, fin: true });
  await d.waitFrames(2);
  assert.deepEqual(d.frames[1], { text: '4é' }, 'a code point split between fragments is fine');
  d.ws.send(Buffer.from([0xff, 0xfe]), { binary: true });
  await d.waitFrames(3);
  assert.deepEqual(d.frames[2], { binary: Buffer.from([0xff, 0xfe]) });
});

test('a ping with a payload is answered by a pong with the same payload', async (t) => {
  const c = await opened(t);
  const payload = crypto.randomBytes(125);
  const pong = once(c.ws, 'pong');
  c.ws.ping(payload);
  const data = await pong;
  assert.deepEqual(Buffer.from(data), payload);
  const empty = once(c.ws, 'pong');
  c.ws.ping();
  assert.equal((await empty).length, 0);
});

test('a fragmented message with pings between its fragments is delivered whole, the pings answered', async (t) => {
  const c = await opened(t);
  const pongs = [];
  c.ws.on('pong', (d) => pongs.push(d.toString()));
  c.ws.send('4frag', { fin: false });
  c.ws.ping('p1');
  c.ws.send('men', { fin: false });
  c.ws.ping('p2');
  c.ws.send('ted', { fin: true });
  await c.waitFrames(2);
  assert.deepEqual(c.frames[1], { text: '4fragmented' });
  assert.deepEqual(pongs, ['p1', 'p2']);
});

test('a close frame with a code is answered by a close frame with the same code', async (t) => {
  const c = await opened(t);
  c.ws.close(4321, 'bye');
  assert.equal(await closeCode(c), 4321);

  const d = await opened(t);
  d.ws._socket.write(frame(Buffer.from([0x03, 0xe8, 0xc0, 0xaf]), { op: 8 })); // 1000, bad UTF-8 reason
  assert.equal(await closeCode(d), 1007);

  const e = await opened(t);
  e.ws._socket.write(frame(Buffer.from([0x03]), { op: 8 })); // 1-byte close payload
  assert.equal(await closeCode(e), 1002);

  const f = await opened(t);
  f.ws._socket.write(frame(Buffer.from([0x03, 0xed]), { op: 8 })); // 1005 may not be sent
  assert.equal(await closeCode(f), 1002);
});

test('frames split across writes and frames behind the handshake are parsed the same', async () => {
  const key = crypto.randomBytes(16).toString('base64');
  const req = `GET /engine.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n` +
    `Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${key}\r\n\r\n`;
  const big = '4' + 'x'.repeat(300); // 16-bit length form
  const bytes = Buffer.concat([Buffer.from(req), frame('pp', { op: 9 }), frame('4one'), frame(big)]);
  const cut = req.length + 10; // inside the text frame: the rest comes a moment later
  const got = await new Promise((resolve) => {
    const s = net.connect(srv.port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    s.on('data', (d) => { buf = Buffer.concat([buf, d]); });
    s.on('connect', async () => {
      s.write(bytes.subarray(0, cut));
      await new Promise((r) => setTimeout(r, 100));
      for (let i = cut; i < bytes.length; i += 7) {
        s.write(bytes.subarray(i, i + 7));
        await new Promise((r) => setTimeout(r, 2));
      }
    });
    setTimeout(() => { s.destroy(); resolve(buf); }, 800);
  });
  const body = got.subarray(got.indexOf('\r\n\r\n') + 4);
  const frames = [];
  for (let i = 0; i < body.length;) {
    let len = body[i + 1] & 0x7f, at = i + 2;
    if (len === 126) { len = body.readUInt16BE(at); at += 2; }
    frames.push({ op: body[i] & 0x0f, data: body.subarray(at, at + len).toString() });
    i = at + len;
  }
  assert.match(got.toString('latin1'), /^HTTP\/1\.1 101/);
  assert.ok(frames.some((f) => f.op === 10 && f.data === 'pp'), `no pong: ${JSON.stringify(frames)}`);
  const texts = frames.filter((f) => f.op === 1).map((f) => f.data);
  assert.equal(texts.length, 3, JSON.stringify(texts));
  assert.match(texts[0], /^0\{"sid"/);
  assert.deepEqual(texts.slice(1), ['4one', big]);
});
