// The database: SQLite (better-sqlite3) or PostgreSQL (a pg Pool), chosen by DATABASE_URL's
// scheme, with the Rust server's schema (server/migrations/<backend>/, applied at open). The
// services write each query once, with `?` placeholders, in SQL both databases read alike.
// Every query passes the availability probe's state (./availability): while the database is
// known to be down it fails at once with DatabaseUnavailableError.
import { createHash } from 'crypto';
import { readdirSync, readFileSync } from 'fs';
import { join, resolve } from 'path';
import { DatabaseAvailability, DatabaseUnavailableError } from './availability';
import { openPostgres } from './postgres';
import { openSqlite } from './sqlite';
import { logger } from '../utils/logger';
import { metrics } from '../http/metrics';

export interface DbSettings {
  poolSize: number;
  connectTimeoutMs: number;
  statementTimeoutMs: number;
}

export const DEFAULT_DB_SETTINGS: DbSettings = { poolSize: 8, connectTimeoutMs: 5000, statementTimeoutMs: 5000 };

export interface Db {
  /** Every row of a query. */
  all<T>(sql: string, params?: unknown[]): Promise<T[]>;
  /** The first row, if any. */
  get<T>(sql: string, params?: unknown[]): Promise<T | undefined>;
  /** Runs a statement; resolves to the number of rows it changed. */
  run(sql: string, params?: unknown[]): Promise<number>;
  /** Runs a script of statements in one transaction: all of it applies or none. */
  script(sql: string): Promise<void>;
  close(): Promise<void>;
}

/** A connection pool's use at one moment. */
export interface PoolUse {
  idle: number;
  inUse: number;
  /** The most connections the pool opens. */
  max: number;
}

/** A database and whether it answers, as its background probe last saw it. */
export interface Database extends Db {
  readonly availability: DatabaseAvailability;
  /** The pool's use; null on SQLite, which has one connection and no pool. */
  poolUse(): PoolUse | null;
}

/** An open database and which migrations directory it takes. */
export interface Backend extends Db {
  readonly kind: 'sqlite' | 'postgres';
  /** Where it is, for log lines and errors: never the URL, which may carry a password. */
  readonly label: string;
  /** Resolves when the database answers a trivial question within the probe's timeout; rejects with the cause. */
  probe(): Promise<void>;
  poolUse?(): PoolUse;
}

/**
 * What opening does when the database server does not answer: `fail` with the cause (a one-off
 * command such as db:seed), or `start-down` (the server: it serves, not ready, and the probe
 * runs the migrations once it gets through).
 */
export type WhenUnreachable = 'fail' | 'start-down';

// dist/src/db -> the repository's server/migrations.
const MIGRATIONS_ROOT = process.env.MIGRATIONS_DIR || resolve(__dirname, '../../../../server/migrations');

