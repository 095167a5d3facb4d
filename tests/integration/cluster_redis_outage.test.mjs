// Redis killed (SIGKILL) and restarted on the same port while the clients
// of three siolua instances keep broadcasting a steady stream:
//   * local delivery never stops: every client hears every tick of the
//     clients on its own instance, none lost, none twice, throughout;
//   * cross-instance delivery comes back by itself once Redis is back;
//   * cluster requests made while Redis is away return at once with what
//     this instance has (and say that the others did not answer);
//   * each instance logs the outage and the recovery once per link;
//   * nothing crashes (every instance stops cleanly, no sanitizer report).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SIOLUA_ROOT, until } from './lib/server.mjs';
import { connected, askWithin, stopProblems, uniq } from './lib/sio.mjs';
import { SKIP, startRedis, startNodes, redisClient, waitSubscribed } from './lib/cluster.mjs';

const skip = SKIP;
const APP = join(SIOLUA_ROOT, 'tests', 'apps', 'cluster3');
const NAMES = ['A', 'B', 'C'];
const WAIT = 10000;
const TICK_MS = 100;

const count = (text, re) => (text.match(new RegExp(re, 'g')) || []).length;

test('Redis killed and restarted mid-traffic: local delivery never stops, the cluster comes back by itself, requests fail fast meanwhile, one log line each way', { skip, timeout: 120000 }, async (t) => {
  let redis = await startRedis();
  const port = redis.port;
  const nodes = await startNodes(t, redis, NAMES, { appDir: APP });
  t.after(() => redis.stop()); // whichever runs then; after the instances (hooks run in order)
  const room = uniq('outage');

  // Two clients per instance (websocket and polling), each hearing every
  // tick: key -> list of n received, per sender.
  const clients = [];
  for (const name of NAMES) {
    for (const transports of [['websocket'], ['polling']]) {
      const socket = await connected(nodes[name], '/', { t, transports });
      const key = `${name}-${transports[0]}`;
      const heard = new Map();
      socket.on('tick', (from, n) => {
        if (!heard.has(from)) heard.set(from, []);
        heard.get(from).push(n);
      });
      socket.on('poll', (q, cb) => cb(`${key} ${q}`));
      assert.deepEqual(await askWithin(WAIT, socket, 'join', room), [true]);
      clients.push({ name, key, socket, heard, sent: 0, drops: 0 });
    }
  }
  for (const c of clients) c.socket.on('disconnect', () => { c.drops++; });
  const keys = clients.map((c) => c.key);
  const last = (c, from) => { const l = c.heard.get(from); return l ? l[l.length - 1] : -1; };

  // The steady stream: every client broadcasts a numbered tick to everyone.
  let streaming = true;
  const timer = setInterval(() => {
    if (!streaming) return;
    for (const c of clients) c.socket.emit('to', null, 'tick', c.key, c.sent++);
  }, TICK_MS);
  t.after(() => clearInterval(timer));

  // 1. The cluster works: everyone hears everyone.
  assert.ok(await until(() => clients.every((c) => keys.every((k) => last(c, k) >= 2)), { timeoutMs: WAIT, stepMs: 20 }),
    'every client hears every other before the outage');

  // 2. Redis dies. Each instance notices (both links), once.
  await redis.stop();
  const killedAt = Date.now();
  for (const name of NAMES) {
    const ok = await until(() => /adapter pub: lost/.test(nodes[name].stderr()) && /adapter sub: lost/.test(nodes[name].stderr()),
      { timeoutMs: WAIT, stepMs: 20 });
    assert.ok(ok, `${name} logged the outage:\n${nodes[name].stderr()}`);
  }
  // Local delivery goes on: each client hears 20 more ticks (2 s worth)
  // from every client of its own instance (itself included); meanwhile the
  // links back off between their attempts to reconnect.
  const mark = new Map(clients.map((c) => [c, new Map(keys.map((k) => [k, last(c, k)]))]));
  for (const c of clients) {
    const mates = clients.filter((o) => o.name === c.name).map((o) => o.key);
    const ok = await until(() => mates.every((k) => last(c, k) >= mark.get(c).get(k) + 20), { timeoutMs: WAIT, stepMs: 20 });
    assert.ok(ok, `${c.key} keeps hearing its own instance while Redis is away`);
  }

  // Cluster requests while Redis is away: what this instance has, at once
  // (well before the 5 s requests timeout), and the others' silence said.
  const fast = 4500;
  const timings = {};
  for (const name of NAMES) {
    const c = clients.find((x) => x.name === name);
    let start = Date.now();
    const [list, err] = await askWithin(fast, c.socket, 'fetch', { rooms: [room] });
    timings[`fetch ${name}`] = Date.now() - start;
    assert.deepEqual(list.map((s) => s.node), [name, name], `${name}: its own two sockets`);
    assert.equal(err, 'timeout reached while waiting for fetchSockets response');
    start = Date.now();
    assert.deepEqual(await askWithin(fast, c.socket, 'sse', 'anyone?'), ['operation has timed out', []]);
    timings[`sse ${name}`] = Date.now() - start;
    const [rooms] = await askWithin(fast, c.socket, 'all-rooms');
    assert.ok(rooms.includes(room) && rooms.includes(c.socket.id), JSON.stringify(rooms));
    const [perr, answers] = await askWithin(fast, c.socket, 'poll', { rooms: [room] }, 'q', 3000);
    assert.equal(perr, 'operation has timed out', `${name}: the other instances' clients could not be asked`);
    assert.deepEqual(answers, clients.filter((o) => o.name === name).map((o) => `${o.key} q`).sort());
  }
  t.diagnostic(`requests while Redis was away took (ms): ${JSON.stringify(timings)}`);

  // 3. Redis comes back on the same port: every client hears every other
  // instance again, by itself.
  const downFor = Date.now() - killedAt;
  redis = await startRedis(undefined, { port });
  const upAt = Date.now();
  const atRestart = new Map(clients.map((c) => [c, new Map(keys.map((k) => [k, last(c, k)]))]));
  const resumed = {};
  const ok = await until(() => {
    for (const c of clients) {
      if (!resumed[c.key] && keys.every((k) => last(c, k) > atRestart.get(c).get(k))) resumed[c.key] = Date.now() - upAt;
    }
    return Object.keys(resumed).length === clients.length;
  }, { timeoutMs: 30000, stepMs: 20 });
  assert.ok(ok, `cross-instance delivery resumed for ${JSON.stringify(resumed)} only`);
  t.diagnostic(`Redis was down ${downFor} ms; cross-instance delivery resumed after (ms): ${JSON.stringify(resumed)}`);
  for (const name of NAMES) {
    const ok2 = await until(() => count(nodes[name].stderr(), 'adapter sub: connected to') === 2, { timeoutMs: WAIT, stepMs: 20 });
    assert.ok(ok2, `${name} logged the recovery`);
  }
  // A cluster request answers in full again (once Redis counts the three).
  const rc = await redisClient(redis);
  try {
    await waitSubscribed(rc, ['/'], 3, WAIT);
  } finally {
    await rc.quit();
  }
  const [list, err] = await askWithin(WAIT, clients[0].socket, 'fetch', { rooms: [room] });
  assert.equal(err, null);
  assert.deepEqual(list.map((s) => s.node).sort(), ['A', 'A', 'B', 'B', 'C', 'C']);

  // 4. The stream stops; once every last tick has arrived, check them all.
  streaming = false;
  clearInterval(timer);
  const finalN = new Map(clients.map((c) => [c.key, c.sent - 1]));
  const complete = await until(() => clients.every((c) => keys.every((k) => last(c, k) === finalN.get(k))),
    { timeoutMs: WAIT, stepMs: 20 });
  assert.ok(complete, 'the last tick of every client reached every client');
  for (const c of clients) {
    for (const o of clients) {
      const got = c.heard.get(o.key);
      assert.equal(new Set(got).size, got.length, `${c.key} heard a tick of ${o.key} twice`);
      if (o.name === c.name) {
        // Same instance: every tick, in order, outage or not.
        assert.deepEqual(got, [...Array(o.sent).keys()], `${c.key} lost ticks of ${o.key} (same instance)`);
      } else {
        // Other instance: in order, with a gap only while Redis was away.
        assert.deepEqual(got, [...got].sort((x, y) => x - y), `${c.key}: ticks of ${o.key} out of order`);
      }
    }
    assert.equal(c.drops, 0, `${c.key} was disconnected`);
  }

  // The log: the outage and the recovery once per link, nothing else.
  for (const name of NAMES) {
    const log = nodes[name].stderr();
    const where = `redis://127\\.0\\.0\\.1:${port}`;
    const lines = {
      pubLost: count(log, `adapter pub: lost ${where} \\([^)]*\\), reconnecting`),
      subLost: count(log, `adapter sub: lost ${where} \\([^)]*\\), reconnecting`),
      pubConnected: count(log, `adapter pub: connected to ${where}`),
      subConnected: count(log, `adapter sub: connected to ${where}`),
      unavailable: count(log, "redis is unavailable: broadcasts reach this server's clients only"),
      back: count(log, 'redis is back: broadcasts reach the cluster again'),
      cannotReach: count(log, 'cannot reach'),
    };
    assert.deepEqual(lines, { pubLost: 1, subLost: 1, pubConnected: 2, subConnected: 2, unavailable: 1, back: 1, cannotReach: 0 },
      `${name}'s log:\n${log}`);
  }
  const problems = [];
  for (const name of NAMES) problems.push(...(await stopProblems(nodes[name])).map((p) => `${name}: ${p}`));
  assert.deepEqual(problems, []);
});
