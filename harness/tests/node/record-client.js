// A session of the official socket.io-client (default transports: polling, then the upgrade to
// websocket) through the recording proxy, as an app would run it: subscribe, get the status list,
// an admin creates a notification over the HTTP API, the client sees it arrive and marks it read
// by the id it received, then leaves. Exits non-zero if anything does not happen.
// Env: PROXY_URL, USER_TOKEN (user-1), ADMIN_TOKEN (admin-1).
const path = require('path');
const { io } = require(require.resolve('socket.io-client', {
  paths: [path.join(__dirname, '../../../node-original')],
}));

const url = process.env.PROXY_URL;
const timer = setTimeout(() => {
  console.error('timed out');
  process.exit(2);
}, 20_000);

function next(socket, event) {
  return new Promise((resolve) => socket.once(event, (...args) => resolve(args)));
}

async function main() {
  const socket = io(url, { auth: { token: process.env.USER_TOKEN }, reconnection: false });
  await next(socket, 'connect');
  // Polling first, then the upgrade: wait for it so the websocket carries the rest.
  if (socket.io.engine.transport.name !== 'websocket') {
    await new Promise((resolve) => socket.io.engine.once('upgrade', resolve));
  }
  const status = next(socket, 'status:current');
  socket.emit('subscribe:notifications');
  socket.emit('subscribe:status');
  await status;

  const arrived = next(socket, 'notification:new');
  const response = await fetch(`${url}/api/v1/notifications`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${process.env.ADMIN_TOKEN}`,
    },
    body: JSON.stringify({ userId: 'user-1', title: 'Recorded', message: 'through the proxy' }),
  });
  if (response.status !== 201) throw new Error(`POST answered ${response.status}`);
  const [note] = await arrived;

  const read = next(socket, 'notification:read:success');
  socket.emit('notification:read', note.id);
  const [id] = await read;
  if (id !== note.id) throw new Error(`read ${id}, expected ${note.id}`);
  socket.disconnect();
  clearTimeout(timer);
  console.log('done');
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
