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
import {
  finiteNumber,
  isPresent,
  MAX_TEXT_LENGTH,
  rawText,
  textLength,
  TIME_RANGE,
  trimmedText,
  validTimestamp,
  type NumberKind,
  type TimeKind,
} from './source-values.js';
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

/** One production day of the batch, as the source stores time. */
export interface DaySlot {
  from: string;
  to: string;
}

export interface SummaryQueryInput {
  dialect: Dialect;
  table: string;
  columns: TestRecordColumns;
  /** How the source's timestamp and duration columns store values (their declared types). */
  kinds: SourceKinds;
  passSynonyms: readonly string[];
  failSynonyms: readonly string[];
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
  /** Rows older than this are not read (see yield.historyDays). */
  historyFrom: string;
  /** Rejected rows returned at most. */
  rejectLimit: number;
}

export interface SourceKinds {
  testedAt: TimeKind;
  durationS: NumberKind;
}

/** The union's text columns (t1..t6) and numbers (v1..v9). */
const TEXTS = 6;
const NUMBERS = 9;

/** A NULL that unions with text: PostgreSQL and SQL Server give a bare NULL in the first branch another type. */
function textNull(d: Dialect): string {
  return d === 'postgres' ? 'CAST(NULL AS text)' : d === 'mssql' ? 'CAST(NULL AS nvarchar(4000))' : 'NULL';
}

/**
 * The rows the batch reads: every row from the batch's first day on (later retests included), every
 * row without a timestamp or dated before 1970 (all of them rejected), and, of the history before
 * the batch (yield.historyDays), only the rows of serials that occur in the batch: only those
 * serials' earlier attempts, first records and products matter to the batch's numbers.
 *
 * The time conditions are on the raw timestamp column where an index can serve them: a native
 * timestamp, or SQLite's text, which sorts every accepted form at or after its date and every blank,
 * numeric or malformed value outside [1970, batch); on text columns of the other dialects they are
 * on the parsed value.
 */
function windowFilter(
  d: Dialect,
  row: (alias: string) => { raw: string; parsed: string; serial: string },
  table: string,
  kind: TimeKind,
  q: SqlText,
  range: { historyFrom: string; from: string; to: string },
): void {
  const ts = timestampParam(d);
  const s = row('s');
  const h = row('h');
  const batchSerials = (cond: string) => `${s.serial} IN (SELECT ${h.serial} FROM ${table} h WHERE ${cond})`;
  if (kind === 'text') {
    q.add(`WHERE ${s.parsed} >= ${ts} OR ${s.parsed} IS NULL`, range.from);
    q.add(` OR (${s.parsed} >= ${ts} AND ${batchSerials(`${h.parsed} >= ${ts} AND ${h.parsed} < ${ts}`)})`, range.historyFrom, range.from, range.to);
    return;
  }
  const lowest = kind === 'native' ? (d === 'postgres' ? `CAST('${TIME_RANGE.from}' AS timestamp)` : `CAST('${TIME_RANGE.from}' AS datetime2(3))`) : `'1970-01-01'`;
  // SQLite's text compares by its date: a few rows of the day before more are read, never fewer.
  const bound = (v: string) => (kind === 'native' ? v : v.slice(0, 10));
  const p = kind === 'native' ? ts : '?';
  q.add(`WHERE ${s.raw} >= ${p} OR ${s.raw} < ${lowest} OR ${s.raw} IS NULL`, bound(range.from));
  q.add(
    ` OR (${s.raw} >= ${p} AND ${batchSerials(`${h.raw} >= ${p} AND ${h.raw} < ${p}`)})`,
    bound(range.historyFrom),
    bound(range.from),
    kind === 'native' ? range.to : nextDate(range.to.slice(0, 10)),
  );
}

/** 'YYYY-MM-DD' + 1 day. */
function nextDate(day: string): string {
  const t = new Date(`${day}T00:00:00Z`);
  t.setUTCDate(t.getUTCDate() + 1);
  return t.toISOString().slice(0, 10);
}

const KEY_COLUMNS = ['serial', 'product', 'test', 'machine'] as const;

