// The apps' own Lua tests, run by `siolua test`: apps/chat/tests/*.lua and
// apps/notify/tests/*.lua (the latter in production mode, NOTIFY_SECRET and
// NOTIFY_API_KEY set, and in development mode, both unset). Each run must
// exit 0 with one "ok" line per registered test and "N passed, 0 failed",
// no Lua error in the log; and a copy of each app with a deliberate bug
// must make its Lua tests fail (exit 1, FAIL lines naming the test file).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, makeTempDir, SIOLUA_ROOT } from './lib/server.mjs';
import { errorLines } from './lib/sio.mjs';

const CHAT = join(SIOLUA_ROOT, 'apps', 'chat');
const NOTIFY = join(SIOLUA_ROOT, 'apps', 'notify');
const PROD = { NOTIFY_SECRET: 'lua-tests-secret-0123456789', NOTIFY_API_KEY: 'lua-tests-key' };
const DEV = { NOTIFY_SECRET: '', NOTIFY_API_KEY: '' };
const SANITIZER = /(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:)[^\n]*/;

// How many tests the files in APP/tests/ register (one `t.test(` per test,
// at the start of a line).
function registered(appDir) {
  const dir = join(appDir, 'tests');
  let n = 0;
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.lua'))) {
    n += (readFileSync(join(dir, f), 'utf8').match(/^t\.test\(/gm) || []).length;
  }
  return n;
}

const lines = (text) => text.split('\n').filter((l) => l.trim() !== '');

async function siotest(appDir, env = {}) {
  const r = await runCli(['test', appDir], { timeoutMs: 120000, env });
  const m = SANITIZER.exec(r.stderr);
  assert.equal(m, null, `sanitizer report: ${m && m[0]}`);
  return r;
}

function assertAllPassed(r, appDir) {
  const show = `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
  assert.equal(r.code, 0, show);
  const out = lines(r.stdout);
  const n = registered(appDir);
  assert.ok(n >= 4, `only ${n} tests registered in ${appDir}/tests`);
  assert.equal(out.at(-1), `${n} passed, 0 failed`, show);
  assert.equal(out.length, n + 1, `one line per test:\n${r.stdout}`);
  for (const l of out.slice(0, -1)) assert.match(l, /^ok /);
  assert.deepEqual(errorLines(r.stderr), [], r.stderr);
  return n;
}

test('siolua test apps/chat: every Lua test passes, exit 0', async () => {
  const r = await siotest(CHAT);
  const n = assertAllPassed(r, CHAT);
  assert.ok(n >= 15, `${n} tests`);
  assert.match(r.stdout, /^ok \/msg NAME TEXT reaches every tab of NAME/m);
});

test('siolua test apps/notify with NOTIFY_SECRET and NOTIFY_API_KEY: every Lua test passes, exit 0, no development-mode warning', async () => {
  const r = await siotest(NOTIFY, PROD);
  assertAllPassed(r, NOTIFY);
  assert.doesNotMatch(r.stderr, /NOTIFY_SECRET is not set/);
});

test('siolua test apps/notify in development mode (no NOTIFY_SECRET): every Lua test passes, exit 0', async () => {
  const r = await siotest(NOTIFY, DEV);
  assertAllPassed(r, NOTIFY);
  assert.match(r.stderr, /NOTIFY_SECRET is not set: using a development secret/);
});

// A copy of appDir with `from` replaced by `to` in file rel.
function brokenCopy(appDir, rel, from, to) {
  const dir = makeTempDir('siolua-broken-app-');
  cpSync(appDir, dir, { recursive: true });
  const p = join(dir, rel);
  const text = readFileSync(p, 'utf8');
  assert.ok(text.includes(from), `${rel} no longer contains ${JSON.stringify(from)}`);
  writeFileSync(p, text.replace(from, to));
  return dir;
}

function assertSomeFailed(r, dir, expectFail) {
  const show = `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
  assert.equal(r.code, 1, show);
  const out = lines(r.stdout);
  const m = /^(\d+) passed, (\d+) failed$/.exec(out.at(-1));
  assert.ok(m && Number(m[2]) >= 1, show);
  const fails = out.filter((l) => l.startsWith('FAIL '));
  assert.equal(fails.length, Number(m[2]), show);
  for (const l of fails) assert.ok(l.includes(join(dir, 'tests')), `FAIL line names a test file: ${l}`);
  assert.ok(fails.some((l) => l.startsWith(`FAIL ${expectFail}`)), show);
}

test('the chat Lua tests catch a bug: a copy of apps/chat whose whispers go to the sender\'s own tabs only fails them', async () => {
  const dir = brokenCopy(CHAT, 'chat/actions.lua',
    'local target = names.user_room(to)', 'local target = names.user_room(d.user)');
  const r = await siotest(dir);
  assertSomeFailed(r, dir, '/msg NAME TEXT reaches every tab of NAME');
});

test('the chat Lua tests catch a bug: a copy of apps/chat whose user rooms are case-sensitive (ALICE next to alice) fails them', async () => {
  const dir = brokenCopy(CHAT, 'chat/names.lua',
    'function names.user_room(user) return "user:" .. names.key(user) end',
    'function names.user_room(user) return "user:" .. user end');
  const r = await siotest(dir);
  assertSomeFailed(r, dir, 'a taken name is refused as name_taken in any letter case');
});

test('the chat Lua tests catch a bug: a copy of apps/chat that reads look-alike letters as themselves fails them', async () => {
  const dir = brokenCopy(CHAT, 'chat/names.lua',
    'out[#out + 1] = LOOKALIKE[cp] or utf8.char(cp)', 'out[#out + 1] = utf8.char(cp)');
  const r = await siotest(dir);
  assertSomeFailed(r, dir, 'while Bob is online, BOB, bob and an all-Cyrillic or all-Greek look-alike are taken');
});

test('the chat Lua tests catch a bug: a copy of apps/chat whose demo takes any name fails them', async () => {
  const dir = brokenCopy(CHAT, 'chat/demo.lua',
    'local username = names.user(name)', 'local username = type(name) == "string" and name');
  const r = await siotest(dir);
  assertSomeFailed(r, dir, "the demo's add user takes the same names");
});

test('the notify Lua tests catch a bug: a copy of apps/notify that lets expired tokens in fails them', async () => {
  const dir = brokenCopy(NOTIFY, 'notify/auth.lua',
    'local claims, why = jwt.verify(token, auth.secret)',
    'local claims, why = jwt.verify(token, auth.secret, { leeway = 10 ^ 9 })');
  const r = await siotest(dir, PROD);
  assertSomeFailed(r, dir, 'refusals: Authentication error with the reason');
});

test('the notify Lua tests catch a bug: a copy of apps/notify that puts every socket in one room fails them', async () => {
  const dir = brokenCopy(NOTIFY, 'main.lua',
    'socket:join("user:" .. socket.data.user)', 'socket:join("user:42")');
  const r = await siotest(dir, PROD);
  assertSomeFailed(r, dir, 'a notification to a user reaches each of its tabs once');
});
