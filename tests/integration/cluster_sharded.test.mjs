// The sharded Redis adapter (--set redisAdapter=sharded: Redis 7
// SPUBLISH/SSUBSCRIBE) against the reference: a siolua instance and a Node
// socket.io 4.8 server with @socket.io/redis-adapter 8.3's
// createShardedAdapter share one real redis-server. Everything that crosses
// the cluster crosses both ways (broadcasts, rooms, except, binary,
// namespaces, fetchSockets, socketsJoin/Leave, disconnectSockets,
// serverSideEmit and broadcasts with acks); in the "dynamic" subscription
// mode a server only holds the channel of a room while it has members
// there (checked with PUBSUB SHARDNUMSUB); "static" and "dynamic-private"
// work with Node too; connection state recovery crosses instances.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import net from 'node:net';
import http from 'node:http';
import { join } from 'node:path';
import { io } from 'socket.io-client';
import { startServer, until, makeTempDir } from './lib/server.mjs';
import { connected, nextEvent, ask, closeClient } from './lib/sio.mjs';
import { startRedis, redisClient, freePort, startNodeServer, SKIP as skip } from './lib/cluster.mjs';

const ROOT = process.env.SIOLUA_ROOT || join(import.meta.dirname, '..', '..');
const CLUSTER_APP = join(ROOT, 'tests', 'apps', 'cluster');

const startNode = startNodeServer;

const shardArgs = (url, mode) => ['--redis', url, '--no-reload', '--set', 'redisAdapter=sharded',
  '--set', `redisSubscriptionMode=${mode}`];

async function numsub(client, channel) {
  const [, n] = await client.sendCommand(['PUBSUB', 'SHARDNUMSUB', channel]);
  return Number(n);
}

// Until `n` servers hold the main channel of each namespace (what the
// adapters' serverCount counts).
async function waitServers(client, n, namespaces = ['/', '/chat']) {
  const ok = await until(async () => {
    for (const nsp of namespaces) if ((await numsub(client, `socket.io#${nsp}#`)) < n) return false;
    return true;
  }, { timeoutMs: 10000, stepMs: 20 });
  assert.ok(ok, `not ${n} servers on the namespaces' channels`);
}

// A mixed cluster in one subscription mode: {redis, client, siolua, node}.
// After hooks run in the order they were added: Redis goes last.
async function startMixed(t, mode) {
  const redis = await startRedis();
  const client = await redisClient(redis);
  t.after(() => client.disconnect().catch(() => {}));
  try {
    // Debug logs name every cluster message received (counted below).
  const siolua = await startServer({ appDir: CLUSTER_APP, t, logLevel: 'debug', args: shardArgs(redis.url, mode) });
    const node = await startNode(t, redis.url, mode);
    await waitServers(client, 2);
    return { redis, client, siolua, node };
  } finally {
    t.after(() => redis.stop());
  }
}

// ---- the default ("dynamic") cluster, shared by most tests ----------------

let cluster;

const cleanups = [];

before(async () => {
  if (skip) return;
  const t = { after: (fn) => cleanups.push(fn) };
  cluster = await startMixed(t, 'dynamic');
});

after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

const S = () => cluster.siolua;
const N = () => cluster.node;

test('the cluster counts both servers (PUBSUB SHARDNUMSUB on the namespace channel)', { skip }, async () => {
  assert.equal(await N().command({ op: 'serverCount' }), 2);
  assert.match(S().stderr(), /sharded redis adapter \(dynamic subscriptions\)/);
});

test('broadcasts cross both ways, arguments exact', { skip }, async (t) => {
  const a = await connected(S(), '/', { t });
  const b = await connected(N(), '/', { t });
  const toA = nextEvent(a, 'hello');
  b.emit('to', {}, 'hello', 1, 'two', { three: [true, null], n: 1.5 });
  assert.deepEqual(await toA, [1, 'two', { three: [true, null], n: 1.5 }]);
  const toB = nextEvent(b, 'hi');
  a.emit('to', {}, 'hi', { from: 'siolua' }, [1, 2, 3]);
  assert.deepEqual(await toB, [{ from: 'siolua' }, [1, 2, 3]]);
});

