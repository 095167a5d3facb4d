// Rooms and broadcasting with the real socket.io-client against
// tests/apps/rooms: join/leave and socket.rooms, to/in_/except and their
// unions (each recipient once), socket.broadcast and socket:to (sender
// skipped), server-wide emit, volatile, fetch_sockets, sockets_join,
// sockets_leave and disconnect_sockets.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { until, sleep } from './lib/server.mjs';
import {
  startApp, connected, client, waitConnect, nextDisconnect, ask, collect, uniq, Manager,
  stopProblems,
} from './lib/sio.mjs';

let srv;
before(async () => { srv = await startApp('rooms'); });
after(async () => { await srv?.stop(); });

// n connected clients; each records the "msg" and "flush" events it gets.
async function group(t, n, opts = {}) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const s = await connected(srv, '/', { t, ...opts });
    out.push({ s, msgs: collect(s, 'msg'), flushes: collect(s, 'flush') });
  }
  return out;
}

// Has `sender` ask the app to emit "msg" payload through the operator the
// spec names, then waits until every watched client got the flush that
// follows (so it got every "msg" meant for it). Returns the payload.
async function send(sender, spec, watched) {
  const token = uniq('flush');
  const payload = uniq('payload');
  await ask(sender.s, 'send', spec, payload, token);
  for (const c of watched) {
    const ok = await until(() => c.flushes.some((f) => f[0] === token));
    assert.ok(ok, `client ${c.s.id} got no flush ${token}`);
  }
  return payload;
}

// How many copies of payload each client got.
const copies = (clients, payload) => clients.map((c) => c.msgs.filter((m) => m[0] === payload).length);

test('a new socket is in one room, its own id; join adds rooms (one or a list), leave removes one', async (t) => {
  const [a] = await group(t, 1);
  const id = a.s.id;
  const ra = uniq('a');
  const rb = uniq('b');
  const rc = uniq('c');
  assert.deepEqual(await ask(a.s, 'rooms'), [[id]]);
  assert.deepEqual(await ask(a.s, 'join', ra), [[id, ra].sort()]);
  assert.deepEqual(await ask(a.s, 'join', [rb, rc]), [[id, ra, rb, rc].sort()]);
  assert.deepEqual(await ask(a.s, 'join', ra), [[id, ra, rb, rc].sort()], 'joining twice changed the rooms');
  assert.deepEqual(await ask(a.s, 'leave', rb), [[id, ra, rc].sort()]);
  assert.deepEqual(await ask(a.s, 'leave', 'never-joined'), [[id, ra, rc].sort()]);
  assert.deepEqual(await ask(a.s, 'rooms'), [[id, ra, rc].sort()]);
});

test('to(room) reaches the members of the room, once each, and nobody else', async (t) => {
  const cs = await group(t, 3);
  const room = uniq('room');
  await ask(cs[0].s, 'join', room);
  await ask(cs[1].s, 'join', room);
  const p = await send(cs[2], { from: 'server', to: room }, cs);
  assert.deepEqual(copies(cs, p), [1, 1, 0]);
});

test('to({a, b}) reaches each member of a or b once: a socket in both rooms gets a single copy', async (t) => {
  const [inA, inB, inBoth, inNone] = await group(t, 4);
  const a = uniq('a');
  const b = uniq('b');
  await ask(inA.s, 'join', a);
  await ask(inB.s, 'join', b);
  await ask(inBoth.s, 'join', [a, b]);
  const all = [inA, inB, inBoth, inNone];
  const p = await send(inNone, { from: 'server', to: [a, b] }, all);
  assert.deepEqual(copies(all, p), [1, 1, 1, 0]);
});

test('chained to(a):in_(b) is the same union, each recipient once', async (t) => {
  const [inA, inB, inBoth, inNone] = await group(t, 4);
  const a = uniq('a');
  const b = uniq('b');
  await ask(inA.s, 'join', a);
  await ask(inB.s, 'join', b);
  await ask(inBoth.s, 'join', [a, b]);
  const all = [inA, inB, inBoth, inNone];
  const p = await send(inNone, { from: 'server', to: a, in_: b }, all);
  assert.deepEqual(copies(all, p), [1, 1, 1, 0]);
});

