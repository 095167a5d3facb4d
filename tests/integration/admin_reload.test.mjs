// Hot reload (docs/hot-reload.md) of an app that calls
// sio.admin.instrument (tests/apps/admin, copied to a temp dir and edited
// there), with a real socket.io-client as the dashboard on /admin and real
// app clients on / (websocket) and /chat (polling). Checked after each
// reload (SIGHUP, a saved file, a failed one): no one is dropped (same
// ids, no "disconnect"); server_stats keeps coming once per 2 s (one timer,
// not two) with exact counts; a new dashboard's all_sockets lists each
// socket once; a new socket's life reaches the dashboard once per event (one
// set of hooks, not the old and the new code's). A reload that removes
// instrument: the connected dashboard stays and hears nothing, its actions
// do nothing, new dashboards get "Invalid namespace" (Node's answer for a
// namespace it doesn't serve), one log line says so; putting instrument
// back resumes the dashboard (stats, all_sockets anew). A reload to
// read-only: the connected dashboard's actions stop working.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir, startServer, until, sleep } from './lib/server.mjs';
import { APP_DIR, dashboard, waitConnected, connectError, CREDENTIALS } from './lib/admin.mjs';
import { client as sioClient, errorLines, stopProblems } from './lib/sio.mjs';

const ENV = { ADMIN_AUTH: 'basic', ADMIN_MODE: 'development', ADMIN_SERVER_ID: 'reload' };
const RELOADED = /\[reload\] \S*main\.lua reloaded;/;
const FAILED = /\[reload\] reload failed/;
const INSTRUMENT_CALL = 'sio.admin.instrument{';

async function startCopy(t, env = ENV) {
  const dir = makeTempDir('siolua-admin-reload-');
  cpSync(APP_DIR, dir, { recursive: true });
  // File-watch reload on (the admin tests' startSiolua turns it off).
  const srv = await startServer({ appDir: dir, t, env });
  srv.dir = dir;
  srv.main = join(dir, 'main.lua');
  srv.original = readFileSync(srv.main, 'utf8');
  return srv;
}

const lines = (srv, re) => srv.stderr().split('\n').filter((l) => re.test(l));

async function waitLog(srv, re, n) {
  const ok = await until(() => lines(srv, re).length >= n, { timeoutMs: 4000 });
  assert.ok(ok, `wanted ${n} line(s) ${re}; log:\n${srv.stderr()}`);
}

// Reloads by SIGHUP or by saving main.lua (text, or the same with a
// comment more); waits for the "reloaded" line.
async function reload(srv, how, text) {
  const n = lines(srv, RELOADED).length + 1;
  if (how === 'sighup') srv.proc.kill('SIGHUP');
  else if (text !== undefined) writeFileSync(srv.main, text);
  else appendFileSync(srv.main, `\n-- saved again ${Date.now()}\n`);
  await waitLog(srv, RELOADED, n);
}

// A client that must stay connected: its id at connect and every
// "disconnect" it sees.
async function staying(t, srv, nsp, opts) {
  const socket = sioClient(srv, nsp, { t, ...opts });
  const rec = { socket, disconnects: [] };
  socket.on('disconnect', (r) => rec.disconnects.push(r));
  await waitConnected(socket);
  rec.id = socket.id;
  return rec;
}

function assertStayed(rec, what) {
  assert.deepEqual(rec.disconnects, [], `${what} saw a disconnect`);
  assert.equal(rec.socket.connected, true, `${what} is not connected`);
  assert.equal(rec.socket.id, rec.id, `${what}'s id changed`);
}

// The dashboard, with the time each event came (for the stats' rhythm).
async function watchingDashboard(t, srv) {
  const d = dashboard(t, srv.url);
  d.times = [];
  d.socket.onAny((name) => d.times.push([name, Date.now()]));
  const rec = { socket: d.socket, disconnects: [] };
  d.socket.on('disconnect', (r) => rec.disconnects.push(r));
  await waitConnected(d.socket);
  await d.waitFor('all_sockets');
  [d.session] = await d.waitFor('session');
  rec.id = d.socket.id;
  d.rec = rec;
  return d;
}

const stats = (d, from) => d.events.slice(from).filter((e) => e[0] === 'server_stats').map((e) => e[1]);

