// --log-format json: every line a server writes is one JSON object (ts,
// level, module, pid, msg and fields such as sid, nsp, reason, worker),
// through a session's life, a parse error, a Lua error, a reload, a Redis
// outage and a shutdown; the text format stays as it was; secrets (a token
// in the query, an auth payload) reach neither format (Redis passwords:
// test_redis_url.c, redis_auth.test.mjs);
// bytes that are not UTF-8 still give valid JSON.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { io } from 'socket.io-client';
import { startServer, makeAppDir, runCli, request, eioHandshake, eioPost, until, sleep } from './lib/server.mjs';
import { SKIP as NO_REDIS, startRedis } from './lib/cluster.mjs';

const MAIN = `
local sio = require "siolua"
sio.server:on("connection", function(socket)
  socket:on("boom", function() error("handler blew up") end)
  socket:on("bytes", function() sio.log.info("odd bytes: \\255\\1\\"quoted\\"\\nnext line") end)
end)
sio.server:of("/admin"):on("connection", function(socket) end)
sio.log.info("app loaded")
`;

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

// Every line parsed; fails on the first that isn't a JSON object with the
// members every line has.
function parseLines(text, pid) {
  const lines = text.split('\n').filter((l) => l !== '');
  return lines.map((l) => {
    let o;
    assert.doesNotThrow(() => { o = JSON.parse(l); }, `not JSON: ${l}`);
    assert.equal(typeof o, 'object');
    assert.match(o.ts, ISO, l);
    assert.ok(['debug', 'info', 'warn', 'error'].includes(o.level), l);
    assert.equal(typeof o.module, 'string', l);
    assert.equal(typeof o.msg, 'string', l);
    if (pid) assert.equal(o.pid, pid, l);
    return o;
  });
}

function connect(url, opts) {
  const c = io(url, { forceNew: true, reconnection: false, ...opts });
  return new Promise((resolve, reject) => {
    c.on('connect', () => resolve(c));
    c.on('connect_error', reject);
  });
}

test('a session\'s life, a parse error, a Lua error, a reload, a Redis outage: every line is JSON with its fields', { skip: NO_REDIS, timeout: 60000 }, async (t) => {
  let redis = await startRedis(t);
  const port = redis.port;
  const app = makeAppDir({ 'main.lua': MAIN });
  const srv = await startServer({ appDir: app, t, logLevel: 'debug',
    args: ['--log-format', 'json', '--no-reload', '--redis', `redis://127.0.0.1:${port}`] });

  // A session with a token in its query and an auth payload; a Lua error.
  const c = await connect(srv.url, { transports: ['polling'], query: { token: 'query-secret-1' }, auth: { token: 'auth-secret-2' } });
  const sid = c.io.engine.id;
  c.emit('boom');
  c.emit('bytes');
  await until(() => /handler blew up/.test(srv.stderr()) && /odd bytes/.test(srv.stderr()));
  c.close();
  await until(() => srv.stderr().includes(`"sid":"${sid}"`));

  // Engine.IO errors: a bad sid (with a token in the URL), a malformed payload.
  await request(`${srv.url}/socket.io/?EIO=4&transport=polling&sid=nope&token=query-secret-3`);
  const { sid: bad } = await eioHandshake(srv.url, { path: '/socket.io/' });
  await eioPost(srv.url, bad, 'garbage-not-a-payload', { path: '/socket.io/' });
  await until(() => srv.stderr().includes(`session ${bad}: malformed polling payload`));

  // A reload, good then broken.
  srv.proc.kill('SIGHUP');
  await until(() => /reloaded/.test(srv.stderr()));
  writeFileSync(join(app, 'main.lua'), 'this is not lua');
  srv.proc.kill('SIGHUP');
  await until(() => /reload failed/.test(srv.stderr()));

  // A Redis outage and its end.
  await redis.stop();
  await until(() => /lost|cannot reach/.test(srv.stderr()), { timeoutMs: 5000 });
  redis = await startRedis(t, { port });
  await until(() => (srv.stderr().match(/connected to/g) || []).length >= 4, { timeoutMs: 10000 });
  await sleep(100);
  assert.equal((await srv.stop()).code, 0);

  const log = srv.stderr();
  const lines = parseLines(log, srv.proc.pid);
  const find = (pred, what) => {
    const l = lines.find(pred);
    assert.ok(l, `${what}: no such line in\n${log}`);
    return l;
  };
  find((l) => l.module === 'main' && /listening on http:\/\/127\.0\.0\.1:\d+/.test(l.msg), 'listening');
  find((l) => l.module === 'lua' && l.msg.endsWith('app loaded') && /main\.lua:\d+$/.test(l.where), 'sio.log with where');
  const closed = find((l) => l.sid === sid && l.reason && /closed/.test(l.msg), 'session closed with sid and reason');
  assert.equal(closed.reason, 'transport close');
  find((l) => l.level === 'error' && /handler blew up/.test(l.msg), 'the Lua error');
  const odd = find((l) => /odd bytes/.test(l.msg), 'the odd bytes');
  assert.ok(odd.msg.includes('\ufffd\u0001"quoted"\nnext line'), JSON.stringify(odd.msg));
  const unknown = find((l) => l.code === '1' && l.reason === 'Session ID unknown', 'the bad sid');
  assert.equal(unknown.sid, 'nope');
  assert.equal(unknown.peer, '127.0.0.1');
  assert.match(unknown.msg, /token=\*\*\*/);
  const malformed = find((l) => l.sid === bad && /malformed polling payload/.test(l.msg), 'the parse error');
  assert.equal(malformed.reason, 'parse error');
  find((l) => l.module === 'reload' && /reloaded/.test(l.msg), 'the reload');
  find((l) => l.level === 'error' && /reload failed/.test(l.msg), 'the failed reload');
  find((l) => l.level === 'warn' && /redis/.test(l.module) && /lost|cannot reach/.test(l.msg), 'the outage');
  find((l) => /redis/.test(l.module) && /connected to redis:\/\/127\.0\.0\.1/.test(l.msg), 'the way back');
  find((l) => l.msg === 'stopped', 'stopped');
  for (const secret of ['query-secret-1', 'auth-secret-2', 'query-secret-3']) {
    assert.ok(!log.includes(secret), `${secret} is in the log`);
  }
});

