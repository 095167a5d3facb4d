// A Redis that stays connected but stops answering is handled like a dead
// one: every command has a deadline (redisCommandTimeout), a reply that
// does not come in time drops the connection and fails what was pending,
// the server keeps delivering to its own clients, reconnects with backoff,
// and says so once per outage. Checked with a fake Redis (a TCP server that
// speaks just enough RESP, and then goes silent) and with DEBUG SLEEP on a
// real redis-server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { join } from 'node:path';
import { startServer, makeAppDir, request, eioUrl, until, sleep } from './lib/server.mjs';
import { connected, nextEvent, collect, closeClient, APPS_DIR } from './lib/sio.mjs';
import { startRedis, redisClient, waitSubscribed, SKIP } from './lib/cluster.mjs';

const CLUSTER_APP = join(APPS_DIR, 'cluster');

// The RESP commands in buf, each an array of strings; returns [cmds, rest].
function parseCommands(buf) {
  const cmds = [];
  let i = 0;
  for (;;) {
    if (i >= buf.length || buf[i] !== 0x2a) break;
    let eol = buf.indexOf('\r\n', i);
    if (eol < 0) break;
    const argc = Number(buf.toString('latin1', i + 1, eol));
    let j = eol + 2;
    const args = [];
    for (let k = 0; k < argc; k++) {
      eol = buf.indexOf('\r\n', j);
      if (eol < 0 || buf[j] !== 0x24) return [cmds, buf.subarray(i)];
      const n = Number(buf.toString('latin1', j + 1, eol));
      if (buf.length < eol + 2 + n + 2) return [cmds, buf.subarray(i)];
      args.push(buf.toString('latin1', eol + 2, eol + 2 + n));
      j = eol + 2 + n + 2;
    }
    cmds.push(args);
    i = j;
  }
  return [cmds, buf.subarray(i)];
}

const bulk = (s) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;

