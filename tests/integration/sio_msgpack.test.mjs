// The msgpack parser (--set parser=msgpack) with the real socket.io-client
// and socket.io-msgpack-parser, on polling, on WebSocket and across the
// upgrade: events, binary inline both ways, acks both ways, rooms; the Lua
// values are those the JSON parser gives; the bytes are those a Node
// socket.io 4.8 server with the same parser writes; a client of the other
// parser is closed at once with one warn line; a Redis cluster of siolua
// and Node servers that all use the parser.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { Server } from 'socket.io';
import {
  startApp, connected, client, nextEvent, nextDisconnect, ask, collect, toBuffer, isBinary,
  closeClient, uniq, stopProblems,
} from './lib/sio.mjs';
import { HAVE_REDIS, startRedis, redisClient, waitSubscribed } from './lib/cluster.mjs';
import { startServer, SIOLUA_ROOT, until } from './lib/server.mjs';
import { join } from 'node:path';

const require = createRequire(import.meta.url);
const parser = require('socket.io-msgpack-parser');
const MSGPACK = ['--set', 'parser=msgpack'];
const TRANSPORTS = [['polling'], ['websocket'], ['polling', 'websocket']];
const label = (tr) => tr.join('+');

let basic, basicJson, binary, acks, rooms;
before(async () => {
  [basic, basicJson, binary, acks, rooms] = await Promise.all([
    startApp('basic', { args: MSGPACK, logLevel: 'info' }),
    startApp('basic'),
    startApp('binary', { args: MSGPACK }),
    startApp('acks', { args: MSGPACK }),
    startApp('rooms', { args: MSGPACK }),
  ]);
});
after(async () => {
  for (const srv of [basic, basicJson, binary, acks, rooms]) {
    if (srv) assert.deepEqual(await stopProblems(srv), []);
  }
});

const mp = (srv, nsp, opts) => connected(srv, nsp, { parser, ...opts });

// Every kind of value a JSON argument list can hold, and the numbers
// MessagePack tells apart.
const VALUES = [1, -7, 1.5, 0.1, 2 ** 40, -(2 ** 33), 2 ** 53, 'héllo ✓', '', null, true, false,
  [], {}, [1, [2, [3]]], { b: 1, a: [1, { c: null }], '': {} }];

for (const transports of TRANSPORTS) {
  const tr = label(transports);

  test(`${tr}: events and acks round-trip, and the transport is the one asked for`, async (t) => {
    const c = await mp(basic, '/', { t, transports });
    if (transports.length > 1) await until(() => c.io.engine.transport.name === 'websocket');
    assert.equal(c.io.engine.transport.name, transports.at(-1));
    assert.deepEqual(await ask(c, 'echo', ...VALUES), VALUES);
    const echo = nextEvent(c, 'echo');
    c.emit('echo', ...VALUES);
    assert.deepEqual(await echo, VALUES);
  });

  test(`${tr}: Lua holds each argument exactly as with the JSON parser ([] and {} apart, integers and floats)`, async (t) => {
    const c = await mp(basic, '/', { t, transports });
    const j = await connected(basicJson, '/', { t, transports });
    const [viaMsgpack] = await ask(c, 'encode', ...VALUES);
    const [viaJson] = await ask(j, 'encode', ...VALUES);
    assert.deepEqual(viaMsgpack, viaJson);
    assert.deepEqual(viaMsgpack.slice(0, 5), ['1', '-7', '1.5', '0.1', '1099511627776']);
    assert.deepEqual(viaMsgpack.slice(12, 14), ['[]', '{}']);
  });

  test(`${tr}: binary values travel inline both ways, nested, with the other arguments in place`, async (t) => {
    const c = await mp(binary, '/', { t, transports });
    const buf = Buffer.from([0, 1, 2, 255]);
    const ab = new Uint8Array([40, 50]).buffer;
    const [desc] = await ask(c, 'describe', buf, 'plain', { a: { b: [ab] } }, Buffer.alloc(0));
    assert.deepEqual(desc, [{ bin: '000102ff', len: 4 }, 'plain', { a: { b: [{ bin: '2832', len: 2 }] } },
      { bin: '', len: 0 }]);
    const made = nextEvent(c, 'made');
    c.emit('make');
    const got = await made;
    assert.ok(isBinary(got[0]) && isBinary(got[2].a.b[0]) && isBinary(got[3]));
    assert.equal(toBuffer(got[0]).toString('hex'), '000102ff');
    assert.equal(got[1], 'text in between');
    assert.equal(toBuffer(got[2].a.b[0]).toString(), 'nested');
    assert.equal(got[2].a.b[1], 7);
    assert.equal(toBuffer(got[3]).length, 1000);
    // A binary ack from Lua, and a binary answer to Lua's emit_with_ack.
    const [a, b] = await ask(c, 'make-ack');
    assert.equal(toBuffer(a).toString('hex'), 'deadbeef');
    assert.equal(toBuffer(b.inner).toString('hex'), '01');
    c.once('give', (bin, ack) => ack(Buffer.from([7, 7]), 'and text'));
    const asked = nextEvent(c, 'asked');
    c.emit('ask-cb');
    assert.deepEqual((await asked)[0], [{ bin: '0707', len: 2 }, 'and text']);
  });

  test(`${tr}: acks both ways: client -> server, server -> client with emit_with_ack and a timeout`, async (t) => {
    const c = await mp(acks, '/', { t, transports });
    assert.deepEqual(await ask(c, 'ack-me', 1, 'two', { three: [3] }), [1, 'two', { three: [3] }]);
    c.on('question', (q, ack) => ack(`answer to ${q}`));
    assert.deepEqual(await ask(c, 'ask-wait', 'life'), ['answer to life']);
    c.on('never', () => {});
    const [err] = await ask(c, 'ask-timeout', 'never', 100);
    assert.equal(err, 'operation has timed out');
  });

  test(`${tr}: rooms: a broadcast to a room reaches its members only`, async (t) => {
    const room = uniq('mp');
    const [a, b, other] = await Promise.all([0, 1, 2].map(() => mp(rooms, '/', { t, transports })));
    await ask(a, 'join', [room]);
    await ask(b, 'join', [room]);
    const gotA = collect(a, 'msg');
    const gotB = collect(b, 'msg');
    const gotOther = collect(other, 'msg');
    await ask(other, 'send', { to: [room] }, Buffer.from('hi'), 'tok');
    await gotA.wait(1);
    await gotB.wait(1);
    assert.equal(toBuffer(gotA[0][0]).toString(), 'hi');
    assert.deepEqual(gotOther, []);
  });
}

