// permessage-deflate (RFC 7692, Node's perMessageDeflate) with the real
// clients: the official socket.io-client over Node's `ws` (it offers
// permessage-deflate by default), raw `ws` sockets for what clients never
// send (zip bombs, RSV1 where it is forbidden, broken deflate data), headless
// Chromium, and python-socketio. What a test calls "compressed" it checks
// on the wire: the bytes the client's TCP socket read or wrote, or RSV1 on
// the frames it received.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, request, makeAppDir } from './lib/server.mjs';
import { launchChromium, clientPage } from './lib/browser.mjs';
import { startApp, connected, ask, nextEvent, closeClient, stopProblems, APPS_DIR } from './lib/sio.mjs';
import { startCluster, SKIP } from './lib/cluster.mjs';
import { openRawWs, wsUrl, clientFrame, closeCode, frameHeads } from './lib/eio.mjs';
import { textOf, bytesOf, deflated, rawUpgrade, decodeBody } from './lib/compress.mjs';

const servers = [];
async function app(args, opts = {}) {
  const srv = await startApp('compress', { args: ['--no-reload', ...args], ...opts });
  servers.push(srv);
  return srv;
}
async function echoServer(args) {
  const srv = await startServer({ args: ['--eio-echo', '/engine.io/', ...args] });
  servers.push(srv);
  return srv;
}
after(() => Promise.all(servers.map((s) => s.stop())));

// The TCP socket under a socket.io-client websocket, and what its `ws`
// agreed to (the 101's Sec-WebSocket-Extensions, as ws read it).
const tcpOf = (socket) => socket.io.engine.transport.ws._socket;
function agreed(socket) {
  const pmd = socket.io.engine.transport.ws._extensions['permessage-deflate'];
  return pmd ? { ...pmd.params } : null;
}

test('the official client negotiates permessage-deflate; text and binary go compressed both ways and arrive whole', async (t) => {
  const srv = await app(['--set', 'perMessageDeflate=true']);
  const s = await connected(srv, '/', { t, transports: ['websocket'] });
  assert.deepEqual(agreed(s), {});
  const tcp = tcpOf(s);
  const text = textOf(200_000);
  const bin = bytesOf(200_000);
  const r0 = tcp.bytesRead;
  const w0 = tcp.bytesWritten;
  const [t2, b2] = await ask(s, 'echo', text, bin);
  assert.equal(t2, text);
  assert.ok(Buffer.from(b2).equals(bin), 'binary came back changed');
  const read = tcp.bytesRead - r0;
  const written = tcp.bytesWritten - w0;
  assert.ok(written < 40_000, `the client wrote ${written} bytes for 400 kB`);
  assert.ok(read < 40_000, `the client read ${read} bytes for 400 kB`);
  // Context is kept between messages, both ways: a hundred more, all whole.
  for (let i = 0; i < 100; i++) {
    const m = `${i}:${textOf(1500 + i)}`;
    assert.deepEqual(await ask(s, 'echo', m, { i }), [m, { i }]);
  }
  closeClient(s);
});

test('without perMessageDeflate (the default) the offer is declined, as Node declines it', async (t) => {
  const srv = await app([]);
  const s = await connected(srv, '/', { t, transports: ['websocket'] });
  assert.equal(agreed(s), null);
  const tcp = tcpOf(s);
  const r0 = tcp.bytesRead;
  const text = textOf(100_000);
  assert.deepEqual(await ask(s, 'echo', text), [text]);
  assert.ok(tcp.bytesRead - r0 > 100_000);
  closeClient(s);
});

test('serverNoContextTakeover: one broadcast reaches compressed, uncompressed and polling clients whole', async (t) => {
  const srv = await app(['--set', 'perMessageDeflate.serverNoContextTakeover=true']);
  const zipped = [];
  for (let i = 0; i < 4; i++) zipped.push(await connected(srv, '/', { t, transports: ['websocket'] }));
  const plain = await connected(srv, '/', { t, transports: ['websocket'], perMessageDeflate: false });
  const polling = await connected(srv, '/', { t, transports: ['polling'] });
  for (const s of zipped) assert.deepEqual(agreed(s), { server_no_context_takeover: true });
  assert.equal(agreed(plain), null);
  const text = textOf(150_000);
  const all = [...zipped, plain, polling];
  const before = all.map((s) => (s === polling ? 0 : tcpOf(s).bytesRead));
  const heard = all.map((s) => nextEvent(s, 'shout', 5000));
  zipped[0].emit('shout', text, bytesOf(50_000));
  const got = await Promise.all(heard);
  for (const [text2, bin2] of got) {
    assert.equal(text2, text);
    assert.ok(Buffer.from(bin2).equals(bytesOf(50_000)));
  }
  zipped.forEach((s, i) => {
    const read = tcpOf(s).bytesRead - before[i];
    assert.ok(read < 40_000, `compressed client ${i} read ${read} bytes`);
  });
  assert.ok(tcpOf(plain).bytesRead - before[4] > 200_000, 'the client that declined got it compressed');
  for (const s of all) closeClient(s);
});

