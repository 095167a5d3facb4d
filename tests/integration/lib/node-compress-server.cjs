// Node's socket.io 4.8 with the options given as JSON in argv[2]
// (perMessageDeflate, httpCompression...), the app of tests/apps/compress:
// echo with acks, shout to everyone, and a 3000-byte welcome for ?big=1. The reference the
// compression parity test compares siolua with. Prints "listening PORT".
const { createServer } = require('node:http');
const { Server } = require('socket.io');

const http = createServer();
const io = new Server(http, JSON.parse(process.argv[2] || '{}'));
io.on('connection', (socket) => {
  socket.join('everyone');
  socket.on('shout', (...args) => io.to('everyone').emit('shout', ...args));
  if (socket.handshake.query.big) socket.emit('welcome', 'x'.repeat(3000));
  socket.on('echo', (...args) => {
    const ack = args.pop();
    if (typeof ack === 'function') ack(...args);
  });
});
http.listen(0, '127.0.0.1', () => console.log(`listening ${http.address().port}`));