test('a client of the default parser is closed at once, with one warn line naming the parser', async (t) => {
  const before = basic.stderr().length;
  const c = client(basic, '/', { t, transports: ['websocket'] });
  const reason = await nextDisconnect(c, 3000);
  assert.equal(reason, 'transport close');
  assert.equal(c.connected, false);
  await until(() => /msgpack parser/.test(basic.stderr().slice(before)));
  const lines = basic.stderr().slice(before).split('\n').filter((l) => /parser/.test(l));
  assert.equal(lines.length, 1, lines.join('\n'));
  assert.match(lines[0], /^\S+Z warn .*text message to the msgpack parser: the server uses the msgpack parser \(a client with the default parser\?\), closing/);
});

test('a msgpack client of a server with the default parser is closed at once, with one warn line', async (t) => {
  const srv = await startApp('basic', { t, logLevel: 'info' });
  const c = client(srv, '/', { t, transports: ['websocket'], parser });
  assert.equal(await nextDisconnect(c, 3000), 'transport close');
  await until(() => /parser/.test(srv.stderr()));
  const lines = srv.stderr().split('\n').filter((l) => /parser/.test(l));
  assert.equal(lines.length, 1, lines.join('\n'));
  assert.match(lines[0], / warn .*the server uses the default parser \(a client with the msgpack parser\?\)/);
});

test('the Lua client speaks the parser too (sio.client with parser = "msgpack")', async (t) => {
  const c = await mp(basic, '/', { t });
  const [reply] = await ask(c, 'lua-client-echo', basic.url);
  assert.deepEqual(reply, { args: [1, 1.5, [], {}, 'x'], bin: '0102' });
});

