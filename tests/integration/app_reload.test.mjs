// Hot reload (docs/hot-reload.md) seen by real socket.io-client sockets,
// over websocket and over polling only: every test copies
// tests/apps/reload/ into its own temp dir, starts a server on the copy and
// edits the copy while clients stay connected. Checked: the next event of
// an old connection runs the new code (main.lua and required modules);
// socket.id, rooms and socket.data survive; a namespace's "reload" listeners
// run once per connected socket (never "connection", so one-time work is not
// redone, and socket.reloaded is gone), a namespace without one keeps its
// sockets' old handlers; a syntax or runtime error at load keeps the
// old version serving and logs one line naming the file and line; fixing
// the file reloads; pending acks and sleeping handlers finish; SIGHUP and
// --no-reload; HTTP routes follow the reload; sio.state survives while the
// locals of main.lua are rebuilt; a main.lua that runs away or allocates
// without end at reload is stopped by the guards and the old version stays;
// a failed reload leaves nothing behind; a change saved while a reload runs
// is not lost. No client ever sees a "disconnect".

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir, startServer, until, sleep, request } from './lib/server.mjs';
import {
  APPS_DIR, TRANSPORTS, client, waitConnect, waitConnectError, ask, nextEvent, collect,
} from './lib/sio.mjs';

const SRC = join(APPS_DIR, 'reload');
const RELOAD_DEADLINE = 3000; // protocol bound: a change is picked up within 3 s

// ---------------------------------------------------------------------------
// helpers

// Starts the reload app on a fresh copy; returns the server (with .dir).
async function startCopy(t, args = []) {
  const dir = makeTempDir('siolua-reload-');
  cpSync(SRC, dir, { recursive: true });
  mkdirSync(join(dir, 'public'), { recursive: true });
  const srv = await startServer({ appDir: dir, args, t });
  srv.dir = dir;
  return srv;
}

function readApp(srv, rel) {
  return readFileSync(join(srv.dir, rel), 'utf8');
}

// Replaces `from` by `to` in the copy's file (which must contain it).
function edit(srv, rel, from, to) {
  const text = readApp(srv, rel);
  assert.ok(text.includes(from), `${rel} has no ${JSON.stringify(from)}`);
  writeFileSync(join(srv.dir, rel), text.replace(from, to));
}

const MARK = '-- MARK: tests insert lines after this one';

// Inserts `line` after the MARK line of main.lua, and sets VERSION to
// `version` if given, in one write (two writes could be two reloads);
// returns the 1-based line of the inserted line.
function insertAfterMark(srv, line, version) {
  let text = readApp(srv, 'main.lua');
  if (version) text = text.replace(/local VERSION = "[^"]*"/, `local VERSION = "${version}"`);
  const lines = text.split('\n');
  const i = lines.indexOf(MARK);
  assert.ok(i >= 0, 'main.lua has no MARK line');
  lines.splice(i + 1, 0, line);
  writeFileSync(join(srv.dir, 'main.lua'), lines.join('\n'));
  return i + 2;
}

const RELOADED = /\[reload\] \S*main\.lua reloaded;/;
const FAILED = /\[reload\] reload failed/;

function logLines(srv, re) {
  return srv.stderr().split('\n').filter((l) => re.test(l));
}

// Waits until the log has at least n lines matching re (a reload or a
// failed reload), within the protocol deadline.
async function waitLogCount(srv, re, n, what) {
  const ok = await until(() => logLines(srv, re).length >= n, { timeoutMs: RELOAD_DEADLINE });
  assert.ok(ok, `no ${what} within ${RELOAD_DEADLINE} ms (wanted ${n} line(s) ${re}); log:\n${srv.stderr()}`);
}

const waitReloaded = (srv, n = 1) => waitLogCount(srv, RELOADED, n, 'reload');
const waitFailed = (srv, n = 1) => waitLogCount(srv, FAILED, n, 'failed reload');

// A client that must stay connected through everything: records its id at
// connect, every "disconnect", "welcome" and "rebound".
async function stayingClient(srv, t, transports, nsp = '/') {
  const socket = client(srv, nsp, { t, transports });
  const rec = {
    socket,
    disconnects: [],
    welcome: collect(socket, 'welcome'),
    rebound: collect(socket, 'rebound'),
  };
  socket.on('disconnect', (reason) => rec.disconnects.push(reason));
  await waitConnect(socket);
  rec.id = socket.id;
  assert.ok(rec.id, 'no socket.id after connect');
  return rec;
}

