// apps/chat with the real socket.io-client: the book chapter's protocol in
// /chat (login, clientMessage, join; serverMessage and the structured
// events), every command, and on "/" the 2024 tutorial's broadcast and the
// official socket.io chat demo's protocol. Each test runs its own server
// and ends by checking it stops cleanly with no error in its log.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { client, waitConnect, collect, rawTexts, nextEvent, ask } from './lib/sio.mjs';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { until, sleep, makeTempDir } from './lib/server.mjs';
import { startChat, assertCleanStop, tab, loggedIn, CHAT_DIR } from './lib/chat.mjs';

const has = (list, x) => list.includes(x);

// ---------------------------------------------------------------------------
// /chat: logging in

test('/chat: the server asks with `login` on connect; login NAME gets "Currently logged in as NAME" and puts the tab in lobby, and the others hear "User NAME logged in"', async (t) => {
  const srv = await startChat(t);
  const bob = await loggedIn(srv, t, 'bob');
  const alice = await tab(srv, t);
  assert.deepEqual(alice.prompts, [[]], 'login comes with no arguments');
  assert.ok(rawTexts(alice.socket).includes('2/chat,["login"]'), JSON.stringify(rawTexts(alice.socket)));

  const state = await alice.login('alice');
  assert.equal(state.user, 'alice');
  assert.equal(state.room, 'lobby');
  assert.equal(typeof state.key, 'string');
  assert.ok(state.key.length >= 16, `key ${state.key}`);
  assert.deepEqual(alice.lines, ['Currently logged in as alice', 'You joined room lobby']);
  assert.ok(rawTexts(alice.socket).includes('2/chat,["serverMessage","Currently logged in as alice"]'));
  await bob.line('User alice logged in');
  assert.ok(rawTexts(bob.socket).includes('2/chat,["serverMessage","User alice logged in"]'));
  await bob.settle();
  assert.deepEqual(bob.lines.filter((l) => /alice/.test(l)), ['User alice logged in'], 'one notice per login');
  assert.deepEqual(alice.errors, []);
  await assertCleanStop(srv);
});

