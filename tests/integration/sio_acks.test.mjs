// Acknowledgements with the real socket.io-client against tests/apps/acks:
// client -> server acks answered by Lua's ack(...), server -> client acks in
// the callback and emit_with_ack forms, timeouts, late acks, and broadcasts
// collecting one answer per client.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { sleep } from './lib/server.mjs';
import {
  startApp, connected, nextEvent, ask, askWithin, rawTexts, errorLines, uniq, TRANSPORTS,
  stopProblems,
} from './lib/sio.mjs';

let srv;
before(async () => { srv = await startApp('acks'); });
after(async () => { await srv?.stop(); });

const TIMEOUT_MSG = 'operation has timed out';

for (const transports of TRANSPORTS) {
  const tr = transports[0];

  test(`${tr}: Lua's ack(...) sends back every argument, nulls in the middle and at the end included`, async (t) => {
    const c = await connected(srv, '/', { t, transports });
    const got = await ask(c, 'ack-me', 1, null, 'x', { y: [true] }, null);
    assert.deepEqual(got, [1, null, 'x', { y: [true] }, null]);
    const raw = rawTexts(c).filter((s) => s.startsWith('3'));
    assert.equal(raw.length, 1);
    assert.match(raw[0], /^3\d+\[1,null,"x",\{"y":\[true\]\},null\]$/);
  });

  test(`${tr}: ack() with no arguments is an ACK with an empty array`, async (t) => {
    const c = await connected(srv, '/', { t, transports });
    const got = await ask(c, 'ack-nothing');
    assert.deepEqual(got, []);
    assert.match(rawTexts(c).find((s) => s.startsWith('3')), /^3\d+\[\]$/);
  });

  test(`${tr}: server -> client, callback form: the client's answer reaches the Lua callback`, async (t) => {
    const c = await connected(srv, '/', { t, transports });
    c.on('question', (q, cb) => cb(`answer to ${q}`, 2, null));
    const answer = nextEvent(c, 'answer');
    c.emit('ask-callback', 'q1');
    assert.deepEqual(await answer, ['answer to q1', 2, null]);
    assert.ok(rawTexts(c).some((s) => /^2\d+\["question","q1"\]$/.test(s)),
      `the question went out without an ack id: ${JSON.stringify(rawTexts(c))}`);
  });

  test(`${tr}: server -> client, emit_with_ack returns the client's answer (its first argument, as emitWithAck) to the waiting coroutine`, async (t) => {
    const c = await connected(srv, '/', { t, transports });
    c.on('question', (q, cb) => cb(`answer to ${q}`, { n: 2 }));
    const got = await ask(c, 'ask-wait', 'q2');
    assert.deepEqual(got, ['answer to q2']);
  });
}

test('calling ack twice in Lua sends a single ACK packet', async (t) => {
  const c = await connected(srv, '/', { t });
  assert.deepEqual(await ask(c, 'ack-twice'), ['first']);
  await ask(c, 'ack-nothing'); // anything sent before this ack has arrived
  const acks = rawTexts(c).filter((s) => s.startsWith('3'));
  assert.equal(acks.length, 2, `ACK packets: ${JSON.stringify(acks)}`);
});

test('an ack function kept by Lua can be called later, from a timer', async (t) => {
  const c = await connected(srv, '/', { t });
  const t0 = Date.now();
  assert.deepEqual(await ask(c, 'ack-later', 80), ['later', 80]);
  assert.ok(Date.now() - t0 >= 70);
});

test('socket:timeout(ms):emit_with_ack returns "operation has timed out" when the client never acks', async (t) => {
  const c = await connected(srv, '/', { t });
  c.on('never', () => { /* the ack is never called */ });
  const [err, answer, elapsed] = await ask(c, 'ask-timeout', 'never', 200);
  assert.equal(err, TIMEOUT_MSG);
  assert.equal(answer, null);
  assert.ok(elapsed >= 180 && elapsed < 1500, `timed out after ${elapsed} ms (timeout 200)`);
});

test('socket:timeout(ms):emit_with_ack returns err nil and the answer when the client acks in time', async (t) => {
  const c = await connected(srv, '/', { t });
  c.on('quick', (ms, cb) => cb(`fast under ${ms}`));
  const [err, answer, elapsed] = await ask(c, 'ask-timeout', 'quick', 2000);
  assert.equal(err, null);
  assert.equal(answer, 'fast under 2000');
  assert.ok(elapsed < 1000, `took ${elapsed} ms`);
});