// The connection never dropped: no "disconnect" event, same socket.id,
// still connected, and the server still knows it by that id.
async function assertSameConnection(rec) {
  assert.deepEqual(rec.disconnects, [], 'the client saw a disconnect');
  assert.equal(rec.socket.connected, true, 'the client is not connected');
  assert.equal(rec.socket.id, rec.id, 'socket.id changed');
  if (rec.socket.nsp === '/') {
    const [info] = await ask(rec.socket, 'info');
    assert.equal(info.id, rec.id, 'the server-side socket.id differs from the client\'s');
  }
}

const tname = (transports) => transports.join('+');

// ---------------------------------------------------------------------------
// per transport

for (const transports of TRANSPORTS) {
  const T = `[${tname(transports)}]`;

  test(`${T} after main.lua changes, the old connection runs the new handler on its next event; socket.id, rooms and socket.data survive`, async (t) => {
    const srv = await startCopy(t);
    const a = await stayingClient(srv, t, transports);
    const b = await stayingClient(srv, t, transports);
    const aRoom = collect(a.socket, 'room-message');
    const bRoom = collect(b.socket, 'room-message');

    await ask(a.socket, 'join', 'room-a');
    await ask(a.socket, 'set-data', 'colour', 'teal');
    await ask(a.socket, 'set-data', 'nested', { list: [1, 2], n: null });
    assert.deepEqual(await ask(a.socket, 'version'), ['v1']);

    edit(srv, 'main.lua', 'local VERSION = "v1"', 'local VERSION = "v2"');
    await waitReloaded(srv);

    // The very next event of the old connection runs the new code.
    assert.deepEqual(await ask(a.socket, 'version'), ['v2']);
    assert.deepEqual(await ask(b.socket, 'version'), ['v2']);

    const [info] = await ask(a.socket, 'info');
    assert.equal(info.id, a.id);
    assert.deepEqual(info.rooms, [a.id, 'room-a'].sort());
    assert.deepEqual(await ask(a.socket, 'get-data', 'colour'), ['teal']);
    assert.deepEqual(await ask(a.socket, 'get-data', 'nested'), [{ list: [1, 2], n: null }]);

    // A broadcast to the room joined before the reload reaches its member
    // (and only it), sent by the new code.
    await ask(b.socket, 'to-room', 'room-a');
    await aRoom.wait(1);
    assert.deepEqual(aRoom, [['v2', 'room-a']]);
    await ask(b.socket, 'version'); // b's next packet: a room message for b would be here by now
    assert.deepEqual(bRoom, []);

    await assertSameConnection(a);
    await assertSameConnection(b);
  });

  test(`${T} a reload runs the namespace's "reload" listeners once per connected socket, binding it to the new code; "connection" and its one-time work do not run again; socket.reloaded is gone`, async (t) => {
    const srv = await startCopy(t);
    const a = await stayingClient(srv, t, transports);
    await a.welcome.wait(1);
    const [before] = await ask(a.socket, 'info');
    assert.equal(before.connects, 1);
    assert.equal(before.rebinds, 0);
    assert.equal(before.loads, 1);
    assert.equal(before.reloaded_field, false);

    edit(srv, 'main.lua', 'local VERSION = "v1"', 'local VERSION = "v2"');
    await waitReloaded(srv);
    assert.match(logLines(srv, RELOADED)[0], /reloaded; 1 connected sockets: 1 rebound by 'reload' listeners, 0 kept their handlers/);
    await a.rebound.wait(1);
    const [after] = await ask(a.socket, 'info');
    assert.equal(after.connects, 1, 'the connection handler ran again');
    assert.equal(after.rebinds, 1);
    assert.equal(after.loads, 2);
    assert.equal(after.reloaded_field, false, 'socket.reloaded is set');
    assert.deepEqual(a.rebound, [['v2', 1]]);
    assert.deepEqual(a.welcome, [['v1']], 'the greeting was sent again on reload');

    // "reload" is reserved: server_side_emit refuses it.
    const [ok, err] = await ask(a.socket, 'sse-reload');
    assert.equal(ok, false);
    assert.match(err, /"reload" is a reserved event name/);

    // A socket that connects after the reload is a plain new connection.
    const n = await stayingClient(srv, t, transports);
    await n.welcome.wait(1);
    assert.deepEqual(n.welcome, [['v2']]);
    const [ninfo] = await ask(n.socket, 'info');
    assert.equal(ninfo.rebinds, 0);
    assert.deepEqual(n.rebound, []);

    await assertSameConnection(a);
    await assertSameConnection(n);
  });

  test(`${T} after a required module changes (greeting.lua, lib/format.lua), the old connection uses the new module on its next event`, async (t) => {
    const srv = await startCopy(t);
    const a = await stayingClient(srv, t, transports);
    assert.deepEqual(await ask(a.socket, 'greet', 'ada'), ['hello ada']);
    assert.deepEqual(await ask(a.socket, 'shout', 'hey'), ['HEY!']);

    edit(srv, 'greeting.lua', 'local GREETING = "hello"', 'local GREETING = "good day"');
    await waitReloaded(srv, 1);
    assert.deepEqual(await ask(a.socket, 'greet', 'ada'), ['good day ada']);

    edit(srv, 'lib/format.lua', 'return text:upper() .. "!"', 'return text:upper() .. "!!!"');
    await waitReloaded(srv, 2);
    assert.deepEqual(await ask(a.socket, 'shout', 'hey'), ['HEY!!!']);
    assert.deepEqual(await ask(a.socket, 'greet', 'ada'), ['good day ada']);

    const [info] = await ask(a.socket, 'info');
    assert.equal(info.rebinds, 2);
    await assertSameConnection(a);
  });

  test(`${T} a syntax error in main.lua: the old version keeps serving, one log line names main.lua and the line; fixing it reloads`, async (t) => {
    const srv = await startCopy(t);
    const a = await stayingClient(srv, t, transports);
    await ask(a.socket, 'set-data', 'k', 1);
    const original = readApp(srv, 'main.lua');

    const line = insertAfterMark(srv, 'local broken = = 1', 'v2');
    await waitFailed(srv);
    await sleep(300); // a second failure line for the same change would be here by now
    const failed = logLines(srv, FAILED);
    assert.equal(failed.length, 1, `expected one failure line:\n${failed.join('\n')}`);
    assert.ok(failed[0].includes(`${join(srv.dir, 'main.lua')}:${line}:`), `failure line does not name main.lua:${line}: ${failed[0]}`);
    assert.match(failed[0], / error /);
    assert.equal(logLines(srv, RELOADED).length, 0);

    // The old code serves, and the sockets were not rebound.
    assert.deepEqual(await ask(a.socket, 'version'), ['v1']);
    const [info] = await ask(a.socket, 'info');
    assert.equal(info.rebinds, 0);
    assert.deepEqual(a.rebound, []);
    assert.equal(JSON.parse((await request(`${srv.url}/version`)).text).version, 'v1');

    // Fixed: the new version is in.
    writeFileSync(join(srv.dir, 'main.lua'), original.replace('local VERSION = "v1"', 'local VERSION = "v3"'));
    await waitReloaded(srv);
    assert.deepEqual(await ask(a.socket, 'version'), ['v3']);
    assert.deepEqual(await ask(a.socket, 'get-data', 'k'), [1]);
    await a.rebound.wait(1);
    assert.deepEqual(a.rebound, [['v3', 1]]);
    await assertSameConnection(a);
  });

  test(`${T} error() at the top of main.lua at load: the old version keeps serving and the log names main.lua, the line and the message; fixing it reloads`, async (t) => {
    const srv = await startCopy(t);
    const a = await stayingClient(srv, t, transports);
    const original = readApp(srv, 'main.lua');

    const line = insertAfterMark(srv, 'error("deliberate failure at load")', 'v2');
    await waitFailed(srv);
    const failed = logLines(srv, FAILED);
    assert.equal(failed.length, 1, failed.join('\n'));
    assert.ok(failed[0].includes(`main.lua:${line}: deliberate failure at load`), failed[0]);

    assert.deepEqual(await ask(a.socket, 'version'), ['v1']);
    assert.deepEqual(await ask(a.socket, 'greet', 'bo'), ['hello bo']);
    assert.deepEqual(a.rebound, []);

    writeFileSync(join(srv.dir, 'main.lua'), original.replace('local VERSION = "v1"', 'local VERSION = "v2"'));
    await waitReloaded(srv);
    assert.deepEqual(await ask(a.socket, 'version'), ['v2']);
    await assertSameConnection(a);
  });

  test(`${T} error() at the top of a required module at load: the old version (and old module) keeps serving, the log names the module and line; fixing it reloads`, async (t) => {
    const srv = await startCopy(t);
    const a = await stayingClient(srv, t, transports);
    const original = readApp(srv, 'greeting.lua');

    edit(srv, 'main.lua', 'local VERSION = "v1"', 'local VERSION = "v2"');
    await waitReloaded(srv, 1);
    assert.deepEqual(await ask(a.socket, 'version'), ['v2']);

    writeFileSync(join(srv.dir, 'greeting.lua'),
      `error("deliberate module failure")\n${original.replace('"hello"', '"hi"')}`);
    await waitFailed(srv);
    const failed = logLines(srv, FAILED);
    assert.equal(failed.length, 1, failed.join('\n'));
    assert.ok(failed[0].includes('greeting.lua:1: deliberate module failure'), failed[0]);

    assert.deepEqual(await ask(a.socket, 'greet', 'ada'), ['hello ada']);
    assert.deepEqual(await ask(a.socket, 'version'), ['v2']);

    writeFileSync(join(srv.dir, 'greeting.lua'), original.replace('"hello"', '"hi"'));
    await waitReloaded(srv, 2);
    assert.deepEqual(await ask(a.socket, 'greet', 'ada'), ['hi ada']);
    await assertSameConnection(a);
  });

  test(`${T} a syntax error in a required module: the old version keeps serving, one log line names the module and line; fixing it reloads`, async (t) => {
    const srv = await startCopy(t);
    const a = await stayingClient(srv, t, transports);
    const original = readApp(srv, 'greeting.lua');
    const lines = original.split('\n');
    const i = lines.findIndex((l) => l.startsWith('function M.greet'));
    lines[i] = 'function M.greet(name) return GREETING .. " " .. name'; // no "end"
    writeFileSync(join(srv.dir, 'greeting.lua'), lines.join('\n'));
    await waitFailed(srv);
    await sleep(300); // a second line for the same failure would be here by now
    const failed = logLines(srv, FAILED);
    assert.equal(failed.length, 1, failed.join('\n'));
    // Lua sees the missing "end" at the next token: `return M`.
    const at = lines.findIndex((l) => l.startsWith('return M')) + 1;
    assert.ok(failed[0].includes(`greeting.lua:${at}: 'end' expected`), failed[0]);
    assert.equal(srv.stderr().split('\n').filter((l) => l.includes('greeting.lua')).length, 1,
      'the failure is not one log line');

    assert.deepEqual(await ask(a.socket, 'greet', 'ada'), ['hello ada']);

    writeFileSync(join(srv.dir, 'greeting.lua'), original.replace('"hello"', '"hey"'));
    await waitReloaded(srv);
    assert.deepEqual(await ask(a.socket, 'greet', 'ada'), ['hey ada']);
    await assertSameConnection(a);
  });

  test(`${T} an emit_with_ack the server started before a reload completes after it, in the code that started it`, async (t) => {
    const srv = await startCopy(t);
    const a = await stayingClient(srv, t, transports);
    const question = nextEvent(a.socket, 'question');
    const answerWas = nextEvent(a.socket, 'answer-was', RELOAD_DEADLINE + 3000);
    answerWas.catch(() => {}); // awaited below; no unhandled rejection if the test fails first
    await ask(a.socket, 'ask-client');
    const [version, ack] = await question;
    assert.equal(version, 'v1');

    edit(srv, 'main.lua', 'local VERSION = "v1"', 'local VERSION = "v2"');
    await waitReloaded(srv);
    assert.deepEqual(await ask(a.socket, 'version'), ['v2']);

    ack('the answer');
    assert.deepEqual(await answerWas, ['v1', null, 'the answer']);
    await assertSameConnection(a);
  });

  test(`${T} a handler sleeping across a reload finishes and its ack reaches the client`, async (t) => {
    const srv = await startCopy(t);
    const a = await stayingClient(srv, t, transports);
    let held = null;
    a.socket.timeout(RELOAD_DEADLINE + 5000).emit('hold', 'k1', (err, ...reply) => { held = err ? `error: ${err.message}` : reply; });
    await ask(a.socket, 'version'); // the hold handler is running (and sleeping) by now

    edit(srv, 'main.lua', 'local VERSION = "v1"', 'local VERSION = "v2"');
    await waitReloaded(srv);
    assert.deepEqual(await ask(a.socket, 'version'), ['v2']);
    assert.equal(held, null, 'the held handler answered before it was released');

    await ask(a.socket, 'release', 'k1');
    assert.ok(await until(() => held !== null, { timeoutMs: 3000 }), 'no ack for "hold"');
    assert.deepEqual(held, ['v1', 'k1']);
    await assertSameConnection(a);
  });

  test(`${T} sio.state survives a reload while main.lua's locals are rebuilt, and listeners are not doubled`, async (t) => {
    const srv = await startCopy(t);
    const a = await stayingClient(srv, t, transports);
    assert.deepEqual(await ask(a.socket, 'hit'), [1, 1]);
    assert.deepEqual(await ask(a.socket, 'hit'), [2, 2]);
    assert.deepEqual(await ask(a.socket, 'hit'), [3, 3]);

    edit(srv, 'main.lua', 'local VERSION = "v1"', 'local VERSION = "v2"');
    await waitReloaded(srv);
    // local hits starts again at 0; sio.state.hits goes on (by one: the
    // old "hit" listener is gone, only the new one runs).
    assert.deepEqual(await ask(a.socket, 'hit'), [1, 4]);
    assert.deepEqual(await ask(a.socket, 'hit'), [2, 5]);
    const [info] = await ask(a.socket, 'info');
    assert.equal(info.loads, 2);
    await assertSameConnection(a);
  });
}

