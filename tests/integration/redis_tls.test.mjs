// rediss://: every Redis connection (the adapter, sio.redis, sio.emitter,
// `siolua emit`) over the project's own TLS layer, against Debian's
// redis-server started TLS-only (--port 0 --tls-port N) with certificates
// made here: verification is on (the CA comes from ?ca=), Redis asks for a
// client certificate (its default) which ?cert=&key= give. A wrong CA is one
// clear "certificate verify failed" line per connection and outage, and the
// server keeps serving its own clients. Then a Redis Cluster whose nodes
// speak TLS only (tls-port in CLUSTER SHARDS).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startServer, makeAppDir, makeTempDir, until, sleep, SIOLUA_BIN } from './lib/server.mjs';
import { connected, askWithin, nextEvent, collect } from './lib/sio.mjs';
import { SKIP as skip, startRedis, startRedisCluster, freePort, makeTlsCerts, tlsArgs, tlsCli } from './lib/cluster.mjs';

const WAIT = 10000;
const ask = (socket, event, ...args) => askWithin(WAIT, socket, event, ...args);
const count = (srv, re) => srv.stderr().split('\n').filter((l) => re.test(l)).length;

// Relays broadcasts, runs sio.redis commands, publishes with sio.emitter
// (all on $SIOLUA_REDIS_URL).
const APP = {
  'main.lua': `
local sio = require "siolua"
local emitter
sio.server:on("connection", function(socket)
  socket:on("join", function(room, ack) socket:join(room) ack(true) end)
  socket:on("to", function(room, event, ...) sio.server:to(room):emit(event, ...) end)
  socket:on("redis", function(cmd, ack) ack(sio.redis.call(table.unpack(cmd))) end)
  socket:on("via-emitter", function(room, text, ack)
    emitter = emitter or sio.emitter()
    ack(emitter:to(room):emit("emitted", text))
  end)
end)
`,
};

let certs, redis, url;

before(async () => {
  if (skip) return;
  certs = makeTlsCerts(makeTempDir('siolua-tls-'));
  const port = await freePort();
  redis = await startRedis(null, { port, args: tlsArgs(certs, port) });
  url = `rediss://127.0.0.1:${port}?ca=${certs.ca}&cert=${certs.clientCert}&key=${certs.clientKey}`;
});

after(() => redis?.stop());

test('the adapter, sio.redis, sio.emitter and siolua emit all work over TLS', { skip }, async (t) => {
  const appDir = makeAppDir(APP);
  const args = ['--redis', url, '--no-reload'];
  const env = { SIOLUA_REDIS_URL: url };
  const a = await startServer({ appDir, t, args, env });
  const b = await startServer({ appDir, t, args, env });
  const cli = (...cmd) => execFileSync('redis-cli', [...tlsCli(certs), '-p', String(redis.port), ...cmd],
    { encoding: 'utf8' }).trim();
  assert.ok(await until(() => cli('pubsub', 'numsub', 'socket.io-request#/#').endsWith('2'), { timeoutMs: WAIT }));
  assert.match(a.stderr(), /adapter pub: connected to rediss:\/\/127\.0\.0\.1:\d+/);
  const ca = await connected(a, '/', { t });
  const cb = await connected(b, '/', { t });
  assert.deepEqual(await ask(cb, 'join', 'secure'), [true]);
  const heard = collect(cb, 'over-tls');
  ca.emit('to', 'secure', 'over-tls', 'hello', { n: 1 });
  await heard.wait(1, WAIT);
  assert.deepEqual(heard[0], ['hello', { n: 1 }]);
  // sio.redis
  assert.deepEqual(await ask(ca, 'redis', ['SET', 'tls-key', 'v']), ['OK']);
  assert.deepEqual(await ask(cb, 'redis', ['GET', 'tls-key']), ['v']);
  // sio.emitter and siolua emit
  const emitted = collect(cb, 'emitted');
  assert.deepEqual(await ask(ca, 'via-emitter', 'secure', 'lua'), [true]);
  const out = execFileSync(SIOLUA_BIN, ['emit', '--redis', url, '--to', 'secure', 'emitted', '"cli"'], { encoding: 'utf8' });
  assert.match(out, /^published to socket\.io#\/#secure# \(2 servers subscribed\)/);
  await emitted.wait(2, WAIT);
  assert.deepEqual(emitted.map((x) => x[0]).sort(), ['cli', 'lua']);
  // The connections are TLS ones, authenticated by the client certificate.
  assert.ok(Number(cli('info', 'stats').match(/total_connections_received:(\d+)/)[1]) >= 6);
});

test('a wrong CA: "certificate verify failed", one line per connection however many attempts; local delivery goes on', { skip, timeout: 30000 }, async (t) => {
  const port = await freePort();
  const r = await startRedis(t, { port, args: tlsArgs(certs, port) });
  const bad = `rediss://127.0.0.1:${r.port}?ca=${certs.otherCa}&cert=${certs.clientCert}&key=${certs.clientKey}`;
  const s = await startServer({ appDir: makeAppDir(APP), t, args: ['--redis', bad, '--no-reload'],
    env: { SIOLUA_REDIS_URL: bad } });
  const c1 = await connected(s, '/', { t });
  const c2 = await connected(s, '/', { t });
  assert.deepEqual(await ask(c2, 'join', 'here'), [true]);
  const got = nextEvent(c2, 'local');
  c1.emit('to', 'here', 'local', 1);
  assert.deepEqual(await got, [1]);
  // sio.redis says why, at once.
  const [v, err] = await ask(c1, 'redis', ['PING']);
  assert.equal(v, null);
  assert.match(err, /^redis unavailable: certificate verify failed/);
  assert.ok(await until(() => count(s, /certificate verify failed/) >= 3, { timeoutMs: WAIT }), s.stderr());
  await sleep(2000); // several attempts later
  for (const who of ['adapter pub', 'adapter sub'])
    assert.equal(count(s, new RegExp(`${who}: cannot reach rediss://.*certificate verify failed`)), 1, s.stderr());
  assert.equal(count(s, /\[redis\] cannot connect to rediss:.*certificate verify failed/), 1, s.stderr());
  assert.ok(!/connected to/.test(s.stderr()), s.stderr());
});

test('a Redis Cluster that speaks TLS only: the nodes\' tls-port is used, sharded rooms cross', { skip, timeout: 60000 }, async (t) => {
  const cluster = await startRedisCluster(t, { tls: certs });
  const args = ['--redis', cluster.url, '--no-reload', '--set', 'redisAdapter=sharded'];
  const a = await startServer({ appDir: makeAppDir(APP), t, args });
  const b = await startServer({ appDir: makeAppDir(APP), t, args });
  const ca = await connected(a, '/', { t });
  const cb = await connected(b, '/', { t });
  assert.deepEqual(await ask(cb, 'join', 'tls-room'), [true]);
  const heard = collect(cb, 'cluster-tls');
  assert.ok(await until(() => {
    ca.emit('to', 'tls-room', 'cluster-tls', 1);
    return heard.length > 0;
  }, { timeoutMs: WAIT, stepMs: 200 }), `${a.stderr()}\n${b.stderr()}`);
  assert.match(a.stderr(), /adapter pub: Redis Cluster of 3 masters/);
});