export async function openDatabase(
  url: string,
  settings: DbSettings = DEFAULT_DB_SETTINGS,
  whenUnreachable: WhenUnreachable = 'fail',
): Promise<Database> {
  const scheme = url.split(':', 1)[0];
  let db: Backend;
  if (scheme === 'postgres' || scheme === 'postgresql') {
    db = openPostgres(url, settings);
  } else if (scheme === 'sqlite') {
    db = openSqlite(url.replace(/^sqlite:\/\//, '').replace(/^sqlite:/, ''), settings);
  } else {
    throw new Error(`unsupported database URL scheme "${scheme}": use sqlite://, postgres:// or postgresql://`);
  }
  let unreachable: string | null = null;
  try {
    await db.probe();
  } catch (error) {
    unreachable = (error as Error).message;
  }
  try {
    if (unreachable === null) {
      await migrate(db);
    } else if (whenUnreachable === 'fail') {
      throw new Error(`cannot reach ${db.label}: ${unreachable}`);
    }
  } catch (error) {
    await db.close();
    throw error;
  }
  return guarded(db, unreachable);
}

/** `backend` behind its availability: queries fail at once while it is down, and a failed one makes the probe look. */
function guarded(backend: Backend, unreachable: string | null): Database {
  let migrated = unreachable === null;
  const availability = new DatabaseAvailability(
    backend.label,
    async () => {
      await backend.probe();
      if (!migrated) {
        await migrate(backend);
        migrated = true;
        logger.info('database migrations applied', { database: backend.label });
      }
    },
    unreachable,
  );
  const guard = async <R>(query: () => Promise<R>): Promise<R> => {
    if (!availability.isUp()) {
      metrics.queryFailed();
      throw new DatabaseUnavailableError();
    }
    try {
      return await query();
    } catch (error) {
      metrics.queryFailed();
      availability.suspect();
      throw error;
    }
  };
  return {
    availability,
    poolUse: () => backend.poolUse?.() ?? null,
    all: <T>(sql: string, params?: unknown[]) => guard(() => backend.all<T>(sql, params)),
    get: <T>(sql: string, params?: unknown[]) => guard(() => backend.get<T>(sql, params)),
    run: (sql: string, params?: unknown[]) => guard(() => backend.run(sql, params)),
    script: (sql: string) => guard(() => backend.script(sql)),
    async close() {
      availability.close();
      await backend.close();
    },
  };
}

async function migrate(db: Backend): Promise<void> {
  const dir = join(MIGRATIONS_ROOT, db.kind);
  await db.run('CREATE TABLE IF NOT EXISTS node_migrations (name TEXT PRIMARY KEY NOT NULL)');
  const applied = new Set((await db.all<{ name: string }>('SELECT name FROM node_migrations')).map((row) => row.name));
  const rust = db.kind === 'postgres' ? await sqlxApplied(db) : new Set<number>();
  const files = readdirSync(dir).filter((f) => f.endsWith('.sql')).sort();
  for (const file of files) {
    if (applied.has(file)) continue;
    const escaped = file.replace(/'/g, "''");
    const sql = readFileSync(join(dir, file), 'utf8');
    const version = Number.parseInt(file, 10);
    if (rust.has(version)) {
      await db.run('INSERT INTO node_migrations (name) VALUES ($1)', [file]);
      continue;
    }
    await db.script(`${sql};\nINSERT INTO node_migrations (name) VALUES ('${escaped}');`);
    if (db.kind === 'postgres') await sqlxRecord(db, file, version, sql);
  }
}

// On PostgreSQL a Node node and a Rust node share one database in a mixed cluster
// (docs/migration.md). The Rust server applies the same files with sqlx, which keeps its own
// record in `_sqlx_migrations` (version, description, success, and a SHA-384 checksum of the
// file that it checks on every start). Each server skips what the other applied and records
// what it applies in both tables; else the second to start would run every migration again and
// fail on the first that is not idempotent (`CREATE TABLE leases`).
const SQLX_TABLE = `CREATE TABLE IF NOT EXISTS _sqlx_migrations (
  version BIGINT PRIMARY KEY,
  description TEXT NOT NULL,
  installed_on TIMESTAMPTZ NOT NULL DEFAULT now(),
  success BOOLEAN NOT NULL,
  checksum BYTEA NOT NULL,
  execution_time BIGINT NOT NULL
)`;

async function sqlxApplied(db: Backend): Promise<Set<number>> {
  await db.run(SQLX_TABLE);
  const rows = await db.all<{ version: string }>('SELECT version FROM _sqlx_migrations WHERE success');
  return new Set(rows.map((row) => Number(row.version)));
}

async function sqlxRecord(db: Backend, file: string, version: number, sql: string): Promise<void> {
  // sqlx's description: the file name after the version, without `.sql`, `_` read as a space.
  const description = file.replace(/^\d+_/, '').replace(/\.sql$/, '').replace(/_/g, ' ');
  const checksum = createHash('sha384').update(sql, 'utf8').digest();
  await db.run(
    'INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES ($1, $2, true, $3, 0) ON CONFLICT (version) DO NOTHING',
    [version, description, checksum],
  );
}
