// Seeds for the fuzz corpora, recorded from real traffic: the official npm
// clients (socket.io-client 4 over polling and WebSocket, socket.io-client
// 2 for Engine.IO v3) talk to the siolua binary through a recording TCP
// proxy, and a Node socket.io server with @socket.io/redis-adapter's
// sharded adapter broadcasts to a siolua cluster member whose Redis
// connection goes through a second recording proxy. The recorded bytes
// are cut into one seed set per target (tests/fuzz/corpus/<target>/, file
// names are the SHA-1 of the contents, as libFuzzer names them):
//
//   http         each client connection's bytes (requests, upgrade, frames)
//   ws_frame     the WebSocket frames after an upgrade
//   eio_payload  polling POST bodies (v4 text, v3 text, v3 binary)
//   sio_packet   the same bodies, and each WebSocket's messages as one v3
//                binary payload (text and binary records, like frames)
//   lua_json     the JSON of every Socket.IO packet and handshake
//   mpjson       the same JSON, with its attachment count
//   msgpack      the cluster messages read from Redis, and the JSON above
//                as notepack (the Node adapter's encoder) writes it
//   sio_packet_msgpack  the binary messages of socket.io-client with
//                socket.io-msgpack-parser and of the siolua server with
//                --set parser=msgpack (both ways, polling and WebSocket)
//   resp         what Redis sent the siolua subscriber connection
//   jwt          tokens made with node:crypto (HS256), claims, and parts
//   redis_url    the URL forms of docs/lua-api.md
// Each seed starts with the control bytes its target reads first (see the
// target's header comment); they are chosen as "whole, defaults".
//
// Usage (after a build, so build/siolua exists):
//   cd tests && node fuzz/capture.mjs [--out DIR]
// The committed corpus was made this way; re-run it when the protocol
// changes, then prune with scripts in docs/fuzzing.md.
import { createHash, createHmac } from 'node:crypto';
import { mkdirSync, writeFileSync, readdirSync } from 'node:fs';
import net from 'node:net';
import { join, dirname } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { io } from 'socket.io-client';
import { startServer, sleep } from '../integration/lib/server.mjs';
import { startRedis } from '../integration/lib/cluster.mjs';

const require = createRequire(import.meta.url);
const ioV2 = require('socket.io-client-v2');
const notepack = require('notepack.io');
const msgpackParser = require('socket.io-msgpack-parser');

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = join(HERE, '..', '..');
const outArg = process.argv.indexOf('--out');
const OUT = outArg > 0 ? process.argv[outArg + 1] : join(HERE, 'corpus');
const MAX_SEED = 4096;      // libFuzzer's default -max_len
const MAX_PER_TARGET = 80;  // the corpus stays small (well under 1 MB)

// ---- a recording proxy -------------------------------------------------------

// Forwards every connection to `port` and records, per connection, the bytes
// each side sent: {up: Buffer[] (client -> server), down: Buffer[]}.
function recordingProxy(port) {
  const conns = [];
  const server = net.createServer((client) => {
    const rec = { up: [], down: [] };
    conns.push(rec);
    const upstream = net.connect(port, '127.0.0.1');
    client.on('data', (d) => { rec.up.push(Buffer.from(d)); upstream.write(d); });
    upstream.on('data', (d) => { rec.down.push(Buffer.from(d)); client.write(d); });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('error', () => {});
    upstream.on('error', () => {});
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({
    port: server.address().port,
    conns,
    close: () => new Promise((r) => server.close(r)),
  })));
}

// ---- traffic -----------------------------------------------------------------

const BYTES = Buffer.from([0, 1, 2, 250, 255]);

// One client session: events of every shape, acks, binary, a namespace.
async function talkV4(url, transports) {
  const s = io(url, { transports, forceNew: true, reconnection: false, auth: { token: 'abc', n: 1 } });
  await new Promise((resolve, reject) => { s.on('connect', resolve); s.on('connect_error', reject); });
  await s.emitWithAck('join', 'room-1');
  s.emit('to', {}, 'plain', 'text', 42, -1.5e-7, true, null, { nested: [1, { deep: 'é€😀' }] });
  s.emit('to', { rooms: ['room-1'] }, 'bin', BYTES, { inner: Buffer.from('x') }, [Buffer.alloc(0)]);
  s.emit('to', { except: ['nobody'] }, 'unicode', '\u0000\u001f"\\/\u2028');
  await s.emitWithAck('set-data', 'k', { v: [1, 2, 3] });
  const chat = s.io.socket('/chat', { auth: { room: 'x' } });
  await new Promise((resolve) => chat.on('connect', resolve));
  chat.emit('to', {}, 'in-chat', 1);
  await sleep(100);
  chat.disconnect();
  s.disconnect();
}

