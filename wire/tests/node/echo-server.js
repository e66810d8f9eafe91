// The official Node socket.io server offering the conformance events (wire/tests/conformance).
// Started by wire/tests/client_node.rs on a free port; prints "listening <port>" when ready.
'use strict';
const path = require('path');
const modules = path.resolve(__dirname, '../../../node-original/node_modules');
const { Server } = require(require.resolve('socket.io', { paths: [modules] }));

const port = Number(process.env.PORT);
const io = new Server({ pingInterval: 25000, pingTimeout: 20000 });

io.on('connection', (socket) => {
  socket.on('echo', (value, ack) => ack(value));
  socket.on('echo-bytes', (value, ack) => ack(value));
  socket.on('two-bytes', () => socket.emit('bytes', Buffer.from([1, 2, 3]), 'mid', Buffer.from([4, 5])));
  socket.on('ask', async () => {
    const answer = await socket.emitWithAck('question', 'ping');
    socket.emit('answer', answer);
  });
  socket.on('kick', () => socket.disconnect());
});

const admin = io.of('/admin');
admin.use((socket, next) => (socket.handshake.auth.token === 'let-me-in' ? next() : next(new Error('not allowed'))));
admin.on('connection', (socket) => socket.emit('welcome', 'admin'));

io.listen(port);
io.httpServer.once('listening', () => process.stdout.write(`listening ${port}\n`));
process.on('SIGTERM', () => io.close(() => process.exit(0)));
