/**
 * The few places where PostgreSQL, SQLite and SQL Server differ, in one module.
 * Everything else is written once and runs on all three.
 */
import type { Knex } from 'knex';

export type Dialect = 'postgres' | 'sqlite' | 'mssql';

export function dialectOf(db: Knex): Dialect {
  const client = String(db.client.config.client);
  if (client === 'pg' || client === 'postgres' || client === 'postgresql') return 'postgres';
  if (client === 'better-sqlite3' || client === 'sqlite3') return 'sqlite';
  if (client === 'mssql') return 'mssql';
  throw new Error(`unsupported database client '${client}'`);
}

/**
 * Bound parameters allowed in one statement. SQL Server's limit is 2,100 (we keep a margin);
 * SQLite's default SQLITE_MAX_VARIABLE_NUMBER is 32,766; PostgreSQL's protocol allows 65,535.
 */
export function maxBindParams(d: Dialect): number {
  return d === 'mssql' ? 2000 : d === 'sqlite' ? 32_000 : 60_000;
}

const PLAIN = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Quotes an identifier that config validation already restricted to a plain name. */
export function quoteIdent(d: Dialect, name: string): string {
  if (!PLAIN.test(name)) throw new Error(`refusing unsafe SQL identifier '${name}'`);
  return d === 'mssql' ? `[${name}]` : `"${name}"`;
}

/** Quotes `table` or `schema.table`. */
export function quoteTable(d: Dialect, name: string): string {
  return name
    .split('.')
    .map((part) => quoteIdent(d, part))
    .join('.');
}

/** A bound timestamp parameter, written as 'YYYY-MM-DD HH:MM:SS', typed so comparisons with the column work. */
export function timestampParam(d: Dialect): string {
  if (d === 'postgres') return 'CAST(? AS timestamp)';
  if (d === 'mssql') return 'CAST(? AS datetime2)';
  return '?';
}

/**
 * The source timestamp column as an expression that compares correctly with `timestampParam`.
 * SQLite has no timestamp type: text 'YYYY-MM-DD HH:MM:SS[.fff]' (an ISO 'T' is accepted) is used
 * as is, and epoch milliseconds (what a JS Date becomes) are converted to that text.
 */
export function timestampExpr(d: Dialect, column: string): string {
  if (d !== 'sqlite') return column;
  return (
    `(CASE WHEN typeof(${column}) IN ('integer', 'real') ` +
    `THEN strftime('%Y-%m-%d %H:%M:%f', ${column} / 1000.0, 'unixepoch') ` +
    `WHEN ${column} = '' THEN NULL ` +
    `ELSE substr(replace(${column}, 'T', ' '), 1, 23) END)`
  );
}

/** Trimmed text, NULL when empty. */
export function trimmedText(column: string): string {
  return `NULLIF(LTRIM(RTRIM(${column})), '')`;
}

/** Default schema for the project's own tables. */
export function defaultTargetSchema(d: Dialect): string | undefined {
  return d === 'mssql' ? 'dbo' : undefined;
}

/** A timestamp expression as text 'YYYY-MM-DD HH:MM:SS.fff', for the values of a rejected row. */
export function timestampText(d: Dialect, expr: string): string {
  if (d === 'postgres') return `CAST(${expr} AS varchar)`;
  if (d === 'mssql') return `CONVERT(varchar(23), ${expr}, 121)`;
  return expr;
}
