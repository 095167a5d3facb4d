// The Admin UI's protocol, siolua against the reference: the same app
// (tests/apps/admin) instrumented on siolua (sio.admin.instrument) and on
// Node's socket.io 4.8 (@socket.io/admin-ui's instrument), the same
// dashboard connection and the same clients against each; what each
// server sends the dashboard is compared event by event, field by field
// (ids, dates, ports named instead). Also: the answers to bad
// credentials, login by session id, production mode and read-only.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { sleep, request } from './lib/server.mjs';
import {
  startSiolua, startNode, dashboard, normalize, totals, connectError, waitConnected, CREDENTIALS,
} from './lib/admin.mjs';

const BASIC = { ADMIN_AUTH: 'basic', ADMIN_MODE: 'development', ADMIN_SERVER_ID: 'parity' };

function client(t, url, nsp = '/', opts = {}) {
  const s = io(url + nsp, { forceNew: true, reconnection: false, transports: ['websocket'], ...opts });
  t.after(() => s.disconnect());
  return s;
}

// One run of the scenario against url: a dashboard, then clients that
// join, echo, rename, get the dashboard's emit / join / leave /
// _disconnect, and a polling client on /chat. Returns what the dashboard
// got (without server_stats), the stats after it was ready, and the ids
// to name.
async function scenario(t, url) {
  const d = dashboard(t, url);
  const names = new Map();
  await waitConnected(d.socket);
  await d.waitFor('all_sockets');
  names.set(d.socket.id, '<dashboard>');
  names.set(d.socket.io.engine.id.slice(0, 12), '<dashboard-client>');
  const [session] = await d.waitFor('session');
  names.set(session, '<session>');
  // From the next stats on, every message counted is the scenario's.
  const start = d.mark();
  await d.waitFor('server_stats', () => true, { from: start });
  const from = d.mark();

  const a = client(t, url, '/', { auth: { name: 'alice' } });
  await waitConnected(a);
  names.set(a.id, '<alice>');
  names.set(a.io.engine.id.slice(0, 12), '<alice-client>');
  await d.waitFor('socket_updated', ([s]) => s.data?.name === 'alice', { from });
  assert.equal(await a.emitWithAck('join', 'room1'), 'joined room1');
  await d.waitFor('room_joined', ([, room]) => room === 'room1', { from });
  const echoed = new Promise((resolve) => a.once('echoed', resolve));
  assert.deepEqual(await a.emitWithAck('echo', { n: 1, list: [1, 'two', null] }), { n: 1, list: [1, 'two', null] });
  await echoed;
  await d.waitFor('event_sent', ([, , args]) => args[0] === 'echoed', { from });
  a.emit('rename', 'alicia');
  await d.waitFor('socket_updated', ([s]) => s.data?.name === 'alicia', { from });

  // The dashboard's actions, with their arguments as the UI sends them.
  const notice = new Promise((resolve) => a.once('notice', (...args) => resolve(args)));
  d.socket.emit('emit', '/', 'room1', 'notice', 'from admin', 2);
  assert.deepEqual(await notice, ['from admin', 2]);
  d.socket.emit('join', '/', 'room2', a.id);
  await d.waitFor('room_joined', ([, room]) => room === 'room2', { from });
  d.socket.emit('leave', '/', 'room2');
  await d.waitFor('room_left', ([, room]) => room === 'room2', { from });
  const alice = a.id; // the client forgets its id once disconnected
  const gone = new Promise((resolve) => a.once('disconnect', resolve));
  d.socket.emit('_disconnect', '/', false, 'room1');
  assert.equal(await gone, 'io server disconnect');
  await d.waitFor('room_left', ([, room, id]) => room === 'room1' && id === alice, { from });

  const b = client(t, url, '/chat', { transports: ['polling'], auth: { name: 'bob' } });
  await waitConnected(b);
  names.set(b.id, '<bob>');
  names.set(b.io.engine.id.slice(0, 12), '<bob-client>');
  const bob = b.id;
  await d.waitFor('socket_updated', ([s]) => s.data?.name === 'bob', { from });
  b.emit('bye');
  await d.waitFor('socket_disconnected', ([, id]) => id === bob, { from });
  await d.waitFor('room_left', ([, , id]) => id === bob, { from });
  // Quiet now: two more stats carry every message counted so far.
  const end = d.mark();
  await d.waitFor('server_stats', () => true, { from: end });
  await d.waitFor('server_stats', () => true, { from: d.mark() });

  const stats = d.events.slice(from).filter((e) => e[0] === 'server_stats').map((e) => e[1]);
  const events = d.events.slice(0, end).filter((e) => e[0] !== 'server_stats');
  return { events: normalize(events, names), stats, names, all: d.events };
}

