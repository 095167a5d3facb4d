// Socket.IO basics with the real socket.io-client against tests/apps/basic:
// connecting to "/", events both ways with exact JSON, the handshake as Lua
// sees it, socket.id and socket.data, polling-only clients, and the
// disconnect reasons delivered to Lua.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { until } from './lib/server.mjs';
import { openRawWs, wsUrl } from './lib/eio.mjs';
import {
  startApp, connected, client, waitConnect, nextEvent, nextDisconnect, ask, collect,
  rawTexts, TRANSPORTS,
  stopProblems,
} from './lib/sio.mjs';

let srv;
before(async () => { srv = await startApp('basic'); });
after(async () => { await srv?.stop(); });

// Values whose JSON text must come back byte for byte: compact, keys in the
// order sent, 1 as 1 and 1.5 as 1.5, {} and [] kept apart, "/" unescaped.
const VALUES = [
  'hello', '', 'a/b "quoted" \\ back\nslash', 1, 1.5, -3, 0, 2 ** 53, -(2 ** 40), 0.25,
  true, false, null,
  { b: 1, a: [1, 2, { c: null }], nested: { deeper: { deepest: ['x'] } } },
  {}, [], [[], {}], [1, 'two', false, null],
];

// Opens an observer socket: it receives "gone" (id, reason, connected,
// disconnected) for every socket that leaves "/".
async function observer(t) {
  const o = await connected(srv, '/', { t });
  await ask(o, 'observe');
  const gone = collect(o, 'gone');
  return {
    async reasonFor(id) {
      const ok = await until(() => gone.find((g) => g[0] === id), { timeoutMs: 3000 });
      assert.ok(ok, `Lua reported no disconnect for ${id}; got ${JSON.stringify(gone)}`);
      return ok;
    },
  };
}

