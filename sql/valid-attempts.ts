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
   * An index in byte order on the serial column (sql/source-check.ts `serialSeekIndex`): the
   * history of the batch's serials is read by seeking each one instead of scanning the window.
   */
  serialIndex?: string | null;
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
 * timestamp, or SQLite's text, which sorts every accepted form at or after its date and hour
 * (sqliteLowerBound) and every blank, numeric or malformed value outside [1970, batch); on text
 * columns of the other dialects they are on the parsed value. Each condition is written for a row
 * alias.
 */
interface ReadWindowConditions {
  /** The rows read whole: the OR of `wholeParts`. */
  whole(q: SqlText, alias: string): void;
  /** The same as disjoint conditions, each a range of one index where the column's kind allows. */
  wholeParts: ((q: SqlText, alias: string) => void)[];
  /** The history window before them (disjoint from `whole`); `unindexed`: no index may serve it. */
  history(q: SqlText, alias: string, unindexed?: boolean): void;
  /** The rows whose serials are the batch's. */
  batch(q: SqlText, alias: string): void;
}

function readWindowConditions(
  d: Dialect,
  time: (alias: string) => { raw: string; parsed: string },
  kind: TimeKind,
  range: { historyFrom: string; from: string; to: string | null },
): ReadWindowConditions {
  const ts = timestampParam(d);
  const anyOf = (parts: ReadWindowConditions['wholeParts']) => (q: SqlText, a: string) => {
    q.add('(');
    parts.forEach((part, i) => {
      if (i) q.add(' OR ');
      part(q, a);
    });
    q.add(')');
  };
  if (kind === 'text') {
    const wholeParts: ReadWindowConditions['wholeParts'] = [(q, a) => q.add(`${time(a).parsed} >= ${ts}`, range.from), (q, a) => q.add(`${time(a).parsed} IS NULL`)];
    return {
      whole: anyOf(wholeParts),
      wholeParts,
      history: (q, a) => q.add(`${time(a).parsed} >= ${ts} AND ${time(a).parsed} < ${ts}`, range.historyFrom, range.from),
      batch: (q, a) =>
        q.add(`${time(a).parsed} >= ${ts}${range.to === null ? '' : ` AND ${time(a).parsed} < ${ts}`}`, range.from, ...(range.to === null ? [] : [range.to])),
    };
  }
  const lowest = kind === 'native' ? (d === 'postgres' ? `CAST('${TIME_RANGE.from}' AS timestamp)` : `CAST('${TIME_RANGE.from}' AS datetime2(3))`) : `'1970-01-01'`;
  const bound = (v: string) => (kind === 'native' ? v : sqliteLowerBound(v));
  const p = kind === 'native' ? ts : '?';
  const upTo = range.to === null ? [] : [kind === 'native' ? range.to : nextDate(range.to.slice(0, 10))];
  const wholeParts: ReadWindowConditions['wholeParts'] = [
    (q, a) => q.add(`${time(a).raw} >= ${p}`, bound(range.from)),
    (q, a) => q.add(`${time(a).raw} < ${lowest}`),
    (q, a) => q.add(`${time(a).raw} IS NULL`),
  ];
  return {
    whole: anyOf(wholeParts),
    wholeParts,
    // SQLite: a unary + keeps its planner from serving the condition by the timestamp index.
    history: (q, a, unindexed) => {
      const raw = `${unindexed && d === 'sqlite' ? '+' : ''}${time(a).raw}`;
      q.add(`${raw} >= ${p} AND ${raw} < ${p}`, bound(range.historyFrom), bound(range.from));
    },
    batch: (q, a) => q.add(`${time(a).raw} >= ${p}${upTo.length ? ` AND ${time(a).raw} < ${p}` : ''}`, bound(range.from), ...upTo),
  };
}

/**
 * The batch's rows as `FROM … s WHERE …`: the rows read whole, or in the history window of a serial
 * read whole. The history's serials are matched trimmed (metrics.md §3), so without a usable index
 * that is one pass over the history window.
 *
 * With an index in byte order on the serial column (`serialIndex`, SQLite and PostgreSQL only),
 * each of the batch's trimmed serials S seeks its own rows instead: a raw value that trims to S is
 * S followed by blanks (tab, LF, CR, space: all below '!'), so it lies in [S, S || '!'), or starts
 * with a blank and lies below '!' (with SQLite's numbers, which sort before all text, and its blobs,
 * after it, read in the branch of their own); the trimmed value then decides, as without the index.
 */