// The binary test app: acks from the client, binary acks both ways; with
// the msgpack parser (opts.parser) also every kind of value MessagePack
// tells apart, echoed, and the server's binary values made in Lua.
async function talkBinary(url, transports, opts = {}) {
  const s = io(url, { transports, forceNew: true, reconnection: false, ...opts });
  await new Promise((resolve, reject) => { s.on('connect', resolve); s.on('connect_error', reject); });
  s.on('give', (...args) => { const ack = args.pop(); ack(Buffer.from([9, 9]), 'back'); });
  await s.emitWithAck('echo', BYTES, 'two', { three: [Buffer.from('3')] });
  s.emit('ask');
  await new Promise((resolve) => s.once('asked', resolve));
  await s.emitWithAck('make-ack');
  if (opts.parser) {
    await s.emitWithAck('echo', 1, -7, 1.5, 0.1, 2 ** 40, -(2 ** 33), 2 ** 53, 'héllo ✓', '', null,
      true, false, [], {}, [1, [2, [3]]], { b: 1, a: [1, { c: null }], '': {} }, new Date(0));
    s.emit('make');
    await new Promise((resolve) => s.once('made', resolve));
  }
  s.disconnect();
}

// socket.io-client 2 (Engine.IO v3, the eio3 test app): text and binary,
// acks both ways, over polling and WS.
async function talkV2(url, transports) {
  const s = ioV2(url, { transports, forceNew: true, reconnection: false, query: { who: 'v2' } });
  await new Promise((resolve, reject) => { s.on('connect', resolve); s.on('connect_error', reject); });
  s.on('question', (q, ack) => ack(`answer to ${q}`, Buffer.from([7])));
  await new Promise((resolve) => s.emit('echo', 'héllo', [1, 2], { a: null }, resolve));
  await new Promise((resolve) => s.emit('echo', BYTES, { b: Buffer.from('yz') }, resolve));
  await new Promise((resolve) => s.emit('ask', 'q1', resolve));
  s.close();
}

// ---- cutting the streams -----------------------------------------------------

