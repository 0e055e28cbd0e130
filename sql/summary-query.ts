/**
 * The set-based SQL of the nightly summary (metrics.md §3–§7), built once for all three dialects.
 *
 * One statement reads the raw test records of the batch's window once, validates them, drops
 * exact duplicates, numbers each unit-test's attempts and aggregates to the finest grain the three
 * summary tables need (production day × product × test × machine), so only a few hundred rows, and
 * the rejected rows, reach Node.
 *
 * Every value is a bound parameter; identifiers come from validated config and are quoted here.
 */
import type { Dialect } from './dialect.js';
import { quoteIdent, quoteTable, timestampParam, timestampText } from './dialect.js';
import { rawText, validTimestamp } from './source-values.js';
import { ATTEMPT_ORDER, validAttemptCtes, type DaySlot, type SourceKinds, type ValidAttemptsInput } from './valid-attempts.js';
import type { TestRecordColumns } from '../config/schema.js';
import { SqlText, type Statement } from './statement.js';

export type { Statement } from './statement.js';

export interface PeriodBound {
  /** Index into the run's period list. */
  pid: number;
  kind: 'day' | 'week';
  /** Bounds as the source stores time, 'YYYY-MM-DD HH:MM:SS'. */
  from: string;
  to: string;
}

export type { DaySlot, SourceKinds } from './valid-attempts.js';

export interface SummaryQueryInput extends ValidAttemptsInput {
  maxAttempts: number;
  /**
   * Every production day of every ISO week the batch touches, in time order. Rows are aggregated
   * per day slot; week rows are sums of their seven slots (all counts but distinct serials add up).
   */
  slots: readonly DaySlot[];
  /** The slots that are days of the run: their rejected rows are returned. */
  reportSlots: readonly number[];
  /** The run's day and week periods, for the one count that does not add up over days (scrapped serials). */
  periods: readonly PeriodBound[];
  /** Rejected rows returned at most. */
  rejectLimit: number;
}

/** The union's text columns (t1..t6) and numbers (v1..v9). */
const TEXTS = 6;
const NUMBERS = 9;

/** A NULL that unions with text: PostgreSQL and SQL Server give a bare NULL in the first branch another type. */
function textNull(d: Dialect): string {
  return d === 'postgres' ? 'CAST(NULL AS text)' : d === 'mssql' ? 'CAST(NULL AS nvarchar(4000))' : 'NULL';
}

/** The slots a period covers, as an index range: a day is one slot, a week seven. */
function slotRange(p: PeriodBound, slots: readonly DaySlot[]): { lo: number; hi: number } {
  const lo = slots.findIndex((s) => s.from === p.from);
  const hi = slots.findIndex((s) => s.to === p.to);
  if (lo < 0 || hi < lo) throw new Error(`internal: period ${p.from}–${p.to} is not made of the batch's day slots`);
  return { lo, hi };
}

/**
 * The summary statement. Parts of its result (column `part`):
 * A attempts and C cohort per slot × product × test × machine, L loaded serials and Q rows by
 * reject reason per slot, S scrapped serials per period, R the rejected rows themselves (v1: how
 * many records read had exactly these values).
 *
 * The plan it is written for: one scan of the window (each value trimmed and parsed once), one sort
 * by (serial, test, time, machine, result) that serves the serial's product, the de-duplication and
 * the attempt numbering, and one hash aggregate to a fine grain (`fine`) that the parts roll up.
 * Rejected rows ride along (their values as read are NULL on every valid row) and leave as their own
 * groups of `fine`; nothing wide is read twice, so nothing is materialised.
 */
