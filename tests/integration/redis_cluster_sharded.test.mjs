// The sharded Redis adapter (--set redisAdapter=sharded) on a real Redis
// Cluster (six redis-server nodes: three masters with a replica each):
// three siolua instances and a Node socket.io 4.8 server with
// createShardedAdapter (@socket.io/redis-adapter 8.3) on a node-redis 4.7
// cluster client. Each shard channel is held on the master of its slot, one
// subscriber connection per master; SPUBLISH goes to that master; servers
// are counted with PUBSUB SHARDNUMSUB on the nodes of the channel's slot;
// the no-sticky relay and recovery sessions are keys, as in classic mode.
// Then the cluster changes under the traffic: a slot moves to another
// master (redis-cli --cluster reshard), and a master is killed; delivery
// resumes by itself and nothing ever arrives twice.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startServer, until, sleep, SIOLUA_ROOT } from './lib/server.mjs';
import { connected, askWithin, collect } from './lib/sio.mjs';
import { SKIP as skip, startRedisCluster, roomsPerMaster, startNodeServer, keyslot } from './lib/cluster.mjs';
import { clientsEverywhere, commonClusterTests } from './lib/cluster_common.mjs';

const APP = join(SIOLUA_ROOT, 'tests', 'apps', 'cluster');
const WAIT = 10000;

let cluster, S, node;
const ctx = {}; // the same, for the tests of lib/cluster_common.mjs
const cleanups = [];
const hooks = { after: (fn) => cleanups.push(fn) };

const ask = (socket, event, ...args) => askWithin(WAIT, socket, event, ...args);
const count = (srv, re) => srv.stderr().split('\n').filter((l) => re.test(l)).length;
const alive = (n) => n.proc.exitCode === null && n.proc.signalCode === null;

// PUBSUB SHARDNUMSUB of a channel, summed over the nodes that answer.
function shardNumsub(channel) {
  let n = 0;
  for (const x of cluster.nodes.filter(alive)) n += Number(cluster.cli(['pubsub', 'shardnumsub', channel], x.port).split('\n')[1] || 0);
  return n;
}

// Which node holds a subscriber of a shard channel: {port: count}.
function holders(channel) {
  const out = {};
  for (const x of cluster.nodes.filter(alive)) {
    const k = Number(cluster.cli(['pubsub', 'shardnumsub', channel], x.port).split('\n')[1] || 0);
    if (k) out[x.port] = k;
  }
  return out;
}

