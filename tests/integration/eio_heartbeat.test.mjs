// Engine.IO v4 heartbeat with short timers (pingInterval 200 ms, pingTimeout
// 150 ms): live clients stay, silent ones are dropped. Deadlines are the
// protocol bound times three, so a slow machine does not fail them; nothing
// here asserts that the server is faster than the protocol requires.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, eioHandshake, eioGet, eioPost, probeSession, waitSessionGone, once, until, sleep } from './lib/server.mjs';
import { openEio, openRawWs, wsUrl } from './lib/eio.mjs';

const PING_INTERVAL = 200;
const PING_TIMEOUT = 150;
const BOUND = PING_INTERVAL + PING_TIMEOUT;
const SLACK = 3;

// The healthy-client tests use a generous pingTimeout: on a loaded machine
// (the sanitizer build, CI) a pong can take longer than 150 ms to come back,
// and these tests are about staying open, not about the deadline.
const RELAXED_TIMEOUT = 3000;

let srv, relaxed;
before(async () => {
  srv = await startServer({
    args: ['--eio-echo', '/engine.io/', '--set', `pingInterval=${PING_INTERVAL}`, '--set', `pingTimeout=${PING_TIMEOUT}`],
  });
  relaxed = await startServer({
    args: ['--eio-echo', '/engine.io/', '--set', `pingInterval=${PING_INTERVAL}`, '--set', `pingTimeout=${RELAXED_TIMEOUT}`],
  });
});
after(async () => {
  await srv?.stop();
  await relaxed?.stop();
});

test('handshake advertises the configured pingInterval and pingTimeout', async () => {
  const { handshake } = await eioHandshake(srv.url);
  assert.equal(handshake.pingInterval, PING_INTERVAL);
  assert.equal(handshake.pingTimeout, PING_TIMEOUT);
});

for (const transport of ['polling', 'websocket']) {
  test(`a healthy engine.io-client over ${transport} answers pings and stays open for 1.2 s`, async (t) => {
    const c = await openEio(relaxed, { t, transports: [transport] });
    let pings = 0;
    let closeReason = null;
    c.socket.on('ping', () => { pings++; });
    c.socket.on('close', (reason) => { closeReason = reason; });
    await sleep(1200);
    assert.equal(closeReason, null, `closed: ${closeReason}`);
    assert.equal(c.socket.readyState, 'open');
    assert.ok(pings >= 2, `only ${pings} pings in 1.2 s with pingInterval ${PING_INTERVAL}`);
    c.socket.send('still here');
    await c.waitMessages(1);
    assert.equal(c.messages[0], 'still here');
  });
}

test('raw polling: a parked GET returns exactly "2", and answering "3" keeps the session through four cycles', async () => {
  const { sid } = await eioHandshake(srv.url);
  for (let cycle = 0; cycle < 4; cycle++) {
    const g = await eioGet(srv.url, sid, { timeoutMs: BOUND * SLACK });
    assert.equal(g.status, 200, `cycle ${cycle}: ${g.text}`);
    assert.equal(g.text, '2', `cycle ${cycle}`);
    const p = await eioPost(srv.url, sid, '3');
    assert.equal(p.status, 200);
    assert.equal(p.text, 'ok');
  }
  const { state, res } = await probeSession(srv.url, sid);
  assert.equal(state, 'alive', `session gone after four answered pings: ${res.status} ${res.text}`);
});

test('raw polling: a session that never polls is closed by the ping timeout (next GET gets 400 code 1)', async () => {
  const start = Date.now();
  const { sid } = await eioHandshake(srv.url);
  const res = await waitSessionGone(srv.url, sid, { deadlineMs: BOUND * SLACK });
  assert.equal(res.status, 400, `session still alive ${Date.now() - start} ms after the handshake`);
  assert.deepEqual(JSON.parse(res.text), { code: 1, message: 'Session ID unknown' });
});

test('raw polling: a session that collects the ping but never answers it is closed', async () => {
  const { sid } = await eioHandshake(srv.url);
  const g = await eioGet(srv.url, sid, { timeoutMs: BOUND * SLACK });
  assert.equal(g.text, '2');
  const res = await waitSessionGone(srv.url, sid, { deadlineMs: PING_TIMEOUT * SLACK + 100 });
  assert.equal(res.status, 400, 'session still alive after an unanswered ping');
  assert.deepEqual(JSON.parse(res.text), { code: 1, message: 'Session ID unknown' });
});

test('raw websocket that never answers "2" receives a ping and is then closed by the server', async (t) => {
  const c = await openRawWs(wsUrl(srv), { t });
  await c.waitFrames(2, BOUND * SLACK);
  assert.equal(c.frames[0].text[0], '0');
  assert.deepEqual(c.frames[1], { text: '2' });
  const sid = JSON.parse(c.frames[0].text.slice(1)).sid;
  assert.equal(await c.closesWithin(PING_TIMEOUT * SLACK + 100), true, 'websocket still open after an unanswered ping');
  const res = await waitSessionGone(srv.url, sid, { transport: 'websocket', deadlineMs: 500 });
  assert.equal(res.status, 400);
  assert.deepEqual(JSON.parse(res.text), { code: 1, message: 'Session ID unknown' });
});

test('raw websocket that answers every "2" with "3" stays open for 1.2 s', async (t) => {
  const c = await openRawWs(wsUrl(srv), { t });
  let pings = 0;
  c.ws.on('message', (d, bin) => {
    if (!bin && d.toString() === '2') { pings++; c.ws.send('3'); }
  });
  await sleep(1200);
  assert.equal(c.isClosed, false, 'closed although every ping was answered');
  assert.ok(pings >= 2, `only ${pings} pings`);
  c.ws.send('4ok');
  const got = await until(() => c.frames.some((f) => f.text === '4ok'), { timeoutMs: 1000 });
  assert.ok(got, 'no echo after 1.2 s of heartbeats');
});
