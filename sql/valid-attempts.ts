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

/** Keeps PostgreSQL and SQLite from merging a subquery into the select around it (SQL Server has no such fence). */
export function fence(d: Dialect): string {
  return d === 'postgres' ? ' OFFSET 0' : d === 'sqlite' ? ' LIMIT -1 OFFSET 0' : '';
}

/**
 * The order of one sort that serves every step after the read: a serial's rows together (its
 * product), a unit-test's rows together in attempt order (metrics.md §4), exact duplicates adjacent.
 */
export const ATTEMPT_ORDER = 'test, tested_at, machine, result';
/** A serial's whole partition, in the attempt order (so its window shares the sort of the unit-test windows). */
export const SERIAL_WINDOW = `OVER (PARTITION BY serial ORDER BY ${ATTEMPT_ORDER} ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)`;

/**
 * Appends the CTEs `read` (every row of the window, trimmed, parsed, its reason, day slot and, for a
 * rejected row, its values as read), `owned` (each serial's product: that of its earliest valid row,
 * ties to the smaller name) and `classified` (every row read with its `reject_reason`), each followed
 * by ",\n", to a statement whose WITH is already open; with `deduped`, also the valid attempts, one
 * per exact duplicate set (the process flow's events).
 *
 * Nothing is materialised: each CTE is read once, so the database streams one scan into one sort
 * by (serial, test, time, machine, result); the trimmed and parsed values are computed once per row
 * below a fence (an OFFSET the optimiser does not merge through) and read as plain columns above it.
 */
export function validAttemptCtes(q: SqlText, input: ValidAttemptsInput, options: { deduped?: boolean } = {}): void {
  const d = input.dialect;
  const raw = (k: keyof TestRecordColumns) => {
    const col = input.columns[k];
    return col ? `s.${quoteIdent(d, col)}` : 'NULL';
  };
  const { testedAt: timeKind, durationS: durationKind } = input.kinds;
  // The raw values, trimmed, parsed and checked once (metrics.md §3).
  const key = KEY_COLUMNS;
  const parsedTime = validTimestamp(d, raw('testedAt'), timeKind);
  q.add(`read AS (SELECT c.serial, c.product, c.test, c.machine, c.tested_at, c.result, c.duration_s, c.reason, c.slot, `);
  // The values as read travel on only with a rejected row (and a key value that trimming changed),
  // so valid rows stay narrow through the sort.
  for (const k of key) {
    q.add(`CASE WHEN c.reason IS NOT NULL OR ${textLength(d, rawText(d, `c.raw_${k}`, 'text'))} <> ${textLength(d, `c.${k}`)} THEN ${rawText(d, `c.raw_${k}`, 'text')} END AS raw_${k}, `);
  }
  q.add(
    `CASE WHEN c.reason IS NOT NULL THEN ${rawText(d, 'c.raw_tested_at', timeKind)} END AS raw_tested_at, ` +
      `CASE WHEN c.reason IS NOT NULL THEN ${rawText(d, 'c.raw_duration_s', durationKind)} END AS raw_duration_s, ` +
      `${rawText(d, 'c.raw_result', 'text')} AS raw_result, c.error_code `,
  );
  q.add('FROM (SELECT n.*, ');
  reasonOf(d, q);
  q.add(' AS reason, ');
  slotOf(d, 'tested_at', input.slots, q);
  q.add(' AS slot FROM (SELECT ');
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
  // Two fences: the parsed values are computed once, then the reason and the slot once from them.
  q.add(`${fence(d)}) n${fence(d)}) c),\n`);

  // A serial's product is that of its earliest valid row, ties to the smaller name: the earliest
  // time over the serial's partition, then the smallest product at that time, on the same sort.
  q.add(`owned0 AS (SELECT read.*, MIN(CASE WHEN reason IS NULL THEN tested_at END) ${SERIAL_WINDOW} AS owner_first_at FROM read),
  owned AS (SELECT owned0.*, MIN(CASE WHEN reason IS NULL AND tested_at = owner_first_at THEN product END) ${SERIAL_WINDOW} AS owner_product FROM owned0),
  classified AS (SELECT owned.*, CASE WHEN reason IS NOT NULL THEN reason
      WHEN product <> owner_product THEN 'conflicting_product' END AS reject_reason
    FROM owned),\n`);
  if (options.deduped) {
    // Exact duplicates count once, the smallest duration kept.
    q.add(`deduped AS (SELECT serial, test, tested_at, machine, result, product, slot,
      MIN(duration_s) AS duration_s, COUNT(*) AS copies
    FROM classified WHERE reject_reason IS NULL
    GROUP BY serial, test, tested_at, machine, result, product, slot),\n`);
  }
}