function readRows(q: SqlText, input: ValidAttemptsInput, columns: readonly string[], cond: ReadWindowConditions): void {
  const d = input.dialect;
  const table = quoteTable(d, input.table);
  const col = (alias: string, k: keyof TestRecordColumns) => `${alias}.${quoteIdent(d, input.columns[k]!)}`;
  const serial = (a: string) => trimmedText(d, col(a, 'serial'));
  if (!seeksSerials(input)) {
    q.add(`FROM ${table} s WHERE `);
    cond.whole(q, 's');
    q.add(` OR (`);
    cond.history(q, 's');
    q.add(` AND ${serial('s')} IN (SELECT ${serial('h')} FROM ${table} h WHERE `);
    cond.batch(q, 'h');
    q.add('))');
    return;
  }
  const list = (a: string) => columns.map((c) => `${a}.${quoteIdent(d, c)}`).join(', ');
  const raw = col('s', 'serial');
  const binary = d === 'sqlite' ? ' COLLATE BINARY' : '';
  // SQLite: a branch each, as its planner serves no OR of the two by the index.
  const odd = d === 'sqlite' ? [`${raw} < '!'${binary}`, `${raw} >= X''`] : [`${raw} < '!'`];
  const plain = d === 'sqlite' ? ` AND ${raw} < X''` : '';
  // The rows read whole. SQLite: a branch per range, where an OR of them would collect every row's
  // id first to drop those two ranges share (its MULTI-INDEX OR: 140 MB more at 6 M records).
  q.add('FROM (');
  for (const [i, part] of (d === 'sqlite' ? cond.wholeParts : [cond.whole]).entries()) {
    q.add(`${i ? '\n    UNION ALL ' : ''}SELECT ${list('s')} FROM ${table} s WHERE `);
    part(q, 's');
  }
  // The serials' history: the odd values by their range, the rest by each serial's own.
  for (const values of odd) {
    q.add(`\n    UNION ALL SELECT ${list('s')} FROM ${table} s WHERE ${values} AND `);
    cond.history(q, 's', true);
    q.add(` AND ${serial('s')} IN (SELECT serial FROM batch_serials)`);
  }
  // The seeks: SQLite's CROSS JOIN keeps the serials outside and the table's serial index inside;
  // PostgreSQL's LATERAL subquery (kept whole by its OFFSET) likewise, where a join would match the
  // trimmed serials by sorting or hashing the whole history window.
  const seek = `${raw} >= b.serial${binary} AND ${raw} < b.serial || '!'${binary} AND ${raw} >= '!'${binary}${plain} AND ${serial('s')} = b.serial AND `;
  if (d === 'postgres') {
    q.add(`\n    UNION ALL SELECT ${list('s')} FROM batch_serials b CROSS JOIN LATERAL (SELECT ${list('s')} FROM ${table} s WHERE ${seek}`);
    cond.history(q, 's', true);
    q.add(' OFFSET 0) s) s');
  } else {
    q.add(`\n    UNION ALL SELECT ${list('s')} FROM batch_serials b CROSS JOIN ${table} s WHERE ${seek}`);
    cond.history(q, 's', true);
    q.add(') s');
  }
}

/** Whether the batch seeks its serials' history by the serial index (readRows): SQLite and PostgreSQL. */
function seeksSerials(input: ValidAttemptsInput): boolean {
  return !!input.serialIndex && input.dialect !== 'mssql';
}

/**
 * Whether a serial's product comes from one aggregate per serial and the rare mixed serials
 * (`firsts`, `mixed`, `owners`; PostgreSQL and SQLite) rather than from a window over every row
 * (SQL Server). The summary's loaded and rejected parts read those CTEs where they exist.
 */
export function ownersByAggregate(d: Dialect): boolean {
  return d !== 'mssql';
}

/**
 * The CTE `batch_serials` (followed by ",\n"): the trimmed serials whose history readRows seeks,
 * none when the history window has no rows (a constant condition, which both databases test once,
 * before reading anything: a backfill from the data's first day lists no serials).
 */
function batchSerials(q: SqlText, input: ValidAttemptsInput, cond: ReadWindowConditions): void {
  const d = input.dialect;
  const table = quoteTable(d, input.table);
  q.add(`batch_serials AS (SELECT DISTINCT ${trimmedText(d, `h.${quoteIdent(d, input.columns.serial)}`)} AS serial FROM ${table} h WHERE `);
  cond.batch(q, 'h');
  q.add(` AND EXISTS (SELECT 1 FROM ${table} x WHERE `);
  cond.history(q, 'x');
  q.add(')),\n');
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
  // SQLite: text sorts every accepted form at or after its date and hour (sqliteLowerBound) and
  // before the next date; numbers (epoch milliseconds) and text with leading blanks before 1970.
  q.add(`((${raw} >= ? AND ${raw} < ?) OR ${raw} < '1970-01-01')`, sqliteLowerBound(range.from), nextDate(range.to.slice(0, 10)));
  return true;
}

/**
 * The text that every SQLite form of a time at or after `at` ('YYYY-MM-DD HH:MM:SS') sorts at or
 * after: its date and hour ('YYYY-MM-DD HH'), or its date at midnight. The accepted forms are the
 * date alone (midnight), or the date, ' ' or 'T' (which sorts after ' '), and the time from its hour
 * on (metrics.md §3); a leading blank sorts before every date. Rows of the day's earlier hours
 * written with a 'T' are read with those after it, never fewer; the parsed value decides.
 */
