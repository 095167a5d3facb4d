// `siolua run APP --workers N`: a supervisor and N worker processes sharing
// one port (SO_REUSEPORT: the kernel spreads TCP connections over them),
// joined as one cluster by the Redis adapter, on the supervisor's local bus
// or on a real Redis. Real socket.io-client sockets, every one on its own
// TCP connections (the client's default in Node: no keep-alive agent), so
// consecutive polling requests of one client land on either worker and
// must be relayed to the session's owner.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { readFileSync, writeFileSync, cpSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, makeTempDir, runCli, sleep, until, SIOLUA_ROOT, SIOLUA_BIN } from './lib/server.mjs';
import { startRedis, SKIP as SKIP_REDIS } from './lib/cluster.mjs';
import { connected, waitConnect, ask, askWithin, collect, nextEvent } from './lib/sio.mjs';

const APP = join(SIOLUA_ROOT, 'tests', 'apps', 'workers');

function startWorkers(t, { n = 2, args = [], appDir = APP, logLevel = 'debug' } = {}) {
  return startServer({ appDir, t, logLevel, args: ['--workers', String(n), '--no-reload', ...args], timeoutMs: 20000 });
}

// worker index -> pid, from the workers' "serving" lines (the latest wins).
function workerPids(srv) {
  const pids = new Map();
  for (const m of srv.stderr().matchAll(/worker (\d+) \(pid (\d+)\) serving/g)) pids.set(Number(m[1]), Number(m[2]));
  return pids;
}

// Connects n clients (each on fresh connections) and asks each its worker.
async function connectMany(t, srv, n, opts = {}) {
  const sockets = await Promise.all(Array.from({ length: n }, () => connected(srv, '/', { t, ...opts })));
  const who = await Promise.all(sockets.map(async (s) => (await ask(s, 'whoami'))[0]));
  return sockets.map((s, i) => ({ s, worker: who[i].worker }));
}

// As connectMany, with at least two clients on each of workers 1 and 2:
// the kernel hashes each connection to a worker, so a batch may (rarely)
// land on one only; more are connected until both have two.
async function connectSpread(t, srv, n) {
  const clients = await connectMany(t, srv, n);
  for (let i = 0; i < 8; i++) {
    const counts = byWorker(clients);
    if ((counts.get(1) ?? 0) >= 2 && (counts.get(2) ?? 0) >= 2) break;
    clients.push(...(await connectMany(t, srv, 4)));
  }
  return clients;
}

function byWorker(clients) {
  const m = new Map();
  for (const c of clients) m.set(c.worker, (m.get(c.worker) ?? 0) + 1);
  return m;
}

