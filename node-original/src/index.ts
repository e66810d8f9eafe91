// Seed section 7: bootstrap and graceful shutdown.
import { createServer } from 'http';
import type { AddressInfo, Socket } from 'net';
import { loadConfig } from './config';
import { openDatabase } from './db';
import { createServices } from './services';
import { createApp } from './http/api';
import { initializeSocketServer } from './socket';
import { RedisCluster } from './socket/cluster';
import { socketService } from './services/socket.service';
import { logger } from './utils/logger';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (error) {
    process.stderr.write(`Error: ${(error as Error).message}\n`);
    process.exit(1);
  }
  let db;
  try {
    // A PostgreSQL server that does not answer is not fatal: the process serves, not ready, and
    // the probe applies the migrations once it gets through (as with Redis, see README).
    db = await openDatabase(config.database.url, config.database.settings, 'start-down');
  } catch (error) {
    process.stderr.write(`Error: cannot open the database: ${(error as Error).message}\n`);
    process.exit(1);
  }
  const services = createServices(db);
  // With REDIS_URL, connecting in the background: the server listens whether Redis is up or not.
  const cluster = config.redis ? new RedisCluster(config.redis) : null;
  const app = createApp(services, config.jwt.secret, config.frontendUrl, cluster);

  // Create HTTP server
  const httpServer = createServer(app);

  // Initialize Socket.io
  const io = initializeSocketServer(httpServer, config, services, cluster);
  socketService.initialize(io);

  // Start server; a large backlog so reconnect storms are not dropped by the kernel.
  httpServer.listen({ port: config.port, host: config.host, backlog: 65535 }, () => {
    const { address, port } = httpServer.address() as AddressInfo;
    logger.info(`Server running on port ${port}`, { addr: `${address}:${port}` });
  });

  // Every TCP connection, so shutdown can wait for them to end. An upgraded websocket leaves the
  // HTTP server's own bookkeeping, so io.close()'s callback can come while websockets are still
  // closing; exiting then reset them (the client saw `transport error`, not `transport close`).
  const connections = new Set<Socket>();
  httpServer.on('connection', (connection: Socket) => {
    connections.add(connection);
    connection.once('close', () => connections.delete(connection));
  });
  const allClosed = (deadline: number, done: () => void) => {
    if (connections.size === 0 || Date.now() >= deadline) return done();
    setTimeout(() => allClosed(deadline, done), 10);
  };

  // Graceful shutdown
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info(`${signal} received, shutting down gracefully`);
    // A bound on the graceful part: io.close() calls back only once the HTTP server has no
    // connection left, and once in about seventy browser-test runs it never did within a minute
    // (cause not found yet; see the closing note of 2026-11-27). A supervisor should not wait
    // for ever either.
    setTimeout(() => {
      logger.warn('shutdown still waiting after 10 s; exiting');
      process.exit(0);
    }, 10_000).unref();

    // Close Socket.io connections, then the HTTP server (io.close closes it too).
    io.close(() => {
      logger.info('Socket.io connections closed');
      allClosed(Date.now() + 5_000, () => {
        logger.info('HTTP server closed');
        void Promise.allSettled([cluster?.close(), db.close()]).finally(() => {
          logger.info('database closed');
          process.exit(0);
        });
      });
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

void main();