// ---------------------------------------------------------------------------
// both transports at once

test('sockets of another namespace (/admin) are rebound too, on both transports', async (t) => {
  const srv = await startCopy(t);
  const ws = await stayingClient(srv, t, ['websocket'], '/admin');
  const poll = await stayingClient(srv, t, ['polling'], '/admin');
  assert.deepEqual(await ask(ws.socket, 'version'), ['admin v1']);
  edit(srv, 'main.lua', 'local VERSION = "v1"', 'local VERSION = "v2"');
  await waitReloaded(srv);
  assert.deepEqual(await ask(ws.socket, 'version'), ['admin v2']);
  assert.deepEqual(await ask(poll.socket, 'version'), ['admin v2']);
  await ws.rebound.wait(1);
  await poll.rebound.wait(1);
  assert.deepEqual(ws.rebound, [['v2']]);
  await assertSameConnection(ws);
  await assertSameConnection(poll);
});

test('a namespace with no "reload" listener keeps its connected sockets on their old handlers until they reconnect; the log counts them (both transports)', async (t) => {
  const srv = await startCopy(t);
  const ws = await stayingClient(srv, t, ['websocket'], '/legacy');
  const poll = await stayingClient(srv, t, ['polling'], '/legacy');
  const root = await stayingClient(srv, t, ['websocket']);
  assert.deepEqual(await ask(ws.socket, 'version'), ['legacy v1']);
  edit(srv, 'main.lua', 'local VERSION = "v1"', 'local VERSION = "v2"');
  await waitReloaded(srv);
  assert.match(logLines(srv, RELOADED)[0], /reloaded; 3 connected sockets: 1 rebound by 'reload' listeners, 2 kept their handlers/);
  // The old code answers them, nothing was rebound; "/" follows the new.
  assert.deepEqual(await ask(ws.socket, 'version'), ['legacy v1']);
  assert.deepEqual(await ask(poll.socket, 'version'), ['legacy v1']);
  assert.deepEqual(ws.rebound, []);
  assert.deepEqual(await ask(root.socket, 'version'), ['v2']);
  // A socket that connects now runs the new code.
  const fresh = await stayingClient(srv, t, ['websocket'], '/legacy');
  assert.deepEqual(await ask(fresh.socket, 'version'), ['legacy v2']);
  for (const c of [ws, poll, root, fresh]) await assertSameConnection(c);
});