describe('two workers on the local bus', () => {
  let srv;
  before(async () => { srv = await startWorkers(null); });
  after(async () => {
    const r = await srv?.stop();
    assert.equal(r?.code, 0, srv?.stderr());
  });

  test('connections spread over both workers and each worker knows its index', async (t) => {
    const clients = await connectMany(t, srv, 20);
    const counts = byWorker(clients);
    assert.deepEqual([...counts.keys()].sort(), [1, 2], `clients per worker: ${JSON.stringify([...counts])}`);
    assert.equal(counts.get(1) + counts.get(2), 20);
    assert.match(srv.stderr(), /serving .* with 2 workers \(joined by a local bus\), listening on http:/);
    assert.match(srv.stderr(), /worker=1 \[local bus\] adapter pub: connected to/);
    assert.match(srv.stderr(), /worker=2 \[main\] worker 2 \(pid \d+\) serving/);
  });

  test('a broadcast from a client of one worker reaches every client of both workers once', async (t) => {
    const clients = await connectSpread(t, srv, 12);
    assert.equal(byWorker(clients).size, 2);
    const heard = clients.map((c) => collect(c.s, 'heard'));
    const from = clients.find((c) => c.worker === 1);
    from.s.emit('shout', 'hello all');
    await Promise.all(heard.map((h) => h.wait(1)));
    await sleep(200); // a duplicate would have come by now
    for (const h of heard) assert.deepEqual(h, [['hello all', 1]]);
  });

  test('room broadcasts reach the room members on both workers only', async (t) => {
    const clients = await connectSpread(t, srv, 12);
    const members = [clients.find((c) => c.worker === 1), clients.find((c) => c.worker === 2)];
    for (const m of members) await ask(m.s, 'join', 'blue');
    const got = clients.map((c) => collect(c.s, 'room-msg'));
    const sender = clients.find((c) => !members.includes(c) && c.worker === 2);
    sender.s.emit('to-room', 'blue', 'only blue');
    for (const [i, c] of clients.entries()) {
      if (members.includes(c)) assert.deepEqual(await got[i].wait(1), [['only blue', 2]]);
    }
    await sleep(200);
    for (const [i, c] of clients.entries()) if (!members.includes(c)) assert.deepEqual(got[i], []);
  });

  test('fetch_sockets and server_side_emit reach the other worker', async (t) => {
    const clients = await connectSpread(t, srv, 10);
    const one = clients.find((c) => c.worker === 1);
    const two = clients.find((c) => c.worker === 2);
    await ask(one.s, 'join', 'green');
    await ask(two.s, 'join', 'green');
    const [list] = await ask(one.s, 'fetch', 'green');
    assert.deepEqual(list, [{ id: one.s.id, worker: 1 }, { id: two.s.id, worker: 2 }].sort((a, b) => (a.id < b.id ? -1 : 1)));
    const [err, responses] = await askWithin(6000, two.s, 'sse', 'x');
    assert.equal(err, null);
    assert.deepEqual(responses, ['worker 1 heard x']);
    assert.deepEqual(await askWithin(6000, one.s, 'sse-wait', 'y'), [null, ['worker 2 heard y']]);
  });

  test('polling-only clients, a new TCP connection per request, are relayed to their worker', async (t) => {
    const relayedBefore = (srv.stderr().match(/relaying (GET|POST) /g) ?? []).length;
    const clients = await connectMany(t, srv, 6, { transports: ['polling'] });
    const heard = clients.map((c) => collect(c.s, 'heard'));
    for (let round = 0; round < 3; round++) {
      for (const c of clients) {
        const [who] = await ask(c.s, 'whoami');
        assert.equal(who.worker, c.worker, 'a session stays on the worker that owns it');
      }
    }
    clients[0].s.emit('shout', 'polled');
    for (const h of heard) await h.wait(1);
    for (const c of clients) {
      assert.equal(c.s.connected, true);
      assert.equal(c.s.io.engine.transport.name, 'polling');
    }
    const relayed = (srv.stderr().match(/relaying (GET|POST) /g) ?? []).length - relayedBefore;
    assert.ok(relayed > 0, 'some requests landed on the worker that does not own the session');
  });

  test('a polling client upgrades to WebSocket even when the upgrade lands on the other worker', async (t) => {
    const clients = await connectMany(t, srv, 12, { transports: ['polling', 'websocket'] });
    await until(() => clients.every((c) => c.s.io.engine.transport.name === 'websocket'), { timeoutMs: 5000 });
    for (const c of clients) assert.equal(c.s.io.engine.transport.name, 'websocket');
    assert.match(srv.stderr(), /relaying GET \S*transport=websocket/, 'an upgrade crossed workers');
    for (const c of clients) assert.equal((await ask(c.s, 'whoami'))[0].worker, c.worker);
  });

  test('the local bus answers a command it does not know with an error', async () => {
    const path = /local bus at (\S+)/.exec(srv.stderr())[1];
    const sock = net.connect(path);
    let got = '';
    sock.on('data', (d) => { got += d; });
    await new Promise((resolve) => sock.once('connect', resolve));
    sock.write('*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n*1\r\n$4\r\nPING\r\n');
    await until(() => got.includes('PONG'), { timeoutMs: 2000 });
    sock.destroy();
    assert.equal(got, "-ERR unknown command 'HELLO'\r\n+PONG\r\n");
  });
});

test('connection state recovery works across workers (the session kept on the local bus)', async (t) => {
  const srv = await startWorkers(t, { args: ['--set', 'connectionStateRecovery=true'] });
  const other = await connected(srv, '/', { t });
  // The delay lets the old worker see the connection go (and keep the
  // session) before the client comes back, maybe through the other worker.
  const a = await connected(srv, '/', { t, reconnection: true, reconnectionDelay: 300, reconnectionDelayMax: 300 });
  const id = a.id;
  let [who] = await ask(a, 'whoami');
  const heard = collect(a, 'heard');
  // A client can ask for recovery once it holds an offset (a broadcast's).
  other.emit('shout', 'warm-up');
  await heard.wait(1);
  let crossed = 0;
  for (let i = 0; i < 12 && !crossed; i++) {
    const down = nextEvent(a, 'disconnect', 3000);
    a.io.engine.transport.ws._socket.destroy(); // the network drops it
    assert.equal((await down)[0], 'transport close');
    other.emit('shout', `missed ${i}`);
    await waitConnect(a, 5000);
    assert.equal(a.recovered, true, `recovered (round ${i})`);
    assert.equal(a.id, id);
    await heard.wait(i + 2);
    assert.deepEqual(heard[i + 1][0], `missed ${i}`);
    const [now] = await ask(a, 'whoami');
    if (now.worker !== who.worker) crossed++;
    who = now;
  }
  assert.ok(crossed > 0, 'the client came back through the other worker at least once');
  await sleep(200);
  assert.equal(new Set(heard.map((h) => h[0])).size, heard.length, 'no event twice');
});

