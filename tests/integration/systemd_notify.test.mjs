// The sd_notify(3) protocol as systemd sees it with Type=notify (the unit
// in docs/deploy/siolua@.service): READY=1 once listening, WATCHDOG=1 at
// half WATCHDOG_USEC, RELOADING=1 then READY=1 around a SIGHUP reload,
// STOPPING=1 on SIGTERM, every message from the main PID only (with
// --workers the workers stay silent). The socket is a test's own
// (lib/sd_notify.mjs); no systemd runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startServer, makeAppDir, request, sleep } from './lib/server.mjs';
import { startNotifySink } from './lib/sd_notify.mjs';

const HAVE_PY = (() => { try { execFileSync('python3', ['--version']); return true; } catch { return false; } })();
const skip = HAVE_PY ? false : 'python3 is not installed (it holds the notify socket)';

const APP = { 'main.lua': 'local sio = require "siolua"\nsio.server:on("connection", function(s) end)\n' };

const texts = (sink, from = 0) => sink.messages.slice(from).map((m) => m.text);

test('READY=1 after listening, WATCHDOG=1 periodically, RELOADING=1 then READY=1 on SIGHUP, STOPPING=1 on SIGTERM', { skip }, async (t) => {
  const sink = await startNotifySink(t);
  const srv = await startServer({ appDir: makeAppDir(APP), t, args: ['--no-reload'],
    env: { NOTIFY_SOCKET: sink.path, WATCHDOG_USEC: '200000' } });
  const ready = await sink.waitFor((m) => m.text.startsWith('READY=1'));
  assert.equal(ready.pid, srv.proc.pid);
  assert.match(ready.text, /STATUS=serving .* on http:\/\/127\.0\.0\.1:\d+/);
  // It was listening when it said so.
  assert.equal((await request(`${srv.url}/socket.io/?EIO=4&transport=polling`)).status, 200);
  assert.match(srv.stderr(), /watchdog every 100 ms \(WatchdogSec=200 ms\)/);

  const since = sink.messages.length;
  await sleep(650);
  const pings = texts(sink, since).filter((x) => x === 'WATCHDOG=1').length;
  assert.ok(pings >= 3 && pings <= 8, `WATCHDOG=1 about every 100 ms: ${pings} in 650 ms`);

  const beforeHup = sink.messages.length;
  srv.proc.kill('SIGHUP');
  const reloading = await sink.waitFor((m) => m.text.startsWith('RELOADING=1'), { from: beforeHup });
  assert.match(reloading.text, /MONOTONIC_USEC=\d+/);
  const readyAgain = await sink.waitFor((m) => m.text.startsWith('READY=1'), { from: beforeHup });
  assert.ok(sink.messages.indexOf(readyAgain) > sink.messages.indexOf(reloading), 'READY=1 after RELOADING=1');
  assert.match(srv.stderr(), /reloaded/);

  const beforeTerm = sink.messages.length;
  const exit = srv.stop('SIGTERM');
  await sink.waitFor((m) => m.text === 'STOPPING=1', { from: beforeTerm });
  assert.deepEqual(await exit, { code: 0, signal: null });
  assert.ok(sink.messages.every((m) => m.pid === srv.proc.pid), 'every message from the main PID');
});

test('no WATCHDOG_USEC: no watchdog pings; WATCHDOG_PID of another process: none either', { skip }, async (t) => {
  for (const env of [{}, { WATCHDOG_USEC: '100000', WATCHDOG_PID: '1' }]) {
    const sink = await startNotifySink(t);
    const srv = await startServer({ appDir: makeAppDir(APP), t, args: ['--no-reload'],
      env: { NOTIFY_SOCKET: sink.path, ...env } });
    await sink.waitFor((m) => m.text.startsWith('READY=1'));
    await sleep(300);
    assert.deepEqual(texts(sink).filter((x) => x === 'WATCHDOG=1'), [], JSON.stringify(env));
    await srv.stop();
  }
});

test('with --workers 2 the supervisor says READY=1 once every worker serves, and workers never notify', { skip }, async (t) => {
  const sink = await startNotifySink(t);
  const srv = await startServer({ appDir: makeAppDir(APP), t, args: ['--no-reload', '--workers', '2'],
    env: { NOTIFY_SOCKET: sink.path, WATCHDOG_USEC: '400000' } });
  const ready = await sink.waitFor((m) => m.text.startsWith('READY=1'));
  assert.match(ready.text, /STATUS=serving .* with 2 workers/);
  // Both workers had said they serve before the supervisor's READY=1.
  assert.equal((srv.stderr().match(/worker \d \(pid \d+\) serving/g) || []).length, 2);
  const beforeHup = sink.messages.length;
  srv.proc.kill('SIGHUP');
  await sink.waitFor((m) => m.text.startsWith('RELOADING=1'), { from: beforeHup });
  await sink.waitFor((m) => m.text.startsWith('READY=1'), { from: beforeHup });
  await sleep(300);
  const beforeTerm = sink.messages.length;
  const exit = srv.stop('SIGTERM');
  await sink.waitFor((m) => m.text === 'STOPPING=1', { from: beforeTerm });
  assert.deepEqual(await exit, { code: 0, signal: null });
  const pids = new Set(sink.messages.map((m) => m.pid));
  assert.deepEqual([...pids], [srv.proc.pid], `only the supervisor notified: ${JSON.stringify(sink.messages)}`);
  assert.ok(texts(sink).includes('WATCHDOG=1'), 'the supervisor pings the watchdog');
});

test('no NOTIFY_SOCKET: nothing about systemd in the log', async (t) => {
  const srv = await startServer({ appDir: makeAppDir(APP), t, args: ['--no-reload'], env: { NOTIFY_SOCKET: '' } });
  await srv.stop();
  assert.doesNotMatch(srv.stderr(), /systemd/);
});
