// A Node socket.io 4 server with @socket.io/redis-adapter 8 (classic mode,
// or sharded with a subscription mode as second argument), the reference
// cluster member the siolua adapter must interoperate with. A URL naming
// several hosts (redis://h1:p1,h2:p2,...) is a Redis Cluster, reached with
// node-redis's createCluster, as Node users do.
// Usage: node node-cluster-server.cjs REDIS_URL [static|dynamic|dynamic-private]
// ; prints "listening PORT".
// Answers commands on stdin as JSON lines: {"op": "...", ...} -> JSON line.
const { createServer } = require('node:http');
const { Server } = require('socket.io');
const { createAdapter, createShardedAdapter } = require('@socket.io/redis-adapter');
const { createClient, createCluster } = require('redis');
const readline = require('node:readline');

(async () => {
  const url = process.argv[2];
  const hosts = url.replace(/^redis:\/\//, '').split(',');
  const pub = hosts.length > 1
    ? createCluster({ rootNodes: hosts.map((h) => ({ url: `redis://${h}` })) })
    : createClient({ url });
  const sub = pub.duplicate();
  pub.on('error', () => {});
  sub.on('error', () => {});
  await Promise.all([pub.connect(), sub.connect()]);
  const http = createServer();
  const mode = process.argv[3];
  // NODE_ADAPTER_KEY: the channel prefix (key / channelPrefix), default socket.io.
  const prefix = process.env.NODE_ADAPTER_KEY;
  const adapter = mode
    ? createShardedAdapter(pub, sub, { subscriptionMode: mode, ...(prefix ? { channelPrefix: prefix } : {}) })
    : createAdapter(pub, sub, { requestsTimeout: 2000, ...(prefix ? { key: prefix } : {}) });
  const io = new Server(http, { adapter });
  for (const nsp of [io.of('/'), io.of('/chat')]) {
    nsp.on('connection', (socket) => {
      socket.on('join', (room, ack) => { socket.join(room); ack(true); });
      socket.on('to', (spec, event, ...args) => {
        let op = nsp;
        if (spec.rooms) op = op.to(spec.rooms);
        if (spec.except) op = op.except(spec.except);
        op.emit(event, ...args);
      });
    });
  }
  io.on('ping-servers', (text, ack) => ack(`node heard ${text}`));
  io.on('heads-up', (text) => io.local.to('listeners').emit('heads-up', text));
  http.listen(0, '127.0.0.1', () => console.log(`listening ${http.address().port}`));
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', async (line) => {
    const cmd = JSON.parse(line);
    const nsp = io.of(cmd.nsp || '/');
    let result;
    try {
      if (cmd.op === 'fetchSockets') {
        const sockets = await nsp.in(cmd.rooms || []).except(cmd.except || []).fetchSockets();
        result = sockets.map((s) => ({ id: s.id, rooms: [...s.rooms].sort(), data: s.data }));
      } else if (cmd.op === 'allRooms') {
        result = [...(await nsp.adapter.allRooms())].sort();
      } else if (cmd.op === 'socketsJoin') {
        nsp.in(cmd.rooms || []).socketsJoin(cmd.join);
        result = true;
      } else if (cmd.op === 'socketsLeave') {
        nsp.in(cmd.rooms || []).socketsLeave(cmd.leave);
        result = true;
      } else if (cmd.op === 'disconnectSockets') {
        nsp.in(cmd.rooms || []).disconnectSockets(true);
        result = true;
      } else if (cmd.op === 'serverSideEmit') {
        result = await nsp.serverSideEmitWithAck('ping-servers', cmd.text);
      } else if (cmd.op === 'emitWithAck') {
        const responses = await nsp.timeout(3000).emitWithAck('poll', cmd.question);
        result = responses.sort();
      } else if (cmd.op === 'serverCount') {
        result = await nsp.adapter.serverCount();
      }
      console.log(JSON.stringify({ id: cmd.id, result }));
    } catch (e) {
      console.log(JSON.stringify({ id: cmd.id, error: e.message }));
    }
  });
})();
