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
import { DEDUPED_AGGREGATES, DEDUPED_COLUMNS, mayFallIn, ownersByAggregate, slotOf, subqueryFence, validAttemptCtes, type DaySlot, type SourceKinds, type ValidAttemptsInput } from './valid-attempts.js';
import type { TestRecordColumns } from '../config/schema.js';
import { SqlText, type Statement } from './statement.js';

export type { Statement } from './statement.js';

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
  /** Rejected rows returned at most. */
  rejectLimit: number;
}

/** The union's text columns (t1..t6) and numbers (v1..v15). */
const TEXTS = 6;
const NUMBERS = 15;

/** A NULL that unions with text: PostgreSQL and SQL Server give a bare NULL in the first branch another type. */
function textNull(d: Dialect): string {
  return d === 'postgres' ? 'CAST(NULL AS text)' : d === 'mssql' ? 'CAST(NULL AS nvarchar(4000))' : 'NULL';
}

/**
 * The summary statement. Parts of its result (column `part`):
 * F the attempts per slot × product × test × machine × attempt 1's slot and machine (and scrapped
 * serial), L loaded serials and Q rejected rows by reason per slot, R the rejected rows themselves.
 */
export function buildSummaryStatement(input: SummaryQueryInput): Statement {
  const d = input.dialect;
  const q = new SqlText();
  const m = input.maxAttempts;
  const durationKind = input.kinds.durationS;
  if (input.slots.length === 0) throw new Error('internal: a summary query needs day slots');

  q.add('WITH ');
  validAttemptCtes(q, input);
  // PostgreSQL and SQLite: the rejected rows (the rare ones) from `checked` and the mixed serials'
  // owners, so that `classified` has one reader, the de-duplication, and is not materialised: on
  // PostgreSQL at a 2 M-record day that copy of every row was 178 MB of temp files. SQL Server reads
  // `classified`.
  const rejected = ownersByAggregate(d) ? 'rejected_rows' : 'classified';
  if (ownersByAggregate(d)) {
    q.add(`rejected_rows AS (SELECT checked.*, CASE WHEN checked.reason IS NOT NULL THEN checked.reason ELSE 'conflicting_product' END AS reject_reason
    FROM checked LEFT JOIN mixed ON mixed.serial = checked.serial
    WHERE checked.reason IS NOT NULL OR checked.product <> mixed.owner_product),\n`);
  }
  // One pass over each unit-test's attempts in order (metrics.md §4) gives everything: the attempt
  // number, how many PASSes came before it, and its attempt 1 (slot and machine: the cohort).
  // One window (the same frame for every function), so the database computes them in one pass
  // over one sort: PostgreSQL runs a separate window step per distinct frame. The attempt number is
  // the running count (SQL Server allows no frame on ROW_NUMBER); PASSes before an attempt are the
  // running count of PASSes up to it, less its own.
  // SQLite numbers the attempts in the select that drops the duplicates: its windows then read the
  // GROUP BY's sorted output, where over the `deduped` CTE it sorts every attempt again (its query
  // plan: one "USE TEMP B-TREE" fewer). It skips that sort only when the window's order is the whole
  // GROUP BY key: product and slot follow from serial and time, so they change no order.
  // PostgreSQL already runs the window on the sorted groups.
  const fused = d === 'sqlite';
  const unitTest = `OVER (PARTITION BY serial, test ORDER BY tested_at, machine, result${fused ? ', product, slot' : ''} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)`;
  q.add(`attempts AS (SELECT ${fused ? `${DEDUPED_COLUMNS}, ${DEDUPED_AGGREGATES}` : 'deduped.*'},
      COUNT(*) ${unitTest} AS n,
      SUM(CASE WHEN result = 'PASS' THEN 1 ELSE 0 END) ${unitTest} - CASE WHEN result = 'PASS' THEN 1 ELSE 0 END AS passes_before,
      FIRST_VALUE(slot) ${unitTest} AS first_slot,
      FIRST_VALUE(machine) ${unitTest} AS first_machine
    FROM ${fused ? `classified WHERE reject_reason IS NULL GROUP BY ${DEDUPED_COLUMNS}` : 'deduped'})\n`);
  const noText = Array.from({ length: TEXTS }, () => 'NULL').join(', ');
  const noNumbers = (from: number) => Array.from({ length: NUMBERS - from + 1 }, () => 'NULL').join(', ');
  // F: every attempt counted once, at the grain both of its own slot and machine (the attempt
  // counts) and of its attempt 1's slot and machine (the cohort, metrics.md §5): one aggregate over
  // the attempts, read as they come from the window, where three aggregates over a materialised
  // copy of every attempt cost a third of the statement. Node rolls it up both ways. Almost every
  // unit-test's attempts share one slot and machine, so there are hardly more groups than either
  // grain has. A scrapped attempt carries its serial: scrapped serials are distinct per period.
  // Attempts after the first PASS or beyond maxAttempts are excess: tests, but not yields or retests.
  // The cohort is counted on the attempt that decides it: passed on the first PASS within
  // maxAttempts, scrapped on a FAIL as attempt maxAttempts with no PASS before, retests on attempts
  // 2..maxAttempts up to the first PASS.
  q.add(
    `SELECT 'F' AS part, slot AS k, product, test, machine, first_machine AS t1, scrapped_serial AS t2, ${Array.from({ length: TEXTS - 2 }, (_, i) => `${textNull(d)} AS t${i + 3}`).join(', ')},
      COUNT(*) AS v1,
      SUM(CASE WHEN result = 'PASS' THEN 1 ELSE 0 END) AS v2,
      SUM(CASE WHEN result = 'FAIL' THEN 1 ELSE 0 END) AS v3,
      SUM(CASE WHEN result = 'PASS' THEN duration_s END) AS v4,
      COUNT(CASE WHEN result = 'PASS' THEN duration_s END) AS v5,
      SUM(CASE WHEN result = 'FAIL' THEN duration_s END) AS v6,
      COUNT(CASE WHEN result = 'FAIL' THEN duration_s END) AS v7,
      SUM(CASE WHEN n > ? OR passes_before > 0 THEN 1 ELSE 0 END) AS v8,
      SUM(copies - 1) AS v9,
      first_slot AS v10,
      SUM(CASE WHEN n = 1 THEN 1 ELSE 0 END) AS v11,
      SUM(CASE WHEN n = 1 AND result = 'PASS' THEN 1 ELSE 0 END) AS v12,
      SUM(CASE WHEN n <= ? AND result = 'PASS' AND passes_before = 0 THEN 1 ELSE 0 END) AS v13,
      SUM(CASE WHEN scrapped_serial IS NOT NULL THEN 1 ELSE 0 END) AS v14,
      SUM(CASE WHEN n >= 2 AND n <= ? AND passes_before = 0 THEN 1 ELSE 0 END) AS v15
    FROM (SELECT attempts.*, CASE WHEN n = ? AND result = 'FAIL' AND passes_before = 0 THEN serial END AS scrapped_serial FROM attempts) a
    WHERE slot IS NOT NULL OR first_slot IS NOT NULL
    GROUP BY slot, product, test, machine, first_slot, first_machine, scrapped_serial\n`,
    m,
    m,
    m,
    m,
  );
  // Loaded serials: the slot of each serial's first valid record, under its product.
  if (ownersByAggregate(d)) {
    q.add(`UNION ALL SELECT 'L', slot, owner_product, NULL, NULL, ${noText},
      COUNT(*), ${noNumbers(2)}
    FROM (SELECT owner_product, `);
    slotOf(d, 'owner_first_at', input.slots, q);
    q.add(' AS slot FROM owners) o WHERE slot IS NOT NULL GROUP BY slot, owner_product\n');
  } else {
    q.add(`UNION ALL SELECT 'L', slot, product, NULL, NULL, ${noText},
      COUNT(DISTINCT serial), ${noNumbers(2)}
    FROM classified WHERE reject_reason IS NULL AND slot IS NOT NULL AND tested_at = owner_first_at
    GROUP BY slot, product\n`);
  }
  // Rejected rows per slot by reason (the valid ones are the F rows' attempts and copies); rows
  // without a timestamp have no slot.
  q.add(`UNION ALL SELECT 'Q', slot, reject_reason, NULL, NULL, ${noText},
      COUNT(*), ${noNumbers(2)}
    FROM ${rejected} WHERE reject_reason IS NOT NULL AND (slot IS NOT NULL OR tested_at IS NULL) GROUP BY slot, reject_reason\n`);
  // The rejected rows of the run's days and those without a valid timestamp, for etl_rejects, with
  // their values as read. A conflicting_product row passed every check, so its timestamp and duration
  // are shown as parsed. Typed NULLs: PostgreSQL gives an untyped NULL in a subquery the type text,
  // which no longer unions with numbers.
  const top = d === 'mssql' ? 'TOP (?) ' : '';
  q.add(
    `UNION ALL SELECT * FROM (SELECT ${top}'R' AS part, slot AS k, COALESCE(raw_product, product) AS product,
      COALESCE(raw_test, test) AS test, COALESCE(raw_machine, machine) AS machine, COALESCE(raw_serial, serial) AS t1,
      reject_reason AS t2, raw_result AS t3, error_code AS t4,
      COALESCE(raw_tested_at, ${timestampText(d, 'tested_at')}) AS t5, COALESCE(raw_duration_s, ${rawText(d, 'duration_s', durationKind)}) AS t6,
      ${Array.from({ length: NUMBERS }, (_, i) => `CAST(NULL AS integer) AS v${i + 1}`).join(', ')}
    FROM ${rejected} WHERE reject_reason IS NOT NULL AND (tested_at IS NULL OR slot IN (`,
    ...(top ? [input.rejectLimit] : []),
  );
  const report = input.reportSlots.length ? input.reportSlots : [-1];
  q.add(report.map(() => '?').join(', '), ...report);
  q.add(`))\n    ORDER BY tested_at, serial, test, reject_reason`);
  if (!top) q.add(' LIMIT ?', input.rejectLimit);
  q.add(') rejected');
  return { sql: q.sql, bindings: q.bindings };
}