test('an error() after the new handlers and routes registered: none of them stays in, the old ones serve unchanged (both transports)', async (t) => {
  const srv = await startCopy(t);
  const ws = await stayingClient(srv, t, ['websocket']);
  const poll = await stayingClient(srv, t, ['polling']);
  const original = readApp(srv, 'main.lua');
  writeFileSync(join(srv.dir, 'main.lua'),
    `${original.replace('local VERSION = "v1"', 'local VERSION = "v2"')}\nsio.http.get("/added", function(req, res) res:send("added") end)\nerror("deliberate failure at the end")\n`);
  await waitFailed(srv);
  assert.match(logLines(srv, FAILED)[0], /main\.lua:\d+: deliberate failure at the end/);

  assert.deepEqual(await ask(ws.socket, 'version'), ['v1']);
  assert.deepEqual(await ask(poll.socket, 'version'), ['v1']);
  assert.equal(JSON.parse((await request(`${srv.url}/version`)).text).version, 'v1');
  assert.equal((await request(`${srv.url}/added`)).status, 404);
  // A connection made now runs the old connection handler only (once).
  const n = await stayingClient(srv, t, ['websocket']);
  await n.welcome.wait(1);
  await ask(n.socket, 'version');
  assert.deepEqual(n.welcome, [['v1']]);
  // hit runs once per event: the new code's listeners did not pile up.
  assert.deepEqual(await ask(n.socket, 'hit'), [1, 1]);
  for (const c of [ws, poll, n]) await assertSameConnection(c);
});

