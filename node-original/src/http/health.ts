// Health for load balancers, supervisors and people, and the gate that refuses new Engine.IO
// sessions while the database is down; the Rust server's `health.rs`, the same answers. Every
// answer comes from memory (the database's state as its background probe last saw it).
//
// - /health/live: 200 while the process serves HTTP.
// - /health/ready: 200 while the node can take new sessions (its database answers), else 503.
// - /health: the compatible summary (200 `status: ok`, or 503 `database: down`), with the Redis
//   adapter's state in a cluster.
import type { IncomingMessage, ServerResponse } from 'http';
import type { Express } from 'express';
import type { DatabaseAvailability } from '../db/availability';
import type { AdapterHealth } from '../socket/cluster';
import { socketService } from '../services/socket.service';

/** Whatever reports the Redis adapter's state; absent when the process runs alone. */
export interface AdapterReporter {
  health(): AdapterHealth;
}

export function healthRoutes(app: Express, database: DatabaseAvailability, adapter: AdapterReporter | null): void {
  app.get('/health/live', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/health/ready', (_req, res) => {
    if (database.isUp()) res.json({ status: 'ok', database: 'up' });
    else res.status(503).json({ status: 'error', database: 'down' });
  });

  // Redis down is still 200: local clients are served.
  app.get('/health', (_req, res) => {
    const connections = socketService.connectedSockets();
    const cluster = adapter ? { adapter: adapter.health() } : {};
    if (database.isUp()) res.json({ status: 'ok', connections, ...cluster });
    else res.status(503).json({ status: 'error', database: 'down', connections, ...cluster });
  });
}

/** Seconds a refused client is told to wait; the official client uses its own back-off. */
const RETRY_AFTER_SECS = '1';
const REFUSAL = 'database unavailable: retry later';

/**
 * An Engine.IO middleware (`io.engine.use`): while the database is down, a new session (a
 * request without `sid`: long-polling's first GET, or a websocket-only client's upgrade) gets
 * 503 and Retry-After. The official client retries a failed transport with its back-off,
 * whereas a connect_error would be final for it. Existing sessions go on.
 */
export function refuseNewSessionsWhileDatabaseDown(database: DatabaseAvailability) {
  return (req: IncomingMessage, res: ServerResponse, next: (err?: Error) => void): void => {
    if (database.isUp() || new URL(req.url ?? '/', 'http://localhost').searchParams.has('sid')) {
      next();
      return;
    }
    if (req.headers.upgrade) {
      // engine.io hands upgrades a stand-in response that cannot send a status: answer on the socket.
      req.socket.end(
        `HTTP/1.1 503 Service Unavailable\r\nRetry-After: ${RETRY_AFTER_SECS}\r\nContent-Type: text/plain\r\n` +
          `Content-Length: ${Buffer.byteLength(REFUSAL)}\r\nConnection: close\r\n\r\n${REFUSAL}`,
      );
      return;
    }
    res.writeHead(503, { 'Retry-After': RETRY_AFTER_SECS, 'Content-Type': 'text/plain' });
    res.end(REFUSAL);
  };
}
