// Seed section 7: bootstrap and graceful shutdown.
import { createServer } from 'http';
import type { AddressInfo } from 'net';
import { loadConfig } from './config';
import { openDatabase } from './db';
import { createServices } from './services';
import { createApp } from './http/api';
import { initializeSocketServer } from './socket';
import { RedisCluster } from './socket/cluster';
import { socketService } from './services/socket.service';
import { logger } from './utils/logger';
import { ConnectionTracker } from './http/connections';

/** How long shutdown may take before it cuts the connections left (a backstop; see below). */
const SHUTDOWN_BOUND_MS = 10_000;

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
  const app = createApp(services, config.jwt.secret, config.frontendUrl, cluster, config.metricsToken);

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

  // Every TCP connection and what it is doing, for the shutdown below. Made after Socket.IO is
  // attached: Engine.IO hands requests for /socket.io/ only to 'request' listeners added after it.
  const connections = new ConnectionTracker(httpServer);

  // Graceful shutdown: io.close() closes every Socket.IO socket and its transport and stops the
  // listener; the HTTP connections are closed as they fall idle; once the last TCP connection has
  // ended (an upgraded websocket leaves the HTTP server's own bookkeeping, so io.close()'s
  // callback can come while websockets are still closing, and exiting then reset them: the
  // client saw `transport error`, not `transport close`), the database closes.
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    const started = Date.now();
    logger.info(`${signal} received, shutting down gracefully`, { connections: connections.size });

    let finished = false;
    const finish = (boundReached: boolean) => {
      if (finished) return;
      finished = true;
      void Promise.allSettled([cluster?.close(), db.close()]).finally(() => {
        logger.info('database closed');
        logger.info('shut down', { ms: Date.now() - started, boundReached });
        process.exit(0);
      });
    };

    // A backstop, not a step: every connection ends long before, unless a request never
    // completes (an upload that stalls) or a websocket's peer never answers the close. Then what
    // is left is named and cut, so the hang explains itself; and the process ends even if the
    // database does not close.
    setTimeout(() => {
      const left = connections.report();
      httpServer.getConnections((error, count) => {
        logger.warn(`shutdown bound of ${SHUTDOWN_BOUND_MS} ms reached: cutting the connections left`, {
          getConnections: error ? error.message : count,
          ...left,
          databaseClosing: finished,
        });
        connections.destroyAll();
        finish(true);
        setTimeout(() => process.exit(0), 2_000).unref();
      });
    }, SHUTDOWN_BOUND_MS).unref();

    const socketsClosed = io.close().then(() => logger.info('Socket.io connections closed'));
    void Promise.all([socketsClosed, connections.drain()]).then(() => {
      logger.info('HTTP server closed');
      finish(false);
    });
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

void main();
