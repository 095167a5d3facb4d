// Connection state recovery with the real socket.io-client against
// tests/apps/recovery started with --set connectionStateRecovery=true: the
// transport drops while the server emits to the socket's room; the client
// reconnects by itself and is recovered (same id, rooms and data kept, the
// missed events delivered in order). Also the cases that must not recover.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { until } from './lib/server.mjs';
import {
  startApp, client, waitConnect, nextEvent, nextDisconnect, ask, collect, rawTexts, uniq,
  stopProblems,
} from './lib/sio.mjs';

let srv;
before(async () => { srv = await startApp('recovery', { args: ['--set', 'connectionStateRecovery=true'] }); });
after(async () => { await srv?.stop(); });

const FEED = 30;     // events
const EVERY = 20;    // ms between them: about 5 fall into the outage
const RECONNECT = { reconnection: true, reconnectionDelay: 100, reconnectionDelayMax: 100, randomizationFactor: 0 };

// Connects a client that reconnects by itself, joins a fresh room and sets
// socket.data; returns the client, its first id, the room and the "state"
// events the app sends on each (re)connection.
async function setUp(t, server, transports) {
  const c = client(server, '/', { t, transports, ...RECONNECT });
  const states = collect(c, 'state');
  await waitConnect(c);
  await states.wait(1);
  const room = uniq('rec');
  const rooms = await ask(c, 'setup', room, 'alice');
  assert.deepEqual(rooms, [[c.id, room].sort()]);
  return { c, id: c.id, room, states };
}

// Starts the feed, cuts the transport with drop() after 3 events, waits for
// the reconnection and the end of the feed; returns the indices received.
async function feedAcrossOutage(c, room, drop) {
  const feed = [];
  c.on('feed', (i) => feed.push(i));
  const end = nextEvent(c, 'feed-end', 10000);
  await ask(c, 'start-feed', room, FEED, EVERY);
  assert.ok(await until(() => feed.length >= 3), 'the feed did not start');
  const down = nextDisconnect(c);
  const up = new Promise((resolve) => c.once('connect', resolve));
  drop();
  await down;
  const beforeReconnect = feed.length;
  await Promise.race([up, new Promise((_, rej) => setTimeout(() => rej(new Error('no reconnection within 5 s')), 5000))]);
  await end;
  return { feed, beforeReconnect };
}

function checkRecovered(c, { id, room, states }, { feed, beforeReconnect }) {
  assert.equal(c.recovered, true, 'socket.recovered is false on the client');
  assert.equal(c.id, id, 'the id changed');
  assert.ok(states.length >= 2, `no "state" after reconnecting: ${JSON.stringify(states)}`);
  const state = states[states.length - 1][0];
  assert.equal(state.recovered, true, 'socket.recovered is not true in Lua');
  assert.equal(state.id, id);
  assert.deepEqual(state.rooms, [id, room].sort());
  assert.deepEqual(state.data, { name: 'alice', joined: room });
  assert.deepEqual(feed, Array.from({ length: FEED }, (_, i) => i), 'missed events lost, repeated or out of order');
  assert.ok(beforeReconnect < FEED, 'the whole feed arrived before the outage: nothing was missed');
}

test('the CONNECT reply carries a pid when recovery is on, and the first connection is not "recovered"', async (t) => {
  const { c, states } = await setUp(t, srv, ['websocket']);
  assert.match(rawTexts(c).find((s) => s.startsWith('0')), /^0\{"sid":"[^"]+","pid":"[^"]+"\}$/);
  assert.ok(!c.recovered, 'the client says it was recovered');
  assert.equal(states[0][0].recovered, false);
});

test('websocket: engine closed by the client while the room is fed -> reconnected and recovered, same id, rooms and data, missed events in order', async (t) => {
  const s = await setUp(t, srv, ['websocket']);
  const r = await feedAcrossOutage(s.c, s.room, () => s.c.io.engine.close());
  checkRecovered(s.c, s, r);
});

test('websocket: TCP connection destroyed without a close frame -> recovered with the missed events', async (t) => {
  const s = await setUp(t, srv, ['websocket']);
  const r = await feedAcrossOutage(s.c, s.room, () => s.c.io.engine.transport.ws._socket.destroy());
  checkRecovered(s.c, s, r);
});

test('polling: engine closed by the client while the room is fed -> recovered with the missed events', async (t) => {
  const s = await setUp(t, srv, ['polling']);
  const r = await feedAcrossOutage(s.c, s.room, () => s.c.io.engine.close());
  checkRecovered(s.c, s, r);
});

test('a socket that left with disconnect() is not recovered when it connects again', async (t) => {
  const { c, id } = await setUp(t, srv, ['websocket']);
  c.disconnect();
  c.connect();
  await waitConnect(c);
  assert.ok(!c.recovered, 'the client says it was recovered');
  assert.notEqual(c.id, id);
  const [state] = await ask(c, 'state?');
  assert.equal(state.recovered, false);
  assert.deepEqual(state.rooms, [c.id]);
  assert.deepEqual(state.data, {});
});

test('without connectionStateRecovery a reconnected socket is new: recovered false, new id, rooms and data gone', async (t) => {
  const plain = await startApp('recovery', { t });
  const { c, id, states } = await setUp(t, plain, ['websocket']);
  assert.match(rawTexts(c).find((s) => s.startsWith('0')), /^0\{"sid":"[^"]+"\}$/);
  const up = new Promise((resolve) => c.once('connect', resolve));
  c.io.engine.close();
  await up;
  await states.wait(2);
  assert.ok(!c.recovered, 'the client says it was recovered');
  assert.notEqual(c.id, id);
  const state = states[1][0];
  assert.equal(state.recovered, false);
  assert.deepEqual(state.rooms, [c.id]);
  assert.deepEqual(state.data, {});
  assert.deepEqual(await stopProblems(plain), []);
});

// Last: a crash or a sanitizer report anywhere in the run shows up here.
test('the server exits 0 on SIGTERM after the run, with no crash or sanitizer report', async () => {
  assert.deepEqual(await stopProblems(srv), []);
});