// The old version after a failed reload, seen by the clients that stayed,
// by a client that connects now, and by the HTTP routes.
async function assertOldVersionServes(srv, t, stayed) {
  for (const c of stayed) assert.deepEqual(await ask(c.socket, 'version'), ['v1']);
  const v = await request(`${srv.url}/version`);
  assert.equal(`${v.status} ${v.text}`, '200 {"version":"v1"}', 'GET /version after the failed reload');
  const o = await request(`${srv.url}/old-route`);
  assert.equal(`${o.status} ${o.text}`, '200 old route v1', 'GET /old-route after the failed reload');
  const n = await stayingClient(srv, t, ['websocket']);
  await n.welcome.wait(1, 2000).catch((e) => assert.fail(`a socket connecting after the failed reload: ${e.message}`));
  assert.deepEqual(n.welcome, [['v1']]);
  assert.deepEqual(await ask(n.socket, 'version'), ['v1']);
  for (const c of [...stayed, n]) await assertSameConnection(c);
}

test('a main.lua that loops forever at reload is stopped by the time limit and the old version keeps serving (handlers, routes, new connections)', async (t) => {
  const srv = await startCopy(t);
  const ws = await stayingClient(srv, t, ['websocket']);
  const poll = await stayingClient(srv, t, ['polling']);
  insertAfterMark(srv, 'while true do end', 'v2');
  const off = srv.stderr().length;
  const ok = await until(() => /time limit exceeded/.test(srv.stderr().slice(off)), { timeoutMs: RELOAD_DEADLINE + 10000 });
  assert.ok(ok, `no "time limit exceeded" in the log:\n${srv.stderr()}`);
  assert.equal(logLines(srv, RELOADED).length, 0);
  await assertOldVersionServes(srv, t, [ws, poll]);
});