export function buildSummaryStatement(input: SummaryQueryInput): Statement {
  const d = input.dialect;
  const q = new SqlText();
  const m = input.maxAttempts;
  const durationKind = input.kinds.durationS;
  if (input.slots.length === 0 || input.periods.length === 0) throw new Error('internal: a summary query needs periods');

  q.add('WITH periods AS (');
  input.periods.forEach((p, i) => {
    const { lo, hi } = slotRange(p, input.slots);
    q.add(`${i ? ' UNION ALL ' : ''}SELECT CAST(? AS integer) AS pid, CAST(? AS integer) AS lo, CAST(? AS integer) AS hi`, p.pid, lo, hi);
  });
  q.add('),\n');

  validAttemptCtes(q, input);
  // Exact duplicates count once (the smallest duration kept), found on the sort the serial's product
  // used, without a GROUP BY (which PostgreSQL would hash and then sort again): a set of copies is the
  // peers of a row in its unit-test's order; its representative is its first valid row (`c`, the
  // valid rows so far, is one more than `cum` less `copies`, the valid rows before the set).
  // Rejected rows stay in the partitions but count in none of these, and travel on one by one.
  const rejectKeys = ['raw_serial', 'raw_product', 'raw_test', 'raw_machine', 'raw_tested_at', 'raw_duration_s', 'raw_result', 'error_code', 'duration_s'];
  const ok = 'reject_reason IS NULL';
  const okInt = `CASE WHEN ${ok} THEN 1 ELSE 0 END`;
  const unitOrder = 'PARTITION BY serial, test ORDER BY tested_at, machine, result';
  const unitTest = `OVER (${unitOrder} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)`;
  const copySet = 'OVER (PARTITION BY serial, test, tested_at, machine, result)';
  q.add(`dup AS (SELECT classified.*,
      SUM(${okInt}) ${unitTest} AS c,
      SUM(${okInt}) OVER (${unitOrder} RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS cum,
      SUM(${okInt}) ${copySet} AS copies,
      MIN(CASE WHEN ${ok} THEN duration_s END) ${copySet} AS min_duration_s
    FROM classified),\n`);
  // One pass over each unit-test's attempts in order (metrics.md §4): the attempt number, the PASSes
  // before it, the time of attempt 1; and whether the row is its serial's first valid record (the load).
  const serialRun = `OVER (PARTITION BY serial ORDER BY ${ATTEMPT_ORDER} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)`;
  const loadCandidate = `CASE WHEN ${ok} AND tested_at = owner_first_at THEN 1 ELSE 0 END`;
  q.add(`deduped AS (SELECT serial, test, tested_at, machine, result, reject_reason, product, slot, ${rejectKeys.map((k) => `CASE WHEN reject_reason IS NOT NULL THEN ${k} END AS r_${k}`).join(', ')},
      CASE WHEN ${ok} THEN min_duration_s END AS duration_s, CASE WHEN ${ok} THEN copies ELSE 1 END AS copies,
      SUM(${okInt}) ${unitTest} AS n,
      SUM(CASE WHEN ${ok} AND result = 'PASS' THEN 1 ELSE 0 END) ${unitTest} - CASE WHEN ${ok} AND result = 'PASS' THEN 1 ELSE 0 END AS passes_before,
      MIN(CASE WHEN ${ok} THEN tested_at END) ${unitTest} AS first_at,
      CASE WHEN ${loadCandidate} = 1 AND SUM(${loadCandidate}) ${serialRun} = 1 THEN 1 ELSE 0 END AS is_load
    FROM dup WHERE reject_reason IS NOT NULL OR c = cum - copies + 1),\n`);
  // Attempt 1's machine and slot, over the unit-test's partition (the same sort).
  const first = (x: string) => `MIN(CASE WHEN ${ok} AND tested_at = first_at THEN ${x} END) OVER (PARTITION BY serial, test)`;
  const scrap = `${ok} AND n = ? AND result = 'FAIL' AND passes_before = 0`;
  q.add(
    `attempts AS (SELECT deduped.*, CASE WHEN ${ok} THEN ${first('machine')} END AS first_machine, CASE WHEN ${ok} THEN ${first('slot')} END AS first_slot,
      CASE WHEN ${scrap} THEN 1 ELSE 0 END AS is_scrap, CASE WHEN ${scrap} THEN serial END AS scrap_serial,
      CASE WHEN reject_reason IS NOT NULL THEN tested_at END AS r_at, CASE WHEN reject_reason IS NOT NULL THEN serial END AS r_serial
    FROM deduped),\n`,
    m,
    m,
  );
  // The fine grain every part rolls up: valid attempts by (slot, product, test, machine) and by the
  // cohort's (slot, machine) of attempt 1; a scrapped unit's serial (counted once per period);
  // rejected rows by their values. Attempts after the first PASS or beyond maxAttempts are excess:
  // tests, but not yields or retests. The cohort is counted on the attempt that decides it: passed
  // on the first PASS within maxAttempts, scrapped on a FAIL as attempt maxAttempts with no PASS
  // before, retests on attempts 2..maxAttempts up to the first PASS.
  const rejectCols = rejectKeys.map((k) => `r_${k}`).join(', ');
  q.add(
    `fine AS (SELECT slot, product, test, machine, first_slot, first_machine, reject_reason, scrap_serial, r_at, r_serial, ${rejectCols},
      SUM(copies) AS records, COUNT(*) AS tests,
      SUM(CASE WHEN result = 'PASS' THEN 1 ELSE 0 END) AS passes,
      SUM(CASE WHEN result = 'FAIL' THEN 1 ELSE 0 END) AS fails,
      SUM(CASE WHEN result = 'PASS' THEN duration_s END) AS pass_s,
      COUNT(CASE WHEN result = 'PASS' THEN duration_s END) AS pass_timed,
      SUM(CASE WHEN result = 'FAIL' THEN duration_s END) AS fail_s,
      COUNT(CASE WHEN result = 'FAIL' THEN duration_s END) AS fail_timed,
      SUM(CASE WHEN n > ? OR passes_before > 0 THEN 1 ELSE 0 END) AS excess,
      SUM(copies - 1) AS extra_copies,
      SUM(CASE WHEN n = 1 THEN 1 ELSE 0 END) AS units,
      SUM(CASE WHEN n = 1 AND result = 'PASS' THEN 1 ELSE 0 END) AS first_passes,
      SUM(CASE WHEN n <= ? AND result = 'PASS' AND passes_before = 0 THEN 1 ELSE 0 END) AS passed,
      SUM(is_scrap) AS scrapped,
      SUM(CASE WHEN n >= 2 AND n <= ? AND passes_before = 0 THEN 1 ELSE 0 END) AS retests,
      SUM(is_load) AS loads
    FROM attempts
    GROUP BY slot, product, test, machine, first_slot, first_machine, reject_reason, scrap_serial, r_at, r_serial, ${rejectCols})\n`,
    m,
    m,
    m,
  );
  const noText = Array.from({ length: TEXTS }, () => 'NULL').join(', ');
  q.add(
    `SELECT 'A' AS part, slot AS k, product, test, machine, ${Array.from({ length: TEXTS }, (_, i) => `${textNull(d)} AS t${i + 1}`).join(', ')},
      SUM(tests) AS v1, SUM(passes) AS v2, SUM(fails) AS v3, SUM(pass_s) AS v4, SUM(pass_timed) AS v5,
      SUM(fail_s) AS v6, SUM(fail_timed) AS v7, SUM(excess) AS v8, SUM(extra_copies) AS v9
    FROM fine WHERE ${ok} AND slot IS NOT NULL GROUP BY slot, product, test, machine\n`,
  );
  q.add(`UNION ALL SELECT 'C', first_slot, product, test, first_machine, ${noText},
      SUM(units), SUM(first_passes), SUM(passed), SUM(scrapped), SUM(retests), NULL, NULL, NULL, NULL
    FROM fine WHERE ${ok} AND first_slot IS NOT NULL GROUP BY first_slot, product, test, first_machine\n`);
  q.add(`UNION ALL SELECT 'L', slot, product, NULL, NULL, ${noText},
      SUM(loads), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
    FROM fine WHERE ${ok} AND slot IS NOT NULL GROUP BY slot, product HAVING SUM(loads) > 0\n`);
  q.add(`UNION ALL SELECT 'S', p.pid, f.product, NULL, NULL, ${noText},
      COUNT(DISTINCT f.scrap_serial), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
    FROM fine f JOIN periods p ON f.first_slot >= p.lo AND f.first_slot <= p.hi
    WHERE f.scrap_serial IS NOT NULL GROUP BY p.pid, f.product\n`);
  // Rows read per slot by reject reason (NULL: valid); rows without a timestamp have no slot.
  q.add(`UNION ALL SELECT 'Q', slot, reject_reason, NULL, NULL, ${noText},
      SUM(records), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
    FROM fine WHERE slot IS NOT NULL OR (reject_reason IS NOT NULL AND r_at IS NULL) GROUP BY slot, reject_reason\n`);
  // The rejected rows of the run's days and those without a valid timestamp, for etl_rejects, with
  // their values as read. A conflicting_product row passed every check, so its timestamp and duration
  // are shown as parsed. Typed NULLs: PostgreSQL gives an untyped NULL in a subquery the type text,
  // which no longer unions with numbers.
  const top = d === 'mssql' ? 'TOP (?) ' : '';
  q.add(
    `UNION ALL SELECT * FROM (SELECT ${top}'R' AS part, slot AS k, COALESCE(r_raw_product, product) AS product,
      COALESCE(r_raw_test, test) AS test, COALESCE(r_raw_machine, machine) AS machine, COALESCE(r_raw_serial, r_serial) AS t1,
      reject_reason AS t2, r_raw_result AS t3, r_error_code AS t4,
      COALESCE(r_raw_tested_at, ${timestampText(d, 'r_at')}) AS t5, COALESCE(r_raw_duration_s, ${rawText(d, 'r_duration_s', durationKind)}) AS t6,
      records AS v1, ${Array.from({ length: NUMBERS - 1 }, (_, i) => `CAST(NULL AS integer) AS v${i + 2}`).join(', ')}
    FROM fine WHERE reject_reason IS NOT NULL AND (r_at IS NULL OR slot IN (`,
    ...(top ? [input.rejectLimit] : []),
  );
  const report = input.reportSlots.length ? input.reportSlots : [-1];
  q.add(report.map(() => '?').join(', '), ...report);
  q.add(`))\n    ORDER BY r_at, r_serial, test, reject_reason`);
  if (!top) q.add(' LIMIT ?', input.rejectLimit);
  q.add(') rejected');
  return { sql: q.sql, bindings: q.bindings };
}

/**
 * Rows per period (for late-data detection): what a period's `rows_read` would be now, counted on
 * the parsed timestamp as the summary counts them.
 */
export function buildRowCountStatement(input: {
  dialect: Dialect;
  table: string;
  columns: TestRecordColumns;
  kinds: SourceKinds;
  periods: readonly PeriodBound[];
}): Statement {
  const q = new SqlText();
  const d = input.dialect;
  const ts = timestampParam(d);
  const tsCol = validTimestamp(d, `s.${quoteIdent(d, input.columns.testedAt)}`, input.kinds.testedAt);
  q.add('WITH periods AS (');
  input.periods.forEach((p, i) => {
    q.add(`${i ? ' UNION ALL ' : ''}SELECT CAST(? AS integer) AS pid, ${ts} AS ps, ${ts} AS pe`, p.pid, p.from, p.to);
  });
  q.add(`), parsed AS (SELECT ${tsCol} AS tested_at FROM ${quoteTable(d, input.table)} s)
    SELECT p.pid, COUNT(*) AS n FROM parsed JOIN periods p ON parsed.tested_at >= p.ps AND parsed.tested_at < p.pe
    GROUP BY p.pid`);
  return { sql: q.sql, bindings: q.bindings };
}
