// Connections against the limits of the process: at the file-descriptor
// limit new connections are closed at once, the server says so once per
// interval (with the limit) and doesn't spin, and it serves again as soon
// as descriptors are free; past maxConnections a connection gets 503 (a
// WebSocket sees its upgrade refused). With deferAccept (the default) the
// kernel hands a connection over once its first bytes arrive: the
// connections these tests hold send one byte, the start of a request
// that never ends; one that sends nothing is not the server's yet.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { io } from 'socket.io-client';
import { scrapeValues } from './lib/prom.mjs';
import { startServer, makeAppDir, SIOLUA_BIN, RawConn, sleep, until } from './lib/server.mjs';

const APP = `
local sio = require "siolua"
sio.server:on("connection", function(socket) socket:on("hi", function(ack) ack("hello") end) end)
`;


// utime + stime of a process, in clock ticks (100 per second here).
function cpuTicks(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]);
}

// Opens a connection, sends one byte (the start of a request, so that the
// server takes it at once) and resolves with it and whether the server
// closed it within ms (without a byte sent back).
function connectAndWatch(port, ms) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    let closed = false;
    s.on('error', () => {});
    s.on('close', () => { closed = true; });
    s.on('end', () => { closed = true; });
    s.on('connect', () => {
      s.write('G');
      setTimeout(() => resolve({ s, closed }), ms);
    });
  });
}

// A connection that sends its first byte: the server has it then.
async function heldConn(port) {
  const c = await RawConn.connect(port);
  await c.write('G');
  return c;
}

async function askHello(srv) {
  const c = io(srv.url, { transports: ['websocket'], reconnection: false, forceNew: true });
  try {
    await new Promise((r, j) => { c.on('connect', r); c.on('connect_error', j); });
    return await c.timeout(2000).emitWithAck('hi');
  } finally {
    c.close();
  }
}

test('at the file-descriptor limit new connections are closed at once, logged once with the limit, without spinning; served again once fds are free', async (t) => {
  const srv = await startServer({
    t,
    appDir: makeAppDir({ 'main.lua': APP }),
    args: ['--no-reload', '--set', 'metrics=/metrics'],
    wrapper: ['sh', '-c', 'ulimit -n 64; exec "$0" "$@"', SIOLUA_BIN],
  });
  const held = [];
  let closedAtOnce = 0;
  for (let i = 0; i < 90; i++) {
    const { s, closed } = await connectAndWatch(srv.port, 20);
    if (closed) closedAtOnce++;
    else held.push(s);
  }
  assert.ok(held.length > 30 && held.length < 64, `${held.length} connections held`);
  assert.ok(closedAtOnce > 20, `${closedAtOnce} connections closed at once`);

  // Still at the limit, connections keep coming: the server must not spin.
  const ticks0 = cpuTicks(srv.proc.pid);
  const t0 = Date.now();
  for (let i = 0; i < 20; i++) {
    const { s } = await connectAndWatch(srv.port, 50);
    s.destroy();
  }
  const cpu = (cpuTicks(srv.proc.pid) - ticks0) * 10; // ms
  const wall = Date.now() - t0;
  assert.ok(cpu < wall / 2, `the server used ${cpu} ms of CPU in ${wall} ms at the limit`);

  const lines = srv.stderr().split('\n').filter((l) => /out of file descriptors/.test(l));
  assert.equal(lines.length, 1, lines.join('\n'));
  assert.match(lines[0], /limit 64/);
  assert.match(lines[0], / warn /);

  for (const s of held) s.destroy();
  assert.ok(await until(async () => {
    try { return (await askHello(srv)) === 'hello'; } catch { return false; }
  }, { timeoutMs: 5000, stepMs: 100 }), 'served again once descriptors were free');
  // The metrics say so too: how often, and how many went unserved.
  const st = await scrapeValues(srv.url);
  assert.ok(st.siolua_fd_exhausted_total >= 1, JSON.stringify(st));
  // Every connection seen closed at once was counted (one right after the
  // accept that took the last descriptor may not be), and no more than
  // were made past the limit (the 90 and the 20).
  const dropped = st.siolua_connections_dropped_no_fd_total;
  assert.ok(dropped >= closedAtOnce - 1 && dropped <= 110, `${dropped} dropped, ${closedAtOnce} seen: ${JSON.stringify(st)}`);
  const { code } = await srv.stop();
  assert.equal(code, 0);
});

test('past maxConnections a connection gets 503 with Retry-After and a WebSocket is refused; a slot frees when a connection closes', async (t) => {
  const srv = await startServer({
    t,
    appDir: makeAppDir({ 'main.lua': APP }),
    args: ['--no-reload', '--set', 'metrics=/metrics', '--set', 'maxConnections=4'],
  });
  const held = [];
  for (let i = 0; i < 4; i++) held.push(await heldConn(srv.port));
  await sleep(50);
  for (let i = 0; i < 3; i++) {
    const c = await RawConn.connect(srv.port);
    await c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const { responses } = await c.readResponses(1);
    assert.equal(responses[0].status, 503);
    assert.equal(responses[0].headers['retry-after'], '1');
    assert.ok(await c.waitClose(3000), 'closed after the 503');
    c.destroy();
  }
  const refused = await new Promise((resolve) => {
    const ws = new WebSocket(`${srv.wsUrl}/socket.io/?EIO=4&transport=websocket`);
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode));
    ws.on('open', () => resolve('open'));
    ws.on('error', () => {});
  });
  assert.equal(refused, 503);
  const lines = srv.stderr().split('\n').filter((l) => /maxConnections/.test(l));
  assert.equal(lines.length, 1, 'four refusals, one line');

  held.pop().destroy();
  // A try that comes before the server has seen that close is refused
  // and counted too: count those.
  let early = 0;
  assert.ok(await until(async () => {
    try { return (await askHello(srv)) === 'hello'; } catch { early++; return false; }
  }, { timeoutMs: 3000, stepMs: 50 }), 'a freed slot serves a new client');
  for (const c of held) c.destroy();
  await sleep(100);
  const st = await scrapeValues(srv.url);
  assert.equal(st.siolua_connections_refused_total, 4 + early, JSON.stringify(st));
  assert.equal(st.siolua_fd_exhausted_total, 0);
  const { code } = await srv.stop();
  assert.equal(code, 0);
});

test('deferAccept (default true): a connection that has sent nothing is not taken yet, so it holds no slot of maxConnections; with deferAccept=false it does', async (t) => {
  for (const defer of [true, false]) {
    const srv = await startServer({
      t,
      appDir: makeAppDir({ 'main.lua': APP }),
      args: ['--no-reload', '--set', 'maxConnections=1', ...(defer ? [] : ['--set', 'deferAccept=false'])],
    });
    // Connected (the kernel completed the handshake), silent.
    const silent = await RawConn.connect(srv.port);
    if (!defer) await sleep(100); // the server takes it
    const c = await RawConn.connect(srv.port);
    await c.write('GET /nothing-here HTTP/1.1\r\nHost: x\r\n\r\n');
    const { responses } = await c.readResponses(1);
    // Deferred, the silent one is not the server's: the request is served
    // (404, nothing is there); taken at once, it fills the one slot: 503.
    assert.equal(responses[0].status, defer ? 404 : 503, `deferAccept=${defer}`);
    c.destroy();
    silent.destroy();
    const { code } = await srv.stop();
    assert.equal(code, 0);
  }
});
