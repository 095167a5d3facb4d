// The Redis adapter against the reference: a siolua instance and a Node
// socket.io 4.8 server with @socket.io/redis-adapter 8 share one real
// redis-server. Broadcasts, rooms, except, binary, namespaces cross in both
// directions; Node's fetchSockets / allRooms / socketsJoin /
// disconnectSockets / serverCount see the siolua node; the Node emitter
// reaches siolua clients; a Redis restart is survived.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer } from './lib/server.mjs';
import { connected, nextEvent, ask, closeClient } from './lib/sio.mjs';

const require = createRequire(import.meta.url);
const ROOT = process.env.SIOLUA_ROOT || join(import.meta.dirname, '..', '..');
const HAVE_REDIS = (() => { try { execFileSync('redis-server', ['--version']); return true; } catch { return false; } })();

let redis, redisPort, dir, siolua, node, nodeUrl;
const pending = new Map();
let seq = 0;

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

async function startRedis() {
  const proc = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '',
    '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('redis-server did not start')), 10000);
    proc.stdout.on('data', (d) => { if (String(d).includes('Ready to accept')) { clearTimeout(timer); resolve(); } });
  });
  return proc;
}

function stopRedis(proc) {
  return new Promise((resolve) => { proc.on('exit', resolve); proc.kill('SIGKILL'); });
}

function nodeCommand(cmd) {
  const id = ++seq;
  node.stdin.write(`${JSON.stringify({ ...cmd, id })}\n`);
  return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
}

before(async () => {
  if (!HAVE_REDIS) return;
  dir = mkdtempSync(join(tmpdir(), 'siolua-cluster-'));
  redisPort = await freePort();
  redis = await startRedis();
  const url = `redis://127.0.0.1:${redisPort}`;
  siolua = await startServer({ appDir: join(ROOT, 'tests', 'apps', 'cluster'), args: ['--redis', url, '--no-reload'],
    env: { SIOLUA_REDIS_URL: url } });
  node = spawn(process.execPath, [join(import.meta.dirname, 'lib', 'node-cluster-server.cjs'), url],
    { stdio: ['pipe', 'pipe', 'inherit'], cwd: join(ROOT, 'tests') });
  const lines = createInterface({ input: node.stdout });
  nodeUrl = await new Promise((resolve) => {
    lines.on('line', (line) => {
      const m = /^listening (\d+)/.exec(line);
      if (m) return resolve(`http://127.0.0.1:${m[1]}`);
      const r = JSON.parse(line);
      const p = pending.get(r.id);
      if (p) { pending.delete(r.id); r.error ? p.reject(new Error(r.error)) : p.resolve(r.result); }
    });
  });
  // Both nodes subscribed: the cluster counts two servers.
  const deadline = Date.now() + 5000;
  while ((await nodeCommand({ op: 'serverCount' })) < 2 && Date.now() < deadline) await sleep(50);
});

