// The reference for the benchmarks: Node's socket.io 4 with the same echo
// behaviour as tests/apps/echo. Prints "listening PORT". PARSER=msgpack:
// with socket.io-msgpack-parser.
const { createServer } = require('node:http');
const { Server } = require('socket.io');

const http = createServer();
const parser = process.env.PARSER === 'msgpack' ? { parser: require('socket.io-msgpack-parser') } : {};
const io = new Server(http, { serveClient: false, ...parser });
io.on('connection', (socket) => {
  socket.join('everyone');
  socket.on('echo', (...args) => {
    const ack = args.pop();
    if (typeof ack === 'function') ack(...args);
  });
  socket.on('shout', (text) => io.to('everyone').emit('shout', text));
});
http.listen(0, '127.0.0.1', () => console.log(`listening ${http.address().port}`));
