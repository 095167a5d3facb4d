// Server CPU per message, siolua vs Node's socket.io 4, same machine, same
// run, same clients (socket.io-client over websocket, in this process):
//   - acked echo: every client loops emit('echo', 64 bytes) -> ack;
//   - broadcast: one client shouts 64 bytes to a room holding every
//     client, waits for its own copy, shouts again.
// The server's CPU time (utime + stime from /proc) is divided by the acks
// or by the deliveries; the clients' CPU is not counted, so the numbers
// hold on a loaded machine, though the rates do not.
//   node bench/cpu_vs_node.mjs [CLIENTS] [SECONDS]      (from the repository root)
// PARSER=msgpack: clients and both servers use socket.io-msgpack-parser.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT, start, cpuSplit, cpuMs } from './lib.mjs';

const require = createRequire(join(ROOT, 'tests', 'package.json'));
const { io } = require('socket.io-client');
const BIN = process.env.SIOLUA_BIN || join(ROOT, 'build', 'siolua');
const CLIENTS = Number(process.argv[2] || 200);
const SECONDS = Number(process.argv[3] || 5);
const MSGPACK = process.env.PARSER === 'msgpack';
const PARSER = MSGPACK ? { parser: require('socket.io-msgpack-parser') } : {};

async function connectAll(url) {
  const all = [];
  for (let i = 0; i < CLIENTS; i += 50) { // in batches: no connect storm
    all.push(...await Promise.all(Array.from({ length: Math.min(50, CLIENTS - i) }, () => new Promise((resolve, reject) => {
      const s = io(url, { transports: ['websocket'], forceNew: true, reconnection: false, ...PARSER });
      s.once('connect', () => resolve(s));
      s.once('connect_error', reject);
    }))));
  }
  return all;
}

async function measure(name, server) {
  const pid = server.proc.pid;
  const sockets = await connectAll(server.url);
  await sleep(300);

  const payload = 'x'.repeat(64);
  let acks = 0;
  const esplit0 = cpuSplit(pid);
  let cpu0 = cpuMs(pid);
  const end = Date.now() + SECONDS * 1000;
  await Promise.all(sockets.map(async (s) => {
    while (Date.now() < end) { await s.emitWithAck('echo', payload); acks++; }
  }));
  const echoCpu = cpuMs(pid) - cpu0;
  const esplit = cpuSplit(pid).map((v, i) => v - esplit0[i]);

  let delivered = 0;
  for (const s of sockets) s.on('shout', () => { delivered++; });
  const shouter = sockets[0];
  let shouts = 0;
  const split0 = cpuSplit(pid);
  cpu0 = cpuMs(pid);
  const end2 = Date.now() + SECONDS * 1000;
  while (Date.now() < end2) {
    const back = new Promise((resolve) => shouter.once('shout', resolve));
    shouter.emit('shout', payload);
    await back;
    shouts++;
  }
  await sleep(300); // the last copies land
  const bcCpu = cpuMs(pid) - cpu0;
  const split = cpuSplit(pid).map((v, i) => v - split0[i]);
  for (const s of sockets) s.disconnect();
  server.proc.kill('SIGTERM');
  const r = {
    name,
    echoUs: (echoCpu * 1000) / acks,
    acks,
    bcUs: (bcCpu * 1000) / delivered,
    delivered,
    complete: delivered === shouts * CLIENTS,
  };
  console.log(`${name}: acked echo ${r.echoUs.toFixed(2)} us CPU each (${acks} acks; user ${esplit[0]} ms, ` +
    `system ${esplit[1]} ms); ` +
    `broadcast ${r.bcUs.toFixed(3)} us CPU per delivery (${shouts} x ${CLIENTS} = ${delivered}` +
    `${r.complete ? '' : ' INCOMPLETE'}; user ${split[0]} ms, system ${split[1]} ms)`);
  return r;
}

const siolua = await measure('siolua', await start(BIN,
  ['run', join(ROOT, 'tests', 'apps', 'echo'), '--port', '0', '--host', '127.0.0.1', '--no-reload',
    ...(MSGPACK ? ['--set', 'parser=msgpack'] : [])],
  /listening on http:\/\/[^:]+:(\d+)/, 'stderr'));
const node = await measure('node socket.io', await start(process.execPath,
  [join(ROOT, 'bench', 'node-echo-server.cjs')], /^listening (\d+)/, 'stdout'));
console.log(`ratio siolua/node: acked echo ${(siolua.echoUs / node.echoUs).toFixed(2)} (target 0.25), ` +
  `broadcast delivery ${(siolua.bcUs / node.bcUs).toFixed(2)} (target 0.125)`);
process.exit(0);