test('binary arguments cross both ways (msgpack messages)', { skip }, async (t) => {
  const a = await connected(S(), '/', { t });
  const b = await connected(N(), '/', { t });
  const toA = nextEvent(a, 'bin');
  b.emit('to', {}, 'bin', Buffer.from([1, 2, 255]), { nested: Buffer.from('xyz') });
  const [x, y] = await toA;
  assert.deepEqual([...x], [1, 2, 255]);
  assert.deepEqual([...y.nested], [...Buffer.from('xyz')]);
  const toB = nextEvent(b, 'bin2');
  a.emit('to', {}, 'bin2', Buffer.from([9, 8, 7]));
  assert.deepEqual([...(await toB)[0]], [9, 8, 7]);
});

test('room broadcasts (on the room channel) and except cross both ways; a socket id as room too', { skip }, async (t) => {
  const inRoom = await connected(S(), '/', { t });
  const outside = await connected(S(), '/', { t });
  const excluded = await connected(S(), '/', { t });
  const nodeMember = await connected(N(), '/', { t });
  for (const [s, r] of [[inRoom, 'r1'], [excluded, 'r1'], [excluded, 'muted'], [nodeMember, 'r1']]) {
    assert.deepEqual(await ask(s, 'join', r), [true]);
  }
  const seen = { outside: [], excluded: [] };
  for (const ev of ['room1', 'room2']) {
    outside.on(ev, (...a) => seen.outside.push([ev, ...a]));
    excluded.on(ev, (...a) => seen.excluded.push([ev, ...a]));
  }
  const got = nextEvent(inRoom, 'room1');
  nodeMember.emit('to', { rooms: ['r1'] }, 'room1', 'from node, one room');
  assert.deepEqual(await got, ['from node, one room']);
  const got2 = nextEvent(inRoom, 'room2');
  nodeMember.emit('to', { rooms: ['r1'], except: ['muted'] }, 'room2', 'from node');
  assert.deepEqual(await got2, ['from node']);
  const back = nextEvent(nodeMember, 'room-back');
  inRoom.emit('to', { rooms: ['r1'], except: ['muted'] }, 'room-back', 'from siolua');
  assert.deepEqual(await back, ['from siolua']);
  const byId = nextEvent(outside, 'direct');
  nodeMember.emit('to', { rooms: [outside.id] }, 'direct', 'to your id');
  assert.deepEqual(await byId, ['to your id']);
  const byId2 = nextEvent(nodeMember, 'direct2');
  outside.emit('to', { rooms: [nodeMember.id] }, 'direct2', 'to yours');
  assert.deepEqual(await byId2, ['to yours']);
  // A broadcast to everyone after: anything stray would have come before it.
  const sync = nextEvent(outside, 'sync');
  const sync2 = nextEvent(excluded, 'sync');
  nodeMember.emit('to', {}, 'sync');
  await sync;
  await sync2;
  assert.deepEqual(seen.outside, []);
  assert.deepEqual(seen.excluded, [['room1', 'from node, one room']]);
});

test('namespaces stay apart across the cluster', { skip }, async (t) => {
  const root = await connected(S(), '/', { t });
  const chat = await connected(S(), '/chat', { t });
  const nodeChat = await connected(N(), '/chat', { t });
  const nodeRoot = await connected(N(), '/', { t });
  const stray = [];
  root.on('chat-only', (...a) => stray.push(a));
  nodeRoot.on('chat-only', (...a) => stray.push(a));
  const got = nextEvent(chat, 'chat-only');
  nodeChat.emit('to', {}, 'chat-only', 42);
  assert.deepEqual(await got, [42]);
  const back = nextEvent(nodeChat, 'chat-back');
  chat.emit('to', {}, 'chat-back', 43);
  assert.deepEqual(await back, [43]);
  const sync = nextEvent(root, 'sync-root');
  nodeRoot.emit('to', {}, 'sync-root');
  await sync;
  assert.deepEqual(stray, []);
});

