// The SQLite database: opened once, schema from the Rust server's migrations (one schema for both).
import Database from 'better-sqlite3';
import { readdirSync, readFileSync } from 'fs';
import { join, resolve } from 'path';

export type Db = Database.Database;

// dist/src/db -> the repository's server/migrations.
const MIGRATIONS_DIR = process.env.MIGRATIONS_DIR || resolve(__dirname, '../../../../server/migrations');

export function openDatabase(path: string): Db {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db);
  return db;
}

function migrate(db: Db): void {
  db.exec('CREATE TABLE IF NOT EXISTS node_migrations (name TEXT PRIMARY KEY NOT NULL)');
  const applied = new Set(
    db.prepare('SELECT name FROM node_migrations').all().map((row) => (row as { name: string }).name),
  );
  const files = readdirSync(MIGRATIONS_DIR).filter((f) => f.endsWith('.sql')).sort();
  for (const file of files) {
    if (applied.has(file)) continue;
    db.transaction(() => {
      db.exec(readFileSync(join(MIGRATIONS_DIR, file), 'utf8'));
      db.prepare('INSERT INTO node_migrations (name) VALUES (?)').run(file);
    })();
  }
}
