// The reference for the Admin UI tests: Node's socket.io 4.8 with
// @socket.io/admin-ui's instrument(), running the app of
// tests/apps/admin/main.lua (the same environment variables), alone or,
// with a Redis URL as argument, in a cluster through
// @socket.io/redis-adapter. Prints "listening PORT".
const { createServer } = require('node:http');
const { Server } = require('socket.io');
const { instrument, RedisStore } = require('@socket.io/admin-ui');
const { createAdapter } = require('@socket.io/redis-adapter');
const { createClient } = require('redis');

(async () => {
  const url = process.argv[2];
  const opts = {};
  let pub, legacy;
  if (url) {
    pub = createClient({ url });
    const sub = pub.duplicate();
    pub.on('error', () => {});
    sub.on('error', () => {});
    await Promise.all([pub.connect(), sub.connect()]);
    opts.adapter = createAdapter(pub, sub, { requestsTimeout: 2000 });
    legacy = createClient({ url, legacyMode: true });
    legacy.on('error', () => {});
    await legacy.connect();
  }
  if (process.env.ADMIN_CORS) opts.cors = { origin: [process.env.ADMIN_CORS], credentials: true };
  const http = createServer();
  const io = new Server(http, opts);
  instrument(io, {
    auth: process.env.ADMIN_AUTH === 'basic'
      ? { type: 'basic', username: 'admin', password: '$2b$10$heqvAkYMez.Va6Et2uXInOnkCT6/uQj1brkrbyG3LpopDklcq7ZOS' }
      : false,
    mode: process.env.ADMIN_MODE || 'development',
    readonly: process.env.ADMIN_READONLY === '1',
    serverId: process.env.ADMIN_SERVER_ID,
    // admin-ui 0.5's RedisStore speaks the callback API: node-redis 4's
    // legacy mode.
    ...(process.env.ADMIN_STORE === 'redis' ? { store: new RedisStore(legacy) } : {}),
  });
  for (const nsp of [io.of('/'), io.of('/chat')]) {
    nsp.use((socket, next) => {
      socket.data.role = 'guest';
      next();
    });
    nsp.on('connection', (socket) => {
      const name = socket.handshake.auth.name;
      if (name) socket.data.name = name;
      socket.on('join', (room, ack) => { socket.join(room); ack(`joined ${room}`); });
      socket.on('leave', (room, ack) => { socket.leave(room); ack(`left ${room}`); });
      socket.on('echo', (value, ack) => {
        socket.emit('echoed', value);
        if (ack) ack(value);
      });
      socket.on('rename', (name) => { socket.data.name = name; });
      socket.on('bye', () => socket.disconnect());
    });
  }
  http.listen(0, '127.0.0.1', () => console.log(`listening ${http.address().port}`));
})();