test("Node's fetchSockets, socketsJoin, socketsLeave and disconnectSockets see the siolua sockets", { skip }, async (t) => {
  const a = await connected(S(), '/', { t });
  assert.deepEqual(await ask(a, 'join', 'fetch-me'), [true]);
  assert.deepEqual(await ask(a, 'set-data', 'color', 'blue'), [true]);
  const fetched = await N().command({ op: 'fetchSockets', rooms: ['fetch-me'] });
  assert.deepEqual(fetched, [{ id: a.id, rooms: ['fetch-me', a.id].sort(), data: { color: 'blue' } }]);
  await N().command({ op: 'socketsJoin', rooms: ['fetch-me'], join: 'joined-remotely' });
  const joined = await until(async () => {
    const l = await N().command({ op: 'fetchSockets', rooms: ['joined-remotely'] });
    return l.length ? l : null;
  });
  assert.deepEqual(joined.map((s) => s.id), [a.id]);
  await N().command({ op: 'socketsLeave', rooms: ['fetch-me'], leave: 'joined-remotely' });
  const left = await until(async () => (await N().command({ op: 'fetchSockets', rooms: ['joined-remotely'] })).length === 0);
  assert.ok(left, 'the siolua socket did not leave');
  const gone = new Promise((resolve) => a.on('disconnect', resolve));
  await N().command({ op: 'disconnectSockets', rooms: ['fetch-me'] });
  assert.equal(await gone, 'io server disconnect');
});

test('siolua fetch_sockets, sockets_join, sockets_leave and disconnect_sockets reach the Node sockets', { skip }, async (t) => {
  const mine = await connected(S(), '/', { t });
  const theirs = await connected(N(), '/', { t });
  assert.deepEqual(await ask(mine, 'join', 'everywhere'), [true]);
  assert.deepEqual(await ask(theirs, 'join', 'everywhere'), [true]);
  const [list] = await ask(mine, 'fetch', ['everywhere']);
  assert.deepEqual(list.map((s) => [s.id, s.remote]).sort(), [[mine.id, false], [theirs.id, true]].sort());
  assert.deepEqual(list.find((s) => s.id === theirs.id).rooms, [theirs.id, 'everywhere'].sort());
  assert.deepEqual(await ask(mine, 'remote-join', theirs.id, 'pulled-in'), [true]);
  assert.ok(await until(async () => (await N().command({ op: 'fetchSockets', rooms: ['pulled-in'] })).length === 1));
  assert.deepEqual(await ask(mine, 'remote-leave', theirs.id, 'pulled-in'), [true]);
  assert.ok(await until(async () => (await N().command({ op: 'fetchSockets', rooms: ['pulled-in'] })).length === 0));
  const gone = new Promise((resolve) => theirs.on('disconnect', resolve));
  assert.deepEqual(await ask(mine, 'remote-disconnect', theirs.id), [true]);
  assert.equal(await gone, 'io server disconnect');
});

test('server_side_emit with acks both ways, and without ack', { skip }, async (t) => {
  const mine = await connected(S(), '/', { t });
  const theirs = await connected(N(), '/', { t });
  assert.deepEqual(await ask(mine, 'sse', 'hello'), [null, ['node heard hello']]);
  assert.deepEqual(await N().command({ op: 'serverSideEmit', text: 'hi' }), ['siolua heard hi']);
  assert.deepEqual(await ask(mine, 'remote-join', theirs.id, 'listeners'), [true]);
  assert.ok(await until(async () => (await N().command({ op: 'fetchSockets', rooms: ['listeners'] })).length === 1));
  const heard = nextEvent(theirs, 'heads-up');
  mine.emit('sse-no-ack', 'psst');
  assert.deepEqual(await heard, ['psst']);
});

