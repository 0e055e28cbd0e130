/**
 * The columns the reports show: header text, cell type and the meaning in plain words, taken from
 * the metrics contract (shared/spec/metrics.md §5–§8). The workbook's detail sheets, its Definitions
 * sheet and the tests all read this one list, so a header, its number format and its explanation
 * cannot drift apart.
 */

/** How a value is written: the cell type and number format follow from it. */
export type CellKind = 'text' | 'count' | 'rate' | 'seconds' | 'date' | 'datetime' | 'id';

export interface ColumnDef {
  /** The database column (or the key of the row object). */
  key: string;
  header: string;
  kind: CellKind;
  /** Excel column width in characters; at least 10, because exceljs leaves out a width of 9 (its default). */
  width: number;
  meaning: string;
}

/** Excel number formats per kind; `text` cells have none. */
export const NUMBER_FORMATS: Record<CellKind, string | undefined> = {
  text: undefined,
  count: '#,##0',
  rate: '0.00%',
  seconds: '0.00',
  date: 'yyyy-mm-dd',
  datetime: 'yyyy-mm-dd hh:mm:ss',
  id: '0',
};

const c = (key: string, header: string, kind: CellKind, width: number, meaning: string): ColumnDef => ({ key, header, kind, width, meaning });

const PERIOD = [
  c('period_type', 'Period', 'text', 10, '"day": the production day of the report. "week": the ISO week that contains it, as the nightly summary last computed it (the morning after the day, that is the week to date).'),
  c('period_label', 'Label', 'text', 11, 'The day (2026-11-20) or the ISO week with its ISO week-year (2026-W47).'),
  c('period_start', 'Start', 'date', 11, 'The local date of the day, or the Monday of the week. A production day runs from the configured day start to the next day\'s day start, plant time (23 or 25 hours on DST change days).'),
];

const ATTEMPTS = [
  c('test_count', 'Tests', 'count', 10, 'Valid test attempts whose timestamp falls in the period, whatever the unit; attempts beyond the allowed retests (excess attempts) included.'),
  c('pass_count', 'Passes', 'count', 10, 'Of those attempts, the ones that passed.'),
  c('fail_count', 'Fails', 'count', 10, 'Of those attempts, the ones that failed.'),
  c('passing_rate', 'Passing rate', 'rate', 11, 'Passes / Tests. Empty when there were no tests.'),
];

const COHORT = [
  c('units_tested', 'Units tested', 'count', 11, 'Unit-tests (one serial at one test step) whose first attempt falls in the period: the period\'s cohort, wherever its retests land.'),
  c('first_pass_units', 'First-pass units', 'count', 11, 'Of the cohort, unit-tests whose first attempt passed.'),
  c('passed_units', 'Passed units', 'count', 11, 'Of the cohort, unit-tests that passed within the allowed attempts (yield.maxAttempts: one test and the allowed retests).'),
  c('scrapped_units', 'Scrapped units', 'count', 11, 'Of the cohort, unit-tests whose allowed attempts all exist and all failed.'),
  c('pending_units', 'Pending units', 'count', 11, 'Of the cohort, unit-tests neither passed nor scrapped yet: a retest may still come, and the nightly run recomputes the period until none are pending.'),
];

const YIELDS = [
  c('first_pass_yield', 'First-pass yield', 'rate', 11, 'First-pass units / Units tested. Empty when the cohort is empty.'),
  c('cumulative_yield', 'Cumulative yield', 'rate', 11, 'Passed units / Units tested: the yield after retests. It can still rise after the day when retests of pending units pass.'),
  c('retest_count', 'Retests', 'count', 10, 'Attempts 2 up to the allowed maximum of the cohort\'s unit-tests, up to the first pass.'),
];

const DURATIONS = [
  c('avg_duration_pass_s', 'Avg pass time (s)', 'seconds', 11, 'Mean test duration in seconds of the period\'s passing attempts that have a duration. Empty when none.'),
  c('avg_duration_fail_s', 'Avg fail time (s)', 'seconds', 11, 'Mean test duration in seconds of the period\'s failing attempts that have a duration. Empty when none.'),
];

const RUN = [
  c('run_id', 'Summary run', 'id', 10, 'The nightly-summary run (etl_runs.id) that wrote the row.'),
  c('computed_at', 'Computed at', 'datetime', 19, 'When that run wrote the row, plant time.'),
];

export const PROD_COLUMNS: ColumnDef[] = [
  ...PERIOD,
  c('product', 'Product', 'text', 16, 'Product family.'),
  c('load_qty', 'Load qty', 'count', 10, 'Serials of the product whose first valid attempt at any test falls in the period: units loaded into test.'),
  ...ATTEMPTS,
  ...COHORT.map((col) => ({ ...col, meaning: `${col.meaning} Summed over the product's tests.` })),
  c('rolled_first_pass_yield', 'Rolled first-pass yield', 'rate', 12, 'The product over the product\'s tests of their first-pass yields in the period (rolled throughput yield): the share of units expected through every test step at the first attempt. Tests without a yield are left out; empty when all are.'),
  c('rolled_cumulative_yield', 'Rolled cumulative yield', 'rate', 12, 'The same product of the tests\' cumulative yields: the share expected through every step within the allowed retests.'),
  c('scrapped_serials', 'Scrapped serials', 'count', 10, 'Distinct serials with at least one scrapped unit-test in the cohort.'),
  ...DURATIONS,
  ...RUN,
];