test('to(a):except(b) skips the members of b, even those also in a', async (t) => {
  const [onlyA, both, onlyB] = await group(t, 3);
  const a = uniq('a');
  const b = uniq('b');
  await ask(onlyA.s, 'join', a);
  await ask(both.s, 'join', [a, b]);
  await ask(onlyB.s, 'join', b);
  const all = [onlyA, both, onlyB];
  const p = await send(onlyB, { from: 'server', to: a, except: b }, all);
  assert.deepEqual(copies(all, p), [1, 0, 0]);
});

test('except(room) alone reaches every socket of the namespace but the room\'s members', async (t) => {
  const cs = await group(t, 3);
  const x = uniq('x');
  await ask(cs[1].s, 'join', x);
  const p = await send(cs[0], { from: 'server', except: x }, cs);
  assert.deepEqual(copies(cs, p), [1, 0, 1]);
});

test('socket.broadcast reaches every socket but the sender', async (t) => {
  const cs = await group(t, 3);
  const p = await send(cs[0], { from: 'broadcast' }, cs);
  assert.deepEqual(copies(cs, p), [0, 1, 1]);
});

test('socket.broadcast:to(room) reaches the room\'s members but not the sender', async (t) => {
  const cs = await group(t, 3);
  const room = uniq('room');
  for (const c of cs.slice(0, 2)) await ask(c.s, 'join', room);
  const p = await send(cs[0], { from: 'broadcast', to: room }, cs);
  assert.deepEqual(copies(cs, p), [0, 1, 0]);
});

test('socket:to(room) skips the sender even though the sender is in the room', async (t) => {
  const cs = await group(t, 3);
  const room = uniq('room');
  for (const c of cs) await ask(c.s, 'join', room);
  const p = await send(cs[1], { from: 'socket', to: room }, cs);
  assert.deepEqual(copies(cs, p), [1, 0, 1]);
});

test('server:emit reaches every socket of the namespace, the sender included', async (t) => {
  const cs = await group(t, 3);
  const p = await send(cs[0], { from: 'server' }, cs);
  assert.deepEqual(copies(cs, p), [1, 1, 1]);
});

test('to(socket.id) reaches that one socket through its own room', async (t) => {
  const cs = await group(t, 3);
  const p = await send(cs[0], { from: 'server', to: cs[2].s.id }, cs);
  assert.deepEqual(copies(cs, p), [0, 0, 1]);
});

// A socket's own-id room is kept apart from the real rooms (it costs the
// server no room): a real room of the same name, made by another socket
// joining that id, must still add up with it as Node's one Set would.
test('another socket that joins a socket\'s id shares its room: to(id) reaches both, except(id) skips both, leaving the id leaves only the joiner', async (t) => {
  const cs = await group(t, 3);
  const id = cs[1].s.id;
  assert.deepEqual(await ask(cs[0].s, 'join', id), [[cs[0].s.id, id].sort()]);
  let p = await send(cs[2], { from: 'server', to: id }, cs);
  assert.deepEqual(copies(cs, p), [1, 1, 0]);
  p = await send(cs[2], { from: 'server', except: id }, cs);
  assert.deepEqual(copies(cs, p), [0, 0, 1]);
  // The owner leaves its own id: the joiner still gets what goes to it.
  assert.deepEqual(await ask(cs[1].s, 'leave', id), [[]]);
  p = await send(cs[2], { from: 'server', to: id }, cs);
  assert.deepEqual(copies(cs, p), [1, 0, 0]);
  // And joins it again; the joiner leaves: the owner alone.
  assert.deepEqual(await ask(cs[1].s, 'join', id), [[id]]);
  assert.deepEqual(await ask(cs[0].s, 'leave', id), [[cs[0].s.id]]);
  p = await send(cs[2], { from: 'server', to: id }, cs);
  assert.deepEqual(copies(cs, p), [0, 1, 0]);
});