test('a main.lua that allocates without end at reload (--set luaMemoryLimit) fails with "not enough memory" and the old version keeps serving', async (t) => {
  const srv = await startCopy(t, ['--set', 'luaMemoryLimit=16777216']);
  const ws = await stayingClient(srv, t, ['websocket']);
  const poll = await stayingClient(srv, t, ['polling']);
  insertAfterMark(srv, 'local hog = {} for i = 1, math.huge do hog[i] = string.rep("m", 4096) .. i end', 'v2');
  await waitFailed(srv);
  assert.match(logLines(srv, FAILED)[0], /not enough memory/);
  await assertOldVersionServes(srv, t, [ws, poll]);
});

test('a failed reload leaves nothing of the new code behind: a namespace it created before failing stays unknown', async (t) => {
  const srv = await startCopy(t);
  const ws = await stayingClient(srv, t, ['websocket']);
  const before = client(srv, '/fresh', { t });
  assert.match((await waitConnectError(before)).message, /Invalid namespace/);

  const original = readApp(srv, 'main.lua');
  writeFileSync(join(srv.dir, 'main.lua'), `${original}
sio.server:of("/fresh"):on("connection", function(s) s:on("version", function(ack) ack("failed code") end) end)
error("deliberate failure after creating /fresh")
`);
  await waitFailed(srv);
  const after = client(srv, '/fresh', { t });
  const outcome = await new Promise((resolve) => {
    after.on('connect_error', (e) => resolve(`connect_error ${e.message}`));
    after.on('connect', () => ask(after, 'version').then(
      (v) => resolve(`connected, version ${JSON.stringify(v)}`),
      (e) => resolve(`connected, ${e.message}`)));
  });
  assert.match(outcome, /^connect_error Invalid namespace/, `after the failed reload /fresh gave: ${outcome}`);
  await assertOldVersionServes(srv, t, [ws]);
});

