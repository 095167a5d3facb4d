// The Node API names of tests/apps/node_api with the real socket.io-client:
// send/write and the "message" event both ways (socket, namespace,
// operator), listeners_any, socket.request, sio.now, server_side_emit_with_ack
// without a cluster, emit_with_ack's value or nil, err, and
// sio.server:close() (every client gone, the port free, the app running).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import {
  startApp, connected, nextEvent, nextDisconnect, ask, collect, uniq, stopProblems, errorLines,
  TRANSPORTS,
} from './lib/sio.mjs';
import { until } from './lib/server.mjs';

let srv;
before(async () => { srv = await startApp('node_api', { logLevel: 'info' }); });
after(async () => {
  if (srv) {
    assert.deepEqual(await stopProblems(srv), []);
    assert.deepEqual(errorLines(srv.stderr()), []);
  }
});

for (const transports of TRANSPORTS) {
  const tr = transports[0];
  test(`${tr}: the client's send() is the event "message"; socket:send and socket:write answer with "message"`, async (t) => {
    const c = await connected(srv, '/', { t, transports });
    const got = nextEvent(c, 'message');
    c.send('hi', { n: 1 });
    assert.deepEqual(await got, ['got', 'hi', { n: 1 }]);
    const written = nextEvent(c, 'message');
    c.emit('write', 'w');
    assert.deepEqual(await written, ['w']);
  });
}

test('nsp:send reaches every socket; op:write (send) the room only', async (t) => {
  const room = uniq('send');
  const a = await connected(srv, '/', { t });
  const b = await connected(srv, '/', { t });
  await ask(a, 'join', room);
  const all = [a, b].map((c) => nextEvent(c, 'message'));
  a.emit('nsp-send', 'to all');
  for (const p of all) assert.deepEqual(await p, ['to all']);
  const gotA = collect(a, 'message');
  const gotB = collect(b, 'message');
  b.emit('room-send', room, 'to the room');
  await gotA.wait(1);
  await ask(b, 'join', 'barrier'); // b's own events are in order: nothing came meanwhile
  assert.deepEqual(gotA, [['to the room']]);
  assert.deepEqual(gotB, []);
});

test('socket.local_ (Node\'s socket.local) reaches the others on this server, not the socket itself', async (t) => {
  const a = await connected(srv, '/', { t });
  const b = await connected(srv, '/', { t });
  const gotA = collect(a, 'local');
  const heard = nextEvent(b, 'local');
  a.emit('local-emit', 'here');
  assert.deepEqual(await heard, ['here']);
  await ask(a, 'join', 'barrier');
  assert.deepEqual(gotA, []);
});

test('listeners_any / listenersAny and the outgoing list: copies, in order, emptied by off_any', async (t) => {
  const c = await connected(srv, '/', { t });
  const [r] = await ask(c, 'listeners-any');
  assert.deepEqual(r, { any: 2, first_prepended: true, second: true, outgoing: 1, copy: true, after_off: 0 });
});

test('socket.request: the handshake request (GET, its URL and headers, the address)', async (t) => {
  const c = await connected(srv, '/', { t, extraHeaders: { 'x-api-test': 'yes' }, query: { q: '1' } });
  const [r] = await ask(c, 'request');
  assert.equal(r.method, 'GET');
  assert.match(r.url, /^\/socket\.io\/\?.*q=1/);
  assert.equal(r.custom, 'yes');
  assert.equal(r.address, '127.0.0.1');
});

test('sio.now() is the wall clock in integer milliseconds (Date.now()), sio.monotonic() a float', async (t) => {
  const c = await connected(srv, '/', { t });
  const before = Date.now();
  const [now, kind, monoKind] = await ask(c, 'clock');
  assert.ok(now >= before - 1000 && now <= Date.now() + 1000, `${now} vs ${before}`);
  assert.equal(kind, 'integer');
  assert.equal(monoKind, 'float');
});

test('server_side_emit_with_ack without a cluster: no other server, an empty answer at once', async (t) => {
  const c = await connected(srv, '/', { t });
  assert.deepEqual(await ask(c, 'sse-alone'), [[], null]);
});

test('emit_with_ack: the first argument of the ack, or nil and the timeout; a socket that leaves ends the wait with "disconnected"', async (t) => {
  const c = await connected(srv, '/', { t });
  c.once('question', (cb) => cb('answer', 'more'));
  assert.deepEqual(await ask(c, 'ask', 2000), ['answer', null]);
  c.once('question', () => {});
  assert.deepEqual(await ask(c, 'ask', 50), [null, 'operation has timed out']);
  const observer = await connected(srv, '/', { t });
  await ask(observer, 'join', 'observers');
  const outcome = nextEvent(observer, 'outcome');
  const leaving = await connected(srv, '/', { t });
  leaving.once('question', () => leaving.disconnect());
  await ask(leaving, 'ask-forever');
  assert.deepEqual(await outcome, [null, 'disconnected']);
});

test('sio.server:close(): every client is disconnected, the port refuses connections, close returns true once done, the app runs on', async (t) => {
  const own = await startApp('node_api', { t, logLevel: 'info' });
  const clients = [
    await connected(own, '/', { t }),
    await connected(own, '/', { t, transports: ['polling'] }),
  ];
  const gone = clients.map((c) => nextDisconnect(c, 5000));
  await ask(clients[0], 'close-server');
  for (const reason of await Promise.all(gone)) assert.equal(reason, 'transport close');
  assert.ok(await until(() => /the app still runs/.test(own.stderr()), { timeoutMs: 5000 }), own.stderr());
  assert.match(own.stderr(), /socket left: server shutting down/);
  assert.match(own.stderr(), /close returned true after \d+ ms/);
  assert.match(own.stderr(), /a second close returns true/);
  const refused = await new Promise((resolve) => {
    const s = net.connect(own.port, '127.0.0.1');
    s.on('connect', () => { s.destroy(); resolve(false); });
    s.on('error', (e) => resolve(e.code === 'ECONNREFUSED'));
  });
  assert.ok(refused, 'the port still takes connections');
  assert.equal(own.proc.exitCode, null, 'the process runs on');
  assert.deepEqual(await stopProblems(own), []);
  assert.deepEqual(errorLines(own.stderr()), []);
});