test('broadcasts with acks gather answers from clients on every server, both ways', { skip, timeout: 30000 }, async (t) => {
  const mine = await connected(S(), '/', { t });
  const mine2 = await connected(S(), '/', { t });
  const theirs = await connected(N(), '/', { t });
  mine.on('poll', (q, cb) => cb(`siolua-1 ${q}`));
  mine2.on('poll', (q, cb) => cb(`siolua-2 ${q}`));
  theirs.on('poll', (q, cb) => cb(`node ${q}`));
  const [err, responses] = await ask(mine, 'poll-all', 'q1');
  assert.equal(err, null);
  for (const want of ['siolua-1 q1', 'siolua-2 q1', 'node q1']) {
    assert.ok(responses.includes(want), `${want} missing from ${JSON.stringify(responses)}`);
  }
  const fromNode = await N().command({ op: 'emitWithAck', question: 'q2' });
  for (const want of ['siolua-1 q2', 'siolua-2 q2', 'node q2']) {
    assert.ok(fromNode.includes(want), `${want} missing from ${JSON.stringify(fromNode)}`);
  }
});

test('all_rooms is local in sharded mode (ClusterAdapter has no allRooms request)', { skip }, async (t) => {
  const mine = await connected(S(), '/', { t });
  const theirs = await connected(N(), '/', { t });
  assert.deepEqual(await ask(mine, 'join', 'here-only'), [true]);
  assert.deepEqual(await ask(theirs, 'join', 'there-only'), [true]);
  const [rooms] = await ask(mine, 'all-rooms');
  assert.ok(rooms.includes('here-only') && rooms.includes(mine.id), JSON.stringify(rooms));
  assert.ok(!rooms.includes('there-only'), JSON.stringify(rooms));
});

test('dynamic mode: siolua holds a room channel only while it has members there', { skip }, async (t) => {
  const { client } = cluster;
  const ch = 'socket.io#/#dyn-room#';
  const a = await connected(S(), '/', { t });
  const b = await connected(N(), '/', { t });
  assert.equal(await numsub(client, ch), 0);
  // Own-id rooms (20 characters) stay on the main channel, as Node's.
  assert.equal(await numsub(client, `socket.io#/#${a.id}#`), 0);
  assert.deepEqual(await ask(b, 'join', 'dyn-room'), [true]);
  assert.ok(await until(async () => (await numsub(client, ch)) === 1), 'Node did not subscribe');
  // A broadcast to a room siolua has no member in is not sent to siolua.
  assert.equal(await numsub(client, ch), 1);
  assert.deepEqual(await ask(a, 'join', 'dyn-room'), [true]);
  assert.ok(await until(async () => (await numsub(client, ch)) === 2), 'siolua did not subscribe');
  const channels = await client.sendCommand(['PUBSUB', 'SHARDCHANNELS', 'socket.io#/#dyn-*']);
  assert.deepEqual(channels, [ch]);
  const got = nextEvent(a, 'dyn');
  b.emit('to', { rooms: ['dyn-room'] }, 'dyn', 'via the room channel');
  assert.deepEqual(await got, ['via the room channel']);
  // The room empties on siolua: its channel goes (Node keeps its own).
  await closeClient(a);
  assert.ok(await until(async () => (await numsub(client, ch)) === 1), 'siolua did not unsubscribe');
  // A second room whose member leaves without disconnecting.
  const c = await connected(S(), '/', { t });
  assert.deepEqual(await ask(c, 'join', 'dyn-two'), [true]);
  assert.ok(await until(async () => (await numsub(client, 'socket.io#/#dyn-two#')) === 1));
  await N().command({ op: 'socketsLeave', rooms: ['dyn-two'], leave: 'dyn-two' });
  assert.ok(await until(async () => (await numsub(client, 'socket.io#/#dyn-two#')) === 0));
});

// Cluster messages siolua received on a channel (its debug log names each).
function received(srv, channel) {
  return srv.stderr().split('\n').filter((l) => l.includes('cluster message type 3 ') && l.endsWith(` on ${channel}`)).length;
}