test('socket:timeout(ms):emit(..., fn) calls fn("operation has timed out") when the client never acks', async (t) => {
  const c = await connected(srv, '/', { t });
  c.on('never', () => {});
  const [err, answer, elapsed] = await ask(c, 'ask-timeout-cb', 'never', 150);
  assert.equal(err, TIMEOUT_MSG);
  assert.equal(answer, null);
  assert.ok(elapsed >= 135 && elapsed < 1500, `timed out after ${elapsed} ms (timeout 150)`);
});

test('socket:timeout(ms):emit(..., fn) calls fn(nil, answer) when the client acks in time', async (t) => {
  const c = await connected(srv, '/', { t });
  c.on('quick', (ms, cb) => cb('in time'));
  const [err, answer] = await ask(c, 'ask-timeout-cb', 'quick', 2000);
  assert.equal(err, null);
  assert.equal(answer, 'in time');
});

test('a late ack is ignored: the callback ran once with the timeout error, the coroutine resumed once, nothing logged as an error', async (t) => {
  const c = await connected(srv, '/', { t });
  const logBefore = srv.stderr().length;
  let answered = 0;
  c.on('slow-question', (ms, cb) => setTimeout(() => { answered += 1; cb('too late'); }, ms * 3));
  await ask(c, 'ask-late', 100);
  await ask(c, 'ask-late-wait', 100);
  await sleep(450); // both timeouts fired (100 ms), both late answers sent (300 ms)
  assert.equal(answered, 2);
  const [report] = await ask(c, 'late-report');
  assert.deepEqual(report, {
    calls: 1, err: TIMEOUT_MSG, answer: null,
    resumed: 1, wait_err: TIMEOUT_MSG, wait_answer: null,
  });
  assert.deepEqual(await ask(c, 'ack-me', 'still fine'), ['still fine']);
  assert.deepEqual(errorLines(srv.stderr().slice(logBefore)), []);
});

// Clients in a fresh room answering "poll" with their name (or not).
async function roomOf(t, names, silent = []) {
  const room = uniq('poll');
  const clients = [];
  for (const name of [...names, ...silent]) {
    const c = await connected(srv, '/', { t });
    if (names.includes(name)) c.on('poll', (r, cb) => cb(`${name}@${r}`));
    else c.on('poll', () => { /* never answers */ });
    await ask(c, 'join', room);
    clients.push(c);
  }
  return { room, clients };
}

test('broadcast emit_with_ack with a timeout collects one response per client in the room', async (t) => {
  const { room } = await roomOf(t, ['a', 'b', 'c']);
  const asker = await connected(srv, '/', { t });
  const [err, responses, elapsed] = await ask(asker, 'poll-room', room, 2000);
  assert.equal(err, null);
  assert.deepEqual([...responses].sort(), [`a@${room}`, `b@${room}`, `c@${room}`]);
  assert.ok(elapsed < 1500, `waited ${elapsed} ms although everyone answered`);
});

test('broadcast emit_with_ack where one client never answers: "operation has timed out" with the responses that came', async (t) => {
  const { room } = await roomOf(t, ['a', 'b', 'c'], ['mute']);
  const asker = await connected(srv, '/', { t });
  const [err, responses, elapsed] = await ask(asker, 'poll-room', room, 300);
  assert.equal(err, TIMEOUT_MSG);
  assert.deepEqual([...responses].sort(), [`a@${room}`, `b@${room}`, `c@${room}`]);
  assert.ok(elapsed >= 270 && elapsed < 2000, `timed out after ${elapsed} ms (timeout 300)`);
});

test('broadcast emit_with_ack to an empty room returns at once with no error and no responses', async (t) => {
  const asker = await connected(srv, '/', { t });
  const [err, responses, elapsed] = await ask(asker, 'poll-room', uniq('empty'), 2000);
  assert.equal(err, null);
  assert.deepEqual(responses, []);
  assert.ok(elapsed < 1000, `waited ${elapsed} ms for nobody`);
});

test('broadcast timeout(ms):emit(..., fn) (callback form) collects the responses too', async (t) => {
  const { room } = await roomOf(t, ['x', 'y']);
  const asker = await connected(srv, '/', { t });
  const [err, responses] = await askWithin(4000, asker, 'poll-room-cb', room, 2000);
  assert.equal(err, null);
  assert.deepEqual([...responses].sort(), [`x@${room}`, `y@${room}`]);
});

// Last: a crash or a sanitizer report anywhere in the run shows up here.
test('the server exits 0 on SIGTERM after the run, with no crash or sanitizer report', async () => {
  assert.deepEqual(await stopProblems(srv), []);
});
