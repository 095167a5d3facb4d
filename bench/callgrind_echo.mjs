// Machine instructions the server spends per acked echo and per broadcast
// delivery, counted by valgrind's callgrind: repeatable to a fraction of a
// percent (unlike CPU time on a shared VM), so a change on the hot path can
// be weighed before and after. Counting starts once every client is
// connected (callgrind_control -z) and is dumped after the last ack, so
// start-up and connection set-up are left out.
//   node bench/callgrind_echo.mjs [CLIENTS] [ECHOES_PER_CLIENT] [-- siolua run flags...]
// e.g. node bench/callgrind_echo.mjs 10 1000 -- --set metrics=/metrics
//      node bench/callgrind_echo.mjs 10 1000 -- --tls-cert c.pem --tls-key k.pem
// (with TLS the clients trust the certificate given, a self-signed one)
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

const ROOT = join(import.meta.dirname, '..');
const require = createRequire(join(ROOT, 'tests', 'package.json'));
const { io } = require('socket.io-client');
const BIN = process.env.SIOLUA_BIN || join(ROOT, 'build', 'siolua');
const dash = process.argv.indexOf('--');
const args = dash < 0 ? process.argv.slice(2) : process.argv.slice(2, dash);
const extra = dash < 0 ? [] : process.argv.slice(dash + 1);
const CLIENTS = Number(args[0] || 10);
const ECHOES = Number(args[1] || 1000);

const dir = mkdtempSync(join(tmpdir(), 'siolua-cg-'));
const out = join(dir, 'cg.out');
const proc = spawn('valgrind', ['--tool=callgrind', `--callgrind-out-file=${out}`, BIN, 'run',
  join(ROOT, 'tests', 'apps', 'echo'), '--port', '0', '--host', '127.0.0.1', '--no-reload', ...extra],
{ stdio: ['ignore', 'ignore', 'pipe'] });
const url = await new Promise((resolve, reject) => {
  createInterface({ input: proc.stderr }).on('line', (line) => {
    const m = /listening on (https?):\/\/[^ ]*:(\d+)/.exec(line);
    if (m) resolve(`${m[1]}://127.0.0.1:${m[2]}`);
  });
  proc.on('exit', (code) => reject(new Error(`siolua exited ${code}`)));
});

const certAt = extra.indexOf('--tls-cert');
const ca = certAt < 0 ? undefined : readFileSync(extra[certAt + 1]);
const sockets = await Promise.all(Array.from({ length: CLIENTS }, () => new Promise((resolve, reject) => {
  const s = io(url, { transports: ['websocket'], forceNew: true, reconnection: false, ca });
  s.once('connect', () => resolve(s));
  s.once('connect_error', reject);
})));

// The total of the last dump (files are cg.out, cg.out.1, ...).
function dumpTotal() {
  execFileSync('callgrind_control', ['-d', String(proc.pid)], { stdio: 'ignore' });
  const files = readdirSync(dir).filter((f) => f.startsWith('cg.out')).sort((a, b) => {
    const n = (f) => Number(f.split('.')[2] || 0);
    return n(a) - n(b);
  });
  const text = readFileSync(join(dir, files[files.length - 1]), 'utf8');
  return Number(/^(?:summary|totals): (\d+)/m.exec(text)[1]);
}

const payload = 'x'.repeat(64);
execFileSync('callgrind_control', ['-z', String(proc.pid)], { stdio: 'ignore' });
await Promise.all(sockets.map(async (s) => {
  for (let i = 0; i < ECHOES; i++) await s.emitWithAck('echo', payload);
}));
const echoIr = dumpTotal();

let delivered = 0;
for (const s of sockets) s.on('shout', () => { delivered++; });
const SHOUTS = Math.max(1, Math.floor(ECHOES / 10));
execFileSync('callgrind_control', ['-z', String(proc.pid)], { stdio: 'ignore' });
for (let i = 0; i < SHOUTS; i++) {
  const all = new Promise((resolve) => {
    let left = CLIENTS;
    for (const s of sockets) s.once('shout', () => { if (--left === 0) resolve(); });
  });
  sockets[0].emit('shout', payload);
  await all;
}
const bcIr = dumpTotal();

for (const s of sockets) s.disconnect();
proc.kill('SIGTERM');
await new Promise((resolve) => proc.on('exit', resolve));
rmSync(dir, { recursive: true, force: true });
console.log(`instructions per acked echo: ${Math.round(echoIr / (CLIENTS * ECHOES))} ` +
  `(${CLIENTS} clients x ${ECHOES}); per broadcast delivery: ${Math.round(bcIr / delivered)} ` +
  `(${SHOUTS} broadcasts to ${CLIENTS}${extra.length ? `; flags ${extra.join(' ')}` : ''})`);
process.exit(0);