// server_stats over `ms` from now: one every 2 s (one timer; two would
// give pairs), each with exact counts.
async function assertStatsRhythm(d, ms, expect) {
  const t0 = Date.now();
  const from = d.mark();
  await sleep(ms);
  const times = d.times.filter(([n, at]) => n === 'server_stats' && at >= t0).map(([, at]) => at);
  const n = Math.floor(ms / 2000);
  assert.ok(times.length >= n - 1 && times.length <= n + 1, `${times.length} server_stats in ${ms} ms (one every 2 s: ${n})`);
  for (let i = 1; i < times.length; i++) {
    assert.ok(times[i] - times[i - 1] >= 1500, `server_stats ${times[i] - times[i - 1]} ms after the one before`);
  }
  for (const s of stats(d, from)) expect(s);
}

function exactCounts({ clients, polling, root, chat, admin }) {
  return (s) => {
    assert.equal(s.serverId, 'reload');
    assert.equal(s.clientsCount, clients, 'clientsCount');
    assert.equal(s.pollingClientsCount, polling, 'pollingClientsCount');
    const by = Object.fromEntries(s.namespaces.map((x) => [x.name, x.socketsCount]));
    assert.deepEqual(by, { '/': root, '/chat': chat, '/admin': admin });
  };
}

// A new dashboard (by session id) lists each socket once.
async function assertAllSockets(t, srv, d, ids) {
  const d2 = dashboard(t, srv.url, { auth: { sessionId: d.session } });
  const [all] = await d2.waitFor('all_sockets');
  const listed = all.map((s) => s.id);
  assert.equal(new Set(listed).size, listed.length, `a socket listed twice: ${listed}`);
  for (const id of ids) assert.equal(listed.filter((x) => x === id).length, 1, `${id} in ${listed}`);
  d2.socket.disconnect();
}

// A new socket's life, each event once at the dashboard.
async function assertNewSocketOnce(t, srv, d) {
  const from = d.mark();
  const c = sioClient(srv, '/', { t, auth: { name: 'carl' } });
  await waitConnected(c);
  const id = c.id;
  assert.equal(await c.emitWithAck('join', 'late'), 'joined late');
  assert.deepEqual(await c.emitWithAck('echo', 7), 7);
  c.emit('bye');
  await d.waitFor('socket_disconnected', ([, sid]) => sid === id, { from });
  await d.waitFor('room_left', ([, room, sid]) => room === 'late' && sid === id, { from });
  await sleep(300); // a second set of hooks would send its copies by now
  const mine = d.events.slice(from).filter((e) => JSON.stringify(e).includes(id));
  const count = (name, pred = () => true) => mine.filter((e) => e[0] === name && pred(e)).length;
  const what = mine.map((e) => e[0]).join(' ');
  assert.equal(count('socket_connected'), 1, what);
  assert.equal(count('room_joined', (e) => e[2] === 'late'), 1, what);
  assert.equal(count('event_received', (e) => e[3][0] === 'echo'), 1, what);
  assert.equal(count('event_sent', (e) => e[3][0] === 'echoed'), 1, what);
  assert.equal(count('socket_disconnected'), 1, what);
  assert.equal(count('room_left', (e) => e[2] === 'late'), 1, what);
}

// The dashboard's emit action reaches a (or not, within 300 ms).
async function actionReaches(d, a) {
  const got = [];
  const on = (...args) => got.push(args);
  a.socket.on('notice', on);
  d.socket.emit('emit', '/', a.id, 'notice', 'from admin');
  await until(() => got.length > 0, { timeoutMs: 300 });
  a.socket.off('notice', on);
  return got.length > 0;
}

async function setup(t) {
  const srv = await startCopy(t);
  const d = await watchingDashboard(t, srv);
  const a = await staying(t, srv, '/', { auth: { name: 'alice' } });
  const b = await staying(t, srv, '/chat', { transports: ['polling'], auth: { name: 'bob' } });
  assert.equal(await a.socket.emitWithAck('join', 'room1'), 'joined room1');
  const counts = exactCounts({ clients: 3, polling: 1, root: 1, chat: 1, admin: 1 });
  await d.waitFor('server_stats', ([s]) => s.clientsCount === 3);
  return { srv, d, a, b, counts };
}

async function assertServing(t, ctx, what) {
  const { srv, d, a, b, counts } = ctx;
  for (const [rec, name] of [[d.rec, 'the dashboard'], [a, 'alice'], [b, 'bob']]) assertStayed(rec, `${what}: ${name}`);
  await assertStatsRhythm(d, 6100, counts);
  await assertAllSockets(t, srv, d, [a.id, b.id, d.rec.id]);
  await assertNewSocketOnce(t, srv, d);
  assert.equal(await actionReaches(d, a), true, `${what}: the dashboard's emit`);
  for (const [rec, name] of [[d.rec, 'the dashboard'], [a, 'alice'], [b, 'bob']]) assertStayed(rec, `${what}: ${name}`);
}

