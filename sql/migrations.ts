/**
 * Target schema: the summary tables that dashboards read and the project's bookkeeping tables.
 * Migrations are code (not files found at run time) so they run the same from sources and from dist/.
 */
import type { Knex } from 'knex';
import { dialectOf } from './dialect.js';

interface Migration {
  name: string;
  up(db: Knex, schema: string | undefined): Promise<void>;
  down(db: Knex, schema: string | undefined): Promise<void>;
}

const TEXT_KEY = 100;

/** The grain and the bookkeeping columns shared by the three summary tables. */
function periodColumns(t: Knex.CreateTableBuilder): void {
  t.string('period_type', 8).notNullable();
  t.date('period_start').notNullable();
  t.string('period_label', 10).notNullable();
}

function attemptColumns(t: Knex.CreateTableBuilder): void {
  t.integer('test_count').notNullable();
  t.integer('pass_count').notNullable();
  t.integer('fail_count').notNullable();
  t.double('passing_rate');
}

function cohortColumns(t: Knex.CreateTableBuilder): void {
  t.integer('units_tested').notNullable();
  t.integer('first_pass_units').notNullable();
  t.integer('passed_units').notNullable();
  t.integer('scrapped_units').notNullable();
  t.integer('pending_units').notNullable();
}

function durationColumns(t: Knex.CreateTableBuilder): void {
  t.double('avg_duration_pass_s');
  t.double('avg_duration_fail_s');
}

function runColumns(t: Knex.CreateTableBuilder): void {
  t.integer('run_id').notNullable();
  t.timestamp('computed_at', { useTz: true }).notNullable();
}

const withSchema = (db: Knex, schema: string | undefined) => (schema ? db.schema.withSchema(schema) : db.schema);

export const MIGRATIONS: Migration[] = [
  {
    name: '001_summaries_and_runs',
    async up(db, schema) {
      const s = () => withSchema(db, schema);
      await s().createTable('etl_runs', (t) => {
        t.increments('id').primary();
        t.string('job', 64).notNullable();
        t.string('period_from', 10);
        t.string('period_to', 10);
        t.text('periods');
        t.string('triggered_by', 128).notNullable();
        t.string('reason', 512);
        t.string('queue_job_id', 128);
        t.integer('attempt').notNullable().defaultTo(1);
        t.string('host', 128);
        t.timestamp('started_at', { useTz: true }).notNullable();
        t.timestamp('finished_at', { useTz: true });
        t.string('status', 16).notNullable();
        t.integer('rows_read');
        t.integer('rows_valid');
        t.integer('rows_rejected');
        t.integer('duplicates_dropped');
        t.integer('rows_written');
        t.integer('duration_ms');
        t.text('error');
        t.text('stats');
        t.index(['job', 'started_at'], 'ix_etl_runs_job_started');
      });
      await s().createTable('summary_prod_test', (t) => {
        t.string('product', TEXT_KEY).notNullable();
        t.string('test', TEXT_KEY).notNullable();
        periodColumns(t);
        attemptColumns(t);
        cohortColumns(t);
        t.double('first_pass_yield');
        t.double('cumulative_yield');
        t.integer('retest_count').notNullable();
        durationColumns(t);
        runColumns(t);
        t.primary(['period_type', 'period_start', 'product', 'test'], 'pk_summary_prod_test');
      });
      await s().createTable('summary_machine', (t) => {
        t.string('machine', TEXT_KEY).notNullable();
        periodColumns(t);
        attemptColumns(t);
        cohortColumns(t);
        t.double('first_pass_yield');
        t.double('cumulative_yield');
        t.integer('retest_count').notNullable();
        durationColumns(t);
        runColumns(t);
        t.primary(['period_type', 'period_start', 'machine'], 'pk_summary_machine');
      });
      await s().createTable('summary_prod', (t) => {
        t.string('product', TEXT_KEY).notNullable();
        periodColumns(t);
        t.integer('load_qty').notNullable();
        attemptColumns(t);
        durationColumns(t);
        cohortColumns(t);
        t.double('rolled_first_pass_yield');
        t.double('rolled_cumulative_yield');
        t.integer('scrapped_serials').notNullable();
        runColumns(t);
        t.primary(['period_type', 'period_start', 'product'], 'pk_summary_prod');
      });
      await s().createTable('etl_rejects', (t) => {
        t.bigIncrements('id').primary();
        t.integer('run_id').notNullable();
        t.string('source_table', 256).notNullable();
        /** The production day of the row's timestamp; NULL for rows without one. */
        t.date('period_start');
        t.string('reason', 32).notNullable();
        t.text('row_values').notNullable();
        t.index(['period_start', 'reason'], 'ix_etl_rejects_period');
        t.index(['run_id'], 'ix_etl_rejects_run');
      });
      await s().createTable('etl_periods', (t) => {
        periodColumns(t);
        t.integer('rows_read').notNullable();
        t.integer('rows_valid').notNullable();
        t.integer('rows_rejected').notNullable();
        t.integer('duplicates_dropped').notNullable();
        t.integer('excess_attempts').notNullable();
        t.integer('pending_units').notNullable();
        runColumns(t);
        t.primary(['period_type', 'period_start'], 'pk_etl_periods');
      });
    },
    async down(db, schema) {
      for (const t of ['etl_periods', 'etl_rejects', 'summary_prod', 'summary_machine', 'summary_prod_test', 'etl_runs']) {
        await withSchema(db, schema).dropTableIfExists(t);
      }
    },
  },
];

/** Brings the target schema up to date; returns the names of the migrations it applied. */
export async function migrate(db: Knex, schema?: string): Promise<string[]> {
  const dialect = dialectOf(db);
  if (schema && dialect === 'postgres') await db.raw('CREATE SCHEMA IF NOT EXISTS ??', [schema]);
  if (schema && dialect === 'mssql') {
    await db.raw("IF SCHEMA_ID(?) IS NULL EXEC('CREATE SCHEMA ' + QUOTENAME(?))", [schema, schema]);
  }
  const source: Knex.MigrationSource<Migration> = {
    getMigrations: async () => MIGRATIONS,
    getMigrationName: (m) => m.name,
    getMigration: async (m) => ({ up: (k: Knex) => m.up(k, schema), down: (k: Knex) => m.down(k, schema) }),
  };
  const [, applied] = (await db.migrate.latest({
    migrationSource: source,
    tableName: 'yieldrun_migrations',
    schemaName: schema,
  })) as [number, string[]];
  return applied;
}
