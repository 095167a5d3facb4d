// apps/chat in a cluster: two siolua instances (A and B, each on its own
// port) of the unchanged app share one real redis-server through --redis.
// People on A and on B must not be able to tell they are on different
// servers: notices, room messages, /j, /who, /rooms, refused names, /msg
// to every tab of a person, disconnect notices, and on "/" the chat demo's
// numUsers and the tutorial's broadcast all span both instances.
//
// Negative checks ("X did not hear Y") use a barrier that crosses the same
// way: a later broadcast from the same instance through the same Redis
// connection arrives after anything that instance published before it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, waitConnect, collect, rawTexts, nextEvent, ask } from './lib/sio.mjs';
import { until, sleep } from './lib/server.mjs';
import { CHAT_DIR, assertCleanStop, tab, loggedIn } from './lib/chat.mjs';
import { SKIP, startCluster } from './lib/cluster.mjs';

const skip = SKIP;

function chatCluster(t) {
  return startCluster(t, { appDir: CHAT_DIR, namespaces: ['/', '/chat'] });
}

async function stopAll(...servers) {
  for (const s of servers) await assertCleanStop(s);
}

// `from` (a tab) says a unique line in its room; resolves once every tab in
// `to` has heard it. Since it leaves from the same instance as whatever
// `from`'s instance sent before, everything sent before has arrived too.
let seq = 0;
async function barrier(from, to) {
  const token = `sync-${++seq}`;
  const idx = to.map((c) => c.lines.length);
  const own = from.lines.length;
  from.say(token);
  await from.line(`You said: ${token}`, { from: own });
  for (const [i, c] of to.entries()) {
    const l = await c.line(new RegExp(` said: ${token}$`), { from: idx[i] });
    c.lines.splice(c.lines.indexOf(l, idx[i]), 1);
  }
  from.lines.splice(from.lines.indexOf(`You said: ${token}`), 1);
  for (const c of [from, ...to]) {
    const k = c.messages.findIndex((m) => m.text === token);
    if (k >= 0) c.messages.splice(k, 1);
  }
}

// ---------------------------------------------------------------------------
// /chat

test('cluster /chat: a login on A is announced to tabs on B and the other way round; messages in a room reach the other instance as "NAME said: TEXT" and `chat message`', { skip }, async (t) => {
  const { a, b } = await chatCluster(t);
  const bob = await loggedIn(b, t, 'bob');
  const alice = await loggedIn(a, t, 'alice');
  await bob.line('User alice logged in');
  assert.ok(rawTexts(bob.socket).includes('2/chat,["serverMessage","User alice logged in"]'), JSON.stringify(rawTexts(bob.socket)));
  const carol = await loggedIn(b, t, 'carol');
  await alice.line('User carol logged in');
  await bob.line('User carol logged in');

  alice.say('hello from A');
  await bob.line('alice said: hello from A');
  await carol.line('alice said: hello from A');
  const m = await bob.message((x) => x.text === 'hello from A');
  assert.equal(m.user, 'alice');
  assert.equal(m.room, 'lobby');
  assert.equal(typeof m.time, 'number');
  await alice.line('You said: hello from A');
  await alice.message((x) => x.text === 'hello from A');

  bob.say('hi from B');
  await alice.line('bob said: hi from B');
  const m2 = await alice.message((x) => x.text === 'hi from B');
  assert.deepEqual({ user: m2.user, room: m2.room }, { user: 'bob', room: 'lobby' });

  // Each line exactly once on the other instance (no echo back through Redis).
  await barrier(alice, [bob, carol]);
  await barrier(bob, [alice, carol]);
  assert.equal(bob.lines.filter((l) => l === 'alice said: hello from A').length, 1);
  assert.equal(bob.messages.filter((x) => x.text === 'hello from A').length, 1);
  assert.equal(alice.messages.filter((x) => x.text === 'hello from A').length, 1);
  assert.equal(alice.lines.filter((l) => l === 'User carol logged in').length, 1);
  assert.deepEqual(alice.lines.filter((l) => /said:/.test(l) && !/^You said/.test(l)), ['bob said: hi from B']);
  assert.ok(!bob.lines.includes('You said: hello from A'));
  await stopAll(a, b);
});