test('the port of a running supervisor is refused to a second one and to a single process', async (t) => {
  const srv = await startWorkers(t, { logLevel: 'info' });
  for (const extra of [['--workers', '2'], []]) {
    const r = await runCli(['run', APP, '--port', String(srv.port), '--host', '127.0.0.1', '--no-reload', ...extra],
      { timeoutMs: 10000 });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /cannot listen on 127\.0\.0\.1:\d+: address already in use/);
  }
  assert.equal((await srv.stop()).code, 0);
});

test('a killed worker is started again; its clients reconnect, the other worker\'s stay', async (t) => {
  const srv = await startWorkers(t);
  const clients = await connectMany(t, srv, 12, { reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 200 });
  assert.equal(byWorker(clients).size, 2);
  const disconnects = clients.map((c) => collect(c.s, 'disconnect'));
  const victim = workerPids(srv).get(1);
  process.kill(victim, 'SIGKILL');
  await until(() => /worker 1 \(pid \d+\) is serving again/.test(srv.stderr()), { timeoutMs: 10000 });
  assert.match(srv.stderr(), new RegExp(`worker 1 \\(pid ${victim}\\) was killed by signal 9 .*; starting it again in \\d+ ms`));
  assert.notEqual(workerPids(srv).get(1), victim);
  for (const [i, c] of clients.entries()) {
    if (c.worker === 1) {
      await disconnects[i].wait(1, 5000);
      await waitConnect(c.s, 10000);
    }
  }
  await until(() => clients.every((c) => c.s.connected), { timeoutMs: 10000 });
  // Everyone works again: a broadcast reaches all (each once).
  const heard = clients.map((c) => collect(c.s, 'heard'));
  clients.find((c) => c.worker === 2).s.emit('shout', 'after the crash');
  for (const h of heard) await h.wait(1, 5000);
  await sleep(200);
  for (const h of heard) assert.equal(h.length, 1);
  for (const [i, c] of clients.entries()) {
    if (c.worker === 2) assert.deepEqual(disconnects[i], [], 'clients of the surviving worker never disconnected');
  }
  const r = await srv.stop();
  assert.equal(r.code, 0);
});

test('SIGHUP to the supervisor reloads every worker, clients stay connected', async (t) => {
  const dir = makeTempDir('siolua-workers-app-');
  cpSync(APP, dir, { recursive: true });
  const srv = await startWorkers(t, { appDir: dir });
  const clients = await connectMany(t, srv, 12);
  assert.equal(byWorker(clients).size, 2);
  const disconnects = clients.map((c) => collect(c.s, 'disconnect'));
  const main = join(dir, 'main.lua');
  writeFileSync(main, readFileSync(main, 'utf8').replace('local VERSION = "v1"', 'local VERSION = "v2"'));
  srv.proc.kill('SIGHUP');
  await until(() => (srv.stderr().match(/reloaded; \d+ connected sockets/g) ?? []).length >= 2, { timeoutMs: 5000 });
  for (const c of clients) {
    const [who] = await ask(c.s, 'whoami');
    assert.deepEqual([who.version, who.worker], ['v2', c.worker]);
  }
  assert.match(srv.stderr(), /SIGHUP received, reloading 2 workers/);
  for (const d of disconnects) assert.deepEqual(d, []);
  assert.equal((await srv.stop()).code, 0);
});