after(async () => {
  node?.kill();
  await siolua?.stop();
  if (redis) await stopRedis(redis);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const skip = HAVE_REDIS ? false : 'redis-server is not installed';
const nodeSrv = () => ({ url: nodeUrl });

test('the cluster counts both servers (PUBSUB NUMSUB on the request channel)', { skip }, async () => {
  assert.equal(await nodeCommand({ op: 'serverCount' }), 2);
});

test('a broadcast from the Node server reaches a siolua client, arguments exact', { skip }, async (t) => {
  const a = await connected(siolua, '/', { t });
  const b = await connected(nodeSrv(), '/', { t });
  const got = nextEvent(a, 'hello');
  b.emit('to', {}, 'hello', 1, 'two', { three: [true, null], n: 1.5 });
  assert.deepEqual(await got, [1, 'two', { three: [true, null], n: 1.5 }]);
});

test('a broadcast from siolua reaches a Node server client', { skip }, async (t) => {
  const a = await connected(siolua, '/', { t });
  const b = await connected(nodeSrv(), '/', { t });
  const got = nextEvent(b, 'hi');
  a.emit('to', {}, 'hi', { from: 'siolua' }, [1, 2, 3]);
  assert.deepEqual(await got, [{ from: 'siolua' }, [1, 2, 3]]);
});

test('binary arguments cross both ways', { skip }, async (t) => {
  const a = await connected(siolua, '/', { t });
  const b = await connected(nodeSrv(), '/', { t });
  const toA = nextEvent(a, 'bin');
  b.emit('to', {}, 'bin', Buffer.from([1, 2, 255]), { nested: Buffer.from('xyz') });
  const [x, y] = await toA;
  assert.deepEqual([...x], [1, 2, 255]);
  assert.deepEqual([...y.nested], [...Buffer.from('xyz')]);
  const toB = nextEvent(b, 'bin2');
  a.emit('to', {}, 'bin2', Buffer.from([9, 8, 7]));
  const [z] = await toB;
  assert.deepEqual([...z], [9, 8, 7]);
});

test('room broadcasts and except cross in both directions', { skip }, async (t) => {
  const inRoom = await connected(siolua, '/', { t });
  const outside = await connected(siolua, '/', { t });
  const excluded = await connected(siolua, '/', { t });
  const nodeMember = await connected(nodeSrv(), '/', { t });
  assert.deepEqual(await ask(inRoom, 'join', 'r1'), [true]);
  assert.deepEqual(await ask(excluded, 'join', 'r1'), [true]);
  assert.deepEqual(await ask(excluded, 'join', 'muted'), [true]);
  assert.deepEqual(await ask(nodeMember, 'join', 'r1'), [true]);
  const stray = [];
  outside.on('room', (...a) => stray.push(a));
  excluded.on('room', (...a) => stray.push(a));
  const got = nextEvent(inRoom, 'room');
  nodeMember.emit('to', { rooms: ['r1'], except: ['muted'] }, 'room', 'from node');
  assert.deepEqual(await got, ['from node']);
  const back = nextEvent(nodeMember, 'room');
  inRoom.emit('to', { rooms: ['r1'], except: ['muted'] }, 'room', 'from siolua');
  assert.deepEqual(await back, ['from siolua']);
  // A broadcast to everyone after: anything stray would have come before it.
  const sync = nextEvent(outside, 'sync');
  nodeMember.emit('to', {}, 'sync');
  await sync;
  assert.deepEqual(stray.filter((a) => a[0] === 'from node'), []);
});

test('namespaces stay apart across the cluster', { skip }, async (t) => {
  const root = await connected(siolua, '/', { t });
  const chat = await connected(siolua, '/chat', { t });
  const nodeChat = await connected(nodeSrv(), '/chat', { t });
  const stray = [];
  root.on('chat-only', (...a) => stray.push(a));
  const got = nextEvent(chat, 'chat-only');
  nodeChat.emit('to', {}, 'chat-only', 42);
  assert.deepEqual(await got, [42]);
  assert.deepEqual(stray, []);
});

test("Node's fetchSockets, allRooms, socketsJoin and disconnectSockets see the siolua sockets", { skip }, async (t) => {
  const a = await connected(siolua, '/', { t });
  assert.deepEqual(await ask(a, 'join', 'fetch-me'), [true]);
  assert.deepEqual(await ask(a, 'set-data', 'color', 'blue'), [true]);
  const fetched = await nodeCommand({ op: 'fetchSockets', rooms: ['fetch-me'] });
  assert.deepEqual(fetched, [{ id: a.id, rooms: ['fetch-me', a.id].sort(), data: { color: 'blue' } }]);
  const rooms = await nodeCommand({ op: 'allRooms' });
  assert.ok(rooms.includes('fetch-me') && rooms.includes(a.id), `allRooms: ${JSON.stringify(rooms)}`);
  await nodeCommand({ op: 'socketsJoin', rooms: ['fetch-me'], join: 'joined-remotely' });
  const deadline = Date.now() + 3000;
  let after;
  do {
    after = await nodeCommand({ op: 'fetchSockets', rooms: ['joined-remotely'] });
  } while (after.length === 0 && Date.now() < deadline && (await sleep(50), true));
  assert.deepEqual(after.map((s) => s.id), [a.id]);
  const gone = new Promise((resolve) => a.on('disconnect', resolve));
  await nodeCommand({ op: 'disconnectSockets', rooms: ['fetch-me'] });
  assert.equal(await gone, 'io server disconnect');
});

test('the Node emitter (@socket.io/redis-emitter) reaches siolua clients, rooms included', { skip }, async (t) => {
  const { Emitter } = require('@socket.io/redis-emitter');
  const { createClient } = require('redis');
  const client = createClient({ url: `redis://127.0.0.1:${redisPort}` });
  await client.connect();
  t.after(() => client.quit());
  const emitter = new Emitter(client);
  const a = await connected(siolua, '/', { t });
  const b = await connected(siolua, '/', { t });
  assert.deepEqual(await ask(a, 'join', 'vip'), [true]);
  const all = nextEvent(b, 'news');
  emitter.emit('news', { headline: 'hi' });
  assert.deepEqual(await all, [{ headline: 'hi' }]);
  const stray = [];
  b.on('vip-only', (...x) => stray.push(x));
  const vip = nextEvent(a, 'vip-only');
  emitter.to('vip').emit('vip-only', 1);
  assert.deepEqual(await vip, [1]);
  const sync = nextEvent(b, 'sync2');
  emitter.emit('sync2');
  await sync;
  assert.deepEqual(stray, []);
});

test('Redis going away: local delivery goes on, cross-node delivery comes back after a restart', { skip, timeout: 60000 }, async (t) => {
  const a = await connected(siolua, '/', { t });
  const a2 = await connected(siolua, '/', { t });
  const b = await connected(nodeSrv(), '/', { t });
  await stopRedis(redis);
  const local = nextEvent(a2, 'local-still');
  a.emit('to', {}, 'local-still', 1);
  assert.deepEqual(await local, [1]);
  redis = await startRedis();
  // Within seconds (backoff is at most 5 s), a broadcast crosses again.
  const deadline = Date.now() + 20000;
  let crossed = false;
  b.on('again', () => { crossed = true; });
  while (!crossed && Date.now() < deadline) {
    a.emit('to', {}, 'again');
    await sleep(200);
  }
  assert.ok(crossed, 'no broadcast crossed to the Node server after Redis came back');
  assert.match(siolua.stderr(), /lost .*reconnecting|cannot reach/);
  assert.match(siolua.stderr(), /connected to redis:\/\/127\.0\.0\.1/);
});

test('siolua fetch_sockets sees the Node server sockets (with data and rooms), and its own', { skip }, async (t) => {
  const mine = await connected(siolua, '/', { t });
  const theirs = await connected(nodeSrv(), '/', { t });
  assert.deepEqual(await ask(mine, 'join', 'everywhere'), [true]);
  assert.deepEqual(await ask(theirs, 'join', 'everywhere'), [true]);
  const [list] = await ask(mine, 'fetch', ['everywhere']);
  assert.deepEqual(list.map((s) => [s.id, s.remote]).sort(),
    [[mine.id, false], [theirs.id, true]].sort());
  const remote = list.find((s) => s.id === theirs.id);
  assert.deepEqual(remote.rooms, [theirs.id, 'everywhere'].sort());
});

test('siolua all_rooms includes the rooms of the Node server', { skip }, async (t) => {
  const mine = await connected(siolua, '/', { t });
  const theirs = await connected(nodeSrv(), '/', { t });
  assert.deepEqual(await ask(theirs, 'join', 'node-only-room'), [true]);
  const [rooms] = await ask(mine, 'all-rooms');
  assert.ok(rooms.includes('node-only-room') && rooms.includes(mine.id) && rooms.includes(theirs.id),
    JSON.stringify(rooms));
});

test('server_side_emit with acks both ways: siolua asks Node, Node asks siolua', { skip }, async (t) => {
  const mine = await connected(siolua, '/', { t });
  assert.deepEqual(await ask(mine, 'sse', 'hello'), [null, ['node heard hello']]);
  assert.deepEqual(await nodeCommand({ op: 'serverSideEmit', text: 'hi' }), ['siolua heard hi']);
});

test('server_side_emit without ack reaches the other server, and a siolua sockets_join reaches a Node socket', { skip }, async (t) => {
  const mine = await connected(siolua, '/', { t });
  const theirs = await connected(nodeSrv(), '/', { t });
  assert.deepEqual(await ask(mine, 'remote-join', theirs.id, 'listeners'), [true]);
  const deadline = Date.now() + 3000;
  let joined = [];
  while (Date.now() < deadline) {
    joined = await nodeCommand({ op: 'fetchSockets', rooms: ['listeners'] });
    if (joined.some((s) => s.id === theirs.id)) break;
    await sleep(50);
  }
  assert.ok(joined.some((s) => s.id === theirs.id), 'the Node socket did not join');
  const heard = nextEvent(theirs, 'heads-up');
  mine.emit('sse-no-ack', 'psst');
  assert.deepEqual(await heard, ['psst']);
});

test('siolua emit (the command-line emitter) reaches siolua and Node clients, rooms included; bad input exits 2', { skip }, async (t) => {
  const BIN = process.env.SIOLUA_BIN || join(ROOT, 'build', 'siolua');
  const mine = await connected(siolua, '/', { t });
  const theirs = await connected(nodeSrv(), '/', { t });
  const a = nextEvent(mine, 'cli-news');
  const b = nextEvent(theirs, 'cli-news');
  const out = execFileSync(BIN, ['emit', '--redis', `redis://127.0.0.1:${redisPort}`, 'cli-news', '{"n":1}', '"two"'],
    { encoding: 'utf8' });
  assert.match(out, /published to socket\.io#\/#/);
  assert.deepEqual(await a, [{ n: 1 }, 'two']);
  assert.deepEqual(await b, [{ n: 1 }, 'two']);
  assert.deepEqual(await ask(mine, 'join', 'cli-room'), [true]);
  const stray = [];
  theirs.on('cli-room-only', (...x) => stray.push(x));
  const roomOnly = nextEvent(mine, 'cli-room-only');
  execFileSync(BIN, ['emit', '--redis', `redis://127.0.0.1:${redisPort}`, '--to', 'cli-room', 'cli-room-only', '3']);
  assert.deepEqual(await roomOnly, [3]);
  const sync = nextEvent(theirs, 'cli-sync');
  execFileSync(BIN, ['emit', '--redis', `redis://127.0.0.1:${redisPort}`, 'cli-sync']);
  await sync;
  assert.deepEqual(stray, []);
  for (const bad of [['emit', 'x'], ['emit', '--redis', 'nope://x', 'ev'],
    ['emit', '--redis', `redis://127.0.0.1:${redisPort}`, 'ev', '{not json']]) {
    let code = 0;
    try { execFileSync(BIN, bad, { stdio: 'pipe' }); } catch (e) { code = e.status; }
    assert.equal(code, 2, `siolua ${bad.join(' ')}`);
  }
});

test('broadcasts with acks gather answers from clients on every server, both ways', { skip, timeout: 30000 }, async (t) => {
  const mine = await connected(siolua, '/', { t });
  const mine2 = await connected(siolua, '/', { t });
  const theirs = await connected(nodeSrv(), '/', { t });
  // Other tests' clients may still be connected: answer for everyone here.
  mine.on('poll', (q, cb) => cb(`siolua-1 ${q}`));
  mine2.on('poll', (q, cb) => cb(`siolua-2 ${q}`));
  theirs.on('poll', (q, cb) => cb(`node ${q}`));
  const [err, responses] = await ask(mine, 'poll-all', 'q1');
  assert.equal(err, null);
  for (const want of ['siolua-1 q1', 'siolua-2 q1', 'node q1']) {
    assert.ok(responses.includes(want), `${want} missing from ${JSON.stringify(responses)}`);
  }
  const fromNode = await nodeCommand({ op: 'emitWithAck', question: 'q2' });
  for (const want of ['siolua-1 q2', 'siolua-2 q2', 'node q2']) {
    assert.ok(fromNode.includes(want), `${want} missing from ${JSON.stringify(fromNode)}`);
  }
});

test('sio.emitter (the Lua emitter) publishes like @socket.io/redis-emitter: siolua and Node clients get it, rooms included', { skip }, async (t) => {
  const mine = await connected(siolua, '/', { t });
  const theirs = await connected(nodeSrv(), '/', { t });
  const a = nextEvent(mine, 'emitted');
  const b = nextEvent(theirs, 'emitted');
  assert.deepEqual(await ask(mine, 'via-emitter', null, 'to all'), [true]);
  assert.deepEqual(await a, ['to all', { n: 1 }]);
  assert.deepEqual(await b, ['to all', { n: 1 }]);
  assert.deepEqual(await ask(theirs, 'join', 'emitter-room'), [true]);
  const stray = [];
  mine.on('emitted', (...x) => stray.push(x));
  const roomOnly = nextEvent(theirs, 'emitted');
  assert.deepEqual(await ask(mine, 'via-emitter', 'emitter-room', 'room only'), [true]);
  assert.deepEqual(await roomOnly, ['room only', { n: 1 }]);
  const sync = nextEvent(mine, 'cli-sync2');
  execFileSync(process.env.SIOLUA_BIN || join(ROOT, 'build', 'siolua'),
    ['emit', '--redis', `redis://127.0.0.1:${redisPort}`, 'cli-sync2']);
  await sync;
  assert.deepEqual(stray, []);
});
