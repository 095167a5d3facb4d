// Configuration from a file (siolua run APP --config FILE, a Lua table) and
// from SIOLUA_* environment variables, in one precedence: flags >
// environment > file > sio.configure > defaults, each level shown
// overriding the next; bad files (syntax, unknown key, bad value) refused
// with the file's name; --check on good and bad apps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, startServer, makeAppDir, makeTempDir, request, eioHandshake, until } from './lib/server.mjs';
import { freePort, startRedis, redisClient, SKIP as NO_REDIS } from './lib/cluster.mjs';
import { connected } from './lib/sio.mjs';
import { openRawWs, wsUrl } from './lib/eio.mjs';

// An app whose sio.configure sets pingInterval (the level just above the
// default) and which answers "redis" with sio.redis's PING (its default URL
// is SIOLUA_REDIS_URL's).
const APP = {
  'main.lua': `local sio = require "siolua"
sio.configure { pingInterval = 21000 }
sio.server:on("connection", function(socket)
  socket:on("redis", function(done)
    local r, err = sio.redis.call("PING")
    done(r or err)
  end)
end)
`,
};

function configFile(text) {
  const dir = makeTempDir('siolua-conf-');
  const path = join(dir, 'siolua.lua');
  writeFileSync(path, text);
  return path;
}

async function pingInterval(srv) {
  return (await eioHandshake(srv.url, { path: '/socket.io/' })).handshake.pingInterval;
}

// Clean of any SIOLUA_* the test process itself might carry.
const BASE_ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('SIOLUA_')));

function start(t, { args = [], env = {}, bind = false } = {}) {
  return startServer({ appDir: makeAppDir(APP), t, args: ['--no-reload', ...args], env: { ...BASE_ENV, ...env }, replaceEnv: true, bind });
}

test('options: a --set flag beats the file, which beats sio.configure, which beats the default', async (t) => {
  const none = await startServer({ appDir: makeAppDir({ 'main.lua': 'local sio = require "siolua"\n' }), t });
  assert.equal(await pingInterval(none), 25000, 'the default');
  const byApp = await start(t, { bind: true });
  assert.equal(await pingInterval(byApp), 21000, 'sio.configure over the default');
  const file = configFile('return { options = { pingInterval = 22000 } }\n');
  const byFile = await start(t, { bind: true, args: ['--config', file] });
  assert.equal(await pingInterval(byFile), 22000, 'the file over sio.configure');
  const byFlag = await start(t, { bind: true, args: ['--config', file, '--set', 'pingInterval=24000'] });
  assert.equal(await pingInterval(byFlag), 24000, 'a flag over the file');
  // Nested tables and lists read as sio.configure reads them.
  const nested = configFile(`return { options = { cors = { origin = "https://a.example" }, transports = { "polling" },
    connectionStateRecovery = { maxDisconnectionDuration = 5000 } } }\n`);
  const srv = await start(t, { bind: true, args: ['--config', nested] });
  const pre = await request(`${srv.url}/socket.io/?EIO=4&transport=polling`, { method: 'OPTIONS', headers: { Origin: 'https://a.example' } });
  assert.equal(pre.headers['access-control-allow-origin'], 'https://a.example');
  assert.deepEqual((await eioHandshake(srv.url, { path: '/socket.io/' })).handshake.upgrades, []);
});

test('a section given as a table in the file turns on, and stays on after sio.configure (perMessageDeflate = {...})', async (t) => {
  const file = configFile('return { options = { perMessageDeflate = { threshold = 0 } } }\n');
  const off = await start(t, { bind: true });
  const on = await start(t, { bind: true, args: ['--config', file] });
  for (const [srv, want] of [[off, ''], [on, 'permessage-deflate']]) {
    const { ws } = await openRawWs(wsUrl(srv, {}, '/socket.io/'), { t, perMessageDeflate: true });
    assert.equal(ws.extensions.split(';')[0], want);
    ws.terminate();
  }
});

test('port and host: a flag beats SIOLUA_PORT, which beats the file', async (t) => {
  const [pFile, pEnv, pFlag] = [await freePort(), await freePort(), await freePort()];
  const file = configFile(`return { port = ${pFile}, host = "127.0.0.1" }\n`);
  const a = await start(t, { args: ['--config', file] });
  assert.equal(a.port, pFile);
  assert.match(a.stderr(), new RegExp(`listening on http://127\\.0\\.0\\.1:${pFile}`));
  const b = await start(t, { args: ['--config', file], env: { SIOLUA_PORT: String(pEnv) } });
  assert.equal(b.port, pEnv);
  const c = await start(t, { args: ['--config', file, '--port', String(pFlag)], env: { SIOLUA_PORT: String(pEnv) } });
  assert.equal(c.port, pFlag);
  // SIOLUA_HOST beats the file's host too.
  const d = await start(t, { env: { SIOLUA_PORT: '0', SIOLUA_HOST: '127.0.0.1' } });
  assert.match(d.stderr(), /listening on http:\/\/127\.0\.0\.1:\d+/);
});