/** Reasons 1–9 of metrics.md §3, the first that applies, over the columns of `read`'s row. */
function reasonOf(d: Dialect, q: SqlText): void {
  const tooLong = KEY_COLUMNS.map((k) => `${textLength(d, k)} > ${MAX_TEXT_LENGTH}`).join(' OR ');
  q.add(`CASE WHEN serial IS NULL THEN 'missing_serial' WHEN product IS NULL THEN 'missing_product'
      WHEN test IS NULL THEN 'missing_test' WHEN machine IS NULL THEN 'missing_machine'
      WHEN ${tooLong} THEN 'value_too_long'
      WHEN ts_present = 0 THEN 'missing_timestamp' WHEN tested_at IS NULL THEN 'bad_timestamp'
      WHEN result IS NULL THEN 'bad_result'
      WHEN dur_present = 1 AND duration_s IS NULL THEN 'bad_duration' WHEN duration_s < 0 THEN 'negative_duration' END`);
}

/**
 * The day slot of a timestamp: a binary search over the slots' bounds, so each row compares its
 * timestamp a handful of times instead of once per day of the batch. NULL outside the slots.
 */
function slotOf(d: Dialect, ts: string, slots: readonly DaySlot[], q: SqlText): void {
  const p = timestampParam(d);
  const search = (lo: number, hi: number): void => {
    if (lo === hi) {
      q.add(String(lo));
      return;
    }
    const mid = (lo + hi) >> 1;
    q.add(`CASE WHEN ${ts} < ${p} THEN `, slots[mid]!.to);
    search(lo, mid);
    q.add(' ELSE ');
    search(mid + 1, hi);
    q.add(' END');
  };
  q.add(`CASE WHEN ${ts} >= ${p} AND ${ts} < ${p} THEN `, slots[0]!.from, slots[slots.length - 1]!.to);
  search(0, slots.length - 1);
  q.add(' END');
}

/**
 * The summary statement. Parts of its result (column `part`):
 * A attempts and C cohort per slot × product × test × machine, L loaded serials and Q rows by
 * reject reason per slot, S scrapped serials per period, R the rejected rows themselves.
 */
