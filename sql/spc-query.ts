/**
 * The SQL that reads an SPC measure's source rows (spc.md §1), built once for all three dialects.
 *
 * - Key counts: rows per chart key in a time range, so readings can be fetched in batches of keys
 *   that fit in memory (knex has no portable streaming: pg would need pg-query-stream); in the same
 *   pass the rows rejected (no value, or outside validRange) and the rows without a key, so the
 *   run can report what it did not chart.
 * - Readings: the value of every row of a batch of keys in the range, ordered by key, time and
 *   value; the variables charts need the individual values (X̄, R and S are computed from them).
 * - Proportions: for p-charts the database counts units and defectives per production day × key,
 *   so only one row per point reaches Node; rows without a key (a cell with no winding record)
 *   come back as a day's row with NULL keys.
 *
 * Every value is a bound parameter; tables and columns come from validated config and are quoted
 * here. The one exception is a measure's `source.query`, raw SQL that only the configuration file
 * (written by the plant's admin) can hold; it is used as a derived table, `FROM (query) s`.
 */
import { quoteIdent, quoteTable, timestampExpr, timestampParam, timestampText, type Dialect } from './dialect.js';
import type { DaySlot, Statement } from './summary-query.js';

export type FilterValue = string | number;

export interface SpcSource {
  from: { table: string } | { query: string };
  /** Column → the values a row must have. */
  where: Readonly<Record<string, readonly FilterValue[]>>;
  /** Timestamp column of the source. */
  time: string;
  /** Chart key columns: of the source, or of the lookup table when there is one. */
  key: readonly string[];
  /** The key is looked up in another table by a shared column (the winder of a cell). */
  lookup?: { table: string; match: { from: string; to: string }; latest?: string };
  /** Variables charts: the measured value and the range outside which a reading is malformed. */
  value?: string;
  validRange?: { min?: number; max?: number };
  /** p-charts: the rows that count as nonconforming. */
  defective?: { column: string; in: readonly FilterValue[] };
}

/** A time range as the source stores time ('YYYY-MM-DD HH:MM:SS'), [from, to). */
export interface SourceRange {
  from: string;
  to: string;
}

/** Accumulates SQL text and its bindings, checking that they stay in step. */
class SqlBuilder {
  sql = '';
  bindings: (string | number)[] = [];
  add(text: string, ...values: (string | number)[]): this {
    const marks = (text.match(/\?/g) ?? []).length;
    if (marks !== values.length) throw new Error(`internal: ${marks} placeholders, ${values.length} bindings in: ${text}`);
    this.sql += text;
    this.bindings.push(...values);
    return this;
  }
  statement(): Statement {
    return { sql: this.sql, bindings: this.bindings };
  }
}

/** A key column as trimmed text (NULL when empty): keys may be numbers in the source, and MES text has stray blanks. */
function keyText(d: Dialect, expr: string): string {
  return `NULLIF(LTRIM(RTRIM(CAST(${expr} AS ${d === 'mssql' ? 'nvarchar(255)' : 'varchar(255)'}))), '')`;
}

/**
 * `col IN (?, …)`: text trimmed and upper-cased on both sides (so 'pass ' matches PASS), numbers as
 * they are (LTRIM of a number is an error on PostgreSQL).
 */
function matches(q: SqlBuilder, expr: string, values: readonly FilterValue[]): void {
  if (values.length === 0) throw new Error('internal: a filter needs values');
  const text = typeof values[0] === 'string';
  const marks = values.map(() => '?').join(', ');
  const bound = values.map((v) => (typeof v === 'string' ? v.trim().toUpperCase() : v));
  q.add(text ? `UPPER(LTRIM(RTRIM(${expr}))) IN (${marks})` : `${expr} IN (${marks})`, ...bound);
}

export const keyAlias = (i: number) => `k${i}`;

function keyAliases(source: SpcSource): string[] {
  return source.key.map((_, i) => keyAlias(i));
}

/**
 * CTE `spc_rows (at_, k0…, v | bad)`: the rows of the range that pass the filters, with the time
 * as a comparable expression, the keys as text, and the value (variables) or a 0/1 defective flag (p).
 */
