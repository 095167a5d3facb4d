// The Lua runtime seen through socket.io-client, against tests/apps/lua_runtime:
// errors in handlers are logged with file:line and serving goes on; timers
// (set_timeout, set_interval, cancel) and sio.sleep; the JSON mapping at the
// Socket.IO boundary (null sentinel, exact integers and floats, {} vs []);
// require of modules from the app directory.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sleep, until } from './lib/server.mjs';
import {
  startApp, connected, nextEvent, ask, collect, rawTexts, APPS_DIR,
  stopProblems,
} from './lib/sio.mjs';

let srv;
before(async () => { srv = await startApp('lua_runtime'); });
after(async () => { await srv?.stop(); });

const MAIN = readFileSync(join(APPS_DIR, 'lua_runtime', 'main.lua'), 'utf8').split('\n');
// The 1-based line of main.lua holding `needle`.
function lineOf(needle) {
  const i = MAIN.findIndex((l) => l.includes(needle));
  assert.ok(i >= 0, `main.lua has no line with ${needle}`);
  return i + 1;
}

// Waits until the server log (from offset on) matches re.
async function logMatch(offset, re) {
  const ok = await until(() => re.test(srv.stderr().slice(offset)), { timeoutMs: 3000 });
  assert.ok(ok, `log has no ${re}; new log:\n${srv.stderr().slice(offset)}`);
  return srv.stderr().slice(offset).split('\n').find((l) => re.test(l));
}

test('a Lua error in a handler is logged in one line with main.lua:<line>; that socket and the others keep working', async (t) => {
  const a = await connected(srv, '/', { t });
  const b = await connected(srv, '/', { t });
  const off = srv.stderr().length;
  a.emit('crash');
  const line = await logMatch(off, /deliberate failure in a handler/);
  assert.ok(line.includes(`main.lua:${lineOf('deliberate failure in a handler')}`), `log line: ${line}`);
  assert.match(line, /\berror\b/);
  // The handler it names is the app's listener, where it is defined.
  const named = /lua error in function defined at \S*main\.lua:(\d+): /.exec(line);
  assert.equal(named?.[1], String(lineOf('socket:on("crash", function()')), `log line: ${line}`);
  assert.deepEqual(await ask(a, 'echo', 'a after crash'), ['a after crash']);
  assert.deepEqual(await ask(b, 'echo', 'b after crash'), ['b after crash']);
  assert.equal(a.connected, true);
});

test('a Lua error after a sio.sleep in a handler is logged with its line; the socket keeps working', async (t) => {
  const a = await connected(srv, '/', { t });
  const off = srv.stderr().length;
  a.emit('crash-after-sleep');
  const line = await logMatch(off, /deliberate failure after a sleep/);
  assert.ok(line.includes(`main.lua:${lineOf('deliberate failure after a sleep')}`), `log line: ${line}`);
  assert.deepEqual(await ask(a, 'echo', 1), [1]);
});

test('a Lua error in a timer callback is logged with its line; the server keeps serving', async (t) => {
  const a = await connected(srv, '/', { t });
  const off = srv.stderr().length;
  await ask(a, 'crash-in-timer');
  const line = await logMatch(off, /deliberate failure in a timer/);
  assert.ok(line.includes(`main.lua:${lineOf('deliberate failure in a timer')}`), `log line: ${line}`);
  assert.deepEqual(await ask(a, 'echo', 2), [2]);
});

test('error() with a non-string value is logged and the socket keeps working', async (t) => {
  const a = await connected(srv, '/', { t });
  const off = srv.stderr().length;
  a.emit('crash-with-table');
  assert.deepEqual(await ask(a, 'echo', 3), [3]);
  await until(() => srv.stderr().length > off, { timeoutMs: 2000 });
  assert.ok(srv.stderr().length > off, 'nothing was logged for error({code = 42})');
  assert.equal(srv.proc.exitCode, null);
});

test('set_timeout runs the function once after the delay, with the extra arguments', async (t) => {
  const c = await connected(srv, '/', { t });
  const fired = collect(c, 'timer-fired');
  await ask(c, 'timeout', 100);
  await fired.wait(1);
  const [tag, n, elapsed] = fired[0];
  assert.equal(tag, 'tag-1');
  assert.equal(n, 7);
  assert.ok(elapsed >= 90 && elapsed < 1000, `fired after ${elapsed} ms`);
  await sleep(250);
  assert.equal(fired.length, 1, 'the timeout fired more than once');
});

test('a cancelled set_timeout never fires', async (t) => {
  const c = await connected(srv, '/', { t });
  const bad = collect(c, 'should-not-fire');
  const control = nextEvent(c, 'control-fired');
  await ask(c, 'cancelled-timeout');
  await control; // 150 ms: well after the cancelled 50 ms timer
  assert.deepEqual(bad, []);
});

test('set_interval ticks at its period until cancelled from inside, then never again', async (t) => {
  const c = await connected(srv, '/', { t });
  const ticks = collect(c, 'tick');
  const done = nextEvent(c, 'interval-done');
  await ask(c, 'interval', 40, 4);
  assert.deepEqual(await done, [4]);
  await sleep(200);
  assert.deepEqual(ticks.map((x) => x[0]), [1, 2, 3, 4]);
  const times = ticks.map((x) => x[1]);
  assert.ok(times[0] >= 30, `first tick after ${times[0]} ms`);
  assert.ok(times[3] >= 140, `fourth tick after ${times[3]} ms (period 40)`);
});

