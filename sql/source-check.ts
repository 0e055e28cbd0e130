/**
 * Checks, before any work, that a mapped source table and its columns exist, so a wrong mapping
 * fails with the config key to fix rather than with a database error in the middle of a run.
 */
import type { Knex } from 'knex';
import { dialectOf, quoteIdent, quoteTable } from './dialect.js';

export class SourceMappingError extends Error {
  override name = 'SourceMappingError';
}

/** A mapped column as the source table has it. */
export interface SourceColumn {
  /** The column's name as the table spells it. */
  name: string;
  /** Its declared type as the database reports it ('timestamp without time zone', 'nvarchar', 'REAL', …). */
  type: string;
}

/**
 * @param configKey where the table is mapped, e.g. `source.testRecords`
 * @param columns logical name → physical column name; null or undefined: not mapped, not checked
 * @param optional logical name → the column read when the table has it (an unmapped optional column)
 * @returns logical name → the column found, for every mapped column and every optional one present
 */
export async function checkSourceTable(
  db: Knex,
  table: string,
  columns: Record<string, string | null | undefined>,
  configKey: string,
  optional: Record<string, string> = {},
): Promise<Record<string, SourceColumn>> {
  const [schema, name] = table.includes('.') ? (table.split('.') as [string, string]) : [undefined, table];
  const info = (await (schema ? db.withSchema(schema).table(name) : db.table(name)).columnInfo()) as Record<string, { type?: string }>;
  const present = new Map(Object.entries(info).map(([col, i]) => [col.toLowerCase(), { name: col, type: String(i?.type ?? '') }]));
  if (present.size === 0) {
    throw new SourceMappingError(`source table '${table}' does not exist (set ${configKey}.table to the table that holds these records)`);
  }
  const mapped = Object.entries(columns).filter((e): e is [string, string] => typeof e[1] === 'string');
  const missing = mapped.filter(([, col]) => !present.has(col.toLowerCase()));
  if (missing.length > 0) {
    const list = missing.map(([key, col]) => `${configKey}.columns.${key} = '${col}'`).join(', ');
    throw new SourceMappingError(
      `source table '${table}' has no column for ${list}; its columns are: ${Object.keys(info).join(', ')}`,
    );
  }
  const found: Record<string, SourceColumn> = {};
  for (const [key, col] of mapped) found[key] = present.get(col.toLowerCase())!;
  for (const [key, col] of Object.entries(optional)) {
    if (columns[key] === undefined && present.has(col.toLowerCase())) found[key] = present.get(col.toLowerCase())!;
  }
  return found;
}

/**
 * The index whose first key is the serial column and whose order is the column's bytes (SQLite's
 * BINARY, PostgreSQL's default operator class under a C-ordered collation), or null. With it the
 * summary reads the history of the batch's serials by seeking each serial (sql/valid-attempts.ts)
 * instead of scanning the history window. SQL Server: always null (its collations order neither
 * blanks nor control characters by their codes, so the seek could miss a padded serial).
 */
export async function serialSeekIndex(db: Knex, table: string, column: string): Promise<string | null> {
  try {
    return await findSerialSeekIndex(db, table, column);
  } catch {
    // A catalogue this reading does not know (a database that speaks PostgreSQL's protocol without
    // all of its catalogues): the history window is scanned, which gives the same rows.
    return null;
  }
}

async function findSerialSeekIndex(db: Knex, table: string, column: string): Promise<string | null> {
  const d = dialectOf(db);
  const [schema, name] = table.includes('.') ? (table.split('.') as [string, string]) : [undefined, table];
  if (d === 'sqlite') {
    const prefix = schema ? `${quoteIdent(d, schema)}.` : '';
    // A column of numeric affinity would turn a serial that looks like a number into one before
    // comparing, so the ranges would no longer be those of the text: only text or no affinity.
    const info = (await db.raw(`PRAGMA ${prefix}table_info(${quoteIdent(d, name)})`)) as { name: string; type: string }[];
    const declared = info.find((c) => c.name.toLowerCase() === column.toLowerCase())?.type.toUpperCase() ?? '';
    const textAffinity = !declared.includes('INT') && (/CHAR|CLOB|TEXT/.test(declared) || declared === '' || declared.includes('BLOB'));
    if (!textAffinity) return null;
    const indexes = (await db.raw(`PRAGMA ${prefix}index_list(${quoteIdent(d, name)})`)) as { name: string; partial: number }[];
    for (const ix of indexes) {
      if (ix.partial) continue;
      const keys = (await db.raw(`PRAGMA ${prefix}index_xinfo(${quoteIdent(d, ix.name)})`)) as { seqno: number; name: string | null; coll: string; key: number }[];
      const first = keys.find((k) => k.key === 1 && k.seqno === 0);
      if (first?.name && first.name.toLowerCase() === column.toLowerCase() && first.coll.toUpperCase() === 'BINARY') return ix.name;
    }
    return null;
  }
  if (d !== 'postgres') return null;
  // The first key: the plain column (not an expression), of a text type, the index's collation the
  // column's own, ordered by code point (C, POSIX, C.UTF-8 of libc), the default B-tree operator class.
  // The database's provider is read through to_jsonb: PostgreSQL before 15 has no such column (libc).
  const rows = (
    await db.raw(
      `SELECT ic.relname AS name
       FROM pg_index i
       JOIN pg_class ic ON ic.oid = i.indexrelid
       JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
       JOIN pg_type t ON t.oid = a.atttypid
       JOIN pg_opclass oc ON oc.oid = i.indclass[0]
       JOIN pg_am am ON am.oid = ic.relam
       JOIN pg_collation c ON c.oid = i.indcollation[0]
       JOIN pg_database db ON db.datname = current_database()
       WHERE i.indrelid = to_regclass(?) AND lower(a.attname) = lower(?) AND i.indpred IS NULL AND i.indisvalid
         AND am.amname = 'btree' AND oc.opcdefault AND t.typname IN ('text', 'varchar')
         AND i.indcollation[0] = a.attcollation
         AND CASE WHEN c.collname = 'default'
           THEN COALESCE(to_jsonb(db) ->> 'datlocprovider', 'c') = 'c' AND db.datcollate IN ('C', 'POSIX', 'C.UTF-8', 'C.utf8')
           ELSE c.collprovider = 'c' AND c.collcollate IN ('C', 'POSIX', 'C.UTF-8', 'C.utf8') END
       ORDER BY i.indnatts, ic.relname LIMIT 1`,
      [quoteTable(d, table), column],
    )
  ).rows as { name: string }[];
  return rows[0]?.name ?? null;
}
