// The deployment recipes of docs/deploying.md, as written: nginx and
// HAProxy (Debian's, run as this test's own processes on free ports) load
// docs/deploy/nginx-siolua.conf and docs/deploy/haproxy-siolua.cfg with only
// the ports put in (and, for stickiness, the one line the docs say to
// change), in front of three siolua instances on one real Redis. Real
// socket.io-clients connect from 127.0.0.2 over polling, WebSocket and the
// upgrade, round robin and sticky (by address, and HAProxy's cookie variant
// that its file's comment describes); the app sees the client's address from
// X-Forwarded-For only when the instances trust the proxy (trustProxy).
// With the recipes' TLS lines in, the same clients connect over HTTPS and
// WSS, trusting the test's CA, to plaintext instances.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { io } from 'socket.io-client';
import { SIOLUA_ROOT, makeTempDir, until, sleep } from './lib/server.mjs';
import { HAVE_REDIS, startRedis, startNodes, freePort } from './lib/cluster.mjs';
import { makeCerts } from './lib/certs.mjs';

const has = (cmd, args) => spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
const HAVE_NGINX = has('nginx', ['-v']);
const HAVE_HAPROXY = has('haproxy', ['-v']);
const APP = join(SIOLUA_ROOT, 'tests', 'apps', 'deploy');
const DOCS = join(SIOLUA_ROOT, 'docs', 'deploy');
const CLIENT_ADDR = '127.0.0.2'; // not the proxy's 127.0.0.1: the two can be told apart
const certs = makeCerts();
const CA = [readFileSync(certs.caFile, 'utf8')];

// Replaces `from` by `to` in text, failing when the docs no longer hold it.
function edit(text, from, to) {
  assert.ok(text.includes(from), `the recipe no longer holds ${JSON.stringify(from)}`);
  return text.split(from).join(to);
}

function backendsOf(text, ports) {
  return ports.reduce((t, p, i) => edit(t, `127.0.0.1:${3001 + i}`, `127.0.0.1:${p}`), text);
}

async function waitPort(port, proc, log) {
  const ok = await until(() => new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  }), { timeoutMs: 10000, stepMs: 50 });
  if (!ok) throw new Error(`${proc.spawnargs[0]} did not listen on ${port}: ${log()}`);
}

function run(cmd, args) {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { out += d; });
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  return { proc, log: () => out, async stop() { if (proc.exitCode === null) proc.kill('SIGTERM'); await exited; } };
}