test('compress(false) sends a packet plain, to one socket or to all, on websocket and on polling', async (t) => {
  const srv = await app(['--set', 'perMessageDeflate=true']);
  const s = await connected(srv, '/', { t, transports: ['websocket'] });
  const tcp = tcpOf(s);
  const text = textOf(50_000);
  for (const toAll of [false, true]) {
    const r0 = tcp.bytesRead;
    const heard = nextEvent(s, 'plain');
    s.emit('plain', text, toAll);
    assert.deepEqual(await heard, [text]);
    assert.ok(tcp.bytesRead - r0 > 50_000, `compress(false) ${toAll ? 'broadcast' : 'emit'} came compressed`);
    const r1 = tcp.bytesRead;
    assert.deepEqual(await ask(s, 'echo', text), [text]);
    assert.ok(tcp.bytesRead - r1 < 10_000, 'the next packet is compressed again');
  }
  // Chained with timeout: socket:compress(false):timeout(ms):emit_with_ack.
  s.on('question', (q, answer) => answer(q.length));
  const r2 = tcp.bytesRead;
  assert.deepEqual(await ask(s, 'ask_plain', text), [null, 50_000]);
  assert.ok(tcp.bytesRead - r2 > 50_000, 'the question came compressed');
  closeClient(s);
  // Polling: a body holding only that packet goes plain, whatever
  // Accept-Encoding says (as engine.io decides: compressed when any packet
  // of the body allows it).
  const url = `${srv.url}/socket.io/?EIO=4&transport=polling`;
  const hs = await request(url);
  const sid = JSON.parse(hs.text.slice(1)).sid;
  const post = (body) => request(`${url}&sid=${sid}`, { method: 'POST', body, headers: { 'Content-Type': 'text/plain' } });
  await post('40');
  await request(`${url}&sid=${sid}`); // the CONNECT answer
  for (const [event, plain] of [['plain', true], ['echo', false]]) {
    await post(`42${event === 'echo' ? '1' : ''}${JSON.stringify([event, text])}`);
    const res = await request(`${url}&sid=${sid}`, { headers: { 'Accept-Encoding': 'gzip' } });
    assert.equal(res.headers['content-encoding'], plain ? undefined : 'gzip', event);
    assert.ok(decodeBody(res).includes(JSON.stringify(text)), event);
  }
  await post('1');
});

test('compress(false) crosses the cluster: a broadcast from another server reaches this one\'s clients plain', { skip: SKIP }, async (t) => {
  const { a, b } = await startCluster(t, { appDir: join(APPS_DIR, 'compress'), args: ['--set', 'perMessageDeflate=true'] });
  const onA = await connected(a, '/', { t, transports: ['websocket'] });
  const onB = await connected(b, '/', { t, transports: ['websocket'] });
  const text = textOf(50_000);
  const r0 = tcpOf(onB).bytesRead;
  const heard = nextEvent(onB, 'plain', 5000);
  onA.emit('plain', text, true);
  assert.deepEqual(await heard, [text]);
  assert.ok(tcpOf(onB).bytesRead - r0 > 50_000, 'it came compressed');
  const r1 = tcpOf(onB).bytesRead;
  const shout = nextEvent(onB, 'shout', 5000);
  onA.emit('shout', text);
  assert.deepEqual(await shout, [text]);
  assert.ok(tcpOf(onB).bytesRead - r1 < 10_000, 'an ordinary broadcast came plain');
  closeClient(onA);
  closeClient(onB);
});

