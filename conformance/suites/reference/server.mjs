// The official servers the conformance suites are proved on, configured as the upstream suites'
// READMEs give (engine.io-protocol and socket.io-protocol, "Test suite"), plus socketioxide's
// `emit-with-ack` event: `node reference/server.mjs engine-io|socket-io`. The same contract as
// `conformance-server` (conformance/src/main.rs): 127.0.0.1, a free port, and
// `listening on http://127.0.0.1:PORT` as the first line of stdout.
import { createServer } from "node:http";
import { attach } from "engine.io";
import { Server } from "socket.io";

const heartbeat = { pingInterval: 300, pingTimeout: 200, maxPayload: 1_000_000 };

/** engine.io alone: every message sent back on its session. */
function engineIo(httpServer) {
  const engine = attach(httpServer, heartbeat);
  engine.on("connection", (socket) => {
    socket.on("data", (...args) => socket.send(...args));
  });
}

/** socket.io: `/` and `/custom` echo their auth; `/` echoes messages and acks. */
function socketIo(httpServer) {
  const io = new Server(httpServer, { ...heartbeat, connectTimeout: 1000 });
  io.on("connection", (socket) => {
    socket.emit("auth", socket.handshake.auth);
    socket.on("message", (...args) => socket.emit("message-back", ...args));
    socket.on("message-with-ack", (...args) => {
      const ack = args.pop();
      ack(...args);
    });
    // socketioxide's e2e server: send the arguments back with an ack request, then emit the
    // ack's arguments.
    socket.on("emit-with-ack", (...args) => {
      socket.emit("emit-with-ack", ...args, (...answer) => socket.emit("emit-with-ack", ...answer));
    });
  });
  io.of("/custom").on("connection", (socket) => {
    socket.emit("auth", socket.handshake.auth);
  });
}

const servers = { "engine-io": engineIo, "socket-io": socketIo };
const protocol = process.argv[2];
if (!servers[protocol]) {
  console.error(`usage: node reference/server.mjs ${Object.keys(servers).join("|")}`);
  process.exit(2);
}
const httpServer = createServer();
servers[protocol](httpServer);
httpServer.listen(0, "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${httpServer.address().port}`);
});
