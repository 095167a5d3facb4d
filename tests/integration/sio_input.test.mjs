// Socket.IO packets no official client sends: ack ids past 2^63 - 1 (they
// would turn negative in Lua) close the session at the parser, as ids past
// 2^64 always did; namespace names holding NUL or over 255 bytes get
// CONNECT_ERROR under the name exactly as sent (as Node answers a name it
// doesn't have), never another namespace's. None of it makes an
// error-level log line. Both parsers: the default one and msgpack.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import WebSocket from 'ws';
import { startServer, makeAppDir, sleep, eioHandshake, eioGet, eioPost, until } from './lib/server.mjs';

const APP = `
local sio = require "siolua"
sio.server:on("connection", function(socket)
  socket:on("hi", function(ack) ack("hello") end)
  socket:on("say", function(text, ack) print("said: " .. text) ack(text) end)
end)
sio.server:of("/chat"):on("connection", function(socket) socket:emit("welcome", "chat") end)
`;

let srv;
before(async () => {
  srv = await startServer({ appDir: makeAppDir({ 'main.lua': APP }), args: ['--no-reload'] });
});
after(async () => {
  const { code } = await srv.stop();
  assert.equal(code, 0, srv.stderr());
});

// Opens a raw Engine.IO WebSocket, sends the frames after the open packet
// and collects what comes back until the socket closes or ms pass.
function session(frames, ms = 500) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${srv.wsUrl}/socket.io/?EIO=4&transport=websocket`);
    const got = [];
    let closed = false;
    ws.on('message', (d) => got.push(d.toString('latin1')));
    ws.on('open', () => { for (const f of frames) ws.send(f); });
    ws.on('close', () => { closed = true; });
    setTimeout(() => { ws.terminate(); resolve({ got: got.slice(1), closed }); }, ms);
  });
}

const errorLines = () => srv.stderr().split('\n').filter((l) => / error /.test(l));

test('an ack id of 2^63 - 1 is answered', async () => {
  const { got, closed } = await session(['40', '429223372036854775807["hi"]']);
  assert.ok(got.includes('439223372036854775807["hello"]'), JSON.stringify(got));
  assert.equal(closed, false);
});

for (const id of ['9223372036854775808', '18446744073709551615', '18446744073709551616']) {
  test(`an ack id of ${id} closes the session at the parser, with no error-level line`, async () => {
    const before = errorLines().length;
    const { got, closed } = await session(['40', `42${id}["hi"]`, `43${id}[]`]);
    assert.ok(closed, 'the connection was closed');
    assert.ok(!got.some((f) => f.startsWith('43')), 'no ack was sent');
    assert.deepEqual(errorLines().slice(before), []);
  });
}

test('a namespace name holding NUL gets CONNECT_ERROR for that name, and does not join the namespace before the NUL', async () => {
  const { got, closed } = await session(['40/chat\0anything,', '40/a\0b,']);
  assert.deepEqual(got, [
    '44/chat\0anything,{"message":"Invalid namespace"}',
    '44/a\0b,{"message":"Invalid namespace"}',
  ]);
  assert.equal(closed, false, 'a refused namespace does not close the connection');
});

test('a namespace name over 255 bytes gets CONNECT_ERROR for that name; 255 bytes is looked up as usual', async () => {
  const long = `/${'x'.repeat(100000)}`;
  const { got } = await session([`40${long},`], 1000);
  assert.equal(got.length, 1);
  assert.equal(got[0], `44${long},{"message":"Invalid namespace"}`);
  const at = `/${'y'.repeat(254)}`;
  const r = await session([`40${at},`]);
  assert.deepEqual(r.got, [`44${at},{"message":"Invalid namespace"}`]);
});

test('the namespace itself still works, on the same connection as a refused one', async () => {
  const { got } = await session(['40/chat\0x,', '40/chat,']);
  assert.equal(got[0], '44/chat\0x,{"message":"Invalid namespace"}');
  assert.match(got[1], /^40\/chat,\{"sid":"/);
  assert.equal(got[2], '42/chat,["welcome","chat"]');
  await sleep(10);
  assert.deepEqual(errorLines(), []);
});

// Arguments the Lua side cannot decode though the packet is JSON (bytes
// that are not UTF-8, which only polling can carry, or a lone surrogate
// escape): that socket's connection closes, with one info line naming
// why; the listener never runs; nothing is logged as an error.
test('event arguments that are not UTF-8 (polling) close the connection with an info line, the listener never runs', async () => {
  const before = errorLines().length;
  const { sid } = await eioHandshake(srv.url, { path: '/socket.io/' });
  assert.equal((await eioPost(srv.url, sid, '40', { path: '/socket.io/' })).status, 200);
  assert.match((await eioGet(srv.url, sid, { path: '/socket.io/' })).text, /^40\{"sid":"/);
  const body = Buffer.concat([Buffer.from('421["say","ok '), Buffer.from([0xff, 0xfe]), Buffer.from('"]')]);
  await eioPost(srv.url, sid, body, { path: '/socket.io/' });
  await until(() => /undecodable arguments \(invalid UTF-8 in string at offset \d+\), closing/.test(srv.stderr()));
  const res = await eioGet(srv.url, sid, { path: '/socket.io/' });
  assert.ok(!res.text.includes('431'), `no ack: ${res.text}`);
  assert.ok(!srv.stderr().includes('said: ok'), 'the listener did not run');
  assert.deepEqual(errorLines().slice(before), []);
});

test('event arguments holding a lone surrogate escape close the connection with an info line; the next connection is served', async () => {
  const before = errorLines().length;
  const { got, closed } = await session(['40', '422["say","a\\ud800b"]']);
  assert.ok(closed, 'the connection was closed');
  assert.ok(!got.some((f) => f.startsWith('432')), JSON.stringify(got));
  assert.match(srv.stderr(), /undecodable arguments \(lone surrogate in \\u escape at offset \d+\), closing/);
  const ok = await session(['40', '423["say","fine \\u00e9"]']);
  assert.ok(ok.got.includes(Buffer.from('433["fine é"]').toString('latin1')), JSON.stringify(ok.got));
  assert.deepEqual(errorLines().slice(before), []);
});

// The same refusals with the msgpack parser (socket.io-msgpack-parser),
// whose ids are msgpack integers up to 2^64 - 1 and whose namespace names
// are msgpack strings, NUL and all.
const require = createRequire(import.meta.url);
const notepack = require('notepack.io');

// A packet map whose id is a uint64 written as such (a JavaScript number
// can't hold 2^63 exactly).
function mpPacket(type, nsp, data, id) {
  const parts = [Buffer.from([0x80 | (2 + (data ? 1 : 0) + (id !== undefined ? 1 : 0))]),
    notepack.encode('type'), notepack.encode(type), notepack.encode('nsp'), notepack.encode(nsp)];
  if (data) parts.push(notepack.encode('data'), notepack.encode(data));
  if (id !== undefined) {
    const u = Buffer.alloc(9);
    u[0] = 0xcf;
    u.writeBigUInt64BE(BigInt(id), 1);
    parts.push(notepack.encode('id'), u);
  }
  return Buffer.concat(parts);
}

function mpSession(server, frames, ms = 500) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${server.wsUrl}/socket.io/?EIO=4&transport=websocket`);
    const got = [];
    let closed = false;
    ws.on('message', (d, binary) => got.push(binary ? notepack.decode(d) : d.toString()));
    ws.on('open', () => { for (const f of frames) ws.send(f); });
    ws.on('close', () => { closed = true; });
    setTimeout(() => { ws.terminate(); resolve({ got: got.slice(1), closed }); }, ms);
  });
}

