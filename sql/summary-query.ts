/**
 * The set-based SQL of the nightly summary (metrics.md §3–§7), built once for all three dialects.
 *
 * One statement reads the raw test records of the run's window, validates them, drops exact
 * duplicates, numbers each unit-test's attempts and aggregates to the finest grain the three
 * summary tables need (period × product × test × machine), so only a few hundred rows reach
 * Node. A second statement, run only when there are rejects, returns the rejected rows themselves.
 *
 * Every value is a bound parameter; identifiers come from validated config and are quoted here.
 */
import type { Dialect } from './dialect.js';
import { quoteIdent, quoteTable, timestampExpr, timestampParam, trimmedText } from './dialect.js';
import type { TestRecordColumns } from '../config/schema.js';

export interface PeriodBound {
  /** Index into the run's period list. */
  pid: number;
  kind: 'day' | 'week';
  /** Bounds as the source stores time, 'YYYY-MM-DD HH:MM:SS'. */
  from: string;
  to: string;
}

export interface SummaryQueryInput {
  dialect: Dialect;
  table: string;
  columns: TestRecordColumns;
  passSynonyms: readonly string[];
  failSynonyms: readonly string[];
  maxAttempts: number;
  periods: readonly PeriodBound[];
  /** Rows older than this are not read (they cannot change the periods' numbers within historyDays). */
  historyFrom: string;
}

export interface Statement {
  sql: string;
  bindings: (string | number)[];
}

/** Accumulates SQL text and its bindings in order. */
class SqlText {
  sql = '';
  bindings: (string | number)[] = [];
  add(text: string, ...bindings: (string | number)[]): this {
    const marks = (text.match(/\?/g) ?? []).length;
    if (marks !== bindings.length) throw new Error(`internal: ${marks} placeholders, ${bindings.length} bindings in: ${text}`);
    this.sql += text;
    this.bindings.push(...bindings);
    return this;
  }
}

/** The CTEs shared by both statements, up to `classified` (every row in the window, with its reject reason). */
function classifiedCtes(q: SqlText, input: SummaryQueryInput, withRawValues: boolean): void {
  const d = input.dialect;
  const c = (k: keyof TestRecordColumns) => `s.${quoteIdent(d, input.columns[k])}`;
  const ts = timestampParam(d);
  const tsCol = timestampExpr(d, c('testedAt'));

  if (input.periods.length === 0) throw new Error('internal: a summary query needs at least one period');
  q.add('WITH periods AS (');
  input.periods.forEach((p, i) => {
    q.add(
      `${i ? ' UNION ALL ' : ''}SELECT CAST(? AS integer) AS pid, CAST(? AS varchar(8)) AS kind, ${ts} AS ps, ${ts} AS pe`,
      p.pid,
      p.kind,
      p.from,
      p.to,
    );
  });
  q.add('),\n');

  const resultCase = (col: string) => {
    const arms = [
      ...input.passSynonyms.map((s) => ({ s, v: 'PASS' })),
      ...input.failSynonyms.map((s) => ({ s, v: 'FAIL' })),
    ];
    return {
      text: `CASE UPPER(LTRIM(RTRIM(${col}))) ${arms.map((a) => `WHEN ? THEN '${a.v}'`).join(' ')} END`,
      bindings: arms.map((a) => a.s),
    };
  };
  const result = resultCase(c('result'));
  const raw = withRawValues
    ? `, ${c('serial')} AS raw_serial, ${c('product')} AS raw_product, ${c('test')} AS raw_test, ` +
      `${c('machine')} AS raw_machine, ${c('testedAt')} AS raw_tested_at, ${c('result')} AS raw_result, ` +
      `${c('durationS')} AS raw_duration_s, ${c('errorCode')} AS raw_error_code`
    : '';
  q.add(
    'src AS (SELECT ' +
      `${trimmedText(c('serial'))} AS serial, ${trimmedText(c('product'))} AS product, ` +
      `${trimmedText(c('test'))} AS test, ${trimmedText(c('machine'))} AS machine, ` +
      `${tsCol} AS tested_at, `,
  );
  q.add(`${result.text} AS result, `, ...result.bindings);
  q.add(`${c('durationS')} AS duration_s${raw} FROM ${quoteTable(d, input.table)} s `);
  q.add(`WHERE ${tsCol} >= ${ts} OR ${tsCol} IS NULL),\n`, input.historyFrom);

  // Reasons 1–7 of metrics.md §3, the first that applies.
  q.add(
    `checked AS (SELECT src.*, CASE
      WHEN serial IS NULL THEN 'missing_serial'
      WHEN product IS NULL THEN 'missing_product'
      WHEN test IS NULL THEN 'missing_test'
      WHEN machine IS NULL THEN 'missing_machine'
      WHEN tested_at IS NULL THEN 'missing_timestamp'
      WHEN result IS NULL THEN 'bad_result'
      WHEN duration_s < 0 THEN 'negative_duration'
    END AS reason FROM src),\n`,
  );
  // A serial's product is the product of its earliest valid row, ties broken by the smaller name.
  // Grouped aggregates rather than a window: a hash aggregate is cheaper than another sort.
  q.add(
    `serial_first AS (SELECT serial, MIN(tested_at) AS first_at FROM checked WHERE reason IS NULL GROUP BY serial),
    serial_product AS (SELECT c.serial, f.first_at, MIN(c.product) AS product
      FROM checked c JOIN serial_first f ON c.serial = f.serial AND c.tested_at = f.first_at
      WHERE c.reason IS NULL GROUP BY c.serial, f.first_at),
    classified AS (SELECT c.*, CASE WHEN c.reason IS NOT NULL THEN c.reason
        WHEN c.product <> sp.product THEN 'conflicting_product' END AS reject_reason
      FROM checked c LEFT JOIN serial_product sp ON sp.serial = c.serial)`,
  );
}