test('log level and format: flag > SIOLUA_LOG_LEVEL / SIOLUA_LOG_FORMAT > file', async (t) => {
  const file = configFile('return { host = "127.0.0.1", port = 0, logLevel = "debug", logFormat = "json" }\n');
  const a = await start(t, { args: ['--config', file] });
  await connected(a, '/', { t });
  await a.stop();
  assert.match(a.stderr(), /^\{"ts":"[^"]+","level":"debug"/m, 'debug lines, as JSON, from the file');
  const env = { SIOLUA_LOG_LEVEL: 'info', SIOLUA_LOG_FORMAT: 'text' };
  const b = await start(t, { args: ['--config', file], env });
  await connected(b, '/', { t });
  await b.stop();
  assert.match(b.stderr(), /info {2}\[main\] siolua .* serving/, 'text, from the environment');
  assert.doesNotMatch(b.stderr(), /debug|"level"/, 'the environment over the file');
  const c = await start(t, { args: ['--config', file, '--log-level', 'debug', '--log-format', 'json'], env });
  await connected(c, '/', { t });
  await c.stop();
  assert.match(c.stderr(), /^\{"ts":"[^"]+","level":"debug"/m, 'the flags over the environment');
});

test('workers from the file, and SIOLUA_WORKERS over it', { timeout: 60000 }, async (t) => {
  const file = configFile('return { host = "127.0.0.1", port = 0, workers = 2 }\n');
  const a = await start(t, { args: ['--config', file] });
  assert.match(a.stderr(), /serving .* with 2 workers/);
  await a.stop();
  const b = await start(t, { args: ['--config', file], env: { SIOLUA_WORKERS: '1' } });
  assert.match(b.stderr(), /serving .* with 1 workers/);
  await b.stop();
});

test('SIOLUA_REDIS_URL: the adapter joins that Redis and sio.redis still defaults to it', { skip: NO_REDIS }, async (t) => {
  const redis = await startRedis(t);
  const srv = await start(t, { bind: true, env: { SIOLUA_REDIS_URL: redis.url } });
  const c = await redisClient(redis);
  let subs;
  try {
    for (let i = 0; i < 200; i++) {
      subs = (await c.pubSubNumSub(['socket.io-request#/#']))['socket.io-request#/#'];
      if (subs === 1) break;
      await new Promise((r) => setTimeout(r, 25));
    }
  } finally {
    await c.quit(); // before Redis goes (t.after stops it)
  }
  assert.equal(subs, 1, 'the adapter subscribed');
  const s = await connected(srv, '/', { t });
  assert.equal(await s.emitWithAck('redis'), 'PONG');
});

test('reload = false in the file is --no-reload; os.getenv reads a secret from the environment', async (t) => {
  const file = configFile('return { host = "127.0.0.1", port = 0, reload = false, options = { metrics = "/m", metricsToken = os.getenv("TOKEN") } }\n');
  const watched = configFile('return { host = "127.0.0.1", port = 0 }\n');
  const env = { ...BASE_ENV, TOKEN: 'from-env' };
  const srv = await startServer({ appDir: makeAppDir(APP), t, args: ['--config', file], env, replaceEnv: true, bind: false });
  const control = await startServer({ appDir: makeAppDir(APP), t, args: ['--config', watched], env, replaceEnv: true, bind: false });
  for (const s of [srv, control]) writeFileSync(join(s.appDir, 'main.lua'), `${APP['main.lua']}-- edited\n`);
  await until(() => /reloaded/.test(control.stderr()), { timeoutMs: 5000 });
  assert.match(control.stderr(), /reloaded/, 'a watched app reloads by itself');
  assert.doesNotMatch(srv.stderr(), /reloaded/, 'reload = false: not watched');
  assert.equal((await request(`${srv.url}/m`)).status, 401);
  assert.equal((await request(`${srv.url}/m`, { headers: { Authorization: 'Bearer from-env' } })).status, 200);
});

function assertRefused(r, what, re) {
  assert.equal(r.code, 2, `${what}: exit ${r.code}; stderr: ${r.stderr}`);
  const lines = r.stderr.split('\n').filter((l) => l.trim());
  assert.equal(lines.length, 1, `${what}: one line, got: ${r.stderr}`);
  assert.match(lines[0], re, what);
  assert.doesNotMatch(r.stderr, /listening/);
}

test('a bad file is refused with its name and the reason (exit 2)', async () => {
  const app = makeAppDir(APP);
  const cases = [
    ['return {\n  port = 3000\n  host = "x",\n}\n', /siolua\.lua:3: '}' expected \(to close '\{' at line 1\) near 'host'/],
    ['return { prot = 3000 }\n', /siolua\.lua: unknown key 'prot' \(known: port, host, redis, workers/],
    ['return { pingInterval = 1000 }\n', /siolua\.lua: unknown key 'pingInterval' \(server options go in options = \{ \.\.\. \}\)/],
    ['return { options = { pingIntervall = 1000 } }\n', /siolua\.lua: options\.pingIntervall: unknown option 'pingIntervall'/],
    ['return { options = { pingInterval = "soon" } }\n', /siolua\.lua: options\.pingInterval: bad value 'soon' for pingInterval: expected an integer from 1 to 2147483647/],
    ['return { port = "eighty" }\n', /siolua\.lua: port: bad port 'eighty'/],
    ['return { workers = 0 }\n', /siolua\.lua: workers: bad --workers '0' \(1 to 256, or auto\)/],
    ['return { redis = "redis://a:1,b:2/3" }\n', /siolua\.lua: redis: bad --redis URL: .*a Redis Cluster has database 0 only/],
    ['return { reload = "no" }\n', /siolua\.lua: reload: bad value 'no': expected true or false/],
    ['return { options = { transports = { {} } } }\n', /siolua\.lua: options\.transports: no text form/],
    ['return 42\n', /siolua\.lua: must return a table \(it returned number\)/],
    ['return { [1] = 2 }\n', /siolua\.lua: keys must be names \(found a number key\)/],
    ['while true do end\n', /siolua\.lua: took more than 10000000 instructions/],
    ['return { port = io.open("/etc/passwd") }\n', /siolua\.lua:1: attempt to index a nil value \(global 'io'\)/],
  ];
  for (const [text, re] of cases) {
    const file = configFile(text);
    assertRefused(await runCli(['run', app, '--config', file], { env: BASE_ENV }), text, re);
  }
  assertRefused(await runCli(['run', app, '--config', '/nonexistent/siolua.lua']), 'missing file',
    /cannot open \/nonexistent\/siolua\.lua: No such file or directory/);
  assertRefused(await runCli(['run', app], { env: { SIOLUA_PORT: 'x' } }), 'bad SIOLUA_PORT', /SIOLUA_PORT: bad port 'x'/);
  assertRefused(await runCli(['run', app], { env: { SIOLUA_LOG_FORMAT: 'xml' } }), 'bad SIOLUA_LOG_FORMAT',
    /SIOLUA_LOG_FORMAT: bad log format 'xml'/);
});

test('--check: 0 for a sound app and configuration, 2 with the reason otherwise; nothing listens', async () => {
  const app = makeAppDir(APP);
  const port = await freePort();
  const good = configFile(`return { port = ${port}, workers = 2, options = { pingInterval = 9000 } }\n`);
  const ok = await runCli(['run', app, '--config', good, '--check'], { env: BASE_ENV });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, new RegExp(`--check: .* is sound \\(it would listen on :: port ${port}, 2 workers\\)`));
  assert.doesNotMatch(ok.stderr, /listening/);

  const broken = makeAppDir({ 'main.lua': 'local sio = require "siolua"\nsio.configure { pingInterval = "x" }\n' });
  const bad = await runCli(['run', broken, '--check'], { env: BASE_ENV });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /main\.lua:2: sio\.configure: bad value 'x' for pingInterval/);
  assert.match(bad.stderr, /--check: .* is not sound/);

  const syntax = makeAppDir({ 'main.lua': 'this is not lua\n' });
  const bad2 = await runCli(['run', syntax, '--check'], { env: BASE_ENV });
  assert.equal(bad2.code, 2);
  assert.match(bad2.stderr, /main\.lua:1: syntax error/);

  const bad3 = await runCli(['run', app, '--check', '--set', 'pingInterval=0'], { env: BASE_ENV });
  assertRefused(bad3, '--check with a bad flag', /bad value '0' for pingInterval/);
  const bad4 = await runCli(['run', app, '--check', '--config', configFile('return { options = { cookie = 5 } }')], { env: BASE_ENV });
  assert.equal(bad4.code, 0, 'cookie = 5 is a cookie named "5"');
});
