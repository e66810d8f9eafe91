// Configuration from the environment: the same variables as `realtime-server serve`.
import { createSecretKey, KeyObject } from 'crypto';
import { DEFAULT_DB_SETTINGS, type DbSettings } from './db';
import { parseRedisUrl, type RedisTarget } from './socket/cluster';

const MIN_SECRET_LEN = 32;

function integer(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(`${name} must be a non-negative integer`);
  }
  return value;
}

function jwtKey(): KeyObject {
  const secret = process.env.JWT_SECRET;
  if (!secret) {
    throw new Error('JWT_SECRET is required');
  }
  if (Buffer.byteLength(secret, 'utf8') < MIN_SECRET_LEN) {
    throw new Error(`JWT secret must be at least ${MIN_SECRET_LEN} bytes long`);
  }
  // Made once: jsonwebtoken given a string re-derives the key on every verify (~290 us).
  return createSecretKey(Buffer.from(secret, 'utf8'));
}

/** DATABASE_URL and the pool settings, shared by the server and `db:seed`. */
export function databaseConfig(): { url: string; settings: DbSettings } {
  return {
    url: process.env.DATABASE_URL || 'sqlite://realtime.db',
    settings: {
      poolSize: Math.max(1, integer('DATABASE_POOL_SIZE', DEFAULT_DB_SETTINGS.poolSize)),
      connectTimeoutMs: Math.max(1, integer('DATABASE_CONNECT_TIMEOUT_MS', DEFAULT_DB_SETTINGS.connectTimeoutMs)),
      statementTimeoutMs: Math.max(1, integer('DATABASE_STATEMENT_TIMEOUT_MS', DEFAULT_DB_SETTINGS.statementTimeoutMs)),
    },
  };
}

export interface Config {
  host: string;
  port: number;
  frontendUrl: string;
  database: { url: string; settings: DbSettings };
  jwt: { secret: KeyObject };
  rateLimit: { events: number; windowMs: number };
  heartbeat: { intervalMs: number; timeoutMs: number };
  /** From the Engine.IO handshake to the Socket.IO connect; the Rust server's default too. */
  connectTimeoutMs: number;
  /** REDIS_URL: several processes share rooms through it; null runs one process alone. */
  redis: RedisTarget | null;
  /** METRICS_TOKEN: the bearer token GET /metrics requires; null (unset or empty): open. */
  metricsToken: string | null;
}

export function loadConfig(): Config {
  return {
    host: process.env.HOST || '127.0.0.1',
    port: integer('PORT', 4000),
    frontendUrl: process.env.FRONTEND_URL || 'http://localhost:3000',
    database: databaseConfig(),
    jwt: { secret: jwtKey() },
    rateLimit: {
      events: Math.max(1, integer('RATE_LIMIT_EVENTS', 30)),
      windowMs: Math.max(1, integer('RATE_LIMIT_WINDOW_MS', 10_000)),
    },
    heartbeat: {
      intervalMs: Math.max(1, integer('PING_INTERVAL_MS', 25_000)),
      timeoutMs: Math.max(1, integer('PING_TIMEOUT_MS', 20_000)),
    },
    connectTimeoutMs: Math.max(1, integer('CONNECT_TIMEOUT_MS', 10_000)),
    redis: process.env.REDIS_URL ? parseRedisUrl(process.env.REDIS_URL) : null,
    metricsToken: process.env.METRICS_TOKEN || null,
  };
}

/** Largest Engine.IO packet, the same as the Rust server's (socket.io's default is 1 MB). */
export const MAX_PAYLOAD = 100_000;