/** The fine-grain aggregate statement. Its rows are read by `etl/summary-rows.ts`. */
export function buildSummaryStatement(input: SummaryQueryInput): Statement {
  const q = new SqlText();
  const m = input.maxAttempts;
  classifiedCtes(q, input, false);
  q.add(`,
    deduped AS (SELECT serial, product, test, machine, tested_at, result,
        MIN(duration_s) AS duration_s, COUNT(*) AS copies
      FROM classified WHERE reject_reason IS NULL
      GROUP BY serial, product, test, machine, tested_at, result),
    numbered AS (SELECT d.*,
        ROW_NUMBER() OVER (PARTITION BY serial, test ORDER BY tested_at, machine, result) AS n
      FROM deduped d),
    attempts AS (SELECT x.*,
        MIN(CASE WHEN result = 'PASS' THEN n END) OVER (PARTITION BY serial, test) AS first_pass_n,
        COUNT(*) OVER (PARTITION BY serial, test) AS attempt_count
      FROM numbered x),\n`);
  // One row per unit-test, on its attempt 1 (metrics.md §4).
  q.add(
    `unit_tests AS (SELECT serial, product, test, machine, tested_at,
        CASE WHEN first_pass_n = 1 THEN 1 ELSE 0 END AS first_pass,
        CASE WHEN first_pass_n <= ? THEN 1 ELSE 0 END AS passed,
        CASE WHEN (first_pass_n IS NULL OR first_pass_n > ?) AND attempt_count >= ? THEN 1 ELSE 0 END AS scrapped,
        CASE WHEN COALESCE(first_pass_n, attempt_count) < ? THEN COALESCE(first_pass_n, attempt_count) ELSE ? END - 1 AS retests
      FROM attempts WHERE n = 1)\n`,
    m,
    m,
    m,
    m,
    m,
  );
  const inPeriod = (col: string) => `JOIN periods p ON ${col} >= p.ps AND ${col} < p.pe`;
  q.add(
    `SELECT 'A' AS part, p.pid, a.product, a.test, a.machine,
      COUNT(*) AS v1,
      SUM(CASE WHEN a.result = 'PASS' THEN 1 ELSE 0 END) AS v2,
      SUM(CASE WHEN a.result = 'FAIL' THEN 1 ELSE 0 END) AS v3,
      SUM(CASE WHEN a.result = 'PASS' THEN a.duration_s END) AS v4,
      COUNT(CASE WHEN a.result = 'PASS' THEN a.duration_s END) AS v5,
      SUM(CASE WHEN a.result = 'FAIL' THEN a.duration_s END) AS v6,
      COUNT(CASE WHEN a.result = 'FAIL' THEN a.duration_s END) AS v7,
      SUM(CASE WHEN a.n > ? OR a.n > a.first_pass_n THEN 1 ELSE 0 END) AS v8,
      SUM(a.copies - 1) AS v9
    FROM attempts a ${inPeriod('a.tested_at')}
    GROUP BY p.pid, a.product, a.test, a.machine\n`,
    m,
  );
  q.add(`UNION ALL SELECT 'C', p.pid, u.product, u.test, u.machine,
      COUNT(*), SUM(u.first_pass), SUM(u.passed), SUM(u.scrapped), SUM(u.retests), NULL, NULL, NULL, NULL
    FROM unit_tests u ${inPeriod('u.tested_at')}
    GROUP BY p.pid, u.product, u.test, u.machine\n`);
  q.add(`UNION ALL SELECT 'L', p.pid, sp.product, NULL, NULL,
      COUNT(*), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
    FROM serial_product sp ${inPeriod('sp.first_at')}
    GROUP BY p.pid, sp.product\n`);
  q.add(`UNION ALL SELECT 'S', p.pid, u.product, NULL, NULL,
      COUNT(DISTINCT u.serial), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
    FROM unit_tests u ${inPeriod('u.tested_at')}
    WHERE u.scrapped = 1
    GROUP BY p.pid, u.product\n`);
  // Rows read per period by reject reason (NULL: valid); rows without a timestamp have no period.
  q.add(`UNION ALL SELECT 'Q', p.pid, c.reject_reason, NULL, NULL,
      COUNT(*), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
    FROM classified c LEFT JOIN periods p ON c.tested_at >= p.ps AND c.tested_at < p.pe
    WHERE p.pid IS NOT NULL OR c.tested_at IS NULL
    GROUP BY p.pid, c.reject_reason`);
  return { sql: q.sql, bindings: q.bindings };
}