test('sio.sleep inside a handler waits, and other events of the same socket are handled meanwhile', async (t) => {
  const c = await connected(srv, '/', { t });
  const order = [];
  const slept = ask(c, 'sleep', 200).then(([ms]) => { order.push('sleep'); return ms; });
  const echoed = ask(c, 'echo', 'during sleep').then(([v]) => { order.push('echo'); return v; });
  assert.equal(await echoed, 'during sleep');
  const ms = await slept;
  assert.ok(ms >= 180 && ms < 1500, `slept ${ms} ms`);
  assert.deepEqual(order, ['echo', 'sleep']);
});

test('an event with two listeners: both run in order with the arguments and the ack; the last one waits, then acks', async (t) => {
  const c = await connected(srv, '/', { t });
  const [seen] = await ask(c, 'pair', 'x');
  assert.deepEqual(seen, ['first:x:function', 'second:x:function']);
});

test('values made in Lua go out with the exact JSON text: integers (64-bit) stay integers, floats, null, {} and []', async (t) => {
  const c = await connected(srv, '/', { t });
  const values = nextEvent(c, 'values');
  c.emit('make-values');
  await values;
  const raw = rawTexts(c).find((s) => s.startsWith('2["values"'));
  assert.equal(raw,
    '2["values",1,-1,0,1.5,-0.25,9223372036854775807,-9223372036854775808,true,false,null,"s",' +
    '{},[],[],[1,2,3],{"a":1},[1,null,3],{"list":["x"]}]');
});

test('a decoded JSON object keeps its key order when sent back', async (t) => {
  const c = await connected(srv, '/', { t });
  await ask(c, 'make-object-order');
  const raw = rawTexts(c).find((s) => /^3\d+\[/.test(s));
  assert.equal(raw.replace(/^3\d+/, ''), '[{"z":1,"a":2,"m":[3,{"y":4,"b":5}]}]');
});

test('arguments arrive with their JSON types: integers as integers, floats as floats, null as sio.json.null (never nil)', async (t) => {
  const c = await connected(srv, '/', { t });
  const [n, kinds] = await ask(c, 'kinds', 1, 1.5, 2 ** 53, -7, 1e20, null, 'x', true, {}, [], Buffer.from([1]));
  assert.equal(n, 11);
  assert.deepEqual(kinds, ['integer', 'float', 'integer', 'integer', 'float', 'null', 'string', 'boolean', 'table', 'table', 'binary']);
  assert.deepEqual(await ask(c, 'kinds', 1, null), [2, ['integer', 'null']]);
  assert.deepEqual(await ask(c, 'kinds', null, null, null), [3, ['null', 'null', 'null']]);
  assert.deepEqual(await ask(c, 'kinds'), [0, []]);
});

test('an array with a null hole keeps its length and the null sentinel in place', async (t) => {
  const c = await connected(srv, '/', { t });
  assert.deepEqual(await ask(c, 'array-holes', [1, null, 3.5]), [3, true, 'integer', 'float']);
});

test('integer arithmetic in Lua is exact past 2^53: 2^53 + 1 goes out as 9007199254740993', async (t) => {
  const c = await connected(srv, '/', { t });
  const [, , ta, tb] = await ask(c, 'arith', 2 ** 53, 2 ** 40);
  assert.equal(ta, 'integer');
  assert.equal(tb, 'integer');
  const raw = rawTexts(c).find((s) => /^3\d+\[/.test(s));
  assert.equal(raw.replace(/^3\d+/, ''), '[9007199254740993,2199023255552,"integer","integer"]');
});

test('sio.json.decode/encode round-trip exactly; bad input gives nil, err', async (t) => {
  const c = await connected(srv, '/', { t });
  for (const text of [
    '{"b":[1,2.5,{}],"a":[],"c":null,"d":-0.5,"e":"x/y"}',
    '[]', '{}', '[[]]', '[{}]', '[1,null,3]', 'null', '123', '"s"', '9223372036854775807',
  ]) {
    assert.deepEqual(await ask(c, 'json-roundtrip', text), [text], `round trip of ${text}`);
  }
  assert.deepEqual(await ask(c, 'json-bad', '{"a":'), [true, 'string']);
  assert.deepEqual(await ask(c, 'json-bad', '[1,]'), [true, 'string']);
});

test('require finds modules in the app directory (helper.lua and lib/util.lua)', async (t) => {
  const c = await connected(srv, '/', { t });
  assert.deepEqual(await ask(c, 'greet', 'ada'), ['hello ada from helper', 10]);
});

// Last: a crash or a sanitizer report anywhere in the run shows up here.
test('a socket kept in Lua after it has gone: its methods are harmless no-ops, its handle is closed and raises a clear error (never a dangling pointer)', async (t) => {
  const a = await connected(srv, '/', { t });
  await ask(a, 'keep-me');
  a.disconnect();
  const b = await connected(srv, '/', { t });
  let out;
  // The server frees the socket once the DISCONNECT is in.
  assert.ok(await until(async () => { [out] = await ask(b, 'probe-kept'); return out.connected === false; }, { timeoutMs: 3000 }));
  const { handle_join: handleJoin, handle_rooms: handleRooms, family_emit: familyEmit, ...rest } = out;
  assert.deepEqual(rest, {
    connected: false, disconnected: true, emit: true, join: true, leave: true, rooms: true,
    transport: 'closed', handle: 'socket handle (closed)', handle_emit: false,
  });
  assert.match(handleJoin, /^socket handle is closed/);
  assert.match(handleRooms, /^socket handle is closed/);
  assert.match(familyEmit, /namespace handle is closed/);
  assert.deepEqual(await ask(b, 'echo', 'still'), ['still']);
});

test('the server exits 0 on SIGTERM after the run, with no crash or sanitizer report', async () => {
  assert.deepEqual(await stopProblems(srv), []);
});