test('with context takeover every message is compressed (as ws does); without it, from the threshold up', async (t) => {
  const kept = await echoServer(['--set', 'perMessageDeflate=true']);
  const a = await openRawWs(wsUrl(kept), { t, perMessageDeflate: true });
  await a.waitFrames(1);
  const headsA = frameHeads(a.ws);
  a.ws.send('4hi');
  a.ws.send('4' + textOf(3000));
  await a.waitFrames(3);
  assert.deepEqual(headsA, [0xc1, 0xc1], 'each echo came compressed');

  const shared = await echoServer(['--set', 'perMessageDeflate.serverNoContextTakeover=true',
    '--set', 'perMessageDeflate.threshold=1000']);
  const b = await openRawWs(wsUrl(shared), { t, perMessageDeflate: true });
  await b.waitFrames(1);
  const headsB = frameHeads(b.ws);
  b.ws.send('4' + 'x'.repeat(998)); // 999 bytes with the type: under
  b.ws.send('4' + 'x'.repeat(999)); // 1000: at the threshold
  await b.waitFrames(3);
  assert.deepEqual(headsB, [0x81, 0xc1]);
  assert.equal(b.frames[2].text, '4' + 'x'.repeat(999));
});

test('a compressed message that inflates past maxHttpBufferSize closes with 1009; the server serves others on', async (t) => {
  const srv = await echoServer(['--set', 'perMessageDeflate=true', '--set', 'maxHttpBufferSize=100000']);
  const bomb = deflated('4' + 'a'.repeat(5_000_000)); // about 5 kB of zip bomb
  assert.ok(bomb.length < 10_000);
  const c = await openRawWs(wsUrl(srv), { t, perMessageDeflate: true });
  await c.waitFrames(1);
  c.ws._socket.write(clientFrame(bomb, { rsv: 4 }));
  assert.equal(await closeCode(c), 1009);
  assert.equal(c.frames.length, 1, 'nothing was echoed');
  // Right at the limit is fine, and comes back (compressed) whole.
  const d = await openRawWs(wsUrl(srv), { t, perMessageDeflate: true });
  await d.waitFrames(1);
  const exact = '4' + 'b'.repeat(99_999);
  d.ws._socket.write(clientFrame(deflated(exact), { rsv: 4 }));
  await d.waitFrames(2);
  assert.equal(d.frames[1].text, exact);
  assert.match(srv.stderr(), /oversized compressed message, closing with 1009/);
});

test('RSV1 on a control frame or a continuation closes with 1002; data that is not deflate, or inflates to bad UTF-8, with 1007', async (t) => {
  const srv = await echoServer(['--set', 'perMessageDeflate=true']);
  const cases = [
    [clientFrame('pp', { op: 9, rsv: 4 }), 1002],
    [Buffer.concat([clientFrame(deflated('4ab'), { rsv: 4, fin: false }), clientFrame('cd', { op: 0, rsv: 4 })]), 1002],
    [clientFrame(Buffer.from([0xff, 0xff, 0xff]), { rsv: 4 }), 1007],
    [clientFrame(deflated(Buffer.from([0x34, 0xc3, 0x28])), { rsv: 4 }), 1007],
    [clientFrame(deflated('4x'), { rsv: 2 }), 1002], // RSV2: no extension uses it
  ];
  for (const [bytes, code] of cases) {
    const c = await openRawWs(wsUrl(srv), { t, perMessageDeflate: true });
    await c.waitFrames(1);
    c.ws._socket.write(bytes);
    assert.equal(await closeCode(c), code, bytes.toString('hex').slice(0, 40));
  }
  // A compressed fragmented message is reassembled, then inflated.
  const c = await openRawWs(wsUrl(srv), { t, perMessageDeflate: true });
  await c.waitFrames(1);
  const z = deflated('4' + textOf(5000));
  c.ws._socket.write(Buffer.concat([clientFrame(z.subarray(0, 10), { rsv: 4, fin: false }),
    clientFrame(z.subarray(10), { op: 0 })]));
  await c.waitFrames(2);
  assert.equal(c.frames[1].text, '4' + textOf(5000));
});

test('an extension header Node\'s ws refuses gets its 400 and words; one it declines, a 101 without extension', async () => {
  const srv = await echoServer(['--set', 'perMessageDeflate=true']);
  for (const ext of ['permessage-deflate; foo', 'permessage-deflate; server_max_window_bits', 'permessage-deflate;;']) {
    const res = await rawUpgrade(srv.port, '/engine.io/', ext);
    assert.equal(res.status, 400, ext);
    assert.equal(res.body, 'Invalid or unacceptable Sec-WebSocket-Extensions header');
  }
  const res = await rawUpgrade(srv.port, '/engine.io/', 'x-webkit-deflate-frame');
  assert.equal(res.status, 101);
  assert.equal(res.extensions, undefined);
});

