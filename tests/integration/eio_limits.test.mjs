// Engine.IO sessions against a handshake flood: maxSessions (503 with
// Retry-After past it, an upgrade of a session that exists is no new one,
// a closed session frees its slot at once), sessions that never join a
// namespace are closed quietly (one log line per interval, with a count),
// and a sid too long to be one is an unknown sid, not a missing one.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { io } from 'socket.io-client';
import { scrapeValues } from './lib/prom.mjs';
import { startServer, makeAppDir, request, sleep, until } from './lib/server.mjs';

const APP = `
local sio = require "siolua"
sio.server:on("connection", function(socket) socket:on("hi", function(ack) ack("hello") end) end)
`;

let srv;
before(async () => {
  srv = await startServer({
    appDir: makeAppDir({ 'main.lua': APP }),
    args: ['--no-reload', '--set', 'metrics=/metrics', '--set', 'maxSessions=5', '--set', 'connectTimeout=400'],
  });
});
after(async () => {
  const { code } = await srv.stop();
  assert.equal(code, 0, srv.stderr());
});

const URL_ = () => `${srv.url}/socket.io/?EIO=4&transport=polling`;
const lines = (re) => srv.stderr().split('\n').filter((l) => re.test(l));

async function handshake() {
  const res = await request(URL_());
  return res.status === 200 ? { sid: JSON.parse(res.text.slice(1)).sid, res } : { res };
}

async function closeSession(sid) {
  const res = await request(`${URL_()}&sid=${sid}`, { method: 'POST', body: '1' });
  assert.equal(res.status, 200);
}

function wsOpen(url) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    ws.on('open', () => resolve({ ws }));
    ws.on('unexpected-response', (_req, res) => resolve({ status: res.statusCode, headers: res.headers }));
    ws.on('error', (e) => resolve({ error: e }));
  });
}

test('past maxSessions a handshake gets 503 with Retry-After, polling or WebSocket; an upgrade is no new session; a closed session frees its slot at once', async () => {
  const sids = [];
  for (let i = 0; i < 5; i++) {
    const { sid, res } = await handshake();
    assert.equal(res.status, 200, `session ${i + 1} of 5`);
    sids.push(sid);
  }
  for (let i = 0; i < 3; i++) {
    const { res } = await handshake();
    assert.equal(res.status, 503);
    assert.equal(res.headers['retry-after'], '5');
  }
  const direct = await wsOpen(`${srv.wsUrl}/socket.io/?EIO=4&transport=websocket`);
  assert.equal(direct.status, 503, 'a direct WebSocket handshake is a new session too');

  // Upgrading one of the five is not a new session.
  const { ws } = await wsOpen(`${srv.wsUrl}/socket.io/?EIO=4&transport=websocket&sid=${sids[0]}`);
  assert.ok(ws, 'the upgrade was accepted');
  const probe = new Promise((r) => ws.once('message', (d) => r(d.toString())));
  ws.send('2probe');
  assert.equal(await probe, '3probe');
  ws.send('5');
  ws.close();

  await closeSession(sids[1]);
  const { res } = await handshake();
  assert.equal(res.status, 200, 'the slot of the closed session is free at once');
  assert.equal(lines(/maxSessions/).length, 1, 'four refusals, one log line');
  const st = await scrapeValues(srv.url);
  assert.equal(st.siolua_sessions_refused_total, 4, JSON.stringify(st));
  await sleep(600); // connectTimeout closes them all
});

test('sessions that never join a namespace are closed by connectTimeout with one log line, not one each', async () => {
  const before = lines(/joined no namespace/).length;
  const batch = [];
  for (let i = 0; i < 5; i++) batch.push((await handshake()).sid);
  assert.ok(batch.every(Boolean), 'room for five again: the idle ones were closed');
  await sleep(800);
  for (const sid of batch) {
    // Closed by the server: the next GET collects the close packet.
    const res = await request(`${URL_()}&sid=${sid}`);
    assert.equal(res.text, '1', 'closed by connectTimeout');
    assert.equal((await request(`${URL_()}&sid=${sid}`)).status, 400);
  }
  const added = lines(/joined no namespace/).length - before;
  assert.ok(added <= 1, `${added} lines for five sessions closed by connectTimeout`);
});

test('a client that joins a namespace is not closed by connectTimeout', async () => {
  const c = io(srv.url, { transports: ['websocket'], reconnection: false });
  await new Promise((r, j) => { c.on('connect', r); c.on('connect_error', j); });
  await sleep(700);
  assert.ok(c.connected);
  assert.equal(await c.timeout(2000).emitWithAck('hi'), 'hello');
  c.close();
});

for (const n of [31, 32, 100]) {
  test(`a sid of ${n} characters is an unknown sid (400, code 1), for GET, POST and WebSocket alike`, async () => {
    const sid = 'A'.repeat(n);
    const get = await request(`${URL_()}&sid=${sid}`);
    assert.equal(get.status, 400);
    assert.deepEqual(JSON.parse(get.text), { code: 1, message: 'Session ID unknown' });
    const post = await request(`${URL_()}&sid=${sid}`, { method: 'POST', body: '40' });
    assert.equal(post.status, 400);
    assert.deepEqual(JSON.parse(post.text), { code: 1, message: 'Session ID unknown' });
    const ws = await wsOpen(`${srv.wsUrl}/socket.io/?EIO=4&transport=websocket&sid=${sid}`);
    assert.equal(ws.status, 400);
  });
}
