// Three siolua instances (A, B, C) of tests/apps/cluster3 share one real
// redis-server started here. Broadcasts, room broadcasts (several rooms,
// except) and namespaces reach the clients of every instance exactly once,
// and every cluster call (fetch_sockets, all_rooms, sockets_join,
// sockets_leave, disconnect_sockets, server_side_emit with acks, broadcasts
// with acks) gathers or reaches all three, whichever instance asks.
//
// "Exactly once" and "not at all" are checked with a barrier that crosses
// the same way: each instance publishes through one Redis connection and
// subscribes through one, so a later broadcast from the same instance
// arrives after anything it published before.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SIOLUA_ROOT, until } from './lib/server.mjs';
import { connected, askWithin, collect, nextDisconnect, uniq, stopProblems } from './lib/sio.mjs';
import { SKIP, startRedis, startNodes } from './lib/cluster.mjs';

const skip = SKIP;
const APP = join(SIOLUA_ROOT, 'tests', 'apps', 'cluster3');
const NAMES = ['A', 'B', 'C'];
const WAIT = 10000; // generous: an ASan build on a loaded machine

let nodes;
const cleanups = [];
const hooks = { after: (fn) => cleanups.push(fn) };

before(async () => {
  if (skip) return;
  const redis = await startRedis(hooks);
  nodes = await startNodes(hooks, redis, NAMES, { appDir: APP, namespaces: ['/', '/chat'] });
});

after(async () => {
  const problems = [];
  for (const name of NAMES) {
    if (nodes?.[name]) problems.push(...(await stopProblems(nodes[name])).map((p) => `${name}: ${p}`));
  }
  for (const fn of cleanups.reverse()) await fn();
  assert.deepEqual(problems, [], 'every instance stops cleanly');
});

const ask = (socket, event, ...args) => askWithin(WAIT, socket, event, ...args);

// One client per instance and transport: {A: [ws, polling], B: [...], C: [...]}.
async function clientsEverywhere(t, nsp = '/') {
  const out = {};
  for (const name of NAMES) {
    out[name] = [
      await connected(nodes[name], nsp, { t, transports: ['websocket'] }),
      await connected(nodes[name], nsp, { t, transports: ['polling'] }),
    ];
  }
  return out;
}

// Every client in `all` hears a broadcast to everyone from each instance
// (through `senders`, one client per instance). Anything any of them
// published before has arrived by then.
let barrierSeq = 0;
async function barrier(senders, all) {
  const event = `barrier-${++barrierSeq}`;
  const got = all.map((c) => collect(c, event));
  for (const s of senders) s.emit('to', null, event, s.id);
  for (const g of got) await g.wait(senders.length, WAIT);
}

test('a broadcast from each instance reaches every client on every instance exactly once (websocket and polling)', { skip }, async (t) => {
  const by = await clientsEverywhere(t);
  const all = Object.values(by).flat();
  const got = all.map((c) => collect(c, 'hello'));
  for (const name of NAMES) by[name][1].emit('to', null, 'hello', `from ${name}`, { n: 1 });
  for (const g of got) await g.wait(3, WAIT);
  await barrier(NAMES.map((n) => by[n][0]), all);
  for (const [i, g] of got.entries()) {
    assert.deepEqual(g.map((a) => a[0]).sort(), ['from A', 'from B', 'from C'], `client ${i}`);
    assert.deepEqual(g[0][1], { n: 1 });
  }
});

test('room broadcasts: to several rooms once per socket, except honoured, outsiders left out, on every instance', { skip }, async (t) => {
  const r1 = uniq('r1');
  const r2 = uniq('r2');
  const muted = uniq('muted');
  const roles = {};
  for (const name of NAMES) {
    const [both, inR2, mutedOne, outsider] = await Promise.all([0, 1, 2, 3].map((i) =>
      connected(nodes[name], '/', { t, transports: [i % 2 ? 'polling' : 'websocket'] })));
    assert.deepEqual(await ask(both, 'join', [r1, r2]), [true]);
    assert.deepEqual(await ask(inR2, 'join', r2), [true]);
    assert.deepEqual(await ask(mutedOne, 'join', [r1, muted]), [true]);
    roles[name] = { both, inR2, mutedOne, outsider };
  }
  const all = NAMES.flatMap((n) => Object.values(roles[n]));
  const got = new Map(all.map((c) => [c, collect(c, 'news')]));
  // From an outsider on each instance in turn.
  for (const name of NAMES) {
    roles[name].outsider.emit('to', { rooms: [r1, r2], except: [muted] }, 'news', `via ${name}`);
  }
  await barrier(NAMES.map((n) => roles[n].outsider), all);
  for (const name of NAMES) {
    const { both, inR2, mutedOne, outsider } = roles[name];
    const want = ['via A', 'via B', 'via C'];
    assert.deepEqual(got.get(both).map((a) => a[0]).sort(), want, `${name}: in both rooms, once each`);
    assert.deepEqual(got.get(inR2).map((a) => a[0]).sort(), want, `${name}: in r2`);
    assert.deepEqual(got.get(mutedOne), [], `${name}: excepted`);
    assert.deepEqual(got.get(outsider), [], `${name}: in neither room`);
  }
  // One room only (Node's per-room channel), from C.
  const single = new Map(all.map((c) => [c, collect(c, 'single')]));
  roles.C.outsider.emit('to', { rooms: [r1] }, 'single', 1);
  await barrier(NAMES.map((n) => roles[n].outsider), all);
  for (const name of NAMES) {
    assert.equal(single.get(roles[name].both).length, 1, `${name}: r1 member`);
    assert.equal(single.get(roles[name].mutedOne).length, 1, `${name}: r1 member (not excepted this time)`);
    assert.equal(single.get(roles[name].inR2).length, 0, `${name}: not in r1`);
  }
});

