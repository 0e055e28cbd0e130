/**
 * The valid test attempts of metrics.md §3, as CTEs that the set-based statements share: the raw
 * rows of a window read once, trimmed, parsed and checked (the first reject reason that applies),
 * each serial's product fixed by its earliest valid row, and exact duplicates dropped. The nightly
 * summary (sql/summary-query.ts) and the process flow (sql/flow-query.ts) build on `classified`
 * (every row read, with its reason) and `deduped` (the valid attempts, one per exact duplicate set).
 *
 * Every value is a bound parameter; identifiers come from validated config and are quoted here.
 */
import type { Dialect } from './dialect.js';
import { quoteIdent, quoteTable, timestampParam } from './dialect.js';
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
import type { SqlText } from './statement.js';

/** A half-open time interval as the source stores time, 'YYYY-MM-DD HH:MM:SS'. */
export interface DaySlot {
  from: string;
  to: string;
}

export interface SourceKinds {
  testedAt: TimeKind;
  durationS: NumberKind;
}

export interface ValidAttemptsInput {
  dialect: Dialect;
  table: string;
  columns: TestRecordColumns;
  /** How the source's timestamp and duration columns store values (their declared types). */
  kinds: SourceKinds;
  passSynonyms: readonly string[];
  failSynonyms: readonly string[];
  /** Production days in time order: a row's `slot` is the index of the one its time falls in (NULL outside). */
  slots: readonly DaySlot[];
  /** Rows older than this are not read (see yield.historyDays). */
  historyFrom: string;
  /**
   * Rows from here on are read whole; before it, only those of the serials read whole. By default
   * the first slot's start. A later start leaves the slots before it incomplete: their rows are of
   * those serials only, and the caller takes those slots' aggregates from elsewhere.
   */
  readFrom?: string;
  /**
   * The serials read whole are those of every row from `readFrom` on, not only of rows in the slots:
   * where the slots before `readFrom` come from elsewhere, a later retest of their units counts.
   */
  openEnded?: boolean;
}

/**
 * The rows the batch reads: every row from the batch's first day on (later retests included), every
 * row without a timestamp or dated before 1970 (all of them rejected), and, of the history before
 * the batch (yield.historyDays), only the rows of serials that occur in the batch: only those
 * serials' earlier attempts, first records and products matter to the batch's numbers. With `to`
 * NULL the batch's serials are those of every row read whole (its slots end after the rows it reads
 * whole begin, so a later retest of a unit first tested in the slots before counts).
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
  range: { historyFrom: string; from: string; to: string | null },
): void {
  const ts = timestampParam(d);
  const s = row('s');
  const h = row('h');
  const batchSerials = (cond: string) => `${s.serial} IN (SELECT ${h.serial} FROM ${table} h WHERE ${cond})`;
  if (kind === 'text') {
    q.add(`WHERE ${s.parsed} >= ${ts} OR ${s.parsed} IS NULL`, range.from);
    q.add(` OR (${s.parsed} >= ${ts} AND ${batchSerials(`${h.parsed} >= ${ts}${range.to === null ? '' : ` AND ${h.parsed} < ${ts}`}`)})`, range.historyFrom, range.from, ...(range.to === null ? [] : [range.to]));
    return;
  }
  const lowest = kind === 'native' ? (d === 'postgres' ? `CAST('${TIME_RANGE.from}' AS timestamp)` : `CAST('${TIME_RANGE.from}' AS datetime2(3))`) : `'1970-01-01'`;
  // SQLite's text compares by its date: a few rows of the day before more are read, never fewer.
  const bound = (v: string) => (kind === 'native' ? v : v.slice(0, 10));
  const p = kind === 'native' ? ts : '?';
  q.add(`WHERE ${s.raw} >= ${p} OR ${s.raw} < ${lowest} OR ${s.raw} IS NULL`, bound(range.from));
  const upTo = range.to === null ? [] : [kind === 'native' ? range.to : nextDate(range.to.slice(0, 10))];
  q.add(
    ` OR (${s.raw} >= ${p} AND ${batchSerials(`${h.raw} >= ${p}${upTo.length ? ` AND ${h.raw} < ${p}` : ''}`)})`,
    bound(range.historyFrom),
    bound(range.from),
    ...upTo,
  );
}

/**
 * A condition on the raw timestamp column that holds for every row whose parsed timestamp may fall
 * in [from, to), where an index on the column can serve it: a superset, the parsed value decides.
 * Empty on a text column of PostgreSQL or SQL Server, whose raw text does not sort by its time.
 */
export function mayFallIn(d: Dialect, raw: string, kind: TimeKind, q: SqlText, range: { from: string; to: string }): boolean {
  if (kind === 'text') return false;
  if (kind === 'native') {
    const p = timestampParam(d);
    q.add(`${raw} >= ${p} AND ${raw} < ${p}`, range.from, range.to);
    return true;
  }
  // SQLite: text sorts every accepted form at or after its date; numbers (epoch milliseconds) and
  // text with leading blanks sort before 1970.
  q.add(`((${raw} >= ? AND ${raw} < ?) OR ${raw} < '1970-01-01')`, range.from.slice(0, 10), nextDate(range.to.slice(0, 10)));
  return true;
}

