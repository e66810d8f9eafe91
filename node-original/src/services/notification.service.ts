import { randomUUID } from 'crypto';
import type { Db } from '../db';

export interface Notification {
  id: string;
  userId: string;
  title: string;
  message: string;
  type: string;
  createdAt: string;
  readAt: string | null;
}

export class NotificationNotFound extends Error {
  constructor() {
    super('Notification not found');
  }
}

// Quoted aliases: PostgreSQL folds unquoted names to lower case.
const COLUMNS = 'id, user_id AS "userId", title, message, type, created_at AS "createdAt", read_at AS "readAt"';
const INSERT =
  'INSERT INTO notifications (id, user_id, title, message, type, created_at, read_at) VALUES (?, ?, ?, ?, ?, ?, NULL)';
const LIST = `SELECT ${COLUMNS} FROM notifications WHERE user_id = ? ORDER BY created_at DESC, id DESC`;
const MARK_READ = 'UPDATE notifications SET read_at = COALESCE(read_at, ?) WHERE id = ? AND user_id = ?';

export function createNotificationService(db: Db) {
  return {
    async create(input: { userId: string; title: string; message: string; type: string }): Promise<Notification> {
      const notification: Notification = {
        id: randomUUID(),
        ...input,
        createdAt: new Date().toISOString(),
        readAt: null,
      };
      await db.run(INSERT, [notification.id, input.userId, input.title, input.message, input.type, notification.createdAt]);
      return notification;
    },
    async listFor(userId: string): Promise<Notification[]> {
      return db.all<Notification>(LIST, [userId]);
    },
    /** Marks it read for its owner only; someone else's counts as not found, so ids do not leak. */
    async markAsRead(id: string, userId: string): Promise<void> {
      if ((await db.run(MARK_READ, [new Date().toISOString(), id, userId])) === 0) {
        throw new NotificationNotFound();
      }
    },
  };
}

export type NotificationService = ReturnType<typeof createNotificationService>;