test('cluster /chat: a structured tab on B gets `chat message` from A but no plain "said" copy (except crosses instances)', { skip }, async (t) => {
  const { a, b } = await chatCluster(t);
  const page = await loggedIn(b, t, 'page', { structured: true });
  const plain = await loggedIn(b, t, 'plain');
  const alice = await loggedIn(a, t, 'alice');
  alice.say('structured?');
  await page.message((x) => x.text === 'structured?' && x.user === 'alice');
  await plain.line('alice said: structured?');
  await barrier(alice, [plain]);
  assert.ok(!page.lines.some((l) => /said:/.test(l)), JSON.stringify(page.lines));
  await stopAll(a, b);
});

test('cluster /chat: /j ROOM across instances: the new room\'s members on the other instance hear "joined", the old room\'s hear "left"; messages then stay in the room on both instances', { skip }, async (t) => {
  const { a, b } = await chatCluster(t);
  const carol = await loggedIn(b, t, 'carol', { room: 'dev' });
  const bob = await loggedIn(b, t, 'bob');
  const alice = await loggedIn(a, t, 'alice');
  const dan = await loggedIn(a, t, 'dan');

  const fromCarol = carol.lines.length;
  const fromBob = bob.lines.length;
  alice.say('/j dev');
  await alice.line('You joined room dev');
  await until(() => alice.state.room === 'dev');
  await carol.line('User alice joined this room', { from: fromCarol });
  await bob.line('User alice left this room', { from: fromBob });
  await dan.line('User alice left this room');

  // Carol (B) talks in dev: alice (A) hears it, bob (B, lobby) and dan (A, lobby) don't.
  carol.say('dev talk');
  await alice.line('carol said: dev talk');
  const m = await alice.message((x) => x.text === 'dev talk');
  assert.equal(m.room, 'dev');
  // Alice (A) talks in dev: carol (B) hears it, the lobby doesn't.
  alice.say('back at you');
  await carol.line('alice said: back at you');
  // Barriers from each instance into the lobby, then nothing from dev there.
  await barrier(dan, [bob]);
  await barrier(bob, [dan]);
  for (const c of [bob, dan]) {
    assert.ok(!c.lines.some((l) => /dev talk|back at you|joined this room/.test(l)), JSON.stringify(c.lines));
    assert.ok(!c.messages.some((x) => x.room === 'dev'), JSON.stringify(c.messages));
  }
  // The join event (not only /j) crosses too; carol leaving dev is heard on A.
  const fromAlice = alice.lines.length;
  carol.socket.emit('join', 'lobby');
  await alice.line('User carol left this room', { from: fromAlice });
  await dan.line('User carol joined this room');
  await stopAll(a, b);
});

test('cluster /chat: /who lists the users of my room on both instances (distinct, sorted); /rooms counts both', { skip }, async (t) => {
  const { a, b } = await chatCluster(t);
  const zed = await loggedIn(a, t, 'Zed');
  const bob = await loggedIn(b, t, 'bob');
  const amy = await loggedIn(a, t, 'amy');
  const key = amy.state.key;
  await loggedIn(b, t, 'amy', { key }); // a second tab of amy, on B
  await loggedIn(b, t, 'carol', { room: 'dev' });
  await loggedIn(a, t, 'dave', { room: 'dev' });

  for (const asker of [zed, bob]) {
    const from = asker.lines.length;
    asker.say('/who');
    assert.equal(await asker.line(/^Users in room /, { from }), 'Users in room lobby (3): amy, bob, Zed');
  }
  for (const asker of [amy, bob]) {
    const from = asker.lines.length;
    asker.say('/rooms');
    assert.equal(await asker.line(/^Rooms: /, { from }), 'Rooms: dev (2), lobby (3)');
  }
  // Someone on B leaves: A's /who no longer has them.
  bob.socket.disconnect();
  await zed.line('User bob disconnected');
  const from = zed.lines.length;
  zed.say('/who');
  assert.equal(await zed.line(/^Users in room /, { from }), 'Users in room lobby (2): amy, Zed');
  await stopAll(a, b);
});

