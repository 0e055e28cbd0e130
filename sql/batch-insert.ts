import type { Knex } from 'knex';
import { maxBindParams, type Dialect } from './dialect.js';
import { mssqlBulkLoad } from './mssql-bulk-load.js';

/**
 * knex writes a multi-row INSERT on SQLite as `INSERT … SELECT … UNION ALL SELECT …`, and SQLite
 * refuses a compound SELECT of more than 500 terms (SQLITE_MAX_COMPOUND_SELECT).
 */
const SQLITE_MAX_ROWS = 500;

/** Rows per INSERT so that one statement stays under the dialect's bound-parameter limit. */
export function rowsPerStatement(dialect: Dialect, columnCount: number, cap = 5000): number {
  const rowCap = dialect === 'sqlite' ? Math.min(cap, SQLITE_MAX_ROWS) : cap;
  return Math.max(1, Math.min(rowCap, Math.floor(maxBindParams(dialect) / Math.max(1, columnCount))));
}

/**
 * Rows from which SQL Server gets a bulk load instead of INSERTs: below it, a few INSERTs cost
 * less than reading the table's column types first.
 */
export const MSSQL_BULK_LOAD_MIN_ROWS = 1000;

/**
 * Writes the rows: on SQL Server from MSSQL_BULK_LOAD_MIN_ROWS rows on through its bulk load
 * (sql/mssql-bulk-load.ts), otherwise as multi-row INSERTs of plain parameterised statements,
 * chunked under the parameter limit (SQL Server: 2,100 per statement). Every row must have the
 * same keys. Returns the number of rows written.
 */
export async function insertBatched(
  db: Knex | Knex.Transaction,
  dialect: Dialect,
  table: string,
  rows: readonly object[],
  opts: { schema?: string; bulkLoadMinRows?: number } = {},
): Promise<number> {
  if (rows.length === 0) return 0;
  if (dialect === 'mssql' && rows.length >= (opts.bulkLoadMinRows ?? MSSQL_BULK_LOAD_MIN_ROWS)) {
    await mssqlBulkLoad(db, table, rows, opts.schema);
    return rows.length;
  }
  const per = rowsPerStatement(dialect, Object.keys(rows[0] as object).length);
  for (let i = 0; i < rows.length; i += per) {
    const chunk = rows.slice(i, i + per);
    const q = opts.schema ? db.withSchema(opts.schema).table(table) : db.table(table);
    await q.insert(chunk);
  }
  return rows.length;
}