// nginx with the docs' site file included from a minimal main config of
// the test's own (pid, temp paths, error log in a private prefix).
async function startNginx(ports, { sticky = false, tls = false } = {}) {
  const dir = makeTempDir('siolua-nginx-');
  chmodSync(dir, 0o755); // nginx's workers (user nobody) use the temp paths
  const port = await freePort();
  let site = readFileSync(join(DOCS, 'nginx-siolua.conf'), 'utf8');
  if (tls) {
    site = edit(site, '    listen 80;\n', '');
    site = edit(site, '# listen 443 ssl;', `listen 127.0.0.1:${port} ssl;`);
    site = edit(site, '# ssl_certificate /etc/ssl/siolua/fullchain.pem;', `ssl_certificate ${certs.good.certFile};`);
    site = edit(site, '# ssl_certificate_key /etc/ssl/siolua/privkey.pem;', `ssl_certificate_key ${certs.good.keyFile};`);
    site = edit(site, '# ssl_protocols', 'ssl_protocols');
  } else {
    site = edit(site, 'listen 80;', `listen 127.0.0.1:${port};`);
  }
  site = backendsOf(site, ports);
  if (sticky) site = edit(site, '# ip_hash;', 'ip_hash;');
  writeFileSync(join(dir, 'site.conf'), site);
  writeFileSync(join(dir, 'nginx.conf'), `daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  include ${dir}/site.conf;
}
`);
  const p = run('nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir, '-e', join(dir, 'error.log')]);
  await waitPort(port, p.proc, () => p.log() + readFileSync(join(dir, 'error.log'), 'utf8'));
  return { ...p, url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}` };
}

// HAProxy with the docs' file after a global section of the test's own.
async function startHaproxy(ports, { sticky = false, tls = false } = {}) {
  const dir = makeTempDir('siolua-haproxy-');
  const port = await freePort();
  let cfg = readFileSync(join(DOCS, 'haproxy-siolua.cfg'), 'utf8');
  if (tls) {
    const pem = join(dir, 'siolua.pem');
    writeFileSync(pem, Buffer.concat([certs.good.cert, certs.good.key]));
    cfg = edit(cfg, '    bind :80\n', '');
    cfg = edit(cfg, '# bind :443 ssl crt /etc/haproxy/siolua.pem', `bind 127.0.0.1:${port} ssl crt ${pem}`);
  } else {
    cfg = edit(cfg, '    bind :80\n', `    bind 127.0.0.1:${port}\n`);
  }
  cfg = backendsOf(cfg, ports);
  if (sticky === true) cfg = edit(cfg, '    balance roundrobin\n', '    balance source\n');
  if (sticky === 'cookie') { // what the comment above "balance roundrobin" says to add
    assert.match(cfg, /add "cookie SIOLUA insert indirect nocache" with "cookie s1" etc\. on\n\s*# the servers/);
    cfg = edit(cfg, '    balance roundrobin\n', '    balance roundrobin\n    cookie SIOLUA insert indirect nocache\n');
    cfg = ports.reduce((c, p, i) => edit(c, `127.0.0.1:${p} check\n`, `127.0.0.1:${p} check cookie s${i + 1}\n`), cfg);
  }
  writeFileSync(join(dir, 'haproxy.cfg'), cfg);
  // maxconn needs twice as many descriptors: under CI's ulimit -n 4096.
  writeFileSync(join(dir, 'global.cfg'), 'global\n    maxconn 1000\n');
  const p = run('haproxy', ['-db', '-f', join(dir, 'global.cfg'), '-f', join(dir, 'haproxy.cfg')]);
  await waitPort(port, p.proc, p.log);
  return { ...p, url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}` };
}

// A socket.io-client whose connections leave from CLIENT_ADDR (over TLS
// for an https:// url, trusting the test's CA only).
async function client(url, transports, t, extraHeaders = {}, opts = {}) {
  const secure = url.startsWith('https:');
  const agent = secure ? new https.Agent({ localAddress: CLIENT_ADDR, keepAlive: true, ca: CA })
    : new http.Agent({ localAddress: CLIENT_ADDR, keepAlive: true });
  const c = io(url, { forceNew: true, reconnection: false, transports, agent, extraHeaders, ...(secure ? { ca: CA } : {}), ...opts });
  t.after(() => { c.close(); agent.destroy(); });
  await new Promise((resolve, reject) => {
    c.on('connect', resolve);
    c.on('connect_error', (e) => reject(new Error(`connect_error through ${url}: ${e.message}`)));
  });
  return c;
}

const ask = (c, ...args) => c.timeout(5000).emitWithAck(...args);

// A client of each kind through the proxy: polling, WebSocket, and one that
// upgrades (resolved once it has).
async function clientsOfEachTransport(url, t) {
  const poll = await client(url, ['polling'], t);
  const ws = await client(url, ['websocket'], t);
  const up = await client(url, ['polling', 'websocket'], t);
  await until(() => up.io.engine.transport.name === 'websocket', { timeoutMs: 5000 });
  assert.equal(up.io.engine.transport.name, 'websocket', `the upgrade went through the proxy (${url})`);
  return { poll, ws, up };
}

let redis, trusted, untrusted;
const relays = (nodes) => Object.values(nodes).reduce((n, s) => n + (s.stderr().match(/relaying (GET|POST)/g) || []).length, 0);