test('cluster /chat: a name held on A is refused on B (any letter case, no key or a wrong key), then free once its tab on A is gone; its key lets a tab on B share it', { skip }, async (t) => {
  const { a, b } = await chatCluster(t);
  const alice = await loggedIn(a, t, 'alice');
  const other = await tab(b, t);
  for (const [name, key] of [['alice'], ['ALICE'], ['Alice', 'not-the-key']]) {
    const err = await other.login(name, key).then(() => null, (e) => e.chatError);
    assert.ok(err, `${name} (key ${key}) was accepted on B while alice is logged in on A`);
    assert.equal(err.code, 'name_taken');
    assert.equal(err.message, `Can't log in: the name ${name} is taken`);
  }
  assert.equal(other.prompts.length, 4, 'asked again after each refusal');
  // /nick to a name held on the other instance is refused too.
  const bob = await loggedIn(b, t, 'bob');
  const from = bob.errors.length;
  bob.say('/nick Alice');
  const e = await bob.error('name_taken', { from });
  assert.equal(e.message, "Can't rename: the name Alice is taken");
  // And the other way: a name held on B is refused on A.
  const onA = await tab(a, t);
  const err = await onA.login('BOB').then(() => null, (x) => x.chatError);
  assert.equal(err?.code, 'name_taken');
  // The key: a second tab of alice's browser, on B.
  const second = await tab(b, t);
  assert.deepEqual(await second.login('alice', alice.state.key), { user: 'alice', room: 'lobby', key: alice.state.key });
  // Once both of alice's tabs are gone (A and B), the name is free on B.
  alice.socket.disconnect();
  second.socket.disconnect();
  await bob.line('User alice disconnected');
  assert.ok(await until(() => bob.lines.filter((l) => l === 'User alice disconnected').length === 2), JSON.stringify(bob.lines));
  assert.equal((await other.login('alice')).user, 'alice');
  await stopAll(a, b);
});

// Both tabs emit `login` for one name at once. Two owners must never come
// out of it; both may be refused (each saw the other's claim), but then the
// name must be free again for the next login.
async function race(t, srvX, srvY, name) {
  const x = await tab(srvX, t);
  const y = await tab(srvY, t);
  const results = await Promise.all([x, y].map((c) => c.login(name).then(() => 'ok', (e) => e.chatError.code)));
  for (const r of results) assert.ok(r === 'ok' || r === 'name_taken', r);
  assert.ok(results.filter((r) => r === 'ok').length <= 1, `both tabs got the name ${name}: ${JSON.stringify(results)}`);
  let holder = results[0] === 'ok' ? x : y;
  if (!results.includes('ok')) {
    assert.equal((await x.login(name)).user, name, 'a name both were refused stays free');
    holder = x;
  }
  // Whoever holds it, the other is refused now.
  const loser = holder === x ? y : x;
  const err = await loser.login(name).then(() => null, (e) => e.chatError);
  assert.equal(err?.code, 'name_taken', `the second login of ${name} after the race`);
  x.socket.disconnect();
  y.socket.disconnect();
}

test('cluster /chat: two tabs logging in with the same name at the same moment, one on A and one on B: never both get it', { skip }, async (t) => {
  const { a, b } = await chatCluster(t);
  for (let round = 0; round < 15; round += 1) await race(t, a, b, `racer${round}`);
  await stopAll(a, b);
});

test('cluster /chat: two tabs of one instance logging in with the same name at the same moment: never both get it (fetch_sockets waits for the other instance)', { skip }, async (t) => {
  const { a, b } = await chatCluster(t);
  for (let round = 0; round < 15; round += 1) await race(t, a, a, `twin${round}`);
  await stopAll(a, b);
});

test('cluster /chat: two tabs renaming (/nick) to the same name at the same moment, on A and on B: never both get it', { skip }, async (t) => {
  const { a, b } = await chatCluster(t);
  for (let round = 0; round < 10; round += 1) {
    const x = await loggedIn(a, t, `x${round}`);
    const y = await loggedIn(b, t, `y${round}`);
    const name = `nick${round}`;
    const [sx, sy, ex, ey] = [x.states.length, y.states.length, x.errors.length, y.errors.length];
    x.say(`/nick ${name}`);
    y.say(`/nick ${name}`);
    const done = (c, s, e) => until(() => c.states.length > s || c.errors.length > e);
    assert.ok(await done(x, sx, ex) && await done(y, sy, ey), 'both renames answered');
    const got = [x, y].filter((c) => c.state.user === name);
    assert.ok(got.length <= 1, `both tabs renamed to ${name}`);
    for (const [c, e] of [[x, ex], [y, ey]]) {
      if (c.state.user !== name) assert.equal(c.errors.at(-1)?.code, 'name_taken', JSON.stringify(c.errors.slice(e)));
    }
    // /msg reaches the owner only (the loser kept its old name and user room).
    if (got.length === 1) {
      const [owner] = got;
      const loser = owner === x ? y : x;
      const from = owner.lines.length;
      loser.say(`/msg ${name} are you the one?`);
      await owner.line(`${loser.state.user} whispers: are you the one?`, { from });
    }
    x.socket.disconnect();
    y.socket.disconnect();
  }
  await stopAll(a, b);
});