test('after leave(room), to(room) no longer reaches the socket', async (t) => {
  const cs = await group(t, 2);
  const room = uniq('room');
  await ask(cs[0].s, 'join', room);
  await ask(cs[1].s, 'join', room);
  await ask(cs[1].s, 'leave', room);
  const p = await send(cs[0], { from: 'server', to: room }, cs);
  assert.deepEqual(copies(cs, p), [1, 0]);
});

test('a volatile emit to a room reaches a healthy client, websocket and polling (with its GET parked)', async (t) => {
  const [ws] = await group(t, 1, { transports: ['websocket'] });
  const [poll] = await group(t, 1, { transports: ['polling'] });
  const room = uniq('v');
  await ask(ws.s, 'join', room);
  await ask(poll.s, 'join', room);
  // A polling client can take a packet only while a GET is parked, and it
  // sends the next GET right after an answer: give it time to do so.
  await sleep(100);
  const p = await send(ws, { from: 'server', to: room, volatile: true }, [ws, poll]);
  assert.deepEqual(copies([ws, poll], p), [1, 1]);
});

test('fetch_sockets returns the selected sockets with their ids, rooms and data', async (t) => {
  const cs = await group(t, 3);
  const room = uniq('f');
  const other = uniq('o');
  await ask(cs[0].s, 'join', room);
  await ask(cs[1].s, 'join', [room, other]);
  await ask(cs[0].s, 'set-data', { name: 'zero', n: 0 });
  await ask(cs[1].s, 'set-data', { name: 'one', tags: ['t1'] });
  const [found] = await ask(cs[2].s, 'fetch', { from: 'server', in_: room });
  const expected = [
    { id: cs[0].s.id, rooms: [cs[0].s.id, room].sort(), data: { name: 'zero', n: 0 } },
    { id: cs[1].s.id, rooms: [cs[1].s.id, room, other].sort(), data: { name: 'one', tags: ['t1'] } },
  ].sort((x, y) => (x.id < y.id ? -1 : 1));
  assert.deepEqual(found, expected);
  const [none] = await ask(cs[2].s, 'fetch', { from: 'server', in_: uniq('nobody') });
  assert.deepEqual(none, []);
  const [minus] = await ask(cs[2].s, 'fetch', { from: 'server', in_: room, except: other });
  assert.deepEqual(minus.map((s) => s.id), [cs[0].s.id]);
});

test('sockets_join makes the selected sockets join, and a broadcast to the new room reaches them', async (t) => {
  const cs = await group(t, 3);
  const room = uniq('src');
  const target = uniq('dst');
  await ask(cs[0].s, 'join', room);
  await ask(cs[1].s, 'join', room);
  await ask(cs[2].s, 'sockets-join', { from: 'server', in_: room }, target);
  assert.deepEqual(await ask(cs[0].s, 'rooms'), [[cs[0].s.id, room, target].sort()]);
  assert.deepEqual(await ask(cs[1].s, 'rooms'), [[cs[1].s.id, room, target].sort()]);
  assert.deepEqual(await ask(cs[2].s, 'rooms'), [[cs[2].s.id]]);
  const p = await send(cs[2], { from: 'server', to: target }, cs);
  assert.deepEqual(copies(cs, p), [1, 1, 0]);
});

test('sockets_leave makes the selected sockets leave the rooms', async (t) => {
  const cs = await group(t, 2);
  const room = uniq('sel');
  const drop = uniq('drop');
  const keep = uniq('keep');
  await ask(cs[0].s, 'join', [room, drop, keep]);
  await ask(cs[1].s, 'join', [drop, keep]);
  await ask(cs[1].s, 'sockets-leave', { from: 'server', in_: room }, [drop]);
  assert.deepEqual(await ask(cs[0].s, 'rooms'), [[cs[0].s.id, room, keep].sort()]);
  assert.deepEqual(await ask(cs[1].s, 'rooms'), [[cs[1].s.id, drop, keep].sort()]);
});

