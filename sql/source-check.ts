/**
 * Checks, before any work, that a mapped source table and its columns exist, so a wrong mapping
 * fails with the config key to fix rather than with a database error in the middle of a run.
 */
import type { Knex } from 'knex';

export class SourceMappingError extends Error {
  override name = 'SourceMappingError';
}

/**
 * @param configKey where the table is mapped, e.g. `source.testRecords`
 * @param columns logical name → physical column name
 */
export async function checkSourceTable(db: Knex, table: string, columns: Record<string, string>, configKey: string): Promise<void> {
  const [schema, name] = table.includes('.') ? (table.split('.') as [string, string]) : [undefined, table];
  const info = (await (schema ? db.withSchema(schema).table(name) : db.table(name)).columnInfo()) as Record<string, unknown>;
  const present = new Set(Object.keys(info).map((c) => c.toLowerCase()));
  if (present.size === 0) {
    throw new SourceMappingError(`source table '${table}' does not exist (set ${configKey}.table to the table that holds these records)`);
  }
  const missing = Object.entries(columns).filter(([, col]) => !present.has(col.toLowerCase()));
  if (missing.length > 0) {
    const list = missing.map(([key, col]) => `${configKey}.columns.${key} = '${col}'`).join(', ');
    throw new SourceMappingError(
      `source table '${table}' has no column for ${list}; its columns are: ${Object.keys(info).join(', ')}`,
    );
  }
}
