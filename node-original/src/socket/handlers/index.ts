// Seed section 3: every event handler, behind the per-user rate limiter.
import type { Server, Socket } from 'socket.io';
import { statusHandlers, STATUS_EVENTS } from './status.handlers';
import { notificationHandlers, NOTIFICATION_EVENTS } from './notification.handlers';
import type { SocketRateLimiter } from '../rate-limit';
import { inOrderFor } from '../ordering';
import type { Services } from '../../services';
import { logger } from '../../utils/logger';

const LIMITED_EVENTS = new Set<string>([...STATUS_EVENTS, ...NOTIFICATION_EVENTS]);

export function registerHandlers(io: Server, socket: Socket, services: Services, limiter: SocketRateLimiter): void {
  const inOrder = inOrderFor(socket);
  // Packet middleware runs before the listeners, in arrival order; a dropped event never reaches them.
  socket.use(([event], next) => {
    if (LIMITED_EVENTS.has(event) && !limiter.allow(socket.data.user.id, event)) {
      logger.warn('rate limit exceeded', { userId: socket.data.user.id, socketId: socket.id, event });
      // Queued behind the answers to earlier events, so replies keep the order of the requests.
      // socket.io hands an allowed event to its listeners on the next tick (Socket#dispatch), so
      // the refusal joins the queue on the next tick too, after the listeners of earlier events.
      process.nextTick(inOrder(() => socket.emit('error', { message: 'Rate limit exceeded', event })));
      return;
    }
    next();
  });

  // Service status subscriptions
  statusHandlers(io, socket, services, inOrder);

  // User notifications
  notificationHandlers(io, socket, services, inOrder);
}
