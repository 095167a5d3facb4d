// The guards of the Lua runtime against app code (src/lua/lua_rt.h), through
// real socket.io-client sockets and HTTP, against tests/apps/lua_guards:
// the time limit (luaTimeLimit, default 1000 ms of CPU per resume of a
// handler) stops a handler that loops forever, with one log line "time
// limit exceeded", and the server and the socket carry on; the instruction
// budget (luaInstructionBudget, off by default) does the same by exact
// count, "instruction budget exceeded"; the memory cap (luaMemoryLimit,
// bytes, default none) makes a handler that allocates without end fail
// with "not enough memory". The options are set with --set NAME=VALUE or
// sio.configure{...} (the app reads GUARDS_TEST_BUDGET and
// GUARDS_TEST_TIME_LIMIT from the environment for the latter). No timing
// is asserted: work is far under or far over a limit.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { until, request, runCli } from './lib/server.mjs';
import {
  startApp, connected, client, waitConnect, waitConnectError, ask, askWithin, collect,
  APPS_DIR, TRANSPORTS, stopProblems,
} from './lib/sio.mjs';

const MEMORY_CAP = 32 * 1024 * 1024;
const SMALL_BUDGET = 2000000;

// The default guards (the time limit), and a 32 MB memory cap (no cap would let "hog" eat
// the machine).
let srv;
before(async () => { srv = await startApp('lua_guards', { args: ['--set', `luaMemoryLimit=${MEMORY_CAP}`] }); });
after(async () => { await srv?.kill(); });

const MAIN = readFileSync(join(APPS_DIR, 'lua_guards', 'main.lua'), 'utf8').split('\n');
function lineOf(needle) {
  const i = MAIN.findIndex((l) => l.includes(needle));
  assert.ok(i >= 0, `main.lua has no line with ${needle}`);
  return i + 1;
}

// Waits for a log line of server s (after offset) matching re; returns it.
async function logLine(s, offset, re, timeoutMs = 5000) {
  const ok = await until(() => re.test(s.stderr().slice(offset)), { timeoutMs });
  assert.ok(ok, `log has no ${re}; new log:\n${s.stderr().slice(offset)}`);
  return s.stderr().slice(offset).split('\n').find((l) => re.test(l));
}

function linesWith(s, offset, text) {
  return s.stderr().slice(offset).split('\n').filter((l) => l.includes(text));
}

// A connected client that records every disconnect.
async function watched(s, t, transports = ['websocket'], nsp = '/') {
  const socket = client(s, nsp, { t, transports });
  socket.disconnects = [];
  socket.on('disconnect', (r) => socket.disconnects.push(r));
  await waitConnect(socket);
  socket.firstId = socket.id;
  return socket;
}

function assertStillConnected(socket) {
  assert.deepEqual(socket.disconnects, [], 'the client was disconnected');
  assert.equal(socket.connected, true);
  assert.equal(socket.id, socket.firstId);
}

// ---------------------------------------------------------------------------
// time limit (the default guard)

for (const transports of TRANSPORTS) {
  test(`[${transports}] a handler that loops forever is stopped by the default time limit: one log line "time limit exceeded" with main.lua:<line>; that socket and the others keep working`, async (t) => {
    const a = await watched(srv, t, transports);
    const b = await watched(srv, t, transports);
    const off = srv.stderr().length;
    a.emit('spin');
    const line = await logLine(srv, off, /time limit exceeded/, 15000);
    assert.ok(line.includes(`main.lua:${lineOf('-- the runaway loop')}: time limit exceeded`), line);
    assert.match(line, /Z error /);
    assert.deepEqual(await ask(a, 'echo', 'a after'), ['a after']);
    assert.deepEqual(await ask(b, 'echo', 'b after'), ['b after']);
    assert.equal(linesWith(srv, off, 'time limit exceeded').length, 1);
    // And again: the guard is not a one-off.
    const off2 = srv.stderr().length;
    a.emit('spin');
    await logLine(srv, off2, /time limit exceeded/, 15000);
    assert.deepEqual(await ask(a, 'echo', 2), [2]);
    assertStillConnected(a);
    assertStillConnected(b);
  });
}

test('pcall cannot swallow the time limit: the code after a pcall around an endless loop never runs', async (t) => {
  const a = await watched(srv, t);
  const swallowed = collect(a, 'swallowed');
  const off = srv.stderr().length;
  a.emit('spin-in-pcall');
  const line = await logLine(srv, off, /time limit exceeded/, 15000);
  assert.ok(line.includes(`main.lua:${lineOf('-- the loop in pcall')}:`), line);
  assert.deepEqual(await ask(a, 'echo', 1), [1]);
  assert.deepEqual(swallowed, []);
  assertStillConnected(a);
});