for (const transports of TRANSPORTS) {
  const tr = transports[0];

  test(`${tr}: connecting to "/" gives the client the id Lua sees as socket.id, and an emit from the connection handler arrives`, async (t) => {
    const c = client(srv, '/', { t, transports });
    const welcome = nextEvent(c, 'welcome');
    await waitConnect(c);
    assert.equal(typeof c.id, 'string');
    assert.ok(c.id.length > 0);
    assert.deepEqual(await welcome, [c.id]);
    const [hs] = await ask(c, 'handshake');
    assert.equal(hs.id, c.id);
    assert.equal(hs.nsp, '/');
    assert.equal(hs.connected, true);
    assert.equal(hs.disconnected, false);
  });

  test(`${tr}: an event echoed by the server carries strings, numbers, booleans, null, nested objects/arrays, {} and [] with the exact JSON text`, async (t) => {
    const c = await connected(srv, '/', { t, transports });
    const echo = nextEvent(c, 'echo');
    c.emit('echo', ...VALUES);
    const got = await echo;
    assert.deepEqual(got, VALUES);
    const raw = rawTexts(c).filter((s) => s.startsWith('2["echo"'));
    assert.equal(raw.length, 1, `raw echo packets: ${JSON.stringify(raw)}`);
    assert.equal(raw[0], '2' + JSON.stringify(['echo', ...VALUES]));
  });

  test(`${tr}: an ack echo carries the same values exactly, as packet 43<id>[...]`, async (t) => {
    const c = await connected(srv, '/', { t, transports });
    const got = await ask(c, 'echo', ...VALUES);
    assert.deepEqual(got, VALUES);
    const raw = rawTexts(c).filter((s) => /^3\d/.test(s));
    assert.equal(raw.length, 1, `raw ack packets: ${JSON.stringify(raw)}`);
    assert.match(raw[0], /^3\d+\[/);
    assert.equal(raw[0].replace(/^3\d+/, ''), JSON.stringify(VALUES));
  });

  test(`${tr}: floats come back as the same doubles (0.1, 0.1 + 0.2, 1e-7, 1e300, the extremes)`, async (t) => {
    const c = await connected(srv, '/', { t, transports });
    const floats = [0.1, 0.1 + 0.2, 1e-7, 123456.789, 1e300, -2.5e-300, Number.MAX_VALUE, Number.MIN_VALUE, Math.PI, 1 / 3];
    const got = await ask(c, 'echo', ...floats);
    for (let i = 0; i < floats.length; i++) {
      assert.ok(Object.is(got[i], floats[i]), `float ${i}: sent ${floats[i]}, got ${got[i]}`);
    }
  });

  test(`${tr}: non-ASCII strings, object key order and deep nesting survive the round trip`, async (t) => {
    const c = await connected(srv, '/', { t, transports });
    const v = { z: 'héllo wörld €', y: '日本語', a: '😀', m: { 3: 'c', b: [[[[['deep']]]]] } };
    const [back] = await ask(c, 'echo', v);
    assert.deepEqual(back, v);
    assert.deepEqual(Object.keys(back), Object.keys(v));
  });

  test(`${tr}: the handshake is visible in Lua: query.x, the user-agent and a custom header, auth, address, url, issued`, async (t) => {
    const before = Date.now();
    const c = await connected(srv, '/', {
      t,
      transports,
      query: { x: '42' },
      auth: { token: 'abc', n: 1, nested: { ok: true } },
      extraHeaders: { 'User-Agent': 'siolua-test/1.0', 'X-Siolua-Test': 'custom value' },
    });
    const [hs] = await ask(c, 'handshake');
    assert.equal(hs.query_x, '42');
    assert.equal(hs.user_agent, 'siolua-test/1.0');
    assert.equal(hs.custom_header, 'custom value');
    assert.deepEqual(hs.auth, { token: 'abc', n: 1, nested: { ok: true } });
    assert.match(String(hs.address), /127\.0\.0\.1/);
    assert.equal(typeof hs.url, 'string');
    assert.ok(hs.url.startsWith('/socket.io/'), `url: ${hs.url}`);
    assert.match(hs.url, /[?&]x=42(&|$)/);
    assert.match(hs.url, /[?&]EIO=4(&|$)/);
    assert.equal(hs.secure, false);
    assert.equal(typeof hs.issued, 'number');
    assert.ok(hs.issued >= before - 1000 && hs.issued <= Date.now() + 1000, `issued ${hs.issued} not close to now (${before})`);
    assert.equal(typeof hs.time, 'string');
    assert.ok(hs.time.length > 0);
    assert.equal(hs.transport, tr);
  });

  test(`${tr}: a socket kept by the app after it left still has its handshake (query, headers, auth)`, async (t) => {
    const gone = await connected(srv, '/', { t, transports, query: { x: 'kept' }, auth: { who: 'me' },
      extraHeaders: { 'User-Agent': 'siolua-kept/2.0' } });
    assert.deepEqual(await ask(gone, 'remember-me'), [true]);
    gone.disconnect();
    const other = await connected(srv, '/', { t, transports });
    let hs;
    assert.ok(await until(async () => { [hs] = await ask(other, 'remembered'); return hs && hs.gone; }),
      'the kept socket never showed as disconnected');
    assert.deepEqual(hs, { query_x: 'kept', user_agent: 'siolua-kept/2.0', auth: { who: 'me' }, gone: true });
  });

  test(`${tr}: a client that sends no auth is seen with auth {} (sent back as {})`, async (t) => {
    const c = await connected(srv, '/', { t, transports });
    const [hs] = await ask(c, 'handshake');
    assert.deepEqual(hs.auth, {});
    const raw = rawTexts(c).find((s) => /^3\d+\[/.test(s));
    assert.ok(raw.includes('"auth":{}'), `raw ack: ${raw}`);
  });

  test(`${tr}: socket.data keeps values between events and is private to each socket`, async (t) => {
    const a = await connected(srv, '/', { t, transports });
    const b = await connected(srv, '/', { t, transports });
    await ask(a, 'data-set', 'name', 'alice');
    await ask(a, 'data-set', 'profile', { age: 30, tags: ['x', 'y'] });
    assert.deepEqual(await ask(a, 'data-get', 'name'), ['alice']);
    assert.deepEqual(await ask(a, 'data-get', 'profile'), [{ age: 30, tags: ['x', 'y'] }]);
    assert.deepEqual(await ask(b, 'data-get', 'name'), [null]);
    assert.deepEqual(await ask(a, 'count'), [1]);
    assert.deepEqual(await ask(a, 'count'), [2]);
    assert.deepEqual(await ask(a, 'count'), [3]);
    assert.deepEqual(await ask(b, 'count'), [1]);
  });

  test(`${tr}: client disconnect() reaches Lua as "client namespace disconnect"`, async (t) => {
    const obs = await observer(t);
    const c = await connected(srv, '/', { t, transports });
    const id = c.id;
    c.disconnect();
    const [, reason, isConnected, isDisconnected] = await obs.reasonFor(id);
    assert.equal(reason, 'client namespace disconnect');
    assert.equal(isConnected, false);
    assert.equal(isDisconnected, true);
  });

  test(`${tr}: socket:disconnect() in Lua gives the client "io server disconnect" and Lua "server namespace disconnect"`, async (t) => {
    const obs = await observer(t);
    const c = await connected(srv, '/', { t, transports });
    const id = c.id;
    const dc = nextDisconnect(c);
    c.emit('kick-me');
    assert.equal(await dc, 'io server disconnect');
    const [, reason] = await obs.reasonFor(id);
    assert.equal(reason, 'server namespace disconnect');
  });

  test(`${tr}: socket:disconnect(true) in Lua also ends with "io server disconnect" on the client and "server namespace disconnect" in Lua`, async (t) => {
    const obs = await observer(t);
    const c = await connected(srv, '/', { t, transports });
    const id = c.id;
    const dc = nextDisconnect(c);
    c.emit('kick-me', true);
    assert.equal(await dc, 'io server disconnect');
    const [, reason] = await obs.reasonFor(id);
    assert.equal(reason, 'server namespace disconnect');
  });

  test(`${tr}: closing the client's engine reaches Lua as "transport close"`, async (t) => {
    const obs = await observer(t);
    const c = await connected(srv, '/', { t, transports });
    const id = c.id;
    c.io.engine.close();
    const [, reason] = await obs.reasonFor(id);
    assert.equal(reason, 'transport close');
  });
}

test('websocket: the TCP connection dropped without a close frame reaches Lua as "transport close"', async (t) => {
  const obs = await observer(t);
  const c = await connected(srv, '/', { t, transports: ['websocket'] });
  const id = c.id;
  c.io.engine.transport.ws._socket.destroy();
  const [, reason] = await obs.reasonFor(id);
  assert.equal(reason, 'transport close');
});

test('polling-only client (upgrade disabled) exchanges many events and stays on polling; Lua sees conn.transport.name "polling"', async (t) => {
  const c = await connected(srv, '/', { t, transports: ['polling', 'websocket'], upgrade: false });
  for (let i = 0; i < 20; i++) {
    assert.deepEqual(await ask(c, 'echo', i, { i }), [i, { i }]);
  }
  assert.equal(c.io.engine.transport.name, 'polling');
  const [hs] = await ask(c, 'handshake');
  assert.equal(hs.transport, 'polling');
});

test('default transports: after the upgrade to websocket events still flow and Lua sees conn.transport.name "websocket"', async (t) => {
  const c = client(srv, '/', { t, transports: ['polling', 'websocket'] });
  const upgraded = new Promise((resolve) => c.io.engine.once('upgrade', resolve));
  await waitConnect(c);
  await Promise.race([upgraded, new Promise((_, rej) => setTimeout(() => rej(new Error('no upgrade within 3 s')), 3000))]);
  assert.equal(c.io.engine.transport.name, 'websocket');
  const [hs] = await ask(c, 'handshake');
  assert.equal(hs.transport, 'websocket');
  assert.deepEqual(await ask(c, 'echo', 'after upgrade'), ['after upgrade']);
});

test('Lua holds integers as integers, floats as floats, and keeps {} and [] apart (sio.json.encode of each argument)', async (t) => {
  const c = await connected(srv, '/', { t });
  const [enc] = await ask(c, 'encode', 1, 1.5, -7, 0, 2 ** 53, {}, [], [1, [2, {}]], { k: [] }, null, 'x/y', true);
  assert.deepEqual(enc, ['1', '1.5', '-7', '0', '9007199254740992', '{}', '[]', '[1,[2,{}]]', '{"k":[]}', 'null', '"x/y"', 'true']);
});

test('several clients at once each get their own echoes only', async (t) => {
  const clients = await Promise.all([0, 1, 2, 3, 4].map(() => connected(srv, '/', { t })));
  const echoes = clients.map((c) => collect(c, 'echo'));
  clients.forEach((c, i) => c.emit('echo', `from ${i}`));
  await Promise.all(echoes.map((e) => e.wait(1)));
  // A round trip on each: a stray echo sent earlier would have arrived by now.
  await Promise.all(clients.map((c) => ask(c, 'count')));
  echoes.forEach((e, i) => assert.deepEqual(e, [[`from ${i}`]]));
  assert.equal(new Set(clients.map((c) => c.id)).size, 5);
});

// The server keeps the handshake's headers compactly (the common ones as a
// byte each): what the app reads must be exactly what came, common pairs,
// common names with other values and other headers alike, names
// lower-cased, values as sent.
test('socket.handshake.headers is exactly the request\'s headers, names lower-cased', async (t) => {
  const sent = {
    'Cache-Control': 'no-cache',                  // a common pair
    Pragma: 'no-cache, but not quite',            // a common name, another value
    Accept: '*/*',
    'Accept-Language': 'fr-CH, fr;q=0.9',
    'X-Mixed-Case-Name': 'Value With Case',       // neither
    'X-Empty': '',
  };
  const c = await openRawWs(wsUrl(srv, {}, '/socket.io/'), { t, headers: sent, perMessageDeflate: true });
  c.ws.send('40');
  await c.waitFrames(2);
  c.ws.send('420["handshake"]');
  assert.ok(await until(() => c.frames.some((f) => f.text?.startsWith('430'))), JSON.stringify(c.frames));
  const ack = c.frames.find((f) => f.text?.startsWith('430')).text;
  const { headers } = JSON.parse(ack.slice(3))[0];
  const expect = {
    host: `127.0.0.1:${srv.port}`,
    connection: 'Upgrade',
    upgrade: 'websocket',
    'sec-websocket-version': '13',
    'sec-websocket-extensions': 'permessage-deflate; client_max_window_bits',
    'cache-control': 'no-cache',
    pragma: 'no-cache, but not quite',
    accept: '*/*',
    'accept-language': 'fr-CH, fr;q=0.9',
    'x-mixed-case-name': 'Value With Case',
    'x-empty': '',
  };
  assert.match(headers['sec-websocket-key'], /^[A-Za-z0-9+/]{22}==$/);
  delete headers['sec-websocket-key'];
  assert.deepEqual(headers, expect);
});

// Last: a crash or a sanitizer report anywhere in the run shows up here.
test('the server exits 0 on SIGTERM after the run, with no crash or sanitizer report', async () => {
  assert.deepEqual(await stopProblems(srv), []);
});
