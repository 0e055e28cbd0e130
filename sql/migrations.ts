/**
 * Target schema: the summary tables that dashboards read and the project's bookkeeping tables.
 * Migrations are code (not files found at run time) so they run the same from sources and from dist/.
 */
import type { Knex } from 'knex';
import { dialectOf, type Dialect } from './dialect.js';

interface Migration {
  name: string;
  /** Runs inside the migration transaction: `db` is that transaction. */
  up(db: Knex, schema: string | undefined): Promise<void>;
  /** Kept for a person undoing a migration by hand; migrate() never runs it. */
  down?(db: Knex, schema: string | undefined): Promise<void>;
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

/** Fractional-second digits of every timestamp column on SQL Server. */
const TIMESTAMP_SCALE = 3;

/**
 * An instant column: DATETIMEOFFSET(3) on SQL Server (knex's mssql compiler ignores `precision` and
 * would make DATETIMEOFFSET(7); milliseconds are what a JS Date holds and what sql/connection.ts
 * binds), timestamp with time zone on PostgreSQL, as before. Every timestamp column of a migration
 * is made with it: migration 005 lists the ones of 001–004 to alter on servers created before.
 */
export type InstantColumn = (t: Knex.CreateTableBuilder, name: string) => Knex.ColumnBuilder;
export function instantColumn(db: Knex): InstantColumn {
  const mssql = dialectOf(db) === 'mssql';
  return (t, name) => (mssql ? t.specificType(name, `datetimeoffset(${TIMESTAMP_SCALE})`) : t.timestamp(name, { useTz: true }));
}

function runColumns(t: Knex.CreateTableBuilder, ts: InstantColumn): void {
  t.integer('run_id').notNullable();
  ts(t, 'computed_at').notNullable();
}

/** The columns of spc_limits (004_spc), and of its earlier versions in spc_limits_history (007). */
function limitColumns(t: Knex.CreateTableBuilder, ts: InstantColumn): void {
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
  ts(t, 'baseline_from');
  ts(t, 'baseline_to');
  t.integer('subgroups').notNullable();
  ts(t, 'set_at').notNullable();
  t.string('set_by', 255).notNullable();
  t.integer('run_id').notNullable();
}

const withSchema = (db: Knex, schema: string | undefined) => (schema ? db.schema.withSchema(schema) : db.schema);

/**
 * The indexes over a timestamp column, declared once: the migration that creates the table adds
 * them, and 005 drops and re-creates them around ALTER COLUMN (SQL Server refuses to alter an
 * indexed column).
 */
const TIMESTAMP_INDEXES = {
  ix_etl_runs_job_started: { table: 'etl_runs', columns: ['job', 'started_at'], unique: false },
  ix_spc_points_measure_time: { table: 'spc_points', columns: ['measure', 'point_time'], unique: false },
  ix_spc_points_key_time: { table: 'spc_points', columns: ['measure', 'chart_key', 'point_time'], unique: false },
  // Rule 1 can flag the same point on both panels: two violations.
  ux_spc_violations_point_rule: { table: 'spc_violations', columns: ['measure', 'chart_key', 'point_time', 'panel', 'rule'], unique: true },
} as const;
type TimestampIndex = keyof typeof TIMESTAMP_INDEXES;

function addIndex(t: Knex.CreateTableBuilder, name: TimestampIndex): void {
  const ix = TIMESTAMP_INDEXES[name];
  if (ix.unique) t.unique([...ix.columns], { indexName: name });
  else t.index([...ix.columns], name);
}

function dropIndex(t: Knex.CreateTableBuilder, name: TimestampIndex): void {
  const ix = TIMESTAMP_INDEXES[name];
  if (ix.unique) t.dropUnique([...ix.columns], name);
  else t.dropIndex([...ix.columns], name);
}

/**
 * Every timestamp column that 001–004 created, with whether it takes NULL: on SQL Server ALTER
 * COLUMN restates the nullability (left out, the column would become nullable).
 */
const TIMESTAMP_COLUMNS: readonly { table: string; column: string; nullable: boolean }[] = [
  ...['summary_prod_test', 'summary_machine', 'summary_prod', 'etl_periods', 'summary_defect_winder', 'spc_points', 'spc_charts'].map((table) => ({
    table, column: 'computed_at', nullable: false,
  })),
  { table: 'etl_runs', column: 'started_at', nullable: false },
  { table: 'etl_runs', column: 'finished_at', nullable: true },
  { table: 'report_deliveries', column: 'created_at', nullable: false },
  { table: 'report_deliveries', column: 'updated_at', nullable: false },
  { table: 'report_deliveries', column: 'sent_at', nullable: true },
  { table: 'spc_points', column: 'point_time', nullable: false },
  { table: 'spc_violations', column: 'point_time', nullable: false },
  { table: 'spc_violations', column: 'first_point_time', nullable: false },
  { table: 'spc_violations', column: 'alerted_at', nullable: true },
  { table: 'spc_limits', column: 'baseline_from', nullable: true },
  { table: 'spc_limits', column: 'baseline_to', nullable: true },
  { table: 'spc_limits', column: 'set_at', nullable: false },
  { table: 'spc_charts', column: 'last_point_time', nullable: true },
];

export const MIGRATIONS: Migration[] = [
  {
    name: '001_summaries_and_runs',
    async up(db, schema) {
      const s = () => withSchema(db, schema);
      const ts = instantColumn(db);
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
        ts(t, 'started_at').notNullable();
        ts(t, 'finished_at');
        t.string('status', 16).notNullable();
        t.integer('rows_read');
        t.integer('rows_valid');
        t.integer('rows_rejected');
        t.integer('duplicates_dropped');
        t.integer('rows_written');
        t.integer('duration_ms');
        t.text('error');
        t.text('stats');
        addIndex(t, 'ix_etl_runs_job_started');
      });
      await s().createTable('summary_prod_test', (t) => {
        t.string('product', TEXT_KEY).notNullable();
        t.string('test', TEXT_KEY).notNullable();
        periodColumns(t);
        attemptColumns(t);
        cohortColumns(t);
        yieldColumns(t);
        durationColumns(t);
        runColumns(t, ts);
        t.primary(['period_type', 'period_start', 'product', 'test'], 'pk_summary_prod_test');
      });
      await s().createTable('summary_machine', (t) => {
        t.string('machine', TEXT_KEY).notNullable();
        periodColumns(t);
        attemptColumns(t);
        cohortColumns(t);
        yieldColumns(t);
        durationColumns(t);
        runColumns(t, ts);
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
        runColumns(t, ts);
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
        runColumns(t, ts);
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
      const ts = instantColumn(db);
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
        ts(t, 'created_at').notNullable();
        ts(t, 'updated_at').notNullable();
        ts(t, 'sent_at');
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
      const ts = instantColumn(db);
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
        runColumns(t, ts);
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
      const ts = instantColumn(db);
      // Statistical process control (README "SPC"). Times are instants (timestamp with time zone):
      // a subgroup's start, shown in plant time by the reports.
      await s().createTable('spc_points', (t) => {
        t.bigIncrements('id').primary();
        t.string('measure', 64).notNullable();
        t.string('chart_key', 255).notNullable();
        /** I-MR, Xbar-R, Xbar-S or p: what value and the paired columns mean. */
        t.string('chart', 8).notNullable();
        ts(t, 'point_time').notNullable();
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
        runColumns(t, ts);
        addIndex(t, 'ix_spc_points_measure_time');
        addIndex(t, 'ix_spc_points_key_time');
      });
      await s().createTable('spc_violations', (t) => {
        t.bigIncrements('id').primary();
        t.string('measure', 64).notNullable();
        t.string('chart_key', 255).notNullable();
        /** The flagged point: the last point of the pattern. */
        ts(t, 'point_time').notNullable();
        /** main: the I, X̄ or p chart; paired: its MR, R or S chart (judged by rule 1 only). */
        t.string('panel', 8).notNullable().defaultTo('main');
        t.integer('rule').notNullable();
        /** above | below for rules 1, 2, 5, 6; NULL for the others. */
        t.string('side', 8);
        /** The first point of the run or window that completes the pattern. */
        ts(t, 'first_point_time').notNullable();
        /** The plotted statistic of its panel (x, x̄, p; or MR, R, S). */
        t.double('point_value');
        t.integer('first_seen_run_id').notNullable();
        /** The latest run that found it again: a run that no longer finds it (new limits) leaves it behind. */
        t.integer('last_seen_run_id').notNullable();
        /** When its alert email was claimed and sent; NULL: not alerted (no recipients, or the send failed). */
        ts(t, 'alerted_at');
        t.integer('alert_run_id');
        addIndex(t, 'ux_spc_violations_point_rule');
        t.index(['measure', 'last_seen_run_id'], 'ix_spc_violations_seen');
      });
      await s().createTable('spc_limits', (t) => {
        limitColumns(t, ts);
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
        ts(t, 'last_point_time');
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
        runColumns(t, ts);
        t.primary(['measure', 'chart_key'], 'pk_spc_charts');
      });
    },
    async down(db, schema) {
      for (const t of ['spc_charts', 'spc_limits', 'spc_violations', 'spc_points']) await withSchema(db, schema).dropTableIfExists(t);
    },
  },
  {
    name: '005_mssql_timestamp_precision',
    async up(db, schema) {
      // SQL Server only: 001–004 made DATETIMEOFFSET(7) columns there, into which knex bound Dates
      // as DATETIME (1/300 s). Now every timestamp is DATETIMEOFFSET(3), exact to the millisecond.
      // Values already stored keep their DATETIME rounding (at most 3 ms off).
      if (dialectOf(db) !== 'mssql') return;
      const s = () => withSchema(db, schema);
      const qualified = (table: string) => (schema ? `${schema}.${table}` : table);
      const indexes = Object.keys(TIMESTAMP_INDEXES) as TimestampIndex[];
      for (const ix of indexes) await s().alterTable(TIMESTAMP_INDEXES[ix].table, (t) => dropIndex(t, ix));
      for (const c of TIMESTAMP_COLUMNS) {
        await db.raw(`ALTER TABLE ?? ALTER COLUMN ?? datetimeoffset(${TIMESTAMP_SCALE}) ${c.nullable ? 'NULL' : 'NOT NULL'}`, [qualified(c.table), c.column]);
      }
      // knex's migrator made this naive DATETIME2(7) (nullable); its values are UTC.
      await db.raw(`ALTER TABLE ?? ALTER COLUMN ?? datetime2(${TIMESTAMP_SCALE}) NULL`, [qualified(MIGRATIONS_TABLE), 'migration_time']);
      for (const ix of indexes) await s().alterTable(TIMESTAMP_INDEXES[ix].table, (t) => addIndex(t, ix));
    },
  },
  {
    name: '006_outbox',
    async up(db, schema) {
      const s = () => withSchema(db, schema);
      const ts = instantColumn(db);
      // Every email yieldrun sends is written here first, rendered to the byte (Message-ID
      // included), and sent by whichever process claims it (reports/outbox/). dedupe_key is unique:
      // the same message for the same purpose is queued once.
      await s().createTable('outbox', (t) => {
        t.increments('id').primary();
        t.string('dedupe_key', 255).notNullable();
        /** What the message is: daily-yield-report, failure-alert, outbox-expired, … */
        t.string('kind', 64).notNullable();
        /** pending | sending | sent | unconfirmed | expired */
        t.string('status', 16).notNullable();
        t.string('message_id', 255).notNullable();
        t.string('subject', 512);
        /** The SMTP envelope: sender and every recipient (to and cc), as JSON. */
        t.text('envelope').notNullable();
        /** The MIME message exactly as sent; raw_encoding says how it is stored. */
        t.text('raw').notNullable();
        /** utf8 (7-bit MIME, as nodemailer writes it) | base64 */
        t.string('raw_encoding', 8).notNullable();
        t.string('file_stem', 128);
        /** The command that sends it again on purpose, for an unconfirmed or expired message. */
        t.string('resend_hint', 512);
        t.integer('attempts').notNullable().defaultTo(0);
        ts(t, 'next_attempt_at').notNullable();
        ts(t, 'expires_at').notNullable();
        /** The holder of the current attempt: a claim is read back by its token, never by a row count. */
        t.string('claimed_by', 128);
        t.string('claim_token', 64);
        ts(t, 'claimed_at');
        t.text('last_error');
        /** smtp | file */
        t.string('transport', 8);
        /** The SMTP server's reply, or the .eml file written. */
        t.text('location');
        /** The .eml kept on disk when the message expired. */
        t.text('kept_file');
        ts(t, 'created_at').notNullable();
        ts(t, 'updated_at').notNullable();
        ts(t, 'sent_at');
        t.unique(['dedupe_key'], { indexName: 'ux_outbox_key' });
        t.index(['status', 'next_attempt_at'], 'ix_outbox_due');
      });
      // A report delivery now hands its message to the outbox; claim_token replaces the row-count
      // check of the re-claim of a delivery that failed before the outbox existed.
      await s().alterTable('report_deliveries', (t) => {
        t.integer('outbox_id');
        t.string('claim_token', 64);
      });
    },
    async down(db, schema) {
      await withSchema(db, schema).alterTable('report_deliveries', (t) => {
        t.dropColumn('claim_token');
        t.dropColumn('outbox_id');
      });
      await withSchema(db, schema).dropTableIfExists('outbox');
    },
  },
  {
    name: '007_spc_events',
    async up(db, schema) {
      const s = () => withSchema(db, schema);
      const ts = instantColumn(db);
      // Out-of-control events (spc.md §6): what an engineer acts on, one per chart and episode.
      await s().createTable('spc_events', (t) => {
        t.bigIncrements('id').primary();
        t.string('measure', 64).notNullable();
        t.string('chart_key', 255).notNullable();
        t.string('chart', 8).notNullable();
        /** open | acknowledged | closed | withdrawn (a later run no longer finds its points flagged). */
        t.string('state', 16).notNullable();
        /** The first flagged point, the latest one, and the point that closed it (spc.eventCloseAfter clean points on). */
        ts(t, 'opened_at').notNullable();
        ts(t, 'last_flagged_at').notNullable();
        ts(t, 'closed_at');
        t.integer('flagged_points').notNullable();
        /** The flagged statistic farthest from CL, its CL, and on which side. */
        t.double('extreme_value');
        t.double('extreme_cl');
        t.string('side', 8);
        /** 1: opened before the days of the run that found it (history): never alerted. */
        t.integer('history').notNullable();
        t.integer('first_seen_run_id').notNullable();
        t.integer('last_seen_run_id').notNullable();
        t.integer('withdrawn_run_id');
        /** The run whose email told of the opening, and of the close. */
        t.integer('open_alert_run_id');
        ts(t, 'open_alerted_at');
        t.integer('close_alert_run_id');
        ts(t, 'close_alerted_at');
        /** Acknowledgement: who, when, the assignable cause and the corrective action (spc.causes, spc.actions). */
        ts(t, 'acknowledged_at');
        t.string('acknowledged_by', 128);
        t.string('cause_code', 32);
        t.string('action_code', 32);
        t.string('ack_note', 1000);
        t.index(['measure', 'chart_key', 'opened_at'], 'ix_spc_events_chart');
        t.index(['state'], 'ix_spc_events_state');
      });
      // The rules an event's points broke, with how many points each.
      await s().createTable('spc_event_rules', (t) => {
        t.bigInteger('event_id').notNullable();
        t.string('panel', 8).notNullable();
        t.integer('rule').notNullable();
        t.integer('points').notNullable();
        t.primary(['event_id', 'panel', 'rule'], 'pk_spc_event_rules');
      });
      await s().alterTable('spc_violations', (t) => {
        /** alarm | warning: the measure's severity of the rule when it was found. */
        t.string('severity', 8).notNullable().defaultTo('alarm');
        /** The event the flagged point belongs to (NULL: a warning outside any event). */
        t.bigInteger('event_id');
        /** The run that no longer found it (new data, new limits): it is history, not current. */
        t.integer('withdrawn_run_id');
      });
      await s().alterTable('spc_limits', (t) => {
        /** The first instant these limits judge; NULL: from the beginning. */
        ts(t, 'valid_from');
      });
      await s().alterTable('spc_charts', (t) => {
        /** Why the rules did not judge the chart ("no variation: cannot be judged"), or NULL. */
        t.string('unjudged', 64);
      });
      // Limits that newer ones replaced (yieldrun spc set-limits --from D): they judge [valid_from, valid_to).
      await s().createTable('spc_limits_history', (t) => {
        limitColumns(t, ts);
        ts(t, 'valid_from');
        ts(t, 'valid_to').notNullable();
        ts(t, 'superseded_at').notNullable();
        t.string('superseded_by', 255).notNullable();
        t.primary(['measure', 'chart_key', 'valid_to'], 'pk_spc_limits_history');
      });
    },
    async down(db, schema) {
      for (const t of ['spc_limits_history', 'spc_event_rules', 'spc_events']) await withSchema(db, schema).dropTableIfExists(t);
      await withSchema(db, schema).alterTable('spc_charts', (t) => t.dropColumn('unjudged'));
      await withSchema(db, schema).alterTable('spc_limits', (t) => t.dropColumn('valid_from'));
      await withSchema(db, schema).alterTable('spc_violations', (t) => {
        t.dropColumn('withdrawn_run_id');
        t.dropColumn('event_id');
        t.dropColumn('severity');
      });
    },
  },
  {
    // The process flow (process-flow.md §2–§6): one row per grain and period, replaced per period.
    name: '008_process_flow',
    async up(db, schema) {
      const s = () => withSchema(db, schema);
      const ts = instantColumn(db);
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
        runColumns(t, ts);
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
        runColumns(t, ts);
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
        runColumns(t, ts);
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
        runColumns(t, ts);
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
        runColumns(t, ts);
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
        runColumns(t, ts);
        t.index(['period_type', 'period_start'], 'ix_summary_flow_skips_period');
      });
    },
    async down(db, schema) {
      for (const t of ['summary_flow_edges', 'summary_flow_steps', 'summary_flow_variants', 'summary_flow_conformance', 'summary_flow_shifts', 'summary_flow_skips']) {
        await withSchema(db, schema).dropTableIfExists(t);
      }
    },
  },
  {
    name: '010_admin_console',
    async up(db, schema) {
      const s = () => withSchema(db, schema);
      const ts = instantColumn(db);
      // Named console / API users (jobs/console/users.ts): only a scrypt hash of each token is kept,
      // with its salt and cost parameters, so a stolen table gives no working token.
      await s().createTable('admin_users', (t) => {
        t.string('name', 64).notNullable();
        /** viewer | operator | admin */
        t.string('role', 16).notNullable();
        t.string('token_hash', 128).notNullable();
        t.string('token_salt', 64).notNullable();
        /** scrypt N, r, p and key length as JSON, so stronger parameters later leave old tokens valid. */
        t.string('token_params', 128).notNullable();
        t.string('created_by', 128).notNullable();
        ts(t, 'created_at').notNullable();
        /** Set by `users revoke`: the row stays, for the audit trail's names. */
        ts(t, 'revoked_at');
        t.primary(['name'], 'pk_admin_users');
      });
      // Every mutation through the console, the API or the CLI, allowed, denied or failed.
      await s().createTable('admin_audit', (t) => {
        t.bigIncrements('id').primary();
        ts(t, 'at').notNullable();
        t.string('actor', 128).notNullable();
        t.string('role', 16);
        /** console | api | cli */
        t.string('via', 8).notNullable();
        t.string('action', 64).notNullable();
        t.text('parameters');
        /** allowed | denied | failed */
        t.string('result', 8).notNullable();
        t.string('detail', 1024);
        t.string('address', 64);
        t.index(['at'], 'ix_admin_audit_at');
        t.index(['actor', 'at'], 'ix_admin_audit_actor');
      });
    },
    async down(db, schema) {
      for (const t of ['admin_audit', 'admin_users']) await withSchema(db, schema).dropTableIfExists(t);
    },
  },
  {
    name: '011_lot_sampling',
    async up(db, schema) {
      const s = () => withSchema(db, schema);
      const ts = instantColumn(db);
      const grain = (t: Knex.CreateTableBuilder) => {
        t.string('product', TEXT_KEY).notNullable();
        t.string('inspection_class', TEXT_KEY).notNullable();
      };
      // Every lot inspected on a production day: its plan, its decision and the inspection state
      // before and after it. A rerun of a day replaces the day's rows (and every later day's, which
      // follow from it).
      await s().createTable('lot_dispositions', (t) => {
        t.date('production_day').notNullable();
        /** Order of the lot within its product × class on the day (by inspection time, then lot id). */
        t.integer('seq').notNullable();
        t.string('lot_id', TEXT_KEY).notNullable();
        grain(t);
        t.string('supplier', TEXT_KEY);
        ts(t, 'inspected_at').notNullable();
        t.integer('lot_size');
        t.integer('inspected');
        t.integer('defectives');
        /** mil-std-105e | zero-acceptance | lot-size-table | fixed; NULL without a plan. */
        t.string('plan_type', 16);
        t.string('plan', 200);
        t.string('code_letter', 2);
        t.integer('sample_size');
        t.integer('ac');
        t.integer('re');
        /** accept | reject | sample_too_small | no_plan | invalid */
        t.string('decision', 16).notNullable();
        t.string('note', 500);
        t.string('state_before', 16).notNullable();
        t.string('state_after', 16).notNullable();
        /** The switching counters after the lot (JSON), from which the next day continues. */
        t.string('state_detail', 1000).notNullable();
        /** Percent, as configured; the risks and AOQL as fractions (binomial, process OC). */
        t.double('aql');
        t.double('ltpd');
        t.double('alpha');
        t.double('beta');
        t.double('ltpd_at_pa10');
        t.double('aoql');
        runColumns(t, ts);
        t.index(['production_day'], 'ix_lot_dispositions_day');
        t.index(['product', 'inspection_class', 'production_day'], 'ix_lot_dispositions_grain');
      });
      await s().createTable('sampling_state', (t) => {
        grain(t);
        /** normal | tightened | reduced | discontinued */
        t.string('state', 16).notNullable();
        t.string('state_detail', 1000).notNullable();
        t.date('last_day');
        t.string('last_lot_id', TEXT_KEY);
        ts(t, 'updated_at').notNullable();
        t.string('updated_by', 128).notNullable();
        t.primary(['product', 'inspection_class'], 'pk_sampling_state');
      });
      // Every change of a product × class's inspection state: by a lot (run) or by a person (resume).
      await s().createTable('sampling_state_history', (t) => {
        t.bigIncrements('id').primary();
        grain(t);
        t.date('production_day').notNullable();
        t.string('lot_id', TEXT_KEY);
        t.string('from_state', 16).notNullable();
        t.string('to_state', 16).notNullable();
        t.string('reason', 500).notNullable();
        t.string('changed_by', 128).notNullable();
        t.integer('run_id');
        ts(t, 'recorded_at').notNullable();
        t.index(['product', 'inspection_class', 'production_day'], 'ix_sampling_state_history_grain');
      });
    },
    async down(db, schema) {
      for (const t of ['sampling_state_history', 'sampling_state', 'lot_dispositions']) await withSchema(db, schema).dropTableIfExists(t);
    },
  },
  {
    // The MES exchange (etl/mes/): production orders pulled from the MES, the delivery risk of the
    // open ones per day, and the outbox of quality results pushed to it.
    name: '013_mes',
    async up(db, schema) {
      const s = () => withSchema(db, schema);
      const ts = instantColumn(db);
      /** An order as the MES gave it: the columns mes_orders and mes_order_risk share. */
      const orderColumns = (t: Knex.CreateTableBuilder) => {
        t.string('order_id', TEXT_KEY).notNullable();
        /** The material (product) the order makes: the product of the summaries. */
        t.string('product', TEXT_KEY).notNullable();
        t.integer('quantity').notNullable();
        /** Plant-local dates YYYY-MM-DD: the order's scheduled start and its due date. */
        t.string('start_date', 10);
        t.string('due_date', 10).notNullable();
        /** As the MES spells it (released, running, completed, …). */
        t.string('status', 32).notNullable();
      };
      // The MES's production orders as last pulled: replaced order by order on every pull.
      await s().createTable('mes_orders', (t) => {
        orderColumns(t);
        t.string('unit', 16);
        ts(t, 'pulled_at').notNullable();
        t.integer('run_id').notNullable();
        t.primary(['order_id'], 'pk_mes_orders');
      });
      // Delivery risk of each open order as of a production day (README "MES exchange").
      await s().createTable('mes_order_risk', (t) => {
        t.date('day').notNullable();
        orderColumns(t);
        /** Σ load_qty × rolled_cumulative_yield of the product over the order's days up to the day. */
        t.double('good_so_far').notNullable();
        /** The product's good units per day over rate_window_days ending with the day. */
        t.double('rate_per_day').notNullable();
        t.integer('rate_window_days').notNullable();
        /** Days after the day up to the due date (0 once due). */
        t.integer('days_left').notNullable();
        t.double('projected_good').notNullable();
        /** quantity − projected_good when positive, else 0. */
        t.double('shortfall').notNullable();
        t.boolean('at_risk').notNullable();
        runColumns(t, ts);
        t.primary(['day', 'order_id'], 'pk_mes_order_risk');
      });
      // Every result pushed to the MES is written here first, under its idempotency key, and sent
      // by whichever process claims it (etl/mes/outbox.ts): never again once acknowledged.
      await s().createTable('mes_outbox', (t) => {
        t.increments('id').primary();
        /** kind:day:entity, sent as the Idempotency-Key header. */
        t.string('idempotency_key', 255).notNullable();
        t.string('kind', 32).notNullable();
        t.string('day', 10).notNullable();
        t.string('entity', 255).notNullable();
        /** pending | sending | acknowledged | rejected | expired */
        t.string('status', 16).notNullable();
        /** The JSON body, exactly as sent. */
        t.text('payload').notNullable();
        t.integer('attempts').notNullable().defaultTo(0);
        ts(t, 'next_attempt_at').notNullable();
        ts(t, 'expires_at').notNullable();
        t.string('claimed_by', 128);
        t.string('claim_token', 64);
        ts(t, 'claimed_at');
        t.text('last_error');
        /** The HTTP status of the answer that settled it (2xx, 409, or the refusal). */
        t.integer('http_status');
        /** The MES's receipt id of the stored result. */
        t.string('receipt', 255);
        t.integer('run_id');
        ts(t, 'created_at').notNullable();
        ts(t, 'updated_at').notNullable();
        ts(t, 'acknowledged_at');
        t.unique(['idempotency_key'], { indexName: 'ux_mes_outbox_key' });
        t.index(['status', 'next_attempt_at'], 'ix_mes_outbox_due');
      });
    },
    async down(db, schema) {
      for (const t of ['mes_outbox', 'mes_order_risk', 'mes_orders']) await withSchema(db, schema).dropTableIfExists(t);
    },
  },
  {
    // The cell-risk job (etl/risk/, README "Cell risk"): the fitted model versions and the day's
    // scores per cell. A refit adds a version and retires the active one; scores are replaced per day.
    name: '014_cell_risk',
    async up(db, schema) {
      const s = () => withSchema(db, schema);
      const ts = instantColumn(db);
      await s().createTable('risk_models', (t) => {
        t.integer('version').notNullable().primary();
        /** active | retired: one active version at a time. */
        t.string('status', 16).notNullable();
        /** The production day the model was fitted for, from which refitEveryDays counts. */
        t.date('fit_day').notNullable();
        ts(t, 'fitted_at').notNullable();
        t.string('fitted_by', 255).notNullable();
        t.integer('run_id').notNullable();
        /** Production days of the cells' end of ageing (fmt_dt), inclusive. */
        t.date('train_from').notNullable();
        t.date('train_to').notNullable();
        t.date('test_from').notNullable();
        t.date('test_to').notNullable();
        /** The features and their encoding (numeric: mean and sd; categorical: levels and reference), JSON. */
        t.text('features').notNullable();
        /** Intercept, coefficients and standard errors per design column, JSON. */
        t.text('coefficients').notNullable();
        t.double('ridge').notNullable();
        t.boolean('separated').notNullable();
        t.integer('n_train').notNullable();
        t.integer('n_test').notNullable();
        t.integer('positives_train').notNullable();
        t.integer('positives_test').notNullable();
        t.double('auc');
        t.double('precision_at_threshold');
        t.double('recall_at_threshold');
        t.double('threshold').notNullable();
        /** Calibration by decile of the held-out cells, JSON. */
        t.text('calibration').notNullable();
        /** The held-out ROC curve, thinned, JSON. */
        t.text('roc').notNullable();
        t.index(['status'], 'ix_risk_models_status');
      });
      await s().createTable('cell_risk', (t) => {
        /** The production day of the cell's end of ageing. */
        t.date('day').notNullable();
        t.string('cell_id', TEXT_KEY).notNullable();
        t.string('lot_id', TEXT_KEY);
        t.string('winder', TEXT_KEY);
        /** 100 × the predicted failure probability. */
        t.double('score').notNullable();
        /** short-term test recommended | safe for all usage */
        t.string('class', 40).notNullable();
        /** The three features that raised the score most: feature, value, contribution, JSON. */
        t.string('top_features', 1000).notNullable();
        t.integer('model_version').notNullable();
        runColumns(t, ts);
        t.primary(['day', 'cell_id'], 'pk_cell_risk');
        t.index(['day', 'score'], 'ix_cell_risk_day_score');
      });
    },
    async down(db, schema) {
      for (const t of ['cell_risk', 'risk_models']) await withSchema(db, schema).dropTableIfExists(t);
    },
  },
  {
    // report_deliveries repeats its message's state (reports/outbox/outbox.ts mirrorToDelivery):
    // the rows written since the outbox took over sending said `queued` for ever. Brought up to
    // date here; the index serves the mirror's UPDATE by outbox_id.
    name: '015_delivery_mirror',
    async up(db, schema) {
      await withSchema(db, schema).alterTable('report_deliveries', (t) => {
        t.index(['outbox_id'], 'ix_report_deliveries_outbox');
      });
      const table = (name: string) => (schema ? db.withSchema(schema).table(name) : db.table(name));
      const values: Record<string, unknown> = {};
      for (const [column, from] of Object.entries({ status: 'status', attempts: 'attempts', error: 'last_error', transport: 'transport', location: 'location', sent_at: 'sent_at' })) {
        values[column] = table('outbox').whereRaw('?? = ??', ['outbox.id', 'report_deliveries.outbox_id']).select(from);
      }
      await table('report_deliveries').whereNotNull('outbox_id').update(values);
    },
    async down(db, schema) {
      await withSchema(db, schema).alterTable('report_deliveries', (t) => {
        t.dropIndex(['outbox_id'], 'ix_report_deliveries_outbox');
      });
    },
  },
  {
    // The nightly summary's fine aggregates of each computed day (etl/day-parts.ts), so a later run
    // in the same ISO week assembles the week's days before its batch from them instead of reading
    // their records again. Replaced with the day's summary rows, in the same transaction.
    name: '016_day_parts',
    async up(db, schema) {
      const ts = instantColumn(db);
      await withSchema(db, schema).createTable('etl_day_parts', (t) => {
        t.date('day').notNullable();
        /** The day slot's F, L and Q rows of the summary statement, JSON. */
        t.text('parts').notNullable();
        runColumns(t, ts);
        t.primary(['day'], 'pk_etl_day_parts');
      });
    },
    async down(db, schema) {
      await withSchema(db, schema).dropTableIfExists('etl_day_parts');
    },
  },
];
/** Applied migrations, one row each: the table knex's migrator made, so older databases carry on. */
export const MIGRATIONS_TABLE = 'yieldrun_migrations';
/**
 * The migration lock: a row with id 1 exists only inside a running migrate()'s transaction.
 * (knex's own lock table, yieldrun_migrations_lock, is left as it is and no longer used.)
 */