test('HTTP routes follow a reload: a route\'s answer changes, a removed route is 404, an added one answers (clients on both transports stay)', async (t) => {
  const srv = await startCopy(t);
  const ws = await stayingClient(srv, t, ['websocket']);
  const poll = await stayingClient(srv, t, ['polling']);
  assert.deepEqual(JSON.parse((await request(`${srv.url}/version`)).text), { version: 'v1' });
  assert.equal((await request(`${srv.url}/old-route`)).text, 'old route v1');
  assert.equal((await request(`${srv.url}/new-route`)).status, 404);

  const text = readApp(srv, 'main.lua');
  const routeLine = text.split('\n').find((l) => l.endsWith('-- ROUTE'));
  writeFileSync(join(srv.dir, 'main.lua'), text
    .replace('local VERSION = "v1"', 'local VERSION = "v2"')
    .replace(routeLine, 'sio.http.get("/new-route", function(req, res) res:send("new route " .. VERSION) end)'));
  await waitReloaded(srv);

  assert.deepEqual(JSON.parse((await request(`${srv.url}/version`)).text), { version: 'v2' });
  assert.equal((await request(`${srv.url}/old-route`)).status, 404);
  const added = await request(`${srv.url}/new-route`);
  assert.equal(added.status, 200);
  assert.equal(added.text, 'new route v2');
  await assertSameConnection(ws);
  await assertSameConnection(poll);
});

test('with --no-reload a file change does nothing; SIGHUP then reloads it (both transports)', async (t) => {
  const srv = await startCopy(t, ['--no-reload']);
  const ws = await stayingClient(srv, t, ['websocket']);
  const poll = await stayingClient(srv, t, ['polling']);
  edit(srv, 'main.lua', 'local VERSION = "v1"', 'local VERSION = "v2"');
  await sleep(800); // 8x the 100 ms debounce: a watched change would have reloaded by now
  assert.equal(logLines(srv, RELOADED).length, 0, 'reloaded despite --no-reload');
  assert.deepEqual(await ask(ws.socket, 'version'), ['v1']);
  assert.deepEqual(await ask(poll.socket, 'version'), ['v1']);

  srv.proc.kill('SIGHUP');
  await waitReloaded(srv);
  assert.deepEqual(await ask(ws.socket, 'version'), ['v2']);
  assert.deepEqual(await ask(poll.socket, 'version'), ['v2']);
  await ws.rebound.wait(1);
  await poll.rebound.wait(1);
  assert.equal(srv.proc.exitCode, null);
  await assertSameConnection(ws);
  await assertSameConnection(poll);
});

test('SIGHUP reloads on demand with no change: the "reload" listeners run for each socket, each SIGHUP once', async (t) => {
  const srv = await startCopy(t);
  const ws = await stayingClient(srv, t, ['websocket']);
  const poll = await stayingClient(srv, t, ['polling']);
  srv.proc.kill('SIGHUP');
  await waitReloaded(srv, 1);
  srv.proc.kill('SIGHUP');
  await waitReloaded(srv, 2);
  await ws.rebound.wait(2);
  await poll.rebound.wait(2);
  assert.deepEqual(ws.rebound, [['v1', 1], ['v1', 2]]);
  assert.deepEqual(poll.rebound, [['v1', 1], ['v1', 2]]);
  const [info] = await ask(ws.socket, 'info');
  assert.equal(info.loads, 3);
  await assertSameConnection(ws);
  await assertSameConnection(poll);
});

