// Seed section 1: the Socket.IO server on the Express HTTP server.
import type { Server as HttpServer } from 'http';
import { Server, Socket } from 'socket.io';
import { authenticateSocket } from './middleware';
import { refuseNewSessionsWhileDatabaseDown } from '../http/health';
import { registerHandlers } from './handlers';
import { SocketRateLimiter } from './rate-limit';
import type { Services } from '../services';
import { type Config, MAX_PAYLOAD } from '../config';
import type { RedisCluster } from './cluster';
import { logger } from '../utils/logger';

export function initializeSocketServer(
  httpServer: HttpServer,
  config: Config,
  services: Services,
  cluster: RedisCluster | null = null,
): Server {
  const io = new Server(httpServer, {
    cors: {
      origin: config.frontendUrl,
      credentials: true,
    },
    transports: ['websocket', 'polling'],
    pingInterval: config.heartbeat.intervalMs,
    pingTimeout: config.heartbeat.timeoutMs,
    connectTimeout: config.connectTimeoutMs,
    maxHttpBufferSize: MAX_PAYLOAD,
  });
  // Rooms and broadcasts shared with the other processes; the rate limiter below stays per process.
  if (cluster) io.adapter(cluster.adapter());
  const limiter = new SocketRateLimiter(config.rateLimit.events, config.rateLimit.windowMs);
  io.engine.on('close', () => limiter.close());

  // JWT authentication middleware
  io.engine.use(refuseNewSessionsWhileDatabaseDown(services.database));
  io.use(authenticateSocket(config.jwt.secret, services.users, services.database, config.connectTimeoutMs));

  // Connection handling
  io.on('connection', (socket: Socket) => {
    logger.info('Client connected', { userId: socket.data.user?.id, socketId: socket.id });

    // Register event handlers
    registerHandlers(io, socket, services, limiter);

    socket.on('disconnect', (reason) => {
      logger.info('Client disconnected', { userId: socket.data.user?.id, socketId: socket.id, reason });
    });

    socket.on('error', (error) => {
      logger.error('Socket error', { error: error.message, userId: socket.data.user?.id });
    });
  });

  return io;
}