export function buildSummaryStatement(input: SummaryQueryInput): Statement {
  const d = input.dialect;
  const q = new SqlText();
  const raw = (k: keyof TestRecordColumns) => {
    const col = input.columns[k];
    return col ? `s.${quoteIdent(d, col)}` : 'NULL';
  };
  const ts = timestampParam(d);
  const m = input.maxAttempts;
  const { testedAt: timeKind, durationS: durationKind } = input.kinds;
  if (input.slots.length === 0 || input.periods.length === 0) throw new Error('internal: a summary query needs periods');

  q.add('WITH periods AS (');
  input.periods.forEach((p, i) => {
    q.add(`${i ? ' UNION ALL ' : ''}SELECT CAST(? AS integer) AS pid, ${ts} AS ps, ${ts} AS pe`, p.pid, p.from, p.to);
  });
  q.add('),\n');

  // read: every source row of the window, its values trimmed, parsed and checked once (metrics.md §3).
  const key = KEY_COLUMNS;
  const parsedTime = validTimestamp(d, raw('testedAt'), timeKind);
  // SQLite and PostgreSQL inline a CTE read once, and would then trim and parse each row's values
  // again for every reference below (the reasons, the day slot's comparisons): materialised, they
  // are computed once and read as plain columns. SQL Server has no such hint.
  const materialized = d === 'mssql' ? '' : 'MATERIALIZED ';
  q.add(`read AS ${materialized}(SELECT n.*, `);
  reasonOf(d, q);
  q.add(' AS reason FROM (SELECT ');
  for (const k of key) q.add(`${trimmedText(d, raw(k))} AS ${k}, ${raw(k)} AS raw_${k}, `);
  q.add(`${parsedTime} AS tested_at, CASE WHEN ${isPresent(d, raw('testedAt'), timeKind)} THEN 1 ELSE 0 END AS ts_present, ${raw('testedAt')} AS raw_tested_at, `);
  const arms = [...input.passSynonyms.map((v) => ({ v, r: 'PASS' })), ...input.failSynonyms.map((v) => ({ v, r: 'FAIL' }))];
  q.add(`CASE UPPER(${trimmedText(d, raw('result'))}) ${arms.map((a) => `WHEN ? THEN '${a.r}'`).join(' ')} END AS result, `, ...arms.map((a) => a.v));
  q.add(
    `${finiteNumber(d, raw('durationS'), durationKind)} AS duration_s, CASE WHEN ${isPresent(d, raw('durationS'), durationKind)} THEN 1 ELSE 0 END AS dur_present, ` +
      `${raw('durationS')} AS raw_duration_s, ${raw('result')} AS raw_result, ${rawText(d, raw('errorCode'), 'text')} AS error_code FROM ${quoteTable(d, input.table)} s `,
  );
  const column = (alias: string, k: keyof TestRecordColumns) => `${alias}.${quoteIdent(d, input.columns[k]!)}`;
  windowFilter(
    d,
    (alias) => ({
      raw: column(alias, 'testedAt'),
      parsed: validTimestamp(d, column(alias, 'testedAt'), timeKind),
      serial: trimmedText(d, column(alias, 'serial')),
    }),
    quoteTable(d, input.table),
    timeKind,
    q,
    { historyFrom: input.historyFrom, from: input.slots[0]!.from, to: input.slots[input.slots.length - 1]!.to },
  );
  // An OFFSET keeps PostgreSQL and SQLite from merging this subquery into the select around it,
  // which would trim every value again for each of the reason's references to it.
  q.add(`${d === 'postgres' ? ' OFFSET 0' : d === 'sqlite' ? ' LIMIT -1 OFFSET 0' : ''}) n),\n`);

  // The values as read travel on only with a rejected row (and a key value that trimming changed),
  // so valid rows stay narrow from here on.
  q.add(`src AS (SELECT serial, product, test, machine, tested_at, result, duration_s, error_code, reason, `);
  for (const k of key) {
    q.add(`CASE WHEN reason IS NOT NULL OR ${textLength(d, rawText(d, `raw_${k}`, 'text'))} <> ${textLength(d, k)} THEN ${rawText(d, `raw_${k}`, 'text')} END AS raw_${k}, `);
  }
  q.add(
    `CASE WHEN reason IS NOT NULL THEN ${rawText(d, 'raw_tested_at', timeKind)} END AS raw_tested_at, ` +
      `CASE WHEN reason IS NOT NULL THEN ${rawText(d, 'raw_duration_s', durationKind)} END AS raw_duration_s, ` +
      `${rawText(d, 'raw_result', 'text')} AS raw_result `,
  );
  q.add('FROM read),\n');
  q.add('checked AS (SELECT src.*, ');
  slotOf(d, 'tested_at', input.slots, q);
  q.add(' AS slot FROM src),\n');
  // A serial's product is that of its earliest valid row, ties to the smaller name.
  if (d === 'postgres') {
    // PostgreSQL: two hash aggregates on (serial, time) and a hash join. A window would sort every
    // whole source row by serial first, which costs it about a third of the statement.
    q.add(`firsts AS (SELECT serial, MIN(tested_at) AS first_at FROM checked WHERE reason IS NULL GROUP BY serial),
  owners AS (SELECT c.serial, MIN(c.product) AS owner_product, MIN(f.first_at) AS owner_first_at
    FROM checked c JOIN firsts f ON f.serial = c.serial AND c.tested_at = f.first_at
    WHERE c.reason IS NULL GROUP BY c.serial),
  owned AS (SELECT checked.*, owners.owner_product, owners.owner_first_at FROM checked LEFT JOIN owners ON owners.serial = checked.serial),\n`);
  } else {
    // SQLite and SQL Server: the first row of the serial in (valid first, time, product) order, one
    // sort shared by both windows (SQLite runs the join form above at half this speed).
    const owner =
      'OVER (PARTITION BY serial ORDER BY CASE WHEN reason IS NULL THEN 0 ELSE 1 END, tested_at, product ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)';
    q.add(`owned AS (SELECT checked.*,
      FIRST_VALUE(CASE WHEN reason IS NULL THEN product END) ${owner} AS owner_product,
      FIRST_VALUE(CASE WHEN reason IS NULL THEN tested_at END) ${owner} AS owner_first_at
    FROM checked),\n`);
  }
  q.add(`classified AS (SELECT owned.*, CASE WHEN reason IS NOT NULL THEN reason
      WHEN product <> owner_product THEN 'conflicting_product' END AS reject_reason
    FROM owned),\n`);
  // Exact duplicates count once. Grouped in the attempt order, so the window below needs no new sort.
  q.add(`deduped AS (SELECT serial, test, tested_at, machine, result, product, slot,
      MIN(duration_s) AS duration_s, COUNT(*) AS copies
    FROM classified WHERE reject_reason IS NULL
    GROUP BY serial, test, tested_at, machine, result, product, slot),\n`);
  // One pass over each unit-test's attempts in order (metrics.md §4) gives everything: the attempt
  // number, how many PASSes came before it, and its attempt 1 (time, slot, machine: the cohort).
  // One window (the same frame for every function), so the database computes them in one pass
  // over one sort: PostgreSQL runs a separate window step per distinct frame. The attempt number is
  // the running count (SQL Server allows no frame on ROW_NUMBER); PASSes before an attempt are the
  // running count of PASSes up to it, less its own.
  const unitTest = 'OVER (PARTITION BY serial, test ORDER BY tested_at, machine, result ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)';
  q.add(`attempts AS (SELECT deduped.*,
      COUNT(*) ${unitTest} AS n,
      SUM(CASE WHEN result = 'PASS' THEN 1 ELSE 0 END) ${unitTest} - CASE WHEN result = 'PASS' THEN 1 ELSE 0 END AS passes_before,
      FIRST_VALUE(tested_at) ${unitTest} AS first_at,
      FIRST_VALUE(slot) ${unitTest} AS first_slot,
      FIRST_VALUE(machine) ${unitTest} AS first_machine
    FROM deduped)\n`);
  const noText = Array.from({ length: TEXTS }, () => 'NULL').join(', ');
  // Attempts after the first PASS or beyond maxAttempts are excess: tests, but not yields or retests.
  q.add(
    `SELECT 'A' AS part, slot AS k, product, test, machine, ${Array.from({ length: TEXTS }, (_, i) => `${textNull(d)} AS t${i + 1}`).join(', ')},
      COUNT(*) AS v1,
      SUM(CASE WHEN result = 'PASS' THEN 1 ELSE 0 END) AS v2,
      SUM(CASE WHEN result = 'FAIL' THEN 1 ELSE 0 END) AS v3,
      SUM(CASE WHEN result = 'PASS' THEN duration_s END) AS v4,
      COUNT(CASE WHEN result = 'PASS' THEN duration_s END) AS v5,
      SUM(CASE WHEN result = 'FAIL' THEN duration_s END) AS v6,
      COUNT(CASE WHEN result = 'FAIL' THEN duration_s END) AS v7,
      SUM(CASE WHEN n > ? OR passes_before > 0 THEN 1 ELSE 0 END) AS v8,
      SUM(copies - 1) AS v9
    FROM attempts WHERE slot IS NOT NULL GROUP BY slot, product, test, machine\n`,
    m,
  );
  // The cohort, on the slot and machine of attempt 1. Counted on the attempt that decides it:
  // passed on the first PASS within maxAttempts, scrapped on a FAIL as attempt maxAttempts with no
  // PASS before, retests on attempts 2..maxAttempts up to the first PASS.
  q.add(
    `UNION ALL SELECT 'C', first_slot, product, test, first_machine, ${noText},
      SUM(CASE WHEN n = 1 THEN 1 ELSE 0 END),
      SUM(CASE WHEN n = 1 AND result = 'PASS' THEN 1 ELSE 0 END),
      SUM(CASE WHEN n <= ? AND result = 'PASS' AND passes_before = 0 THEN 1 ELSE 0 END),
      SUM(CASE WHEN n = ? AND result = 'FAIL' AND passes_before = 0 THEN 1 ELSE 0 END),
      SUM(CASE WHEN n >= 2 AND n <= ? AND passes_before = 0 THEN 1 ELSE 0 END),
      NULL, NULL, NULL, NULL
    FROM attempts WHERE first_slot IS NOT NULL GROUP BY first_slot, product, test, first_machine\n`,
    m,
    m,
    m,
  );
  q.add(`UNION ALL SELECT 'L', slot, product, NULL, NULL, ${noText},
      COUNT(DISTINCT serial), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
    FROM classified WHERE reject_reason IS NULL AND slot IS NOT NULL AND tested_at = owner_first_at
    GROUP BY slot, product\n`);
  q.add(
    `UNION ALL SELECT 'S', p.pid, a.product, NULL, NULL, ${noText},
      COUNT(DISTINCT a.serial), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
    FROM attempts a JOIN periods p ON a.first_at >= p.ps AND a.first_at < p.pe
    WHERE a.n = ? AND a.result = 'FAIL' AND a.passes_before = 0 GROUP BY p.pid, a.product\n`,
    m,
  );
  // Rows read per slot by reject reason (NULL: valid); rows without a timestamp have no slot.
  q.add(`UNION ALL SELECT 'Q', slot, reject_reason, NULL, NULL, ${noText},
      COUNT(*), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
    FROM classified WHERE slot IS NOT NULL OR tested_at IS NULL GROUP BY slot, reject_reason\n`);
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
    FROM classified WHERE reject_reason IS NOT NULL AND (tested_at IS NULL OR slot IN (`,
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
