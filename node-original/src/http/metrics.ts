// Prometheus metrics (prom-client): GET /metrics on the server's own port, behind a bearer token
// when METRICS_TOKEN is set. The names are the Rust server's where the meaning is the same
// (docs/metrics.md): counters bumped where the thing happens, and values read at scrape time
// from the parts that keep them (sockets by transport, the database, the Redis adapter).
// collectDefaultMetrics adds process_* (the same names as the Rust server's) and nodejs_*.
import { createHash, timingSafeEqual } from 'crypto';
import type { Express, Request, Response } from 'express';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Server } from 'socket.io';
import type { PoolUse } from '../db';
import type { DatabaseAvailability } from '../db/availability';
import type { AdapterReporter } from './health';
import { logger } from '../utils/logger';

/** The events the server handles; any other name counts as `other`. */
export const RECEIVED_EVENTS = [
  'subscribe:status',
  'unsubscribe:status',
  'admin:refresh-status',
  'subscribe:notifications',
  'notification:read',
] as const;

/** The events the server emits; `other` for any other (keeps the label set bounded). */
export const EMITTED_EVENTS = [
  'status:current',
  'service:status',
  'status:refreshing',
  'notification:new',
  'notification:read:success',
  'notification:read:error',
  'error',
] as const;

const OTHER = 'other';

/** A handshake refusal's message (docs/protocol.md) as the `reason` label says it. */
const REFUSAL_REASONS: Record<string, string> = {
  'Authentication required': 'missing_token',
  'Authentication failed': 'invalid_token',
  'User not found or inactive': 'unknown_or_inactive_user',
  'Service temporarily unavailable': 'unavailable',
};

const registry = new Registry();
collectDefaultMetrics({ register: registry });

function byName(known: readonly string[]): (name: string) => string {
  const names = new Set(known);
  return (name) => (names.has(name) ? name : OTHER);
}
const receivedLabel = byName(RECEIVED_EVENTS);
const emittedLabel = byName(EMITTED_EVENTS);

const handshakesAccepted = new Counter({
  name: 'realtime_handshakes_accepted_total',
  help: 'Socket.IO handshakes accepted (token valid, user active).',
  registers: [registry],
});
const handshakesRefused = new Counter({
  name: 'realtime_handshakes_refused_total',
  help: 'Socket.IO handshakes refused, by reason.',
  labelNames: ['reason'],
  registers: [registry],
});
const eventsReceived = new Counter({
  name: 'realtime_events_received_total',
  help: 'Socket.IO events received from clients, by event name (other: any name the server does not handle).',
  labelNames: ['event'],
  registers: [registry],
});
const eventsRateLimited = new Counter({
  name: 'realtime_events_rate_limited_total',
  help: 'Socket.IO events dropped by the per-user rate limit, by event name.',
  labelNames: ['event'],
  registers: [registry],
});
const emits = new Counter({
  name: 'realtime_emits_total',
  help: 'Events emitted by the server, by event name; an emit to a room counts once.',
  labelNames: ['event'],
  registers: [registry],
});
const queryErrors = new Counter({
  name: 'realtime_database_query_errors_total',
  help: 'Database queries that failed (including those refused at once while the database is down).',
  registers: [registry],
});

// Every label value from the start, as the Rust server does: a rate() over a series that
// appears at its first increment misses that increment.
for (const reason of Object.values(REFUSAL_REASONS)) handshakesRefused.inc({ reason }, 0);
for (const event of [...RECEIVED_EVENTS, OTHER]) {
  eventsReceived.inc({ event }, 0);
  eventsRateLimited.inc({ event }, 0);
}
for (const event of [...EMITTED_EVENTS, OTHER]) emits.inc({ event }, 0);

/** The hooks, called where the thing happens. */
export const metrics = {
  handshakeAccepted: (): void => handshakesAccepted.inc(),
  handshakeRefused: (message: string): void => handshakesRefused.inc({ reason: REFUSAL_REASONS[message] ?? OTHER }),
  eventReceived: (event: string): void => eventsReceived.inc({ event: receivedLabel(event) }),
  eventRateLimited: (event: string): void => eventsRateLimited.inc({ event: receivedLabel(event) }),
  /** One emit, to one socket or to a room (counted once, whatever the room's size). */
  emitted: (event: string): void => emits.inc({ event: emittedLabel(event) }),
  queryFailed: (): void => queryErrors.inc(),
};

/** What a scrape reads besides the counters. */
export interface MetricSources {
  io: () => Server | null;
  database: DatabaseAvailability;
  /** null on SQLite (no pool): then the pool's gauges are left out. */
  pool: () => PoolUse | null;
  adapter: AdapterReporter | null;
}

function registerSources(sources: MetricSources): void {
  new Gauge({
    name: 'realtime_connected_sockets',
    help: 'Sockets connected to the main namespace, by the transport they use now.',
    labelNames: ['transport'],
    registers: [registry],
    collect() {
      let websocket = 0;
      let polling = 0;
      for (const socket of sources.io()?.of('/').sockets.values() ?? []) {
        if (socket.conn.transport.name === 'websocket') websocket += 1;
        else polling += 1;
      }
      this.set({ transport: 'polling' }, polling);
      this.set({ transport: 'websocket' }, websocket);
    },
  });
  new Gauge({
    name: 'realtime_database_up',
    help: "1 while the database answers the server's probe, else 0.",
    registers: [registry],
    collect() {
      this.set(sources.database.isUp() ? 1 : 0);
    },
  });
  if (sources.pool() !== null) {
    new Gauge({
      name: 'realtime_database_pool_connections',
      help: 'Database pool connections, by state (in_use: lent to a query).',
      labelNames: ['state'],
      registers: [registry],
      collect() {
        const pool = sources.pool();
        this.set({ state: 'idle' }, pool?.idle ?? 0);
        this.set({ state: 'in_use' }, pool?.inUse ?? 0);
      },
    });
    new Gauge({
      name: 'realtime_database_pool_max_connections',
      help: 'The most connections the database pool opens.',
      registers: [registry],
      collect() {
        this.set(sources.pool()?.max ?? 0);
      },
    });
  }
  const adapter = sources.adapter;
  if (adapter) {
    new Gauge({
      name: 'realtime_redis_adapter_up',
      help: "1 while the Redis adapter's connections are up and subscribed, else 0.",
      registers: [registry],
      collect() {
        this.set(adapter.health().state === 'connected' ? 1 : 0);
      },
    });
    // A counter kept by the adapter: exposed as one, its value read at scrape time.
    new Counter({
      name: 'realtime_redis_adapter_lost_messages_total',
      help: 'Cross-node messages dropped or possibly dropped since start.',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(adapter.health().lost);
      },
    });
  }
}

/** Compares in constant time: both sides hashed first, so their lengths do not show either. */
function sameToken(given: string, expected: string): boolean {
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/**
 * Serves GET /metrics. With `token`, a scrape needs `Authorization: Bearer <token>` (401
 * otherwise); without, it is open, and the log says so once, here.
 */
export function metricsRoute(app: Express, token: string | null, sources: MetricSources): void {
  registerSources(sources);
  if (token === null) {
    logger.warn('GET /metrics is open to anyone who reaches this port: set METRICS_TOKEN to require a bearer token');
  }
  app.get('/metrics', async (req: Request, res: Response) => {
    if (token !== null) {
      const match = /^bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
      if (!match || !sameToken(match[1].trim(), token)) {
        res.status(401).set('WWW-Authenticate', 'Bearer').type('text/plain').send('a bearer token is required\n');
        return;
      }
    }
    res.set('Content-Type', registry.contentType).send(await registry.metrics());
  });
}
