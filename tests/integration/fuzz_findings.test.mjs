// What the fuzz targets (tests/fuzz) found, against the real binary; the unit
// tests pin the same on the module alone. From fuzz_http, over raw TCP
// (tests/unit/test_http.c): a chunked request ending in trailer fields (a
// heap use-after-free: the ASan build's server log would show it, and the
// request arrived with a garbled URL), and answers to an oversized head
// that must be the same however the bytes are split into TCP segments.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startServer, RawConn, SIOLUA_ROOT, sleep } from './lib/server.mjs';

let srv;
before(async () => {
  srv = await startServer({ appDir: join(SIOLUA_ROOT, 'tests', 'apps', 'http_routes'), args: ['--set', 'maxHeaderSize=1024', '--set', 'maxHeadersCount=64'] });
});
after(() => srv?.stop());

// Writes the pieces one by one (no Nagle, a pause between them, so they
// travel as separate segments) and returns the first response.
async function send(pieces) {
  const c = await RawConn.connect(srv.port);
  c.sock.setNoDelay(true);
  try {
    for (const p of pieces) {
      await c.write(p);
      if (pieces.length > 1) await sleep(2);
    }
    const { responses } = await c.readResponses(1, { timeoutMs: 5000 });
    return responses[0];
  } finally {
    c.destroy();
  }
}

function split(text, size) {
  const out = [];
  for (let i = 0; i < text.length; i += size) out.push(text.slice(i, i + size));
  return out;
}

test('a chunked POST with trailer fields reaches its route whole, the trailers left out', async () => {
  let trailers = '';
  // Under maxHeaderSize together with the head (the old code counted them)
  // but enough to move the buffer the head lives in.
  for (let i = 0; i < 6; i++) trailers += `X-Trailer-${i}: ${'t'.repeat(100)}\r\n`;
  const req = 'POST /api/echo?x=1 HTTP/1.1\r\nHost: h\r\nX-Custom-Thing: kept\r\nTransfer-Encoding: chunked\r\n\r\n'
    + `6\r\nhello \r\n5\r\nworld\r\n0\r\n${trailers}\r\n`;
  for (const pieces of [[req], split(req, 97)]) {
    const res = await send(pieces);
    assert.equal(res.status, 200);
    const seen = JSON.parse(res.text);
    assert.equal(seen.path, '/api/echo');
    assert.deepEqual(seen.query, { x: '1' });
    assert.equal(seen.body, 'hello world');
    assert.equal(seen.custom, 'kept');
    assert.ok(!seen.header_names.some((n) => n.startsWith('x-trailer')), seen.header_names.join());
  }
});

test('an overlong request line ending in a bad byte is 431 in one segment and in many', async () => {
  const req = `GET /${'a'.repeat(3000)}\x01 HTTP/1.1\r\nHost: h\r\n\r\n`;
  for (const pieces of [[req], split(req, 500)]) {
    const res = await send(pieces);
    assert.equal(res.status, 431);
  }
});

test('at maxHeadersCount=64, 65 header fields are refused with 431 in one segment and in many, 64 are served', async () => {
  const head = (n) => `GET /api/users/7 HTTP/1.1\r\n${Array.from({ length: n }, (_, i) => `H${i}: v\r\n`).join('')}\r\n`;
  assert.equal((await send([head(64)])).status, 200);
  assert.equal((await send([head(65)])).status, 431);
  assert.equal((await send(split(head(65), 50))).status, 431);
});

// From fuzz_ws_deflate (tests/unit/test_deflate.c): with permessage-deflate
// and context takeover, an empty message after another was compressed to
// no bytes at all, which the client's inflater reads as the start of a
// stored block: the next message broke the WebSocket ("transport error").
// An empty binary attachment is such a message.
test('an empty attachment over a compressed WebSocket leaves the next messages intact', async (t) => {
  const { io } = await import('socket.io-client');
  const app = await startServer({ t, appDir: join(SIOLUA_ROOT, 'tests', 'apps', 'binary'),
    args: ['--set', 'perMessageDeflate=true', '--set', 'perMessageDeflate.threshold=0'] });
  const s = io(app.url, { transports: ['websocket'], reconnection: false, perMessageDeflate: { threshold: 0 } });
  t.after(() => s.close());
  await new Promise((resolve, reject) => { s.on('connect', resolve); s.on('connect_error', reject); });
  assert.ok(s.io.engine.transport.ws._extensions['permessage-deflate'], 'permessage-deflate negotiated');
  let disconnected = null;
  s.on('disconnect', (why) => { disconnected = why; });
  for (let i = 0; i < 3; i++) {
    s.emit('make-empty');
    const [bin, one] = await new Promise((resolve) => s.once('made-empty', (...a) => resolve(a)));
    assert.equal(bin.length, 0);
    assert.equal(one, 1);
    assert.equal(await s.timeout(3000).emitWithAck('echo', `after ${i}`), `after ${i}`);
  }
  assert.equal(disconnected, null);
});
