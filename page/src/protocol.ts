// The payloads of docs/protocol.md that the page reads, as both servers send them.

/** A row of `status:current`. */
export interface ServiceStatus {
  service: string;
  status: string;
  responseTime: number | null;
  lastCheck: string;
  uptime: number | null;
}

/** `service:status`, pushed when a service's status is recorded. */
export interface StatusChange {
  service: string;
  status: string;
  timestamp: string;
}

/** A stored notification, from `GET /api/v1/notifications` or `notification:new`. */
export interface Notification {
  id: string;
  userId: string;
  title: string;
  message: string;
  type: string;
  createdAt: string;
  readAt: string | null;
}

/** `GET /api/v1/me`: who the token signs in as. */
export interface Account {
  id: string;
  email: string;
  role: 'admin' | 'user';
}

/** The `error` event: a refused admin event, or an event over the rate limit. */
export interface EventError {
  message: string;
  event?: string;
}

/** `notification:read:error`. */
export interface ReadError {
  id: unknown;
  error: string;
}
