// Seed section 3: every event handler, behind the per-user rate limiter.
import type { Server, Socket } from 'socket.io';
import { statusHandlers, STATUS_EVENTS } from './status.handlers';
import { notificationHandlers, NOTIFICATION_EVENTS } from './notification.handlers';
import type { SocketRateLimiter } from '../rate-limit';
import type { Services } from '../../services';
import { logger } from '../../utils/logger';
import { sequencer } from '../sequencer';
import { metrics } from '../../http/metrics';

const LIMITED_EVENTS = new Set<string>([...STATUS_EVENTS, ...NOTIFICATION_EVENTS]);

export function registerHandlers(io: Server, socket: Socket, services: Services, limiter: SocketRateLimiter): void {
  const events = sequencer(socket);
  // Packet middleware runs before the listeners, in arrival order; a dropped event never reaches them.
  // Every emit to this socket, for /metrics (room emits are counted where they are made).
  socket.onAnyOutgoing((event: string) => metrics.emitted(event));
  socket.use(([event], next) => {
    metrics.eventReceived(event);
    if (LIMITED_EVENTS.has(event) && !limiter.allow(socket.data.user.id, event)) {
      metrics.eventRateLimited(event);
      logger.warn('rate limit exceeded', { userId: socket.data.user.id, socketId: socket.id, event });
      // Answered after the handlers of earlier events, so replies keep the order of the requests.
      events.after(() => {
        socket.emit('error', { message: 'Rate limit exceeded', event });
      });
      return;
    }
    next();
  });

  socket.use(events.dispatch);

  // Service status subscriptions
  statusHandlers(io, socket, services, events);

  // User notifications
  notificationHandlers(io, socket, services, events);
}