test('a loop inside a coroutine the handler made is stopped (the time limit arms the coroutine)', async (t) => {
  const a = await watched(srv, t);
  const swallowed = collect(a, 'swallowed');
  const off = srv.stderr().length;
  a.emit('spin-in-coroutine');
  const line = await logLine(srv, off, /time limit exceeded/, 15000);
  assert.ok(line.includes(`main.lua:${lineOf('-- the loop in a coroutine')}:`), line);
  assert.deepEqual(await ask(a, 'echo', 1), [1]);
  assert.deepEqual(swallowed, []);
  assertStillConnected(a);
});

test('a timer callback that loops forever is stopped and logged; the server keeps serving', async (t) => {
  const a = await watched(srv, t, ['polling']);
  const off = srv.stderr().length;
  await ask(a, 'spin-in-timer');
  const line = await logLine(srv, off, /time limit exceeded/, 15000);
  assert.ok(line.includes(`main.lua:${lineOf('-- the loop in a timer')}:`), line);
  assert.deepEqual(await ask(a, 'echo', 'still'), ['still']);
  assert.equal((await request(`${srv.url}/ok`)).text, 'ok');
  assertStillConnected(a);
});

test('an HTTP route that loops forever is stopped: answered 500 {"error":"internal server error"}, logged, and the server keeps serving', async () => {
  const off = srv.stderr().length;
  const res = await request(`${srv.url}/spin`, { timeoutMs: 10000 });
  assert.equal(res.status, 500);
  assert.deepEqual(JSON.parse(res.text), { error: 'internal server error' });
  const line = await logLine(srv, off, /time limit exceeded/);
  assert.ok(line.includes(`main.lua:${lineOf('-- the loop in a route')}:`), line);
  assert.equal((await request(`${srv.url}/ok`)).text, 'ok');
  assert.equal(linesWith(srv, off, 'time limit exceeded').length, 1);
});

test('a connection middleware that loops forever is stopped: the client is refused with "server error" and the server keeps serving', async (t) => {
  const off = srv.stderr().length;
  const g = client(srv, '/guarded', { t });
  const err = await waitConnectError(g, 10000);
  assert.equal(err.message, 'server error');
  const line = await logLine(srv, off, /time limit exceeded/);
  assert.ok(line.includes(`main.lua:${lineOf('-- the loop in a middleware')}:`), line);
  const a = await connected(srv, '/', { t });
  assert.deepEqual(await ask(a, 'echo', 1), [1]);
  assert.equal(linesWith(srv, off, 'time limit exceeded').length, 1);
});

test('a dynamic namespace matcher that loops forever is stopped by the time limit: the client gets CONNECT_ERROR "Invalid namespace", one log line, and the server keeps serving (dynamic namespaces too)', async (t) => {
  for (const transports of TRANSPORTS) {
    const off = srv.stderr().length;
    const g = client(srv, '/spin-matcher', { t, transports });
    const err = await waitConnectError(g, 15000);
    assert.equal(err.message, 'Invalid namespace');
    const line = await logLine(srv, off, /time limit exceeded/);
    assert.ok(line.includes(`main.lua:${lineOf('-- the loop in a namespace matcher')}: time limit exceeded`), line);
    assert.match(line, /Z error .*lua error in a dynamic namespace matcher: /);
    const d = await connected(srv, '/dyn-ok', { t, transports });
    assert.deepEqual(await ask(d, 'echo', 'dyn'), ['dyn']);
    const a = await connected(srv, '/', { t, transports });
    assert.deepEqual(await ask(a, 'echo', 1), [1]);
    assert.equal(linesWith(srv, off, 'time limit exceeded').length, 1);
  }
});

test('--set luaTimeLimit=N: work well under N ms of CPU per run finishes, far over N is stopped at the busy loop; the limit is per resume (many short runs adding up to several limits are never stopped)', async (t) => {
  const s = await startApp('lua_guards', { args: ['--set', 'luaTimeLimit=300'], t });
  const a = await watched(s, t);
  assert.deepEqual(await ask(a, 'busy', 20), [20]);
  const off = s.stderr().length;
  let late = null;
  a.timeout(20000).emit('busy', 5000, (err, ...r) => { late = err ? 'no ack' : r; });
  const line = await logLine(s, off, /time limit exceeded/, 15000);
  assert.ok(line.includes(`main.lua:${lineOf('-- the busy loop')}: time limit exceeded`), line);
  // 50 runs of 20 ms of CPU with a wait between them: 1000 ms in all, more
  // than 3 limits, never near one in a resume.
  assert.deepEqual(await askWithin(30000, a, 'in-steps', 'busy', 50, 20), [50]);
  assert.equal(linesWith(s, off, 'time limit exceeded').length, 1);
  assert.equal(late, null, `the stopped handler answered: ${JSON.stringify(late)}`);
  assertStillConnected(a);
});