// A fake Redis: answers PING, AUTH, SET, GET, PUBLISH, PUBSUB and the
// subscribe commands as Redis would, until hang() (from then on it reads
// and answers nothing, connections stay open), and again after answer().
async function startFakeRedis(t) {
  const socks = new Set();
  const state = { silent: false, commands: 0 };
  const server = net.createServer((sock) => {
    socks.add(sock);
    sock.on('error', () => {});
    sock.on('close', () => socks.delete(sock));
    let pending = Buffer.alloc(0);
    sock.on('data', (d) => {
      pending = Buffer.concat([pending, d]);
      if (state.silent) return;
      const [cmds, rest] = parseCommands(pending);
      pending = rest;
      for (const [name, ...args] of cmds) {
        state.commands++;
        const n = name.toUpperCase();
        if (n === 'PING') sock.write('+PONG\r\n');
        else if (n === 'SET' || n === 'AUTH') sock.write('+OK\r\n');
        else if (n === 'GET') sock.write('$-1\r\n');
        else if (n === 'PUBLISH') sock.write(':0\r\n');
        else if (n === 'PUBSUB') sock.write(`*2\r\n${bulk(args[1])}:1\r\n`);
        else if (/^[PS]?SUBSCRIBE$/.test(n)) sock.write(`*3\r\n${bulk(n.toLowerCase())}${bulk(args[0])}:1\r\n`);
        else sock.write(`-ERR unknown command '${name}'\r\n`);
      }
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => { for (const s of socks) s.destroy(); server.close(); });
  return {
    url: `redis://127.0.0.1:${server.address().port}`,
    connections: () => socks.size,
    state,
    hang() { state.silent = true; },
    answer() { state.silent = false; },
  };
}

const count = (srv, re) => srv.stderr().split('\n').filter((l) => re.test(l)).length;

test('a Redis that accepts and never answers: nothing waits for it, one line says so, however long it lasts', async (t) => {
  const fake = await startFakeRedis(t);
  fake.hang();
  const srv = await startServer({ appDir: CLUSTER_APP, t,
    args: ['--redis', fake.url, '--no-reload', '--set', 'redisCommandTimeout=500'] });
  const a = await connected(srv, '/', { t });
  const b = await connected(srv, '/', { t });
  // Local delivery never waits for Redis.
  const got = nextEvent(b, 'local');
  a.emit('to', {}, 'local', 1);
  assert.deepEqual(await got, [1]);
  // A request for another node's session: its owner's address is a key in
  // Redis. While the first connection is being made the lookup waits for
  // it, but no longer than the connect timeout (3 s), not the lookup's 5 s.
  const sid = 'zzzzzz' + 'a'.repeat(14);
  const relayed = async () => {
    const start = Date.now();
    const res = await request(eioUrl(srv.url, '/socket.io/', { transport: 'polling', sid }), { timeoutMs: 15000 });
    assert.equal(res.status, 400);
    assert.deepEqual(JSON.parse(res.text), { code: 1, message: 'Session ID unknown' });
    return Date.now() - start;
  };
  const first = await relayed();
  assert.ok(first < 3800, `answered after ${first} ms`);
  // The handshake's PING never gets an answer: a connect timeout, said once
  // per connection (pub, sub) however many attempts follow.
  assert.ok(await until(() => count(srv, /connect timeout/) === 2, { timeoutMs: 8000 }), srv.stderr());
  // Once Redis is known to be away, such a request is answered at once.
  const again = await relayed();
  assert.ok(again < 1000, `answered after ${again} ms`);
  await sleep(4000);
  assert.equal(count(srv, /adapter pub: cannot reach .*connect timeout \(3000 ms\)/), 1, srv.stderr());
  assert.equal(count(srv, /adapter sub: cannot reach .*connect timeout \(3000 ms\)/), 1, srv.stderr());
  assert.equal(count(srv, /\[redis\]/), 2, srv.stderr());
});

test('a Redis that goes silent mid-way: the watchdog drops it after redisCommandTimeout, once logged; back when it answers', async (t) => {
  const fake = await startFakeRedis(t);
  const srv = await startServer({ appDir: CLUSTER_APP, t,
    args: ['--redis', fake.url, '--no-reload', '--set', 'redisCommandTimeout=1000'] });
  assert.ok(await until(() => count(srv, /adapter (pub|sub): connected to/) === 2, { timeoutMs: 5000 }), srv.stderr());
  fake.hang();
  // A lookup of another node's session waits for its GET: the watchdog ends
  // that wait after 1 s (not the registry's own 5 s).
  const sid = 'zzzzzz' + 'b'.repeat(14);
  const start = Date.now();
  const res = await request(eioUrl(srv.url, '/socket.io/', { transport: 'polling', sid }), { timeoutMs: 15000 });
  const waited = Date.now() - start;
  assert.deepEqual(JSON.parse(res.text), { code: 1, message: 'Session ID unknown' });
  assert.ok(waited >= 900 && waited < 4000, `answered after ${waited} ms`);
  // The subscriber hears nothing on its own: its ping finds the hang too.
  assert.ok(await until(() => count(srv, /adapter sub: lost .*no reply within 1000 ms/) === 1, { timeoutMs: 6000 }),
    srv.stderr());
  assert.equal(count(srv, /adapter pub: lost .*no reply within 1000 ms/), 1, srv.stderr());
  // Local delivery went on meanwhile.
  const a = await connected(srv, '/', { t });
  const b = await connected(srv, '/', { t });
  const got = nextEvent(b, 'during');
  a.emit('to', {}, 'during', 'hang');
  assert.deepEqual(await got, ['hang']);
  await sleep(3000); // reconnect attempts against the silent server: no new line
  assert.equal(count(srv, /lost|cannot reach/), 2, srv.stderr());
  fake.answer();
  assert.ok(await until(() => count(srv, /adapter (pub|sub): connected to .* again after/) === 2, { timeoutMs: 10000 }),
    srv.stderr());
  assert.equal(count(srv, /lost|cannot reach/), 2, srv.stderr());
});

test('DEBUG SLEEP on a real Redis: local delivery goes on, nothing arrives twice, the cluster comes back by itself', { skip: SKIP, timeout: 60000 }, async (t) => {
  const redis = await startRedis(t, { args: ['--enable-debug-command', 'yes'] });
  const args = ['--redis', redis.url, '--no-reload', '--set', 'redisCommandTimeout=500'];
  const s1 = await startServer({ appDir: CLUSTER_APP, t, args });
  const s2 = await startServer({ appDir: CLUSTER_APP, t, args });
  const admin = await redisClient(redis);
  t.after(() => admin.disconnect().catch(() => {}));
  await waitSubscribed(admin, ['/'], 2);
  const a = await connected(s1, '/', { t });
  const a2 = await connected(s1, '/', { t });
  const b = await connected(s2, '/', { t });
  const heardB = collect(b, 'n');
  const heardA2 = collect(a2, 'n');
  let n = 0;
  const emitOne = () => a.emit('to', {}, 'n', ++n);
  for (let i = 0; i < 5; i++) emitOne();
  assert.ok(await until(() => heardB.length === 5), JSON.stringify(heardB));
  // Redis sleeps 3 s: its connections stay open, it answers nothing.
  const sleeper = await redisClient(redis);
  t.after(() => sleeper.disconnect().catch(() => {}));
  const slept = sleeper.sendCommand(['DEBUG', 'SLEEP', '3']).catch(() => {});
  await sleep(200);
  const during = Date.now();
  while (Date.now() - during < 2500) {
    emitOne();
    await sleep(50);
  }
  await slept;
  // Local delivery never waited.
  assert.ok(await until(() => heardA2.length === n), `${heardA2.length} of ${n}`);
  assert.deepEqual(heardA2.map((x) => x[0]), [...Array(n)].map((_, i) => i + 1));
  // Back: the watchdog dropped the stuck connections, they came back.
  assert.ok(await until(async () => {
    const before = heardB.length;
    emitOne();
    await sleep(100);
    return heardB.length > before;
  }, { timeoutMs: 15000, stepMs: 100 }), `${s1.stderr()}\n${s2.stderr()}`);
  const last = n;
  emitOne();
  assert.ok(await until(() => heardB.some((x) => x[0] === last + 1)));
  // What crossed during the sleep crossed at most once.
  const seen = heardB.map((x) => x[0]);
  assert.equal(new Set(seen).size, seen.length, `delivered twice: ${seen}`);
  // One line each way per connection, however many attempts in between.
  for (const s of [s1, s2]) {
    for (const name of ['adapter pub', 'adapter sub']) {
      assert.ok(count(s, new RegExp(`${name}: lost .*no reply within 500 ms`)) <= 1, s.stderr());
      assert.equal(count(s, new RegExp(`${name}: lost`)), count(s, new RegExp(`${name}: connected to .* again`)),
        s.stderr());
    }
  }
  assert.ok(count(s1, /adapter pub: lost .*no reply within 500 ms/) === 1, s1.stderr());
  for (const c of [a, a2, b]) closeClient(c);
});
