// Three siolua instances on one Redis, and on a Redis Cluster (six
// redis-server nodes: three masters with a replica each, cluster-node-
// timeout 1000 ms), with the classic and the sharded adapter:
//   latency: a broadcast to a room every 5 ms from a client of A, heard by
//     clients of B and C; the time from emit to receipt (same clock), p50/p99;
//   throughput: 3 senders (one per instance) broadcast to everyone as fast
//     as they can for S seconds, R receivers per instance count; deliveries
//     per second, and the CPU the instances used;
//   failover (cluster): ticks to a room every 20 ms from A and B while the
//     master of the room's channel is killed: when its replica was promoted,
//     the longest silence a receiver saw, ticks lost, ticks received twice;
//   reshard (cluster): the same while redis-cli --cluster reshard moves 100
//     slots (the room's among them) to another master.
// Everything (clients, 3 instances, the Redis nodes) shares this machine's
// cores: read the numbers as orders of magnitude and as a comparison
// between the set-ups.
//   node bench/cluster.mjs [R] [S]      (run from the repository root)
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT, start, cpuMs } from './lib.mjs';
import { startRedis, startRedisCluster, roomsPerMaster, keyslot } from '../tests/integration/lib/cluster.mjs';

const require = createRequire(join(ROOT, 'tests', 'package.json'));
const { io } = require('socket.io-client');
const BIN = process.env.SIOLUA_BIN || join(ROOT, 'build', 'siolua');
const R = Number(process.argv[2] || 20);
const S = Number(process.argv[3] || 5);
const APP = join(ROOT, 'tests', 'apps', 'cluster');

const cleanups = [];
const hooks = { after: (fn) => cleanups.push(fn) };

async function instances(url, extra) {
  const out = [];
  for (let i = 0; i < 3; i++) {
    out.push(await start(BIN, ['run', APP, '--port', '0', '--host', '127.0.0.1', '--no-reload', '--redis', url,
      ...extra], /listening on http:\/\/[^:]+:(\d+)/, 'stderr'));
  }
  return out;
}

function client(url) {
  return new Promise((resolve, reject) => {
    const s = io(url, { transports: ['websocket'], forceNew: true, reconnection: true, reconnectionDelay: 100 });
    s.once('connect', () => resolve(s));
    s.once('connect_error', reject);
  });
}

const ack = (s, ev, ...a) => new Promise((resolve) => s.emit(ev, ...a, (...r) => resolve(r)));

function pct(v, p) {
  const s = [...v].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))];
}

async function latency(srv, room) {
  const a = await client(srv[0].url);
  const rx = [await client(srv[1].url), await client(srv[2].url)];
  for (const c of rx) await ack(c, 'join', room);
  await sleep(300);
  const lat = [];
  for (const c of rx) c.on('lat', (t) => lat.push(Number(process.hrtime.bigint() - BigInt(t)) / 1e6));
  for (let i = 0; i < 400; i++) {
    a.emit('to', { rooms: [room] }, 'lat', String(process.hrtime.bigint()));
    await sleep(5);
  }
  await sleep(500);
  for (const c of [a, ...rx]) c.close();
  return { p50: pct(lat, 0.5), p99: pct(lat, 0.99), n: lat.length };
}

async function throughput(srv) {
  const receivers = [];
  for (const s of srv) for (let i = 0; i < R; i++) receivers.push(await client(s.url));
  const senders = await Promise.all(srv.map((s) => client(s.url)));
  let got = 0;
  for (const c of receivers) c.on('flood', () => { got++; });
  await sleep(300);
  const cpu0 = srv.map((s) => cpuMs(s.proc.pid));
  const t0 = Date.now();
  let sent = 0;
  while (Date.now() - t0 < S * 1000) {
    for (const s of senders) { s.emit('to', {}, 'flood', sent); sent++; }
    if (sent % 30 === 0) await sleep(0);
  }
  await sleep(1000);
  const secs = (Date.now() - t0) / 1000;
  const cpu = srv.map((s, i) => cpuMs(s.proc.pid) - cpu0[i]);
  for (const c of [...receivers, ...senders]) c.close();
  return { deliveries: Math.round(got / secs), broadcasts: sent, expected: sent * receivers.length, got,
    cpu: cpu.map((x) => `${(x / secs / 10).toFixed(0)}%`).join(' ') };
}

