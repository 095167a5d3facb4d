// What every Redis Cluster set-up (the classic and the sharded adapter)
// must do alike, as tests both cluster files register: ctx is filled in by
// the file's before(): {cluster, S (three siolua servers), node (a Node
// socket.io server on the same cluster), args (the siolua servers' --redis
// and --set arguments)}.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { join } from 'node:path';
import { startServer, until } from './server.mjs';
import { io, connected, askWithin, closeClient, collect } from './sio.mjs';
import { startBalancer } from './balancer.mjs';

// One client per server (siolua A, B, C, then Node).
export async function clientsEverywhere(ctx, t) {
  const out = [];
  for (const s of [...ctx.S, ctx.node]) out.push(await connected(s, '/', { t }));
  return out;
}

export function commonClusterTests(ctx, { skip, timeoutMs = 10000 } = {}) {
  const ask = (socket, event, ...args) => askWithin(timeoutMs, socket, event, ...args);

  test('broadcasts with acks and fetch_sockets gather the clients of every server', { skip }, async (t) => {
    const all = await clientsEverywhere(ctx, t);
    for (const [i, c] of all.entries()) c.on('poll', (q, ack) => ack(`${q}:${i}`));
    const [err, answers] = await ask(all[1], 'poll-all', 'q');
    assert.equal(err, null);
    for (let i = 0; i < all.length; i++) assert.ok(answers.includes(`q:${i}`), JSON.stringify(answers));
    const [sockets] = await ask(all[2], 'fetch', []);
    for (const c of all) assert.ok(sockets.some((s) => s.id === c.id), `${c.id} not fetched`);
  });

  test('no sticky sessions: long-polling requests sent round robin are relayed to the owner', { skip }, async (t) => {
    const hits = await relayedRoundRobin(t, ctx.S, ctx.node, { timeoutMs });
    assert.ok(hits.every((h) => h > 0), `every instance got requests: ${hits}`);
  });

  test('connection state recovery: a session kept by one server is taken by another', { skip, timeout: 30000 }, async (t) => {
    const r = await recoveredThroughAnother(t, ctx.args, { timeoutMs });
    assert.deepEqual(r.feed, [...Array(8).keys()], 'every event once, in order');
    assert.equal(r.recovered, true);
    assert.equal(r.sameId, true);
  });
}


// Connection state recovery across servers on `args` (--redis ... and the
// adapter's mode): two instances of the recovery app behind a TCP switch
// whose target the test moves. A client of A drops while B feeds its room
// and comes back through B, which takes the session A kept in Redis.
// Returns {feed (what the client got, in order), recovered, sameId}.
async function recoveredThroughAnother(t, args, { timeoutMs = 10000 } = {}) {
  const appDir = join(import.meta.dirname, '..', '..', 'apps', 'recovery');
  const full = [...args, '--no-reload', '--set', 'connectionStateRecovery=true'];
  const a = await startServer({ appDir, t, args: full });
  const b = await startServer({ appDir, t, args: full });
  let target = a;
  const sw = net.createServer((client) => {
    const up = net.connect(target.port, '127.0.0.1');
    client.pipe(up);
    up.pipe(client);
    up.on('error', () => client.destroy());
    client.on('error', () => up.destroy());
  });
  await new Promise((resolve) => sw.listen(0, '127.0.0.1', resolve));
  t.after(() => sw.close());
  const c = io(`http://127.0.0.1:${sw.address().port}`, { transports: ['websocket'], forceNew: true,
    reconnectionDelay: 100, reconnectionDelayMax: 200 });
  t.after(() => closeClient(c));
  await new Promise((resolve) => c.on('connect', resolve));
  const id = c.id;
  await askWithin(timeoutMs, c, 'setup', 'news', 'ann');
  const feed = [];
  c.on('feed', (k) => feed.push(k));
  const ended = new Promise((resolve) => c.on('feed-end', resolve));
  // B feeds the room; the client drops after 2 events (A keeps its session
  // under a key in Redis) and comes back through B.
  const d = await connected(b, '/', { t, transports: ['websocket'] });
  await askWithin(timeoutMs, d, 'setup', 'news', 'observer');
  await askWithin(timeoutMs, d, 'start-feed', 'news', 8, 60);
  if (!(await until(() => feed.length >= 2, { timeoutMs }))) throw new Error(`fed ${feed.length} events`);
  target = b;
  c.io.engine.close();
  await ended;
  return { feed, recovered: c.recovered, sameId: c.id === id };
}

// No sticky sessions: a long-polling client behind a round-robin balancer
// over `servers` joins a room, hears a broadcast to it from a client of
// `other` (another server of the cluster), and makes more requests. Returns
// the balancer's hits per server (all > 0: the session's requests were
// relayed to its owner).
async function relayedRoundRobin(t, servers, other, { timeoutMs = 10000 } = {}) {
  const lb = await startBalancer(servers, { t });
  const c = await connected({ url: lb.url }, '/', { t, transports: ['polling'] });
  const join = async (room) => {
    const r = await askWithin(timeoutMs, c, 'join', room);
    if (r[0] !== true) throw new Error(`join ${room}: ${JSON.stringify(r)}`);
  };
  await join('rr');
  const heard = collect(c, 'rr');
  const o = await connected(other, '/', { t });
  o.emit('to', { rooms: ['rr'] }, 'rr', 'via the cluster');
  await heard.wait(1, timeoutMs);
  for (let i = 0; i < 6; i++) await join(`r${i}`);
  return lb.hits;
}
