// The database: SQLite (better-sqlite3) or PostgreSQL (a pg Pool), chosen by DATABASE_URL's
// scheme, with the Rust server's schema (server/migrations/<backend>/, applied at open). The
// services write each query once, with `?` placeholders, in SQL both databases read alike.
import { readdirSync, readFileSync } from 'fs';
import { join, resolve } from 'path';
import { openPostgres } from './postgres';
import { openSqlite } from './sqlite';

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

/** An open database and which migrations directory it takes. */
export interface Backend extends Db {
  readonly kind: 'sqlite' | 'postgres';
}

// dist/src/db -> the repository's server/migrations.
const MIGRATIONS_ROOT = process.env.MIGRATIONS_DIR || resolve(__dirname, '../../../../server/migrations');

export async function openDatabase(url: string, settings: DbSettings = DEFAULT_DB_SETTINGS): Promise<Db> {
  const scheme = url.split(':', 1)[0];
  let db: Backend;
  if (scheme === 'postgres' || scheme === 'postgresql') {
    db = openPostgres(url, settings);
  } else if (scheme === 'sqlite') {
    db = openSqlite(url.replace(/^sqlite:\/\//, '').replace(/^sqlite:/, ''), settings);
  } else {
    throw new Error(`unsupported database URL scheme "${scheme}": use sqlite://, postgres:// or postgresql://`);
  }
  try {
    await migrate(db);
  } catch (error) {
    await db.close();
    throw error;
  }
  return db;
}

async function migrate(db: Backend): Promise<void> {
  const dir = join(MIGRATIONS_ROOT, db.kind);
  await db.run('CREATE TABLE IF NOT EXISTS node_migrations (name TEXT PRIMARY KEY NOT NULL)');
  const applied = new Set((await db.all<{ name: string }>('SELECT name FROM node_migrations')).map((row) => row.name));
  const files = readdirSync(dir).filter((f) => f.endsWith('.sql')).sort();
  for (const file of files) {
    if (applied.has(file)) continue;
    const escaped = file.replace(/'/g, "''");
    await db.script(`${readFileSync(join(dir, file), 'utf8')};\nINSERT INTO node_migrations (name) VALUES ('${escaped}');`);
  }
}