test('what the dashboard gets, event by event: siolua sends what Node\'s instrument() sends', async (t) => {
  const [siolua, node] = await Promise.all([startSiolua(t, { env: BASIC }), startNode(t, { env: BASIC })]);
  const ours = await scenario(t, siolua.url);
  const ref = await scenario(t, node.url);
  // Field by field, in order (a diff names the first event that differs).
  for (let i = 0; i < Math.max(ours.events.length, ref.events.length); i++) {
    assert.deepEqual(ours.events[i], ref.events[i], `event ${i}: siolua ${JSON.stringify(ours.events[i])}\nnode ${JSON.stringify(ref.events[i])}`);
  }

  // server_stats: the same fields, Node's types, this server's facts.
  const last = (r) => r.stats[r.stats.length - 1];
  assert.deepEqual(Object.keys(last(ours)).sort(), Object.keys(last(ref)).sort());
  for (const k of Object.keys(last(ref))) assert.equal(typeof last(ours)[k], typeof last(ref)[k], k);
  assert.equal(last(ours).serverId, 'parity');
  assert.equal(last(ours).pid, siolua.proc.pid);
  assert.equal(last(ours).hostname, last(ref).hostname);
  // Exact counts at rest: only the dashboard is connected.
  for (const r of [ours, ref]) {
    assert.equal(last(r).clientsCount, 1);
    assert.equal(last(r).pollingClientsCount, 0);
    assert.deepEqual(last(r).namespaces, [{ name: '/', socketsCount: 0 }, { name: '/admin', socketsCount: 1 },
      { name: '/chat', socketsCount: 0 }].sort((x, y) => (x.name < y.name ? -1 : 1)));
  }
  // What came in from the clients is the same messages and bytes, counted
  // the same way (the dashboard's own and the stats going out differ in
  // timing, so only their presence is compared).
  const [to, tr] = [totals(ours.stats), totals(ref.stats)];
  assert.deepEqual(Object.keys(to).sort(), Object.keys(tr).sort());
  for (const k of ['packetsIn', 'bytesIn', 'rawConnection']) assert.equal(to[k], tr[k], `${k}: siolua ${to[k]} node ${tr[k]}`);
  for (const k of Object.keys(tr).filter((x) => x.startsWith('rawDisconnection'))) assert.equal(to[k], tr[k], k);
  assert.equal(to.rawConnection, 2);
  for (const s of ours.stats) {
    for (const e of s.aggregatedEvents) assert.equal(e.timestamp % 1000, 0, 'timestamps are whole seconds');
  }
});

