// Engine.IO v4 upgrade from long-polling to WebSocket: the real
// engine.io-client with messages in flight, and the raw probe sequence.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, eioHandshake, eioGet, eioPost, request, eioUrl, once, asBytes, sleep } from './lib/server.mjs';
import { openEio, openRawWs, wsUrl } from './lib/eio.mjs';

let srv;
before(async () => {
  srv = await startServer({ args: ['--eio-echo', '/engine.io/'] });
});
after(async () => {
  await srv?.stop();
});

test('engine.io-client upgrades polling to websocket: the upgrade event fires and the transport becomes websocket', async (t) => {
  const c = await openEio(srv, { t, transports: ['polling', 'websocket'] });
  assert.equal(c.socket.transport.name, 'polling');
  assert.deepEqual(c.handshake.upgrades, ['websocket']);
  const sid = c.socket.id;
  const transport = c.socket.transport.name === 'websocket' ? c.socket.transport : await once(c.socket, 'upgrade', { failOn: ['upgradeError', 'close'] });
  assert.equal(transport.name, 'websocket');
  assert.equal(c.socket.transport.name, 'websocket');
  assert.equal(c.socket.id, sid, 'sid changed across the upgrade');
  c.socket.send('after upgrade');
  await c.waitMessages(1);
  assert.equal(c.messages[0], 'after upgrade');
});

test('100 numbered messages sent while upgrading are all echoed exactly once and in order', async (t) => {
  const c = await openEio(srv, { t, transports: ['polling', 'websocket'] });
  const N = 100;
  let upgraded = false;
  let sentBeforeUpgrade = 0;
  const upgradedP = once(c.socket, 'upgrade', { failOn: ['upgradeError', 'close'] }).then(() => { upgraded = true; });
  // 20 at once on polling, the rest one every 2 ms across the probe, the
  // pause and the switch, so both directions have traffic in flight.
  const FIRST = 20;
  let i = 0;
  for (; i < FIRST; i++) c.socket.send(`n${i}`);
  sentBeforeUpgrade = i;
  await new Promise((resolve) => {
    const iv = setInterval(() => {
      c.socket.send(i % 10 === 7 ? Buffer.from([i]) : `n${i}`);
      if (!upgraded) sentBeforeUpgrade = i + 1;
      if (++i === N) { clearInterval(iv); resolve(); }
    }, 2);
  });
  await upgradedP;
  await c.waitMessages(N);
  await sleep(100); // a duplicate would arrive here
  const got = c.messages.map((m) => (typeof m === 'string' ? m : `bin${asBytes(m)[0]}`));
  const want = Array.from({ length: N }, (_, k) => (k >= FIRST && k % 10 === 7 ? `bin${k}` : `n${k}`));
  assert.deepEqual(got, want);
  assert.equal(c.socket.transport.name, 'websocket');
  t.diagnostic(`${sentBeforeUpgrade} of ${N} messages were sent before the upgrade event`);
});

test('raw upgrade: 2probe gets 3probe, the parked polling GET is released with noop "6", then 5 switches and echo continues on websocket', async (t) => {
  const { sid } = await eioHandshake(srv.url);
  const parked = eioGet(srv.url, sid);
  await sleep(30);
  const ws = await openRawWs(wsUrl(srv, { sid }), { t });
  ws.ws.send('2probe');
  await ws.waitFrames(1);
  assert.deepEqual(ws.frames[0], { text: '3probe' });
  const g = await parked; // Node re-checks every 100 ms; the request timeout is 5 s
  assert.equal(g.status, 200);
  assert.equal(g.text, '6');
  ws.ws.send('5');
  ws.ws.send('4hello');
  await ws.waitFrames(2);
  assert.deepEqual(ws.frames[1], { text: '4hello' });
});

test('a message echoed on polling but not yet fetched is delivered over the websocket after the upgrade', async (t) => {
  const { sid } = await eioHandshake(srv.url);
  const p = await eioPost(srv.url, sid, '4queued');
  assert.equal(p.status, 200);
  const ws = await openRawWs(wsUrl(srv, { sid }), { t });
  ws.ws.send('2probe');
  await ws.waitFrames(1);
  assert.deepEqual(ws.frames[0], { text: '3probe' });
  ws.ws.send('5');
  await ws.waitFrames(2);
  assert.deepEqual(ws.frames[1], { text: '4queued' });
});

