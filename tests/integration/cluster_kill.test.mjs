// Three siolua instances (A, B, C) on one real Redis behind a per-request
// round-robin balancer (lib/balancer.mjs: no sticky sessions), with
// polling-only and websocket clients:
//   * polling-only clients connect, talk and stay connected while their
//     requests land on all three instances in turn;
//   * C is killed with SIGKILL: the clients of A and B keep working, and
//     never see a disconnect: all websocket ones, and every polling one
//     but those whose long-poll the balancer had sent through C (relayed
//     from there to its owner) when C died: that request is lost with C,
//     the stock client takes it as a transport error and reconnects (the
//     balancer tells which); the clients of C reconnect through the
//     balancer to A or B and talk again;
//   * cluster requests count the servers per request: one made after the
//     kill (Redis dropped C's subscriptions) gets A's and B's answers at
//     once; one made just before (C stopped, still counted) ends at the
//     requests timeout (5 s) with B's answer and says so.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { io } from 'socket.io-client';
import { SIOLUA_ROOT, until, sleep } from './lib/server.mjs';
import { connected, askWithin, collect, closeClient, waitConnect, uniq, stopProblems } from './lib/sio.mjs';
import { SKIP, startRedis, startNodes, redisClient } from './lib/cluster.mjs';
import { startBalancer } from './lib/balancer.mjs';

const skip = SKIP;
const APP = join(SIOLUA_ROOT, 'tests', 'apps', 'cluster3');
const NAMES = ['A', 'B', 'C'];
const WAIT = 10000;
// --set requestsTimeout (Node's adapter option; the default is 5000): a
// request that outlives it by more than 1 s fails the test.
const REQUESTS_TIMEOUT = 1500;

let redis, nodes, lb;
const cleanups = [];
const hooks = { after: (fn) => cleanups.push(fn) };

before(async () => {
  if (skip) return;
  redis = await startRedis(hooks);
  nodes = await startNodes(hooks, redis, NAMES, { appDir: APP, args: ['--set', `requestsTimeout=${REQUESTS_TIMEOUT}`] });
  // Every instance has told Redis where it takes relayed requests.
  const rc = await redisClient(redis);
  try {
    const ok = await until(async () => (await rc.keys('socket.io-node#*')).length === 3, { timeoutMs: WAIT, stepMs: 20 });
    assert.ok(ok, 'the three instances announced their address');
  } finally {
    await rc.quit();
  }
  lb = await startBalancer(NAMES.map((n) => nodes[n]), { t: hooks });
});

after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

const ask = (socket, event, ...args) => askWithin(WAIT, socket, event, ...args);

// A client through the balancer, reconnecting quickly when asked to; its
// instance (whoami), disconnects and reconnections are recorded.
async function lbClient(t, transports, { reconnection = false } = {}) {
  const socket = io(lb.url, { forceNew: true, transports, reconnection, reconnectionDelay: 100,
    reconnectionDelayMax: 500, randomizationFactor: 0 });
  t.after(() => closeClient(socket));
  await waitConnect(socket, WAIT);
  const c = { socket, transport: transports.join('+'), drops: [], node: null, sid: socket.io.engine.id };
  socket.on('disconnect', (reason) => c.drops.push(reason));
  socket.on('connect', () => { c.reconnectedAt = Date.now(); });
  [c.node] = await ask(socket, 'whoami');
  return c;
}

// Clients of each transport until every instance has `per` of each.
async function spread(t, per, opts) {
  const out = [];
  for (const transports of [['polling'], ['websocket']]) {
    const have = { A: 0, B: 0, C: 0 };
    for (let i = 0; i < 40 && NAMES.some((n) => have[n] < per); i++) {
      const c = await lbClient(t, transports, opts);
      if (have[c.node] >= per) {
        closeClient(c.socket);
        continue;
      }
      have[c.node]++;
      out.push(c);
    }
    assert.deepEqual(have, { A: per, B: per, C: per }, `${transports} clients on every instance`);
  }
  return out;
}