test('bad credentials: "invalid credentials" as Node answers it, and login by session id', async (t) => {
  const [siolua, node] = await Promise.all([startSiolua(t, { env: BASIC }), startNode(t, { env: BASIC })]);
  for (const srv of [siolua, node]) {
    for (const auth of [{ username: 'admin', password: 'wrong' }, { username: 'root', password: 'changeit' }, {},
      { sessionId: 'not-a-session' }]) {
      const s = client(t, srv.url, '/admin', { auth });
      const err = await connectError(s);
      assert.equal(err.message, 'invalid credentials', `${srv.url} ${JSON.stringify(auth)}`);
      assert.equal(err.data, undefined);
    }
    const d = dashboard(t, srv.url);
    const [session] = await d.waitFor('session');
    assert.match(session, /^[0-9a-f]{16}$/);
    // The session opens the door without the password.
    const again = client(t, srv.url, '/admin', { auth: { sessionId: session } });
    // Listening first: "config" may come in the same read as the CONNECT.
    const configured = new Promise((resolve) => again.once('config', (...a) => resolve(a)));
    await waitConnected(again);
    const [config] = await configured;
    assert.ok(config.supportedFeatures.includes('EMIT'));
  }
  // What Node can't take (it crashes on a password that is not a string):
  // siolua answers and keeps serving.
  // (auth that is not an object is no CONNECT at all: closed by both.)
  for (const auth of [{ username: 'admin' }, { username: 'admin', password: 42 }, { username: 'admin', password: 'a\u0000b' }]) {
    const s = client(t, siolua.url, '/admin', { auth });
    assert.equal((await connectError(s)).message, 'invalid credentials');
  }
  const ok = dashboard(t, siolua.url, { auth: CREDENTIALS });
  await waitConnected(ok.socket);
  assert.equal(siolua.stderr().match(/error/g), null, siolua.stderr());
});

test('production mode offers no ALL_EVENTS and sends no socket events; read-only offers AGGREGATED_EVENTS only', async (t) => {
  const envs = [
    [{ ADMIN_MODE: 'production' }, ['EMIT', 'JOIN', 'LEAVE', 'DISCONNECT', 'MJOIN', 'MLEAVE', 'MDISCONNECT', 'AGGREGATED_EVENTS']],
    [{ ADMIN_MODE: 'development', ADMIN_READONLY: '1' }, ['AGGREGATED_EVENTS', 'ALL_EVENTS']],
    [{ ADMIN_MODE: 'production', ADMIN_READONLY: '1' }, ['AGGREGATED_EVENTS']],
  ];
  for (const [env, features] of envs) {
    const [siolua, node] = await Promise.all([startSiolua(t, { env }), startNode(t, { env })]);
    for (const srv of [siolua, node]) {
      const d = dashboard(t, srv.url, { auth: {} });
      const [config] = await d.waitFor('config');
      assert.deepEqual(config.supportedFeatures, features, `${JSON.stringify(env)} ${srv.url}`);
      const a = client(t, srv.url, '/', { auth: { name: 'carol' } });
      await waitConnected(a);
      const notice = [];
      a.on('notice', (...args) => notice.push(args));
      d.socket.emit('emit', '/', '', 'notice', 'hello');
      await a.emitWithAck('join', 'r');
      const [stats] = await d.waitFor('server_stats', (s) => s[0].namespaces.find((n) => n.name === '/').socketsCount === 1);
      assert.ok(stats.aggregatedEvents.length > 0);
      const dev = env.ADMIN_MODE === 'development';
      assert.equal(d.events.some((e) => e[0] === 'socket_connected'), dev);
      assert.equal(d.events.some((e) => e[0] === 'all_sockets'), dev);
      assert.equal(d.events.some((e) => e[0] === 'room_joined'), dev);
      // An action reaches the client unless read-only.
      await sleep(100);
      assert.deepEqual(notice, env.ADMIN_READONLY ? [] : [['hello']]);
      a.disconnect();
    }
  }
});

