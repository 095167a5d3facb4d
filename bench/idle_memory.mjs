// Memory per idle connection, siolua vs Node's socket.io, on this machine:
// N socket.io clients (websocket) connect to each server in turn; the
// server's resident memory is read from /proc before and after.
//   node bench/idle_memory.mjs [N]      (run from the repository root)
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ROOT, start, rssKiB } from './lib.mjs';

const require = createRequire(join(ROOT, 'tests', 'package.json'));
const { io } = require('socket.io-client');
const N = Number(process.argv[2] || 2000);

async function measure(name, server) {
  await sleep(300);
  const before = rssKiB(server.proc.pid);
  const clients = [];
  for (let i = 0; i < N; i += 100) {
    const batch = [];
    for (let j = i; j < Math.min(N, i + 100); j++) {
      const c = io(server.url, { transports: ['websocket'], forceNew: true, reconnection: false });
      clients.push(c);
      batch.push(new Promise((resolve, reject) => { c.on('connect', resolve); c.on('connect_error', reject); }));
    }
    await Promise.all(batch);
  }
  await sleep(1000);
  const after = rssKiB(server.proc.pid);
  for (const c of clients) c.close();
  server.proc.kill('SIGTERM');
  const per = ((after - before) * 1024) / N;
  console.log(`${name}: ${N} idle connections, RSS ${before} -> ${after} KiB, ${(per / 1024).toFixed(2)} KiB per connection`);
  return per;
}

const s = await start(join(ROOT, 'build', 'siolua'),
  ['run', join(ROOT, 'tests', 'apps', 'echo'), '--port', '0', '--host', '127.0.0.1', '--no-reload'],
  /listening on http:\/\/127\.0\.0\.1:(\d+)/, 'stderr');
const a = await measure('siolua', s);
const node = await start(process.execPath, [join(ROOT, 'bench', 'node-echo-server.cjs')], /^listening (\d+)/, 'stdout');
const b = await measure('node socket.io', node);
console.log(`ratio: siolua uses ${(a / b).toFixed(3)} of Node's memory per idle connection (target: <= 0.2)`);
process.exit(0);
