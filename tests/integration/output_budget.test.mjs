// The cap on all output queues together (maxOutputBufferTotal): slow
// readers that never read are dropped, the longest waiting first, with a
// logged reason, before the process grows without bound; fast readers
// keep everything, and a broadcast shared by every queue counts once.
// Slow readers are raw WebSocket clients that stop reading.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import { io } from 'socket.io-client';
import { scrapeValues } from './lib/prom.mjs';
import { startServer, makeAppDir, sleep, until } from './lib/server.mjs';

const APP = `
local sio = require "siolua"
sio.server:on("connection", function(socket)
  -- n messages of size bytes, each encoded apart: what this socket's
  -- queue holds is its own memory.
  socket:on("gimme", function(n, size)
    for i = 1, n do socket:emit("data", i, string.rep(string.char(65 + i % 26), size)) end
  end)
  -- n messages of one string: each packet is still encoded apart (the
  -- queue's memory), but the app makes no garbage of its own.
  socket:on("burst", function(n, size)
    local s = string.rep("z", size)
    for i = 1, n do socket:emit("data", i, s) end
  end)
  -- n broadcasts of size bytes: one buffer shared by every queue.
  socket:on("shout", function(n, size)
    for i = 1, n do sio.server:emit("shout", i, string.rep("y", size)) end
  end)
end)
`;

const MB = 1 << 20;
// The sanitizer build keeps freed memory in quarantine and pads every
// block: its RSS says nothing about what the server holds.
const SANITIZED = process.env.SIOLUA_SANITIZE === '1';

function frame(text) {
  const payload = Buffer.from(text);
  const mask = crypto.randomBytes(4);
  let head;
  if (payload.length < 126) head = Buffer.from([0x81, 0x80 | payload.length]);
  else { head = Buffer.alloc(4); head[0] = 0x81; head[1] = 0x80 | 126; head.writeUInt16BE(payload.length, 2); }
  return Buffer.concat([head, mask, Buffer.from(payload.map((b, i) => b ^ mask[i % 4]))]);
}

// A Socket.IO client over a raw WebSocket that sends its frames and then
// reads nothing more: everything sent to it piles up in the server.
async function slowReader(port, frames) {
  const s = net.connect(port, '127.0.0.1');
  await new Promise((r) => s.on('connect', r));
  s.on('error', () => {});
  const closed = new Promise((r) => s.on('close', r));
  s.write(`GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n` +
    `Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\n\r\n`);
  s.write(Buffer.concat(frames.map(frame)));
  s.pause();
  // A paused socket doesn't see the server's close: resume and read what
  // the kernel holds, then the end comes (or not, if still served).
  s.dropped = async (ms) => { s.on('data', () => {}); s.resume(); return Promise.race([closed.then(() => 1), sleep(ms).then(() => 0)]); };
  return s;
}

const rss = (pid, key = 'VmRSS') => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;

async function fastReader(srv, event, ask) {
  // A loaded machine may take a while to make the slow readers' megabytes.
  const c = io(srv.url, { transports: ['websocket'], reconnection: false, forceNew: true, timeout: 60000 });
  await new Promise((r, j) => { c.on('connect', r); c.on('connect_error', j); });
  let got = 0;
  let bytes = 0;
  c.on(event, (_i, text) => { got++; bytes += text.length; });
  if (ask) c.emit(...ask);
  return { c, got: () => got, bytes: () => bytes };
}