before(async () => {
  if (skip) return;
  cluster = await startRedisCluster(hooks);
  const args = ['--redis', cluster.url, '--no-reload', '--set', 'redisAdapter=sharded'];
  S = [];
  for (let i = 0; i < 3; i++) S.push(await startServer({ appDir: APP, t: hooks, args }));
  node = await startNodeServer(hooks, cluster.url, 'dynamic');
  Object.assign(ctx, { cluster, S, node, args: ['--redis', cluster.url, ...['--set', 'redisAdapter=sharded']] });
  for (const nsp of ['/', '/chat']) {
    const ok = await until(() => shardNumsub(`socket.io#${nsp}#`) === 4, { timeoutMs: WAIT, stepMs: 50 });
    assert.ok(ok, `not 4 servers on socket.io#${nsp}#: ${shardNumsub(`socket.io#${nsp}#`)}`);
  }
});

after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

// A broadcast from each sender to a room (or everyone), heard by every
// member: what the senders published before on the same channel has
// arrived by then.
let barrierSeq = 0;
async function barrier(senders, members, room) {
  const event = `barrier-${++barrierSeq}`;
  const got = members.map((c) => collect(c, event));
  for (const s of senders) s.emit('to', room ? { rooms: [room] } : {}, event, s.id);
  for (const g of got) await g.wait(senders.length, WAIT);
}

test('every server counts the others on the namespace channel\'s slot (SHARDNUMSUB), each channel on its master', { skip }, async (t) => {
  for (const s of S) assert.match(s.stderr(), /Redis Cluster of 3 masters/);
  const [a] = await clientsEverywhere(ctx, t);
  const [err, responses] = await ask(a, 'sse', 'hi');
  assert.equal(err, null);
  assert.deepEqual(responses.sort(), ['node heard hi', 'siolua heard hi', 'siolua heard hi']);
  // Each server's subscriber for socket.io#/# sits on that slot's master.
  assert.deepEqual(holders('socket.io#/#'), { [cluster.masterOf('socket.io#/#')]: 4 });
});

test('room channels on each master: broadcasts cross every way, each member hears each once', { skip }, async (t) => {
  const rooms = Object.values(roomsPerMaster(cluster, { base: 'sroom' }));
  assert.equal(rooms.length, 3);
  const all = await clientsEverywhere(ctx, t);
  for (const [i, c] of all.entries()) assert.deepEqual(await ask(c, 'join', rooms[i % 3]), [true]);
  // The room channels are held on three different masters.
  const where = rooms.map((r) => Object.keys(holders(`socket.io#/#${r}#`)));
  assert.equal(new Set(where.flat()).size, 3, JSON.stringify(where));
  const got = all.map((c) => collect(c, 'in-room'));
  for (const [i, sender] of all.entries())
    for (const room of rooms) sender.emit('to', { rooms: [room] }, 'in-room', room, i);
  for (const [k, room] of rooms.entries()) await barrier(all, all.filter((_, i) => i % 3 === k), room);
  for (const [i, g] of got.entries()) {
    const mine = rooms[i % 3];
    assert.deepEqual(g.map(([r, from]) => `${r}/${from}`).sort(), [0, 1, 2, 3].map((f) => `${mine}/${f}`),
      `client ${i}`);
  }
});

commonClusterTests(ctx, { skip, timeoutMs: WAIT });

// Ticks to a room from two siolua senders every 20 ms while `damage()`
// runs, heard by clients on two other servers. Returns what each receiver
// got ([sender, n]), when, and the last n sent.
async function traffic(t, room, damage) {
  const senders = [await connected(S[0], '/', { t }), await connected(S[1], '/', { t })];
  const receivers = [await connected(S[1], '/', { t }), await connected(S[2], '/', { t })];
  for (const c of receivers) assert.deepEqual(await ask(c, 'join', room), [true]);
  await until(() => shardNumsub(`socket.io#/#${room}#`) >= 2, { timeoutMs: WAIT });
  const got = receivers.map((c) => collect(c, 'tick'));
  const when = receivers.map(() => []);
  receivers.forEach((c, i) => c.on('tick', () => when[i].push(Date.now())));
  let n = 0;
  let sending = true;
  const pump = (async () => {
    while (sending) {
      n++;
      for (const [i, s] of senders.entries()) s.emit('to', { rooms: [room] }, 'tick', i, n);
      await sleep(20);
    }
  })();
  t.after(() => { sending = false; return pump; }); // a failed assertion stops it too
  await sleep(300);
  const info = await damage();
  // Delivery resumes by itself.
  const resumed = await until(() => got.every((g) => [0, 1].every((f) => g.some(([s, k]) => s === f && k > n - 3))),
    { timeoutMs: 20000 });
  await sleep(500);
  sending = false;
  await pump;
  assert.ok(resumed, `delivery did not resume: ${got.map((g) => g.length)} of ${n}`);
  await barrier(senders, receivers, room);
  for (const [i, g] of got.entries()) {
    for (const from of [0, 1]) {
      const seq = g.filter(([f]) => f === from).map(([, k]) => k);
      assert.equal(new Set(seq).size, seq.length, `receiver ${i} got a tick from ${from} twice`);
      assert.deepEqual(seq, [...seq].sort((x, y) => x - y), `receiver ${i}: out of order`);
      assert.ok(seq.includes(n), `receiver ${i} missed the last tick from ${from}`);
    }
  }
  const gaps = when.map((w) => Math.max(...w.slice(1).map((x, k) => x - w[k])));
  return { ...info, n, lost: got.map((g) => 2 * n - g.length), gap: Math.max(...gaps) };
}

test('a slot moved by redis-cli --cluster reshard while traffic flows: the room follows it, nothing twice', { skip, timeout: 60000 }, async (t) => {
  // A room whose channel's slot is the first one of its master's range:
  // reshard moves a source's lowest slots first.
  const shard = cluster.shards().find((r) => r.ranges[0][0] > 0) ?? cluster.shards()[0];
  const first = shard.ranges[0][0];
  let room;
  for (let i = 0; !room; i++) if (keyslot(`socket.io#/#mv${i}#`) === first) room = `mv${i}`;
  const from = shard.master;
  const to = cluster.masters().find((p) => p !== from);
  const id = (port) => cluster.cli(['cluster', 'myid'], port);
  const r = await traffic(t, room, async () => {
    execFileSync('redis-cli', ['--cluster', 'reshard', `127.0.0.1:${from}`, '--cluster-from', id(from),
      '--cluster-to', id(to), '--cluster-slots', '10', '--cluster-yes'], { stdio: 'ignore' });
    assert.equal(cluster.masterOf(`socket.io#/#${room}#`), to, 'the slot moved');
    return {};
  });
  t.diagnostic(`reshard: slot ${first} moved ${from} -> ${to}; ticks lost ${r.lost.join(', ')} of ${2 * r.n}; ` +
    `longest gap ${r.gap} ms`);
  // Every holder of the room's channel is on its new master now.
  assert.ok(await until(() => {
    const h = holders(`socket.io#/#${room}#`);
    return Object.keys(h).length === 1 && h[to] >= 2;
  }, { timeoutMs: WAIT }), JSON.stringify(holders(`socket.io#/#${room}#`)));
});

test('a master killed mid-traffic: its rooms come back after the failover, nothing twice, logged once', { skip, timeout: 60000 }, async (t) => {
  const victim = cluster.masters()[0];
  const room = roomsPerMaster(cluster, { base: 'kroom' })[victim];
  let killedAt, promotedAt;
  const r = await traffic(t, room, async () => {
    killedAt = Date.now();
    await cluster.node(victim).kill();
    assert.ok(await until(() => !cluster.masters().includes(victim) && cluster.masters().length === 3,
      { timeoutMs: 20000, stepMs: 50 }), 'no failover');
    promotedAt = Date.now();
    return {};
  });
  t.diagnostic(`failover: replica promoted ${promotedAt - killedAt} ms after the kill; longest gap in delivery ` +
    `${r.gap} ms; ticks lost ${r.lost.join(', ')} of ${2 * r.n}`);
  for (const s of S) {
    assert.ok(count(s, new RegExp(`adapter ssub: lost 127\\.0\\.0\\.1:${victim}`)) <= 1, s.stderr());
    assert.ok(count(s, new RegExp(`adapter pub: lost 127\\.0\\.0\\.1:${victim}`)) <= 1, s.stderr());
    assert.ok(count(s, /adapter pub: every slot has a master that answers again/) <= 1, s.stderr());
  }
  assert.ok(await until(() => S.every((s) => count(s, /adapter pub: every slot has a master that answers again/) === 1),
    { timeoutMs: WAIT }), S.map((s) => s.stderr()).join('\n'));
});