/** The rejected rows of the run's days (and rows without a timestamp), at most `limit`. */
export function buildRejectsStatement(input: SummaryQueryInput, limit: number): Statement {
  const q = new SqlText();
  classifiedCtes(q, input, true);
  const top = input.dialect === 'mssql' ? 'TOP (?) ' : '';
  const cols = `${top}p.pid, c.reject_reason, c.raw_serial, c.raw_product, c.raw_test, c.raw_machine,
      c.raw_tested_at, c.raw_result, c.raw_duration_s, c.raw_error_code`;
  q.add(`\nSELECT ${cols}`, ...(top ? [limit] : []));
  q.add(`
    FROM classified c LEFT JOIN periods p ON p.kind = 'day' AND c.tested_at >= p.ps AND c.tested_at < p.pe
    WHERE c.reject_reason IS NOT NULL AND (p.pid IS NOT NULL OR c.tested_at IS NULL)
    ORDER BY c.tested_at, c.serial, c.test, c.reject_reason`);
  if (!top) q.add(' LIMIT ?', limit);
  return { sql: q.sql, bindings: q.bindings };
}

/** Raw rows per period (for late-data detection): what a period's `rows_read` would be now. */
export function buildRowCountStatement(input: Pick<SummaryQueryInput, 'dialect' | 'table' | 'columns' | 'periods'>): Statement {
  const q = new SqlText();
  const d = input.dialect;
  const ts = timestampParam(d);
  const tsCol = timestampExpr(d, `s.${quoteIdent(d, input.columns.testedAt)}`);
  q.add('WITH periods AS (');
  input.periods.forEach((p, i) => {
    q.add(`${i ? ' UNION ALL ' : ''}SELECT CAST(? AS integer) AS pid, ${ts} AS ps, ${ts} AS pe`, p.pid, p.from, p.to);
  });
  q.add(`)
    SELECT p.pid, COUNT(*) AS n FROM ${quoteTable(d, input.table)} s JOIN periods p ON ${tsCol} >= p.ps AND ${tsCol} < p.pe
    GROUP BY p.pid`);
  return { sql: q.sql, bindings: q.bindings };
}