test('namespaces stay apart on every instance', { skip }, async (t) => {
  const root = await clientsEverywhere(t, '/');
  const chat = await clientsEverywhere(t, '/chat');
  const rootAll = Object.values(root).flat();
  const chatAll = Object.values(chat).flat();
  const stray = rootAll.map((c) => collect(c, 'chat-only'));
  const got = chatAll.map((c) => collect(c, 'chat-only'));
  chat.B[0].emit('to', null, 'chat-only', 42);
  for (const g of got) await g.wait(1, WAIT);
  await barrier(NAMES.map((n) => chat[n][0]), chatAll);
  await barrier(NAMES.map((n) => root[n][0]), rootAll);
  for (const g of got) assert.deepEqual([...g], [[42]]);
  for (const s of stray) assert.deepEqual([...s], []);
});

test('fetch_sockets from any instance lists the sockets of all three (rooms, data, remote), except honoured; a remote socket can be emitted to', { skip }, async (t) => {
  const room = uniq('f');
  const excluded = uniq('x');
  const by = {};
  for (const name of NAMES) {
    by[name] = await connected(nodes[name], '/', { t, transports: [name === 'B' ? 'polling' : 'websocket'] });
    assert.deepEqual(await ask(by[name], 'join', room), [true]);
  }
  assert.deepEqual(await ask(by.B, 'join', excluded), [true]);
  for (const asker of NAMES) {
    const [list, err] = await ask(by[asker], 'fetch', { rooms: [room] });
    assert.equal(err, null, `asked on ${asker}`);
    const want = NAMES.map((n) => ({
      id: by[n].id, node: n, remote: n !== asker,
      rooms: (n === 'B' ? [by[n].id, room, excluded] : [by[n].id, room]).sort(),
    })).sort((x, y) => (x.id < y.id ? -1 : 1));
    assert.deepEqual(list, want, `asked on ${asker}`);
  }
  const [list, err] = await ask(by.C, 'fetch', { rooms: [room], except: [excluded] });
  assert.equal(err, null);
  assert.deepEqual(list.map((s) => s.node).sort(), ['A', 'C']);
  // RemoteSocket:emit from A to the socket on C.
  const heard = collect(by.C, 'direct');
  assert.deepEqual(await ask(by.A, 'remote-emit', by.C.id, 'direct', 'to you'), [true]);
  await heard.wait(1, WAIT);
  assert.deepEqual([...heard], [['to you']]);
});

test('all_rooms on any instance has the rooms of all three', { skip }, async (t) => {
  const by = {};
  const mine = {};
  for (const name of NAMES) {
    by[name] = await connected(nodes[name], '/', { t });
    mine[name] = uniq(`only-${name}`);
    assert.deepEqual(await ask(by[name], 'join', mine[name]), [true]);
  }
  for (const asker of NAMES) {
    const [rooms] = await ask(by[asker], 'all-rooms');
    for (const name of NAMES) {
      assert.ok(rooms.includes(mine[name]) && rooms.includes(by[name].id), `${asker} sees ${name}'s rooms: ${JSON.stringify(rooms)}`);
    }
  }
});

