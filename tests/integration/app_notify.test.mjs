// apps/notify with the real socket.io-client: JWT-authenticated sockets on
// the namespace /notice (and on the path /notice), the room user:<id> per
// user, POST /api/notify for backends, the development token route, and the
// command-line tools. Tokens are minted here with node:crypto (HS256,
// base64url), not with the app's code. Each test runs its own server and
// ends by checking it stops cleanly with no error in its log.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createHmac } from 'node:crypto';
import { request, until } from './lib/server.mjs';
import { waitConnectError, rawTexts, TRANSPORTS } from './lib/sio.mjs';
import {
  NOTIFY_DIR, SECRET, API_KEY, DEV_SECRET, DEV_KEY,
  startNotify, assertCleanStop, signJwt, tokenFor, decodeJwt, nowSec,
  notify, tab, userTab, waitHeard, notices,
} from './lib/notify.mjs';

// Runs a program to completion; resolves {code, stdout, stderr}.
function run(cmd, args, { env = {}, timeoutMs = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    const proc = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    proc.stdout.setEncoding('utf8').on('data', (d) => { stdout += d; });
    proc.stderr.setEncoding('utf8').on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`${cmd} ${args.join(' ')}: no exit within ${timeoutMs} ms\n${stdout}\n${stderr}`)); }, timeoutMs);
    proc.on('error', (e) => { clearTimeout(timer); reject(e); });
    proc.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

const MINT = join(NOTIFY_DIR, 'tools', 'mint-token.mjs');
const SEND = join(NOTIFY_DIR, 'tools', 'send.sh');

// ---------------------------------------------------------------------------
// Connecting