// The same emits from a Node socket.io 4.8 server with the same parser:
// the client receives the same bytes (key order, integer widths, bin).
test('the bytes are those a Node socket.io server with socket.io-msgpack-parser writes', async (t) => {
  const http = createServer();
  const io = new Server(http, { parser });
  io.on('connection', (socket) => {
    socket.on('echo', (...args) => {
      const ack = typeof args.at(-1) === 'function' ? args.pop() : null;
      if (ack) ack(...args);
      else socket.emit('echo', ...args);
    });
  });
  await new Promise((r) => http.listen(0, '127.0.0.1', r));
  t.after(() => io.close());
  const node = { url: `http://127.0.0.1:${http.address().port}` };
  const sample = [1, -1, 1.5, 'héllo', null, true, [], {}, { b: 1, a: [1, { c: null }] }, 2 ** 40,
    -(2 ** 33), 300, -200, 70000, Buffer.from([1, 2, 3])];
  const frames = async (srv) => {
    const c = await mp(srv, '/', { t, transports: ['websocket'] });
    const echo = nextEvent(c, 'echo');
    c.emit('echo', ...sample);
    await echo;
    await ask(c, 'echo', 'ack', ...sample);
    const msgs = c.io.rawPackets.messages().map((m) => toBuffer(m).toString('hex'));
    closeClient(c);
    return msgs.slice(-2); // the echo and the ack (not the sid, nor the app's welcome)
  };
  const [ours, theirs] = [await frames(basic), await frames(node)];
  assert.deepEqual(ours, theirs);
});

test('connection state recovery with the parser: the transport drops while the room is fed; recovered, same id, the missed events in order', async (t) => {
  const rec = await startApp('recovery', { t, args: [...MSGPACK, '--set', 'connectionStateRecovery=true'] });
  const c = client(rec, '/', { t, parser, reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 100,
    randomizationFactor: 0 });
  const states = collect(c, 'state');
  await states.wait(1);
  const id = c.id;
  const room = uniq('mprec');
  await ask(c, 'setup', room, 'alice');
  const feed = [];
  c.on('feed', (i) => feed.push(i));
  const end = nextEvent(c, 'feed-end', 10000);
  await ask(c, 'start-feed', room, 30, 20);
  await until(() => feed.length >= 3);
  const down = nextDisconnect(c);
  c.io.engine.close();
  await down;
  await end;
  assert.equal(c.recovered, true);
  assert.equal(c.id, id);
  assert.deepEqual(feed, Array.from({ length: 30 }, (_, i) => i));
  assert.equal(states.at(-1)[0].recovered, true);
  assert.deepEqual(await stopProblems(rec), []);
});

// ---- a cluster whose members all use the parser ---------------------------

const CLUSTER_APP = join(SIOLUA_ROOT, 'tests', 'apps', 'cluster');

test('a Redis cluster of two siolua servers and a Node server, all with the msgpack parser: rooms, binary and acks cross', { skip: HAVE_REDIS ? false : 'redis-server is not installed' }, async (t) => {
  const redis = await startRedis();
  const start = () => startServer({ appDir: CLUSTER_APP, t, env: { SIOLUA_REDIS_URL: redis.url },
    args: ['--redis', redis.url, '--no-reload', ...MSGPACK] });
  const a = await start();
  const b = await start();
  // The Node member, in this process.
  const { createAdapter } = require('@socket.io/redis-adapter');
  const { createClient } = require('redis');
  const pub = createClient({ url: redis.url });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  const http = createServer();
  const io = new Server(http, { parser, adapter: createAdapter(pub, sub, { requestsTimeout: 3000 }) });
  io.on('connection', (socket) => {
    socket.on('join', (room, ack) => { socket.join(room); ack(true); });
  });
  await new Promise((r) => http.listen(0, '127.0.0.1', r));
  t.after(async () => {
    io.close();
    await Promise.allSettled([pub.quit(), sub.quit()]);
    await redis.stop();
  });
  const node = { url: `http://127.0.0.1:${http.address().port}` };
  const rc = await redisClient(redis);
  try { await waitSubscribed(rc, ['/'], 3); } finally { await rc.quit(); }

  const room = uniq('mpc');
  const [ca, cb, cn] = await Promise.all([a, b, node].map((srv) => mp(srv, '/', { t })));
  for (const c of [ca, cb, cn]) assert.deepEqual(await ask(c, 'join', room), [true]);
  const got = [ca, cb, cn].map((c) => collect(c, 'news'));
  const payload = ['text', 1.5, 2 ** 40, [], {}, Buffer.from([9, 8, 7])];
  ca.emit('to', { rooms: [room] }, 'news', ...payload);
  for (const g of got) await g.wait(1);
  for (const g of got) {
    const [args] = g;
    assert.deepEqual(args.slice(0, 5), payload.slice(0, 5));
    assert.equal(toBuffer(args[5]).toString('hex'), '090807');
  }
  // A broadcast with acks from a siolua server, answered by the clients of
  // all three servers.
  for (const c of [ca, cb, cn]) c.on('poll', (q, ack) => ack(`${q}!`));
  const [err, responses] = await ask(cb, 'poll-all', 'q');
  assert.equal(err, null);
  assert.deepEqual(responses, ['q!', 'q!', 'q!']);
});
