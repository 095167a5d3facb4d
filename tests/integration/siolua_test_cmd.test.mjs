// `siolua test APP_DIR`: runs tests/apps/selftest (the Lua Socket.IO client
// against the app, in the app's own Lua state) and checks the report and the
// exit status; then the same app with one deliberately failing test.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import net from 'node:net';
import { runCli, makeTempDir, makeAppDir, SIOLUA_ROOT } from './lib/server.mjs';

const SELFTEST = join(SIOLUA_ROOT, 'tests/apps/selftest');
const SANITIZER = /(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:)[^\n]*/;

function lines(text) {
  return text.split('\n').filter((l) => l.trim() !== '');
}

function assertClean(r) {
  const m = SANITIZER.exec(r.stderr);
  assert.equal(m, null, `sanitizer report: ${m && m[0]}`);
}

test('siolua test on the selftest app: every test passes, exit 0', async () => {
  const r = await runCli(['test', SELFTEST], { timeoutMs: 60000 });
  assertClean(r);
  assert.equal(r.code, 0, `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  const out = lines(r.stdout);
  const last = out[out.length - 1];
  const m = /^(\d+) passed, 0 failed$/.exec(last);
  assert.ok(m, `last line: ${JSON.stringify(last)}`);
  const n = Number(m[1]);
  assert.ok(n >= 8, `only ${n} tests`);
  const results = out.slice(0, -1);
  assert.equal(results.length, n, `one line per test expected:\n${r.stdout}`);
  for (const l of results) assert.match(l, /^ok /);
});

test('siolua test with a failing test: FAIL line with file:line, exit 1', async () => {
  const dir = makeTempDir('siolua-selftest-');
  cpSync(SELFTEST, dir, { recursive: true });
  writeFileSync(join(dir, 'tests', 'zz_fail.lua'), [
    'local sio = require "siolua"',
    'local t = require "siolua.test"',
    't.test("sum is wrong on purpose", function()',
    '  local c = assert(sio.client(sio.test_url))',
    '  t.eq(c:emit_with_ack("sum", 2, 2), 5)',
    'end)',
    '',
  ].join('\n'));
  const r = await runCli(['test', dir], { timeoutMs: 60000 });
  assertClean(r);
  assert.equal(r.code, 1, `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  const out = lines(r.stdout);
  const fail = out.filter((l) => l.startsWith('FAIL '));
  assert.equal(fail.length, 1, r.stdout);
  assert.equal(fail[0], `FAIL sum is wrong on purpose: ${join(dir, 'tests', 'zz_fail.lua')}:5: expected 5, got 4`);
  assert.match(out[out.length - 1], /^\d+ passed, 1 failed$/);
  const passed = Number(/^(\d+)/.exec(out[out.length - 1])[1]);
  assert.equal(out.filter((l) => l.startsWith('ok ')).length, passed);
});

test('siolua test usage errors exit 2', async () => {
  let r = await runCli(['test']);
  assert.equal(r.code, 2, r.stderr);
  r = await runCli(['test', '/nonexistent/siolua-app']);
  assert.equal(r.code, 2, r.stderr);
  r = await runCli(['test', SELFTEST, '--bogus']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /bogus/);
});

// A TCP server on 127.0.0.1 that handles each connection with fn(socket).
async function rawServer(t, fn) {
  const srv = net.createServer(fn);
  await new Promise((resolve) => srv.listen(0, '127.0.0.1', resolve));
  t.after(() => srv.close());
  return srv.address().port;
}

test('the Lua client checks the upgrade answer: wrong Sec-WebSocket-Accept, 101 without Upgrade, silence', async (t) => {
  const wrongAccept = await rawServer(t, (sock) => sock.once('data', () => {
    sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Accept: c29tZXRoaW5nIGVsc2UgZW50aXJlbHk=\r\n\r\n');
  }));
  const noUpgrade = await rawServer(t, (sock) => sock.once('data', () => {
    sock.write('HTTP/1.1 101 Switching Protocols\r\nContent-Length: 0\r\n\r\n');
  }));
  const silent = await rawServer(t, () => {});
  const app = makeAppDir({
    'main.lua': '-- no server code needed\n',
    'tests/handshake.lua': [
      'local sio = require "siolua"',
      'local t = require "siolua.test"',
      'local function try(port, opts)',
      '  local c, err = sio.client("http://127.0.0.1:" .. port, opts)',
      '  t.eq(c, nil)',
      '  return err',
      'end',
      't.test("wrong accept", function()',
      `  local err = try(${wrongAccept})`,
      '  t.ok(err:find("Sec-WebSocket-Accept", 1, true), err)',
      'end)',
      't.test("101 without upgrade", function()',
      `  local err = try(${noUpgrade})`,
      '  t.ok(err:find("without Upgrade", 1, true), err)',
      'end)',
      't.test("silent server times out", function()',
      '  local started = sio.monotonic()',
      `  t.eq(try(${silent}, { timeout = 300 }), "timeout")`,
      '  t.ok(sio.monotonic() - started < 2000)',
      'end)',
      '',
    ].join('\n'),
  });
  const r = await runCli(['test', app], { timeoutMs: 30000 });
  assertClean(r);
  assert.equal(r.code, 0, `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`);
  assert.match(r.stdout, /^3 passed, 0 failed$/m);
});