// HTTP requests of one client connection; the rest after an upgrade is WS.
function parseHttp(buf) {
  const reqs = [];
  let off = 0;
  while (off < buf.length) {
    const end = buf.indexOf('\r\n\r\n', off);
    if (end < 0) break;
    const head = buf.subarray(off, end).toString('latin1');
    const [line, ...lines] = head.split('\r\n');
    const h = {};
    for (const l of lines) {
      const i = l.indexOf(':');
      h[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    const bodyStart = end + 4;
    if ((h.upgrade || '').toLowerCase() === 'websocket') {
      reqs.push({ line, h, ws: buf.subarray(bodyStart) });
      break;
    }
    const len = Number(h['content-length'] || 0);
    reqs.push({ line, h, body: buf.subarray(bodyStart, bodyStart + len) });
    off = bodyStart + len;
  }
  return reqs;
}

// Frames (a client's masked, a server's not) -> messages {binary, data}.
function parseFrames(buf) {
  const msgs = [];
  let off = 0, parts = [], op = 0;
  while (off + 2 <= buf.length) {
    const b0 = buf[off], b1 = buf[off + 1];
    let len = b1 & 0x7f, p = off + 2;
    if (len === 126) { len = buf.readUInt16BE(p); p += 2; } else if (len === 127) { len = Number(buf.readBigUInt64BE(p)); p += 8; }
    const mask = b1 & 0x80 ? buf.subarray(p, p + 4) : Buffer.alloc(4);
    if (b1 & 0x80) p += 4;
    if (p + len > buf.length) break;
    const data = Buffer.from(buf.subarray(p, p + len));
    for (let i = 0; i < len; i++) data[i] ^= mask[i & 3];
    const opcode = b0 & 0x0f;
    if (opcode < 8) {
      if (opcode) op = opcode;
      parts.push(data);
      if (b0 & 0x80) { msgs.push({ binary: op === 2, data: Buffer.concat(parts) }); parts = []; }
    }
    off = p + len;
  }
  return msgs;
}

// Messages as one Engine.IO v3 binary payload: "<0|1><len digits>\xff<bytes>".
function v3Binary(msgs) {
  const out = [];
  for (const m of msgs) {
    const data = m.binary ? Buffer.concat([Buffer.from([4]), m.data]) : m.data;
    const digits = String(data.length).split('').map(Number);
    out.push(Buffer.from([m.binary ? 1 : 0, ...digits, 0xff]), data);
  }
  return Buffer.concat(out);
}

// Socket.IO packet text (after the Engine.IO '4') -> {json, attachments}.
function sioJson(text) {
  const m = /^([0-6])(?:(\d+)-)?(\/[^,]*,?)?(\d+)?([\s\S]*)$/.exec(text);
  if (!m || !m[5]) return null;
  return { json: m[5], attachments: Number(m[2] || 0) };
}

// Engine.IO v4 / v3 text payload -> message texts (after the '4').
function eioMessages(body, v3) {
  const texts = [];
  const s = body.toString('utf8');
  if (!v3) {
    for (const rec of s.split('\x1e')) if (rec[0] === '4') texts.push(rec.slice(1));
    return texts;
  }
  let i = 0;
  while (i < s.length) {
    const colon = s.indexOf(':', i);
    if (colon < 0) break;
    const n = Number(s.slice(i, colon));
    const rec = s.slice(colon + 1, colon + 1 + n);
    if (rec[0] === '4') texts.push(rec.slice(1));
    i = colon + 1 + n;
  }
  return texts;
}

// ---- writing -----------------------------------------------------------------

const seeds = new Map(); // target -> Map(sha1 -> Buffer)
function seed(target, ...parts) {
  const buf = Buffer.concat(parts.map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(p))));
  if (buf.length > MAX_SEED) return;
  if (!seeds.has(target)) seeds.set(target, new Map());
  seeds.get(target).set(createHash('sha1').update(buf).digest('hex'), buf);
}

// A client frame (masked), for hand-made seeds.
function frame(op, payload, fin = true) {
  const data = Buffer.from(payload);
  const mask = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);
  const n = data.length;
  const head = n < 126 ? Buffer.from([0, 0x80 | n])
    : n < 65536 ? Buffer.from([0, 0x80 | 126, n >> 8, n & 255])
      : Buffer.concat([Buffer.from([0, 0x80 | 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(n)); return b; })()]);
  head[0] = (fin ? 0x80 : 0) | op;
  const body = Buffer.from(data.map((c, i) => c ^ mask[i & 3]));
  return Buffer.concat([head, mask, body]);
}

