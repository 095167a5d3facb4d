// A Redis that accepts connections and then never answers (wedged, or a
// black hole behind a proxy): requests relayed to another node's session
// need its address from Redis, and must not wait for good.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer, makeAppDir, request, eioUrl } from './lib/server.mjs';

test('a relayed request whose owner address never comes from Redis is answered "Session ID unknown" after 5 s, once logged', async (t) => {
  const held = [];
  const silent = net.createServer((sock) => { held.push(sock); sock.on('error', () => {}); });
  await new Promise((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => { for (const s of held) s.destroy(); silent.close(); });
  const srv = await startServer({ appDir: makeAppDir({ 'main.lua': 'require "siolua"' }), t,
    args: ['--redis', `redis://127.0.0.1:${silent.address().port}`, '--no-reload'] });
  // A sid of another node: its first 6 characters are that node's id.
  const sid = 'zzzzzz' + 'a'.repeat(14);
  const start = Date.now();
  const res = await request(eioUrl(srv.url, '/socket.io/', { transport: 'polling', sid }), { timeoutMs: 15000 });
  const waited = Date.now() - start;
  assert.equal(res.status, 400);
  assert.deepEqual(JSON.parse(res.text), { code: 1, message: 'Session ID unknown' });
  assert.ok(waited >= 4000, `answered after ${waited} ms: it did not wait for Redis`);
  assert.equal(srv.stderr().split('\n').filter((l) => /redis gave no session owner's address/.test(l)).length, 1,
    srv.stderr());
});