// A client with a "/" socket and a "/side" socket on one Manager.
async function twoNamespaces(t) {
  const m = new Manager(srv.url, { forceNew: true, transports: ['websocket'], reconnection: false });
  const main = m.socket('/');
  const side = m.socket('/side');
  t.after(() => { main.disconnect(); side.disconnect(); m.disconnect(); });
  await waitConnect(main);
  await waitConnect(side);
  return { m, main, side };
}

test('disconnect_sockets(false) disconnects the selected sockets from "/" only ("io server disconnect"); their other namespace stays connected', async (t) => {
  const { main, side } = await twoNamespaces(t);
  const [bystander] = await group(t, 1);
  const room = uniq('kick');
  await ask(main, 'join', room);
  const dc = nextDisconnect(main);
  await ask(bystander.s, 'disconnect-sockets', { from: 'server', in_: room }, false);
  assert.equal(await dc, 'io server disconnect');
  assert.deepEqual(await ask(side, 'ping-side'), ['pong']);
  assert.equal(side.connected, true);
  assert.equal(bystander.s.connected, true);
  assert.deepEqual(await ask(bystander.s, 'rooms'), [[bystander.s.id]]);
});

test('disconnect_sockets(true) closes the selected clients\' whole connection: their other namespace is disconnected too', async (t) => {
  const { main, side } = await twoNamespaces(t);
  const [bystander] = await group(t, 1);
  const room = uniq('close');
  await ask(main, 'join', room);
  const dcMain = nextDisconnect(main);
  const dcSide = nextDisconnect(side);
  await ask(bystander.s, 'disconnect-sockets', { from: 'server', in_: room }, true);
  assert.equal(await dcMain, 'io server disconnect');
  assert.ok(['io server disconnect', 'transport close'].includes(await dcSide));
  assert.equal(bystander.s.connected, true);
  assert.deepEqual(await ask(bystander.s, 'rooms'), [[bystander.s.id]]);
});

test('"disconnecting" still sees the socket\'s rooms; once it is gone its rooms reach nobody and fetch_sockets no longer lists it', async (t) => {
  const [obs, leaver, stayer] = await group(t, 3);
  await ask(obs.s, 'join', 'observers');
  const seen = collect(obs.s, 'leaving'); // sent from Lua's "disconnecting" handler
  const room = uniq('gone');
  await ask(leaver.s, 'join', room);
  await ask(stayer.s, 'join', room);
  const leaverId = leaver.s.id;
  leaver.s.disconnect();
  const ok = await until(() => seen.find((d) => d[0] === leaverId));
  assert.ok(ok, `no "leaving" (from "disconnecting") for ${leaverId}: ${JSON.stringify(seen)}`);
  assert.deepEqual(ok[1], [leaverId, room].sort());
  assert.equal(ok[2], 'client namespace disconnect');
  const [found] = await ask(obs.s, 'fetch', { from: 'server', in_: room });
  assert.deepEqual(found.map((s) => s.id), [stayer.s.id]);
  const [byId] = await ask(obs.s, 'fetch', { from: 'server', in_: leaverId });
  assert.deepEqual(byId, []);
});

test('a client on polling and one on websocket in the same room both get a room broadcast', async (t) => {
  const room = uniq('mixed');
  const p1 = { s: client(srv, '/', { t, transports: ['polling'] }) };
  const w1 = { s: client(srv, '/', { t, transports: ['websocket'] }) };
  for (const c of [p1, w1]) {
    c.msgs = collect(c.s, 'msg');
    c.flushes = collect(c.s, 'flush');
    await waitConnect(c.s);
    await ask(c.s, 'join', room);
  }
  const p = await send(p1, { from: 'server', to: room }, [p1, w1]);
  assert.deepEqual(copies([p1, w1], p), [1, 1]);
});

// Last: a crash or a sanitizer report anywhere in the run shows up here.
test('the server exits 0 on SIGTERM after the run, with no crash or sanitizer report', async () => {
  assert.deepEqual(await stopProblems(srv), []);
});