/**
 * Records per day slot (for late-data detection): what a day's `rows_read` would be now, counted on
 * the parsed timestamp as the summary counts them, of the rows the raw column allows in the slots'
 * range (an index on it serves): each row's timestamp parsed once and its slot found by search.
 */
export function buildRowCountStatement(input: {
  dialect: Dialect;
  table: string;
  columns: TestRecordColumns;
  kinds: SourceKinds;
  /** Consecutive production days. */
  slots: readonly DaySlot[];
}): Statement {
  const q = new SqlText();
  const d = input.dialect;
  const raw = `s.${quoteIdent(d, input.columns.testedAt)}`;
  const fence = subqueryFence(d);
  q.add('SELECT slot, COUNT(*) AS n FROM (SELECT ');
  slotOf(d, 'tested_at', input.slots, q);
  q.add(` AS slot FROM (SELECT ${validTimestamp(d, raw, input.kinds.testedAt)} AS tested_at FROM ${quoteTable(d, input.table)} s`);
  const where = new SqlText();
  if (mayFallIn(d, raw, input.kinds.testedAt, where, { from: input.slots[0]!.from, to: input.slots[input.slots.length - 1]!.to })) {
    q.add(` WHERE ${where.sql}`, ...where.bindings);
  }
  q.add(`${fence}) p) c WHERE slot IS NOT NULL GROUP BY slot`);
  return { sql: q.sql, bindings: q.bindings };
}