before(async () => {
  if (!HAVE_REDIS) return;
  redis = await startRedis();
  const args = ['--log-level', 'debug'];
  trusted = await startNodes(undefined, redis, ['A', 'B', 'C'], { appDir: APP, args: [...args, '--set', 'trustProxy=127.0.0.1'] });
  untrusted = await startNodes(undefined, redis, ['U1', 'U2', 'U3'], { appDir: APP, args });
  await sleep(200); // every instance has announced its relay address
});

after(async () => {
  for (const s of [...Object.values(trusted ?? {}), ...Object.values(untrusted ?? {})]) await s.stop();
  await redis?.stop();
});

const ports = (nodes) => Object.values(nodes).map((s) => s.port);

for (const [name, start, have] of [['nginx', startNginx, HAVE_NGINX], ['HAProxy', startHaproxy, HAVE_HAPROXY]]) {
  const skip = !HAVE_REDIS ? 'redis-server is not installed' : !have ? `${name} is not installed` : false;

  test(`${name}, round robin (docs as written): polling, websocket and upgrade clients talk across the instances; the app sees the client's address`, { skip, timeout: 60000 }, async (t) => {
    const lb = await start(ports(trusted));
    t.after(() => lb.stop());
    const before = relays(trusted);
    const { poll, ws, up } = await clientsOfEachTransport(lb.url, t);
    for (const c of [poll, ws, up]) {
      const me = await ask(c, 'whoami');
      assert.equal(me.address, CLIENT_ADDR, `${name} -> ${me.node}: the client's address, from X-Forwarded-For`);
      assert.equal(me.proto, 'http');
      await ask(c, 'join', 'room');
    }
    // Each hears the others' broadcasts, whichever instances own them.
    for (const [i, [from, to]] of [[poll, ws], [ws, up], [up, poll]].entries()) {
      const heard = new Promise((resolve) => to.once(`hello${i}`, resolve));
      from.emit('to', 'room', `hello${i}`, from.id);
      assert.equal(await heard, from.id);
    }
    for (let i = 0; i < 6; i++) await ask(poll, 'whoami'); // more polling round trips
    assert.ok(relays(trusted) > before, 'round robin sent requests to instances that relayed them to the session\'s owner');
  });

  test(`${name}, sticky (the docs' one-line change): every request of a client reaches one instance, nothing is relayed`, { skip, timeout: 60000 }, async (t) => {
    const lb = await start(ports(trusted), { sticky: true });
    t.after(() => lb.stop());
    const before = relays(trusted);
    const nodes = new Set();
    for (const transports of [['polling'], ['websocket'], ['polling', 'websocket']]) {
      const c = await client(lb.url, transports, t);
      for (let i = 0; i < 4; i++) nodes.add((await ask(c, 'whoami')).node);
      assert.equal((await ask(c, 'whoami')).address, CLIENT_ADDR);
    }
    assert.equal(nodes.size, 1, `one client address, one instance: ${[...nodes]}`);
    assert.equal(relays(trusted), before, 'no request needed a relay');
  });

  if (name === 'HAProxy') {
    test('HAProxy, sticky by cookie (the comment\'s variant): a client that keeps cookies stays on one instance, polling and upgrade', { skip, timeout: 60000 }, async (t) => {
      const lb = await start(ports(trusted), { sticky: 'cookie' });
      t.after(() => lb.stop());
      const before = relays(trusted);
      for (const transports of [['polling'], ['polling', 'websocket']]) {
        // withCredentials: engine.io-client keeps a cookie jar under Node.
        const c = await client(lb.url, transports, t, {}, { withCredentials: true });
        if (transports.length === 2) await until(() => c.io.engine.transport.name === 'websocket', { timeoutMs: 5000 });
        const nodes = new Set();
        for (let i = 0; i < 6; i++) nodes.add((await ask(c, 'whoami')).node);
        assert.equal(nodes.size, 1, `${transports}: one cookie, one instance: ${[...nodes]}`);
      }
      assert.equal(relays(trusted), before, 'no request needed a relay');
    });
  }

  test(`${name} with the recipe's TLS lines: HTTPS polling, WSS and the upgrade to plaintext instances, round robin and sticky`, { skip, timeout: 60000 }, async (t) => {
    for (const sticky of [false, true]) {
      const lb = await start(ports(trusted), { tls: true, sticky });
      t.after(() => lb.stop());
      assert.match(lb.url, /^https:/);
      const before = relays(trusted);
      const nodes = new Set();
      const { poll, ws, up } = await clientsOfEachTransport(lb.url, t);
      for (const c of [poll, ws, up]) {
        for (let i = 0; i < 3; i++) {
          const me = await ask(c, 'whoami');
          assert.equal(me.address, CLIENT_ADDR);
          assert.equal(me.proto, 'https', 'X-Forwarded-Proto tells the app the client used TLS');
          nodes.add(me.node);
        }
        await ask(c, 'join', sticky ? 'tls-sticky' : 'tls');
      }
      const heard = new Promise((resolve) => poll.once('over-tls', resolve));
      ws.emit('to', sticky ? 'tls-sticky' : 'tls', 'over-tls', ws.id);
      assert.equal(await heard, ws.id);
      if (sticky) {
        assert.equal(nodes.size, 1, `one client address, one instance: ${[...nodes]}`);
        assert.equal(relays(trusted), before, 'no request needed a relay');
      }
      for (const c of [poll, ws, up]) c.close();
      await lb.stop();
    }
    // Without the CA the client refuses the proxy's certificate.
    const lb = await start(ports(trusted), { tls: true });
    t.after(() => lb.stop());
    const bare = io(lb.url, { forceNew: true, reconnection: false, transports: ['websocket'] });
    t.after(() => bare.close());
    const err = await new Promise((resolve) => bare.once('connect_error', resolve));
    assert.match(String(err.description?.message ?? err.description ?? err.message), /certificate|websocket error/i);
  });

  test(`${name}: X-Forwarded-For is believed only from a trusted proxy, and a client can't forge it`, { skip, timeout: 60000 }, async (t) => {
    const forged = { 'X-Forwarded-For': '6.6.6.6' };
    const lbTrusted = await start(ports(trusted));
    t.after(() => lbTrusted.stop());
    // Trusted proxy: its own entry (the client's address) wins over the forged one.
    for (const transports of [['polling'], ['websocket']]) {
      const c = await client(lbTrusted.url, transports, t, forged);
      assert.equal((await ask(c, 'whoami')).address, CLIENT_ADDR, transports[0]);
    }
    // Instances that trust nobody: the proxy's address; the header is ignored.
    const lbUntrusted = await start(ports(untrusted));
    t.after(() => lbUntrusted.stop());
    for (const transports of [['polling'], ['websocket']]) {
      const c = await client(lbUntrusted.url, transports, t, forged);
      assert.equal((await ask(c, 'whoami')).address, '127.0.0.1', transports[0]);
    }
    // Straight to a trusting instance from an untrusted address: the header is ignored.
    const direct = await client(trusted.A.url, ['polling'], t, forged);
    assert.equal((await ask(direct, 'whoami')).address, CLIENT_ADDR);
  });
}

test('docs/deploying.md shows each file of docs/deploy/ exactly as the tests load it', () => {
  const md = readFileSync(join(SIOLUA_ROOT, 'docs', 'deploying.md'), 'utf8');
  const blocks = [...md.matchAll(/<!-- file: (\S+) -->\n```\w*\n([\s\S]*?)```\n/g)];
  assert.deepEqual(blocks.map((b) => b[1]).sort(),
    ['docs/deploy/haproxy-siolua.cfg', 'docs/deploy/nginx-siolua.conf', 'docs/deploy/prometheus-siolua.yml',
      'docs/deploy/siolua@.service', 'docs/deploy/sysctl-siolua.conf']);
  for (const [, file, text] of blocks) assert.equal(text, readFileSync(join(SIOLUA_ROOT, file), 'utf8'), file);
});
