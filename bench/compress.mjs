// What permessage-deflate costs and saves, on this machine:
//   memory: N socket.io clients (websocket, Node's ws offering
//     permessage-deflate) connect, each sends one 2 kB message (so the
//     server inflates) and gets it back (so it compresses); the server's
//     resident memory is read from /proc before and after, per setting,
//     and for Node's socket.io with the same options;
//   CPU per broadcast delivery: C clients, B broadcasts of a 4 kB event;
//     the server's CPU time (utime + stime from /proc) over the broadcasts,
//     per delivery: compressed once for all (serverNoContextTakeover), per
//     recipient (context takeover, as Node does), or not at all;
//   ratios: bytes on the wire for typical payloads, per setting.
//   node bench/compress.mjs [N] [C] [B]      (run from the repository root)
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT, start, rssKiB, cpuMs } from './lib.mjs';

const require = createRequire(join(ROOT, 'tests', 'package.json'));
const { io } = require('socket.io-client');
const N = Number(process.argv[2] || 500);
const C = Number(process.argv[3] || 100);
const B = Number(process.argv[4] || 200);

// JSON-ish text of n bytes; from differs between messages, so no two are
// the same (context takeover would otherwise send repeats for nothing).
function textOf(n, from = 0) {
  let s = '';
  for (let i = from; s.length < n; i++) s += `{"user":"u${i % 50}","text":"message number ${i * 7919 % 100003}","ok":true},`;
  return s.slice(0, n);
}

function startSiolua(sets) {
  return start(join(ROOT, 'build', 'siolua'), ['run', join(ROOT, 'tests', 'apps', 'compress'), '--port', '0',
    '--host', '127.0.0.1', '--no-reload', ...sets.flatMap((s) => ['--set', s])],
  /listening on http:\/\/127\.0\.0\.1:(\d+)/, 'stderr');
}
function startNode(options) {
  return start(process.execPath, [join(ROOT, 'tests', 'integration', 'lib', 'node-compress-server.cjs'),
    JSON.stringify(options)], /^listening (\d+)/, 'stdout');
}
async function connectAll(url, n) {
  const clients = [];
  for (let i = 0; i < n; i += 100) {
    const batch = [];
    for (let j = i; j < Math.min(n, i + 100); j++) {
      const c = io(url, { transports: ['websocket'], forceNew: true, reconnection: false });
      clients.push(c);
      batch.push(new Promise((resolve, reject) => { c.on('connect', resolve); c.on('connect_error', reject); }));
    }
    await Promise.all(batch);
  }
  return clients;
}

async function memory(name, server) {
  await sleep(300);
  const before = rssKiB(server.proc.pid);
  const clients = await connectAll(server.url, N);
  const msg = textOf(2048);
  for (let i = 0; i < N; i += 100) {
    await Promise.all(clients.slice(i, i + 100).map((c) => new Promise((r) => c.emit('echo', msg, r))));
  }
  await sleep(1000);
  const after = rssKiB(server.proc.pid);
  for (const c of clients) c.close();
  server.proc.kill('SIGTERM');
  const per = (after - before) / N;
  console.log(`  ${name.padEnd(58)} ${per.toFixed(1).padStart(7)} KiB`);
  return per;
}

async function broadcastCpu(name, server) {
  const clients = await connectAll(server.url, C);
  let got = 0;
  let done;
  const all = new Promise((r) => { done = r; });
  for (const c of clients) c.on('shout', () => { if (++got === C * B) done(); });
  await sleep(300);
  const t0 = cpuMs(server.proc.pid);
  const tcp = clients[1].io.engine.transport.ws._socket;
  const r0 = tcp.bytesRead;
  for (let i = 0; i < B; i++) {
    clients[0].emit('shout', textOf(4096, i * 100));
    if (i % 20 === 19) await sleep(5); // let the clients keep up
  }
  await all;
  const cpu = cpuMs(server.proc.pid) - t0;
  const wire = (tcp.bytesRead - r0) / B;
  for (const c of clients) c.close();
  server.proc.kill('SIGTERM');
  console.log(`  ${name.padEnd(58)} ${((cpu * 1000) / (C * B)).toFixed(2).padStart(6)} us  ${wire.toFixed(0).padStart(5)} B/delivery`);
}

async function ratios(name, server) {
  const [c] = await connectAll(server.url, 1);
  const tcp = c.io.engine.transport.ws._socket;
  const rows = [];
  const kinds = [
    ['chat message (~80 B), x200', () => `{"user":"ada","text":"see you at ${Math.random().toString(36).slice(2, 8)}"}`],
    ['4 kB JSON list, x50', (i) => textOf(4096, i * 100)],
    ['16 kB random binary, x20', () => Buffer.from(Array.from({ length: 16384 }, () => Math.floor(Math.random() * 256)))],
  ];
  for (const [label, make] of kinds) {
    const count = Number(/x(\d+)/.exec(label)[1]);
    let raw = 0;
    const r0 = tcp.bytesRead;
    for (let i = 0; i < count; i++) {
      const m = make(i);
      raw += typeof m === 'string' ? Buffer.byteLength(JSON.stringify(m)) : m.length;
      await new Promise((r) => c.emit('echo', m, r));
    }
    rows.push(`${label}: ${((tcp.bytesRead - r0) / raw * 100).toFixed(0)}%`);
  }
  c.close();
  server.proc.kill('SIGTERM');
  console.log(`  ${name.padEnd(30)} ${rows.join(', ')}`);
}

const SETTINGS = [
  ['off (default)', []],
  ['perMessageDeflate=true (context takeover, window 15, memLevel 8)', ['perMessageDeflate=true']],
  ['... serverMaxWindowBits=10, clientMaxWindowBits=10, memLevel=4',
    ['perMessageDeflate.serverMaxWindowBits=10', 'perMessageDeflate.clientMaxWindowBits=10', 'perMessageDeflate.memLevel=4']],
  ['serverNoContextTakeover=true', ['perMessageDeflate.serverNoContextTakeover=true']],
  ['serverNoContextTakeover=true, clientNoContextTakeover=true',
    ['perMessageDeflate.serverNoContextTakeover=true', 'perMessageDeflate.clientNoContextTakeover=true']],
];

console.log(`memory per connection (${N} clients, RSS delta / N):`);
for (const [name, sets] of SETTINGS) await memory(`siolua, ${name}`, await startSiolua(sets));
await memory('node socket.io, perMessageDeflate: true', await startNode({ perMessageDeflate: true }));
await memory('node socket.io, off', await startNode({}));

console.log(`server CPU per delivery of a 4 kB broadcast (${C} clients x ${B} broadcasts), and wire bytes:`);
await broadcastCpu('siolua, off', await startSiolua([]));
await broadcastCpu('siolua, once for all (serverNoContextTakeover)', await startSiolua(['perMessageDeflate.serverNoContextTakeover=true']));
await broadcastCpu('siolua, per recipient (context takeover)', await startSiolua(['perMessageDeflate=true']));
await broadcastCpu('node socket.io, perMessageDeflate: true', await startNode({ perMessageDeflate: true }));

console.log('bytes on the wire / bytes of the payload (server to client):');
await ratios('off', await startSiolua([]));
await ratios('context takeover', await startSiolua(['perMessageDeflate=true']));
await ratios('serverNoContextTakeover', await startSiolua(['perMessageDeflate.serverNoContextTakeover=true']));
process.exit(0);