function rowsCte(q: SqlBuilder, d: Dialect, source: SpcSource, range: SourceRange, materialize = false): void {
  const col = (alias: string, name: string) => `${alias}.${quoteIdent(d, name)}`;
  const ts = timestampParam(d);
  const at = timestampExpr(d, col('s', source.time));
  const from = 'table' in source.from ? quoteTable(d, source.from.table) : `(\n${source.from.query}\n)`;
  const payload = (alias: string): void => {
    if (source.defective) {
      q.add(', CASE WHEN ');
      matches(q, col(alias, source.defective.column), source.defective.in);
      q.add(' THEN 1 ELSE 0 END AS bad');
    } else if (source.value) {
      q.add(`, CAST(${col(alias, source.value)} AS float) AS v`);
    } else throw new Error('internal: a measure needs a value or a defective condition');
  };
  const filters = (): void => {
    q.add(` WHERE ${at} >= ${ts} AND ${at} < ${ts}`, range.from, range.to);
    for (const [name, values] of Object.entries(source.where)) {
      q.add(' AND ');
      matches(q, col('s', name), values);
    }
  };

  if (!source.lookup) {
    q.add(`WITH spc_rows AS ${asMaterialized(d, materialize)}(SELECT ${at} AS at_`);
    source.key.forEach((k, i) => q.add(`, ${keyText(d, col('s', k))} AS ${keyAlias(i)}`));
    payload('s');
    q.add(` FROM ${from} s`);
    filters();
    q.add(')\n');
    return;
  }
  // With a lookup: the source rows of the range first, then the matching lookup rows only (the
  // lookup table is searched by the match column, never read whole), one per match value. Joined
  // LEFT, so a row without a match stays with NULL keys and is counted rather than lost.
  const lk = source.lookup;
  q.add(`WITH spc_base AS (SELECT ${at} AS at_, ${col('s', lk.match.from)} AS m_`);
  payload('s');
  q.add(` FROM ${from} s`);
  filters();
  q.add('),\n');
  const k0 = keyText(d, col('l', source.key[0]!));
  const latest = lk.latest ? `${timestampExpr(d, col('l', lk.latest))} DESC, ` : '';
  q.add(`spc_lookup AS (SELECT ${col('l', lk.match.to)} AS m_`);
  source.key.forEach((k, i) => q.add(`, ${keyText(d, col('l', k))} AS ${keyAlias(i)}`));
  q.add(
    `, ROW_NUMBER() OVER (PARTITION BY ${col('l', lk.match.to)} ORDER BY CASE WHEN ${k0} IS NULL THEN 1 ELSE 0 END, ${latest}${k0}) AS rn_` +
      ` FROM ${quoteTable(d, lk.table)} l WHERE ${col('l', lk.match.to)} IN (SELECT m_ FROM spc_base)),\n`,
  );
  const keys = keyAliases(source)
    .map((k) => `lk.${k}`)
    .join(', ');
  q.add(`spc_rows AS ${asMaterialized(d, materialize)}(SELECT b.at_, ${keys}, b.${source.defective ? 'bad' : 'v'} FROM spc_base b LEFT JOIN spc_lookup lk ON lk.m_ = b.m_ AND lk.rn_ = 1)\n`);
}

/**
 * SQLite inlines a CTE into the range join with the days and then evaluates its timestamp
 * expression for every row × day (seconds for 100 k rows); computed once, the rows join in
 * milliseconds. PostgreSQL and SQL Server plan the join well as it is (and SQL Server has no
 * MATERIALIZED).
 */
function asMaterialized(d: Dialect, materialize: boolean): string {
  return materialize && d === 'sqlite' ? 'MATERIALIZED ' : '';
}

const keysPresent = (source: SpcSource) => keyAliases(source).map((k) => `${k} IS NOT NULL`).join(' AND ');

/**
 * Per chart key in the range: n, the readings (a value within validRange), for batching them; and
 * rejected, the rows with no value or one outside validRange, which are not charted. Rows without a
 * key come back as one group with NULL keys (n and rejected counted alike). One pass over the rows.
 */
