// What TLS costs the server, measured against the same server in plaintext
// on this machine (socket.io-client over websocket, in this process):
//   - memory per idle connection (RSS before and after N clients connect);
//   - server CPU per connection set up (TCP, TLS handshake, Engine.IO and
//     Socket.IO handshakes, the upgrade), from /proc utime + stime;
//   - server CPU per acked echo of 64 bytes (every client loops for S s).
// The certificate is an ECDSA P-256 one made with openssl for the run.
//   node bench/tls_cost.mjs [N] [SECONDS]      (from the repository root)
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = join(import.meta.dirname, '..');
const require = createRequire(join(ROOT, 'tests', 'package.json'));
const { io } = require('socket.io-client');
const BIN = process.env.SIOLUA_BIN || join(ROOT, 'build', 'siolua');
const N = Number(process.argv[2] || 1000);
const SECONDS = Number(process.argv[3] || 5);

const dir = mkdtempSync(join(tmpdir(), 'siolua-tls-bench-'));
execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
  '-keyout', 'k.pem', '-out', 'c.pem', '-days', '1', '-subj', '/CN=localhost',
  '-addext', 'subjectAltName=IP:127.0.0.1'], { cwd: dir, stdio: 'ignore' });
const ca = readFileSync(join(dir, 'c.pem'));

const rssKiB = (pid) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
function cpuMs(pid) {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

function start(args) {
  const proc = spawn(BIN, ['run', join(ROOT, 'tests', 'apps', 'echo'), '--port', '0', '--host', '127.0.0.1',
    '--no-reload', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  return new Promise((resolve, reject) => {
    createInterface({ input: proc.stderr }).on('line', (line) => {
      const m = /listening on (https?):\/\/127\.0\.0\.1:(\d+)/.exec(line);
      if (m) resolve({ proc, url: `${m[1]}://127.0.0.1:${m[2]}` });
    });
    proc.on('exit', (code) => reject(new Error(`siolua exited ${code}`)));
  });
}

async function measure(name, args) {
  const srv = await start(args);
  await sleep(300);
  const rss0 = rssKiB(srv.proc.pid);
  const cpu0 = cpuMs(srv.proc.pid);
  const clients = [];
  for (let i = 0; i < N; i += 50) {
    const batch = [];
    for (let j = i; j < Math.min(N, i + 50); j++) {
      const c = io(srv.url, { transports: ['websocket'], forceNew: true, reconnection: false, ca });
      clients.push(c);
      batch.push(new Promise((resolve, reject) => { c.on('connect', resolve); c.on('connect_error', reject); }));
    }
    await Promise.all(batch);
  }
  const setupCpu = cpuMs(srv.proc.pid) - cpu0;
  await sleep(1000);
  const rss1 = rssKiB(srv.proc.pid);

  const payload = 'x'.repeat(64);
  let acks = 0;
  const cpu1 = cpuMs(srv.proc.pid);
  const end = Date.now() + SECONDS * 1000;
  const echoers = clients.slice(0, Math.min(200, clients.length));
  await Promise.all(echoers.map(async (s) => {
    while (Date.now() < end) { await s.emitWithAck('echo', payload); acks++; }
  }));
  const echoCpu = cpuMs(srv.proc.pid) - cpu1;
  for (const c of clients) c.close();
  srv.proc.kill('SIGTERM');
  const r = {
    name,
    kibPerConn: (rss1 - rss0) / N,
    usPerSetup: (setupCpu * 1000) / N,
    usPerEcho: (echoCpu * 1000) / acks,
  };
  console.log(`${name}: ${N} idle websocket connections ${r.kibPerConn.toFixed(2)} KiB each (RSS ${rss0} -> ${rss1} KiB); ` +
    `setup ${r.usPerSetup.toFixed(0)} us CPU each; acked echo ${r.usPerEcho.toFixed(2)} us CPU (${acks} acks)`);
  return r;
}

const plain = await measure('plaintext', []);
const tls = await measure('TLS', ['--tls-cert', join(dir, 'c.pem'), '--tls-key', join(dir, 'k.pem')]);
console.log(`TLS adds ${(tls.kibPerConn - plain.kibPerConn).toFixed(2)} KiB per idle connection, ` +
  `${(tls.usPerSetup - plain.usPerSetup).toFixed(0)} us CPU per connection set up (the handshake), ` +
  `${(tls.usPerEcho - plain.usPerEcho).toFixed(2)} us CPU per acked echo`);
rmSync(dir, { recursive: true, force: true });
process.exit(0);
