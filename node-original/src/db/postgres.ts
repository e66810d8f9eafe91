// PostgreSQL through a pg Pool: connections open lazily and broken ones are replaced, so the
// server outlives a database restart; the availability probe notices an outage and its end, on
// a connection of its own outside the pool (a pool busy with slow queries is not an outage).
// `?` placeholders become `$1..$n` once per SQL text; BIGINT columns come back as numbers, as
// from SQLite (they hold response times in ms, far below 2^53).
import { Client, Pool, types } from 'pg';
import type { Backend, DbSettings } from './index';
import { PROBE_TIMEOUT_MS, withinProbeTimeout } from './availability';
import { logger } from '../utils/logger';

const INT8_OID = 20;

function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}

/** `PostgreSQL at host:port/name`: where, without the user or password. */
export function postgresLabel(url: string): string {
  try {
    const parsed = new URL(url);
    return `PostgreSQL at ${parsed.hostname || 'localhost'}:${parsed.port || '5432'}${parsed.pathname === '/' ? '' : parsed.pathname}`;
  } catch {
    return 'PostgreSQL';
  }
}

export function openPostgres(url: string, settings: DbSettings): Backend {
  const pool = new Pool({
    connectionString: url,
    max: Math.max(1, settings.poolSize),
    connectionTimeoutMillis: Math.max(1, settings.connectTimeoutMs),
    statement_timeout: Math.max(1, settings.statementTimeoutMs),
    application_name: 'realtime-node-original',
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID ? (value: string) => Number(value) : types.getTypeParser(oid, format)) as typeof types.getTypeParser,
    },
  });
  // An idle connection cut by the server (a restart) is reported here; without a listener the
  // process would exit. The pool drops it and opens a new one when needed.
  pool.on('error', (error) => {
    logger.warn('idle database connection lost', { error: error.message });
  });
  const translated = new Map<string, string>();
  const text = (sql: string): string => {
    let found = translated.get(sql);
    if (found === undefined) {
      found = numbered(sql);
      translated.set(sql, found);
    }
    return found;
  };
  // The probe's own connection, opened again after each failure.
  let probeClient: Client | null = null;
  const dropProbeClient = () => {
    const client = probeClient;
    probeClient = null;
    void client?.end().catch(() => undefined);
  };
  return {
    kind: 'postgres',
    label: postgresLabel(url),
    poolUse() {
      return { idle: pool.idleCount, inUse: pool.totalCount - pool.idleCount, max: Math.max(1, settings.poolSize) };
    },
    async probe() {
      try {
        await withinProbeTimeout(
          (async () => {
            if (!probeClient) {
              const client = new Client({
                connectionString: url,
                connectionTimeoutMillis: PROBE_TIMEOUT_MS,
                application_name: 'realtime-node-original',
              });
              // Reported again by the next query; without a listener the process would exit.
              client.on('error', () => undefined);
              probeClient = client;
              await client.connect();
            }
            await probeClient.query('SELECT 1');
          })(),
        );
      } catch (error) {
        dropProbeClient();
        throw error;
      }
    },
    async all<T>(sql: string, params: unknown[] = []) {
      return (await pool.query(text(sql), params)).rows as T[];
    },
    async get<T>(sql: string, params: unknown[] = []) {
      return (await pool.query(text(sql), params)).rows[0] as T | undefined;
    },
    async run(sql: string, params: unknown[] = []) {
      return (await pool.query(text(sql), params)).rowCount ?? 0;
    },
    async script(sql: string) {
      const client = await pool.connect();
      let broken = false;
      try {
        await client.query('BEGIN');
        await client.query(sql);
        await client.query('COMMIT');
      } catch (error) {
        broken = await client.query('ROLLBACK').then(
          () => false,
          () => true,
        );
        throw error;
      } finally {
        // A connection that cannot even roll back is discarded, not reused.
        client.release(broken);
      }
    },
    async close() {
      dropProbeClient();
      await pool.end();
    },
  };
}