test('a burst of writes to main.lua is one reload', async (t) => {
  const srv = await startCopy(t);
  const a = await stayingClient(srv, t, ['websocket']);
  for (const v of ['v2', 'v3', 'v4']) {
    writeFileSync(join(srv.dir, 'main.lua'), readApp(srv, 'main.lua').replace(/local VERSION = "v\d"/, `local VERSION = "${v}"`));
  }
  await waitReloaded(srv);
  await sleep(500); // a second reload for the same burst would be here by now
  assert.equal(logLines(srv, RELOADED).length, 1, logLines(srv, RELOADED).join('\n'));
  assert.deepEqual(await ask(a.socket, 'version'), ['v4']);
  const [info] = await ask(a.socket, 'info');
  assert.equal(info.rebinds, 1);
  await assertSameConnection(a);
});

test('files that are not watched (a .lua under public/, a non-.lua file) do not reload the app', async (t) => {
  const srv = await startCopy(t);
  const a = await stayingClient(srv, t, ['websocket']);
  writeFileSync(join(srv.dir, 'public', 'client.lua'), '-- served as a file, not app code\n');
  writeFileSync(join(srv.dir, 'notes.txt'), 'not code\n');
  await sleep(800); // 8x the debounce
  assert.equal(logLines(srv, RELOADED).length, 0, logLines(srv, RELOADED).join('\n'));
  assert.deepEqual(a.rebound, []);
  // A .lua change after that is still picked up.
  edit(srv, 'main.lua', 'local VERSION = "v1"', 'local VERSION = "v2"');
  await waitReloaded(srv);
  assert.deepEqual(await ask(a.socket, 'version'), ['v2']);
  await assertSameConnection(a);
});

test('a module in a subfolder created after start is watched too', async (t) => {
  const srv = await startCopy(t);
  const a = await stayingClient(srv, t, ['polling']);
  mkdirSync(join(srv.dir, 'extra'));
  writeFileSync(join(srv.dir, 'extra', 'word.lua'), 'return { word = "one" }\n');
  // Use it from main.lua (that change reloads and rescans the folders).
  edit(srv, 'main.lua', 'local VERSION = "v1"', 'local VERSION = require("extra.word").word');
  await waitReloaded(srv, 1);
  assert.deepEqual(await ask(a.socket, 'version'), ['one']);
  writeFileSync(join(srv.dir, 'extra', 'word.lua'), 'return { word = "two" }\n');
  await waitReloaded(srv, 2);
  assert.deepEqual(await ask(a.socket, 'version'), ['two']);
  await assertSameConnection(a);
});

test('a change saved while a reload is running is not lost: it is picked up by a further reload', async (t) => {
  const dir = makeTempDir('siolua-reload-slow-');
  cpSync(join(APPS_DIR, 'reload_slow'), dir, { recursive: true });
  const srv = await startServer({ appDir: dir, t });
  const a = await stayingClient(srv, t, ['websocket']);
  assert.deepEqual(await ask(a.socket, 'word'), ['one']);
  const started = () => logLines(srv, /loading started/).length;
  assert.equal(started(), 1);

  writeFileSync(join(dir, 'word.lua'), 'return "two"\n');
  // The reload of "two" is running (main.lua is in its slow part): save again.
  assert.ok(await until(() => started() === 2, { timeoutMs: RELOAD_DEADLINE }), `no second load:\n${srv.stderr()}`);
  writeFileSync(join(dir, 'word.lua'), 'return "three"\n');

  const ok = await until(async () => (await request(`${srv.url}/word`)).text === 'three', { timeoutMs: RELOAD_DEADLINE, stepMs: 50 });
  const served = (await request(`${srv.url}/word`)).text;
  assert.ok(ok, `word.lua says "three" but the server still serves "${served}" ${RELOAD_DEADLINE} ms later; log:\n${srv.stderr()}`);
  assert.deepEqual(await ask(a.socket, 'word'), ['three']);
  assert.deepEqual(a.disconnects, []);
});

test('the server exits 0 on SIGTERM after reloads, with no crash', async (t) => {
  const srv = await startCopy(t);
  const a = await stayingClient(srv, t, ['websocket']);
  edit(srv, 'main.lua', 'local VERSION = "v1"', 'local VERSION = "v2"');
  await waitReloaded(srv);
  await ask(a.socket, 'version');
  insertAfterMark(srv, 'error("x")');
  await waitFailed(srv);
  assert.deepEqual(await ask(a.socket, 'version'), ['v2']);
  const { code, signal } = await srv.stop();
  assert.equal(code, 0, `exit code ${code}, signal ${signal}\n${srv.stderr()}`);
});