test('SIGHUP and a saved main.lua: the dashboard and the clients stay; stats once per 2 s with exact counts, each socket and event once', async (t) => {
  const ctx = await setup(t);
  await reload(ctx.srv, 'sighup');
  await assertServing(t, ctx, 'after SIGHUP');
  await reload(ctx.srv, 'save');
  await reload(ctx.srv, 'sighup');
  await assertServing(t, ctx, 'after two more reloads');
  assert.deepEqual(errorLines(ctx.srv.stderr()), []);
  assert.deepEqual(await stopProblems(ctx.srv), []);
});

test('a reload without instrument: the dashboard stays and hears nothing, new ones are refused; instrument back: it resumes', async (t) => {
  const ctx = await setup(t);
  const { srv, d, a } = ctx;
  assert.ok(srv.original.includes(INSTRUMENT_CALL));
  // The same call, its result unused: the options are still checked.
  const without = srv.original.replace(INSTRUMENT_CALL, 'local _ = ({');
  const noLonger = /admin: \/admin no longer instrumented/;
  await reload(srv, 'save', without.replace('store = store,\n}', 'store = store,\n})'));
  await waitLog(srv, noLonger, 1);
  const quiet = d.mark();
  await sleep(4500);
  assert.deepEqual(d.events.slice(quiet).map((e) => e[0]), [], 'the dashboard still hears something');
  assert.equal(await actionReaches(d, a), false, 'an action of a dashboard no longer instrumented');
  for (const auth of [CREDENTIALS, { sessionId: d.session }]) {
    const refused = sioClient(srv, '/admin', { t, auth });
    assert.equal((await connectError(refused)).message, 'Invalid namespace');
  }
  // The app goes on, and a reload still without it stays so, quietly.
  assert.equal(await a.socket.emitWithAck('echo', 'x'), 'x');
  await reload(srv, 'sighup');
  assert.equal((await connectError(sioClient(srv, '/admin', { t, auth: CREDENTIALS }))).message, 'Invalid namespace');
  assert.equal(lines(srv, noLonger).length, 1);

  const back = d.mark();
  await reload(srv, 'save', srv.original);
  await waitLog(srv, /admin: \/admin instrumented again: 1 connected dashboard\(s\) resume/, 1);
  // What it missed: the list anew, then the stats.
  const [all] = await d.waitFor('all_sockets', () => true, { from: back });
  assert.deepEqual(all.map((s) => s.id).sort(), [a.id, ctx.b.id, d.rec.id].sort());
  const [first] = await d.waitFor('server_stats', () => true, { from: back });
  ctx.counts(first);
  await assertServing(t, ctx, 'instrument back');
  assert.equal(lines(srv, noLonger).length, 1);
  assert.deepEqual(errorLines(srv.stderr()), []);
  assert.deepEqual(await stopProblems(srv), []);
});

test('a reload that fails (syntax error in main.lua) keeps the old app and the dashboard as they were', async (t) => {
  const ctx = await setup(t);
  const { srv } = ctx;
  writeFileSync(srv.main, `${srv.original}\nlocal = 1\n`);
  await waitLog(srv, FAILED, 1);
  await assertServing(t, ctx, 'after a failed reload');
  // A runtime error after instrument ran again: rolled back too.
  writeFileSync(srv.main, `${srv.original}\nerror("not this version")\n`);
  await waitLog(srv, FAILED, 2);
  await assertServing(t, ctx, 'after a failed reload that instrumented');
  await reload(srv, 'save', srv.original);
  await assertServing(t, ctx, 'fixed');
  assert.equal(lines(srv, FAILED).length, 2);
  assert.deepEqual(await stopProblems(srv), []);
});

test('a reload to read-only: the connected dashboard\'s actions stop, new dashboards are offered no actions', async (t) => {
  const ctx = await setup(t);
  const { srv, d, a } = ctx;
  assert.equal(await actionReaches(d, a), true);
  const readonly = 'readonly = os.getenv("ADMIN_READONLY") == "1"';
  assert.ok(srv.original.includes(readonly));
  await reload(srv, 'save', srv.original.replace(readonly, 'readonly = true'));
  assert.equal(await actionReaches(d, a), false, 'an action after the reload to read-only');
  d.socket.emit('_disconnect', '/', false, a.id);
  const d2 = dashboard(t, srv.url, { auth: { sessionId: d.session } });
  const [config] = await d2.waitFor('config');
  assert.deepEqual(config.supportedFeatures, ['AGGREGATED_EVENTS', 'ALL_EVENTS']);
  await sleep(300);
  assertStayed(a, 'alice');
  await reload(srv, 'save', srv.original);
  assert.equal(await actionReaches(d, a), true, 'an action once writable again');
});