test('msgpack parser: ack ids past 2^63 - 1 close the session at the parser; a namespace name holding NUL or over 255 bytes gets CONNECT_ERROR under that name; no error-level line', async (t) => {
  const mp = await startServer({ t, appDir: makeAppDir({ 'main.lua': APP }), args: ['--no-reload', '--set', 'parser=msgpack'] });
  const errors = () => mp.stderr().split('\n').filter((l) => / error /.test(l));
  const ok = await mpSession(mp, [mpPacket(0, '/'), mpPacket(2, '/', ['hi'], '9223372036854775807')]);
  assert.equal(ok.closed, false);
  assert.ok(ok.got.some((p) => p.type === 3 && p.data[0] === 'hello'), JSON.stringify(ok.got));
  for (const id of ['9223372036854775808', '18446744073709551615']) {
    const r = await mpSession(mp, [mpPacket(0, '/'), mpPacket(2, '/', ['hi'], id)]);
    assert.ok(r.closed, `an ack id of ${id} closed the connection`);
    assert.ok(!r.got.some((p) => p.type === 3), JSON.stringify(r.got));
  }
  const long = `/${'x'.repeat(100000)}`;
  const r = await mpSession(mp, [mpPacket(0, '/chat\0anything'), mpPacket(0, long), mpPacket(0, '/chat')]);
  assert.equal(r.closed, false, 'a refused namespace does not close the connection');
  assert.deepEqual(r.got.slice(0, 2).map((p) => [p.type, p.nsp, p.data?.message]),
    [[4, '/chat\0anything', 'Invalid namespace'], [4, long, 'Invalid namespace']]);
  assert.equal(r.got[2].type, 0);
  assert.equal(r.got[2].nsp, '/chat');
  assert.deepEqual(errors(), []);
  const { code } = await mp.stop();
  assert.equal(code, 0);
});