// Node sends 20 broadcasts to a room only its client is in, then one to
// everyone (to know the 20 went by); returns how many messages siolua got
// for them: on the room channel and on the namespace channel.
async function quietRoomTraffic(t, siolua, node, room) {
  const a = await connected(siolua, '/', { t });
  const b = await connected(node, '/', { t });
  assert.deepEqual(await ask(b, 'join', room), [true]);
  const before = received(siolua, 'socket.io#/#');
  const stray = [];
  a.on('quiet', (...x) => stray.push(x));
  for (let i = 0; i < 20; i++) b.emit('to', { rooms: [room] }, 'quiet', i);
  const sync = nextEvent(a, 'quiet-sync');
  b.emit('to', {}, 'quiet-sync');
  await sync;
  assert.deepEqual(stray, []);
  return { roomChannel: received(siolua, `socket.io#/#${room}#`), mainChannel: received(siolua, 'socket.io#/#') - before - 1 };
}

test('dynamic mode: broadcasts to a room siolua has no member in never reach siolua; they do once it has one', { skip }, async (t) => {
  const counts = await quietRoomTraffic(t, S(), N(), 'quiet-room');
  assert.deepEqual(counts, { roomChannel: 0, mainChannel: 0 });
  const a = await connected(S(), '/', { t });
  assert.deepEqual(await ask(a, 'join', 'quiet-room'), [true]);
  assert.ok(await until(async () => (await numsub(cluster.client, 'socket.io#/#quiet-room#')) === 2));
  const b = await connected(N(), '/', { t });
  const got = [];
  a.on('loud', (n) => got.push(n));
  for (let i = 0; i < 20; i++) b.emit('to', { rooms: ['quiet-room'] }, 'loud', i);
  assert.ok(await until(() => got.length === 20), `${got.length} of 20`);
  assert.equal(received(S(), 'socket.io#/#quiet-room#'), 20);
});

test('a malformed message on a shard channel is dropped with one log line', { skip }, async (t) => {
  const a = await connected(S(), '/', { t });
  const b = await connected(N(), '/', { t });
  for (const junk of ['{not json', '\x93\x01', '{"type":"x","uid":1}', '[1,2,3]', '{"uid":"u","type":3,"data":{"packet":1}}']) {
    await cluster.client.sendCommand(['SPUBLISH', 'socket.io#/#', junk]);
  }
  const got = nextEvent(a, 'still-fine');
  b.emit('to', {}, 'still-fine');
  assert.deepEqual(await got, []);
  const lines = S().stderr().split('\n').filter((l) => l.includes('malformed cluster message'));
  assert.equal(lines.length, 4, lines.join('\n'));
});

// ---- other modes and setups, each with a cluster of its own ------------------