export function buildKeyCountStatement(d: Dialect, source: SpcSource, range: SourceRange): Statement {
  const q = new SqlBuilder();
  rowsCte(q, d, source, range);
  const keys = keyAliases(source).join(', ');
  q.add(`SELECT ${keys}, SUM(ok_) AS n, COUNT(*) - SUM(ok_) AS rejected FROM (SELECT ${keys}, CASE WHEN 1 = 1`);
  readingConditions(q, source);
  q.add(` THEN 1 ELSE 0 END AS ok_ FROM spc_rows) r GROUP BY ${keys}`);
  return q.statement();
}

function readingConditions(q: SqlBuilder, source: SpcSource): void {
  if (!source.value) return;
  q.add(' AND v IS NOT NULL');
  if (source.validRange?.min !== undefined) q.add(' AND v >= ?', source.validRange.min);
  if (source.validRange?.max !== undefined) q.add(' AND v <= ?', source.validRange.max);
}

/** Bound parameters a readings statement needs besides its keys. */
export function readingsBaseParams(source: SpcSource): number {
  const filters = Object.values(source.where).reduce((n, vs) => n + vs.length, 0);
  const range = (source.validRange?.min !== undefined ? 1 : 0) + (source.validRange?.max !== undefined ? 1 : 0);
  return 2 + filters + range;
}

/**
 * Every reading of `keys` (each a tuple of key values) in the range: k0…, t (the time as text
 * 'YYYY-MM-DD HH:MM:SS[.fff]', as the source stores it), v; ordered by key, then time, then value.
 * Readings at the same instant are otherwise returned in no fixed order, and their order decides
 * the moving ranges and the size-N subgroups: the value makes a rerun chart the same points (rows
 * that tie on value too are the same reading as far as any chart can tell).
 */
export function buildReadingsStatement(d: Dialect, source: SpcSource, range: SourceRange, keys: readonly (readonly string[])[]): Statement {
  if (!source.value) throw new Error('internal: readings need a value column');
  if (keys.length === 0) throw new Error('internal: readings need at least one key');
  const q = new SqlBuilder();
  rowsCte(q, d, source, range);
  const aliases = keyAliases(source);
  q.add(`SELECT ${aliases.join(', ')}, ${timestampText(d, 'at_')} AS t, v FROM spc_rows WHERE ${keysPresent(source)}`);
  readingConditions(q, source);
  if (aliases.length === 1) {
    q.add(` AND k0 IN (${keys.map(() => '?').join(', ')})`, ...keys.map((k) => k[0]!));
  } else {
    const one = `(${aliases.map((a) => `${a} = ?`).join(' AND ')})`;
    q.add(` AND (${keys.map(() => one).join(' OR ')})`, ...keys.flatMap((k) => aliases.map((_, i) => k[i]!)));
  }
  q.add(` ORDER BY ${aliases.join(', ')}, at_, v`);
  return q.statement();
}

/**
 * p-chart counts: slot (index into `slots`, the production days), k0…, n (rows), d (defectives),
 * one row per day × key that has rows, and per day one row with NULL keys for the rows that have
 * none (untraced: no lookup match, or an empty key), which no chart can show. Days are joined by
 * range as a small table, so the statement needs two parameters per day.
 */
export function buildProportionStatement(d: Dialect, source: SpcSource, slots: readonly DaySlot[]): Statement {
  if (!source.defective) throw new Error('internal: proportions need a defective condition');
  if (slots.length === 0) throw new Error('internal: proportions need production days');
  const q = new SqlBuilder();
  rowsCte(q, d, source, { from: slots[0]!.from, to: slots[slots.length - 1]!.to }, true);
  const ts = timestampParam(d);
  q.add(', spc_days AS (');
  slots.forEach((s, i) => q.add(`${i ? ' UNION ALL ' : ''}SELECT CAST(? AS integer) AS slot, ${ts} AS ps, ${ts} AS pe`, i, s.from, s.to));
  q.add(')\n');
  const keys = keyAliases(source).map((k) => `r.${k}`);
  q.add(
    `SELECT sd.slot, ${keys.join(', ')}, COUNT(*) AS n, SUM(r.bad) AS d FROM spc_rows r JOIN spc_days sd ON r.at_ >= sd.ps AND r.at_ < sd.pe` +
      ` GROUP BY sd.slot, ${keys.join(', ')}`,
  );
  return q.statement();
}