test('luaTimeLimit=0 turns the time limit off: work a 300 ms limit stops completes', async (t) => {
  const s = await startApp('lua_guards', { args: ['--set', 'luaTimeLimit=0'], t });
  const b = await watched(s, t);
  assert.deepEqual(await askWithin(30000, b, 'busy', 1500), [1500]);
  assert.ok(!s.stderr().includes('time limit exceeded'), s.stderr());
});

test('sio.configure { luaTimeLimit = N } in main.lua sets the limit; --set wins over it', async (t) => {
  const s = await startApp('lua_guards', { env: { GUARDS_TEST_TIME_LIMIT: '300' }, t });
  const a = await watched(s, t);
  const off = s.stderr().length;
  a.emit('busy', 5000);
  await logLine(s, off, /time limit exceeded/, 15000);
  assert.deepEqual(await ask(a, 'busy', 20), [20]);

  // main.lua turns the limit off, the command line turns it back on.
  const s2 = await startApp('lua_guards', { env: { GUARDS_TEST_TIME_LIMIT: '0' }, args: ['--set', 'luaTimeLimit=300'], t });
  const b = await watched(s2, t);
  const off2 = s2.stderr().length;
  b.emit('busy', 5000);
  await logLine(s2, off2, /time limit exceeded/, 15000);
  assert.deepEqual(await ask(b, 'echo', 1), [1]);
});

// ---------------------------------------------------------------------------
// instruction budget (opt-in: exact, at the cost of a hook on every instruction)

test('--set luaInstructionBudget=N: work under N instructions per run finishes, over N is stopped; the budget counts per resume (a handler that waits starts afresh)', async (t) => {
  const s = await startApp('lua_guards', { args: ['--set', `luaInstructionBudget=${SMALL_BUDGET}`], t });
  const a = await watched(s, t);
  // count(n) is about 2n instructions.
  assert.deepEqual(await ask(a, 'count', SMALL_BUDGET / 10), [SMALL_BUDGET / 10]);
  const off = s.stderr().length;
  let late = null;
  a.timeout(5000).emit('count', SMALL_BUDGET * 2, (err, ...r) => { late = err ? 'no ack' : r; });
  const line = await logLine(s, off, /instruction budget exceeded/);
  assert.ok(line.includes(`main.lua:${lineOf('for _ = 1, n do i = i + 1 end')}:`), line);
  // Five runs of ~0.4 budget each, with a wait between them: 2x the budget
  // in all, never over it in one resume.
  assert.deepEqual(await askWithin(10000, a, 'in-steps', 'count', 5, SMALL_BUDGET / 5), [5]);
  assert.equal(linesWith(s, off, 'instruction budget exceeded').length, 1);
  assert.equal(late, null, `the stopped handler answered: ${JSON.stringify(late)}`);
  assertStillConnected(a);
});

test('the instruction budget is off by default; --set luaInstructionBudget=100000000 stops work that completes without it', async (t) => {
  const heavy = 60000000; // ~120M instructions
  const s = await startApp('lua_guards', { args: ['--set', 'luaInstructionBudget=100000000', '--set', 'luaTimeLimit=0'], t });
  const a = await watched(s, t);
  const off = s.stderr().length;
  a.emit('count', heavy, () => {});
  await logLine(s, off, /instruction budget exceeded/, 15000);

  const s2 = await startApp('lua_guards', { args: ['--set', 'luaTimeLimit=0'], t });
  const b = await watched(s2, t);
  assert.deepEqual(await askWithin(30000, b, 'count', heavy), [heavy]);
  assert.ok(!s2.stderr().includes('instruction budget exceeded'), s2.stderr());
});

test('sio.configure { luaInstructionBudget = N } in main.lua sets the budget; --set wins over it', async (t) => {
  const s = await startApp('lua_guards', { env: { GUARDS_TEST_BUDGET: String(SMALL_BUDGET) }, t });
  const a = await watched(s, t);
  const off = s.stderr().length;
  a.emit('count', SMALL_BUDGET * 2);
  await logLine(s, off, /instruction budget exceeded/);
  assert.deepEqual(await ask(a, 'count', 1000), [1000]);

  // main.lua turns the guard off, the command line turns it back on.
  const s2 = await startApp('lua_guards', { env: { GUARDS_TEST_BUDGET: '0' }, args: ['--set', `luaInstructionBudget=${SMALL_BUDGET}`], t });
  const b = await watched(s2, t);
  const off2 = s2.stderr().length;
  b.emit('count', SMALL_BUDGET * 2);
  await logLine(s2, off2, /instruction budget exceeded/);
  assert.deepEqual(await ask(b, 'echo', 1), [1]);
});

