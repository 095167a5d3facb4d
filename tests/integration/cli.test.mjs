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

test('a bad --redis URL exits 2 with one line saying why (a cluster with a db, a CA file that is not there)', async () => {
  let line = assertOneLineError(await runCli(['run', makeAppDir(), '--port', '0', '--redis', 'redis://h:99999']), 'bad port');
  assert.match(line, /bad --redis URL: .*bad port/);
  line = assertOneLineError(await runCli(['run', makeAppDir(), '--port', '0', '--redis', 'redis://a:1,b:2/3']), 'database');
  assert.match(line, /bad --redis URL: .*a Redis Cluster has database 0 only/);
  line = assertOneLineError(await runCli(['run', makeAppDir(), '--port', '0', '--redis', 'rediss://h?ca=/nonexistent/ca.pem']),
    'CA file');
  assert.match(line, /bad --redis URL: cannot read CA file \/nonexistent\/ca\.pem: No such file or directory/);
  // redisCluster (--set or sio.configure) is checked against the URL when the adapter starts.
  let r = await runCli(['run', makeAppDir(), '--port', '0', '--no-reload', '--redis', 'redis://127.0.0.1:1,127.0.0.1:2',
    '--set', 'redisCluster=false']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /redisCluster=false, but redis:\/\/127\.0\.0\.1:1,127\.0\.0\.1:2 names several hosts/);
  r = await runCli(['run', makeAppDir(), '--port', '0', '--no-reload', '--redis', 'redis://127.0.0.1:1/2',
    '--set', 'redisCluster=true']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /a Redis Cluster has database 0 only/);
  r = await runCli(['emit', '--redis', 'redis://h?ca=/ca.pem', 'ev']);
  assert.equal(r.code, 2);
  assert.match(r.stderr.split('\n')[0], /^siolua emit: bad --redis URL: .*ca=, cert= and key= need rediss:\/\//);
  r = await runCli(['emit', '--redis', 'rediss://h?ca=/nonexistent/ca.pem', 'ev']);
  assert.equal(r.code, 2);
  assert.match(r.stderr.split('\n')[0], /^siolua emit: bad --redis URL: cannot read CA file/);
  // A Redis that can't be reached: the first failure ends it, saying why.
  const start = Date.now();
  r = await runCli(['emit', '--redis', 'redis://127.0.0.1:1', 'ev']);
  assert.equal(r.code, 1);
  assert.equal(r.stderr, 'siolua emit: cannot reach redis (cannot connect to 127.0.0.1:1: connection refused)\n');
  assert.ok(Date.now() - start < 3000, `took ${Date.now() - start} ms`);
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

// ---------------------------------------------------------------------------
// Options: one typed table gives --help its list and the errors their words.

test('--set with an unknown option name says it is unknown, naming it and the option it most likely meant', async () => {
  let line = assertOneLineError(await runCli(['run', makeAppDir(), '--port', '0', '--set', 'pingIntervall=3000']), 'unknown option');
  assert.equal(line, "siolua: unknown option 'pingIntervall'; did you mean pingInterval? (see siolua --help)");
  line = assertOneLineError(await runCli(['run', makeAppDir(), '--port', '0', '--set', 'nothingLikeIt=1']), 'unknown option');
  assert.equal(line, "siolua: unknown option 'nothingLikeIt' (see siolua --help)");
});

test('siolua emit says what is wrong, and --help describes every flag, --key included', async () => {
  const help = await runCli(['emit', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--key PREFIX +the channel prefix the servers use: their redisKey/);
  const bad = await runCli(['emit', '--redis', 'redis://127.0.0.1:1', '--bogus', 'ev']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^siolua emit: unknown option '--bogus'\n/);
  const missing = await runCli(['emit', '--redis', 'redis://127.0.0.1:1', 'ev', '--key']);
  assert.match(missing.stderr, /^siolua emit: --key needs a value\n/);
  const general = await runCli(['--help']);
  assert.match(general.stdout, /siolua emit --redis URL .*\n.*\[--key PREFIX\] EVENT/);
});

test('--set with a bad value names the value, the option and what it expects', async () => {
  let line = assertOneLineError(await runCli(['run', makeAppDir(), '--port', '0', '--set', 'pingInterval=abc']), 'bad value');
  assert.equal(line, "siolua: bad value 'abc' for pingInterval: expected an integer from 1 to 2147483647 (see siolua --help)");
  line = assertOneLineError(await runCli(['run', makeAppDir(), '--port', '0', '--set', 'pingInterval=0']), 'out of range');
  assert.match(line, /^siolua: bad value '0' for pingInterval: expected an integer from 1 to 2147483647/);
  line = assertOneLineError(await runCli(['run', makeAppDir(), '--port', '0', '--set', 'allowUpgrades=yes']), 'bool');
  assert.match(line, /^siolua: bad value 'yes' for allowUpgrades: expected true or false/);
  line = assertOneLineError(await runCli(['run', makeAppDir(), '--port', '0', '--set', 'redisAdapter=fast']), 'enum');
  assert.match(line, /^siolua: bad value 'fast' for redisAdapter: expected one of classic, sharded/);
  line = assertOneLineError(await runCli(['run', makeAppDir(), '--port', '0', '--set', 'transports=polling,carrier-pigeon']), 'list');
  assert.match(line, /^siolua: bad value 'polling,carrier-pigeon' for transports: expected a comma list of polling, websocket/);
});

test('siolua run APP --bogus (a last flag with no value) says the option is unknown', async () => {
  const line = assertOneLineError(await runCli(['run', makeAppDir(), '--bogus']), '--bogus');
  assert.equal(line, "siolua: unknown option '--bogus' (see siolua --help)");
});

test('siolua test refuses an option of siolua run only, naming where it is set', async () => {
  const line = assertOneLineError(await runCli(['test', makeAppDir(), '--set', 'clusterAddress=10.0.0.5:3000']), 'where');
  assert.equal(line, "siolua: option 'clusterAddress' is set with siolua run --set only (see siolua test --help)");
});

test('--help lists every server option with its type, range and default', async () => {
  const r = await runCli(['--help']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /\n {2}pingInterval +ms, 1 to 2147483647; default 25000\n/);
  assert.match(r.stdout, /\n {2}transports +list of polling,websocket; default polling,websocket\n/);
  assert.match(r.stdout, /\n {2}redisAdapter +classic\|sharded; default classic\n[^\n]+\n +\(siolua run --set or sio\.configure only\)\n/);
  for (const name of ['path', 'pingTimeout', 'upgradeTimeout', 'maxHttpBufferSize', 'allowUpgrades', 'cors.origin',
    'cors.methods', 'cors.credentials', 'cookie', 'allowEIO3', 'connectTimeout', 'connectionStateRecovery',
    'serveClient', 'httpHeaderTimeout', 'keepAliveTimeout', 'luaTimeLimit', 'luaInstructionBudget', 'luaMemoryLimit',
    'clusterAddress', 'redisSubscriptionMode', 'requestsTimeout', 'redisKey', 'parser']) {
    assert.match(r.stdout, new RegExp(`\\n  ${name.replace('.', '\\.')} +\\S.*; default `), name);
  }
  for (const l of r.stdout.split('\n').filter((x) => /^ {2}[a-zA-Z]/.test(x))) {
    assert.ok(l.length <= 80, `help line over 80 columns: ${l}`);
  }
  const t = await runCli(['test', '--help']);
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, /\n {2}pingInterval +ms/);
  assert.doesNotMatch(t.stdout, /clusterAddress|redisKey/);
});

test('sio.configure errors point at the line of main.lua (or of the module) that called it', async () => {
  const cases = [
    [{ 'main.lua': 'local sio = require "siolua"\n\nsio.configure { pingInterval = "soon" }\n' },
      /main\.lua:3: sio\.configure: bad value 'soon' for pingInterval: expected an integer from 1 to 2147483647/],
    [{ 'main.lua': 'local sio = require "siolua"\nsio.configure { pingIntervall = 1000 }\n' },
      /main\.lua:2: sio\.configure: unknown option 'pingIntervall'/],
    [{ 'main.lua': 'require("siolua").configure { cors = { credentials = "maybe" } }\n' },
      /main\.lua:1: sio\.configure: bad value 'maybe' for cors\.credentials: expected true or false/],
    [{ 'main.lua': 'require "settings"\n', 'settings.lua': 'local sio = require "siolua"\n\n\nsio.configure { transports = { "smoke" } }\n' },
      /settings\.lua:4: sio\.configure: bad value 'smoke' for transports/],
    [{ 'main.lua': 'local sio = require "siolua"\nsio.configure { clusterAddress = "10.0.0.5:3000" }\n' },
      /main\.lua:2: sio\.configure: option 'clusterAddress' is set with siolua run --set only/],
    [{ 'main.lua': 'local sio = require "siolua"\nsio.configure { pingInterval = print }\n' },
      /main\.lua:2: sio\.configure: bad value for pingInterval: expected an integer/],
  ];
  for (const [files, want] of cases) {
    const r = await runCli(['run', makeAppDir(files), '--port', '0', '--no-reload']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, want);
    assert.ok(!/listening on/.test(r.stderr), r.stderr);
  }
});

test('the command line wins over sio.configure, which wins over the defaults', async (t) => {
  const appDir = makeAppDir({ 'main.lua': 'local sio = require "siolua"\nsio.configure { pingInterval = 1111, pingTimeout = 2222 }\n' });
  const s = await startServer({ appDir, t, args: ['--no-reload', '--set', 'pingInterval=3333'] });
  const { handshake } = await eioHandshake(s.url, { path: '/socket.io/' });
  assert.equal(handshake.pingInterval, 3333);
  assert.equal(handshake.pingTimeout, 2222);
  assert.equal(handshake.maxPayload, 1000000);
});
