// The classic Redis adapter on a real Redis Cluster (six redis-server
// nodes: three masters with a replica each, started here): three siolua
// instances and a Node socket.io 4.8 server with @socket.io/redis-adapter
// 8.3 on a node-redis 4.7 cluster client (createCluster). PUBLISH reaches
// every node of a cluster, so broadcasts work through any node; requests
// count the servers with PUBSUB NUMSUB on every node (a subscriber may be
// on any of them, replicas included) and sum; the no-sticky registry and
// recovery sessions are keys, on their slots' masters. Then the cluster is
// damaged: a seed that is a replica dies, and a master is killed mid-traffic.
//
// "Exactly once" is checked with a barrier that crosses the same way: an
// instance publishes everything through one node while it answers, so a
// later broadcast arrives after what it published before.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { startServer, until, sleep, SIOLUA_BIN, SIOLUA_ROOT } from './lib/server.mjs';
import { connected, askWithin, collect } from './lib/sio.mjs';
import { SKIP as skip, startRedisCluster, roomsPerMaster, startNodeServer, keyslot } from './lib/cluster.mjs';
import { clientsEverywhere, commonClusterTests } from './lib/cluster_common.mjs';

const require = createRequire(import.meta.url);
const APP = join(SIOLUA_ROOT, 'tests', 'apps', 'cluster');
const WAIT = 10000;

let cluster, S, node;
const ctx = {}; // the same, for the tests of lib/cluster_common.mjs
const cleanups = [];
const hooks = { after: (fn) => cleanups.push(fn) };

const ask = (socket, event, ...args) => askWithin(WAIT, socket, event, ...args);
const count = (srv, re) => srv.stderr().split('\n').filter((l) => re.test(l)).length;

// PUBSUB NUMSUB of a channel on every node, summed: what the siolua
// adapter counts.
function numsubAll(channel) {
  let n = 0;
  for (const x of cluster.nodes) {
    if (x.proc.exitCode !== null || x.proc.signalCode !== null) continue;
    const out = cluster.cli(['pubsub', 'numsub', channel], x.port).split('\n');
    n += Number(out[1] || 0);
  }
  return n;
}

before(async () => {
  if (skip) return;
  cluster = await startRedisCluster(hooks);
  const args = ['--redis', cluster.url, '--no-reload'];
  const env = { SIOLUA_REDIS_URL: cluster.url };
  S = [];
  for (let i = 0; i < 3; i++) S.push(await startServer({ appDir: APP, t: hooks, args, env }));
  node = await startNodeServer(hooks, cluster.url);
  Object.assign(ctx, { cluster, S, node, args: ['--redis', cluster.url, ...[]] });
  const ok = await until(() => numsubAll('socket.io-request#/#') === 4, { timeoutMs: WAIT, stepMs: 50 });
  assert.ok(ok, `not 4 servers subscribed: ${numsubAll('socket.io-request#/#')}`);
});

after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

// Every client hears one broadcast to everyone from each sender: what
// they published before has arrived by then.
let barrierSeq = 0;
async function barrier(senders, all) {
  const event = `barrier-${++barrierSeq}`;
  const got = all.map((c) => collect(c, event));
  for (const s of senders) s.emit('to', {}, event, s.id);
  for (const g of got) await g.wait(senders.length, WAIT);
}

test('each server finds the cluster and counts every server, on whichever node it subscribed', { skip }, async (t) => {
  for (const s of S) assert.match(s.stderr(), /adapter pub: Redis Cluster of 3 masters \(.*\) and 3 replicas/);
  const [a] = await clientsEverywhere(ctx, t);
  // server_side_emit with acks waits for every other server: 2 siolua and Node.
  const [err, responses] = await ask(a, 'sse', 'hi');
  assert.equal(err, null);
  assert.deepEqual(responses.sort(), ['node heard hi', 'siolua heard hi', 'siolua heard hi']);
  const [sockets] = await ask(a, 'fetch', []);
  assert.ok(sockets.length >= 4, JSON.stringify(sockets));
});