test('a bad value for --set luaTimeLimit / luaInstructionBudget / luaMemoryLimit is refused at start (exit 2), like other bad option values', async () => {
  // The reference: a bad value of another numeric option.
  const ref = await runCli(['run', join(APPS_DIR, 'lua_guards'), '--port', '0', '--set', 'maxHttpBufferSize=abc']);
  assert.equal(ref.code, 2, ref.stderr);
  for (const kv of ['luaTimeLimit=abc', 'luaTimeLimit=-5', 'luaInstructionBudget=abc', 'luaInstructionBudget=-5', 'luaMemoryLimit=lots']) {
    // A server that starts anyway is stopped after 1.5 s (the guard would
    // then silently be the default).
    const r = await runCli(['run', join(APPS_DIR, 'lua_guards'), '--port', '0', '--host', '127.0.0.1', '--set', kv], { timeoutMs: 1500 })
      .catch((e) => ({ code: 'still running', stderr: e.message }));
    assert.equal(r.code, 2, `--set ${kv}: ${r.code}\n${r.stderr}`);
    const eq = kv.indexOf('=');
    assert.ok(r.stderr.includes(`bad value '${kv.slice(eq + 1)}' for ${kv.slice(0, eq)}: expected an integer`), r.stderr);
  }
});

// ---------------------------------------------------------------------------
// memory cap

test('with luaMemoryLimit, a handler allocating without end fails with "not enough memory" (logged with main.lua:<line>); the socket, the others and later allocations work', async (t) => {
  for (const transports of TRANSPORTS) {
    const a = await watched(srv, t, transports);
    const b = await watched(srv, t, transports);
    const off = srv.stderr().length;
    a.emit('hog');
    const line = await logLine(srv, off, /not enough memory/, 15000);
    assert.ok(line.includes(`main.lua:${lineOf('-- the allocation')}: not enough memory`), line);
    assert.match(line, /Z error /);
    assert.deepEqual(await ask(a, 'echo', 'after hog'), ['after hog']);
    assert.deepEqual(await ask(b, 'echo', 'b'), ['b']);
    // The memory came back: 4 MB is fine again (the cap is 32 MB).
    assert.deepEqual(await askWithin(10000, a, 'alloc', 4096), [4096]);
    assertStillConnected(a);
    assertStillConnected(b);
  }
});

test('with luaMemoryLimit, an HTTP route allocating without end answers 500 and logs "not enough memory"; the server keeps serving', async () => {
  const off = srv.stderr().length;
  const res = await request(`${srv.url}/hog`, { timeoutMs: 15000 });
  assert.equal(res.status, 500);
  assert.deepEqual(JSON.parse(res.text), { error: 'internal server error' });
  const line = await logLine(srv, off, /not enough memory/);
  assert.match(line, /\/hog/);
  assert.equal((await request(`${srv.url}/ok`)).text, 'ok');
});

test('while a handler holds the Lua state at its memory cap, an HTTP request does not bring the server down; once it lets go, all works', async (t) => {
  const s = await startApp('lua_guards', { args: ['--set', 'luaMemoryLimit=16777216'], t });
  const holder = await watched(s, t);
  const other = await watched(s, t, ['polling']);
  const off = s.stderr().length;
  holder.emit('fill-and-hold', 1000);
  await logLine(s, off, /holder is full/);
  let res;
  try {
    res = await request(`${s.url}/ok`, { timeoutMs: 5000 });
  } catch (e) {
    res = { status: `no answer: ${e.message}` };
    // No answer: give a dying server the time to be seen dead.
    await Promise.race([s.exited, new Promise((r) => { setTimeout(r, 1000); })]);
  }
  assert.ok(s.proc.exitCode === null && s.proc.signalCode === null,
    `the server died (exit ${s.proc.exitCode}, signal ${s.proc.signalCode}); log:\n${s.stderr()}`);
  assert.ok(res.status === 200 || res.status >= 500, `status ${res.status}`);
  await logLine(s, off, /holder let go/);
  assert.equal((await request(`${s.url}/ok`)).text, 'ok');
  assert.deepEqual(await ask(other, 'echo', 'x'), ['x']);
  assertStillConnected(holder);
  assertStillConnected(other);
  assert.deepEqual(await stopProblems(s), []);
});

// Last: a crash or a sanitizer report anywhere in the run shows up here.
test('the server exits 0 on SIGTERM after the run, with no crash or sanitizer report', async () => {
  assert.deepEqual(await stopProblems(srv), []);
});
