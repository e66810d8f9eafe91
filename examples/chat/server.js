// A minimal chat server on the official socket.io 4.8, written as any app would be, to show
// sio-harness on a server that is not ours (examples/chat/README.md).
//
// Handshake: `auth: {username}` (a non-empty string of at most 32 characters), else the
// connection is refused with connect_error "username required". No passwords: this is a demo.
//
// Events (client -> server; every one takes an optional acknowledgement callback):
//   join {room}                 ack {ok, room, members}; the room gets "user joined" {username, room}
//   leave {room}                ack {ok, room}; the room gets "user left" {username, room}
//   chat message {room, text}   ack {ok, id} or {ok: false, error}; the rest of the room gets
//                               "chat message" {id, room, username, text}
//   typing {room, typing}       the rest of the room gets "typing" {username, room, typing}
//   history {room}              ack {ok, messages: [...]} (the last 50 of the room)
// On disconnect, each room the socket was in gets "user disconnected" {username, room}.
//
// GET /health answers 200. With CHAT_TEST_RESET=1, POST /test/reset forgets every message and
// restarts message ids at 1 (204), so a test harness can give each scenario a clean server.

'use strict';

const http = require('node:http');
const { Server } = require('socket.io');

const port = Number(process.env.PORT || 3000);
const host = process.env.HOST || '127.0.0.1';
const resetEnabled = process.env.CHAT_TEST_RESET === '1';
const MAX_TEXT = 500;
const HISTORY = 50;

// Per-room message history and the next message id: the only state a reset clears.
let history = new Map();
let nextId = 1;

function reset() {
  history = new Map();
  nextId = 1;
}

const httpServer = http.createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/health') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: 'ok' }));
    return;
  }
  if (resetEnabled && req.method === 'POST' && req.url === '/test/reset') {
    reset();
    // Sockets left over from an earlier run would still receive this run's broadcasts.
    io.disconnectSockets(true);
    res.writeHead(204);
    res.end();
    return;
  }
  // socket.io handles its own path; everything else is unknown.
  if (!req.url.startsWith('/socket.io/')) {
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'not found' }));
  }
});

const io = new Server(httpServer, { cors: { origin: '*' } });

io.use((socket, next) => {
  const username = socket.handshake.auth && socket.handshake.auth.username;
  if (typeof username !== 'string' || username.trim() === '' || username.length > 32) {
    return next(new Error('username required'));
  }
  socket.data.username = username.trim();
  next();
});

/** The room named by a payload `{room}`, or undefined when it is not a usable name. */
function roomOf(payload) {
  const room = payload && payload.room;
  return typeof room === 'string' && room !== '' && room.length <= 64 ? room : undefined;
}

/** Acknowledges when the client asked for it; events without a callback are fire-and-forget. */
function answer(ack, value) {
  if (typeof ack === 'function') ack(value);
}

io.on('connection', (socket) => {
  const username = socket.data.username;

  socket.on('join', async (payload, ack) => {
    const room = roomOf(payload);
    if (!room) return answer(ack, { ok: false, error: 'invalid room' });
    socket.join(room);
    const members = (await io.in(room).fetchSockets()).length;
    socket.to(room).emit('user joined', { username, room });
    answer(ack, { ok: true, room, members });
  });

  socket.on('leave', (payload, ack) => {
    const room = roomOf(payload);
    if (!room || !socket.rooms.has(room)) return answer(ack, { ok: false, error: 'not in room' });
    socket.leave(room);
    socket.to(room).emit('user left', { username, room });
    answer(ack, { ok: true, room });
  });

  socket.on('chat message', (payload, ack) => {
    const room = roomOf(payload);
    const text = payload && payload.text;
    if (!room || !socket.rooms.has(room)) return answer(ack, { ok: false, error: 'not in room' });
    if (typeof text !== 'string' || text.trim() === '') return answer(ack, { ok: false, error: 'empty message' });
    if (text.length > MAX_TEXT) return answer(ack, { ok: false, error: 'message too long' });
    const message = { id: nextId++, room, username, text };
    const kept = history.get(room) || [];
    kept.push(message);
    history.set(room, kept.slice(-HISTORY));
    socket.to(room).emit('chat message', message);
    answer(ack, { ok: true, id: message.id });
  });

  socket.on('typing', (payload) => {
    const room = roomOf(payload);
    if (!room || !socket.rooms.has(room)) return;
    socket.to(room).emit('typing', { username, room, typing: Boolean(payload.typing) });
  });

  socket.on('history', (payload, ack) => {
    const room = roomOf(payload);
    if (!room) return answer(ack, { ok: false, error: 'invalid room' });
    answer(ack, { ok: true, messages: history.get(room) || [] });
  });

  // `disconnecting`, not `disconnect`: the socket still knows its rooms here.
  socket.on('disconnecting', () => {
    for (const room of socket.rooms) {
      if (room !== socket.id) socket.to(room).emit('user disconnected', { username, room });
    }
  });
});

httpServer.listen(port, host, () => {
  console.log(`chat listening on http://${host}:${port}${resetEnabled ? ' (POST /test/reset enabled)' : ''}`);
});

function shutdown() {
  io.close(() => process.exit(0));
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
