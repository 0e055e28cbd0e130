import path from 'node:path';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import tedious from 'tedious';
import type BetterSqlite3 from 'better-sqlite3';
import { SQLITE_QUANTILE_FUNCTION, sqliteQuantileAggregate } from './sqlite-quantile.js';
import { parseDecimal, parseSqliteTimestamp, SQLITE_DECIMAL_FUNCTION, SQLITE_TIMESTAMP_FUNCTION } from './source-values.js';

type SqliteConnection = Pick<BetterSqlite3.Database, 'pragma' | 'function' | 'aggregate'>;

// Dates and timestamps come back as the database wrote them: luxon interprets them, not the Node
// process' local time zone. Counts (bigint, numeric) come back as numbers.
pg.types.setTypeParser(1082, (v: string) => v); // date
pg.types.setTypeParser(1114, (v: string) => v); // timestamp without time zone
pg.types.setTypeParser(20, (v: string) => Number(v)); // bigint (COUNT)
pg.types.setTypeParser(1700, (v: string) => Number(v)); // numeric (SUM of integers)

/** Describes a URL without its password, for logs and messages. */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z]+:\/\/[^/:@]*):[^/@]*@/i, '$1:***@').replace(/([?&](?:password|pwd|passwd)=)[^&]*/gi, '$1***');
}

/** How long a SQLite connection waits for another process's lock. */
const SQLITE_BUSY_MS = 30_000;

/**
 * PRAGMA journal_mode = WAL, retried while another process holds the file's write lock (two
 * `yieldrun migrate` on a new file): SQLite answers that switch with "database is locked" at once,
 * without its busy timeout, when waiting could deadlock.
 */
function switchToWal(conn: SqliteConnection, until: number, done: (err: Error | null) => void): void {
  try {
    conn.pragma('journal_mode = WAL');
    done(null);
  } catch (err) {
    if ((err as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() > until) return done(err as Error);
    setTimeout(() => switchToWal(conn, until, done), 50);
  }
}

export interface ConnectOptions {
  /** Largest pool; the ETL needs one connection per concurrent step. */
  poolMax?: number;
}

/**
 * Opens a knex instance for `sqlite:PATH`, `postgres://…` or `mssql://user:pass@host:port/db?encrypt=false`.
 */
export function connect(url: string, opts: ConnectOptions = {}): Knex {
  const poolMax = opts.poolMax ?? 4;
  if (url.startsWith('sqlite:')) {
    let file = url.slice('sqlite:'.length);
    if (file.startsWith('//')) file = file.slice(2);
    if (file !== ':memory:') mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    return knexFactory({
      client: 'better-sqlite3',
      connection: { filename: file },
      useNullAsDefault: true,
      pool: {
        min: 1,
        max: 1,
        afterCreate: (conn: SqliteConnection, done: (err: Error | null, c: unknown) => void) => {
          // A busy timeout waits out another writer. WAL lets dashboards read while a run writes.
          conn.pragma(`busy_timeout = ${SQLITE_BUSY_MS}`);
          conn.pragma('foreign_keys = ON');
          conn.function(SQLITE_DECIMAL_FUNCTION, { deterministic: true }, parseDecimal);
          conn.function(SQLITE_TIMESTAMP_FUNCTION, { deterministic: true }, parseSqliteTimestamp);
          conn.aggregate(SQLITE_QUANTILE_FUNCTION, sqliteQuantileAggregate as unknown as Parameters<SqliteConnection['aggregate']>[1]);
          switchToWal(conn, Date.now() + SQLITE_BUSY_MS, (err) => done(err, conn));
        },
      },
    });
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    return knexFactory({
      client: 'pg',
      connection: { connectionString: url },
      pool: {
        min: 0,
        max: poolMax,
        afterCreate: (conn: pg.Client, done: (err: Error | null, c: unknown) => void) => {
          // Timestamps without a zone are compared as UTC-or-local wall-clock text; never the server's zone.
          conn.query("SET TIME ZONE 'UTC'", (err) => done(err ?? null, conn));
        },
      },
    });
  }
  if (url.startsWith('mssql://')) {
    return knexFactory({ client: TypedDateMssqlClient as unknown as typeof knexFactory.Client, connection: mssqlConnection(url), pool: { min: 0, max: poolMax } });
  }
  throw new Error(`unsupported database URL '${redactUrl(url)}': expected sqlite:PATH, postgres://… or mssql://…`);
}

/** Parses an mssql:// URL into the tedious connection options knex expects. */
export function mssqlConnection(url: string): Knex.MsSqlConnectionConfig {
  const u = new URL(url);
  const q = u.searchParams;
  const flag = (name: string, dflt: boolean) => (q.has(name) ? q.get(name) === 'true' : dflt);
  return {
    server: u.hostname,
    port: u.port ? Number(u.port) : 1433,
    user: decodeURIComponent(u.username),
    password: decodeURIComponent(u.password),
    database: decodeURIComponent(u.pathname.replace(/^\//, '')) || 'master',
    requestTimeout: Number(q.get('requestTimeout') ?? 600_000),
    connectionTimeout: Number(q.get('connectionTimeout') ?? 30_000),
    options: {
      encrypt: flag('encrypt', true),
      trustServerCertificate: flag('trustServerCertificate', false),
      // DATETIME values are naive wall-clock times; read them back unchanged.
      useUTC: true,
    },
  } as Knex.MsSqlConnectionConfig;
}

/** Scale of every bound Date on SQL Server: milliseconds, the precision of a JS Date and of our columns. */
export const MSSQL_DATE_SCALE = 3;

/** What the client needs of a tedious Request: adding a typed parameter. */
type TediousParameterTarget = Pick<tedious.Request, 'addParameter'>;
interface MssqlClientInternals {
  _setReqInput(req: TediousParameterTarget, i: number, binding: unknown): void;
}
type MssqlClientClass = (new (config: Knex.Config) => Knex.Client & MssqlClientInternals);

// knex does not export its dialect classes; its mssql client is plain CommonJS.
const KnexMssqlClient = createRequire(import.meta.url)('knex/lib/dialects/mssql/index.js') as MssqlClientClass;

/**
 * knex's mssql client binds a JS Date as DATETIME, which SQL Server rounds to 1/300 s: a point
 * at .385 s is stored as .387, and a later lookup by the exact millisecond misses it (SPC's
 * known violations: a rerun then hits the unique key). This client binds every Date as
 * DATETIMEOFFSET(3), exact to the millisecond and with its offset (+00:00, useUTC), so it
 * compares exactly with our DATETIMEOFFSET(3) columns and converts exactly into a naive
 * DATETIME2(3) column (the UTC wall-clock time, as before). Everything else binds as knex does.
 */
export class TypedDateMssqlClient extends KnexMssqlClient {
  constructor(config: Knex.Config) {
    // sql/dialect.ts recognises the dialect by the configured client name.
    super({ ...config, client: 'mssql' });
  }
  override _setReqInput(req: TediousParameterTarget, i: number, binding: unknown): void {
    if (binding instanceof Date) req.addParameter(`p${i}`, tedious.TYPES.DateTimeOffset, binding, { scale: MSSQL_DATE_SCALE });
    else super._setReqInput(req, i, binding);
  }
}
