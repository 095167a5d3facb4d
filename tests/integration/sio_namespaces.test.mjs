// Namespaces with the real socket.io-client against tests/apps/namespaces:
// custom and dynamic namespaces (pattern and function), isolation,
// "Invalid namespace", connection middlewares (refusing with message and
// data, yielding, failing), per-socket middleware, connectTimeout,
// onAny/offAny/onAnyOutgoing, and several namespaces on one Manager.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once, until } from './lib/server.mjs';
import { openEio } from './lib/eio.mjs';
import {
  startApp, connected, client, waitConnect, waitConnectError, nextEvent, ask, collect,
  rawTexts, tap, errorLines, TRANSPORTS, Manager,
  stopProblems,
} from './lib/sio.mjs';

let srv;
before(async () => { srv = await startApp('namespaces'); });
after(async () => { await srv?.stop(); });

async function refused(nsp, opts) {
  const c = client(srv, nsp, opts);
  return waitConnectError(c);
}

test('a socket connects to /chat; Lua sees nsp.name "/chat" and the id the client got', async (t) => {
  const c = await connected(srv, '/chat', { t });
  assert.deepEqual(await ask(c, 'whoami'), ['/chat', c.id]);
  assert.ok(rawTexts(c).some((s) => s.startsWith('0/chat,{"sid":')), `CONNECT reply: ${JSON.stringify(rawTexts(c))}`);
});

test('events are isolated per namespace: a namespace-wide emit in /chat reaches /chat sockets only, and the same in "/"', async (t) => {
  const root = await connected(srv, '/', { t });
  const chat = await connected(srv, '/chat', { t });
  const chat2 = await connected(srv, '/chat', { t });
  const rootShouts = collect(root, 'shout');
  const chatShouts = collect(chat, 'shout');
  const chat2Shouts = collect(chat2, 'shout');
  chat.emit('shout', 'in chat');
  await chatShouts.wait(1);
  await chat2Shouts.wait(1);
  await ask(root, 'echo', 'sync'); // a stray shout would have come before this ack
  assert.deepEqual(rootShouts, []);
  root.emit('shout', 'in root');
  await rootShouts.wait(1);
  await ask(chat, 'echo', 'sync');
  await ask(chat2, 'echo', 'sync');
  assert.deepEqual(chatShouts, [['/chat', 'in chat']]);
  assert.deepEqual(chat2Shouts, [['/chat', 'in chat']]);
  assert.deepEqual(rootShouts, [['/', 'in root']]);
});

for (const transports of TRANSPORTS) {
  test(`${transports[0]}: an unknown namespace gets connect_error "Invalid namespace"`, async (t) => {
    const err = await refused('/nope', { t, transports });
    assert.equal(err.message, 'Invalid namespace');
  });
}

test('dynamic namespaces by pattern: /dyn-12 and /dyn-7 connect as separate namespaces, /dyn-x is refused', async (t) => {
  const d12 = await connected(srv, '/dyn-12', { t });
  const d7 = await connected(srv, '/dyn-7', { t });
  assert.deepEqual(await ask(d12, 'whoami'), ['/dyn-12', d12.id]);
  assert.deepEqual(await ask(d7, 'whoami'), ['/dyn-7', d7.id]);
  const s7 = collect(d7, 'shout');
  const s12 = collect(d12, 'shout');
  d12.emit('shout', 'hi');
  await s12.wait(1);
  await ask(d7, 'echo', 'sync');
  assert.deepEqual(s7, [], 'a shout in /dyn-12 reached /dyn-7');
  assert.equal((await refused('/dyn-x', { t })).message, 'Invalid namespace');
  assert.equal((await refused('/dyn-12/more', { t })).message, 'Invalid namespace');
});

test('dynamic namespaces by function: the function sees the name and auth and decides', async (t) => {
  const ok = await connected(srv, '/fn-alpha', { t, auth: { key: 'open' } });
  assert.deepEqual(await ask(ok, 'whoami'), ['/fn-alpha', ok.id]);
  // A fresh name: once /fn-alpha exists, Node lets later sockets in
  // without asking the function again.
  assert.equal((await refused('/fn-beta', { t, auth: { key: 'closed' } })).message, 'Invalid namespace');
  assert.equal((await refused('/fx-alpha', { t, auth: { key: 'open' } })).message, 'Invalid namespace');
});

test('a middleware refusing with sio.error(message, data): the client gets err.message and err.data', async (t) => {
  const err = await refused('/guarded', { t, auth: { token: 'wrong' } });
  assert.equal(err.message, 'unauthorized');
  assert.deepEqual(err.data, { reason: 'bad token', code: 401 });
  const okay = await connected(srv, '/guarded', { t, auth: { token: 'secret' } });
  assert.deepEqual(await ask(okay, 'whoami'), ['/guarded', okay.id]);
});

test('a middleware refusing with a string: err.message is that string and there is no data', async (t) => {
  const err = await refused('/refused', { t });
  assert.equal(err.message, 'go away');
  assert.equal(err.data, undefined);
});

test('middlewares run in order, one of them sleeps (yields) before next(), and the connection handler sees what they set', async (t) => {
  const t0 = Date.now();
  const c = client(srv, '/slow', { t });
  const ready = nextEvent(c, 'ready');
  await waitConnect(c);
  const elapsed = Date.now() - t0;
  const [waited, order] = await ready;
  assert.ok(elapsed >= 135, `connected after ${elapsed} ms, the middleware sleeps 150 ms`);
  assert.ok(waited >= 135, `sio.sleep(150) returned after ${waited} ms`);
  assert.deepEqual(order, ['first', 'second']);
});

