// Binary data with the real socket.io-client against tests/apps/binary:
// Buffer/Uint8Array/ArrayBuffer both ways, nested binary, several
// attachments in order, binary in acks in both directions, on websocket
// and on polling (base64 "b" packets).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startApp, connected, nextEvent, ask, toBuffer, isBinary, TRANSPORTS,
  stopProblems,
} from './lib/sio.mjs';

let srv;
before(async () => { srv = await startApp('binary'); });
after(async () => { await srv?.stop(); });

const hex = (b) => toBuffer(b).toString('hex');
const bytes = (n, f = (i) => i & 0xff) => Buffer.from(Array.from({ length: n }, (_, i) => f(i)));

// The message packets the client received starting at the first text
// packet matching re: [header, attachment buffers...].
function rawBinaryPacket(c, re) {
  const msgs = c.io.rawPackets.messages();
  const i = msgs.findIndex((m) => typeof m === 'string' && re.test(m));
  assert.ok(i >= 0, `no raw packet matching ${re}: ${JSON.stringify(msgs.filter((m) => typeof m === 'string'))}`);
  const header = msgs[i];
  const n = Number(/^\d(\d+)-/.exec(header)?.[1]);
  return { header, n, attachments: msgs.slice(i + 1, i + 1 + n) };
}

