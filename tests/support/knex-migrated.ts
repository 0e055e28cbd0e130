/**
 * A database as yieldrun left it before it had its own migration runner: migrations 001–004
 * applied by knex's migrator, with its `yieldrun_migrations` and `yieldrun_migrations_lock` tables.
 */
import type { Knex } from 'knex';
import { MIGRATIONS, MIGRATIONS_TABLE } from '../../sql/migrations.js';

/** The migrations that existed when knex's migrator still ran them. */
export const KNEX_ERA_MIGRATIONS = MIGRATIONS.slice(0, 4);

export async function migrateWithKnexMigrator(db: Knex, schema: string | undefined): Promise<string[]> {
  type M = (typeof MIGRATIONS)[number];
  const source: Knex.MigrationSource<M> = {
    getMigrations: async () => KNEX_ERA_MIGRATIONS,
    getMigrationName: (m) => m.name,
    getMigration: async (m) => ({ up: (k: Knex) => m.up(k, schema), down: async () => {} }),
  };
  const [, applied] = (await db.migrate.latest({ migrationSource: source, tableName: MIGRATIONS_TABLE, schemaName: schema })) as [number, string[]];
  return applied;
}