test('the text format is as before; fields stay out of it; the same events give the same words', async (t) => {
  const srv = await startServer({ appDir: makeAppDir({ 'main.lua': MAIN }), t, logLevel: 'debug', args: ['--no-reload'] });
  const { sid } = await eioHandshake(srv.url, { path: '/socket.io/' });
  await eioPost(srv.url, sid, 'garbage-not-a-payload', { path: '/socket.io/' });
  await request(`${srv.url}/socket.io/?EIO=4&transport=polling&sid=nope&token=query-secret-3`);
  await until(() => srv.stderr().includes('Session ID unknown'));
  await eioHandshake(srv.url, { path: '/socket.io/' }); // open at shutdown, never polled again
  await srv.stop();
  const lines = srv.stderr().split('\n').filter(Boolean);
  const TEXT = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (debug|info |warn |error) \[[a-z]+\] /;
  for (const l of lines) assert.match(l, TEXT);
  assert.ok(lines.some((l) => l.endsWith(`info  [eio] session ${sid}: malformed polling payload, closing`)), srv.stderr());
  assert.ok(lines.some((l) => l.endsWith(`debug [eio] session ${sid} closed: parse error`)), srv.stderr());
  assert.ok(lines.some((l) => l.endsWith('info  [eio] 127.0.0.1 GET /socket.io/?EIO=4&transport=polling&sid=nope&token=***: 1 Session ID unknown')), srv.stderr());
  assert.ok(!srv.stderr().includes('query-secret-3'));
  // The shutdown's wait is announced, and its end.
  assert.ok(lines.some((l) => l.endsWith('info  [server] closing 1 session (up to 2 s for polling clients to collect the close)')), srv.stderr());
  assert.ok(lines.some((l) => l.endsWith('info  [server] 1 session did not collect the close packet within 2 s: dropped')), srv.stderr());
});

test('workers: every line of supervisor and workers is JSON; a worker\'s lines carry "worker":N', async (t) => {
  const srv = await startServer({ appDir: makeAppDir({ 'main.lua': MAIN }), t,
    args: ['--log-format', 'json', '--no-reload', '--workers', '2'] });
  const c = await connect(srv.url, { transports: ['websocket'] });
  c.close();
  await srv.stop();
  const lines = parseLines(srv.stderr());
  const workers = new Set(lines.filter((l) => l.worker !== undefined).map((l) => l.worker));
  assert.deepEqual([...workers].sort(), [1, 2]);
  assert.ok(lines.some((l) => l.worker === undefined && /with 2 workers/.test(l.msg)), 'the supervisor\'s own lines have no worker');
  assert.ok(new Set(lines.map((l) => l.pid)).size >= 3, 'three processes');
});

test('--log-format bogus exits 2 with a clear message', async () => {
  const r = await runCli(['run', makeAppDir({ 'main.lua': MAIN }), '--log-format', 'bogus']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^siolua: bad log format 'bogus' \(text or json\)/);
  const t2 = await runCli(['test', makeAppDir({ 'main.lua': MAIN }), '--log-format', 'xml']);
  assert.equal(t2.code, 2);
  assert.match(t2.stderr, /bad log format 'xml'/);
  const help = await runCli(['--help']);
  assert.match(help.stdout, /--log-format F/);
});
