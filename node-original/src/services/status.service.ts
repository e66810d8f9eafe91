import type { Db } from '../db';

export interface ServiceStatus {
  service: string;
  status: string;
  responseTime: number | null;
  lastCheck: string;
  uptime: number | null;
}

// Quoted aliases: PostgreSQL folds unquoted names to lower case.
const COLUMNS =
  'service_name AS service, status, response_time_ms AS "responseTime", last_check_at AS "lastCheck", uptime_percentage AS uptime';
const ALL = `SELECT ${COLUMNS} FROM service_status ORDER BY service_name`;
// A column whose value is `undefined` in the report keeps what is stored (the `= 1` flags), in
// one statement, as on the Rust server (`store::Change`).
const UPSERT = `INSERT INTO service_status (service_name, status, response_time_ms, last_check_at, uptime_percentage)
     VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (service_name) DO UPDATE SET status = excluded.status,
       response_time_ms = CASE WHEN ? = 1 THEN service_status.response_time_ms ELSE excluded.response_time_ms END,
       last_check_at = excluded.last_check_at,
       uptime_percentage = CASE WHEN ? = 1 THEN service_status.uptime_percentage ELSE excluded.uptime_percentage END
     RETURNING ${COLUMNS}`;

/** The statuses a service can have: what the dashboard draws and the Rust server's Kuma feed writes. */
export const SERVICE_STATES = ['up', 'down', 'degraded', 'unknown'] as const;

/** A report: `undefined` keeps the stored value, `null` clears it. */
export interface StatusReport {
  status: string;
  responseTime: number | null | undefined;
  uptime: number | null | undefined;
}

export function createStatusService(db: Db) {
  return {
    async getServiceStatuses(): Promise<ServiceStatus[]> {
      return db.all<ServiceStatus>(ALL);
    },
    async record(service: string, report: StatusReport) {
      const row = await db.get<ServiceStatus>(UPSERT, [
        service,
        report.status,
        report.responseTime ?? null,
        new Date().toISOString(),
        report.uptime ?? null,
        report.responseTime === undefined ? 1 : 0,
        report.uptime === undefined ? 1 : 0,
      ]);
      if (!row) throw new Error('the upsert returned no row');
      return row;
    },
  };
}

export type StatusService = ReturnType<typeof createStatusService>;