test('static mode: two channels per namespace, rooms still cross both ways', { skip, timeout: 30000 }, async (t) => {
  const { client, siolua, node } = await startMixed(t, 'static');
  const a = await connected(siolua, '/', { t });
  const b = await connected(node, '/', { t });
  assert.deepEqual(await ask(a, 'join', 'st-room'), [true]);
  assert.deepEqual(await ask(b, 'join', 'st-room'), [true]);
  const channels = (await client.sendCommand(['PUBSUB', 'SHARDCHANNELS'])).sort();
  // Each server: main + response channel for / and /chat; no room channel.
  assert.equal(channels.length, 6, JSON.stringify(channels));
  assert.ok(channels.every((c) => /^socket\.io#\/(chat)?#([0-9a-z]{16}#)?$/.test(c)), JSON.stringify(channels));
  const toA = nextEvent(a, 'st');
  b.emit('to', { rooms: ['st-room'] }, 'st', 1);
  assert.deepEqual(await toA, [1]);
  const toB = nextEvent(b, 'st2');
  a.emit('to', { rooms: ['st-room'] }, 'st2', 2);
  assert.deepEqual(await toB, [2]);
  assert.deepEqual(await ask(a, 'sse', 'static'), [null, ['node heard static']]);
  assert.match(siolua.stderr(), /sharded redis adapter \(static subscriptions\)/);
  // Every broadcast reaches every server in this mode.
  assert.deepEqual(await quietRoomTraffic(t, siolua, node, 'quiet-room'), { roomChannel: 0, mainChannel: 20 });
});

test('dynamic-private mode: own-id rooms get channels too; Node reaches a siolua socket by id', { skip, timeout: 30000 }, async (t) => {
  const { client, siolua, node } = await startMixed(t, 'dynamic-private');
  const a = await connected(siolua, '/', { t });
  const b = await connected(node, '/', { t });
  assert.ok(await until(async () => (await numsub(client, `socket.io#/#${a.id}#`)) === 1));
  assert.ok(await until(async () => (await numsub(client, `socket.io#/#${b.id}#`)) === 1));
  const toA = nextEvent(a, 'private');
  b.emit('to', { rooms: [a.id] }, 'private', 'just you');
  assert.deepEqual(await toA, ['just you']);
  const toB = nextEvent(b, 'private2');
  a.emit('to', { rooms: [b.id] }, 'private2', 'you too');
  assert.deepEqual(await toB, ['you too']);
  // Another socket joins a's id: the name is announced once, and its
  // channel stays while either holds it (the own-id room is no room of
  // its own in siolua: the two must add up).
  const a2 = await connected(siolua, '/', { t });
  assert.deepEqual(await ask(a2, 'join', a.id), [true]);
  const [aId, aSid] = [a.id, a.io.engine.id]; // the client forgets both once closed
  await closeClient(a);
  assert.ok(await until(() => siolua.stderr().includes(`session ${aSid} closed`)));
  assert.equal(await numsub(client, `socket.io#/#${aId}#`), 1);
  const toA2 = nextEvent(a2, 'private3');
  b.emit('to', { rooms: [aId] }, 'private3', 'the joiner');
  assert.deepEqual(await toA2, ['the joiner']);
  assert.deepEqual(await ask(a2, 'leave', aId), [true]);
  assert.ok(await until(async () => (await numsub(client, `socket.io#/#${aId}#`)) === 0));
  // A socket alone in its own room takes its channel with it.
  const a2Id = a2.id;
  assert.equal(await numsub(client, `socket.io#/#${a2Id}#`), 1);
  await closeClient(a2);
  assert.ok(await until(async () => (await numsub(client, `socket.io#/#${a2Id}#`)) === 0));
});

test('connection state recovery across two sharded siolua instances', { skip, timeout: 30000 }, async (t) => {
  const redis = await startRedis();
  t.after(() => redis.stop());
  const args = [...shardArgs(redis.url, 'dynamic'), '--set', 'connectionStateRecovery=true'];
  const appDir = join(ROOT, 'tests', 'apps', 'recovery');
  const a = await startServer({ appDir, args, t });
  const b = await startServer({ appDir, args, t });
  let target = a;
  const lb = net.createServer((c) => {
    const up = net.connect(target.port, '127.0.0.1');
    c.pipe(up);
    up.pipe(c);
    up.on('error', () => c.destroy());
    c.on('error', () => up.destroy());
  });
  await new Promise((resolve) => lb.listen(0, '127.0.0.1', resolve));
  t.after(() => lb.close());
  const rc = await redisClient(redis);
  t.after(() => rc.disconnect().catch(() => {}));
  await waitServers(rc, 2, ['/']);
  const c = io(`http://127.0.0.1:${lb.address().port}`, { transports: ['websocket'], forceNew: true,
    reconnectionDelay: 100, reconnectionDelayMax: 200 });
  t.after(() => closeClient(c));
  await new Promise((resolve) => c.on('connect', resolve));
  const id = c.id;
  await ask(c, 'setup', 'news', 'ann');
  const feed = [];
  c.on('feed', (n) => feed.push(n));
  const ended = new Promise((resolve) => c.on('feed-end', resolve));
  const d = await connected(b, '/', { t, transports: ['websocket'] });
  await ask(d, 'setup', 'news', 'observer');
  // B's feed reaches A's client over the room channel.
  await ask(d, 'start-feed', 'news', 12, 60);
  await until(() => feed.length >= 3, { timeoutMs: 5000 });
  target = b;
  c.io.engine.close();
  await ended;
  assert.deepEqual(feed, [...Array(12).keys()], 'every event once, in order');
  assert.equal(c.id, id);
  assert.equal(c.recovered, true);
});

// A redis-server on a given port (to restart one where it was).
async function redisOn(port, dir) {
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
    '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('redis-server did not start')), 10000);
    proc.stdout.on('data', (d) => { if (String(d).includes('Ready to accept')) { clearTimeout(timer); resolve(); } });
  });
  return { proc, stop: () => new Promise((resolve) => { proc.on('exit', resolve); proc.kill('SIGKILL'); }) };
}

