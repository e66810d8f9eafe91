// The official socket.io-client (node-original's node_modules), left to its defaults: reconnection
// on, its own back-off (1 s doubling to 5 s, randomised). Prints one JSON line per thing it sees,
// `{"client", "event", ...}`, and exits 0 once every client has connected, 2 after TIMEOUT_MS.
// Used by server/tests/integration/database_availability.rs.
// Env: URL, TOKEN, TIMEOUT_MS. Two clients: `default` (long-polling, then the upgrade) and
// `websocket` (websocket only, so its handshake is the upgrade request itself).
const path = require('path');
const { io } = require(require.resolve('socket.io-client', {
  paths: [path.join(__dirname, '../../../node-original')],
}));

const say = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);
const timer = setTimeout(() => {
  say({ event: 'timeout' });
  process.exit(2);
}, Number(process.env.TIMEOUT_MS || 30000));

const clients = { default: {}, websocket: { transports: ['websocket'] } };
let waiting = Object.keys(clients).length;
for (const [name, options] of Object.entries(clients)) {
  const socket = io(process.env.URL, { auth: { token: process.env.TOKEN }, ...options });
  socket.on('connect_error', (error) => say({ client: name, event: 'connect_error', message: error.message, active: socket.active }));
  socket.io.on('reconnect_attempt', (attempt) => say({ client: name, event: 'reconnect_attempt', attempt }));
  socket.on('disconnect', (reason) => say({ client: name, event: 'disconnect', reason }));
  socket.once('connect', () => {
    say({ client: name, event: 'connect' });
    socket.disconnect();
    waiting -= 1;
    if (waiting === 0) {
      clearTimeout(timer);
      process.exit(0);
    }
  });
}
