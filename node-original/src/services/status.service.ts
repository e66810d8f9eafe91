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
const UPSERT = `INSERT INTO service_status (service_name, status, response_time_ms, last_check_at, uptime_percentage)
     VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (service_name) DO UPDATE SET status = excluded.status,
       response_time_ms = excluded.response_time_ms, last_check_at = excluded.last_check_at,
       uptime_percentage = excluded.uptime_percentage
     RETURNING ${COLUMNS}`;

export function createStatusService(db: Db) {
  return {
    async getServiceStatuses(): Promise<ServiceStatus[]> {
      return db.all<ServiceStatus>(ALL);
    },
    async record(service: string, report: { status: string; responseTime: number | null; uptime: number | null }) {
      const row = await db.get<ServiceStatus>(UPSERT, [
        service,
        report.status,
        report.responseTime,
        new Date().toISOString(),
        report.uptime,
      ]);
      if (!row) throw new Error('the upsert returned no row');
      return row;
    },
  };
}

export type StatusService = ReturnType<typeof createStatusService>;