// Each client says its name to the room; every client hears each one
// exactly once (a barrier from one client of each instance in the room
// comes after anything those instances published before it).
let round = 0;
async function exchange(clients, room) {
  const event = `said-${++round}`;
  const got = clients.map((c) => collect(c.socket, event));
  for (const [i, c] of clients.entries()) c.socket.emit('to', { rooms: [room] }, event, i);
  for (const g of got) await g.wait(clients.length, WAIT);
  const senders = NAMES.map((n) => clients.find((c) => c.node === n)).filter(Boolean);
  const sync = clients.map((c) => collect(c.socket, `${event}-sync`));
  for (const s of senders) s.socket.emit('to', { rooms: [room] }, `${event}-sync`);
  for (const g of sync) await g.wait(senders.length, WAIT);
  const all = [...clients.keys()];
  for (const [i, g] of got.entries()) {
    assert.deepEqual(g.map((a) => a[0]).sort((x, y) => x - y), all, `client ${i} (${clients[i].transport} on ${clients[i].node})`);
  }
}

test('polling-only and websocket clients behind the round-robin balancer connect, talk and stay connected across the three instances', { skip, timeout: 90000 }, async (t) => {
  const hitsBefore = [...lb.hits];
  const clients = await spread(t, 1);
  const room = uniq('lb');
  for (const c of clients) assert.deepEqual(await ask(c.socket, 'join', room), [true]);
  for (let i = 0; i < 3; i++) await exchange(clients, room);
  for (const c of clients) {
    assert.deepEqual(c.drops, [], `${c.transport} client on ${c.node}`);
    assert.equal(c.socket.io.engine.transport.name, c.transport, 'no transport change');
    assert.equal(c.socket.io.engine.id, c.sid, 'same session throughout');
  }
  assert.ok(lb.hits.every((h, i) => h - hitsBefore[i] > 5), `every instance took requests: ${lb.hits}`);
  const logs = NAMES.map((n) => nodes[n].stderr()).join('\n');
  assert.doesNotMatch(logs, / error /);
});