export function sqliteLowerBound(at: string): string {
  return /^\d{4}-\d{2}-\d{2}( 00:00(:00(\.0+)?)?)?$/.test(at) ? at.slice(0, 10) : at.slice(0, 13);
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
  // PostgreSQL: a value of at most that many bytes has at most that many characters, and the byte
  // length is read from its header, so the characters are counted only for the rare longer ones.
  const tooLong = KEY_COLUMNS.map((k) =>
    d === 'postgres' ? `(octet_length(${k}) > ${MAX_TEXT_LENGTH} AND ${textLength(d, k)} > ${MAX_TEXT_LENGTH})` : `${textLength(d, k)} > ${MAX_TEXT_LENGTH}`,
  ).join(' OR ');
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
 * Appends the CTEs `checked`, (PostgreSQL and SQLite: `firsts`, `mixed`, `owners`,) `owned`,
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
  // PostgreSQL and SQLite read `checked` several times (the owners below, the rejected rows) and keep
  // it materialised, the only copy of the rows they write before the sort; SQL Server reads it once.
  const fence = subqueryFence(d);
  const range = { historyFrom: input.historyFrom, from: input.readFrom ?? input.slots[0]!.from, to: input.openEnded ? null : input.slots[input.slots.length - 1]!.to };
  const timeColumn = (alias: string) => `${alias}.${quoteIdent(d, input.columns.testedAt)}`;
  const cond = readWindowConditions(d, (a) => ({ raw: timeColumn(a), parsed: validTimestamp(d, timeColumn(a), timeKind) }), timeKind, range);
  if (seeksSerials(input)) batchSerials(q, input, cond);
  q.add(`checked AS ${ownersByAggregate(d) ? 'MATERIALIZED ' : ''}(SELECT serial, product, test, machine, tested_at, result, duration_s, error_code, reason, `);
  // The values as read travel on only with a rejected row (and a key value that trimming changed),
  // so valid rows stay narrow from here on.
  // Trimming removes one-byte blanks only, so on PostgreSQL the byte lengths, read from the value's
  // header, tell as well as the character counts, which scan the text.
  const changedBy = (expr: string) => (d === 'postgres' ? `octet_length(${expr})` : textLength(d, expr));
  for (const k of key) {
    q.add(`CASE WHEN reason IS NOT NULL OR ${changedBy(rawText(d, `raw_${k}`, 'text'))} <> ${changedBy(k)} THEN ${rawText(d, `raw_${k}`, 'text')} END AS raw_${k}, `);
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
      `${raw('durationS')} AS raw_duration_s, ${raw('result')} AS raw_result, ${rawText(d, raw('errorCode'), 'text')} AS error_code `,
  );
  const columns = [...new Set(Object.values(input.columns).filter((c): c is string => typeof c === 'string'))];
  readRows(q, input, columns, cond);
  q.add(`${fence}) n${fence}) r),\n`);
  // A serial's product is that of its earliest valid row, ties to the smaller name.
  if (ownersByAggregate(d)) {
    // PostgreSQL and SQLite: one aggregate over the valid rows gives each serial's first time and
    // whether its valid rows name more than one product (`mixed`, rare); only those serials' owner
    // needs the rows at that time, and only their rows can conflict, so the joins that find them
    // probe a small table. On PostgreSQL a window would sort every whole source row by serial first,
    // which costs it about a third of the statement, and a join of every row with every serial's
    // owner cost a tenth; SQLite's window sorted every whole row (5 % slower than this form).
    // `owners`: every serial with a valid row, its product and first time; `owned`: each row with
    // its serial's product where the row is valid.
    // The mixed serials' rows at their first time: PostgreSQL hashes the few mixed serials and
    // joins; SQLite would index every valid row for that join, so it probes the few instead.
    const mixedRows =
      d === 'postgres'
        ? 'FROM checked c JOIN firsts f ON f.serial = c.serial AND c.tested_at = f.first_at\n    WHERE f.min_product <> f.max_product AND c.reason IS NULL'
        : 'FROM checked c WHERE c.reason IS NULL\n      AND (c.serial, c.tested_at) IN (SELECT serial, first_at FROM firsts WHERE min_product <> max_product)';
    q.add(`firsts AS (SELECT serial, MIN(tested_at) AS first_at, MIN(product) AS min_product, MAX(product) AS max_product
    FROM checked WHERE reason IS NULL GROUP BY serial),
  mixed AS (SELECT c.serial, MIN(c.product) AS owner_product
    ${mixedRows}
    GROUP BY c.serial),
  owners AS (SELECT f.serial, COALESCE(m.owner_product, f.min_product) AS owner_product, f.first_at AS owner_first_at
    FROM firsts f LEFT JOIN mixed m ON m.serial = f.serial),
  owned AS (SELECT checked.*, CASE WHEN checked.reason IS NULL THEN COALESCE(m.owner_product, checked.product) END AS owner_product
    FROM checked LEFT JOIN mixed m ON m.serial = checked.serial),\n`);
  } else {
    // SQL Server: the first row of the serial in (valid first, time, product) order, one sort shared
    // by both windows.
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