test('cluster /chat: /msg NAME TEXT from A reaches both tabs of NAME (one on A, one on B) and the sender\'s own tab on B; nobody else hears it', { skip }, async (t) => {
  const { a, b } = await chatCluster(t);
  const aliceA = await loggedIn(a, t, 'alice');
  const aliceB = await loggedIn(b, t, 'alice', { key: aliceA.state.key, room: 'dev' });
  const carolA = await loggedIn(a, t, 'carol');
  const carolB = await loggedIn(b, t, 'carol', { key: carolA.state.key, structured: true });
  const eve = await loggedIn(b, t, 'eve');
  const eveA = await loggedIn(a, t, 'eva');

  carolA.say('/msg ALICE psst across');
  await carolA.line('You whisper to alice: psst across');
  for (const c of [aliceA, aliceB]) {
    await c.line('carol whispers: psst across');
    const m = await c.message((x) => x.private === true);
    assert.deepEqual({ user: m.user, to: m.to, text: m.text, private: m.private },
      { user: 'carol', to: 'alice', text: 'psst across', private: true });
  }
  // The sender's other tab (on B) gets the structured copy only.
  const mine = await carolB.message((x) => x.private === true);
  assert.equal(mine.text, 'psst across');
  // /msg from B to a user only on A.
  eve.say('/msg eva hi eva');
  await eveA.line('eve whispers: hi eva');
  await eve.line('You whisper to eva: hi eva');
  // Barriers (from each instance into the lobby) then: once each, nobody else.
  await barrier(carolA, [eve, eveA]);
  await barrier(eve, [carolA, eveA]);
  for (const c of [aliceA, aliceB]) {
    assert.equal(c.lines.filter((l) => l === 'carol whispers: psst across').length, 1, JSON.stringify(c.lines));
    assert.equal(c.messages.filter((x) => x.private).length, 1);
  }
  assert.ok(!carolB.lines.some((l) => /whisper/.test(l)), JSON.stringify(carolB.lines));
  assert.equal(carolB.messages.filter((x) => x.private).length, 1);
  assert.ok(!eve.lines.some((l) => /psst/.test(l)) && !eveA.lines.some((l) => /psst/.test(l)));
  assert.ok(!eve.messages.some((x) => x.text === 'psst across'));
  // A name nobody has on either instance.
  const from = carolA.errors.length;
  carolA.say('/msg nobody hello?');
  const e = await carolA.error('no_such_user', { from });
  assert.equal(e.message, 'No user named nobody is online');
  await stopAll(a, b);
});

test('cluster /chat: when a tab on B disconnects, its room on A hears "User NAME disconnected" (once); another room does not', { skip }, async (t) => {
  const { a, b } = await chatCluster(t);
  const alice = await loggedIn(a, t, 'alice');
  const dev = await loggedIn(a, t, 'devon', { room: 'dev' });
  const bob = await loggedIn(b, t, 'bob');
  await alice.line('User bob logged in');
  bob.socket.disconnect();
  await alice.line('User bob disconnected');
  // And the other way: alice (A) leaving is heard by carol on B.
  const carol = await loggedIn(b, t, 'carol');
  alice.socket.disconnect();
  await carol.line('User alice disconnected');
  const dave = await loggedIn(b, t, 'dave', { room: 'dev' });
  await barrier(dave, [dev]);
  assert.ok(!dev.lines.some((l) => /disconnected/.test(l)), JSON.stringify(dev.lines));
  assert.equal(alice.lines.filter((l) => l === 'User bob disconnected').length, 1);
  await stopAll(a, b);
});

// ---------------------------------------------------------------------------
// "/": the official chat demo and the 2024 tutorial

async function rootClient(srv, t) {
  const s = client(srv, '/', { t });
  await waitConnect(s);
  return s;
}

const DEMO_EVENTS = ['login', 'user joined', 'user left', 'new message', 'typing', 'stop typing'];
const record = (s) => Object.fromEntries(DEMO_EVENTS.map((e) => [e, collect(s, e)]));

