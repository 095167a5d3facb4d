// No sticky sessions: two siolua instances share a real redis-server behind
// a round-robin load balancer that sends every HTTP request (and every
// WebSocket upgrade) to the next instance in turn. Long-polling requests
// and upgrades that land on the instance that doesn't own the session are
// relayed to its owner, so the stock client works as it would with one
// server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer } from './lib/server.mjs';
import { connected, ask, nextEvent, closeClient } from './lib/sio.mjs';
import { startBalancer } from './lib/balancer.mjs';

const ROOT = process.env.SIOLUA_ROOT || join(import.meta.dirname, '..', '..');
const HAVE_REDIS = (() => { try { execFileSync('redis-server', ['--version']); return true; } catch { return false; } })();
const skip = HAVE_REDIS ? false : 'redis-server is not installed';

let redis, dir, a, b, lb, lbUrl, hits;

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

before(async () => {
  if (!HAVE_REDIS) return;
  dir = mkdtempSync(join(tmpdir(), 'siolua-nosticky-'));
  const port = await freePort();
  redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise((resolve) => redis.stdout.on('data', (d) => { if (String(d).includes('Ready to accept')) resolve(); }));
  const args = ['--redis', `redis://127.0.0.1:${port}`, '--no-reload', '--log-level', 'debug'];
  a = await startServer({ appDir: join(ROOT, 'tests', 'apps', 'cluster'), args });
  b = await startServer({ appDir: join(ROOT, 'tests', 'apps', 'cluster'), args });
  lb = await startBalancer([a, b]);
  lbUrl = lb.url;
  hits = lb.hits;
  await sleep(300); // both have announced their address
});

after(async () => {
  await lb?.close();
  await a?.stop();
  await b?.stop();
  if (redis) await new Promise((resolve) => { redis.on('exit', resolve); redis.kill('SIGKILL'); });
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a long-polling client behind a round-robin balancer connects, talks and hears broadcasts', { skip }, async (t) => {
  const before = [...hits];
  const c = await connected({ url: lbUrl }, '/', { t, transports: ['polling'] });
  assert.deepEqual(await ask(c, 'join', 'rr-room'), [true]);
  const heard = nextEvent(c, 'rr');
  c.emit('to', { rooms: ['rr-room'] }, 'rr', 'round', 'robin');
  assert.deepEqual(await heard, ['round', 'robin']);
  for (let i = 0; i < 5; i++) assert.deepEqual(await ask(c, 'join', `r${i}`), [true]);
  assert.ok(hits[0] > before[0] && hits[1] > before[1], `both instances got requests: ${hits}`);
  assert.match(a.stderr() + b.stderr(), /relaying (GET|POST) \/socket\.io\//);
});

test('the upgrade to WebSocket works when it lands on the other instance', { skip }, async (t) => {
  for (let i = 0; i < 4; i++) {
    const c = await connected({ url: lbUrl }, '/', { t });
    const deadline = Date.now() + 5000;
    while (c.io.engine.transport.name !== 'websocket' && Date.now() < deadline) await sleep(20);
    assert.equal(c.io.engine.transport.name, 'websocket');
    assert.deepEqual(await ask(c, 'join', 'ws-room'), [true]);
    closeClient(c);
  }
});

test('a request for a session of an unknown node gets "Session ID unknown"', { skip }, async () => {
  const res = await fetch(`${a.url}/socket.io/?EIO=4&transport=polling&sid=zzzzzzAAAAAAAAAAAAAA`);
  assert.equal(res.status, 400);
  assert.deepEqual(await res.json(), { code: 1, message: 'Session ID unknown' });
});
