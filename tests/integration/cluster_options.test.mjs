// The adapter's options named as in Node's @socket.io/redis-adapter:
// redisKey (Node's `key`, and `channelPrefix` of the sharded adapter) lets
// several apps share one Redis without hearing each other, and matches a
// Node server configured with the same key; bad values are refused.
// (requestsTimeout is exercised by cluster_kill.test.mjs.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startServer, runCli, makeAppDir, SIOLUA_ROOT, sleep } from './lib/server.mjs';
import { connected, closeClient, ask, collect } from './lib/sio.mjs';
import { SKIP, startRedis, redisClient } from './lib/cluster.mjs';

const APP = join(SIOLUA_ROOT, 'tests', 'apps', 'cluster');

// A Node socket.io server on the adapter (classic, or sharded with mode),
// with the channel prefix key; killed when t ends.
async function startNode(t, redis, key, mode) {
  const proc = spawn(process.execPath, [join(import.meta.dirname, 'lib', 'node-cluster-server.cjs'), redis.url,
    ...(mode ? [mode] : [])], { stdio: ['pipe', 'pipe', 'inherit'], cwd: join(SIOLUA_ROOT, 'tests'),
    env: { ...process.env, NODE_ADAPTER_KEY: key } });
  t.after(() => proc.kill());
  const lines = createInterface({ input: proc.stdout });
  const port = await new Promise((resolve) => lines.on('line', (l) => {
    const m = /^listening (\d+)/.exec(l);
    if (m) resolve(m[1]);
  }));
  return { url: `http://127.0.0.1:${port}` };
}

async function waitCount(redis, cmd, channel, n) {
  const c = await redisClient(redis);
  try {
    for (let i = 0; ; i++) {
      const r = await c.sendCommand(['PUBSUB', cmd, channel]);
      if (Number(r[1]) === n) return;
      assert.ok(i < 400, `${channel}: ${r[1]} subscribers, not ${n}`);
      await sleep(25);
    }
  } finally {
    await c.quit();
  }
}

for (const mode of [null, 'dynamic']) {
  const name = mode ? 'sharded' : 'classic';
  test(`${name}: redisKey=app1 joins a Node server keyed app1 and stays apart from the default key`, { skip: SKIP }, async (t) => {
    const redis = await startRedis(t);
    const shardArgs = mode ? ['--set', 'redisAdapter=sharded'] : [];
    const keyed = await startServer({ appDir: APP, t,
      args: ['--redis', redis.url, '--no-reload', '--set', 'redisKey=app1', ...shardArgs] });
    const plain = await startServer({ appDir: APP, t, args: ['--redis', redis.url, '--no-reload', ...shardArgs] });
    const node = await startNode(t, redis, 'app1', mode);
    if (mode) {
      await waitCount(redis, 'SHARDNUMSUB', 'app1#/#', 2);
      await waitCount(redis, 'SHARDNUMSUB', 'socket.io#/#', 1);
    } else {
      await waitCount(redis, 'NUMSUB', 'app1-request#/#', 2);
      await waitCount(redis, 'NUMSUB', 'socket.io-request#/#', 1);
    }
    const onKeyed = await connected(keyed);
    const onPlain = await connected(plain);
    const onNode = await connected(node);
    t.after(() => { for (const c of [onKeyed, onPlain, onNode]) closeClient(c); });
    const heardKeyed = collect(onKeyed, 'news');
    const heardPlain = collect(onPlain, 'news');
    const heardNode = collect(onNode, 'news');
    onNode.emit('to', {}, 'news', 'from node');
    onKeyed.emit('to', {}, 'news', 'from keyed siolua');
    onPlain.emit('to', {}, 'news', 'from plain siolua');
    await heardKeyed.wait(2);
    await heardNode.wait(2);
    await heardPlain.wait(1);
    await sleep(300); // what should not come has had time to
    const texts = (h) => h.map((a) => a[0]).sort();
    assert.deepEqual(texts(heardKeyed), ['from keyed siolua', 'from node']);
    assert.deepEqual(texts(heardNode), ['from keyed siolua', 'from node']);
    assert.deepEqual(texts(heardPlain), ['from plain siolua']);
    // A cluster request under the key: the keyed siolua sees the Node socket.
    const [list] = await ask(onKeyed, 'fetch', []);
    assert.equal(list.length, 2, JSON.stringify(list));
  });
}

test('bad requestsTimeout and redisKey values exit 2 with one line', async () => {
  for (const bad of ['requestsTimeout=0', 'requestsTimeout=soon', 'requestsTimeout=600001', 'redisKey=', 'redisKey=a#b', 'redisKey=a*']) {
    const r = await runCli(['run', makeAppDir(), '--port', '0', '--set', bad]);
    assert.equal(r.code, 2, `${bad}: ${r.stderr}`);
    const eq = bad.indexOf('=');
    assert.ok(r.stderr.includes(`siolua: bad value '${bad.slice(eq + 1)}' for ${bad.slice(0, eq)}: expected `), r.stderr);
  }
});

test('sio.configure sets the adapter options too (redisKey, redisAdapter); the command line wins', { skip: SKIP }, async (t) => {
  const redis = await startRedis(t);
  const appDir = makeAppDir({ 'main.lua': `
local sio = require "siolua"
sio.configure{ redisKey = "app2", redisAdapter = "sharded", requestsTimeout = 700 }
` });
  await startServer({ appDir, t, args: ['--redis', redis.url, '--no-reload'] });
  await waitCount(redis, 'SHARDNUMSUB', 'app2#/#', 1);
  await startServer({ appDir, t, args: ['--redis', redis.url, '--no-reload', '--set', 'redisKey=app3'] });
  await waitCount(redis, 'SHARDNUMSUB', 'app3#/#', 1);
  await waitCount(redis, 'SHARDNUMSUB', 'app2#/#', 1);
  const bad = await runCli(['run', makeAppDir({ 'main.lua': `require("siolua").configure{ redisKey = "a#b" }` }),
    '--port', '0', '--no-reload']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /main\.lua:1: sio\.configure: bad value 'a#b' for redisKey: expected /);
});