test('a polling client: listed as polling, counted in pollingClientsCount, updated on upgrade', async (t) => {
  const env = { ADMIN_MODE: 'development' };
  const [siolua, node] = await Promise.all([startSiolua(t, { env }), startNode(t, { env })]);
  for (const srv of [siolua, node]) {
    const d = dashboard(t, srv.url, { auth: {} });
    await d.waitFor('all_sockets');
    const p = client(t, srv.url, '/', { transports: ['polling'] });
    await waitConnected(p);
    const [connected] = await d.waitFor('socket_connected', ([s]) => s.id === p.id);
    assert.equal(connected.transport, 'polling');
    assert.equal(connected.clientId, p.io.engine.id.slice(0, 12));
    await d.waitFor('server_stats', ([s]) => s.pollingClientsCount === 1 && s.clientsCount === 2);
    // Upgrades: the dashboard hears the new transport.
    const u = client(t, srv.url, '/', { transports: ['polling', 'websocket'] });
    await waitConnected(u);
    const [updated] = await d.waitFor('socket_updated', ([s]) => s.id === u.id && s.transport);
    assert.deepEqual(updated, { id: u.id, nsp: '/', transport: 'websocket' });
    const [all] = await new Promise((resolve) => {
      const again = dashboard(t, srv.url, { auth: {} });
      again.waitFor('all_sockets').then(resolve);
    });
    assert.equal(all.find((s) => s.id === u.id).transport, 'websocket');
    assert.equal(all.find((s) => s.id === p.id).transport, 'polling');
  }
});

test('CORS for the hosted dashboard (https://admin.socket.io, with credentials): the same headers as Node', async (t) => {
  const env = { ADMIN_CORS: 'https://admin.socket.io' };
  const [siolua, node] = await Promise.all([startSiolua(t, { env }), startNode(t, { env })]);
  const seen = [];
  for (const srv of [siolua, node]) {
    const url = `${srv.url}/socket.io/?EIO=4&transport=polling`;
    const pre = await request(url, { method: 'OPTIONS', headers: { origin: 'https://admin.socket.io',
      'access-control-request-method': 'GET' } });
    const get = await request(url, { headers: { origin: 'https://admin.socket.io' } });
    const other = await request(url, { headers: { origin: 'https://evil.example' } });
    assert.ok(pre.status === 204 || pre.status === 200, `${srv.url} preflight ${pre.status}`);
    assert.equal(get.status, 200);
    seen.push({
      allowOrigin: get.headers['access-control-allow-origin'],
      credentials: get.headers['access-control-allow-credentials'],
      preOrigin: pre.headers['access-control-allow-origin'],
      preCredentials: pre.headers['access-control-allow-credentials'],
      otherOrigin: other.headers['access-control-allow-origin'] ?? null,
    });
  }
  assert.deepEqual(seen[0], seen[1]);
  assert.equal(seen[0].allowOrigin, 'https://admin.socket.io');
  assert.equal(seen[0].credentials, 'true');
});

test('bcrypt: siolua\'s hashes verify in bcryptjs (what Node\'s admin-ui uses) and bcryptjs\'s in siolua, on the thread pool', async (t) => {
  const bcrypt = (await import('bcryptjs')).default;
  const siolua = await startSiolua(t, { env: { ADMIN_AUTH: 'basic' } });
  const post = async (body) => JSON.parse((await request(`${siolua.url}/test/bcrypt`, { method: 'POST',
    headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).text);
  const mine = await post({ password: 'changeit', cost: 4 });
  assert.match(mine.hash, /^\$2b\$04\$[./A-Za-z0-9]{53}$/);
  assert.equal(mine.ok, true);
  assert.equal(mine.wrong, false);
  assert.equal(bcrypt.compareSync('changeit', mine.hash), true);
  assert.equal(bcrypt.compareSync('changeix', mine.hash), false);
  for (const hash of [bcrypt.hashSync('p\u00e4ss w\u00f6rd', 5), bcrypt.hashSync('p\u00e4ss w\u00f6rd', 5).replace('$2a$', '$2y$')]) {
    const theirs = await post({ password: 'p\u00e4ss w\u00f6rd', hash, cost: 4 });
    assert.equal(theirs.ok, true, hash);
    assert.equal(theirs.wrong, false);
  }
  // The loop keeps serving while hashes are worked out (cost 12: long).
  const slow = post({ password: 'x', cost: 12 });
  const t0 = Date.now();
  const quick = await request(`${siolua.url}/admin/`);
  assert.equal(quick.status, 200);
  const quickMs = Date.now() - t0;
  await slow;
  assert.ok(quickMs < 150, `a request waited ${quickMs} ms behind a bcrypt`);
});
