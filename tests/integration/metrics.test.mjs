// Prometheus metrics (--set metrics=/metrics) and the health check
// (--set healthPath=/health), scraped over real HTTP and read strictly
// (lib/prom.mjs; promtool, Prometheus's own checker, too): the values move
// as real socket.io clients connect, upgrade, emit and leave; Lua errors,
// reloads, ack timeouts and a Redis outage show; the token guards the
// route; --workers 2 answers for both workers; /health turns 503 while a
// SIGTERM drains the server; and a real Prometheus server scrapes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import {
  startServer, request, runCli, makeAppDir, makeTempDir, eioHandshake, until, once, SIOLUA_ROOT,
} from './lib/server.mjs';
import { connected, closeClient } from './lib/sio.mjs';
import { startRedis, freePort, SKIP as NO_REDIS } from './lib/cluster.mjs';
import { parseMetrics, value, promtoolCheck } from './lib/prom.mjs';
import { openRawWs } from './lib/eio.mjs';

const APP = join(SIOLUA_ROOT, 'tests', 'apps', 'echo');
const METRICS = ['--set', 'metrics=/metrics'];

async function scrape(srv, { headers = {}, path = '/metrics' } = {}) {
  const res = await request(`${srv.url}${path}`, { headers });
  assert.equal(res.status, 200, res.text);
  assert.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  const fams = parseMetrics(res.text);
  assert.equal(promtoolCheck(res.text), null);
  return fams;
}

// Scrapes until pred(families) holds; returns the last families.
async function scrapeUntil(srv, pred, { timeoutMs = 5000, headers } = {}) {
  let fams;
  await until(async () => pred(fams = await scrape(srv, { headers })), { timeoutMs, stepMs: 50 });
  assert.ok(pred(fams), 'condition never held; last scrape:\n' +
    [...fams.values()].map((f) => f.samples.map((s) => `${s.name}${JSON.stringify(s.labels)} ${s.value}`).join('\n')).join('\n'));
  return fams;
}

const REQUIRED = {
  siolua_engine_clients: 'gauge', siolua_sockets: 'gauge', siolua_handshakes_total: 'counter',
  siolua_upgrades_total: 'counter', siolua_disconnects_total: 'counter',
  siolua_packets_received_total: 'counter', siolua_packets_sent_total: 'counter',
  siolua_bytes_received_total: 'counter', siolua_bytes_sent_total: 'counter',
  siolua_broadcasts_total: 'counter', siolua_ack_timeouts_total: 'counter',
  siolua_lua_handler_seconds: 'histogram', siolua_lua_errors_total: 'counter',
  siolua_reloads_total: 'counter', siolua_event_loop_lag_seconds: 'gauge',
  process_resident_memory_bytes: 'gauge', process_cpu_seconds_total: 'counter',
  process_open_fds: 'gauge', process_max_fds: 'gauge',
  // The limits (their values are checked by the limit tests).
  siolua_connections: 'gauge', siolua_connections_refused_total: 'counter',
  siolua_fd_exhausted_total: 'counter', siolua_connections_dropped_no_fd_total: 'counter',
  siolua_request_body_bytes: 'gauge', siolua_request_bodies_refused_total: 'counter',
  siolua_requests_timed_out_total: 'counter', siolua_requests_bad_total: 'counter',
  siolua_output_queued_bytes: 'gauge', siolua_slow_readers_dropped_total: 'counter',
  siolua_sessions_refused_total: 'counter',
};

test('metrics are off by default; the path answers 404 like any other', async (t) => {
  const srv = await startServer({ appDir: APP, t });
  assert.equal((await request(`${srv.url}/metrics`)).status, 404);
  assert.equal((await request(`${srv.url}/health`)).status, 404);
});

