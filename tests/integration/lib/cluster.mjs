// Helpers for the app_*_cluster.test.mjs files: a real redis-server on a
// free port (in a temporary directory, no persistence), and two siolua
// instances of an app sharing it through --redis. Everything started here
// is killed when the test that started it ends.

import { spawn, execFileSync } from 'node:child_process';
import net from 'node:net';
import { createRequire } from 'node:module';
import { startServer, makeTempDir, sleep } from './server.mjs';

const require = createRequire(import.meta.url);

export const HAVE_REDIS = (() => {
  try { execFileSync('redis-server', ['--version'], { stdio: 'ignore' }); return true; } catch { return false; }
})();

export const SKIP = HAVE_REDIS ? false : 'redis-server is not installed';

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

// Starts redis-server on a free port (or on `port`: a restart on the same
// address), with extra arguments if given; killed when t ends. Returns
// {port, url, proc, stop()}.
export async function startRedis(t, { port, args = [] } = {}) {
  const dir = makeTempDir('siolua-redis-');
  port ??= await freePort();
  const proc = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '',
    '--appendonly', 'no', '--dir', dir, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${out}`)), 10000);
    proc.stdout.on('data', (d) => {
      out += d;
      if (out.includes('Ready to accept')) { clearTimeout(timer); resolve(); }
    });
    exited.then(() => { clearTimeout(timer); reject(new Error(`redis-server exited: ${out}`)); });
  });
  const redis = {
    port,
    url: `redis://127.0.0.1:${port}`,
    proc,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
      await exited;
    },
  };
  if (t) t.after(() => redis.stop());
  return redis;
}

// A node-redis client on the test's Redis; the caller quits it.
export async function redisClient(redis) {
  const { createClient } = require('redis');
  const c = createClient({ url: redis.url });
  c.on('error', () => { /* Redis stopped by a test: the command in flight rejects */ });
  await c.connect();
  return c;
}

// Waits until `n` servers are subscribed to the request channel of each
// namespace (what @socket.io/redis-adapter's serverCount counts): from then
// on a cluster request (fetch_sockets, ...) waits for all of them.
export async function waitSubscribed(client, namespaces, n = 2, timeoutMs = 10000) {
  const channels = namespaces.map((nsp) => `socket.io-request#${nsp}#`);
  const end = Date.now() + timeoutMs;
  for (;;) {
    const counts = await client.pubSubNumSub(channels);
    if (channels.every((c) => counts[c] >= n)) return counts;
    if (Date.now() > end) throw new Error(`not ${n} servers on ${channels.join(', ')}: ${JSON.stringify(counts)}`);
    await sleep(20);
  }
}

// Instances of the app in appDir on `redis`, one per name (each gets its
// name in SIOLUA_NODE_NAME), each on its own port, all subscribed to the
// namespaces listed before this returns. Killed when t ends. Returns
// {name: server}.
export async function startNodes(t, redis, names, { appDir, namespaces = ['/'], env = {}, args = [] } = {}) {
  const nodes = {};
  for (const name of names) {
    nodes[name] = await startServer({ appDir, t, env: { ...env, SIOLUA_NODE_NAME: name },
      args: ['--redis', redis.url, '--no-reload', ...args] });
  }
  const client = await redisClient(redis);
  try {
    await waitSubscribed(client, namespaces, names.length);
  } finally {
    await client.quit();
  }
  return nodes;
}

// A Redis and two instances A and B of the app in appDir sharing it, each
// on its own port, both subscribed to the namespaces listed. Returns
// {redis, a, b}. When t ends the instances are killed, then Redis.
export async function startCluster(t, { appDir, namespaces = ['/'], env = {}, args = [] } = {}) {
  const redis = await startRedis();
  let a, b;
  try {
    const start = () => startServer({ appDir, t, env, args: ['--redis', redis.url, '--no-reload', ...args] });
    a = await start();
    b = await start();
    const client = await redisClient(redis);
    try {
      await waitSubscribed(client, namespaces, 2);
    } finally {
      await client.quit();
    }
  } finally {
    // After hooks run in the order they were added: the servers' kills first.
    t.after(() => redis.stop());
  }
  return { redis, a, b };
}
