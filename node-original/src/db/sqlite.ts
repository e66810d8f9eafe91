// SQLite through better-sqlite3: a local file in WAL mode with foreign keys enforced. Calls are
// synchronous underneath; statements are prepared once per SQL text.
import Database from 'better-sqlite3';
import type { Backend, DbSettings } from './index';

export function openSqlite(path: string, settings: DbSettings): Backend {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  db.pragma(`busy_timeout = ${Math.max(1, settings.statementTimeoutMs)}`);
  const prepared = new Map<string, Database.Statement>();
  const statement = (sql: string): Database.Statement => {
    let found = prepared.get(sql);
    if (!found) {
      found = db.prepare(sql);
      prepared.set(sql, found);
    }
    return found;
  };
  return {
    kind: 'sqlite',
    label: `SQLite at ${path}`,
    async probe() {
      statement('SELECT 1').get();
    },
    async all<T>(sql: string, params: unknown[] = []) {
      return statement(sql).all(...params) as T[];
    },
    async get<T>(sql: string, params: unknown[] = []) {
      return statement(sql).get(...params) as T | undefined;
    },
    async run(sql: string, params: unknown[] = []) {
      return statement(sql).run(...params).changes;
    },
    async script(sql: string) {
      db.transaction(() => db.exec(sql))();
    },
    async close() {
      db.close();
    },
  };
}
