/**
 * Checks, before any work, that a mapped source table and its columns exist, so a wrong mapping
 * fails with the config key to fix rather than with a database error in the middle of a run.
 */
import type { Knex } from 'knex';

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
