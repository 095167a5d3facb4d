// Anchor (a): Node's socket.io 4.8, default options, written as a user
// would, doing what bench/apps/echo does. bench/compare copies it next to
// its node_modules outside the repository and runs `PORT=N node node-sio.cjs`.
const { createServer } = require('node:http');
const { Server } = require('socket.io');

const httpServer = createServer();
const io = new Server(httpServer);

io.on('connection', (socket) => {
  socket.join('everyone');
  socket.on('echo', (...args) => {
    const ack = args.pop();
    if (typeof ack === 'function') ack(...args);
  });
  socket.on('shout', (text) => io.to('everyone').emit('shout', text));
});

httpServer.listen(Number(process.env.PORT || 3000), '127.0.0.1', () => {
  console.log(`listening ${httpServer.address().port}`);
});