test('cluster "/": the chat demo\'s numUsers counts both instances: two users on A and one on B make 3 for everyone; a user leaving lowers it everywhere', { skip }, async (t) => {
  const { a, b } = await chatCluster(t);
  const ann = await rootClient(a, t);
  const ben = await rootClient(b, t);
  const cat = await rootClient(a, t);
  const [ga, gb, gc] = [record(ann), record(ben), record(cat)];

  ann.emit('add user', 'ann');
  await ga.login.wait(1);
  assert.deepEqual(ga.login, [[{ numUsers: 1 }]]);
  ben.emit('add user', 'ben');
  await gb.login.wait(1);
  assert.deepEqual(gb.login, [[{ numUsers: 2 }]], 'ben on B counts ann on A');
  await ga['user joined'].wait(1);
  assert.deepEqual(ga['user joined'], [[{ username: 'ben', numUsers: 2 }]]);
  cat.emit('add user', 'cat');
  await gc.login.wait(1);
  assert.deepEqual(gc.login, [[{ numUsers: 3 }]]);
  await ga['user joined'].wait(2);
  await gb['user joined'].wait(1);
  assert.deepEqual(ga['user joined'][1], [{ username: 'cat', numUsers: 3 }]);
  assert.deepEqual(gb['user joined'], [[{ username: 'cat', numUsers: 3 }]]);
  const raw = rawTexts(ben).find((p) => p.startsWith('2["user joined",'));
  assert.deepEqual(JSON.parse(raw.slice(1)), ['user joined', { username: 'cat', numUsers: 3 }], raw);

  // new message / typing / stop typing cross, to the others only.
  ben.emit('new message', 'hi from B');
  await ga['new message'].wait(1);
  await gc['new message'].wait(1);
  assert.deepEqual(ga['new message'], [[{ username: 'ben', message: 'hi from B' }]]);
  cat.emit('typing');
  await gb.typing.wait(1);
  assert.deepEqual(gb.typing, [[{ username: 'cat' }]]);
  cat.emit('stop typing');
  await gb['stop typing'].wait(1);
  assert.deepEqual(gb['stop typing'], [[{ username: 'cat' }]]);

  // A user on A leaves: everyone, on both instances, hears numUsers 2.
  cat.disconnect();
  await ga['user left'].wait(1);
  await gb['user left'].wait(1);
  assert.deepEqual(ga['user left'], [[{ username: 'cat', numUsers: 2 }]]);
  assert.deepEqual(gb['user left'], [[{ username: 'cat', numUsers: 2 }]]);
  // The user on B leaves: ann on A hears numUsers 1.
  ben.disconnect();
  await ga['user left'].wait(2);
  assert.deepEqual(ga['user left'][1], [{ username: 'ben', numUsers: 1 }]);
  // A newcomer on B is the second user.
  const dee = await rootClient(b, t);
  const gd = record(dee);
  dee.emit('add user', 'dee');
  await gd.login.wait(1);
  assert.deepEqual(gd.login, [[{ numUsers: 2 }]]);
  await ga['user joined'].wait(3);
  assert.deepEqual(ga['user joined'][2], [{ username: 'dee', numUsers: 2 }]);

  // Nothing twice: a tutorial broadcast from A after everything is a barrier for dee and ann.
  const seen = [ann, dee].map((s) => nextEvent(s, 'chat message'));
  ann.emit('chat message', 'barrier');
  for (const p of seen) assert.deepEqual(await p, ['barrier']);
  assert.equal(ga['user joined'].length, 3);
  assert.equal(ga['user left'].length, 2);
  assert.deepEqual(ga.typing, [[{ username: 'cat' }]], 'ann (A, like cat) heard the typing once');
  assert.deepEqual(gc.typing, [], 'the typer does not hear itself');
  assert.deepEqual(gb['new message'], [], 'the sender does not get its own message');
  await stopAll(a, b);
});

test('cluster "/": the tutorial\'s `chat message` from A reaches every socket of "/" on A and B exactly once (sender included), not /chat; the ack is answered', { skip }, async (t) => {
  const { a, b } = await chatCluster(t);
  const x = await rootClient(a, t);
  const y = await rootClient(b, t);
  const z = await rootClient(b, t);
  const chatTab = await loggedIn(b, t, 'chatter');
  const got = [x, y, z].map((s) => collect(s, 'chat message'));
  x.emit('chat message', 'hello cluster');
  for (const g of got) await g.wait(1);
  assert.ok(rawTexts(y).includes('2["chat message","hello cluster"]'), JSON.stringify(rawTexts(y)));
  // From B, with the tutorial's offset argument and an ack.
  assert.deepEqual(await ask(z, 'chat message', 'from B', 'offset-1'), []);
  for (const g of got) await g.wait(2);
  // One more from A as a barrier, then every socket has each exactly once.
  x.emit('chat message', 'last');
  for (const g of got) await g.wait(3);
  for (const g of got) assert.deepEqual(g, [['hello cluster'], ['from B'], ['last']]);
  await chatTab.settle();
  assert.deepEqual(chatTab.messages, []);
  await stopAll(a, b);
});
