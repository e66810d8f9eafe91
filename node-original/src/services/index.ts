import type { Database } from '../db';
import { createNotificationService } from './notification.service';
import { createStatusService } from './status.service';
import { createUserService } from './user.service';

export function createServices(db: Database) {
  return {
    users: createUserService(db),
    notifications: createNotificationService(db),
    status: createStatusService(db),
    /** Whether the database answers, as its background probe last saw it. */
    database: db.availability,
    /** The connection pool's use (PostgreSQL), for /metrics. */
    poolUse: () => db.poolUse(),
  };
}

export type Services = ReturnType<typeof createServices>;