test('sockets_join and sockets_leave from one instance reach the matching sockets on all three, and only them', { skip }, async (t) => {
  const room = uniq('members');
  const joined = uniq('joined');
  const members = {};
  const others = {};
  for (const name of NAMES) {
    members[name] = await connected(nodes[name], '/', { t, transports: [name === 'C' ? 'polling' : 'websocket'] });
    others[name] = await connected(nodes[name], '/', { t });
    assert.deepEqual(await ask(members[name], 'join', room), [true]);
  }
  const roomsOf = async (c) => (await ask(c, 'my-rooms'))[0];
  assert.deepEqual(await ask(others.A, 'sockets-join', { rooms: [room] }, [joined]), [true]);
  for (const name of NAMES) {
    const ok = await until(async () => (await roomsOf(members[name])).includes(joined), { timeoutMs: WAIT, stepMs: 50 });
    assert.ok(ok, `the member on ${name} joined`);
  }
  // Leaving from B: every socket in `joined` leaves `room`.
  assert.deepEqual(await ask(others.B, 'sockets-leave', { rooms: [joined] }, [room]), [true]);
  for (const name of NAMES) {
    const ok = await until(async () => !(await roomsOf(members[name])).includes(room), { timeoutMs: WAIT, stepMs: 50 });
    assert.ok(ok, `the member on ${name} left`);
    assert.deepEqual(await roomsOf(members[name]), [members[name].id, joined].sort());
    assert.deepEqual(await roomsOf(others[name]), [others[name].id], `the other socket on ${name} is untouched`);
  }
  // And fetch_sockets agrees.
  const [list] = await ask(others.C, 'fetch', { rooms: [joined] });
  assert.deepEqual(list.map((s) => s.node).sort(), NAMES);
});

test('disconnect_sockets from one instance disconnects the matching sockets on all three, and only them', { skip }, async (t) => {
  const room = uniq('doomed');
  const doomed = {};
  const spared = {};
  for (const name of NAMES) {
    doomed[name] = await connected(nodes[name], '/', { t, transports: [name === 'A' ? 'polling' : 'websocket'] });
    spared[name] = await connected(nodes[name], '/', { t, transports: [name === 'A' ? 'websocket' : 'polling'] });
    assert.deepEqual(await ask(doomed[name], 'join', room), [true]);
  }
  const drops = [];
  for (const name of NAMES) spared[name].on('disconnect', (r) => drops.push(`${name}: ${r}`));
  const reasons = NAMES.map((n) => nextDisconnect(doomed[n], WAIT));
  assert.deepEqual(await ask(spared.B, 'disconnect-sockets', { rooms: [room] }, false), [true]);
  assert.deepEqual(await Promise.all(reasons), NAMES.map(() => 'io server disconnect'));
  for (const name of NAMES) assert.deepEqual(await ask(spared[name], 'whoami'), [name, spared[name].id]);
  assert.deepEqual(drops, []);
});

test('server_side_emit with acks gathers the answers of both other instances, from each instance and namespace', { skip }, async (t) => {
  for (const nsp of ['/', '/chat']) {
    for (const asker of NAMES) {
      const c = await connected(nodes[asker], nsp, { t });
      const [err, answers] = await ask(c, 'sse', `hi ${nsp}`);
      assert.equal(err, null, `${asker} ${nsp}`);
      assert.deepEqual(answers, NAMES.filter((n) => n !== asker).map((n) => `${n} heard hi ${nsp}`), `${asker} ${nsp}`);
    }
  }
  // Without an ack: the other two instances' listeners run.
  const by = {};
  for (const name of NAMES) by[name] = await connected(nodes[name], '/', { t });
  const heard = NAMES.map((n) => collect(by[n], 'heads-up'));
  assert.deepEqual(await ask(by.C, 'sse-no-ack', 'psst'), [true]);
  await heard[0].wait(1, WAIT);
  await heard[1].wait(1, WAIT);
  await barrier(NAMES.map((n) => by[n]), Object.values(by));
  assert.deepEqual([...heard[0]], [['A', 'psst']]);
  assert.deepEqual([...heard[1]], [['B', 'psst']]);
  assert.deepEqual([...heard[2]], [], 'not the emitting instance');
});

test('a broadcast with acks gathers the answers of clients on all three instances', { skip }, async (t) => {
  const room = uniq('poll');
  const by = await clientsEverywhere(t);
  const want = [];
  for (const name of NAMES) {
    for (const [i, c] of by[name].entries()) {
      const me = `${name}${i}`;
      want.push(`${me} q`);
      c.on('poll', (q, cb) => cb(`${me} ${q}`));
      assert.deepEqual(await ask(c, 'join', room), [true]);
    }
  }
  for (const asker of NAMES) {
    const [err, responses] = await ask(by[asker][0], 'poll', { rooms: [room] }, 'q', 5000);
    assert.equal(err, null, `asked on ${asker}`);
    assert.deepEqual(responses, want.sort(), `asked on ${asker}`);
  }
  // A client that doesn't answer: the others' answers and the timeout error.
  const silent = await connected(nodes.B, '/', { t });
  assert.deepEqual(await ask(silent, 'join', room), [true]);
  const [err, responses] = await ask(by.C[0], 'poll', { rooms: [room] }, 'q', 1000);
  assert.equal(err, 'operation has timed out');
  assert.deepEqual(responses, want.sort());
});