function b64url(b) { return Buffer.from(b).toString('base64url'); }
function jwtSign(claims, secret, header = { alg: 'HS256', typ: 'JWT' }) {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

function hand() {
  const H = (s) => Buffer.from(s);
  for (const u of ['redis://', 'redis://cache.local', 'redis://app:s%40cret@10.0.0.5:6380/3',
    'redis://:pw@h:1', 'redis://[::1]:7000/2?password=p%20w', 'unix:/run/redis.sock?db=2&user=u',
    'unix:///tmp/r.sock', '/var/run/redis/redis.sock', 'rediss://h', 'redis://h:99999',
    'redis://h/1?db=3&user=a%3Ab&password=', 'unix:?db=1']) seed('redis_url', u);
  const secret = 'fuzz-secret';
  const now = 1700000000;
  for (const claims of [{ sub: 'alice' }, { sub: 'bob', exp: now + 60, nbf: now - 60 },
    { sub: 1, exp: now - 1 }, { nbf: now + 10, roles: ['a', 'b'] }, { data: { nested: [null, true, 1.5] } }]) {
    seed('jwt', H([0]), jwtSign(claims, secret));
    seed('jwt', H([1]), JSON.stringify(claims));
    seed('jwt', H([2]), JSON.stringify({ alg: 'HS256', typ: 'JWT' }), H([0]), JSON.stringify(claims));
  }
  seed('jwt', H([0]), jwtSign({ sub: 'x' }, secret, { alg: 'none' }));
  seed('jwt', H([0]), jwtSign({ sub: 'x' }, 'wrong'));
  seed('jwt', H([2]), JSON.stringify({ alg: 'RS256' }), H([0]), '{"sub":"x"}');
  seed('jwt', H([2]), '[1]', H([0]), 'not json');
  // HTTP forms the clients never send: chunked, pipelined, HEAD, limits.
  const http = [
    'POST /socket.io/?EIO=4&transport=polling&sid=abc HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n4hell\r\n1\r\no\r\n0\r\n\r\n',
    'GET / HTTP/1.1\r\nHost: x\r\n\r\nHEAD /a?b=c HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.0\r\n\r\n',
    'POST /x HTTP/1.1\r\nContent-Length: 5000000\r\n\r\nabc',
    'GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n\x81\x85\x00\x00\x00\x0040ab',
    `GET /${'a'.repeat(300)} HTTP/1.1\r\nX: ${'b'.repeat(300)}\r\n\r\n`,
    'GET /x HTTP/1.1\r\nX-Forwarded-For: 203.0.113.7, 10.0.0.2\r\nX-Forwarded-For: ::ffff:10.1.2.3\r\n\r\n',
  ];
  for (const h of http) seed('http', H([3, 0, 0]), h);
  seed('http', H([1, 3, 1]), http[1]);
  // Engine.IO forms: every packet type, base64 binary, the v3 binary body.
  seed('eio_payload', H([0]), '0{"sid":"x"}\x1e2probe\x1e3\x1e40\x1ebAAEC+v8=\x1e6\x1e1');
  seed('eio_payload', H([1]), '2:409:b4AAEC+v8=6:4héllo');
  const v3bin = v3Binary([{ binary: false, data: H('451-["e",{"_placeholder":true,"num":0}]') },
    { binary: true, data: H([0, 1, 2]) }, { binary: false, data: H('2') }]);
  seed('eio_payload', H([2]), v3bin);
  seed('sio_packet', H([2]), v3bin);
  seed('sio_packet', H([0]), '462-/chat,7[{"_placeholder":true,"num":1},{"_placeholder":true,"num":0}]\x1ebAQ==\x1eb');
  // WebSocket forms: fragments with a ping between, 16- and 64-bit
  // lengths, a close with a reason.
  seed('ws_frame', H([9, 0, 0]), frame(1, '42["a', false), frame(9, 'hi'), frame(0, '"]'),
    frame(2, Buffer.alloc(200, 7)), frame(1, '4' + 'x'.repeat(70000)).subarray(0, 3000),
    frame(8, Buffer.concat([H([3, 232]), H('bye')])));
  seed('ws_frame', H([3, 0, 0]), Buffer.from([0x82, 0xff, 0, 0, 0, 0, 0, 0, 1, 0, 1, 2, 3, 4]));
  // RESP forms of a Redis server: push, errors, nested, RESP2 nulls.
  for (const r of ['*3\r\n$8\r\nsmessage\r\n$4\r\nchan\r\n$5\r\nhello\r\n',
    '*3\r\n$10\r\nssubscribe\r\n$4\r\nchan\r\n:1\r\n-ERR unknown command \'SSUBSCRIBE\'\r\n',
    '+OK\r\n*2\r\n*1\r\n:1\r\n$-1\r\n*-1\r\n']) seed('resp', H([0]), r);
  // msgpack parser packets the clients seldom send: every type, a
  // namespace, the largest ack id, undefined fields, a float type, ext
  // values, a repeated key, extra keys.
  const mp = (v) => seed('sio_packet_msgpack', notepack.encode(v));
  mp({ type: 0, nsp: '/chat', data: { token: 'abc' } });
  mp({ type: 1, nsp: '/' });
  mp({ type: 4, nsp: '/', data: { message: 'no' } });
  mp({ type: 4, nsp: '/', data: 'no' });
  mp({ type: 2, nsp: '/', data: ['e', undefined, { a: undefined, b: [undefined] }], id: undefined });
  mp({ id: 2 ** 53, type: 3, nsp: '/', data: [Buffer.from([1]), new Date(86400000)] });
  mp({ type: 2.0, nsp: '/', data: [7, 1e300, -0, 2 ** 64], extra: [1, 2] });
  seed('sio_packet_msgpack', H([0x84, 0xa4]), 'type', H([2, 0xa3]), 'nsp', H([0xa1]), '/',
    H([0xa4]), 'data', H([0x92, 0xa1]), 'e', H([0xc7, 3, 5, 1, 2, 3, 0xa4]), 'type', H([3]));
  seed('sio_packet_msgpack', H([0x84, 0xa4]), 'type', H([3, 0xa3]), 'nsp', H([0xa1]), '/',
    H([0xa2]), 'id', H([0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xa4]), 'data', H([0x90]));
}

async function main() {
  hand();

  // A Redis, a siolua cluster member (its Redis through a proxy), a Node
  // cluster member on the same Redis, a siolua with the binary app.
  const redis = await startRedis();
  const redisProxy = await recordingProxy(redis.port);
  const cluster = await startServer({
    appDir: join(ROOT, 'tests', 'apps', 'cluster'),
    args: ['--redis', `redis://127.0.0.1:${redisProxy.port}`, '--no-reload', '--set', 'redisAdapter=sharded'],
  });
  const binary = await startServer({ appDir: join(ROOT, 'tests', 'apps', 'binary') });
  const eio3 = await startServer({ appDir: join(ROOT, 'tests', 'apps', 'eio3') });
  const msgpack = await startServer({ appDir: join(ROOT, 'tests', 'apps', 'binary'),
    args: ['--set', 'parser=msgpack'] });
  const node = spawn(process.execPath, [join(ROOT, 'tests', 'integration', 'lib', 'node-cluster-server.cjs'),
    redis.url, 'dynamic'], { stdio: ['pipe', 'pipe', 'inherit'], cwd: join(ROOT, 'tests') });
  const nodePort = await new Promise((resolve) => createInterface({ input: node.stdout }).on('line', (l) => {
    const m = /^listening (\d+)/.exec(l);
    if (m) resolve(Number(m[1]));
  }));
  const clusterProxy = await recordingProxy(cluster.port);
  const binaryProxy = await recordingProxy(binary.port);
  const eio3Proxy = await recordingProxy(eio3.port);
  const msgpackProxy = await recordingProxy(msgpack.port);

  try {
    const cUrl = `http://127.0.0.1:${clusterProxy.port}`;
    const bUrl = `http://127.0.0.1:${binaryProxy.port}`;
    for (const transports of [['polling'], ['websocket'], ['polling', 'websocket']]) {
      await talkV4(cUrl, transports);
      await talkBinary(bUrl, transports);
      await talkV2(`http://127.0.0.1:${eio3Proxy.port}`, transports);
      await talkBinary(`http://127.0.0.1:${msgpackProxy.port}`, transports, { parser: msgpackParser });
    }
    // Node broadcasts reach the siolua subscriber through Redis.
    const viaNode = io(`http://127.0.0.1:${nodePort}`, { transports: ['websocket'], forceNew: true });
    await new Promise((resolve) => viaNode.on('connect', resolve));
    viaNode.emit('to', {}, 'from-node', 'text', { n: 1 });
    viaNode.emit('to', { rooms: ['room-1'] }, 'from-node-bin', BYTES, { deep: [Buffer.from('ab')] });
    viaNode.emit('to', { except: ['room-2'] }, 'from-node-2', [1.5, null, 'é']);
    await sleep(300);
    viaNode.close();
    await sleep(200);
  } finally {
    node.kill();
    await cluster.stop();
    await binary.stop();
    await eio3.stop();
    await msgpack.stop();
    await redis.stop();
    await Promise.all([clusterProxy.close(), binaryProxy.close(), eio3Proxy.close(), redisProxy.close(),
      msgpackProxy.close()]);
  }

  // Cut the client streams.
  for (const conn of [...clusterProxy.conns, ...binaryProxy.conns, ...eio3Proxy.conns]) {
    const up = Buffer.concat(conn.up);
    if (!up.length) continue;
    seed('http', Buffer.from([3, 0, 0]), up.subarray(0, MAX_SEED - 3));
    for (const r of parseHttp(up)) {
      const v3 = /EIO=3/.test(r.line);
      if (r.ws) {
        seed('ws_frame', Buffer.from([9, 0, 0]), r.ws.subarray(0, MAX_SEED - 3));
        const msgs = parseFrames(r.ws);
        // v3 binary frames carry a leading type byte: drop it, as eio.c does.
        const eioMsgs = msgs.filter((m) => m.binary || m.data[0] === 0x34)
          .map((m) => (m.binary ? { binary: true, data: v3 ? m.data.subarray(1) : m.data } : m));
        if (eioMsgs.length) seed('sio_packet', Buffer.from([2]), v3Binary(eioMsgs));
        for (const m of msgs) if (!m.binary && m.data[0] === 0x34) addJson(m.data.subarray(1).toString('utf8'));
        continue;
      }
      if (!r.body.length) continue;
      const binaryBody = /octet-stream/.test(r.h['content-type'] || '');
      const mode = binaryBody ? 2 : v3 ? 1 : 0;
      seed('eio_payload', Buffer.from([mode]), r.body);
      seed('sio_packet', Buffer.from([mode]), r.body);
      if (!binaryBody) for (const t of eioMessages(r.body, v3)) addJson(t);
    }
  }
  // The msgpack parser's packets: every binary message, both ways (the
  // server's too: sio.client decodes them).
  for (const conn of msgpackProxy.conns) {
    // The client's requests, and the server's responses (parseHttp reads
    // those too: heads, Content-Length bodies, the 101 then frames).
    for (const r of [...parseHttp(Buffer.concat(conn.up)), ...parseHttp(Buffer.concat(conn.down))]) {
      if (r.ws) {
        for (const m of parseFrames(r.ws)) if (m.binary) seed('sio_packet_msgpack', m.data);
        continue;
      }
      for (const rec of r.body.toString('latin1').split('\x1e')) {
        if (rec[0] === 'b') seed('sio_packet_msgpack', Buffer.from(rec.slice(1), 'base64'));
      }
    }
  }
  // What Redis sent the siolua subscriber, and the cluster messages in it.
  for (const conn of redisProxy.conns) {
    const down = Buffer.concat(conn.down);
    if (!down.includes('smessage')) continue;
    seed('resp', Buffer.from([0]), down.subarray(0, MAX_SEED - 1));
    for (const msg of smessages(down)) seed('msgpack', msg);
  }

  // Write, at most MAX_PER_TARGET per target (smallest first).
  for (const [target, m] of seeds) {
    const dir = join(OUT, target);
    mkdirSync(dir, { recursive: true });
    const have = new Set(readdirSync(dir));
    const list = [...m.entries()].sort((a, b) => a[1].length - b[1].length).slice(0, MAX_PER_TARGET);
    let added = 0;
    for (const [name, buf] of list) {
      if (have.has(name)) continue;
      writeFileSync(join(dir, name), buf);
      added++;
    }
    console.log(`${target}: ${added} new of ${list.length}`);
  }
}

// The JSON of one Socket.IO packet text, into the JSON corpora.
function addJson(text) {
  const p = sioJson(text);
  if (!p) return;
  seed('lua_json', p.json);
  seed('mpjson', Buffer.from([p.attachments ? 0x80 | Math.min(p.attachments, 7) : 0]), p.json);
  try {
    seed('msgpack', notepack.encode(JSON.parse(p.json)));
  } catch { /* not JSON: the seed above keeps it */ }
}

// The payloads of the smessage pushes in a RESP stream.
function* smessages(buf) {
  const s = buf.toString('latin1');
  const re = /\*3\r\n\$8\r\nsmessage\r\n\$(\d+)\r\n/g;
  let m;
  while ((m = re.exec(s))) {
    let p = m.index + m[0].length + Number(m[1]) + 2;
    const eol = s.indexOf('\r\n', p);
    const n = Number(s.slice(p + 1, eol));
    p = eol + 2;
    yield buf.subarray(p, p + n);
  }
}

main().then(() => process.exit(0), (e) => { console.error(e); process.exit(1); });