test('Redis restarting: the subscriber reconnects and holds its channels again, room channels included', { skip, timeout: 60000 }, async (t) => {
  const first = await startRedis();
  const { port } = first;
  const dir = makeTempDir('siolua-sharded-');
  let current = first;
  t.after(() => current.stop());
  const url = `redis://127.0.0.1:${port}`;
  const siolua = await startServer({ appDir: CLUSTER_APP, t, args: shardArgs(url, 'dynamic') });
  let client = await redisClient(first);
  await waitServers(client, 1);
  const a = await connected(siolua, '/', { t });
  assert.deepEqual(await ask(a, 'join', 'kept'), [true]);
  assert.ok(await until(async () => (await numsub(client, 'socket.io#/#kept#')) === 1));
  await client.disconnect();
  await first.stop();
  const local = nextEvent(a, 'local-still');
  a.emit('to', { rooms: ['kept'] }, 'local-still', 1);
  assert.deepEqual(await local, [1]);
  current = await redisOn(port, dir);
  client = await redisClient({ url });
  t.after(() => client.disconnect().catch(() => {}));
  // siolua subscribes its namespace, response and room channels again.
  const uid = /sharded redis adapter .* \(uid ([0-9a-z]{16})\)/.exec(siolua.stderr())[1];
  for (const ch of ['socket.io#/#', 'socket.io#/chat#', 'socket.io#/#kept#', `socket.io#/#${uid}#`, `socket.io#/chat#${uid}#`]) {
    assert.ok(await until(async () => (await numsub(client, ch)) === 1, { timeoutMs: 20000 }), `${ch} was not held again`);
  }
  // A broadcast to the room, as Node's sharded adapter publishes it.
  const got = nextEvent(a, 'again');
  await client.sendCommand(['SPUBLISH', 'socket.io#/#kept#', JSON.stringify({ type: 3,
    data: { packet: { type: 2, data: ['again', 1] }, opts: { rooms: ['kept'], except: [], flags: {} } },
    uid: 'restarted-node', nsp: '/' })]);
  assert.deepEqual(await got, [1]);
  assert.match(siolua.stderr(), /adapter ssub: lost .*reconnecting/);
  assert.equal(siolua.stderr().split('\n').filter((l) => /adapter ssub: connected/.test(l)).length, 2);
});