test('C killed with SIGKILL: clients of A and B keep working, clients of C reconnect through the balancer to A or B; cluster requests count the live servers', { skip, timeout: 90000 }, async (t) => {
  const clients = await spread(t, 2, { reconnection: true });
  const room = uniq('kill');
  for (const c of clients) assert.deepEqual(await ask(c.socket, 'join', room), [true]);
  await exchange(clients, room);
  // Observers straight on A and B (not through the balancer).
  const obsA = await connected(nodes.A, '/', { t });
  const obsB = await connected(nodes.B, '/', { t });
  const seenOnB = collect(obsB, 'sse-seen');

  // C stops (still subscribed: NUMSUB counts 3); A asks the cluster; once
  // B has the request, C dies without ever answering.
  const liveIds = clients.filter((c) => c.node !== 'C').map((c) => c.socket.id).sort();
  nodes.C.proc.kill('SIGSTOP');
  const issuedAt = Date.now();
  const earlyFetch = askWithin(REQUESTS_TIMEOUT + WAIT, obsA, 'fetch', { rooms: [room] });
  const earlySse = askWithin(REQUESTS_TIMEOUT + WAIT, obsA, 'sse', 'before');
  earlyFetch.catch(() => {}); // awaited below; no unhandled rejection if the test fails first
  earlySse.catch(() => {});
  await seenOnB.wait(1, WAIT);
  assert.deepEqual([...seenOnB], [['B', 'before']]);
  await nodes.C.kill();
  const killedAt = Date.now();

  // Redis drops C's subscriptions: the cluster now counts two servers.
  const rc = await redisClient(redis);
  try {
    const ok = await until(async () => (await rc.pubSubNumSub('socket.io-request#/#'))['socket.io-request#/#'] === 2,
      { timeoutMs: WAIT, stepMs: 20 });
    assert.ok(ok, 'NUMSUB counts A and B');
  } finally {
    await rc.quit();
  }

  // A request made now gathers A's and B's answers, complete (no timeout).
  let start = Date.now();
  const [list, err] = await ask(obsA, 'fetch', { rooms: [room] });
  const lateFetchMs = Date.now() - start;
  assert.equal(err, null);
  assert.ok(list.every((s) => s.node === 'A' || s.node === 'B'), JSON.stringify(list));
  start = Date.now();
  assert.deepEqual(await ask(obsA, 'sse', 'after'), [null, ['B heard after']]);
  const lateSseMs = Date.now() - start;

  // The ones made before: at the requests timeout, B's part, and the error.
  const [early, earlyErr] = await earlyFetch;
  const earlyFetchMs = Date.now() - issuedAt;
  assert.equal(earlyErr, 'timeout reached while waiting for fetchSockets response');
  assert.deepEqual(early.map((s) => s.id).sort(), liveIds, 'A\'s and B\'s sockets, not C\'s');
  assert.deepEqual(await earlySse, ['operation has timed out', ['B heard before']]);
  const earlySseMs = Date.now() - issuedAt;
  assert.ok(earlySseMs >= REQUESTS_TIMEOUT, `the early request waited for the requests timeout (${earlySseMs} ms)`);
  // ... the configured one, not the 5000 ms default.
  assert.ok(earlyFetchMs < 4500, `the early fetch ended at requestsTimeout (${earlyFetchMs} ms)`);
  assert.match(nodes.A.stderr(), /request \S+ on \/: 1 of 2 servers answered in time/);

  // C's clients reconnect through the balancer, to A or B (and so do
  // clients of A and B whose request was in flight through C, if any).
  const orphans = clients.filter((c) => c.node === 'C');
  for (const c of orphans) {
    const ok = await until(() => c.socket.connected && c.drops.length > 0, { timeoutMs: WAIT, stepMs: 20 });
    assert.ok(ok, `the ${c.transport} client of C reconnected (${c.drops})`);
  }
  for (const c of clients.filter((x) => x.drops.length > 0)) {
    assert.ok(await until(() => c.socket.connected, { timeoutMs: WAIT, stepMs: 20 }), `${c.transport} client reconnected`);
    [c.node] = await ask(c.socket, 'whoami');
    assert.ok(c.node === 'A' || c.node === 'B', `reconnected to ${c.node}`);
    assert.deepEqual(await ask(c.socket, 'join', room), [true]);
  }
  const reconnectedMs = Math.max(...orphans.map((c) => c.reconnectedAt)) - killedAt;
  assert.deepEqual(lb.down, [false, false, true], 'the balancer took C out');

  // Everyone talks to everyone again, exactly once.
  await exchange(clients, room);
  await exchange(clients, room);

  // The clients of A and B never saw a disconnect, except polling ones
  // whose request was in flight through C when it died.
  const hit = [];
  for (const c of clients.filter((x) => !orphans.includes(x))) {
    if (c.transport === 'polling' && lb.broken.some((b) => b.sid === c.sid && b.backend === 2)) {
      hit.push(`${c.transport} on ${c.node}: ${c.drops}`);
      continue;
    }
    assert.deepEqual(c.drops, [], `the ${c.transport} client of ${c.node} (sid ${c.sid}) was disconnected`);
    assert.equal(c.socket.io.engine.id, c.sid);
    assert.ok(list.some((s) => s.id === c.socket.id), `the ${c.transport} client of ${c.node} is in the fetch made after the kill`);
  }
  t.diagnostic(`after C's death: a request made then took ${lateFetchMs} ms (fetch) / ${lateSseMs} ms (sse); ` +
    `those made before ended after ${earlyFetchMs} / ${earlySseMs} ms; C's ${orphans.length} clients were all back ` +
    `${reconnectedMs} ms after the kill; polling clients of A/B cut by their request through C: ${JSON.stringify(hit)}`);

  for (const name of ['A', 'B']) assert.deepEqual(await stopProblems(nodes[name]), [], name);
});