export const MIGRATION_LOCK_TABLE = 'yieldrun_migrations_mutex';

/**
 * Brings the target schema up to date; returns the names of the migrations it applied.
 *
 * Our own runner, not knex's migrator: knex takes its lock with an UPDATE and trusts the row count
 * the driver reports, which Babelfish leaves undefined ("Migration table is already locked", for
 * ever). Here the lock needs no count: inside the one transaction that applies every pending
 * migration, the first statement inserts the row with the lock table's primary key 1, and the last
 * deletes it before the commit. A second migrate() inserting the same key waits for the first
 * transaction (PostgreSQL and SQL Server block on the uncommitted key; SQLite on its write lock,
 * taken by that first statement, up to busy_timeout), then finds the migrations applied and does
 * nothing. A migrate() that dies is rolled back with its row: no stale lock. The same statements
 * run on all three databases (an advisory lock would need three mechanisms, and Babelfish's
 * support of sp_getapplock is not something to rely on).
 */
export async function migrate(db: Knex, schema?: string): Promise<string[]> {
  const dialect = dialectOf(db);
  if (schema) await ensureSchema(db, dialect, schema);
  await ensureTable(db, schema, MIGRATIONS_TABLE, (t) => {
    // The columns of knex's migration table; migration_time naive like knex's, in milliseconds on SQL Server.
    t.increments('id').primary();
    t.string('name', 255);
    t.integer('batch');
    if (dialect === 'mssql') t.specificType('migration_time', `datetime2(${TIMESTAMP_SCALE})`);
    else t.timestamp('migration_time');
  });
  await ensureTable(db, schema, MIGRATION_LOCK_TABLE, (t) => {
    t.integer('id').primary();
  });
  const table = (trx: Knex.Transaction, name: string) => (schema ? trx.withSchema(schema).table(name) : trx.table(name));
  return db.transaction(async (trx) => {
    await table(trx, MIGRATION_LOCK_TABLE).insert({ id: 1 });
    const recorded = (await table(trx, MIGRATIONS_TABLE).select('name', 'batch')) as { name: string; batch: number | null }[];
    const done = new Set(recorded.map((r) => r.name));
    const known = new Set(MIGRATIONS.map((m) => m.name));
    const unknown = [...done].filter((n) => !known.has(n));
    if (unknown.length > 0) {
      throw new Error(
        `the target schema${schema ? ` '${schema}'` : ''} records migration(s) ${unknown.join(', ')} that this yieldrun does not know: ` +
          'it was migrated by a newer version; run that version or a newer one',
      );
    }
    const batch = Math.max(0, ...recorded.map((r) => Number(r.batch ?? 0))) + 1;
    const applied: string[] = [];
    for (const m of MIGRATIONS) {
      if (done.has(m.name)) continue;
      await m.up(trx, schema);
      await table(trx, MIGRATIONS_TABLE).insert({ name: m.name, batch, migration_time: new Date() });
      applied.push(m.name);
    }
    // Raw: knex appends `select @@rowcount` to a DELETE and reads it; nothing here needs a count.
    await trx.raw('DELETE FROM ?? WHERE ?? = ?', [schema ? `${schema}.${MIGRATION_LOCK_TABLE}` : MIGRATION_LOCK_TABLE, 'id', 1]);
    return applied;
  });
}