test('table form in sio.configure, and a bad value answered with the option\'s words', async (t) => {
  const dir = makeAppDir({
    'main.lua': `local sio = require "siolua"
sio.configure { perMessageDeflate = { threshold = 10, serverNoContextTakeover = true, memLevel = 4 } }
sio.server:on("connection", function(s) s:on("echo", function(x, ack) ack(x) end) end)`,
  });
  const srv = await startServer({ appDir: dir, args: ['--no-reload'] });
  servers.push(srv);
  const s = await connected(srv, '/', { t, transports: ['websocket'] });
  assert.deepEqual(agreed(s), { server_no_context_takeover: true });
  assert.deepEqual(await ask(s, 'echo', textOf(5000)), [textOf(5000)]);
  closeClient(s);

  const bad = makeAppDir({ 'main.lua': 'require("siolua").configure { perMessageDeflate = { memLevel = 12 } }\n' });
  const r = await startServer({ appDir: bad, args: ['--no-reload'], t }).then(() => null, (e) => e);
  assert.ok(r, 'the server started with memLevel 12');
  assert.match(r.message, /main\.lua:1: sio\.configure: bad value '12' for perMessageDeflate\.memLevel: expected an integer from 1 to 9/);
});

test('headless Chromium negotiates permessage-deflate and round-trips compressed text and binary', { timeout: 60_000 }, async () => {
  const srv = await app(['--set', 'perMessageDeflate=true']);
  const context = await launchChromium();
  try {
    const page = await clientPage(context, srv.url);
    const r = await page.evaluate(async (url) => {
      const s = io(url, { transports: ['websocket'] });
      await new Promise((res, rej) => { s.on('connect', res); s.on('connect_error', rej); });
      let text = '';
      for (let i = 0; text.length < 100000; i++) text += `{"n":${i},"text":"hello from chromium"},`;
      const bin = new Uint8Array(50000).map((_, i) => (i * 7) % 61);
      const [t2, b2] = await new Promise((res, rej) => s.timeout(5000).emit('echo', text, bin.buffer,
        (err, ...args) => (err ? rej(err) : res(args))));
      const b2a = new Uint8Array(b2);
      const out = {
        extensions: s.io.engine.transport.ws.extensions,
        textOk: t2 === text,
        binOk: b2a.length === bin.length && b2a.every((v, i) => v === bin[i]),
      };
      s.close();
      return out;
    }, srv.url);
    assert.deepEqual(r, { extensions: 'permessage-deflate', textOk: true, binOk: true });
  } finally {
    await context.close();
  }
});

// python-socketio (Debian's python3-socketio) offers no permessage-deflate
// (websocket-client has none): it must work as before with the option on,
// and its long-polling (requests: Accept-Encoding gzip, deflate) gets gzip.
const PYTHON = '/usr/bin/python3';
const pyOk = existsSync(PYTHON) && await new Promise((r) => execFile(PYTHON, ['-c', 'import socketio, websocket'], (e) => r(!e)));
test('python-socketio, on websocket and on polling, talks to a server with compression on', { skip: pyOk ? false : 'python3-socketio not installed' }, async () => {
  const srv = await app(['--set', 'perMessageDeflate=true']);
  const script = `
import sys, json, requests, socketio
seen = []
orig = requests.Session.request
def spy(self, *a, **k):
    r = orig(self, *a, **k)
    seen.append(r.headers.get('Content-Encoding', ''))
    return r
requests.Session.request = spy
c = socketio.Client()
c.connect(sys.argv[1], transports=[sys.argv[2]])
text = ''.join('{"n":%d,"t":"from python"},' % i for i in range(5000))
got = c.call('echo', (text, bytes(range(256)) * 100), timeout=10)
c.disconnect()
print(json.dumps({"ok": list(got) == [text, bytes(range(256)) * 100], "encodings": seen}))
`;
  for (const transport of ['websocket', 'polling']) {
    const out = await new Promise((resolve, reject) => execFile(PYTHON, ['-c', script, srv.url, transport],
      { timeout: 30_000 }, (e, stdout, stderr) => (e ? reject(new Error(`${e.message}\n${stderr}`)) : resolve(stdout))));
    const r = JSON.parse(out.trim().split('\n').pop());
    assert.equal(r.ok, true, transport);
    if (transport === 'polling') assert.ok(r.encodings.includes('gzip'), `no gzip response: ${r.encodings}`);
  }
});

test('every server of this file exits 0 with no crash or sanitizer report', async () => {
  const problems = await Promise.all(servers.splice(0).map(stopProblems));
  assert.deepEqual(problems.flat(), []);
});
