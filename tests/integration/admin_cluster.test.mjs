// The Admin UI in a mixed cluster: siolua (sio.admin.instrument, --redis)
// and Node's socket.io 4.8 with @socket.io/admin-ui's instrument() and
// @socket.io/redis-adapter, on one real redis-server, both with the
// RedisStore for sessions. A dashboard on either server sees both servers
// (server_stats with each one's serverId), every socket of both with its
// transport, the other server's live events, and its actions reach the
// sockets of the other server; a session opened on one logs in on the
// other.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import { startRedis, redisClient, waitSubscribed, SKIP } from './lib/cluster.mjs';
import { startSiolua, startNode, dashboard, waitConnected } from './lib/admin.mjs';

const ENV = { ADMIN_AUTH: 'basic', ADMIN_MODE: 'development', ADMIN_STORE: 'redis' };

function client(t, url, nsp = '/', opts = {}) {
  const s = io(url + nsp, { forceNew: true, reconnection: false, transports: ['websocket'], ...opts });
  t.after(() => s.disconnect());
  return s;
}

test('siolua and Node in one cluster: each dashboard sees both servers, all sockets, live events, and acts across', { skip: SKIP }, async (t) => {
  const redis = await startRedis(t);
  const siolua = await startSiolua(t, { env: { ...ENV, ADMIN_SERVER_ID: 'siolua-1', SIOLUA_REDIS_URL: redis.url },
    args: ['--redis', redis.url] });
  const node = await startNode(t, { env: { ...ENV, ADMIN_SERVER_ID: 'node-1' }, redisUrl: redis.url });
  const rc = await redisClient(redis);
  try {
    await waitSubscribed(rc, ['/', '/admin', '/chat'], 2);
  } finally {
    await rc.quit();
  }

  // A client on each server, alice on siolua in a room, bob on Node.
  const alice = client(t, siolua.url, '/', { auth: { name: 'alice' } });
  const bob = client(t, node.url, '/', { auth: { name: 'bob' } });
  await Promise.all([waitConnected(alice), waitConnected(bob)]);
  assert.equal(await alice.emitWithAck('join', 'mixed'), 'joined mixed');

  const onSiolua = dashboard(t, siolua.url);
  const [session] = await onSiolua.waitFor('session');
  // Node's RedisStore knows the session siolua opened: no password.
  const onNode = dashboard(t, node.url, { auth: { sessionId: session } });
  await Promise.all([waitConnected(onSiolua.socket), waitConnected(onNode.socket)]);

  for (const d of [onSiolua, onNode]) {
    // Both servers' stats reach every dashboard (through the adapter),
    // each with its own clients: one client and one dashboard.
    await d.waitFor('server_stats', ([s]) => s.serverId === 'siolua-1' && s.clientsCount === 2, { timeoutMs: 8000 });
    await d.waitFor('server_stats', ([s]) => s.serverId === 'node-1' && s.clientsCount === 2, { timeoutMs: 8000 });
    // Every socket of both servers, each with its transport and client.
    const [all] = await d.waitFor('all_sockets');
    const a = all.find((s) => s.id === alice.id);
    const b = all.find((s) => s.id === bob.id);
    assert.ok(a && b, JSON.stringify(all.map((s) => s.id)));
    assert.equal(a.transport, 'websocket');
    assert.equal(a.clientId, alice.io.engine.id.slice(0, 12));
    assert.deepEqual(a.data, { name: 'alice', role: 'guest' });
    assert.deepEqual([...a.rooms].sort(), [alice.id, 'mixed'].sort());
    assert.equal(a.handshake.auth, undefined);
    assert.equal(b.transport, 'websocket');
    assert.deepEqual(b.data, { name: 'bob', role: 'guest' });
  }

  // Live: a socket connecting to siolua is heard by Node's dashboard, and
  // the other way round.
  const from = [onSiolua.mark(), onNode.mark()];
  const carol = client(t, siolua.url, '/chat', { auth: { name: 'carol' } });
  const dave = client(t, node.url, '/chat', { auth: { name: 'dave' } });
  await Promise.all([waitConnected(carol), waitConnected(dave)]);
  const [c] = await onNode.waitFor('socket_connected', ([s]) => s.id === carol.id, { from: from[1] });
  assert.equal(c.transport, 'websocket');
  assert.equal(c.nsp, '/chat');
  await onSiolua.waitFor('socket_connected', ([s]) => s.id === dave.id, { from: from[0] });
  carol.emit('rename', 'caroline');
  await onNode.waitFor('event_received', ([nsp, id, args]) => nsp === '/chat' && id === carol.id && args[0] === 'rename', { from: from[1] });
  await onNode.waitFor('socket_updated', ([s]) => s.id === carol.id && s.data?.name === 'caroline', { from: from[1] });

  // Actions across: siolua's dashboard emits to bob (on Node) and makes
  // him join a room; Node's dashboard disconnects alice (on siolua).
  const notice = new Promise((resolve) => bob.once('notice', (...a) => resolve(a)));
  onSiolua.socket.emit('emit', '/', bob.id, 'notice', 'from siolua');
  assert.deepEqual(await notice, ['from siolua']);
  onSiolua.socket.emit('join', '/', 'joined-from-siolua', bob.id);
  await onSiolua.waitFor('room_joined', ([nsp, room, id]) => nsp === '/' && room === 'joined-from-siolua' && id === bob.id);
  const aliceId = alice.id;
  const gone = new Promise((resolve) => alice.once('disconnect', resolve));
  onNode.socket.emit('_disconnect', '/', false, aliceId);
  assert.equal(await gone, 'io server disconnect');
  const [, , reason] = await onNode.waitFor('socket_disconnected', ([nsp, id]) => nsp === '/' && id === aliceId);
  assert.equal(reason, 'server namespace disconnect');
  await onSiolua.waitFor('server_stats', ([s]) => s.serverId === 'siolua-1'
    && s.namespaces.find((n) => n.name === '/').socketsCount === 0, { timeoutMs: 8000 });
  assert.equal(siolua.stderr().match(/\berror\b/gi), null, siolua.stderr());
});
