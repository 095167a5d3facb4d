// siolua as one process vs `--workers 2` on this machine: acknowledged
// echoes per second (work that stays on one worker) and broadcast
// deliveries per second (work that crosses the workers through the local
// bus), and events that cost the server real work (20k Lua steps each, so
// the server rather than the client limits the rate), with the CPU time
// each server process used. The client runs in this
// Node process, which competes for the same cores: read the numbers as a
// comparison between the two set-ups, not as a ceiling.
//   node bench/workers.mjs [CLIENTS] [SECONDS]      (from the repository root)
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = join(import.meta.dirname, '..');
const require = createRequire(join(ROOT, 'tests', 'package.json'));
const { io } = require('socket.io-client');
const BIN = process.env.SIOLUA_BIN || join(ROOT, 'build', 'siolua');
const CLIENTS = Number(process.argv[2] || 100);
const SECONDS = Number(process.argv[3] || 5);

function cpuMs(pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime, 100 Hz ticks
  } catch { return 0; }
}

async function startSiolua(extra) {
  const proc = spawn(BIN, ['run', join(ROOT, 'bench', 'workers_app'), '--port', '0', '--host', '127.0.0.1',
    '--no-reload', '--log-level', 'info', ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr.setEncoding('utf8').on('data', (d) => { log += d; });
  for (let i = 0; i < 200 && !/listening on http:\/\/[^:]+:(\d+)/.test(log); i++) await sleep(50);
  const port = Number(/listening on http:\/\/[^:]+:(\d+)/.exec(log)[1]);
  const pids = () => {
    const w = [...log.matchAll(/worker (\d+) \(pid (\d+)\) serving/g)].map((m) => Number(m[2]));
    return w.length ? w : [proc.pid];
  };
  return { proc, url: `http://127.0.0.1:${port}`, pids };
}

async function connectAll(url) {
  return Promise.all(Array.from({ length: CLIENTS }, () => new Promise((resolve, reject) => {
    const s = io(url, { transports: ['websocket'], forceNew: true, reconnection: false });
    s.once('connect', () => resolve(s));
    s.once('connect_error', reject);
  })));
}

// Every client loops: emit, wait for the ack, again, for SECONDS.
async function loop(sockets, event, payload) {
  let acks = 0;
  const end = Date.now() + SECONDS * 1000;
  await Promise.all(sockets.map(async (s) => {
    while (Date.now() < end) {
      await s.emitWithAck(event, payload);
      acks++;
    }
  }));
  return acks;
}

async function run(name, extra) {
  const srv = await startSiolua(extra);
  const sockets = await connectAll(srv.url);
  await sleep(300);
  const pids = srv.pids();
  let cpu0 = pids.map(cpuMs);
  const acks = await loop(sockets, 'echo', 'x'.repeat(64));
  let cpu = pids.map((p, i) => cpuMs(p) - cpu0[i]);
  const echo = { perSec: Math.round(acks / SECONDS), cpu };

  cpu0 = pids.map(cpuMs);
  const works = await loop(sockets, 'work', 20000);
  cpu = pids.map((p, i) => cpuMs(p) - cpu0[i]);
  const work = { perSec: Math.round(works / SECONDS), cpu };

  let delivered = 0;
  for (const s of sockets) s.on('heard', () => { delivered++; });
  cpu0 = pids.map(cpuMs);
  const senders = sockets.slice(0, 10);
  const shouts = await loop(senders, 'shout', 'y'.repeat(64));
  await sleep(200);
  cpu = pids.map((p, i) => cpuMs(p) - cpu0[i]);
  const bc = { shouts, perSec: Math.round(delivered / SECONDS), cpu };
  for (const s of sockets) s.disconnect();
  srv.proc.kill('SIGTERM');
  await new Promise((r) => srv.proc.on('exit', r));
  console.log(`${name}: echo ${echo.perSec} acks/s (server CPU ms per process: ${echo.cpu.join(', ')}); ` +
    `broadcast ${bc.perSec} deliveries/s to ${CLIENTS} clients (CPU ms: ${bc.cpu.join(', ')}); ` +
    `work ${work.perSec} events/s (CPU ms: ${work.cpu.join(', ')})`);
}

await run('one process', []);
await run('--workers 2', ['--workers', '2']);
process.exit(0);