test('after the upgrade a polling GET on the sid is refused with 400 code 3 "Bad request"', async (t) => {
  const { sid } = await eioHandshake(srv.url);
  const ws = await openRawWs(wsUrl(srv, { sid }), { t });
  ws.ws.send('2probe');
  await ws.waitFrames(1);
  ws.ws.send('5');
  ws.ws.send('4x');
  await ws.waitFrames(2); // the echo proves the upgrade is done
  const g = await request(eioUrl(srv.url, '/engine.io/', { sid }), { timeoutMs: 2000 });
  assert.equal(g.status, 400);
  assert.deepEqual(JSON.parse(g.text), { code: 3, message: 'Bad request' });
});

test('a second websocket on an already upgraded sid is accepted (101) and then closed, the first one keeps working', async (t) => {
  const { sid } = await eioHandshake(srv.url);
  const first = await openRawWs(wsUrl(srv, { sid }), { t });
  first.ws.send('2probe');
  await first.waitFrames(1);
  first.ws.send('5');
  first.ws.send('4one');
  await first.waitFrames(2);
  const second = await openRawWs(wsUrl(srv, { sid }), { t }); // rejects on a non-101 answer
  assert.equal(await second.closesWithin(2000), true, 'second websocket was not closed');
  assert.ok(!second.frames.some((f) => f.text === '3probe' || f.text?.startsWith('0')), JSON.stringify(second.frames));
  first.ws.send('4two');
  await first.waitFrames(3);
  assert.deepEqual(first.frames[2], { text: '4two' });
});

test('an upgrade that never sends "5" is abandoned after upgradeTimeout: the websocket is closed and polling keeps working', async (t) => {
  const s = await startServer({ t, args: ['--eio-echo', '/engine.io/', '--set', 'upgradeTimeout=300'] });
  const { sid } = await eioHandshake(s.url);
  const ws = await openRawWs(wsUrl(s, { sid }), { t });
  ws.ws.send('2probe');
  await ws.waitFrames(1);
  assert.deepEqual(ws.frames[0], { text: '3probe' });
  assert.equal(await ws.closesWithin(300 * 3 + 500), true, 'probe websocket still open long after upgradeTimeout');
  const p = await eioPost(s.url, sid, '4still polling');
  assert.equal(p.status, 200);
  // A noop may come first if the server released a poll during the probe.
  let text = '';
  for (let i = 0; i < 3 && !text.includes('4still polling'); i++) text += (await eioGet(s.url, sid)).text;
  assert.ok(text.endsWith('4still polling'), `polling after the abandoned upgrade got ${JSON.stringify(text)}`);
  await s.stop();
});

test('with allowUpgrades=false the polling handshake offers no upgrades', async (t) => {
  const s = await startServer({ t, args: ['--eio-echo', '/engine.io/', '--set', 'allowUpgrades=false'] });
  const { handshake } = await eioHandshake(s.url);
  assert.deepEqual(handshake.upgrades, []);
  await s.stop();
});

test('with transports=polling the handshake offers no upgrades and a websocket connection is not opened', async (t) => {
  const s = await startServer({ t, args: ['--eio-echo', '/engine.io/', '--set', 'transports=polling'] });
  const { handshake } = await eioHandshake(s.url);
  assert.deepEqual(handshake.upgrades, []);
  let ws;
  try {
    ws = await openRawWs(wsUrl(s), { t, timeoutMs: 3000 });
  } catch (e) {
    assert.ok(e.statusCode === undefined || e.statusCode >= 400, e.message);
    await s.stop();
    return;
  }
  assert.equal(await ws.closesWithin(2000), true, 'websocket stayed open');
  assert.ok(!ws.frames.some((f) => f.text?.startsWith('0')), `got an open packet: ${JSON.stringify(ws.frames)}`);
  await s.stop();
});
