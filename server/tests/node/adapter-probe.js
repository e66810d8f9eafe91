// A bare socket.io 4.8 server with @socket.io/redis-adapter 8.x (node-original's node_modules),
// no sockets of its own: a real Node node that asks the cluster for something, prints one JSON
// line with the answer and exits 0 (1 on an error, printed too).
// Used by server/tests/integration/mixed_cluster.rs. Env: REDIS_URL. Commands:
//   fetch                 io.fetchSockets(): [{id, rooms}] of every node's sockets
//   rooms                 adapter.allRooms()
//   count                 adapter.serverCount()
//   emit EVENT ARG TO EXCEPT   io.to(TO).except(EXCEPT).emit(EVENT, ARG); TO/EXCEPT may be '-'
//   join ROOM NEWROOM     io.in(ROOM).socketsJoin(NEWROOM)
//   disconnect ROOM       io.in(ROOM).disconnectSockets(true)
//   ack EVENT             io.timeout(2000).emit(EVENT, cb): the acks of every node's sockets
const path = require('path');

const from = (name) =>
  require(require.resolve(name, { paths: [path.join(__dirname, '../../../node-original')] }));
const { Server } = from('socket.io');
const { createAdapter } = from('@socket.io/redis-adapter');
const { createClient } = from('redis');

const say = (line) => process.stdout.write(`${JSON.stringify(line)}\n`);

async function main() {
  const [command, ...args] = process.argv.slice(2);
  const pub = createClient({ url: process.env.REDIS_URL });
  const sub = pub.duplicate();
  await Promise.all([pub.connect(), sub.connect()]);
  const io = new Server();
  io.adapter(createAdapter(pub, sub));
  // The adapter subscribes without waiting; give Redis the SUBSCRIBE before asking.
  await new Promise((resolve) => setTimeout(resolve, 200));
  const adapter = io.of('/').adapter;
  const room = (name) => (name === '-' ? [] : [name]);
  switch (command) {
    case 'fetch': {
      const sockets = await io.fetchSockets();
      say(sockets.map((socket) => ({ id: socket.id, rooms: [...socket.rooms].sort() })));
      break;
    }
    case 'rooms':
      say([...(await adapter.allRooms())].sort());
      break;
    case 'count':
      say(await adapter.serverCount());
      break;
    case 'emit': {
      const [event, arg, to, except] = args;
      io.to(room(to)).except(room(except)).emit(event, arg);
      say('sent');
      break;
    }
    case 'join':
      io.in(args[0]).socketsJoin(args[1]);
      say('sent');
      break;
    case 'disconnect':
      io.in(args[0]).disconnectSockets(true);
      say('sent');
      break;
    case 'ack': {
      const responses = await io.timeout(2000).emitWithAck(args[0]).catch((error) => ({ error: error.message }));
      say(responses);
      break;
    }
    default:
      throw new Error(`unknown command ${command}`);
  }
  // Let the publish reach Redis before the connections drop.
  await new Promise((resolve) => setTimeout(resolve, 100));
  await Promise.allSettled([pub.disconnect(), sub.disconnect()]);
  io.close();
}

main().then(
  () => process.exit(0),
  (error) => {
    say({ error: error.message });
    process.exit(1);
  },
);