export const PROD_TEST_COLUMNS: ColumnDef[] = [
  ...PERIOD,
  c('product', 'Product', 'text', 16, 'Product family.'),
  c('test', 'Test', 'text', 14, 'Test step.'),
  ...ATTEMPTS,
  ...COHORT,
  ...YIELDS,
  ...DURATIONS,
  ...RUN,
];

const ON_MACHINE = ' Attempt counts use the station of each attempt; the cohort columns count each unit-test on the station of its first attempt.';

export const MACHINE_COLUMNS: ColumnDef[] = [
  ...PERIOD,
  c('machine', 'Machine', 'text', 14, `Test station.${ON_MACHINE}`),
  ...ATTEMPTS,
  ...COHORT.map((col) => ({ ...col, meaning: `${col.meaning} Counted on the station of the first attempt.` })),
  ...YIELDS.map((col) => ({ ...col, meaning: `${col.meaning} Counted on the station of the first attempt.` })),
  ...DURATIONS,
  ...RUN,
];

export const REJECT_COLUMNS: ColumnDef[] = [
  c('reason', 'Reason', 'text', 20, 'Why the record was rejected: the first that applies of missing_serial, missing_product, missing_test, missing_machine, missing_timestamp, bad_result (not PASS/FAIL after trimming, upper-casing and synonyms), negative_duration, conflicting_product (the serial\'s product is that of its earliest valid record). Rejected records are left out of every number.'),
  c('serial', 'Serial', 'text', 14, 'The record\'s serial as stored in the source.'),
  c('product', 'Product', 'text', 16, 'The record\'s product as stored.'),
  c('test', 'Test', 'text', 14, 'The record\'s test step as stored.'),
  c('machine', 'Machine', 'text', 14, 'The record\'s station as stored.'),
  c('tested_at', 'Tested at', 'text', 20, 'The record\'s timestamp as stored in the source (text, as the source holds it).'),
  c('result', 'Result', 'text', 10, 'The record\'s result as stored.'),
  c('duration_s', 'Duration (s)', 'seconds', 11, 'The record\'s duration in seconds as stored (text when the source held something else than a number).'),
  c('error_code', 'Error code', 'text', 11, 'The record\'s error code as stored.'),
  c('source_table', 'Source table', 'text', 18, 'The source table the record came from.'),
  c('run_id', 'Summary run', 'id', 10, 'The nightly-summary run that found the record.'),
];

/** What the Overview shows beyond the summary columns, in the words of the README's report section. */
export const OVERVIEW_TERMS: { term: string; meaning: string }[] = [
  { term: 'Load qty', meaning: 'summary_prod load_qty: serials whose first valid attempt at any test falls in the day. All products: the sum.' },
  { term: 'Tests', meaning: 'summary_prod test_count: valid attempts in the day. All products: the sum.' },
  { term: 'First-pass yield', meaning: 'Of a product: its rolled first-pass yield (summary_prod rolled_first_pass_yield). All products: the mean of the products\' rolled first-pass yields weighted by their units tested (the cohort the yields describe).' },
  { term: 'Cumulative yield', meaning: 'Of a product: its rolled cumulative yield (summary_prod rolled_cumulative_yield). All products: the mean of the products\' rolled cumulative yields weighted by their units tested.' },
  { term: 'Previous day', meaning: 'The latest day before the report\'s day that has summary rows (within 30 days), so a Monday compares with the last working day.' },
  { term: '7-day avg', meaning: 'Over the 7 days before the report\'s day that have summary rows: counts are the mean per day; yields are the days\' yields weighted by their units tested.' },
  { term: 'Target', meaning: 'reports.dailyYield.targets in the configuration. A yield below it is shown in red.' },
  { term: 'Δ', meaning: 'The day\'s value minus the compared value; for yields in percentage points (shown with a % sign), red when negative.' },
  { term: 'Worst stations', meaning: 'summary_machine rows of the day by first-pass yield, lowest first (ties: more units tested first); stations with fewer unit-tests than reports.dailyYield.worstStationsMinUnits are not ranked.' },
  { term: 'Pareto chart', meaning: 'First-pass failures per station (units tested − first-pass units: unit-tests whose first attempt failed), most first, with their running share of the day\'s total.' },
  { term: 'Data quality', meaning: 'From etl_periods and etl_rejects for the day: records read, valid (before duplicates are dropped), rejected by reason, exact duplicates dropped, excess attempts (attempts after the first pass or beyond yield.maxAttempts: a process violation), pending units. Rejects by reason count the stored rejects (etl.maxRejectsStored).' },
  { term: 'Week rows', meaning: 'The summary\'s ISO-week rows for the week of the report\'s day, as the last nightly run computed them: on the morning after the day, the week to date.' },
];