for (const transports of TRANSPORTS) {
  test(`${transports[0]}: a valid token in auth.token connects to /notice and gets "ready" {user}, as the only packet after CONNECT`, async (t) => {
    const srv = await startNotify(t);
    const me = await userTab(srv, t, '42', { transports });
    assert.equal(me.socket.io.engine.transport.name, transports[0]);
    assert.deepEqual(me.heard, [['ready', { user: '42' }]]);
    const texts = rawTexts(me.socket);
    assert.equal(texts.length, 2, JSON.stringify(texts));
    assert.match(texts[0], /^0\/notice,\{"sid":"[^"]+"\}$/);
    assert.equal(texts[1], '2/notice,["ready",{"user":"42"}]');
    await assertCleanStop(srv);
  });
}

test('an integer `sub` is the same user as its string: ready says "42", and a notification for 42 reaches it', async (t) => {
  const srv = await startNotify(t);
  const me = await userTab(srv, t, 42, { token: signJwt({ sub: 42, exp: nowSec() + 600 }) });
  assert.deepEqual(me.heard, [['ready', { user: '42' }]]);
  const res = await notify(srv, { user: '42', event: 'notice', data: { n: 1 } });
  assert.equal(res.json.sockets, 1);
  await waitHeard(me, (e) => e[0] === 'notice');
  assert.deepEqual(notices(me), [['notice', { n: 1 }]]);
  await assertCleanStop(srv);
});

for (const transports of TRANSPORTS) {
  test(`${transports[0]}: the token in the query (?token=) works for clients without an auth payload`, async (t) => {
    const srv = await startNotify(t);
    const me = await userTab(srv, t, '42', { transports, auth: {}, query: { token: tokenFor('42') } });
    assert.deepEqual(me.heard, [['ready', { user: '42' }]]);
    assert.equal((await notify(srv, { user: 42, event: 'notice', data: 'q' })).json.sockets, 1);
    await waitHeard(me, (e) => e[0] === 'notice');
    assert.deepEqual(notices(me), [['notice', 'q']]);
    await assertCleanStop(srv);
  });
}

test('auth.token wins over ?token=: a good auth token with a bad query token connects, a bad auth token with a good query token is refused', async (t) => {
  const srv = await startNotify(t);
  const good = await userTab(srv, t, '42', { auth: { token: tokenFor('42') }, query: { token: 'garbage' } });
  assert.deepEqual(good.heard, [['ready', { user: '42' }]]);
  const bad = tab(srv, t, { auth: { token: tokenFor('42', { secret: 'other' }) }, query: { token: tokenFor('42') } });
  const err = await waitConnectError(bad.socket);
  assert.equal(err.message, 'Authentication error');
  assert.deepEqual(err.data, { reason: 'bad signature' });
  await assertCleanStop(srv);
});

for (const transports of TRANSPORTS) {
  test(`${transports[0]}: io(url, {path: "/notice"}) connects to the namespace "/" with the same auth, gets "ready", and is counted and notified`, async (t) => {
    const srv = await startNotify(t);
    const me = await userTab(srv, t, '42', { nsp: '/', path: '/notice', transports });
    assert.deepEqual(me.heard, [['ready', { user: '42' }]]);
    const texts = rawTexts(me.socket);
    assert.match(texts[0], /^0\{"sid":"[^"]+"\}$/);
    assert.equal(texts[1], '2["ready",{"user":"42"}]');
    const res = await notify(srv, { user: 42, event: 'notice', data: { via: 'path' } });
    assert.equal(res.status, 200);
    assert.equal(res.json.sockets, 1);
    await waitHeard(me, (e) => e[0] === 'notice');
    assert.deepEqual(notices(me), [['notice', { via: 'path' }]]);
    // Without a token the path /notice refuses just like the namespace.
    const anon = tab(srv, t, { nsp: '/', path: '/notice', transports });
    const err = await waitConnectError(anon.socket);
    assert.equal(err.message, 'Authentication error');
    assert.deepEqual(err.data, { reason: 'missing token' });
    await assertCleanStop(srv);
  });
}

// ---------------------------------------------------------------------------
// Refusals: connect_error "Authentication error" with err.data.reason, and nothing else

const b64 = (s) => Buffer.from(s).toString('base64url');
const HEAD = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
const REFUSALS = [
  // [name, handshake options (auth/query), reason]
  ['no token at all', {}, 'missing token'],
  ['an empty token', { auth: { token: '' } }, 'missing token'],
  ['a token that is not a string', { auth: { token: 12345 } }, 'missing token'],
  ['a token signed with another secret', { auth: { token: tokenFor('42', { secret: 'not-the-secret' }) } }, 'bad signature'],
  ['a token whose payload was changed after signing', {
    auth: { token: (() => { const [h, , s] = tokenFor('7').split('.'); return `${h}.${b64(JSON.stringify({ sub: '42', exp: nowSec() + 600 }))}.${s}`; })() },
  }, 'bad signature'],
  ['a token with its signature cut off', { auth: { token: tokenFor('42').split('.').slice(0, 2).join('.') } }, 'malformed'],
  ['an expired token', { auth: { token: tokenFor('42', { ttl: -60 }) } }, 'expired'],
  ['a token not valid before an hour from now', { auth: { token: tokenFor('42', { claims: { nbf: nowSec() + 3600 } }) } }, 'not yet valid'],
  ['a token with alg "none" (signed anyway)', { auth: { token: signJwt({ sub: '42', exp: nowSec() + 600 }, { header: { alg: 'none', typ: 'JWT' } }) } }, 'bad algorithm'],
  ['an unsecured token: alg "none", empty signature', {
    auth: { token: `${b64(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64(JSON.stringify({ sub: '42', exp: nowSec() + 600 }))}.` },
  }, 'malformed'],
  ['a token with alg "HS512"', { auth: { token: signJwt({ sub: '42', exp: nowSec() + 600 }, { header: { alg: 'HS512', typ: 'JWT' } }) } }, 'bad algorithm'],
  ['a correctly signed token without exp', { auth: { token: signJwt({ sub: '42' }) } }, 'token without exp'],
  ['a token whose exp is a string', { auth: { token: signJwt({ sub: '42', exp: String(nowSec() + 600) }) } }, 'token without exp'],
  ['a correctly signed token without sub', { auth: { token: signJwt({ exp: nowSec() + 600 }) } }, 'token without sub'],
  ['a token with an empty sub', { auth: { token: signJwt({ sub: '', exp: nowSec() + 600 }) } }, 'token without sub'],
  ['a token whose sub is an object', { auth: { token: signJwt({ sub: { id: 42 }, exp: nowSec() + 600 }) } }, 'token without sub'],
  ['garbage', { auth: { token: 'garbage' } }, 'malformed'],
  ['three dotted words', { auth: { token: 'not.a.jwt' } }, 'malformed'],
  ['a signed payload that is not JSON', { auth: { token: signJwt('{"sub":"42",') } }, 'malformed'],
  ['a bad token in ?token=', { query: { token: tokenFor('42', { ttl: -60 }) } }, 'expired'],
];

// For each case: an observer socket (user "observer", namespace "/") shares
// the Manager - and so the Engine.IO connection - with the refused /notice
// socket, which keeps that connection open after the refusal. A
// notification for the token's user 42 then reaches nobody (sockets: 0),
// and one for the observer is the barrier: once it has arrived, every
// packet the server wrote before it has too. The only /notice packet on the
// connection must be the CONNECT_ERROR.
for (const transports of TRANSPORTS) {
  for (const [name, opts, reason] of REFUSALS) {
    test(`${transports[0]}: ${name} → connect_error "Authentication error" {reason: "${reason}"} and nothing else`, async (t) => {
      const srv = await startNotify(t);
      const observerToken = tokenFor('observer');
      // The query (if any) is the connection's, so the observer sees it too;
      // its auth token takes precedence.
      const observer = await userTab(srv, t, 'observer', { nsp: '/', transports, auth: { token: observerToken }, query: opts.query });
      const socket = observer.socket.io.socket('/notice', { auth: opts.auth ?? {} });
      const heard = [];
      socket.onAny((...e) => heard.push(e));
      const err = await waitConnectError(socket);
      assert.equal(err.message, 'Authentication error');
      assert.deepEqual(err.data, { reason });
      assert.equal(socket.connected, false);

      const res = await notify(srv, { user: 42, event: 'notice', data: { secret: 'for 42 only' } });
      assert.equal(res.status, 200);
      assert.equal(res.json.sockets, 0, 'the refused socket is in no room');
      assert.equal((await notify(srv, { user: 'observer', event: 'barrier' })).json.sockets, 1);
      await waitHeard(observer, (e) => e[0] === 'barrier');

      assert.deepEqual(heard, []);
      const nsp = rawTexts(observer.socket).filter((p) => /^\d+\/notice,/.test(p));
      assert.equal(nsp.length, 1, JSON.stringify(nsp));
      assert.ok(nsp[0].startsWith('4/notice,'), nsp[0]);
      assert.deepEqual(JSON.parse(nsp[0].slice('4/notice,'.length)), { message: 'Authentication error', data: { reason } });
      assert.deepEqual(observer.heard, [['ready', { user: 'observer' }], ['barrier']]);
      await assertCleanStop(srv);
    });
  }
}

test('a refused socket with its own connection: the client gets connect_error alone, no connect and no event', async (t) => {
  const srv = await startNotify(t);
  const me = tab(srv, t, { auth: { token: tokenFor('42', { secret: 'nope' }) } });
  let connects = 0;
  me.socket.on('connect', () => { connects += 1; });
  const err = await waitConnectError(me.socket);
  assert.deepEqual([err.message, err.data], ['Authentication error', { reason: 'bad signature' }]);
  const texts = rawTexts(me.socket);
  assert.deepEqual(texts, ['4/notice,{"message":"Authentication error","data":{"reason":"bad signature"}}']);
  assert.equal(connects, 0);
  assert.deepEqual(me.heard, []);
  await assertCleanStop(srv);
});

// ---------------------------------------------------------------------------
// Delivery

test('two sockets of user 42 (one websocket, one polling-only) both get a POST /api/notify, which answers sockets: 2; user 7 gets none of it', async (t) => {
  const srv = await startNotify(t);
  const ws = await userTab(srv, t, '42', { transports: ['websocket'] });
  const poll = await userTab(srv, t, '42', { transports: ['polling'] });
  const seven = await userTab(srv, t, '7', { transports: ['websocket'] });
  assert.equal(ws.socket.io.engine.transport.name, 'websocket');
  assert.equal(poll.socket.io.engine.transport.name, 'polling');

  const data = { text: 'hello', n: 1, nested: { list: [1, 'two', null, true], empty: {} }, unicode: 'héllo ✓' };
  const res = await notify(srv, { user: 42, event: 'notice', data });
  assert.equal(res.status, 200);
  assert.match(res.headers['content-type'] || '', /^application\/json/);
  assert.deepEqual(res.json, { delivered: true, user: '42', event: 'notice', sockets: 2 });
  await waitHeard(ws, (e) => e[0] === 'notice');
  await waitHeard(poll, (e) => e[0] === 'notice');
  assert.deepEqual(notices(ws), [['notice', data]]);
  assert.deepEqual(notices(poll), [['notice', data]]);
  assert.equal(poll.socket.io.engine.transport.name, 'polling', 'still polling');

  // User 7's own notification is sent after 42's and arrives on the same
  // connection in order: once it is in, 42's would have been too.
  const r7 = await notify(srv, { user: '7', event: 'notice', data: { for: 7 } });
  assert.deepEqual(r7.json, { delivered: true, user: '7', event: 'notice', sockets: 1 });
  await waitHeard(seven, (e) => e[0] === 'notice');
  assert.deepEqual(notices(seven), [['notice', { for: 7 }]]);
  assert.deepEqual(notices(ws), [['notice', data]], 'user 42 does not get 7\'s');
  await assertCleanStop(srv);
});

test('a user with tabs on the namespace /notice and on the path /notice gets one copy per tab; sockets counts both namespaces', async (t) => {
  const srv = await startNotify(t);
  const a = await userTab(srv, t, '42');
  const b = await userTab(srv, t, '42', { nsp: '/', path: '/notice' });
  const c = await userTab(srv, t, '42', { nsp: '/', transports: ['polling'] });
  const res = await notify(srv, { user: '42', event: 'ping', data: 1 });
  assert.equal(res.json.sockets, 3);
  for (const me of [a, b, c]) {
    await waitHeard(me, (e) => e[0] === 'ping');
    assert.deepEqual(notices(me), [['ping', 1]]);
  }
  await assertCleanStop(srv);
});

test('a user with no socket: 200, delivered: false, sockets: 0 (no error); ?wait=1 changes nothing on one instance', async (t) => {
  const srv = await startNotify(t);
  const res = await notify(srv, { user: 'nobody', event: 'notice', data: {} });
  assert.equal(res.status, 200);
  assert.deepEqual(res.json, { delivered: false, user: 'nobody', event: 'notice', sockets: 0 });
  const waited = await request(`${srv.url}/api/notify?wait=1`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${API_KEY}` },
    body: JSON.stringify({ user: 'nobody', event: 'notice' }),
  });
  assert.equal(waited.status, 200);
  assert.deepEqual(JSON.parse(waited.text), { delivered: false, user: 'nobody', event: 'notice', sockets: 0 });
  await assertCleanStop(srv);
});

test('data omitted → the event arrives with no argument; data null, a string, a number, an array, false arrive as that one argument', async (t) => {
  const srv = await startNotify(t);
  const me = await userTab(srv, t, '42');
  const cases = [[undefined, []], [null, [null]], ['text', ['text']], [3.5, [3.5]], [[1, [2]], [[1, [2]]]], [false, [false]], [{}, [{}]]];
  for (const [i, [data]] of cases.entries()) {
    const body = { user: 42, event: `e${i}` };
    if (data !== undefined) body.data = data;
    const res = await notify(srv, body);
    assert.equal(res.json.sockets, 1, JSON.stringify(body));
  }
  await waitHeard(me, (e) => e[0] === `e${cases.length - 1}`);
  assert.deepEqual(notices(me), cases.map(([, args], i) => [`e${i}`, ...args]));
  assert.ok(rawTexts(me.socket).includes('2/notice,["e0"]'), JSON.stringify(rawTexts(me.socket)));
  assert.ok(rawTexts(me.socket).includes('2/notice,["e1",null]'));
  await assertCleanStop(srv);
});

test('a closed tab (clean disconnect, or its connection dropped) does not stop the other tab of the user from receiving', async (t) => {
  const srv = await startNotify(t);
  const keep = await userTab(srv, t, '42');
  const closed = await userTab(srv, t, '42', { transports: ['polling'] });
  const dropped = await userTab(srv, t, '42');
  assert.equal((await notify(srv, { user: 42, event: 'first' })).json.sockets, 3);
  for (const me of [keep, closed, dropped]) await waitHeard(me, (e) => e[0] === 'first');

  closed.socket.disconnect();
  dropped.socket.io.engine.transport.ws._socket.destroy(); // the TCP connection goes, no close frame
  // The server notices each at its own pace: count with a harmless event
  // until only one socket is left (a socket leaving its room is the point).
  const left = await until(async () => (await notify(srv, { user: 42, event: 'count' })).json.sockets === 1, { timeoutMs: 5000, stepMs: 50 });
  assert.ok(left, 'the closed tabs are still counted');

  const res = await notify(srv, { user: 42, event: 'second', data: { still: 'here' } });
  assert.deepEqual(res.json, { delivered: true, user: '42', event: 'second', sockets: 1 });
  await waitHeard(keep, (e) => e[0] === 'second');
  assert.deepEqual(notices(keep).filter((e) => e[0] !== 'count'), [['first'], ['second', { still: 'here' }]]);
  assert.equal(notices(closed).some((e) => e[0] === 'second'), false);
  assert.equal(notices(dropped).some((e) => e[0] === 'second'), false);
  assert.equal(keep.socket.connected, true);

  // A new tab of the same user joins the room again.
  const again = await userTab(srv, t, '42');
  assert.equal((await notify(srv, { user: 42, event: 'third' })).json.sockets, 2);
  await waitHeard(again, (e) => e[0] === 'third');
  await waitHeard(keep, (e) => e[0] === 'third');
  await assertCleanStop(srv);
});

// ---------------------------------------------------------------------------
// POST /api/notify: refusals

test('POST /api/notify without a key, with a wrong key, a key of another length, another scheme, or the development key → 401 with a message, and nothing is delivered', async (t) => {
  const srv = await startNotify(t);
  const me = await userTab(srv, t, '42');
  const body = { user: 42, event: 'notice', data: { text: 'forged' } };
  const tries = [
    ['no Authorization', { key: null }],
    ['wrong key', { key: 'test-api-key-k3Y' }],
    ['a prefix of the key', { key: API_KEY.slice(0, -1) }],
    ['the key plus one character', { key: `${API_KEY}x` }],
    ['an empty Bearer', { key: '' }],
    ['the development key', { key: DEV_KEY }],
    ['Basic scheme', { key: null, headers: { Authorization: `Basic ${API_KEY}` } }],
    ['the key without a scheme', { key: null, headers: { Authorization: API_KEY } }],
  ];
  for (const [name, opts] of tries) {
    const res = await notify(srv, body, opts);
    assert.equal(res.status, 401, name);
    assert.match(res.json?.error ?? '', /^unauthorized/, `${name}: ${res.text}`);
  }
  // Barrier: an authorized one after all of them arrives alone.
  assert.equal((await notify(srv, { user: 42, event: 'real' })).json.sockets, 1);
  await waitHeard(me, (e) => e[0] === 'real');
  assert.deepEqual(notices(me), [['real']]);
  await assertCleanStop(srv);
});

test('POST /api/notify with bad JSON → 400 "invalid JSON body: ..."; a JSON body that is not an object → 400 with a message', async (t) => {
  const srv = await startNotify(t);
  const me = await userTab(srv, t, '42');
  for (const raw of ['{"user": 42, "event": "notice"', '{bad', 'not json', '', '{"user":42,"event":"x"} trailing']) {
    const res = await notify(srv, raw);
    assert.equal(res.status, 400, JSON.stringify(raw));
    assert.match(res.json?.error ?? '', /^invalid JSON body: \S/, `${JSON.stringify(raw)}: ${res.text}`);
  }
  for (const raw of ['null', '42', '"a string"', 'true']) {
    const res = await notify(srv, raw);
    assert.equal(res.status, 400, raw);
    assert.deepEqual(res.json, { error: 'the body must be a JSON object' }, raw);
  }
  // An array is refused too (whatever the message says).
  const arr = await notify(srv, '[{"user":42,"event":"notice"}]');
  assert.equal(arr.status, 400);
  assert.equal(typeof arr.json?.error, 'string');
  assert.equal((await notify(srv, { user: 42, event: 'real' })).json.sockets, 1);
  await waitHeard(me, (e) => e[0] === 'real');
  assert.deepEqual(notices(me), [['real']]);
  await assertCleanStop(srv);
});

test('POST /api/notify with a missing or bad user, a missing or bad event, or a reserved event name → 400 with the message; nothing is delivered', async (t) => {
  const srv = await startNotify(t);
  const me = await userTab(srv, t, '42');
  const USER = '"user" is required (a string or an integer)';
  const EVENT = '"event" is required (a string)';
  const cases = [
    [{ event: 'notice' }, USER],
    [{ user: '', event: 'notice' }, USER],
    [{ user: null, event: 'notice' }, USER],
    [{ user: 42.5, event: 'notice' }, USER],
    [{ user: true, event: 'notice' }, USER],
    [{ user: [42], event: 'notice' }, USER],
    [{ user: { id: 42 }, event: 'notice' }, USER],
    [{ user: 42 }, EVENT],
    [{ user: 42, data: { text: 'x' } }, EVENT],
    [{ user: 42, event: '' }, EVENT],
    [{ user: 42, event: 7 }, EVENT],
    [{ user: 42, event: null }, EVENT],
    [{ user: 42, event: ['notice'] }, EVENT],
    [{}, USER],
  ];
  for (const name of ['connect', 'connect_error', 'disconnect', 'disconnecting', 'newListener', 'removeListener']) {
    cases.push([{ user: 42, event: name, data: 1 }, `"event" is a reserved name: ${name}`]);
  }
  for (const [body, error] of cases) {
    const res = await notify(srv, body);
    assert.equal(res.status, 400, JSON.stringify(body));
    assert.deepEqual(res.json, { error }, JSON.stringify(body));
  }
  assert.equal((await notify(srv, { user: 42, event: 'real' })).json.sockets, 1);
  await waitHeard(me, (e) => e[0] === 'real');
  assert.deepEqual(notices(me), [['real']]);
  assert.equal(me.socket.connected, true, 'a reserved name never reached (and broke) the client');
  await assertCleanStop(srv);
});

test('GET /api/notify is not a way to send (only POST is routed)', async (t) => {
  const srv = await startNotify(t);
  const me = await userTab(srv, t, '42');
  const res = await request(`${srv.url}/api/notify?user=42&event=notice`, { headers: { Authorization: `Bearer ${API_KEY}` } });
  assert.notEqual(res.status, 200);
  assert.equal((await notify(srv, { user: 42, event: 'real' })).json.sockets, 1);
  await waitHeard(me, (e) => e[0] === 'real');
  assert.deepEqual(notices(me), [['real']]);
  await assertCleanStop(srv);
});

// ---------------------------------------------------------------------------
// Development mode

test('dev mode (no NOTIFY_SECRET): the start is logged, /api/dev-token?user=ID gives a token for ID that connects and the key that sends', async (t) => {
  const srv = await startNotify(t, { dev: true });
  assert.match(srv.stderr(), /NOTIFY_SECRET is not set/);
  assert.match(srv.stderr(), /NOTIFY_API_KEY is not set/);
  const res = await request(`${srv.url}/api/dev-token?user=42`);
  assert.equal(res.status, 200);
  const body = JSON.parse(res.text);
  assert.equal(body.user, '42');
  assert.equal(body.api_key, DEV_KEY);
  const { header, payload } = decodeJwt(body.token);
  assert.equal(header.alg, 'HS256');
  assert.equal(payload.sub, '42');
  // About an hour (3600 s) from the server's clock, which is this machine's.
  assert.ok(Math.abs(payload.exp - (nowSec() + 3600)) <= 120, `exp ${payload.exp}`);
  // Signed with the development secret (checked here, independently).
  const [h, p, sig] = body.token.split('.');
  assert.equal(sig, createHmac('sha256', DEV_SECRET).update(`${h}.${p}`).digest('base64url'));

  const me = await userTab(srv, t, '42', { token: body.token });
  assert.deepEqual(me.heard, [['ready', { user: '42' }]]);
  const sent = await notify(srv, { user: 42, event: 'notice', data: { dev: true } }, { key: body.api_key });
  assert.deepEqual(sent.json, { delivered: true, user: '42', event: 'notice', sockets: 1 });
  await waitHeard(me, (e) => e[0] === 'notice');
  assert.deepEqual(notices(me), [['notice', { dev: true }]]);
  // A token minted here with the development secret works as well.
  const mine = await userTab(srv, t, 'alice@example.org', { token: tokenFor('alice@example.org', { secret: DEV_SECRET }) });
  assert.deepEqual(mine.heard, [['ready', { user: 'alice@example.org' }]]);
  await assertCleanStop(srv);
});

test('dev mode: /api/dev-token without a user or with a user outside [A-Za-z0-9_-.@] → 400 with a message', async (t) => {
  const srv = await startNotify(t, { dev: true });
  for (const q of ['', '?user=', '?user=a%20b', '?user=%3Cscript%3E', '?user=a/b', '?other=1']) {
    const res = await request(`${srv.url}/api/dev-token${q}`);
    assert.equal(res.status, 400, q);
    assert.match(JSON.parse(res.text).error, /user=ID is required/, q);
  }
  for (const user of ['a.b-c_d@e', 'X9']) {
    const res = await request(`${srv.url}/api/dev-token?user=${encodeURIComponent(user)}`);
    assert.equal(res.status, 200, user);
    assert.equal(JSON.parse(res.text).user, user);
  }
  await assertCleanStop(srv);
});

test('with NOTIFY_SECRET set, /api/dev-token is 404, nothing about development is logged, and tokens signed with the development secret are refused', async (t) => {
  const srv = await startNotify(t);
  assert.doesNotMatch(srv.stderr(), /is not set/);
  const res = await request(`${srv.url}/api/dev-token?user=42`);
  assert.equal(res.status, 404);
  assert.doesNotMatch(res.text, /token/);
  const me = tab(srv, t, { auth: { token: tokenFor('42', { secret: DEV_SECRET }) } });
  const err = await waitConnectError(me.socket);
  assert.deepEqual([err.message, err.data], ['Authentication error', { reason: 'bad signature' }]);
  await assertCleanStop(srv);
});

test('half-configured, NOTIFY_SECRET set but NOTIFY_API_KEY not: the dev route is off, and POST /api/notify refuses every key, the public development key included (logged)', async (t) => {
  const srv = await startNotify(t, { apiKey: '' });
  assert.match(srv.stderr(), /NOTIFY_API_KEY is not set: POST \/api\/notify refuses every request/);
  assert.doesNotMatch(srv.stderr(), /NOTIFY_SECRET is not set/);
  assert.equal((await request(`${srv.url}/api/dev-token?user=42`)).status, 404);
  await userTab(srv, t, '42');
  assert.equal((await notify(srv, { user: 42, event: 'n' }, { key: DEV_KEY })).status, 401);
  assert.equal((await notify(srv, { user: 42, event: 'n' }, { key: '' })).status, 401);
  await assertCleanStop(srv);
});

test('dev mode with a real NOTIFY_API_KEY: /api/dev-token gives a token but no key (the page then hides its send form)', async (t) => {
  const srv = await startNotify(t, { secret: '' });
  const res = await request(`${srv.url}/api/dev-token?user=42`);
  assert.equal(res.status, 200);
  const body = JSON.parse(res.text);
  assert.equal(body.api_key, null);
  assert.match(body.token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  await assertCleanStop(srv);
});

// ---------------------------------------------------------------------------
// The tools

test('tools/mint-token.mjs makes a token (NOTIFY_SECRET, TTL) the server accepts; a negative TTL makes an expired one; no user → usage, exit 2', async (t) => {
  const srv = await startNotify(t);
  const out = await run(process.execPath, [MINT, '42', '600'], { env: { NOTIFY_SECRET: SECRET } });
  assert.equal(out.code, 0, out.stderr);
  const token = out.stdout.trim();
  assert.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  const { header, payload } = decodeJwt(token);
  assert.deepEqual(header, { alg: 'HS256', typ: 'JWT' });
  assert.equal(payload.sub, '42');
  assert.ok(Math.abs(payload.exp - (nowSec() + 600)) <= 60, `exp ${payload.exp}`);
  const me = await userTab(srv, t, '42', { token });
  assert.deepEqual(me.heard, [['ready', { user: '42' }]]);

  const old = await run(process.execPath, [MINT, '42', '-60'], { env: { NOTIFY_SECRET: SECRET } });
  assert.equal(old.code, 0, old.stderr);
  const refused = tab(srv, t, { auth: { token: old.stdout.trim() } });
  const err = await waitConnectError(refused.socket);
  assert.deepEqual(err.data, { reason: 'expired' });

  // Without NOTIFY_SECRET it signs with the development secret: refused here.
  const dev = await run(process.execPath, [MINT, '42'], { env: { NOTIFY_SECRET: '' } });
  const devTab = tab(srv, t, { auth: { token: dev.stdout.trim() } });
  assert.deepEqual((await waitConnectError(devTab.socket)).data, { reason: 'bad signature' });

  const usage = await run(process.execPath, [MINT], { env: { NOTIFY_SECRET: SECRET } });
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /usage/);
  assert.equal(usage.stdout, '');
  await assertCleanStop(srv);
});

test('tools/send.sh USER EVENT DATA URL (NOTIFY_API_KEY) delivers and prints the answer; without DATA the event carries null; a wrong key prints the 401 error', async (t) => {
  const srv = await startNotify(t);
  const a = await userTab(srv, t, '42');
  const b = await userTab(srv, t, '42', { transports: ['polling'] });
  const out = await run('sh', [SEND, '42', 'notice', '{"text":"hi from send.sh"}', srv.url], { env: { NOTIFY_API_KEY: API_KEY } });
  assert.equal(out.code, 0, out.stderr);
  assert.deepEqual(JSON.parse(out.stdout), { delivered: true, user: '42', event: 'notice', sockets: 2 });
  for (const me of [a, b]) {
    await waitHeard(me, (e) => e[0] === 'notice');
    assert.deepEqual(notices(me), [['notice', { text: 'hi from send.sh' }]]);
  }
  const bare = await run('sh', [SEND, '42', 'bare', '', srv.url], { env: { NOTIFY_API_KEY: API_KEY } });
  assert.equal(bare.code, 0, bare.stderr);
  assert.equal(JSON.parse(bare.stdout).sockets, 2);
  await waitHeard(a, (e) => e[0] === 'bare');
  assert.deepEqual(notices(a).at(-1), ['bare', null]);

  const wrong = await run('sh', [SEND, '42', 'notice', '{"text":"forged"}', srv.url], { env: { NOTIFY_API_KEY: 'wrong' } });
  assert.match(JSON.parse(wrong.stdout).error, /^unauthorized/);
  const usage = await run('sh', [SEND, '42'], { env: { NOTIFY_API_KEY: API_KEY } });
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /usage/);
  assert.equal((await notify(srv, { user: 42, event: 'end' })).json.sockets, 2);
  await waitHeard(a, (e) => e[0] === 'end');
  assert.deepEqual(notices(a).map((e) => e[0]), ['notice', 'bare', 'end']);
  await assertCleanStop(srv);
});

test('dev mode: mint-token.mjs and send.sh with no environment at all work against the development server', async (t) => {
  const srv = await startNotify(t, { dev: true });
  const out = await run(process.execPath, [MINT, '42'], { env: { NOTIFY_SECRET: '' } });
  assert.equal(out.code, 0, out.stderr);
  const me = await userTab(srv, t, '42', { token: out.stdout.trim() });
  const sent = await run('sh', [SEND, '42', 'notice', '{"text":"dev"}', srv.url], { env: { NOTIFY_API_KEY: '' } });
  assert.equal(sent.code, 0, sent.stderr);
  assert.equal(JSON.parse(sent.stdout).sockets, 1);
  await waitHeard(me, (e) => e[0] === 'notice');
  assert.deepEqual(notices(me), [['notice', { text: 'dev' }]]);
  await assertCleanStop(srv);
});