/**
 * What ends a subquery so that PostgreSQL and SQLite keep it apart from the select around it
 * (which would otherwise evaluate its expressions again for each reference to them).
 */
export function subqueryFence(d: Dialect): string {
  return d === 'postgres' ? ' OFFSET 0' : d === 'sqlite' ? ' LIMIT -1 OFFSET 0' : '';
}

/** 'YYYY-MM-DD' + 1 day. */
function nextDate(day: string): string {
  const t = new Date(`${day}T00:00:00Z`);
  t.setUTCDate(t.getUTCDate() + 1);
  return t.toISOString().slice(0, 10);
}

const KEY_COLUMNS = ['serial', 'product', 'test', 'machine'] as const;

/** An exact duplicate set's key, in the attempt order, and what its copies give (`deduped`). */
export const DEDUPED_COLUMNS = 'serial, test, tested_at, machine, result, product, slot';
export const DEDUPED_AGGREGATES = 'MIN(duration_s) AS duration_s, COUNT(*) AS copies';

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
 * `label` names what a slot stands for (by default its index), as an integer literal.
 */
export function slotOf(d: Dialect, ts: string, slots: readonly DaySlot[], q: SqlText, label: (slot: number) => number = (s) => s): void {
  const p = timestampParam(d);
  const search = (lo: number, hi: number): void => {
    if (lo === hi) {
      q.add(String(label(lo)));
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
 * Appends the CTEs `checked`, (PostgreSQL: `firsts`, `owners`,) `owned`,
 * `classified` and `deduped`, each followed by ",\n", to a statement whose WITH is already open.
 */
export function validAttemptCtes(q: SqlText, input: ValidAttemptsInput): void {
  const d = input.dialect;
  const raw = (k: keyof TestRecordColumns) => {
    const col = input.columns[k];
    return col ? `s.${quoteIdent(d, col)}` : 'NULL';
  };
  const { testedAt: timeKind, durationS: durationKind } = input.kinds;
  // Every source row of the window, its values trimmed, parsed and checked once (metrics.md §3).
  const key = KEY_COLUMNS;
  const parsedTime = validTimestamp(d, raw('testedAt'), timeKind);
  // checked: the parsed values (the innermost select), their first reject reason (the middle one),
  // the values as read where a rejected row needs them, and the day slot, in one pipelined pass:
  // an OFFSET keeps PostgreSQL and SQLite from merging a select into the one around it, which would
  // trim and parse every value again for each reference to it (the reason's, the slot search's).
  // PostgreSQL reads `checked` three times (the owners below) and keeps it materialised, the only
  // copy of the rows it writes before the sort; SQLite and SQL Server read it once.
  const fence = subqueryFence(d);
  q.add(`checked AS ${d === 'postgres' ? 'MATERIALIZED ' : ''}(SELECT serial, product, test, machine, tested_at, result, duration_s, error_code, reason, `);
  // The values as read travel on only with a rejected row (and a key value that trimming changed),
  // so valid rows stay narrow from here on.
  for (const k of key) {
    q.add(`CASE WHEN reason IS NOT NULL OR ${textLength(d, rawText(d, `raw_${k}`, 'text'))} <> ${textLength(d, k)} THEN ${rawText(d, `raw_${k}`, 'text')} END AS raw_${k}, `);
  }
  q.add(
    `CASE WHEN reason IS NOT NULL THEN ${rawText(d, 'raw_tested_at', timeKind)} END AS raw_tested_at, ` +
      `CASE WHEN reason IS NOT NULL THEN ${rawText(d, 'raw_duration_s', durationKind)} END AS raw_duration_s, ` +
      `${rawText(d, 'raw_result', 'text')} AS raw_result, `,
  );
  slotOf(d, 'tested_at', input.slots, q);
  q.add(' AS slot FROM (SELECT n.*, ');
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
    { historyFrom: input.historyFrom, from: input.readFrom ?? input.slots[0]!.from, to: input.openEnded ? null : input.slots[input.slots.length - 1]!.to },
  );
  q.add(`${fence}) n${fence}) r),\n`);
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
  // PostgreSQL: DISTINCT ON, which it always runs on a sort (of the key, then the duration: the
  // shortest copy first, as MIN gives it), the copies a window over the same key in the same order,
  // so one sort serves the copies, the de-duplication and the attempt window. With statistics
  // it hashed the GROUP BY instead (it cannot tell that duplicates are rare) and then sorted every
  // attempt again for the window.
  if (d === 'postgres') {
    q.add(`deduped AS (SELECT DISTINCT ON (${DEDUPED_COLUMNS}) ${DEDUPED_COLUMNS}, duration_s,
      COUNT(*) OVER (PARTITION BY ${DEDUPED_COLUMNS} ORDER BY duration_s ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) AS copies
    FROM classified WHERE reject_reason IS NULL
    ORDER BY ${DEDUPED_COLUMNS}, duration_s),\n`);
  } else {
    q.add(`deduped AS (SELECT ${DEDUPED_COLUMNS}, ${DEDUPED_AGGREGATES}
    FROM classified WHERE reject_reason IS NULL
    GROUP BY ${DEDUPED_COLUMNS}),\n`);
  }
}
