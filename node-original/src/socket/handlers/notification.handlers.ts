// Seed section 5, with the argument validated (docs/protocol.md).
import type { Server, Socket } from 'socket.io';
import type { Services } from '../../services';
import { NotificationNotFound } from '../../services/notification.service';
import { logger } from '../../utils/logger';
import type { Sequencer } from '../sequencer';

export const NOTIFICATION_EVENTS = ['subscribe:notifications', 'notification:read'] as const;

/** Longest id accepted; real ids are 36-character UUIDs. */
export const MAX_NOTIFICATION_ID_LEN = 128;

/** The id, or the value to echo back: small scalars as they came, anything else as null. */
export function validNotificationId(arg: unknown): { ok: true; id: string } | { ok: false; echo: unknown } {
  if (typeof arg === 'string') {
    const length = [...arg].length;
    if (length > MAX_NOTIFICATION_ID_LEN) return { ok: false, echo: null };
    return length === 0 ? { ok: false, echo: arg } : { ok: true, id: arg };
  }
  if (typeof arg === 'number' || typeof arg === 'boolean' || arg === null) return { ok: false, echo: arg };
  return { ok: false, echo: null };
}

export function notificationHandlers(_io: Server, socket: Socket, services: Services, events: Sequencer): void {
  // Join user's personal notification room
  events.on('subscribe:notifications', () => {
    socket.join(`user:${socket.data.user.id}`);
  });

  // Mark notification as read
  events.on('notification:read', async (...args: unknown[]) => {
    const checked = validNotificationId(args.length > 0 ? args[0] : null);
    if (!checked.ok) {
      socket.emit('notification:read:error', { id: checked.echo, error: 'Invalid notification id' });
      return;
    }
    const notificationId = checked.id;
    try {
      await services.notifications.markAsRead(notificationId, socket.data.user.id);
      socket.emit('notification:read:success', notificationId);
    } catch (error) {
      if (!(error instanceof NotificationNotFound)) {
        logger.error('could not mark notification read', { userId: socket.data.user.id, error: (error as Error).message });
      }
      socket.emit('notification:read:error', {
        id: notificationId,
        error: error instanceof NotificationNotFound ? error.message : 'Could not mark notification as read',
      });
    }
  });
}
