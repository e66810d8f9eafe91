import type { Db } from '../db';
import { createNotificationService } from './notification.service';
import { createStatusService } from './status.service';
import { createUserService } from './user.service';

export function createServices(db: Db) {
  return {
    users: createUserService(db),
    notifications: createNotificationService(db),
    status: createStatusService(db),
    database: {
      /** Resolves when the database answers a trivial query. */
      async ping(): Promise<void> {
        await db.get('SELECT 1 AS ok');
      },
    },
  };
}

export type Services = ReturnType<typeof createServices>;