test('a scrape is valid text format 0.0.4 with every family, typed, and the process figures', async (t) => {
  const srv = await startServer({ appDir: APP, t, args: METRICS });
  const fams = await scrape(srv);
  for (const [name, type] of Object.entries(REQUIRED)) {
    assert.ok(fams.has(name), `${name} is missing`);
    assert.equal(fams.get(name).type, type, name);
    assert.ok(fams.get(name).help.length > 10, `${name} has a HELP text`);
  }
  assert.ok(value(fams, 'process_resident_memory_bytes') > 1e6);
  assert.ok(value(fams, 'process_open_fds') >= 3);
  assert.ok(value(fams, 'process_max_fds') >= value(fams, 'process_open_fds'));
  assert.ok(Math.abs(value(fams, 'process_start_time_seconds') - Date.now() / 1000) < 60);
  assert.equal(value(fams, 'siolua_sockets', { namespace: '/' }), 0);
  assert.equal(fams.has('siolua_redis_up'), false, 'no adapter, no redis_up');
  // HEAD gets the headers alone; other methods are refused.
  const head = await request(`${srv.url}/metrics`, { method: 'HEAD' });
  assert.equal(head.status, 200);
  const post = await request(`${srv.url}/metrics`, { method: 'POST', body: 'x' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.allow, 'GET, HEAD');
});

test('values follow real clients: handshake, upgrade, packets, bytes, broadcasts, handler time, disconnect reasons', async (t) => {
  const srv = await startServer({ appDir: APP, t, args: METRICS });
  const before = await scrape(srv);
  const bytesIn0 = value(before, 'siolua_bytes_received_total');
  const bytesOut0 = value(before, 'siolua_bytes_sent_total');

  // Polling first, then the upgrade to WebSocket (the client's default).
  const a = await connected(srv, '/', { t, transports: ['polling', 'websocket'] });
  await until(() => a.io.engine.transport.name === 'websocket');
  const b = await connected(srv, '/', { t, transports: ['polling'] });
  let fams = await scrapeUntil(srv, (f) => value(f, 'siolua_upgrades_total') === 1);
  assert.equal(value(fams, 'siolua_handshakes_total'), 2);
  assert.equal(value(fams, 'siolua_engine_clients', { transport: 'websocket' }), 1);
  assert.equal(value(fams, 'siolua_engine_clients', { transport: 'polling' }), 1);
  assert.equal(value(fams, 'siolua_sockets', { namespace: '/' }), 2);
  const recv0 = value(fams, 'siolua_packets_received_total');
  const sent0 = value(fams, 'siolua_packets_sent_total');
  const runs0 = value(fams, 'siolua_lua_handler_seconds_count');
  assert.equal(recv0, 2, 'the two CONNECT packets');
  assert.equal(sent0, 2, 'the two CONNECT replies');

  for (let i = 0; i < 10; i++) assert.equal(await a.emitWithAck('echo', `${i}${'x'.repeat(100)}`), `${i}${'x'.repeat(100)}`);
  const heard = Promise.all([once(a, 'shout'), once(b, 'shout')]);
  a.emit('shout', 'hi');
  await heard;
  fams = await scrape(srv);
  assert.equal(value(fams, 'siolua_packets_received_total'), recv0 + 11);
  assert.equal(value(fams, 'siolua_packets_sent_total'), sent0 + 10 + 2, '10 acks, the shout to 2');
  assert.equal(value(fams, 'siolua_broadcasts_total'), 1);
  assert.ok(value(fams, 'siolua_bytes_received_total') > bytesIn0 + 1000);
  assert.ok(value(fams, 'siolua_bytes_sent_total') > bytesOut0 + 1000);
  assert.ok(value(fams, 'siolua_lua_handler_seconds_count') >= runs0 + 11);
  assert.ok(value(fams, 'siolua_lua_handler_seconds_sum') > 0);
  assert.equal(value(fams, 'siolua_lua_errors_total'), 0);

  closeClient(a);
  fams = await scrapeUntil(srv, (f) => value(f, 'siolua_engine_clients', { transport: 'websocket' }) === 0);
  assert.equal(value(fams, 'siolua_sockets', { namespace: '/' }), 1);
  assert.equal(value(fams, 'siolua_disconnects_total', { reason: 'transport close' }), 1);
  b.io.engine.close(); // the polling client goes
  fams = await scrapeUntil(srv, (f) => value(f, 'siolua_engine_clients', { transport: 'polling' }) === 0);
  assert.equal(value(fams, 'siolua_disconnects_total', { reason: 'transport close' }), 2);
  assert.equal(value(fams, 'siolua_sockets', { namespace: '/' }), 0);
});

// A scale run loses connections to late pongs by the thousand: the count is
// the metric, and the log tells it in one line per interval, never a line
// per session (the first at once, what follows in the interval's line).
test('sessions closed for a ping timeout: counted by reason, logged in aggregate lines', async (t) => {
  const srv = await startServer({
    appDir: APP, t, args: [...METRICS, '--set', 'pingInterval=100', '--set', 'pingTimeout=100'],
  });
  const silent = [];
  for (let i = 0; i < 5; i++) {
    silent.push(await openRawWs(`${srv.wsUrl}/socket.io/?EIO=4&transport=websocket`, { t }));
  }
  const fams = await scrapeUntil(srv, (f) => value(f, 'siolua_disconnects_total', { reason: 'ping timeout' }) === 5,
    { timeoutMs: 20000 });
  assert.equal(value(fams, 'siolua_engine_clients', { transport: 'websocket' }), 0);
  const told = () => [...srv.stderr().matchAll(
    /(\d+) sessions? closed: ping timeout \(no pong within pingTimeout 100 ms\); (\d+) since the start/g)];
  // The interval's line comes up to 10 s after the first (SL_LOG_EVERY_MS).
  await until(() => told().reduce((n, m) => n + Number(m[1]), 0) === 5, { timeoutMs: 20000 });
  const lines = told();
  assert.equal(lines[0][1], '1', 'the first one is told at once, alone');
  assert.equal(lines.at(-1)[2], '5');
  assert.ok(lines.length < 5, `a line per session: ${lines.map((m) => m[0]).join(' | ')}`);
});

test('with the msgpack parser, packets are counted both ways as with JSON', async (t) => {
  const parser = createRequire(import.meta.url)('socket.io-msgpack-parser');
  const srv = await startServer({ appDir: APP, t, args: [...METRICS, '--set', 'parser=msgpack'] });
  const a = await connected(srv, '/', { t, parser });
  for (let i = 0; i < 5; i++) assert.equal(await a.emitWithAck('echo', i), i);
  const fams = await scrape(srv);
  assert.equal(value(fams, 'siolua_packets_received_total'), 1 + 5, 'CONNECT and 5 events');
  assert.equal(value(fams, 'siolua_packets_sent_total'), 1 + 5, 'the CONNECT reply and 5 acks');
});

test('namespace names from clients come out as valid label values (quotes, backslashes, line feeds, non-UTF-8)', async (t) => {
  const srv = await startServer({ appDir: APP, t, args: METRICS });
  const names = ['/any"quoted"', '/any\\back\\slash', '/any\nline', '/anyé'];
  for (const n of names) await connected(srv, n, { t });
  // A namespace of raw bytes that are not UTF-8, straight over Engine.IO.
  const { sid } = await eioHandshake(srv.url, { path: '/socket.io/' });
  const post = await request(`${srv.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, {
    method: 'POST', body: Buffer.concat([Buffer.from('40/any'), Buffer.from([0xff, 0xfe]), Buffer.from(',')]),
  });
  assert.equal(post.status, 200);
  const fams = await scrapeUntil(srv, (f) => value(f, 'siolua_sockets', { namespace: '/any\ufffd\ufffd' }) === 1);
  for (const n of names) assert.equal(value(fams, 'siolua_sockets', { namespace: n }), 1, n);
});

test('a failing handler counts as a Lua error; an ack that never comes counts as an ack timeout', async (t) => {
  const srv = await startServer({ appDir: APP, t, args: METRICS });
  const a = await connected(srv, '/', { t });
  a.emit('boom');
  let fams = await scrapeUntil(srv, (f) => value(f, 'siolua_lua_errors_total') === 1);
  assert.match(srv.stderr(), /lua error in .*boom on purpose/);
  a.on('question', () => { /* never acknowledged */ });
  assert.equal(await a.emitWithAck('ask', 50), 'timed out');
  fams = await scrape(srv);
  assert.equal(value(fams, 'siolua_ack_timeouts_total'), 1);
  assert.equal(value(fams, 'siolua_lua_errors_total'), 1);
});

test('reloads count by result: a good main.lua is ok, a broken one failed', async (t) => {
  const good = 'local sio = require "siolua"\nsio.server:on("connection", function(s) end)\n';
  const dir = makeAppDir({ 'main.lua': good });
  const srv = await startServer({ appDir: dir, t, args: [...METRICS, '--no-reload'] });
  srv.proc.kill('SIGHUP');
  let fams = await scrapeUntil(srv, (f) => value(f, 'siolua_reloads_total', { result: 'ok' }) === 1);
  assert.equal(value(fams, 'siolua_reloads_total', { result: 'failed' }), 0);
  writeFileSync(join(dir, 'main.lua'), 'this is not lua\n');
  srv.proc.kill('SIGHUP');
  fams = await scrapeUntil(srv, (f) => value(f, 'siolua_reloads_total', { result: 'failed' }) === 1);
  assert.equal(value(fams, 'siolua_reloads_total', { result: 'ok' }), 1);
});

test('metricsToken: Bearer only, right token only; 401 with WWW-Authenticate otherwise; health needs none', async (t) => {
  const token = 'tok-3f9a_c0ffee.1';
  const srv = await startServer({ appDir: APP, t, args: [...METRICS, '--set', `metricsToken=${token}`, '--set', 'healthPath=/health'] });
  const none = await request(`${srv.url}/metrics`);
  assert.equal(none.status, 401);
  assert.equal(none.headers['www-authenticate'], 'Bearer realm="siolua metrics"');
  assert.doesNotMatch(none.text, /siolua_/);
  for (const auth of [`Bearer ${token}x`, `Bearer ${token.slice(0, -1)}`, 'Bearer ',
    `Basic ${Buffer.from(`user:${token}`).toString('base64')}`, `Basic ${token}`, token]) {
    const res = await request(`${srv.url}/metrics`, { headers: { Authorization: auth } });
    assert.equal(res.status, 401, auth);
    assert.match(res.headers['www-authenticate'], /^Bearer realm="siolua metrics", error="invalid_token"$/);
  }
  const fams = await scrape(srv, { headers: { Authorization: `Bearer ${token}` } });
  assert.ok(fams.has('siolua_handshakes_total'));
  assert.equal((await scrape(srv, { headers: { Authorization: `bearer ${token}` } })).size, fams.size, 'the scheme is case-insensitive');
  assert.equal((await request(`${srv.url}/health`)).status, 200);
  assert.ok(!srv.stderr().includes(token), 'the token is in no log line');
});

test('bad metrics options are refused with the reason; a bad token is not shown (it may be nearly the secret)', async () => {
  for (const [set, why] of [
    ['metrics=metrics', /bad value 'metrics' for metrics: expected a path starting with '\/'/],
    ['metrics=/m?x=1', /bad value '\/m\?x=1' for metrics/],
    ['healthPath=health', /bad value 'health' for healthPath/],
    ['metricsToken=s3cret x', /^siolua: bad value for metricsToken: expected up to 127 visible ASCII characters/],
  ]) {
    const r = await runCli(['run', APP, '--set', set]);
    assert.equal(r.code, 2, set);
    assert.match(r.stderr, why);
  }
  // From a configuration file and from sio.configure alike.
  const file = join(makeTempDir('siolua-metrics-'), 'conf.lua');
  writeFileSync(file, 'return { options = { metricsToken = "s3cret\\n" } }\n');
  const app = makeAppDir({ 'main.lua': 'require("siolua").configure { metricsToken = "s3cret y" }\n' });
  for (const args of [['run', APP, '--config', file, '--check'], ['run', app, '--check']]) {
    const r = await runCli(args);
    assert.equal(r.code, 2, args.join(' '));
    assert.match(r.stderr, /bad value for metricsToken/);
    assert.ok(!r.stderr.includes('s3cret'), r.stderr);
  }
});

test('Redis stopped and started again flips siolua_redis_up', { skip: NO_REDIS, timeout: 60000 }, async (t) => {
  let redis = await startRedis(t);
  const port = redis.port;
  const srv = await startServer({ appDir: APP, t, args: [...METRICS, '--redis', redis.url] });
  await scrapeUntil(srv, (f) => value(f, 'siolua_redis_up') === 1);
  await redis.stop();
  await scrapeUntil(srv, (f) => value(f, 'siolua_redis_up') === 0);
  redis = await startRedis(t, { port });
  await scrapeUntil(srv, (f) => value(f, 'siolua_redis_up') === 1, { timeoutMs: 15000 });
});

test('--workers 2: one scrape answers for both workers, each sample labelled with its worker', { timeout: 60000 }, async (t) => {
  const token = 'w0rkers';
  const headers = { Authorization: `Bearer ${token}` };
  const srv = await startServer({ appDir: APP, t, args: ['--workers', '2', ...METRICS, '--set', `metricsToken=${token}`] });
  const fams = await scrapeUntil(srv, (f) => value(f, 'siolua_worker_up', { worker: '1' }) === 1 &&
    value(f, 'siolua_worker_up', { worker: '2' }) === 1, { headers });
  for (const name of Object.keys(REQUIRED)) {
    const workers = new Set(fams.get(name).samples.map((s) => s.labels.worker));
    assert.deepEqual([...workers].sort(), ['1', '2'], name);
  }
  // Clients spread over the workers by the kernel: the scrape counts them all,
  // whichever worker it lands on.
  const clients = [];
  for (let i = 0; i < 6; i++) clients.push(await connected(srv, '/', { t }));
  for (let i = 0; i < 4; i++) {
    const f = await scrapeUntil(srv, (x) => value(x, 'siolua_engine_clients', { transport: 'websocket', worker: '1' }) +
      value(x, 'siolua_engine_clients', { transport: 'websocket', worker: '2' }) === 6, { headers });
    assert.equal(value(f, 'siolua_sockets', { namespace: '/', worker: '1' }) +
      value(f, 'siolua_sockets', { namespace: '/', worker: '2' }), 6);
  }
  const unauth = await request(`${srv.url}/metrics`);
  assert.equal(unauth.status, 401);
  for (const c of clients) closeClient(c);
});

test('/health is 200 while serving and 503 while SIGTERM drains; new sessions are refused meanwhile', async (t) => {
  const srv = await startServer({ appDir: APP, t, args: ['--set', 'healthPath=/health'] });
  const ok = await request(`${srv.url}/health`);
  assert.equal(ok.status, 200);
  assert.equal(ok.text, 'ok\n');
  assert.equal(ok.headers['cache-control'], 'no-store');
  // A polling session that never comes back for its close packet keeps the
  // drain going for its 2 s.
  await eioHandshake(srv.url, { path: '/socket.io/' });
  const started = Date.now();
  srv.proc.kill('SIGTERM');
  const res = await until(async () => {
    const r = await request(`${srv.url}/health`);
    return r.status === 503 ? r : null;
  }, { timeoutMs: 1500 });
  assert.ok(res, '/health never answered 503 during the drain');
  assert.equal(res.text, 'draining\n');
  const hs = await request(`${srv.url}/socket.io/?EIO=4&transport=polling`);
  assert.equal(hs.status, 503);
  assert.equal(hs.headers['retry-after'], '1');
  const { code } = await srv.exited;
  assert.equal(code, 0);
  assert.ok(Date.now() - started >= 1500, 'the drain waited for the polling session');
  assert.match(srv.stderr(), /closing 1 session/);
});

const HAVE_PROMETHEUS = (() => {
  try { execFileSync('prometheus', ['--version'], { stdio: 'ignore' }); return true; } catch { return false; }
})();

// A real Prometheus server (Debian's) scraping siolua with the job of
// docs/deploy/prometheus-siolua.yml (the target, the token file and the
// interval changed); its query API must show the target up and siolua's
// figures.
test('a real Prometheus server scrapes it with the token, as docs/deploy/prometheus-siolua.yml says', { skip: HAVE_PROMETHEUS ? false : 'prometheus is not installed', timeout: 60000 }, async (t) => {
  const token = 'prom-scraper-token';
  const srv = await startServer({ appDir: APP, t, args: [...METRICS, '--set', `metricsToken=${token}`] });
  const dir = makeTempDir('siolua-prom-');
  const promPort = await freePort();
  writeFileSync(join(dir, 'siolua.token'), `${token}\n`);
  const edit = (text, from, to) => {
    assert.ok(text.includes(from), `the recipe has ${from}`);
    return text.replace(from, to);
  };
  let job = readFileSync(join(SIOLUA_ROOT, 'docs', 'deploy', 'prometheus-siolua.yml'), 'utf8');
  job = edit(job, "targets: ['127.0.0.1:3000']", `targets: ['127.0.0.1:${srv.port}']`);
  job = edit(job, 'credentials_file: /etc/prometheus/siolua.token', `credentials_file: ${join(dir, 'siolua.token')}`);
  job = edit(job, 'scrape_interval: 15s', 'scrape_interval: 500ms\n    scrape_timeout: 400ms');
  writeFileSync(join(dir, 'prometheus.yml'), job);
  const prom = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${promPort}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let promLog = '';
  prom.stderr.on('data', (d) => { promLog += d; });
  t.after(() => prom.kill('SIGKILL'));
  const a = await connected(srv, '/', { t });
  await a.emitWithAck('echo', 1);
  const query = async (q) => {
    try {
      const r = await request(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`);
      return r.status === 200 ? JSON.parse(r.text).data.result : [];
    } catch { return []; }
  };
  const up = await until(async () => (await query('up{job="siolua"}'))[0]?.value[1] === '1', { timeoutMs: 30000, stepMs: 200 });
  assert.ok(up, `Prometheus never saw siolua up:\n${promLog.slice(-2000)}`);
  const hs = await until(async () => (await query('siolua_handshakes_total{job="siolua"}'))[0]?.value[1], { timeoutMs: 10000, stepMs: 200 });
  assert.equal(hs, '1');
  const sockets = await query('siolua_sockets{namespace="/"}');
  assert.equal(sockets[0]?.value[1], '1');
  const hist = await query('histogram_quantile(0.5, rate(siolua_lua_handler_seconds_bucket[5s]))');
  assert.ok(Array.isArray(hist));
});
