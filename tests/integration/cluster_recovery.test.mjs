// Connection state recovery across a cluster: a client of instance A loses
// its connection while instance B feeds its room, and comes back through B
// (a load balancer now sends it there). B takes the session A kept in
// Redis: same id, rooms and data, socket.recovered, and every event it
// missed, in order, once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io } from 'socket.io-client';
import { startServer } from './lib/server.mjs';
import { connected, ask, closeClient } from './lib/sio.mjs';

const ROOT = process.env.SIOLUA_ROOT || join(import.meta.dirname, '..', '..');
const HAVE_REDIS = (() => { try { execFileSync('redis-server', ['--version']); return true; } catch { return false; } })();
const skip = HAVE_REDIS ? false : 'redis-server is not installed';

let redis, dir, a, b, lb, target;

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}

before(async () => {
  if (!HAVE_REDIS) return;
  dir = mkdtempSync(join(tmpdir(), 'siolua-recovery-'));
  const port = await freePort();
  redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise((resolve) => redis.stdout.on('data', (d) => { if (String(d).includes('Ready to accept')) resolve(); }));
  const args = ['--redis', `redis://127.0.0.1:${port}`, '--no-reload', '--set', 'connectionStateRecovery=true'];
  a = await startServer({ appDir: join(ROOT, 'tests', 'apps', 'recovery'), args });
  b = await startServer({ appDir: join(ROOT, 'tests', 'apps', 'recovery'), args });
  // A TCP balancer whose target the test chooses (websocket only: one
  // connection per Engine.IO session).
  target = a;
  lb = net.createServer((client) => {
    const up = net.connect(target.port, '127.0.0.1');
    client.pipe(up);
    up.pipe(client);
    up.on('error', () => client.destroy());
    client.on('error', () => up.destroy());
  });
  await new Promise((resolve) => lb.listen(0, '127.0.0.1', resolve));
});

after(async () => {
  lb?.close();
  await a?.stop();
  await b?.stop();
  if (redis) await new Promise((resolve) => { redis.on('exit', resolve); redis.kill('SIGKILL'); });
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('a client of A that comes back through B is recovered there, with the events B and A sent meanwhile', { skip, timeout: 30000 }, async (t) => {
  const url = `http://127.0.0.1:${lb.address().port}`;
  const c = io(url, { transports: ['websocket'], forceNew: true, reconnectionDelay: 100, reconnectionDelayMax: 200 });
  t.after(() => closeClient(c));
  const states = [];
  c.on('state', (s) => states.push(s));
  await new Promise((resolve) => c.on('connect', resolve));
  const id = c.id;
  assert.deepEqual(await ask(c, 'setup', 'news', 'ann'), [[c.id, 'news'].sort()]);
  const feed = [];
  c.on('feed', (n) => feed.push(n));
  const ended = new Promise((resolve) => c.on('feed-end', resolve));

  // B feeds the room; the client drops after 3 events and comes back via B.
  const d = await connected(b, '/', { t, transports: ['websocket'] });
  await ask(d, 'setup', 'news', 'observer');
  await ask(d, 'start-feed', 'news', 12, 60);
  const deadline = Date.now() + 5000;
  while (feed.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  target = b;
  c.io.engine.close();
  await ended;

  assert.deepEqual(feed, [...Array(12).keys()], 'every event once, in order');
  assert.equal(c.id, id, 'same id');
  assert.equal(c.recovered, true);
  const last = states[states.length - 1];
  assert.equal(last.recovered, true);
  assert.equal(last.id, id);
  assert.deepEqual(last.rooms, [id, 'news'].sort());
  assert.deepEqual(last.data, { name: 'ann', joined: 'news' });
  const [now] = await ask(c, 'state?');
  assert.equal(now.recovered, true);
});