test('no sticky sessions in sharded mode: long-polling requests sent round robin are relayed to the owner', { skip, timeout: 30000 }, async (t) => {
  const redis = await startRedis();
  const args = [...shardArgs(redis.url, 'dynamic'), '--log-level', 'debug'];
  const a = await startServer({ appDir: CLUSTER_APP, args, t });
  const b = await startServer({ appDir: CLUSTER_APP, args, t });
  t.after(() => redis.stop());
  const rc = await redisClient(redis);
  t.after(() => rc.disconnect().catch(() => {}));
  await waitServers(rc, 2);
  // Both nodes keep their address under <key>-node#<uid>.
  assert.ok(await until(async () => (await rc.keys('socket.io-node#*')).length === 2, { timeoutMs: 5000 }));
  let next = 0;
  const lb = http.createServer((req, res) => {
    const target = [a, b][next++ % 2];
    const up = http.request({ host: '127.0.0.1', port: target.port, method: req.method, path: req.url,
      headers: req.headers, agent: false }, (r) => { res.writeHead(r.statusCode, r.headers); r.pipe(res); });
    up.on('error', () => { res.writeHead(502); res.end(); });
    req.pipe(up);
  });
  await new Promise((resolve) => lb.listen(0, '127.0.0.1', resolve));
  t.after(() => lb.close());
  const c = await connected({ url: `http://127.0.0.1:${lb.address().port}` }, '/', { t, transports: ['polling'] });
  assert.deepEqual(await ask(c, 'join', 'polled'), [true]);
  for (let i = 0; i < 3; i++) assert.deepEqual(await ask(c, 'join', 'polled'), [true]);
  // A broadcast from a client of either node reaches it.
  const other = await connected(b, '/', { t });
  const got = nextEvent(c, 'via-lb');
  other.emit('to', { rooms: ['polled'] }, 'via-lb', 'hello');
  assert.deepEqual(await got, ['hello']);
  assert.match(a.stderr() + b.stderr(), /relaying (GET|POST) /);
});

test('credentials: an ACL user authenticates the sharded subscriber; a wrong password is said once and retried', { skip, timeout: 30000 }, async (t) => {
  const port = await freePort();
  const dir = makeTempDir('siolua-sharded-auth-');
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--dir', dir, '--requirepass', 'admin-pw', '--user', 'app', 'on', '>app-pw', '~*', '&*', '+@all'],
  { stdio: ['ignore', 'pipe', 'ignore'] });
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  await new Promise((resolve) => proc.stdout.on('data', (d) => { if (String(d).includes('Ready to accept')) resolve(); }));
  const acl = `redis://app:app-pw@127.0.0.1:${port}`;
  const a = await startServer({ appDir: CLUSTER_APP, t, args: shardArgs(acl, 'dynamic') });
  const b = await startServer({ appDir: CLUSTER_APP, t, args: shardArgs(acl, 'dynamic') });
  const bad = await startServer({ appDir: CLUSTER_APP, t, args: shardArgs(`redis://app:wrong@127.0.0.1:${port}`, 'dynamic') });
  t.after(async () => { proc.kill('SIGKILL'); await exited; });
  const admin = await redisClient({ url: `redis://:admin-pw@127.0.0.1:${port}` });
  t.after(() => admin.disconnect().catch(() => {}));
  await waitServers(admin, 2);
  const ca = await connected(a, '/', { t });
  const cb = await connected(b, '/', { t });
  assert.deepEqual(await ask(cb, 'join', 'acl-room'), [true]);
  const got = nextEvent(cb, 'acl');
  ca.emit('to', { rooms: ['acl-room'] }, 'acl', 'authenticated');
  assert.deepEqual(await got, ['authenticated']);
  const refusals = () => bad.stderr().split('\n').filter((l) => /adapter ssub: .*AUTH failed: WRONGPASS/.test(l));
  assert.ok(await until(() => refusals().length === 1, { timeoutMs: 5000 }), bad.stderr());
  await new Promise((r) => setTimeout(r, 1000)); // several attempts later: still one line
  assert.equal(refusals().length, 1, bad.stderr());
  assert.ok(!/adapter ssub: connected/.test(bad.stderr()), bad.stderr());
  assert.equal(await numsub(admin, 'socket.io#/#'), 2);
});

test('bad sharded options exit 2 with one clear line', { skip }, async () => {
  for (const bad of ['redisAdapter=sharted', 'redisSubscriptionMode=sometimes']) {
    let code = 0, err = '';
    try {
      execFileSync(process.env.SIOLUA_BIN || join(ROOT, 'build', 'siolua'),
        ['run', CLUSTER_APP, '--port', '0', '--set', bad], { stdio: 'pipe', timeout: 5000 });
    } catch (e) { code = e.status; err = String(e.stderr); }
    assert.equal(code, 2, bad);
    assert.match(err, new RegExp(bad.split('=')[0]));
  }
});



