// sio.redis seen through socket.io-client, against tests/apps/redis and a
// real redis-server on a unix socket that this file starts, stops and
// restarts: handlers run Redis commands and ack the replies; with Redis
// gone they ack null + an error at once (in-flight calls too) while the
// server and every socket keep working; once Redis is back calls work
// again; the pool's transitions are logged once each; SIGTERM ends the
// server cleanly with Redis connections open. Skipped when redis-server is
// not installed.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { makeTempDir, sleep, until } from './lib/server.mjs';
import { startApp, connected, ask, askWithin, nextEvent, stopProblems } from './lib/sio.mjs';

const HAVE_REDIS = (() => {
  try {
    execFileSync('redis-server', ['--version']);
    execFileSync('redis-cli', ['--version']);
    return true;
  } catch {
    return false;
  }
})();
const skip = HAVE_REDIS ? false : 'redis-server is not installed';

let dir, sock, redis, srv;

async function startRedis() {
  const proc = spawn('redis-server', ['--port', '0', '--unixsocket', sock, '--unixsocketperm', '700',
    '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('redis-server did not start')), 10000);
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      if (/ready to accept connections/i.test(out)) { clearTimeout(timer); resolve(); }
    });
    exited.then(() => { clearTimeout(timer); reject(new Error(`redis-server exited: ${out}`)); });
  });
  proc.exited = exited;
  return proc;
}

// What the brief of the test asks for: redis-cli shutdown nosave.
async function stopRedis(proc) {
  try { execFileSync('redis-cli', ['-s', sock, 'shutdown', 'nosave'], { stdio: 'ignore' }); } catch { /* gone */ }
  const killer = setTimeout(() => proc.kill('SIGKILL'), 5000);
  await proc.exited;
  clearTimeout(killer);
}

before(async () => {
  if (!HAVE_REDIS) return;
  dir = makeTempDir('siolua-redis-');
  sock = join(dir, 'r.sock');
  redis = await startRedis();
  srv = await startApp('redis', { env: { SIOLUA_REDIS_URL: `unix:${sock}` }, args: ['--no-reload'] });
});

after(async () => {
  await srv?.stop();
  if (redis && redis.exitCode === null && redis.signalCode === null) await stopRedis(redis);
});

// A log line count from offset on.
const logCount = (re, offset = 0) => srv.stderr().slice(offset).split('\n').filter((l) => re.test(l)).length;

test('a handler runs Redis commands with sio.redis.call and acks the replies as JSON', { skip }, async (t) => {
  const a = await connected(srv, '/', { t });
  assert.deepEqual(await ask(a, 'redis', ['DEL', 'k', 'l', 'visits']), [0, null]);
  assert.deepEqual(await ask(a, 'redis', ['SET', 'k', 'v']), ['OK', null]);
  assert.deepEqual(await ask(a, 'redis', ['GET', 'k']), ['v', null]);
  assert.deepEqual(await ask(a, 'redis', ['INCRBY', 'n', 41]), [41, null]);
  assert.deepEqual(await ask(a, 'redis', ['INCR', 'n']), [42, null]);
  assert.deepEqual(await ask(a, 'redis', ['GET', 'missing']), [null, null]);
  assert.deepEqual(await ask(a, 'redis', ['RPUSH', 'l', 'a', 'b', 1.5]), [3, null]);
  assert.deepEqual(await ask(a, 'redis', ['LRANGE', 'l', 0, -1]), [['a', 'b', '1.5'], null]);
  assert.deepEqual(await ask(a, 'redis', ['LRANGE', 'none', 0, -1]), [[], null]);
  const [v, err] = await ask(a, 'redis', ['NOSUCHCMD']);
  assert.equal(v, null);
  assert.match(err, /^ERR unknown command/);
  assert.deepEqual(await ask(a, 'pipeline', [['MULTI'], ['INCR', 'tx'], ['INCR', 'tx'], ['EXEC']]),
    [['OK', 'QUEUED', 'QUEUED', [1, 2]], null]);
  assert.ok(logCount(/\[redis\] connected to unix:/) === 1, srv.stderr());
});

test('many sockets hit Redis concurrently; every reply reaches its own socket', { skip }, async (t) => {
  const socks = await Promise.all(Array.from({ length: 8 }, () => connected(srv, '/', { t })));
  const replies = await Promise.all(socks.flatMap((s, i) =>
    Array.from({ length: 10 }, (_, j) => ask(s, 'redis', ['ECHO', `s${i}-${j}`]).then((r) => [i, j, r]))));
  for (const [i, j, r] of replies) assert.deepEqual(r, [`s${i}-${j}`, null]);
  const seen = nextEvent(socks[1], 'visits');
  const [n] = await ask(socks[0], 'visit');
  assert.equal(typeof n, 'number');
  assert.deepEqual(await seen, [n]);
});

test('redis stopped: in-flight and new calls ack null + error at once; the server and other sockets keep working', { skip }, async (t) => {
  const a = await connected(srv, '/', { t });
  const b = await connected(srv, '/', { t });
  const off = srv.stderr().length;
  // Parked in Redis when it goes away.
  const inflight = askWithin(5000, a, 'redis', ['BLPOP', 'never', 20]);
  await sleep(100);
  await stopRedis(redis);
  const [iv, ierr] = await inflight;
  assert.equal(iv, null);
  assert.match(ierr, /^redis connection lost: /);
  for (let i = 0; i < 3; i++) {
    const t0 = Date.now();
    const [v, err] = await ask(a, 'redis', ['GET', 'k']);
    assert.equal(v, null);
    assert.match(err, /^redis (unavailable|connection lost): /);
    assert.ok(Date.now() - t0 < 1000, `a call while Redis is down took ${Date.now() - t0} ms`);
  }
  const [pv, perr] = await ask(b, 'pipeline', [['PING']]);
  assert.equal(pv, null);
  assert.match(perr, /^redis unavailable: /);
  assert.deepEqual(await ask(b, 'echo', 'still here'), ['still here']);
  const late = await connected(srv, '/', { t });
  assert.deepEqual(await ask(late, 'echo', 1), [1]);
  assert.equal(srv.proc.exitCode, null);
  assert.equal(logCount(/\[redis\] lost connection to unix:.*reconnecting/, off), 1, srv.stderr().slice(off));
});

test('redis restarted on the same socket: calls work again within a few seconds, logged once', { skip }, async (t) => {
  const a = await connected(srv, '/', { t });
  const off = srv.stderr().length;
  await sleep(300); // let the backoff grow a little
  redis = await startRedis();
  const t0 = Date.now();
  const ok = await until(async () => {
    const [v] = await ask(a, 'redis', ['PING']);
    return v === 'PONG';
  }, { timeoutMs: 8000, stepMs: 50 });
  assert.ok(ok, `no PONG within 8 s of the restart; log:\n${srv.stderr().slice(off)}`);
  assert.ok(Date.now() - t0 < 6000);
  assert.deepEqual(await ask(a, 'redis', ['SET', 'again', 1]), ['OK', null]);
  assert.deepEqual(await ask(a, 'redis', ['GET', 'again']), ['1', null]);
  await sleep(200);
  assert.equal(logCount(/\[redis\] reconnected to unix:/, off), 1, srv.stderr().slice(off));
  assert.equal(logCount(/\[redis\] (lost connection|cannot connect)/, off), 0, srv.stderr().slice(off));
});

test('SIGTERM with Redis connections open ends the server cleanly', { skip }, async () => {
  const problems = await stopProblems(srv);
  assert.deepEqual(problems, []);
  assert.match(srv.stderr(), /\bstopped\b/);
});
