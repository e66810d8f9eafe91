// Seed section 4.
import type { Server, Socket } from 'socket.io';
import type { Services } from '../../services';
import { metrics } from '../../http/metrics';
import { logger } from '../../utils/logger';
import type { Sequencer } from '../sequencer';

export const STATUS_EVENTS = ['subscribe:status', 'unsubscribe:status', 'admin:refresh-status'] as const;

export function statusHandlers(io: Server, socket: Socket, services: Services, events: Sequencer): void {
  // Subscribe to service status updates
  events.on('subscribe:status', async () => {
    socket.join('status-updates');
    logger.info('User subscribed to status updates', { userId: socket.data.user.id, socketId: socket.id });

    // Send current status immediately
    try {
      socket.emit('status:current', await services.status.getServiceStatuses());
    } catch (error) {
      logger.error('could not load service statuses', { error: (error as Error).message });
      socket.emit('error', { message: 'Could not load service status' });
    }
  });

  // Unsubscribe from status updates
  events.on('unsubscribe:status', () => {
    socket.leave('status-updates');
    logger.info('User unsubscribed from status updates', { userId: socket.data.user.id, socketId: socket.id });
  });

  // Admin-only: Force status refresh
  events.on('admin:refresh-status', async () => {
    if (socket.data.user.role !== 'admin') {
      logger.warn('non-admin asked for a status refresh', { userId: socket.data.user.id });
      socket.emit('error', { message: 'Unauthorized' });
      return;
    }

    // Trigger status refresh (to be implemented in Phase 2)
    metrics.emitted('status:refreshing');
    io.to('status-updates').emit('status:refreshing');
  });
}
