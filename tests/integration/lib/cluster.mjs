// Helpers for the cluster tests: a real redis-server on a free port (in a
// temporary directory, no persistence), a real Redis Cluster of six of them,
// and siolua instances of an app sharing them through --redis. Everything
// started here is killed when the test that started it ends.

import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createRequire } from 'node:module';
import { startServer, makeTempDir, sleep, until } from './server.mjs';

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

// ---- a Redis Cluster ------------------------------------------------------

// The hash slot of a key, as the cluster spec computes it (CRC16/XMODEM of
// the key or of its {hash tag}, modulo 16384), to pick names by slot
// without asking Redis thousands of times.
export function keyslot(key) {
  const b = Buffer.from(key);
  let from = 0, to = b.length;
  const open = b.indexOf(0x7b);
  if (open >= 0) {
    const close = b.indexOf(0x7d, open + 1);
    if (close > open + 1) { from = open + 1; to = close; }
  }
  let crc = 0;
  for (let i = from; i < to; i++) {
    crc ^= b[i] << 8;
    for (let k = 0; k < 8; k++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc & 16383;
}
//
// Six local redis-server nodes with --cluster-enabled, joined by
// `redis-cli --cluster create --cluster-replicas 1`: three masters with a
// replica each, a short cluster-node-timeout so that a failover takes a
// second or two. Ready once every node says cluster_state:ok and every
// master has its replica in CLUSTER SLOTS. Killed when t ends.
// Returns {nodes: [{port, proc, kill()}], url (every node as a seed),
// command(args, port?), slots(), masterOf(key), keyslot(key), stop()}.
export async function startRedisCluster(t, { nodeTimeout = 1000, extraArgs = [], tls } = {}) {
  const dir = makeTempDir('siolua-rcluster-');
  const nodes = [];
  const stopAll = async () => { await Promise.all(nodes.map((n) => n.kill())); };
  if (t) t.after(stopAll);
  for (let i = 0; i < 6; i++) {
    const port = await freePort();
    const bus = await freePort();
    const ndir = join(dir, String(port));
    mkdirSync(ndir);
    const listen = tls ? [...tlsArgs(tls, port), '--tls-cluster', 'yes', '--tls-replication', 'yes']
      : ['--port', String(port)];
    const proc = spawn('redis-server', [...listen, '--bind', '127.0.0.1', '--cluster-enabled', 'yes',
      '--cluster-port', String(bus), '--cluster-config-file', join(ndir, 'nodes.conf'),
      '--cluster-node-timeout', String(nodeTimeout), '--save', '', '--appendonly', 'no', '--dir', ndir,
      '--repl-diskless-sync-delay', '0',
      ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise((resolve) => proc.on('exit', resolve));
    let out = '';
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server ${port} did not start: ${out}`)), 10000);
      proc.stdout.on('data', (d) => {
        out += d;
        if (out.includes('Ready to accept')) { clearTimeout(timer); resolve(); }
      });
      exited.then(() => { clearTimeout(timer); reject(new Error(`redis-server ${port} exited: ${out}`)); });
    });
    nodes.push({
      port,
      proc,
      async kill() {
        if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
        await exited;
      },
    });
  }
  const addrs = nodes.map((n) => `127.0.0.1:${n.port}`);
  const secure = tls ? tlsCli(tls) : [];
  execFileSync('redis-cli', [...secure, '--cluster', 'create', ...addrs, '--cluster-replicas', '1', '--cluster-yes'],
    { stdio: 'ignore' });
  const cli = (args, port = nodes[0].port) =>
    execFileSync('redis-cli', [...secure, '-p', String(port), ...args], { encoding: 'utf8' }).trim();
  const portOf = (x) => x && (x['tls-port'] || x.port);
  const cluster = {
    nodes,
    dir,
    url: tls ? `rediss://${addrs.join(',')}?ca=${tls.ca}&cert=${tls.clientCert}&key=${tls.clientKey}`
      : `redis://${addrs.join(',')}`,
    cli,
    // [{ranges: [[from, to], ...], master: port, replicas: [port]}] as
    // CLUSTER SHARDS says, from the first node that answers.
    shards() {
      for (const n of nodes) {
        if (n.proc.exitCode !== null || n.proc.signalCode !== null) continue;
        let rows;
        try { rows = JSON.parse(cli(['--json', 'cluster', 'shards'], n.port)); } catch { continue; }
        return rows.filter((r) => r.slots.length).map((r) => ({
          ranges: r.slots.reduce((acc, v, i) => (i % 2 ? acc[acc.length - 1].push(v) : acc.push([v]), acc), []),
          master: portOf(r.nodes.find((x) => x.role === 'master')),
          replicas: r.nodes.filter((x) => x.role !== 'master').map(portOf),
        }));
      }
      return [];
    },
    keyslot,
    masterOf(key) {
      const s = cluster.keyslot(key);
      return cluster.shards().find((r) => r.ranges.some(([a, b]) => a <= s && s <= b))?.master;
    },
    masters: () => cluster.shards().map((r) => r.master).sort(),
    replicas: () => cluster.shards().flatMap((r) => r.replicas).sort(),
    node: (port) => nodes.find((n) => n.port === port),
    stop: stopAll,
  };
  // Ready: every node sees the cluster ok, and every replica has synced
  // with its master (so that a failover can happen).
  const ok = await until(() => {
    for (const n of nodes) if (!/cluster_state:ok/.test(cli(['cluster', 'info'], n.port))) return false;
    const s = cluster.shards();
    if (s.length !== 3 || !s.every((r) => r.replicas.length === 1)) return false;
    return s.every((r) => /master_link_status:up/.test(cli(['info', 'replication'], r.replicas[0])));
  }, { timeoutMs: 20000, stepMs: 100 });
  if (!ok) throw new Error(`the cluster did not form: ${cli(['cluster', 'nodes'])}`);
  return cluster;
}

// Room names whose channel (prefix#nsp#room#) lands on each master of the
// cluster, one room per master: {port: room}.
export function roomsPerMaster(cluster, { nsp = '/', prefix = 'socket.io', base = 'room' } = {}) {
  const want = new Set(cluster.masters());
  const out = {};
  for (let i = 0; want.size && i < 1000; i++) {
    const room = `${base}${i}`;
    const m = cluster.masterOf(`${prefix}#${nsp}#${room}#`);
    if (want.has(m)) {
      out[m] = room;
      want.delete(m);
    }
  }
  return out;
}

// A Node socket.io 4.8 server with @socket.io/redis-adapter 8.3
// (lib/node-cluster-server.cjs) on url (several hosts: a Redis Cluster,
// through node-redis's createCluster), classic, or sharded in subscription
// mode `mode`; driven by JSON lines on stdin. Killed when t ends.
// Returns {proc, url, command({op, ...}) -> result}.
export async function startNodeServer(t, url, mode) {
  const args = [join(import.meta.dirname, 'node-cluster-server.cjs'), url];
  if (mode) args.push(mode);
  const proc = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'], cwd: join(import.meta.dirname, '..', '..') });
  t?.after?.(() => proc.kill());
  const pending = new Map();
  let seq = 0;
  const lines = createInterface({ input: proc.stdout });
  const port = await new Promise((resolve) => {
    lines.on('line', (line) => {
      const m = /^listening (\d+)/.exec(line);
      if (m) return resolve(Number(m[1]));
      const r = JSON.parse(line);
      const p = pending.get(r.id);
      if (p) { pending.delete(r.id); r.error ? p.reject(new Error(r.error)) : p.resolve(r.result); }
    });
  });
  return {
    proc,
    url: `http://127.0.0.1:${port}`,
    command(cmd) {
      const id = ++seq;
      proc.stdin.write(`${JSON.stringify({ ...cmd, id })}\n`);
      return new Promise((resolve, reject) => pending.set(id, { resolve, reject }));
    },
  };
}

// ---- TLS -------------------------------------------------------------------

// Test certificates made now with the openssl command in dir: a CA, a
// server certificate for localhost and 127.0.0.1 and a client certificate
// signed by it, and another CA that signed none of them. Paths:
// {ca, cert, key, clientCert, clientKey, otherCa}.
export function makeTlsCerts(dir) {
  const openssl = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const ca = (name) => openssl('req', '-x509', ...ec, '-keyout', `${name}.key`, '-out', `${name}.pem`, '-days', '2',
    '-subj', `/CN=siolua ${name}`, '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  ca('ca');
  ca('other-ca');
  const signed = (name, ext) => {
    openssl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    writeFileSync(join(dir, `${name}.ext`), `${ext}\nbasicConstraints=CA:FALSE\n`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial',
      '-out', `${name}.pem`, '-days', '2', '-extfile', `${name}.ext`);
  };
  signed('server', 'subjectAltName=DNS:localhost,IP:127.0.0.1');
  signed('client', 'extendedKeyUsage=clientAuth');
  const at = (f) => join(dir, f);
  return {
    ca: at('ca.pem'), cert: at('server.pem'), key: at('server.key'),
    clientCert: at('client.pem'), clientKey: at('client.key'), otherCa: at('other-ca.pem'),
  };
}

// The redis-server arguments of a TLS-only server with certs.
export function tlsArgs(certs, port) {
  return ['--port', '0', '--tls-port', String(port), '--tls-cert-file', certs.cert, '--tls-key-file', certs.key,
    '--tls-ca-cert-file', certs.ca];
}

// redis-cli's arguments to talk to such a server (as a trusted client).
export function tlsCli(certs) {
  return ['--tls', '--cacert', certs.ca, '--cert', certs.clientCert, '--key', certs.clientKey];
}

