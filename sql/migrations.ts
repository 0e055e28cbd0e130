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
/** A variant or route: steps joined by '>'. */
const VARIANT_TEXT = 2000;

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

/** The cohort's yields and retests, for the product × test and machine grains. */
function yieldColumns(t: Knex.CreateTableBuilder): void {
  t.double('first_pass_yield');
  t.double('cumulative_yield');
  t.integer('retest_count').notNullable();
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
        yieldColumns(t);
        durationColumns(t);
        runColumns(t);
        t.primary(['period_type', 'period_start', 'product', 'test'], 'pk_summary_prod_test');
      });
      await s().createTable('summary_machine', (t) => {
        t.string('machine', TEXT_KEY).notNullable();
        periodColumns(t);
        attemptColumns(t);
        cohortColumns(t);
        yieldColumns(t);
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
  {
    name: '002_report_deliveries',
    async up(db, schema) {
      // One row per report delivery. dedupe_key is unique so that two runs of the same report for the
      // same period cannot both claim it: the exactly-once guard of reports/deliveries.ts.
      await withSchema(db, schema).createTable('report_deliveries', (t) => {
        t.increments('id').primary();
        t.string('report', 64).notNullable();
        t.string('period_type', 8).notNullable();
        t.date('period_start').notNullable();
        t.string('period_label', 10).notNullable();
        /** report | no-data | summary-failed */
        t.string('kind', 16).notNullable();
        t.string('dedupe_key', 200).notNullable();
        t.boolean('resend').notNullable().defaultTo(false);
        /** sending | sent | failed | skipped | unconfirmed */
        t.string('status', 16).notNullable();
        t.text('recipients');
        t.string('subject', 512);
        t.string('message_id', 255);
        /** smtp | file */
        t.string('transport', 8);
        t.text('location');
        t.string('attachment', 1024);
        t.integer('summary_run_id');
        t.integer('run_id');
        t.string('triggered_by', 128);
        t.string('reason', 512);
        t.integer('attempts').notNullable().defaultTo(1);
        t.text('error');
        t.timestamp('created_at', { useTz: true }).notNullable();
        t.timestamp('updated_at', { useTz: true }).notNullable();
        t.timestamp('sent_at', { useTz: true });
        t.unique(['dedupe_key'], { indexName: 'ux_report_deliveries_key' });
        t.index(['report', 'period_start'], 'ix_report_deliveries_period');
      });
    },
    async down(db, schema) {
      await withSchema(db, schema).dropTableIfExists('report_deliveries');
    },
  },
  {
    name: '003_summary_defect_winder',
    async up(db, schema) {
      // The defect trace (README "Defect trace"): one row per winder × period, plus a row with
      // winder '(untraced)' for CEF cells without a winding record, so every count sums to CEF's.
      await withSchema(db, schema).createTable('summary_defect_winder', (t) => {
        t.string('winder', TEXT_KEY).notNullable();
        periodColumns(t);
        t.integer('cells_assembled').notNullable();
        t.integer('infusion_defects').notNullable();
        t.integer('filling_defects').notNullable();
        t.double('infusion_defect_rate');
        t.integer('gap_n').notNullable();
        t.double('gap_mean');
        t.double('gap_min');
        t.double('gap_max');
        t.double('gap_sd');
        t.integer('gap_below_lsl').notNullable();
        t.integer('gap_above_usl').notNullable();
        // The limits the two counts above were judged against: the config may change later.
        t.double('gap_lsl').notNullable();
        t.double('gap_usl').notNullable();
        runColumns(t);
        t.primary(['period_type', 'period_start', 'winder'], 'pk_summary_defect_winder');
      });
    },
    async down(db, schema) {
      await withSchema(db, schema).dropTableIfExists('summary_defect_winder');
    },
  },
  {
    name: '004_spc',
    async up(db, schema) {
      const s = () => withSchema(db, schema);
      // Statistical process control (README "SPC"). Times are instants (timestamp with time zone):
      // a subgroup's start, shown in plant time by the reports.
      await s().createTable('spc_points', (t) => {
        t.bigIncrements('id').primary();
        t.string('measure', 64).notNullable();
        t.string('chart_key', 255).notNullable();
        /** I-MR, Xbar-R, Xbar-S or p: what value and the paired columns mean. */
        t.string('chart', 8).notNullable();
        t.timestamp('point_time', { useTz: true }).notNullable();
        /** Observations behind the point: 1 on an I chart, the subgroup size, or the units inspected (p). */
        t.integer('subgroup_size').notNullable();
        t.double('value');
        t.double('cl');
        t.double('ucl');
        t.double('lcl');
        /** σ of the plotted statistic at the point: the unit of the Nelson zones. */
        t.double('sigma');
        /** The MR, R or S chart at the same point; NULL on a p-chart. */
        t.double('paired_value');
        t.double('paired_cl');
        t.double('paired_ucl');
        t.double('paired_lcl');
        /** I: the point helped set its limits; II: judged by limits set before it. */
        t.string('phase', 2).notNullable();
        /** window | baseline | frozen */
        t.string('limits_source', 8).notNullable();
        runColumns(t);
        t.index(['measure', 'point_time'], 'ix_spc_points_measure_time');
        t.index(['measure', 'chart_key', 'point_time'], 'ix_spc_points_key_time');
      });
      await s().createTable('spc_violations', (t) => {
        t.bigIncrements('id').primary();
        t.string('measure', 64).notNullable();
        t.string('chart_key', 255).notNullable();
        /** The flagged point: the last point of the pattern. */
        t.timestamp('point_time', { useTz: true }).notNullable();
        /** main: the I, X̄ or p chart; paired: its MR, R or S chart (judged by rule 1 only). */
        t.string('panel', 8).notNullable().defaultTo('main');
        t.integer('rule').notNullable();
        /** above | below for rules 1, 2, 5, 6; NULL for the others. */
        t.string('side', 8);
        /** The first point of the run or window that completes the pattern. */
        t.timestamp('first_point_time', { useTz: true }).notNullable();
        /** The plotted statistic of its panel (x, x̄, p; or MR, R, S). */
        t.double('point_value');
        t.integer('first_seen_run_id').notNullable();
        /** The latest run that found it again: a run that no longer finds it (new limits) leaves it behind. */
        t.integer('last_seen_run_id').notNullable();
        /** When its alert email was claimed and sent; NULL: not alerted (no recipients, or the send failed). */
        t.timestamp('alerted_at', { useTz: true });
        t.integer('alert_run_id');
        // Rule 1 can flag the same point on both panels: two violations.
        t.unique(['measure', 'chart_key', 'point_time', 'panel', 'rule'], { indexName: 'ux_spc_violations_point_rule' });
        t.index(['measure', 'last_seen_run_id'], 'ix_spc_violations_seen');
      });
      await s().createTable('spc_limits', (t) => {
        t.string('measure', 64).notNullable();
        t.string('chart_key', 255).notNullable();
        t.string('chart', 8).notNullable();
        /** x̄, x̿ or p̄ of the baseline. */
        t.double('cl');
        /** σ̂ within of the baseline; for a p-chart √(p̄(1 − p̄)). */
        t.double('sigma_within');
        /** CL of the MR / R / S chart at the baseline's subgroup size. */
        t.double('paired_cl');
        /** firstSubgroups | dates */
        t.string('baseline_kind', 16).notNullable();
        /** Start times of the first and the last baseline subgroup. */
        t.timestamp('baseline_from', { useTz: true });
        t.timestamp('baseline_to', { useTz: true });
        t.integer('subgroups').notNullable();
        t.timestamp('set_at', { useTz: true }).notNullable();
        t.string('set_by', 255).notNullable();
        t.integer('run_id').notNullable();
        t.primary(['measure', 'chart_key'], 'pk_spc_limits');
      });
      // One row per measure × key as the latest run left it: window, limits, capability.
      await s().createTable('spc_charts', (t) => {
        t.string('measure', 64).notNullable();
        t.string('chart_key', 255).notNullable();
        t.string('chart', 8).notNullable();
        t.date('window_from').notNullable();
        t.date('window_to').notNullable();
        t.integer('points').notNullable();
        t.timestamp('last_point_time', { useTz: true });
        t.string('limits_source', 8).notNullable();
        /** Why the limits are what they are, for a person (e.g. "baseline incomplete: 48 of 120 subgroups"). */
        t.string('limits_note', 255);
        t.double('cl');
        t.double('sigma_within');
        t.integer('values_n').notNullable();
        t.double('mean');
        t.double('sigma_overall');
        t.double('lsl');
        t.double('usl');
        t.double('target');
        t.double('cp');
        t.double('cpk');
        t.double('pp');
        t.double('ppk');
        runColumns(t);
        t.primary(['measure', 'chart_key'], 'pk_spc_charts');
      });
    },
    async down(db, schema) {
      for (const t of ['spc_charts', 'spc_limits', 'spc_violations', 'spc_points']) await withSchema(db, schema).dropTableIfExists(t);
    },
  },
  {
    // The process flow (process-flow.md §2–§6): one row per grain and period, replaced per period.
    name: '008_process_flow',
    async up(db, schema) {
      const s = () => withSchema(db, schema);
      await s().createTable('summary_flow_edges', (t) => {
        t.string('product', TEXT_KEY).notNullable();
        t.string('from_step', TEXT_KEY).notNullable();
        t.string('to_step', TEXT_KEY).notNullable();
        periodColumns(t);
        t.integer('transitions').notNullable();
        t.integer('cases').notNullable();
        t.double('median_wait_s');
        t.double('p90_wait_s');
        t.boolean('is_rework').notNullable();
        runColumns(t);
        t.index(['period_type', 'period_start'], 'ix_summary_flow_edges_period');
      });
      await s().createTable('summary_flow_steps', (t) => {
        t.string('product', TEXT_KEY).notNullable();
        t.string('step', TEXT_KEY).notNullable();
        periodColumns(t);
        t.integer('cases').notNullable();
        t.integer('events').notNullable();
        t.integer('rework_events').notNullable();
        t.double('rework_rate');
        t.double('median_processing_s');
        t.double('median_wait_in_s');
        t.integer('bottleneck_rank');
        runColumns(t);
        t.index(['period_type', 'period_start'], 'ix_summary_flow_steps_period');
      });
      await s().createTable('summary_flow_variants', (t) => {
        t.string('product', TEXT_KEY).notNullable();
        t.string('variant', VARIANT_TEXT).notNullable();
        periodColumns(t);
        t.integer('cases').notNullable();
        t.double('share');
        t.integer('rank').notNullable();
        t.double('median_lead_time_s');
        runColumns(t);
        t.index(['period_type', 'period_start'], 'ix_summary_flow_variants_period');
      });
      await s().createTable('summary_flow_conformance', (t) => {
        t.string('product', TEXT_KEY).notNullable();
        periodColumns(t);
        t.integer('cases').notNullable();
        t.integer('conforming_cases').notNullable();
        t.double('fitness');
        t.integer('skipped_step_cases').notNullable();
        t.integer('extra_step_cases').notNullable();
        t.integer('out_of_order_cases').notNullable();
        t.string('route', VARIANT_TEXT);
        /** config | discovered; NULL when the product has no route (no configured one, no cases to discover it from). */
        t.string('route_source', 16);
        runColumns(t);
        t.index(['period_type', 'period_start'], 'ix_summary_flow_conformance_period');
      });
      // The shift view (process-flow.md §6): per product × step × shift, by attempt time.
      await s().createTable('summary_flow_shifts', (t) => {
        t.string('product', TEXT_KEY).notNullable();
        t.string('step', TEXT_KEY).notNullable();
        t.string('shift', 16).notNullable();
        periodColumns(t);
        /** ISO weekday of a day period (1 = Monday … 7 = Sunday); NULL for a week. */
        t.integer('weekday');
        t.integer('attempts').notNullable();
        t.integer('units_tested').notNullable();
        t.integer('first_pass_units').notNullable();
        t.double('first_pass_yield');
        t.integer('waits').notNullable();
        t.double('median_wait_in_s');
        runColumns(t);
        t.index(['period_type', 'period_start'], 'ix_summary_flow_shifts_period');
      });
      // Which station lets units skip a step: per route step and machine, the units it released
      // that jumped over the route's next step.
      await s().createTable('summary_flow_skips', (t) => {
        t.string('product', TEXT_KEY).notNullable();
        t.string('from_step', TEXT_KEY).notNullable();
        t.string('skipped_step', TEXT_KEY).notNullable();
        t.string('machine', TEXT_KEY).notNullable();
        periodColumns(t);
        t.integer('transitions_out').notNullable();
        t.integer('skipping_transitions').notNullable();
        t.double('skip_share');
        runColumns(t);
        t.index(['period_type', 'period_start'], 'ix_summary_flow_skips_period');
      });
    },
    async down(db, schema) {
      for (const t of ['summary_flow_edges', 'summary_flow_steps', 'summary_flow_variants', 'summary_flow_conformance', 'summary_flow_shifts', 'summary_flow_skips']) {
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