test('/chat: empty, blank, spaced, over-long, "/"-prefixed and non-text names are refused with a serverMessage and `chat error` invalid_name, then asked again; nobody hears of them', async (t) => {
  const srv = await startChat(t);
  const bob = await loggedIn(srv, t, 'bob');
  const c = await tab(srv, t);
  const bad = ['', '   ', 'two words', 'x'.repeat(25), '/slash', '#hash', 42, null, { name: 'x' }];
  for (const [i, name] of bad.entries()) {
    const err = await c.login(name).then(() => null, (e) => e.chatError);
    assert.ok(err, `${JSON.stringify(name)} was accepted`);
    assert.equal(err.code, 'invalid_name', JSON.stringify(name));
    assert.match(err.message, /^Can't log in: /);
    assert.equal(c.lines.at(-1), err.message, 'the refusal is a serverMessage too');
    await c.prompts.wait(i + 2);
  }
  assert.deepEqual(c.lines.map((l) => l.replace(/: .*/, '')), bad.map(() => "Can't log in"));
  assert.equal(c.lines[0], "Can't log in: a name can't be empty");
  assert.equal(c.lines[2], "Can't log in: a name can't contain spaces");
  assert.equal(c.states.length, 0);
  // A good name still works afterwards, and is the only one bob hears of.
  await c.login('carol');
  await bob.settle();
  assert.deepEqual(bob.lines.filter((l) => /logged in/.test(l)), ['Currently logged in as bob', 'User carol logged in']);
  await assertCleanStop(srv);
});

test('/chat: a name in use is refused as name_taken, in any letter case, with no key or a wrong key; the key from `chat state` lets a second tab share it', async (t) => {
  const srv = await startChat(t);
  const alice = await loggedIn(srv, t, 'Alice');
  const other = await tab(srv, t);
  for (const [name, key] of [['Alice'], ['alice'], ['ALICE'], ['alice', 'not-the-key'], ['alice', '']]) {
    const err = await other.login(name, key).then(() => null, (e) => e.chatError);
    assert.ok(err, `${name} with key ${key} was accepted`);
    assert.equal(err.code, 'name_taken');
    assert.equal(err.message, `Can't log in: the name ${name} is taken`);
  }
  assert.equal(other.prompts.length, 6, 'asked again after each refusal');
  const second = await tab(srv, t);
  const state = await second.login('Alice', alice.state.key);
  assert.deepEqual(state, { user: 'Alice', room: 'lobby', key: alice.state.key });
  // Once every tab of Alice has gone, the name is free again.
  alice.socket.disconnect();
  second.socket.disconnect();
  await until(async () => {
    const n = other.errors.length;
    const ok = await other.login('alice').then(() => true, () => false);
    if (!ok) assert.equal(other.errors.length, n + 1);
    return ok;
  });
  assert.equal(other.state.user, 'alice');
  await assertCleanStop(srv);
});

test('/chat: clientMessage and join before login are refused with not_logged_in', async (t) => {
  const srv = await startChat(t);
  const bob = await loggedIn(srv, t, 'bob');
  const c = await tab(srv, t);
  c.say('hello?');
  assert.equal((await c.error('not_logged_in')).message, 'Log in first: send login with your name');
  c.socket.emit('join', 'dev');
  await until(() => c.errors.length === 2);
  assert.equal(c.errors[1].code, 'not_logged_in');
  assert.deepEqual(c.lines, ['Log in first: send login with your name', 'Log in first: send login with your name']);
  await bob.settle();
  assert.deepEqual(bob.messages, []);
  assert.ok(!bob.lines.some((l) => /said/.test(l)), JSON.stringify(bob.lines));
  await assertCleanStop(srv);
});

// ---------------------------------------------------------------------------
// /chat: talking

test('/chat: clientMessage TEXT echoes "You said: TEXT" to the sender, "NAME said: TEXT" to the rest of its room, and `chat message` {user, room, text, time} to the whole room; other rooms hear nothing', async (t) => {
  const srv = await startChat(t);
  const alice = await loggedIn(srv, t, 'alice');
  const bob = await loggedIn(srv, t, 'bob');
  const carol = await loggedIn(srv, t, 'carol', { room: 'elsewhere' });
  const before = Date.now();
  alice.say('hello there, <b>bob</b> é ✓');
  const text = 'hello there, <b>bob</b> é ✓';
  await alice.line(`You said: ${text}`);
  await bob.line(`alice said: ${text}`);
  assert.ok(rawTexts(bob.socket).includes(`2/chat,["serverMessage","alice said: ${text}"]`));
  for (const c of [alice, bob]) {
    const m = await c.message((x) => x.text === text);
    assert.deepEqual(Object.keys(m).sort(), ['room', 'text', 'time', 'user']);
    assert.equal(m.user, 'alice');
    assert.equal(m.room, 'lobby');
    assert.ok(Number.isInteger(m.time) && m.time >= before - 1500 && m.time <= Date.now() + 1000, `time ${m.time}`);
  }
  assert.ok(!alice.lines.includes(`alice said: ${text}`), 'the sender gets "You said", not "alice said"');
  assert.ok(!bob.lines.includes(`You said: ${text}`));
  await carol.settle();
  assert.deepEqual(carol.messages, []);
  assert.ok(!carol.lines.some((l) => l.includes(text)), JSON.stringify(carol.lines));
  // Blank lines are not sent on.
  alice.say('   ');
  alice.say('after');
  await bob.line('alice said: after');
  assert.equal(bob.messages.length, 2);
  await assertCleanStop(srv);
});

test('/chat: a tab connecting with auth.structured gets `chat message` but not the plain "said" copies; plain tabs in the room still get them', async (t) => {
  const srv = await startChat(t);
  const page = await loggedIn(srv, t, 'page', { structured: true });
  const plain = await loggedIn(srv, t, 'plain');
  page.say('from the page');
  await plain.line('page said: from the page');
  await page.message((m) => m.text === 'from the page');
  plain.say('from plain');
  await page.message((m) => m.text === 'from plain' && m.user === 'plain');
  await plain.line('You said: from plain');
  await page.settle();
  assert.ok(!page.lines.some((l) => /said:/.test(l)), JSON.stringify(page.lines));
  await assertCleanStop(srv);
});

test('/chat: a message over 2000 characters is refused as too_long; exactly 2000 goes through', async (t) => {
  const srv = await startChat(t);
  const a = await loggedIn(srv, t, 'a');
  a.say('é'.repeat(2001));
  assert.equal((await a.error('too_long')).message, 'Messages are at most 2000 characters');
  a.say('é'.repeat(2000));
  await a.message((m) => m.text.length === 2000);
  await assertCleanStop(srv);
});

// ---------------------------------------------------------------------------
// /chat: commands

test('/chat: /j ROOM leaves the old room ("User NAME left this room"), joins ROOM ("You joined room ROOM"; its members hear "User NAME joined this room"), and messages then stay in ROOM', async (t) => {
  const srv = await startChat(t);
  const alice = await loggedIn(srv, t, 'alice');
  const lobby = await loggedIn(srv, t, 'lobbyist');
  const dev = await loggedIn(srv, t, 'dev1', { room: 'dev' });

  const from = alice.lines.length;
  alice.say('/j #Dev');
  await alice.line('You joined room dev', { from });
  await until(() => alice.state.room === 'dev');
  await lobby.line('User alice left this room');
  await dev.line('User alice joined this room');
  assert.ok(!dev.lines.includes('User alice left this room'));
  assert.ok(!lobby.lines.includes('User alice joined this room'));

  alice.say('in dev now');
  await dev.line('alice said: in dev now');
  await lobby.settle();
  assert.ok(!lobby.lines.some((l) => l.includes('in dev now')));
  assert.ok(!lobby.messages.some((m) => m.text === 'in dev now'));

  // The `join` event does the same; joining the room you are in, or no room, is answered.
  alice.socket.emit('join', 'lobby');
  await lobby.line('User alice joined this room');
  await dev.line('User alice left this room');
  const f2 = alice.lines.length;
  alice.say('/j lobby');
  await alice.line('You are already in room lobby', { from: f2 });
  alice.say('/j');
  assert.equal((await alice.error('usage')).message, 'Usage: /j ROOM');
  alice.socket.emit('join', '  ');
  assert.equal((await alice.error('invalid_room')).message, "Can't join: a room name can't be empty");
  await assertCleanStop(srv);
});

test('/chat: /nick NAME renames the tab ("You are now known as NAME"; the room hears "User OLD is now known as NEW"); a taken name is refused; /msg then reaches the new name only', async (t) => {
  const srv = await startChat(t);
  const alice = await loggedIn(srv, t, 'alice');
  const bob = await loggedIn(srv, t, 'bob');
  alice.say('/nick ada');
  await alice.line('You are now known as ada');
  await until(() => alice.state.user === 'ada');
  await bob.line('User alice is now known as ada');
  alice.say('/nick bob');
  const err = await alice.error('name_taken');
  assert.equal(err.message, "Can't rename: the name bob is taken");
  assert.equal(alice.state.user, 'ada');
  bob.say('/msg alice are you there?');
  assert.equal((await bob.error('no_such_user')).message, 'No user named alice is online');
  bob.say('/msg ada hi ada');
  await alice.line('bob whispers: hi ada');
  alice.say('hi all');
  await bob.message((m) => m.user === 'ada' && m.text === 'hi all');
  alice.say('/nick');
  assert.equal((await alice.error('usage')).message, 'Usage: /nick NAME');
  // Changing only the case of your own name is allowed.
  alice.say('/nick Ada');
  await alice.line('You are now known as Ada');
  await assertCleanStop(srv);
});

test('/chat: /who lists the distinct users of my room, sorted; /rooms lists every room with its number of users', async (t) => {
  const srv = await startChat(t);
  const zed = await loggedIn(srv, t, 'zed');
  const amy = await loggedIn(srv, t, 'Amy');
  const amy2 = await loggedIn(srv, t, 'Amy', { key: amy.state.key });
  const bo = await loggedIn(srv, t, 'bo', { room: 'dev' });
  await loggedIn(srv, t, 'cy', { room: 'dev' });
  await loggedIn(srv, t, 'di', { room: 'ops' });
  const from = zed.lines.length;
  zed.say('/who');
  assert.equal(await zed.line(/^Users in room/, { from }), 'Users in room lobby (2): Amy, zed');
  bo.say('/who');
  assert.equal(await bo.line(/^Users in room/), 'Users in room dev (2): bo, cy');
  amy2.say('/rooms');
  assert.equal(await amy2.line(/^Rooms:/), 'Rooms: dev (2), lobby (2), ops (1)');
  await assertCleanStop(srv);
});

test('/chat: /msg NAME TEXT reaches every tab of NAME, whatever their room ("SENDER whispers: TEXT" and a private `chat message`); the sender gets "You whisper to NAME: TEXT"; nobody else hears it', async (t) => {
  const srv = await startChat(t);
  const alice = await loggedIn(srv, t, 'alice');
  const bob1 = await loggedIn(srv, t, 'Bob');
  const bob2 = await loggedIn(srv, t, 'Bob', { key: bob1.state.key, room: 'kitchen' });
  const bob3 = await loggedIn(srv, t, 'Bob', { key: bob1.state.key, structured: true });
  const carol = await loggedIn(srv, t, 'carol');
  const before = Date.now();
  alice.say('/msg bob psst, a secret');
  await alice.line('You whisper to Bob: psst, a secret');
  for (const b of [bob1, bob2]) await b.line('alice whispers: psst, a secret');
  for (const c of [bob1, bob2, bob3, alice]) {
    const m = await c.message((x) => x.private === true);
    assert.deepEqual(Object.keys(m).sort(), ['private', 'text', 'time', 'to', 'user']);
    assert.equal(m.user, 'alice');
    assert.equal(m.to, 'Bob');
    assert.equal(m.text, 'psst, a secret');
    assert.ok(m.time >= before - 1500 && m.time <= Date.now() + 1000);
  }
  await bob3.settle();
  assert.ok(!bob3.lines.some((l) => /whispers/.test(l)), 'a structured tab gets no plain copy');
  await carol.settle();
  assert.ok(!carol.lines.some((l) => l.includes('secret')), JSON.stringify(carol.lines));
  assert.deepEqual(carol.messages, []);
  alice.say('/msg nobody hello');
  assert.equal((await alice.error('no_such_user')).message, 'No user named nobody is online');
  alice.say('/msg bob');
  assert.equal((await alice.error('usage')).message, 'Usage: /msg NAME TEXT');
  await assertCleanStop(srv);
});

test('/chat: an unknown command gets a help line listing every command; /help lists each with what it does; "/" alone is unknown', async (t) => {
  const srv = await startChat(t);
  const a = await loggedIn(srv, t, 'a');
  const bob = await loggedIn(srv, t, 'bob');
  const summary = 'Commands: /j ROOM, /nick NAME, /who, /rooms, /msg NAME TEXT, /help';
  a.say('/dance wildly');
  const err = await a.error('unknown_command');
  assert.equal(err.message, `Unknown command /dance. ${summary}`);
  assert.equal(a.lines.at(-1), err.message);
  a.say('/');
  await a.line(`Unknown command /. ${summary}`);
  const from = a.lines.length;
  a.say('/HELP');
  await a.line(/^\/help — /, { from });
  assert.deepEqual(a.lines.slice(from), [
    summary,
    '/j ROOM — join ROOM, leaving the current one',
    '/nick NAME — change your name',
    '/who — who is in this room',
    '/rooms — the rooms with people in them',
    '/msg NAME TEXT — a private message to every tab of NAME',
    '/help — this list',
  ]);
  await bob.settle();
  assert.ok(!bob.lines.some((l) => /dance|Commands/.test(l)), 'commands are not said to the room');
  assert.deepEqual(bob.messages, []);
  await assertCleanStop(srv);
});

test('/chat: when a tab disconnects its room hears "User NAME disconnected"; other rooms do not', async (t) => {
  const srv = await startChat(t);
  const alice = await loggedIn(srv, t, 'alice', { room: 'dev' });
  const dev = await loggedIn(srv, t, 'devvy', { room: 'dev' });
  const lobby = await loggedIn(srv, t, 'lobbyist');
  alice.socket.disconnect();
  await dev.line('User alice disconnected');
  await lobby.settle();
  assert.ok(!lobby.lines.includes('User alice disconnected'));
  // A tab that never logged in leaves silently.
  const anon = await tab(srv, t);
  anon.socket.disconnect();
  await sleep(50);
  await dev.settle();
  assert.equal(dev.lines.filter((l) => /disconnected/.test(l)).length, 1);
  await assertCleanStop(srv);
});

test('/chat: works over long-polling too', async (t) => {
  const srv = await startChat(t);
  const a = await loggedIn(srv, t, 'poller', { transports: ['polling'] });
  const b = await loggedIn(srv, t, 'wsuser');
  a.say('over polling');
  await b.line('poller said: over polling');
  b.say('/msg poller back');
  await a.line('wsuser whispers: back');
  assert.equal(a.socket.io.engine.transport.name, 'polling');
  await assertCleanStop(srv);
});

test('/chat: a hot reload (an edited module) rebinds logged-in tabs to the new code without asking them to log in again', async (t) => {
  // A copy, so editing it disturbs nothing else.
  const dir = makeTempDir('siolua-chat-');
  cpSync(CHAT_DIR, dir, { recursive: true });
  const srv = await startChat(t, { appDir: dir });
  const alice = await loggedIn(srv, t, 'alice', { room: 'den' });
  const bob = await loggedIn(srv, t, 'bob', { room: 'den' });
  const page = await loggedIn(srv, t, 'page', { structured: true, room: 'den' });
  const file = join(dir, 'chat', 'actions.lua');
  writeFileSync(file, readFileSync(file, 'utf8').replace('"You said: "', '"You wrote: "'));
  assert.ok(await until(() => /reloaded/.test(srv.stderr()), { timeoutMs: 5000 }), srv.stderr());
  alice.say('after the reload');
  await alice.line('You wrote: after the reload');
  await bob.line('alice said: after the reload');
  await page.message((m) => m.text === 'after the reload');
  await page.settle();
  assert.ok(!page.lines.some((l) => /said:/.test(l)), 'still structured');
  for (const c of [alice, bob, page]) assert.equal(c.prompts.length, 1, 'no second login prompt');
  bob.say('/who');
  await bob.line('Users in room den (3): alice, bob, page');
  await assertCleanStop(srv);
});

// ---------------------------------------------------------------------------
// "/": the 2024 tutorial and the official chat demo

async function rootClient(srv, t) {
  const s = client(srv, '/', { t });
  await waitConnect(s);
  return s;
}

test('"/": the tutorial\'s `chat message` TEXT goes to every socket of "/", the sender included, and not to /chat; an ack is answered', async (t) => {
  const srv = await startChat(t);
  const a = await rootClient(srv, t);
  const b = await rootClient(srv, t);
  const chatTab = await loggedIn(srv, t, 'chatter');
  const gotA = collect(a, 'chat message');
  const gotB = collect(b, 'chat message');
  a.emit('chat message', 'hello tutorial');
  await gotA.wait(1);
  await gotB.wait(1);
  assert.deepEqual(gotA, [['hello tutorial']]);
  assert.deepEqual(gotB, [['hello tutorial']]);
  assert.ok(rawTexts(b).includes('2["chat message","hello tutorial"]'), JSON.stringify(rawTexts(b)));
  // The tutorial's last step sends a client offset and wants an ack.
  assert.deepEqual(await ask(a, 'chat message', 'with ack', 'offset-1'), []);
  await gotB.wait(2);
  assert.deepEqual(gotB[1], ['with ack']);
  await chatTab.settle();
  assert.deepEqual(chatTab.messages, []);
  await assertCleanStop(srv);
});

test('"/": the socket.io chat demo protocol: add user, new message, typing, stop typing and user left, with numUsers counted from the room of logged-in users', async (t) => {
  const srv = await startChat(t);
  const a = await rootClient(srv, t);
  const b = await rootClient(srv, t);
  const lurker = await rootClient(srv, t); // never adds a user
  const events = ['login', 'user joined', 'user left', 'new message', 'typing', 'stop typing'];
  const got = (s) => Object.fromEntries(events.map((e) => [e, collect(s, e)]));
  const [ga, gb, gl] = [got(a), got(b), got(lurker)];
  // The tutorial broadcast reaches everyone, after anything sent before it: a barrier.
  let n = 0;
  const barrier = async (sockets) => {
    const token = `barrier-${++n}`;
    const seen = sockets.map((s) => nextEvent(s, 'chat message'));
    sockets[0].emit('chat message', token);
    for (const p of seen) assert.deepEqual(await p, [token]);
  };

  a.emit('new message', 'before logging in');
  a.emit('add user', 'ann');
  await ga.login.wait(1);
  assert.deepEqual(ga.login, [[{ numUsers: 1 }]]);
  assert.ok(rawTexts(a).includes('2["login",{"numUsers":1}]'), JSON.stringify(rawTexts(a)));
  b.emit('add user', 'ben');
  await gb.login.wait(1);
  assert.deepEqual(gb.login, [[{ numUsers: 2 }]]);
  await ga['user joined'].wait(1);
  assert.deepEqual(ga['user joined'], [[{ username: 'ben', numUsers: 2 }]]);
  const raw = rawTexts(a).find((p) => p.startsWith('2["user joined",'));
  assert.deepEqual(JSON.parse(raw.slice(1)), ['user joined', { username: 'ben', numUsers: 2 }], raw);

  b.emit('add user', 'ben again'); // ignored, as in the demo
  b.emit('new message', 'hi ann');
  await ga['new message'].wait(1);
  assert.deepEqual(ga['new message'], [[{ username: 'ben', message: 'hi ann' }]]);
  a.emit('typing');
  await gb.typing.wait(1);
  assert.deepEqual(gb.typing, [[{ username: 'ann' }]]);
  a.emit('stop typing');
  await gb['stop typing'].wait(1);
  assert.deepEqual(gb['stop typing'], [[{ username: 'ann' }]]);

  await barrier([a, b, lurker]);
  assert.equal(ga['user joined'].length, 1, 'a second add user is ignored');
  assert.equal(gb.login.length, 1);
  assert.deepEqual(gb['new message'], [], 'the sender does not get its own message, nor a message sent before add user');
  assert.deepEqual(ga.typing, []);
  for (const e of events) assert.deepEqual(gl[e], [], `a socket that never added a user got "${e}"`);

  b.disconnect();
  await ga['user left'].wait(1);
  assert.equal(ga['user left'][0][0].username, 'ben');
  // A third user sees the count without ben.
  const c = await rootClient(srv, t);
  const gc = collect(c, 'login');
  c.emit('add user', 'cat');
  await gc.wait(1);
  assert.deepEqual(gc, [[{ numUsers: 2 }]]);
  // A socket that never added a user leaves silently.
  lurker.disconnect();
  await sleep(50);
  await barrier([a, c]);
  assert.equal(ga['user left'].length, 1);
  await assertCleanStop(srv);
});

// As in Node, a socket has left its rooms when its "disconnect" handlers
// run, so the count sent with `user left` no longer includes the leaver.
test('"/": the chat demo\'s `user left` {username, numUsers} counts the users that are still there', async (t) => {
  const srv = await startChat(t);
  const users = [];
  for (const name of ['ann', 'ben', 'cat']) {
    const s = await rootClient(srv, t);
    const login = nextEvent(s, 'login');
    s.emit('add user', name);
    await login;
    users.push(s);
  }
  const [ann, ben, cat] = users;
  const left = collect(ann, 'user left');
  cat.disconnect();
  await left.wait(1);
  ben.disconnect();
  await left.wait(2);
  assert.deepEqual(left, [[{ username: 'cat', numUsers: 2 }], [{ username: 'ben', numUsers: 1 }]],
    `raw packets: ${JSON.stringify(rawTexts(ann))}`);
  await assertCleanStop(srv);
});
