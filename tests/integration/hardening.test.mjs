// Regressions for review findings: each drives a pattern that once freed
// memory still in use (the ASan build turns any relapse into a report, and
// server.mjs fails the file on one) or broke the HTTP stream.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import crypto from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer } from './lib/server.mjs';
import { connected, ask, closeClient } from './lib/sio.mjs';

const ROOT = process.env.SIOLUA_ROOT || join(import.meta.dirname, '..', '..');
let srv;
before(async () => {
  srv = await startServer({
    appDir: join(ROOT, 'tests', 'apps', 'hardening'),
    args: ['--no-reload', '--set', 'sessionQueueCap=200000', '--set', 'pingInterval=300', '--set', 'pingTimeout=300'],
  });
});
after(async () => {
  const { code, signal } = await srv.stop();
  assert.equal(code, 0, `exit ${code} ${signal}\n${srv.stderr()}`);
});

// A masked client WebSocket frame.
function frame(text) {
  const payload = Buffer.from(text);
  const mask = crypto.randomBytes(4);
  const head = payload.length < 126 ? Buffer.from([0x81, 0x80 | payload.length]) : null;
  const masked = Buffer.from(payload.map((b, i) => b ^ mask[i % 4]));
  return Buffer.concat([head, mask, masked]);
}

function upgradeRequest(path) {
  return `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\n\r\n`;
}

// Reads what comes back until the socket closes or ms pass.
function exchange(bytes, ms) {
  return new Promise((resolve) => {
    const s = net.connect(srv.port, '127.0.0.1');
    let got = Buffer.alloc(0);
    s.on('data', (d) => { got = Buffer.concat([got, d]); });
    s.on('connect', () => s.write(bytes));
    const done = () => { s.destroy(); resolve(got); };
    s.on('close', done);
    setTimeout(done, ms);
  });
}

async function healthy() {
  const c = await connected(srv, '/', {});
  assert.deepEqual(await ask(c, 'ping-me'), ['pong']);
  closeClient(c);
}

test('WebSocket frames sent in the same write as a direct WebSocket handshake are handled after it, and the server stays sound', async () => {
  const got = await exchange(Buffer.concat([Buffer.from(upgradeRequest('/socket.io/?EIO=4&transport=websocket')),
    frame('40')]), 1200);
  const text = got.toString('latin1');
  assert.match(text, /^HTTP\/1\.1 101/);
  assert.match(text, /0\{"sid"/, 'the open packet');
  assert.match(text, /40\{"sid"/, 'the CONNECT sent right behind the handshake was answered');
  await sleep(700); // past a ping cycle: a dangling transport would be used now
  await healthy();
});

test('2probe and 5 sent in the same write as the upgrade request complete the upgrade, and the server stays sound', async () => {
  const res = await fetch(`${srv.url}/socket.io/?EIO=4&transport=polling`);
  const sid = JSON.parse((await res.text()).slice(1)).sid;
  const got = await exchange(Buffer.concat([Buffer.from(upgradeRequest(`/socket.io/?EIO=4&transport=websocket&sid=${sid}`)),
    frame('2probe'), frame('5'), frame('40')]), 1500);
  const text = got.toString('latin1');
  assert.match(text, /3probe/);
  assert.match(text, /40\{"sid"/);
  await sleep(700);
  await healthy();
});

test('socket:disconnect() inside a "disconnecting" handler does not free the socket under the server', async () => {
  for (let i = 0; i < 3; i++) {
    const c = await connected(srv, '/', {});
    closeClient(c);
  }
  await sleep(200);
  await healthy();
});

test('a long Content-Type is sent whole, and CR/LF in header values never reach the wire', async () => {
  const long = `text/plain; x=${'a'.repeat(700)}`;
  const r1 = await fetch(`${srv.url}/ctype?type=${encodeURIComponent(long)}`);
  assert.equal(r1.status, 200);
  assert.equal(r1.headers.get('content-type'), long);
  assert.equal(await r1.text(), 'body');
  const r2 = await exchange(Buffer.from('GET /ctype?type=text/plain%0d%0aSet-Cookie:%20admin=1&echo=a%0d%0aX-Evil:%201 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), 1000);
  const head = r2.toString('latin1').split('\r\n\r\n')[0];
  assert.doesNotMatch(head, /^Set-Cookie/im);
  assert.doesNotMatch(head, /^X-Evil/im);
  assert.match(head, /^HTTP\/1\.1 200/);
});

test('conn:close() inside a raw Engine.IO "connection" handler: later sends on it fail cleanly', async () => {
  // The session is gone before the handshake is answered: a 400 (code 3).
  const res = await fetch(`${srv.url}/raw/?EIO=4&transport=polling`);
  assert.equal(res.status, 400);
  assert.deepEqual(await res.json(), { code: 3, message: 'Bad request' });
  let late;
  const deadline = Date.now() + 3000;
  do {
    await sleep(50);
    late = (await (await fetch(`${srv.url}/late-send`)).json()).result;
  } while (late === 'pending' && Date.now() < deadline);
  assert.equal(late, false);
  await healthy();
});

test('slow readers dropped in the middle of a broadcast, while "disconnect" handlers broadcast too, leave the server sound', async () => {
  const slow = [];
  for (let i = 0; i < 4; i++) {
    const s = net.connect(srv.port, '127.0.0.1');
    await new Promise((r) => s.on('connect', r));
    s.write(Buffer.concat([Buffer.from(upgradeRequest('/socket.io/?EIO=4&transport=websocket')), frame('40')]));
    s.pause(); // never read: its output piles up
    slow.push(s);
  }
  await sleep(200);
  const talker = await connected(srv, '/', {});
  const big = 'y'.repeat(60000);
  for (let i = 0; i < 12; i++) talker.emit('shout', big);
  await sleep(1000);
  for (const s of slow) s.destroy();
  closeClient(talker);
  await healthy();
});

test('an upgrade request refused over HTTP closes the connection instead of leaving it hanging', async () => {
  const got = await exchange(Buffer.from(upgradeRequest('/not-an-endpoint/')), 1500);
  const text = got.toString('latin1');
  assert.match(text, /^HTTP\/1\.1 400/);
  assert.match(text, /Connection: close/i);
});