// Ticks to room from A and B every 20 ms, received on B and C, while
// damage() runs.
async function underTraffic(srv, room, damage) {
  const senders = [await client(srv[0].url), await client(srv[1].url)];
  const rx = [await client(srv[1].url), await client(srv[2].url)];
  for (const c of rx) await ack(c, 'join', room);
  await sleep(500);
  const got = rx.map(() => []);
  rx.forEach((c, i) => c.on('tick', (from, n) => got[i].push([from, n, Date.now()])));
  let n = 0, on = true;
  const pump = (async () => {
    while (on) {
      n++;
      senders.forEach((s, i) => s.emit('to', { rooms: [room] }, 'tick', i, n));
      await sleep(20);
    }
  })();
  await sleep(1000);
  const info = await damage();
  await sleep(6000);
  on = false;
  await pump;
  await sleep(1000);
  const out = { ...info, sent: 2 * n };
  out.lost = got.map((g) => 2 * n - g.length);
  out.twice = got.map((g) => g.length - new Set(g.map(([f, k]) => `${f}/${k}`)).size);
  if (process.env.BENCH_DEBUG) {
    for (const [i, g] of got.entries()) {
      const seen = new Map();
      for (const [f, k, t] of g) {
        if (seen.has(`${f}/${k}`)) console.log('dup', i, f, k, seen.get(`${f}/${k}`), t, 'n', n);
        seen.set(`${f}/${k}`, t);
      }
    }
    rx.forEach((c, i) => console.log('rx', i, c.id, c.connected));
    senders.forEach((c, i) => console.log('tx', i, c.id, c.connected));
  }
  out.gap = Math.max(...got.map((g) => Math.max(...g.slice(1).map((x, k) => x[2] - g[k][2]))));
  for (const c of [...senders, ...rx]) c.close();
  return out;
}

async function run(name, url, extra, cluster) {
  const srv = await instances(url, extra);
  await sleep(1500);
  const room = cluster ? Object.values(roomsPerMaster(cluster, { base: 'bench' }))[0] : 'bench0';
  const lat = await latency(srv, room);
  const tp = await throughput(srv);
  console.log(`${name}: latency p50 ${lat.p50.toFixed(2)} ms, p99 ${lat.p99.toFixed(2)} ms (${lat.n} samples); ` +
    `${tp.deliveries} deliveries/s (${tp.got} of ${tp.expected}), instances' CPU ${tp.cpu}`);
  if (cluster) {
    const shard = cluster.shards().find((r) => r.ranges[0][0] > 0);
    const first = shard.ranges[0][0];
    let mv;
    for (let i = 0; !mv; i++) if (keyslot(`socket.io#/#mv${i}#`) >= first && keyslot(`socket.io#/#mv${i}#`) < first + 100) mv = `mv${i}`;
    const to = cluster.masters().find((p) => p !== shard.master);
    const id = (p) => cluster.cli(['cluster', 'myid'], p);
    const rs = await underTraffic(srv, mv, async () => {
      const t0 = Date.now();
      execFileSync('redis-cli', ['--cluster', 'reshard', `127.0.0.1:${shard.master}`, '--cluster-from', id(shard.master),
        '--cluster-to', id(to), '--cluster-slots', '100', '--cluster-yes'], { stdio: 'ignore' });
      return { reshardMs: Date.now() - t0 };
    });
    console.log(`${name}: reshard of 100 slots (${rs.reshardMs} ms) under ${rs.sent} ticks: lost ${rs.lost.join('/')}, ` +
      `twice ${rs.twice.join('/')}, longest gap ${rs.gap} ms`);
    const victim = cluster.masterOf(`socket.io#/#${room}#`);
    const fo = await underTraffic(srv, room, async () => {
      const t0 = Date.now();
      await cluster.node(victim).kill();
      while (cluster.masters().includes(victim) || cluster.masters().length < 3) await sleep(20);
      return { promotedMs: Date.now() - t0 };
    });
    console.log(`${name}: master killed: replica promoted after ${fo.promotedMs} ms; under ${fo.sent} ticks: lost ` +
      `${fo.lost.join('/')}, twice ${fo.twice.join('/')}, longest gap in delivery ${fo.gap} ms`);
  }
  for (const s of srv) s.proc.kill();
}

try {
  const one = await startRedis(hooks);
  await run('one Redis, classic', one.url, []);
  await run('one Redis, sharded', one.url, ['--set', 'redisAdapter=sharded']);
  for (const [name, extra] of [['cluster, classic', []], ['cluster, sharded', ['--set', 'redisAdapter=sharded']]]) {
    const c = await startRedisCluster(hooks);
    await run(name, c.url, extra, c);
    await c.stop();
  }
} finally {
  for (const fn of cleanups.reverse()) await fn();
  process.exit(0);
}