test('slow readers are dropped, longest waiting first, once all queues hold more than maxOutputBufferTotal; RSS stays bounded; a fast reader gets everything', async (t) => {
  const srv = await startServer({
    t,
    appDir: makeAppDir({ 'main.lua': APP }),
    args: ['--no-reload', '--set', 'metrics=/metrics', '--set', 'maxOutputBufferTotal=16777216', '--set', 'sessionQueueCap=67108864',
      '--set', 'pingInterval=60000', '--set', 'pingTimeout=60000'],
  });
  const base = rss(srv.proc.pid);
  const started = Date.now();
  // Eight slow readers, one after the other, each asking for 24 MB of its own.
  const slow = [];
  for (let i = 0; i < 8; i++) {
    slow.push(await slowReader(srv.port, ['40', '42["gimme",400,60000]']));
    await sleep(100);
  }
  // A fast reader asks for 30 MB too, a megabyte at a time, reading all
  // the while: never queued long, never dropped.
  const fast = await fastReader(srv, 'data');
  for (let i = 1; i <= 30; i++) {
    fast.c.emit('gimme', 17, 60000);
    assert.ok(await until(() => fast.got() === 17 * i, { timeoutMs: 10000 }), `the fast reader got ${fast.got()} of ${17 * i}`);
  }
  await sleep(300);
  const peak = rss(srv.proc.pid, 'VmHWM') - base;
  const dropped = await Promise.all(slow.map((s) => s.dropped(3000)));
  // Dropped by the budget (the longest waiting first, on the next turn)
  // or, past twice the cap, refused at once: either way the log says why.
  const log = srv.stderr().split('\n').filter((l) => /maxOutputBufferTotal/.test(l));
  t.diagnostic(`peak RSS +${(peak / MB).toFixed(1)} MB; slow readers dropped: ${dropped.join('')}`);
  // 8 x 24 MB were asked for (with no cap the peak grows by about 160
  // MB); the queues hold at most twice the 16 MB cap, plus the Lua strings
  // the app made.
  if (!SANITIZED) assert.ok(peak < 100 * MB, `peak RSS grew by ${(peak / MB).toFixed(1)} MB`);
  assert.ok(dropped.filter(Boolean).length >= 5, `${dropped.filter(Boolean).length} slow readers dropped`);
  assert.equal(dropped[0], 1, 'the one that waited longest was dropped');
  // Once per interval (10 s) for each of the two lines: a slow run (the
  // sanitizer build) may see a few.
  const intervals = Math.ceil((Date.now() - started) / 10000);
  assert.ok(log.length >= 1 && log.length <= 2 * intervals, `${log.length} lines`);
  assert.ok(log.every((l) => / warn /.test(l)));
  assert.ok(log.some((l) => /dropping a connection, whose output has waited \d+ ms|output refused, closing \(a slow reader/.test(l)), log.join('\n'));
  // A conn keeps its peer's address as bytes: the budget's warning names
  // no one, and the conn says who it was in a line of its own.
  if (log.some((l) => /dropping a connection/.test(l))) {
    assert.ok(srv.stderr().split('\n').some((l) => /127\.0\.0\.1: dropped as the slow reader that waited longest/.test(l)), srv.stderr());
  }
  assert.equal(fast.bytes(), 30 * 17 * 60000);
  const st = await scrapeValues(srv.url);
  assert.ok(st.siolua_slow_readers_dropped_total >= 1 && st.siolua_slow_readers_dropped_total <= 8, JSON.stringify(st));
  fast.c.close();
  for (const s of slow) s.destroy();
  const { code } = await srv.stop();
  assert.equal(code, 0);
});

test('a burst bigger than the cap in one loop turn: the queues never hold more than twice maxOutputBufferTotal', async (t) => {
  const srv = await startServer({
    t,
    appDir: makeAppDir({ 'main.lua': APP }),
    args: ['--no-reload', '--set', 'metrics=/metrics', '--set', 'maxOutputBufferTotal=8388608', '--set', 'sessionQueueCap=67108864',
      '--set', 'pingInterval=60000', '--set', 'pingTimeout=60000'],
  });
  const base = rss(srv.proc.pid);
  // Each asks for 48 MB within one handler call, before the budget's
  // timer can drop anyone: without the refusal at twice the cap the peak
  // grows by at least that much.
  const slow = [];
  for (let i = 0; i < 3; i++) {
    slow.push(await slowReader(srv.port, ['40', '42["burst",800,60000]']));
    await sleep(200);
  }
  const dropped = await Promise.all(slow.map((s) => s.dropped(10000)));
  const peak = rss(srv.proc.pid, 'VmHWM') - base;
  t.diagnostic(`peak RSS +${(peak / MB).toFixed(1)} MB; slow readers dropped: ${dropped.join('')}`);
  if (!SANITIZED) assert.ok(peak < 30 * MB, `peak RSS grew by ${(peak / MB).toFixed(1)} MB`);
  assert.deepEqual(dropped, [1, 1, 1], srv.stderr());
  const log = srv.stderr().split('\n').filter((l) => /maxOutputBufferTotal/.test(l));
  assert.ok(log.length >= 1 && log.every((l) => / warn /.test(l)), srv.stderr());
  assert.ok(log.some((l) => /output refused, closing \(a slow reader: \d+ bytes waiting/.test(l)), log.join('\n'));
  for (const s of slow) s.destroy();
  const { code } = await srv.stop();
  assert.equal(code, 0);
});

test('a broadcast held by many long-polling queues counts once: under the cap nobody is dropped', async (t) => {
  const srv = await startServer({
    t,
    appDir: makeAppDir({ 'main.lua': APP }),
    args: ['--no-reload', '--set', 'metrics=/metrics', '--set', 'maxOutputBufferTotal=50331648', '--set', 'sessionQueueCap=67108864'],
  });
  // Ten polling sessions that joined "/" and then never GET again: their
  // queues keep a reference to every broadcast.
  const sids = [];
  for (let i = 0; i < 10; i++) {
    const open = await fetch(`${srv.url}/socket.io/?EIO=4&transport=polling`);
    const sid = JSON.parse((await open.text()).slice(1)).sid;
    await fetch(`${srv.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body: '40' });
    sids.push(sid);
  }
  const base = rss(srv.proc.pid);
  // 15 MB of broadcasts, and the fast reader's copy of them while its
  // WebSocket drains: 30 MB, under the cap; 165 MB if each queue's
  // reference counted apart.
  const fast = await fastReader(srv, 'shout', ['shout', 250, 60000]);
  assert.ok(await until(() => fast.got() === 250, { timeoutMs: 20000 }), `the fast reader got ${fast.got()} of 250`);
  await sleep(300);
  const grown = rss(srv.proc.pid) - base;
  t.diagnostic(`RSS +${(grown / MB).toFixed(1)} MB with 10 queues holding 15 MB of broadcasts`);
  if (!SANITIZED) assert.ok(grown < 60 * MB, `RSS grew by ${(grown / MB).toFixed(1)} MB`);
  assert.equal(srv.stderr().split('\n').filter((l) => /maxOutputBufferTotal/.test(l)).length, 0, srv.stderr());
  for (const sid of sids) {
    // Still open: the GET collects the queue (the CONNECT reply first).
    const res = await fetch(`${srv.url}/socket.io/?EIO=4&transport=polling&sid=${sid}`);
    assert.equal(res.status, 200, srv.stderr());
    assert.match((await res.text()).slice(0, 200), /^40\{"sid"/);
  }
  fast.c.close();
  const { code } = await srv.stop();
  assert.equal(code, 0);
});
