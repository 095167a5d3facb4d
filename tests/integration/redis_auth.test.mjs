// Redis with credentials, as production Redis runs: the adapter, the Lua
// emitter and sio.redis all read the URL the same way (one reader), so an
// ACL user (Redis 6+ `AUTH user password`) and a plain requirepass both
// work everywhere, and a wrong password is said once in the log without
// taking the server down.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { startServer, makeAppDir, makeTempDir, sleep } from './lib/server.mjs';
import { connected, closeClient, nextEvent } from './lib/sio.mjs';
import { SKIP, freePort, redisClient } from './lib/cluster.mjs';

// A redis-server with an ACL user `app` (password `app-pw`) and a default
// user that needs `admin-pw`; killed when t ends.
async function startRedisWithAuth(t) {
  const dir = makeTempDir('siolua-redis-auth-');
  const port = await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
    '--appendonly', 'no', '--dir', dir, '--requirepass', 'admin-pw',
    '--user', 'app', 'on', '>app-pw', '~*', '&*', '+@all'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 10000);
    proc.stdout.on('data', (d) => { out += d; if (out.includes('Ready to accept')) { clearTimeout(timer); resolve(); } });
    exited.then(() => { clearTimeout(timer); reject(new Error(`redis-server exited: ${out}`)); });
  });
  t.after(async () => { if (proc.exitCode === null) proc.kill('SIGKILL'); await exited; });
  return { port, url: `redis://:admin-pw@127.0.0.1:${port}` };
}

const APP = {
  'main.lua': `
local sio = require "siolua"
sio.server:on("connection", function(socket)
  socket:on("shout", function(text) sio.server:emit("heard", text) end)
  socket:on("incr", function(key, ack)
    local v, err = sio.redis.call("INCR", key)
    ack(v or sio.json.null, err or sio.json.null)
  end)
  socket:on("emitter", function(url, ack)
    local ok, err = pcall(function() sio.emitter{ redis = url }:emit("from-emitter", 7) end)
    ack(ok, err and tostring(err) or sio.json.null)
  end)
end)
`,
};

async function numsub(redis, channel) {
  const c = await redisClient(redis);
  try { return (await c.pubSubNumSub([channel]))[channel]; } finally { await c.quit(); }
}

test('an ACL user in the URL (redis://user:password@host): adapter, sio.redis and the Lua emitter all authenticate', { skip: SKIP }, async (t) => {
  const redis = await startRedisWithAuth(t);
  const acl = `redis://app:app-pw@127.0.0.1:${redis.port}`;
  const a = await startServer({ appDir: makeAppDir(APP), t, args: ['--redis', acl, '--no-reload'],
    env: { SIOLUA_REDIS_URL: acl } });
  const b = await startServer({ appDir: makeAppDir(APP), t, args: ['--redis', acl, '--no-reload'] });
  // Both adapters subscribed (counted with the admin user's password).
  for (let i = 0; ; i++) {
    if (await numsub(redis, 'socket.io-request#/#') === 2) break;
    assert.ok(i < 200, 'the adapters never subscribed');
    await sleep(25);
  }
  const ca = await connected(a);
  const cb = await connected(b);
  t.after(() => { closeClient(ca); closeClient(cb); });
  const heard = nextEvent(cb, 'heard');
  ca.emit('shout', 'across');
  assert.deepEqual(await heard, ['across']);
  assert.deepEqual(await new Promise((resolve) => ca.emit('incr', 'n', (...args) => resolve(args))), [1, null]);
  const fromEmitter = nextEvent(cb, 'from-emitter');
  const [ok, err] = await new Promise((resolve) => ca.emit('emitter', acl, (...args) => resolve(args)));
  assert.equal(ok, true, err);
  assert.deepEqual(await fromEmitter, [7]);
  assert.ok(!/AUTH/.test(a.stderr() + b.stderr()), a.stderr() + b.stderr());
  // The adapter's start-up line names the server, never the password.
  assert.match(a.stderr(), /adapter on redis:\/\/app@127\.0\.0\.1:/);
  assert.ok(!/app-pw/.test(a.stderr() + b.stderr()), a.stderr() + b.stderr());
});

test('a wrong password: one log line per link, the server keeps serving its own clients', { skip: SKIP }, async (t) => {
  const redis = await startRedisWithAuth(t);
  const bad = `redis://app:wrong@127.0.0.1:${redis.port}`;
  const a = await startServer({ appDir: makeAppDir(APP), t, args: ['--redis', bad, '--no-reload'] });
  const c1 = await connected(a);
  const c2 = await connected(a);
  t.after(() => { closeClient(c1); closeClient(c2); });
  const heard = nextEvent(c2, 'heard');
  c1.emit('shout', 'local only');
  assert.deepEqual(await heard, ['local only']);
  const refusals = () => a.stderr().split('\n').filter((l) => /AUTH failed/.test(l));
  for (let i = 0; refusals().length < 2; i++) {
    assert.ok(i < 200, a.stderr());
    await sleep(25);
  }
  await sleep(1000); // several reconnect attempts later: still one line per link
  const lines = refusals();
  assert.equal(lines.length, 2, lines.join('\n'));
  for (const name of ['adapter pub', 'adapter sub'])
    assert.equal(lines.filter((l) => l.includes(`${name}: cannot reach`)).length, 1, lines.join('\n'));
  assert.match(lines[0], /WRONGPASS/);
  assert.ok(!/connected to/.test(a.stderr()), a.stderr());
  assert.equal(await numsub(redis, 'socket.io-request#/#'), 0);
});