test('broadcasts to rooms whose channels land on each master reach every member once, from every server', { skip }, async (t) => {
  const rooms = Object.values(roomsPerMaster(cluster, { base: 'croom' }));
  assert.equal(rooms.length, 3);
  const all = await clientsEverywhere(ctx, t);
  for (const c of all) assert.deepEqual(await ask(c, 'join', rooms[all.indexOf(c) % 3]), [true]);
  const got = all.map((c) => collect(c, 'in-room'));
  for (const sender of all)
    for (const room of rooms) sender.emit('to', { rooms: [room] }, 'in-room', room, all.indexOf(sender));
  // Node's cluster client publishes each channel through its slot's master,
  // so its room broadcast may come after its barrier: wait for all four,
  // then the barrier shows nothing more comes.
  for (const g of got) await g.wait(4, WAIT);
  await barrier(all, all);
  for (const [i, g] of got.entries()) {
    const mine = rooms[i % 3];
    assert.deepEqual(g.map(([r, from]) => `${r}/${from}`).sort(), [0, 1, 2, 3].map((f) => `${mine}/${f}`),
      `client ${i}`);
  }
});

commonClusterTests(ctx, { skip, timeoutMs: WAIT });

test('the emitters (sio.emitter, siolua emit, @socket.io/redis-emitter on a cluster client) reach every server once', { skip }, async (t) => {
  const all = await clientsEverywhere(ctx, t);
  const got = all.map((c) => collect(c, 'emitted'));
  assert.deepEqual(await ask(all[0], 'via-emitter', null, 'lua'), [true]);
  const out = execFileSync(SIOLUA_BIN, ['emit', '--redis', cluster.url, 'emitted', '"cli"', '{"n":1}'],
    { encoding: 'utf8' });
  assert.match(out, /^published to socket\.io#\/# \(\d+ servers? subscribed on that node\)/);
  const { createCluster } = require('redis');
  const { Emitter } = require('@socket.io/redis-emitter');
  const rc = createCluster({ rootNodes: [{ url: `redis://127.0.0.1:${cluster.nodes[0].port}` }] });
  rc.on('error', () => {});
  await rc.connect();
  t.after(() => rc.disconnect().catch(() => {}));
  new Emitter(rc).emit('emitted', 'node', { n: 1 });
  for (const g of got) await g.wait(3, WAIT);
  await barrier(all, all);
  for (const g of got) assert.deepEqual(g.map((x) => x[0]).sort(), ['cli', 'lua', 'node']);
});

test('sio.redis on the cluster: keys on every master, a key whose slot just moved (-MOVED followed), pipelines in one slot', { skip, timeout: 30000 }, async (t) => {
  const [c] = await clientsEverywhere(ctx, t);
  for (let i = 0; i < 30; i++) assert.deepEqual(await ask(c, 'redis', ['SET', `k${i}`, i]), ['OK']);
  for (let i = 0; i < 30; i++) assert.deepEqual(await ask(c, 'redis', ['GET', `k${i}`]), [String(i)]);
  const masters = new Set([...Array(30).keys()].map((i) => cluster.masterOf(`k${i}`)));
  assert.equal(masters.size, 3, 'the keys are spread over every master');
  assert.deepEqual(await ask(c, 'redis', ['PING']), ['PONG']);
  // A pipeline (a transaction) whose keys share a slot through a hash tag.
  const [r] = await ask(c, 'pipeline', [['MULTI'], ['INCR', '{u1}.a'], ['INCR', '{u1}.b'], ['EXEC']]);
  assert.deepEqual(r, ['OK', 'QUEUED', 'QUEUED', [1, 1]]);
  // Across slots, Redis says so (CROSSSLOT): the error comes back as is.
  const [v, err] = await ask(c, 'redis', ['MGET', 'k1', 'k2']);
  assert.equal(v, null);
  assert.match(err, /^CROSSSLOT/);
  // A key whose slot moves (redis-cli moves a master's lowest slots): the
  // next GET goes to the old master, which answers -MOVED; it is followed.
  const shard = cluster.shards().find((x) => x.ranges[0][0] > 0) ?? cluster.shards()[0];
  const first = shard.ranges[0][0];
  let key;
  for (let i = 0; !key; i++) if (keyslot(`mk${i}`) === first) key = `mk${i}`;
  assert.deepEqual(await ask(c, 'redis', ['SET', key, 'moved']), ['OK']);
  const to = cluster.masters().find((p) => p !== shard.master);
  const id = (port) => cluster.cli(['cluster', 'myid'], port);
  execFileSync('redis-cli', ['--cluster', 'reshard', `127.0.0.1:${shard.master}`, '--cluster-from', id(shard.master),
    '--cluster-to', id(to), '--cluster-slots', '1', '--cluster-yes'], { stdio: 'ignore' });
  assert.equal(cluster.masterOf(key), to);
  assert.deepEqual(await ask(c, 'redis', ['GET', key]), ['moved']);
});

test('sio.redis during a slot migration: -ASK is followed (ASKING, then the importing node), one command at a time', { skip }, async (t) => {
  const [c] = await clientsEverywhere(ctx, t);
  // A slot in the middle of a master's range, set migrating to another
  // master by hand: keys still on the source answer there, keys not there
  // get -ASK <slot> <importing node>.
  const shard = cluster.shards()[0];
  const from = shard.master;
  const to = cluster.masters().find((p) => p !== from);
  const slot = shard.ranges[0][0] + 7;
  let tag;
  for (let i = 0; !tag; i++) if (keyslot(`ask${i}`) === slot) tag = `ask${i}`;
  const id = (port) => cluster.cli(['cluster', 'myid'], port);
  assert.deepEqual(await ask(c, 'redis', ['SET', `{${tag}}.old`, 'on the source']), ['OK']);
  cluster.cli(['cluster', 'setslot', String(slot), 'importing', id(from)], to);
  cluster.cli(['cluster', 'setslot', String(slot), 'migrating', id(to)], from);
  // Whatever happens here, the cluster is left whole for the tests after.
  let ended = false;
  const endMigration = () => {
    if (ended) return;
    ended = true;
    cluster.cli(['migrate', '127.0.0.1', String(to), '', '0', '5000', 'keys', `{${tag}}.old`], from);
    for (const p of [to, from, ...cluster.masters().filter((x) => x !== to && x !== from)])
      cluster.cli(['cluster', 'setslot', String(slot), 'node', id(to)], p);
  };
  t.after(endMigration);
  // On the source still: answered there.
  assert.deepEqual(await ask(c, 'redis', ['GET', `{${tag}}.old`]), ['on the source']);
  // Not on the source: -ASK, followed to the importing node.
  assert.deepEqual(await ask(c, 'redis', ['SET', `{${tag}}.new`, 'on the target']), ['OK']);
  assert.deepEqual(await ask(c, 'redis', ['GET', `{${tag}}.new`]), ['on the target']);
  // The source never had it: it sends there too.
  assert.match(cluster.cli(['exists', `{${tag}}.new`], from), new RegExp(`^ASK ${slot} `));
  // The migration ends (the old key moved, the slot given to the target
  // on every master): the next command to the source gets -MOVED.
  endMigration();
  assert.deepEqual(await ask(c, 'redis', ['GET', `{${tag}}.old`]), ['on the source']);
  assert.deepEqual(await ask(c, 'redis', ['GET', `{${tag}}.new`]), ['on the target']);
  assert.equal(cluster.masterOf(`{${tag}}.new`), to);
});

test('one seed (redisCluster=true) that is a replica: the map is read from it, and the server keeps working when it dies', { skip, timeout: 30000 }, async (t) => {
  // A replica whose master is not the one the next test kills.
  const shards = cluster.shards();
  const seed = shards[1].replicas[0];
  const d = await startServer({ appDir: APP, t,
    args: ['--redis', `redis://127.0.0.1:${seed}`, '--set', 'redisCluster=true', '--no-reload'] });
  assert.ok(await until(() => numsubAll('socket.io-request#/#') === 5, { timeoutMs: WAIT, stepMs: 50 }));
  const cd = await connected(d, '/', { t });
  const ca = await connected(S[0], '/', { t });
  let [err, responses] = await ask(cd, 'sse', 'seed');
  assert.equal(err, null);
  assert.equal(responses.length, 4);
  await cluster.node(seed).kill();
  await sleep(500);
  const heard = collect(ca, 'after-seed');
  cd.emit('to', {}, 'after-seed', 1);
  await heard.wait(1, WAIT);
  [err, responses] = await ask(cd, 'sse', 'seedless');
  assert.equal(err, null);
  assert.equal(responses.length, 4);
  await d.stop();
});

test('a master killed mid-traffic: delivery goes on, nothing arrives twice, the outage and the recovery are logged once', { skip, timeout: 60000 }, async (t) => {
  // A master whose replica is alive (the test before killed one replica).
  const alive = (port) => { const n = cluster.node(port); return n.proc.exitCode === null && n.proc.signalCode === null; };
  const victim = cluster.shards().find((r) => r.replicas.length && r.replicas.every(alive)).master;
  const room = roomsPerMaster(cluster, { base: 'kroom' })[victim];
  const senders = [await connected(S[0], '/', { t }), await connected(S[1], '/', { t })];
  const receivers = [await connected(S[1], '/', { t }), await connected(S[2], '/', { t })];
  for (const c of receivers) assert.deepEqual(await ask(c, 'join', room), [true]);
  const got = receivers.map((c) => collect(c, 'tick'));
  const when = receivers.map(() => []);
  receivers.forEach((c, i) => c.on('tick', () => when[i].push(Date.now())));
  let n = 0;
  let sending = true;
  const pump = (async () => {
    while (sending) {
      n++;
      for (const s of senders) s.emit('to', { rooms: [room] }, 'tick', senders.indexOf(s), n);
      await sleep(20);
    }
  })();
  t.after(() => { sending = false; return pump; }); // a failed assertion stops it too
  await sleep(500);
  const killedAt = Date.now();
  await cluster.node(victim).kill();
  // A replica takes over the victim's slots.
  assert.ok(await until(() => !cluster.masters().includes(victim) && cluster.masters().length === 3,
    { timeoutMs: 20000, stepMs: 100 }), 'no failover');
  const promotedAt = Date.now();
  await sleep(2000);
  sending = false;
  await pump;
  await barrier(senders, receivers);
  for (const [i, g] of got.entries()) {
    for (const from of [0, 1]) {
      const seq = g.filter(([f]) => f === from).map(([, k]) => k);
      assert.equal(new Set(seq).size, seq.length, `client ${i} got a tick twice: ${seq}`);
      assert.deepEqual(seq, [...seq].sort((x, y) => x - y), `client ${i}: out of order`);
      assert.ok(seq.includes(n), `client ${i} missed the last tick from ${from}`);
    }
  }
  // The longest silence a receiver saw around the kill.
  const gaps = when.map((w) => Math.max(...w.slice(1).map((x, k) => x - w[k])));
  t.diagnostic(`failover: replica promoted ${promotedAt - killedAt} ms after the kill; longest gap in delivery ` +
    `${Math.max(...gaps)} ms; ticks lost ${receivers.map((_, i) => 2 * n - got[i].length).join(', ')}`);
  // Each connection that was on the victim says so once; each server says
  // once that every slot is served again.
  for (const s of S) {
    assert.equal(count(s, new RegExp(`adapter pub: lost 127\\.0\\.0\\.1:${victim}`)), 1, s.stderr());
    assert.ok(count(s, new RegExp(`adapter sub: lost 127\\.0\\.0\\.1:${victim}`)) <= 1, s.stderr());
  }
  assert.ok(await until(() => S.every((s) => count(s, /adapter pub: every slot has a master that answers again/) === 1),
    { timeoutMs: WAIT }), S.map((s) => s.stderr()).join('\n'));
});