test('while a middleware sleeps, other clients are served', async (t) => {
  const slow = client(srv, '/slow', { t });
  const slowConnected = waitConnect(slow).then(() => Date.now());
  const fast = await connected(srv, '/', { t });
  assert.deepEqual(await ask(fast, 'echo', 'quick'), ['quick']);
  const fastDone = Date.now();
  assert.equal(slow.connected, false, 'the sleeping middleware let the socket in too early');
  assert.ok(await slowConnected >= fastDone);
});

test('a Lua error in a middleware refuses with "server error" and is logged', async (t) => {
  const logBefore = srv.stderr().length;
  const err = await refused('/broken', { t });
  assert.equal(err.message, 'server error');
  // The log comes through a pipe: it may trail the socket's answer.
  await until(() => /middleware exploded/.test(srv.stderr().slice(logBefore)), { timeoutMs: 2000 });
  const log = srv.stderr().slice(logBefore);
  assert.match(log, /middleware exploded/);
  assert.match(log, /main\.lua:\d+/);
  const c = await connected(srv, '/', { t });
  assert.deepEqual(await ask(c, 'echo', 'alive'), ['alive']);
});

test('a middleware that returns without calling next() lets the socket in', async (t) => {
  const c = await connected(srv, '/lenient', { t });
  assert.deepEqual(await ask(c, 'whoami'), ['/lenient', c.id]);
});

test('socket:use: next(err) drops the event and emits "error" to the socket; other events pass', async (t) => {
  const c = await connected(srv, '/', { t });
  const ran = collect(c, 'forbidden-ran');
  const mwError = nextEvent(c, 'mw-error');
  c.emit('forbidden', 1, 2);
  assert.deepEqual(await mwError, ['forbidden event']);
  assert.deepEqual(await ask(c, 'echo', 'allowed'), ['allowed']);
  assert.deepEqual(ran, [], 'the dropped event reached its handler');
  assert.equal(c.connected, true);
});

test('onAny sees every incoming event with its arguments; offAny stops it', async (t) => {
  const c = await connected(srv, '/', { t });
  c.emit('a1', 1, { x: [2] });
  c.emit('a2');
  c.emit('a3', null, 'z');
  const own = (e) => !['any-log', 'stop-any'].includes(e[0]);
  const [log1] = await ask(c, 'any-log');
  assert.deepEqual(log1.filter(own), [['a1', 1, { x: [2] }], ['a2'], ['a3', null, 'z']]);
  assert.ok(log1.some((e) => e[0] === 'any-log'), 'onAny did not see an event that has its own handler');
  await ask(c, 'stop-any');
  c.emit('a4', 4);
  const [log2] = await ask(c, 'any-log');
  assert.deepEqual(log2.filter(own), [['a1', 1, { x: [2] }], ['a2'], ['a3', null, 'z']]);
});

test('onAnyOutgoing sees the events emitted to the socket (not the acks)', async (t) => {
  const c = await connected(srv, '/', { t });
  const out1 = nextEvent(c, 'out-2');
  await ask(c, 'emit-some');
  await out1;
  const [log] = await ask(c, 'outgoing-log');
  assert.deepEqual(log, [['out-1', 1], ['out-2', 'two', { three: 3 }]]);
});

for (const transports of TRANSPORTS) {
  test(`${transports[0]}: "/a" and "/b" opened from one Manager share one Engine.IO session and stay independent`, async (t) => {
    const m = new Manager(srv.url, { forceNew: true, transports, reconnection: false });
    const packets = tap(m);
    const a = m.socket('/a');
    const b = m.socket('/b');
    t.after(() => { a.disconnect(); b.disconnect(); m.disconnect(); });
    await waitConnect(a);
    await waitConnect(b);
    const engine = m.engine;
    const sid = engine.id;
    assert.deepEqual(await ask(a, 'whoami'), ['/a', a.id]);
    assert.deepEqual(await ask(b, 'whoami'), ['/b', b.id]);
    assert.notEqual(a.id, b.id);
    const texts = packets.messages().filter((d) => typeof d === 'string');
    assert.ok(texts.some((s) => s.startsWith('0/a,{"sid":')), JSON.stringify(texts));
    assert.ok(texts.some((s) => s.startsWith('0/b,{"sid":')), JSON.stringify(texts));
    a.disconnect();
    assert.deepEqual(await ask(b, 'echo', 'b still here'), ['b still here']);
    assert.equal(m.engine, engine);
    assert.equal(m.engine.id, sid);
    assert.equal(engine.readyState, 'open');
  });
}

test('connectTimeout: a raw Engine.IO session on /socket.io/ that never sends CONNECT is closed after connectTimeout (300 ms)', async (t) => {
  const short = await startApp('namespaces', { t, args: ['--set', 'connectTimeout=300'] });
  for (const transports of TRANSPORTS) {
    const t0 = Date.now();
    const e = await openEio(short, { t, transports, path: '/socket.io/' });
    const [reason] = await once(e.socket, 'close', { timeoutMs: 3000 });
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 250 && elapsed < 2000, `${transports[0]}: closed after ${elapsed} ms (${reason}), connectTimeout is 300`);
  }
  // A socket that did connect is not touched by the timer.
  const c = await connected(short, '/', { t });
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(c.connected, true);
  assert.deepEqual(await ask(c, 'echo', 'still connected'), ['still connected']);
  assert.deepEqual(await stopProblems(short), []);
});

test('no error was logged during the run except the deliberate middleware failure', () => {
  const errors = errorLines(srv.stderr()).filter((l) => !/middleware exploded/.test(l));
  assert.deepEqual(errors, []);
});

// Last: a crash or a sanitizer report anywhere in the run shows up here.
test('the server exits 0 on SIGTERM after the run, with no crash or sanitizer report', async () => {
  assert.deepEqual(await stopProblems(srv), []);
});
