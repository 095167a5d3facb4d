// The command line: --help and --version, bad flags (exit 2 with a one-line
// error), and shutdown on SIGTERM/SIGINT (close packet to every session,
// exit 0).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  runCli, startServer, makeAppDir, eioHandshake, eioGet, SIOLUA_ROOT, sleep,
} from './lib/server.mjs';
import { openEio, openRawWs, wsUrl } from './lib/eio.mjs';
import { once } from './lib/server.mjs';

function projectVersion() {
  const cmake = readFileSync(join(SIOLUA_ROOT, 'CMakeLists.txt'), 'utf8');
  const m = /project\(\s*siolua\s+VERSION\s+([0-9][0-9.]*)/i.exec(cmake);
  assert.ok(m, 'no project VERSION in CMakeLists.txt');
  return m[1];
}

function assertOneLineError(r, what) {
  assert.equal(r.code, 2, `${what}: exit code ${r.code} (signal ${r.signal}); stderr: ${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  assert.equal(lines.length, 1, `${what}: expected one line on stderr, got ${lines.length}: ${JSON.stringify(r.stderr)}`);
  assert.ok(!/listening on/.test(r.stderr + r.stdout), `${what}: it started listening`);
  return lines[0];
}

test('--help exits 0 and prints usage naming the run command', async () => {
  const r = await runCli(['--help']);
  assert.equal(r.code, 0, `stderr: ${r.stderr}`);
  assert.match(r.stdout + r.stderr, /\brun\b/);
  assert.match(r.stdout + r.stderr, /--port/);
});

test('--version exits 0 and prints the CMake project version', async () => {
  const r = await runCli(['--version']);
  assert.equal(r.code, 0, `stderr: ${r.stderr}`);
  assert.ok((r.stdout + r.stderr).includes(projectVersion()), `output: ${JSON.stringify(r.stdout + r.stderr)}`);
});

test('an unknown flag exits 2 with a one-line error', async () => {
  const line = assertOneLineError(await runCli(['run', makeAppDir(), '--port', '0', '--bogus-flag']), '--bogus-flag');
  assert.match(line, /bogus-flag/);
});

test('a missing app dir exits 2 with a one-line error naming it', async () => {
  const missing = '/nonexistent/siolua-app-dir';
  const line = assertOneLineError(await runCli(['run', missing, '--port', '0']), 'missing app dir');
  assert.ok(line.includes(missing), `error does not name the path: ${line}`);
});

test('an unknown command exits 2 with a one-line error', async () => {
  assertOneLineError(await runCli(['frobnicate']), 'unknown command');
});

test('a non-numeric --port exits 2 with a one-line error', async () => {
  assertOneLineError(await runCli(['run', makeAppDir(), '--port', 'eighty']), '--port eighty');
});

test('an unknown --log-level exits 2 with a one-line error', async () => {
  assertOneLineError(await runCli(['run', makeAppDir(), '--port', '0', '--log-level', 'loud']), '--log-level loud');
});

test('a --set without NAME=VALUE exits 2 with a one-line error', async () => {
  assertOneLineError(await runCli(['run', makeAppDir(), '--port', '0', '--set', 'pingInterval']), '--set pingInterval');
});

test('a bad --redis URL exits 2 with one line saying why; rediss:// names the missing TLS', async () => {
  let line = assertOneLineError(await runCli(['run', makeAppDir(), '--port', '0', '--redis', 'rediss://h:6380']), 'rediss');
  assert.match(line, /bad --redis URL: rediss:\/\/ is not supported \(hiredis 0\.14 has no TLS\)/);
  line = assertOneLineError(await runCli(['run', makeAppDir(), '--port', '0', '--redis', 'redis://h:99999']), 'bad port');
  assert.match(line, /bad --redis URL: .*bad port/);
  const r = await runCli(['emit', '--redis', 'rediss://h', 'ev']);
  assert.equal(r.code, 2);
  assert.match(r.stderr.split('\n')[0], /^siolua emit: bad --redis URL: rediss:\/\/ is not supported/);
});

test('SIGTERM with no client exits 0', async (t) => {
  const s = await startServer({ t });
  const r = await s.stop('SIGTERM');
  assert.deepEqual(r, { code: 0, signal: null }, s.stderr());
});

test('SIGTERM with a connected websocket client: the client gets close packet "1", then the process exits 0', async (t) => {
  const s = await startServer({ t, args: ['--eio-echo', '/engine.io/'] });
  const c = await openRawWs(wsUrl(s), { t });
  await c.waitFrames(1); // open
  c.ws.send('4before');
  await c.waitFrames(2);
  const r = await s.stop('SIGTERM');
  assert.deepEqual(r, { code: 0, signal: null }, s.stderr());
  assert.equal(await c.closesWithin(1000), true, 'websocket not closed by the shutdown');
  assert.deepEqual(c.frames.slice(2), [{ text: '1' }], `frames after the echo: ${JSON.stringify(c.frames.slice(2))}`);
});

test('SIGINT with a parked polling GET: the GET completes with close packet "1", then the process exits 0', async (t) => {
  const s = await startServer({ t, args: ['--eio-echo', '/engine.io/'] });
  const { sid } = await eioHandshake(s.url);
  const parked = eioGet(s.url, sid, { timeoutMs: 3000 });
  await sleep(50);
  const exited = s.stop('SIGINT');
  const g = await parked;
  assert.equal(g.status, 200);
  assert.equal(g.text, '1');
  assert.deepEqual(await exited, { code: 0, signal: null }, s.stderr());
});

test('SIGTERM with engine.io-client sessions on both transports: both see their socket close, the process exits 0', async (t) => {
  const s = await startServer({ t, args: ['--eio-echo', '/engine.io/'] });
  const a = await openEio(s, { t, transports: ['polling'] });
  const b = await openEio(s, { t, transports: ['websocket'] });
  const aClosed = once(a.socket, 'close', { timeoutMs: 3000 });
  const bClosed = once(b.socket, 'close', { timeoutMs: 3000 });
  const r = await s.stop('SIGTERM');
  assert.deepEqual(r, { code: 0, signal: null }, s.stderr());
  await aClosed;
  await bClosed;
});
