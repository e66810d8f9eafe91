// Seed section 6: how other backend code pushes events to clients.
import type { Server } from 'socket.io';
import { logger } from '../utils/logger';
import { metrics } from '../http/metrics';

let io: Server | null = null;

export const socketService = {
  initialize(socketServer: Server): void {
    io = socketServer;
  },

  // Emit to all clients in a room
  emitToRoom(room: string, event: string, data: unknown): void {
    if (!io) {
      logger.warn('Socket.io not initialized');
      return;
    }
    metrics.emitted(event);
    io.to(room).emit(event, data);
  },

  // Emit to specific user
  emitToUser(userId: string, event: string, data: unknown): void {
    this.emitToRoom(`user:${userId}`, event, data);
  },

  // Broadcast service status update
  broadcastStatusUpdate(service: string, status: unknown): void {
    this.emitToRoom('status-updates', 'service:status', {
      service,
      status,
      timestamp: new Date().toISOString(),
    });
  },

  // Send notification to user
  sendNotification(userId: string, notification: unknown): void {
    this.emitToUser(userId, 'notification:new', notification);
  },

  /** The Socket.IO server, once initialized. */
  server(): Server | null {
    return io;
  },

  connectedSockets(): number {
    return io ? io.of('/').sockets.size : 0;
  },
};