for (const transports of TRANSPORTS) {
  const tr = transports[0];

  test(`${tr}: a Buffer argument reaches Lua as a binary value with the same bytes`, async (t) => {
    const c = await connected(srv, '/', { t, transports });
    const all = bytes(256);
    const [desc] = await ask(c, 'describe', all);
    assert.deepEqual(desc, [{ bin: all.toString('hex'), len: 256 }]);
  });

  test(`${tr}: Uint8Array and ArrayBuffer arguments reach Lua as binary values`, async (t) => {
    const c = await connected(srv, '/', { t, transports });
    const u8 = new Uint8Array([10, 20, 30]);
    const ab = new Uint8Array([40, 50]).buffer;
    const [desc] = await ask(c, 'describe', u8, 'plain', ab);
    assert.deepEqual(desc, [{ bin: '0a141e', len: 3 }, 'plain', { bin: '2832', len: 2 }]);
  });

  test(`${tr}: binary arguments echoed by the server come back as binary with identical bytes, other arguments in place`, async (t) => {
    const c = await connected(srv, '/', { t, transports });
    const a = Buffer.from([1, 2, 3, 4]);
    const b = bytes(300, (i) => 255 - (i & 0xff));
    const echo = nextEvent(c, 'echo');
    c.emit('echo', a, 'middle', 42, b, null);
    const got = await echo;
    assert.equal(got.length, 5);
    assert.ok(isBinary(got[0]) && isBinary(got[3]), 'binary arguments came back as non-binary');
    assert.equal(hex(got[0]), a.toString('hex'));
    assert.equal(got[1], 'middle');
    assert.equal(got[2], 42);
    assert.equal(hex(got[3]), b.toString('hex'));
    assert.equal(got[4], null);
  });

  test(`${tr}: nested binary {a:{b:[buf]}} keeps its place both ways`, async (t) => {
    const c = await connected(srv, '/', { t, transports });
    const buf = Buffer.from('nested bytes');
    const [desc] = await ask(c, 'describe', { a: { b: [buf] }, s: 'x' });
    assert.deepEqual(desc, [{ a: { b: [{ bin: buf.toString('hex'), len: buf.length }] }, s: 'x' }]);
    const echo = nextEvent(c, 'echo');
    c.emit('echo', { a: { b: [buf] }, s: 'x' });
    const [obj] = await echo;
    assert.equal(obj.s, 'x');
    assert.equal(obj.a.b.length, 1);
    assert.ok(isBinary(obj.a.b[0]));
    assert.equal(hex(obj.a.b[0]), buf.toString('hex'));
  });

  test(`${tr}: several attachments keep their order: the server writes 5<n>-[placeholders] then the n buffers in order`, async (t) => {
    const c = await connected(srv, '/', { t, transports });
    const bufs = [Buffer.from([1]), Buffer.from([2, 2]), Buffer.from([3, 3, 3]), Buffer.from([4, 4, 4, 4])];
    const echo = nextEvent(c, 'echo');
    c.emit('echo', bufs[0], 'x', bufs[1], { c: bufs[2], d: [bufs[3]] });
    const got = await echo;
    assert.equal(hex(got[0]), '01');
    assert.equal(got[1], 'x');
    assert.equal(hex(got[2]), '0202');
    assert.equal(hex(got[3].c), '030303');
    assert.equal(hex(got[3].d[0]), '04040404');
    const raw = rawBinaryPacket(c, /^5\d+-\["echo"/);
    assert.equal(raw.header,
      '54-["echo",{"_placeholder":true,"num":0},"x",{"_placeholder":true,"num":1},' +
      '{"c":{"_placeholder":true,"num":2},"d":[{"_placeholder":true,"num":3}]}]');
    assert.deepEqual(raw.attachments.map(hex), ['01', '0202', '030303', '04040404']);
  });

  test(`${tr}: binary values made in Lua arrive as binary, top level and nested, 1000 bytes included`, async (t) => {
    const c = await connected(srv, '/', { t, transports });
    const made = nextEvent(c, 'made');
    c.emit('make');
    const got = await made;
    assert.equal(got.length, 4);
    assert.equal(hex(got[0]), '000102ff');
    assert.equal(got[1], 'text in between');
    assert.ok(isBinary(got[2].a.b[0]));
    assert.equal(toBuffer(got[2].a.b[0]).toString(), 'nested');
    assert.equal(got[2].a.b[1], 7);
    assert.equal(hex(got[3]), 'aa'.repeat(1000));
    const raw = rawBinaryPacket(c, /^5\d+-\["made"/);
    assert.equal(raw.n, 3);
  });

  test(`${tr}: an empty binary value goes both ways`, async (t) => {
    const c = await connected(srv, '/', { t, transports });
    const made = nextEvent(c, 'made-empty');
    c.emit('make-empty');
    const got = await made;
    assert.ok(isBinary(got[0]), `got ${JSON.stringify(got)}`);
    assert.equal(toBuffer(got[0]).length, 0);
    assert.equal(got[1], 1);
    const [desc] = await ask(c, 'describe', Buffer.alloc(0), 'after');
    assert.deepEqual(desc, [{ bin: '', len: 0 }, 'after']);
  });

  test(`${tr}: an ack from Lua carrying binary arrives as a BINARY_ACK (6<n>-<id>[...]) with the buffers`, async (t) => {
    const c = await connected(srv, '/', { t, transports });
    const got = await ask(c, 'make-ack');
    assert.equal(hex(got[0]), 'deadbeef');
    assert.equal(hex(got[1].inner), '01');
    const raw = rawBinaryPacket(c, /^6\d+-\d+\[/);
    assert.match(raw.header, /^62-\d+\[\{"_placeholder":true,"num":0\},\{"inner":\{"_placeholder":true,"num":1\}\}\]$/);
    assert.deepEqual(raw.attachments.map(hex), ['deadbeef', '01']);
  });

  test(`${tr}: binary arguments of an event with an ack come back in the ack`, async (t) => {
    const c = await connected(srv, '/', { t, transports });
    const a = bytes(64);
    const got = await ask(c, 'echo', a, { k: Buffer.from([7]) });
    assert.equal(hex(got[0]), a.toString('hex'));
    assert.equal(hex(got[1].k), '07');
  });

  test(`${tr}: the client's binary ack to Lua's emit_with_ack reaches Lua as binary (coroutine form)`, async (t) => {
    const c = await connected(srv, '/', { t, transports });
    c.on('give', (buf, cb) => cb(Buffer.concat([toBuffer(buf), Buffer.from([6])]), { x: Buffer.from('hi') }));
    const asked = nextEvent(c, 'asked');
    c.emit('ask');
    const [desc] = await asked;
    assert.deepEqual(desc, [{ bin: '09080706', len: 4 }]);
  });

  test(`${tr}: the client's binary ack reaches Lua's ack callback as binary (callback form)`, async (t) => {
    const c = await connected(srv, '/', { t, transports });
    c.on('give', (buf, cb) => cb(toBuffer(buf), 'and text'));
    const asked = nextEvent(c, 'asked');
    c.emit('ask-cb');
    const [desc] = await asked;
    assert.deepEqual(desc, [{ bin: '0605', len: 2 }, 'and text']);
  });

  test(`${tr}: a 200 KB binary argument round-trips intact`, async (t) => {
    const c = await connected(srv, '/', { t, transports });
    const big = bytes(200_000, (i) => (i * 31 + 7) & 0xff);
    const [back] = await ask(c, 'echo', big);
    assert.ok(toBuffer(back).equals(big), 'large binary differs');
  });
}

// Last: a crash or a sanitizer report anywhere in the run shows up here.
test('the server exits 0 on SIGTERM after the run, with no crash or sanitizer report', async () => {
  assert.deepEqual(await stopProblems(srv), []);
});