/**
 * SQL Server's statement that creates the schema when it is missing. CREATE SCHEMA must begin a
 * batch, hence EXEC; and EXEC(...) takes only literals and variables, so the text is built in a
 * variable first (QUOTENAME inside EXEC is a compile error).
 */
export function mssqlCreateSchemaStatement(schema: string): { sql: string; bindings: string[] } {
  return {
    sql: "DECLARE @create_schema nvarchar(300) = N'CREATE SCHEMA ' + QUOTENAME(?); IF SCHEMA_ID(?) IS NULL EXEC(@create_schema);",
    bindings: [schema, schema],
  };
}

async function ensureSchema(db: Knex, dialect: Dialect, schema: string): Promise<void> {
  const create = async () => {
    if (dialect === 'postgres') await db.raw('CREATE SCHEMA IF NOT EXISTS ??', [schema]);
    else if (dialect === 'mssql') {
      const st = mssqlCreateSchemaStatement(schema);
      await db.raw(st.sql, st.bindings);
    }
  };
  // Two migrate()s creating the schema at once: the loser's error is harmless once the schema exists.
  await create().catch(async (err: unknown) => {
    if (!(await schemaExists(db, dialect, schema))) throw err;
  });
}

async function schemaExists(db: Knex, dialect: Dialect, schema: string): Promise<boolean> {
  if (dialect === 'postgres') return ((await db.raw('SELECT 1 FROM pg_namespace WHERE nspname = ?', [schema])) as { rows: unknown[] }).rows.length > 0;
  if (dialect === 'mssql') return ((await db.raw('SELECT 1 AS found WHERE SCHEMA_ID(?) IS NOT NULL', [schema])) as unknown[]).length > 0;
  return true;
}

/** Creates a bookkeeping table unless it exists; a concurrent migrate() may create it first. */
async function ensureTable(db: Knex, schema: string | undefined, name: string, build: (t: Knex.CreateTableBuilder) => void): Promise<void> {
  const sb = () => withSchema(db, schema);
  if (await sb().hasTable(name)) return;
  await sb()
    .createTable(name, build)
    .catch(async (err: unknown) => {
      if (!(await sb().hasTable(name))) throw err;
    });
}