test('SIGHUP while the workers still load their app: they start and serve, none is killed by it', async (t) => {
  // A worker installs its signal handlers only once main.lua has loaded;
  // until then SIGHUP's default action would kill it (and, at start-up,
  // stop the supervisor with an error).
  const dir = makeTempDir('siolua-workers-slow-');
  cpSync(APP, dir, { recursive: true });
  const main = join(dir, 'main.lua');
  // The load takes more than the default time limit (1000 ms of CPU), and
  // main.lua runs before the command line's options apply: it sets its own.
  writeFileSync(main, 'require("siolua").configure { luaTimeLimit = 10000 }\n'
    + 'local t0 = os.clock() while os.clock() - t0 < 1.5 do end\n' + readFileSync(main, 'utf8'));
  const proc = spawn(SIOLUA_BIN, ['run', dir, '--workers', '2', '--no-reload', '--port', '0', '--host', '127.0.0.1'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  proc.stderr.setEncoding('utf8').on('data', (d) => { log += d; });
  const exited = new Promise((resolve) => proc.on('close', (code, signal) => resolve({ code, signal })));
  t.after(() => { if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL'); });
  assert.ok(await until(() => /starting 2 workers/.test(log), { timeoutMs: 5000 }), log);
  await sleep(300);
  proc.kill('SIGHUP');
  // 1.5 s of CPU each, twice (the load, then the reload): on a loaded
  // 2-core machine (a load average of 20 in a full test run) that is tens
  // of seconds of wall time.
  assert.ok(await until(() => /listening on http:/.test(log) || proc.exitCode !== null, { timeoutMs: 60000 }), log);
  assert.match(log, /serving .* with 2 workers/);
  assert.doesNotMatch(log, /killed by signal 1\b/);
  proc.kill('SIGTERM');
  assert.deepEqual(await exited, { code: 0, signal: null }, log);
});

test('SIGTERM to the supervisor closes every client of every worker and exits 0', async (t) => {
  const srv = await startWorkers(t);
  const clients = await connectMany(t, srv, 10);
  assert.equal(byWorker(clients).size, 2);
  const reasons = clients.map((c) => nextEvent(c.s, 'disconnect', 5000));
  const r = await srv.stop('SIGTERM');
  assert.deepEqual(r, { code: 0, signal: null });
  for (const reason of await Promise.all(reasons)) assert.ok(['io server disconnect', 'transport close'].includes(reason[0]), reason[0]);
  assert.match(srv.stderr(), /SIGTERM received, stopping 2 workers/);
  assert.equal((srv.stderr().match(/worker=\d \[main\] stopped/g) ?? []).length, 2);
  // The bus's private directory is gone with it.
  const dir = /local bus at (\S+)\/bus\.sock/.exec(srv.stderr())[1];
  assert.throws(() => readFileSync(join(dir, 'bus.sock')));
});

test('killing the supervisor (SIGKILL) takes its workers with it', async (t) => {
  const srv = await startWorkers(t);
  const pids = [...workerPids(srv).values()];
  assert.equal(pids.length, 2);
  await srv.kill();
  const alive = (pid) => { try { process.kill(pid, 0); return true; } catch { return false; } };
  assert.ok(await until(() => pids.every((p) => !alive(p)), { timeoutMs: 5000 }), 'workers exited');
});

test('a worker that cannot start stops the supervisor with an error', async () => {
  const dir = makeTempDir('siolua-workers-bad-');
  writeFileSync(join(dir, 'main.lua'), 'error("broken on purpose")\n');
  const r = await runCli(['run', dir, '--workers', '2', '--port', '0', '--host', '127.0.0.1'], { timeoutMs: 10000 });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /worker \d exited with code 1 before it was serving: stopping/);
});

test('--workers is checked, and --worker is for the supervisor only', async () => {
  for (const bad of ['0', 'many', '-1']) {
    const r = await runCli(['run', APP, '--workers', bad]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /bad --workers/);
  }
  const r = await runCli(['run', APP, '--worker', '1', '--port', '0']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--worker is set by `siolua run --workers N`/);
  const help = await runCli(['--help']);
  assert.match(help.stdout, /--workers N/);
});

test('--workers auto starts one worker per CPU', async (t) => {
  const srv = await startServer({ appDir: APP, t, args: ['--workers', 'auto', '--no-reload'], timeoutMs: 20000 });
  const n = availableParallelism();
  assert.match(srv.stderr(), new RegExp(`with ${n} workers \\(joined by a local bus\\)`));
  assert.equal(workerPids(srv).size, n);
  assert.equal((await srv.stop()).code, 0);
});

describe('two workers on a real Redis', { skip: SKIP_REDIS }, () => {
  test('clients of the workers and of a plain instance on the same Redis hear each other', async (t) => {
    const redis = await startRedis(t);
    const workers = await startWorkers(t, { args: ['--redis', redis.url] });
    const plain = await startServer({ appDir: APP, t, args: ['--redis', redis.url, '--no-reload'] });
    assert.match(workers.stderr(), /with 2 workers \(joined by redis\)/);
    assert.doesNotMatch(workers.stderr(), /local bus/);
    const clients = await connectMany(t, workers, 10);
    assert.equal(byWorker(clients).size, 2);
    const other = await connected(plain, '/', { t });
    assert.equal((await ask(other, 'whoami'))[0].worker, undefined, 'sio.worker is nil without --workers');
    const all = [...clients.map((c) => c.s), other];
    // Every server of the cluster is subscribed before the broadcasts.
    await until(async () => {
      const [err, responses] = await askWithin(6000, other, 'sse', 'count');
      return err === null && responses.length === 2;
    }, { timeoutMs: 10000 });
    let heard = all.map((s) => collect(s, 'heard'));
    other.emit('shout', 'from plain');
    for (const h of heard) assert.deepEqual(await h.wait(1), [['from plain', 0]]);
    for (const s of all) s.off('heard');
    heard = all.map((s) => collect(s, 'heard'));
    clients.find((c) => c.worker === 2).s.emit('shout', 'from worker 2');
    for (const h of heard) assert.deepEqual(await h.wait(1), [['from worker 2', 2]]);
    await sleep(200);
    for (const h of heard) assert.equal(h.length, 1);
    assert.equal((await workers.stop()).code, 0);
  });
});
