import type { Db } from '../db';

export interface ServiceStatus {
  service: string;
  status: string;
  responseTime: number | null;
  lastCheck: string;
  uptime: number | null;
}

const COLUMNS =
  'service_name AS service, status, response_time_ms AS responseTime, last_check_at AS lastCheck, uptime_percentage AS uptime';

export function createStatusService(db: Db) {
  const all = db.prepare(`SELECT ${COLUMNS} FROM service_status ORDER BY service_name`);
  const upsert = db.prepare(
    `INSERT INTO service_status (service_name, status, response_time_ms, last_check_at, uptime_percentage)
     VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (service_name) DO UPDATE SET status = excluded.status,
       response_time_ms = excluded.response_time_ms, last_check_at = excluded.last_check_at,
       uptime_percentage = excluded.uptime_percentage
     RETURNING ${COLUMNS}`,
  );
  return {
    async getServiceStatuses(): Promise<ServiceStatus[]> {
      return all.all() as ServiceStatus[];
    },
    async record(service: string, report: { status: string; responseTime: number | null; uptime: number | null }) {
      return upsert.get(service, report.status, report.responseTime, new Date().toISOString(), report.uptime) as ServiceStatus;
    },
  };
}

export type StatusService = ReturnType<typeof createStatusService>;
