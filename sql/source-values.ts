/**
 * How the nightly summary reads one raw MES value without ever failing on it (metrics.md §3):
 * text trimmed of ASCII whitespace, timestamps and durations checked and normalised, in SQL that
 * runs on all three dialects and cannot raise a conversion error whatever a row holds.
 *
 * What a column can hold depends on its declared type, which the run reads from the source table
 * (sql/source-check.ts): a native timestamp column needs only a range check, a text column must be
 * parsed; SQLite is typeless, so any row may hold text, a number or a blob.
 */
import type { Dialect } from './dialect.js';

/** How a timestamp column stores its values. */
export type TimeKind = 'native' | 'text' | 'dynamic';
/** How a duration column stores its values: floats may hold NaN / ±Infinity (PostgreSQL), exact types may not. */
export type NumberKind = 'float' | 'numeric' | 'exact' | 'text' | 'dynamic';

/** The valid range of a timestamp (metrics.md §3), as the source stores time. */
export const TIME_RANGE = { from: '1970-01-01 00:00:00', to: '2100-01-01 00:00:00' } as const;

/** Longest valid serial, product, test or machine (the summary tables' key columns). */
export const MAX_TEXT_LENGTH = 100;

export function timeKind(d: Dialect, declaredType: string | undefined): TimeKind {
  if (d === 'sqlite') return 'dynamic';
  const t = (declaredType ?? '').toLowerCase();
  if (d === 'postgres') return t.startsWith('timestamp') || t === 'date' ? 'native' : 'text';
  return ['datetime', 'datetime2', 'smalldatetime', 'datetimeoffset', 'date'].includes(t) ? 'native' : 'text';
}

export function numberKind(d: Dialect, declaredType: string | undefined): NumberKind {
  if (d === 'sqlite') return 'dynamic';
  const t = (declaredType ?? '').toLowerCase();
  if (d === 'postgres') {
    if (t === 'double precision' || t === 'real') return 'float';
    if (t === 'numeric' || t === 'decimal') return 'numeric';
    return ['integer', 'bigint', 'smallint'].includes(t) ? 'exact' : 'text';
  }
  // SQL Server's float cannot hold NaN or Infinity.
  return ['float', 'real', 'decimal', 'numeric', 'int', 'bigint', 'smallint', 'tinyint', 'money', 'smallmoney'].includes(t) ? 'exact' : 'text';
}

/** Space, tab, LF and CR: the ASCII whitespace that metrics.md §3 trims. */
const WS_CODES = [32, 9, 10, 13];

/**
 * The value as text, trimmed of leading and trailing ASCII whitespace; NULL when that leaves
 * nothing. SQL Server 2016 has no TRIM(chars FROM …): the first and last non-blank characters are
 * found with PATINDEX instead.
 */
export function trimmedText(d: Dialect, expr: string): string {
  if (d === 'postgres') return `NULLIF(btrim(CAST(${expr} AS text), ${wsChars(d)}), '')`;
  if (d === 'sqlite') return `NULLIF(trim(${expr}, ${wsChars(d)}), '')`;
  const x = `CAST(${expr} AS nvarchar(4000))`;
  const nonBlank = `'%[^' + ${wsChars(d)} + ']%'`;
  const first = `PATINDEX(${nonBlank}, ${x})`;
  const lastFromEnd = `PATINDEX(${nonBlank}, REVERSE(${x}))`;
  // LEN ignores trailing spaces; LEN(x + '.') - 1 is the real length.
  return `CASE WHEN ${first} > 0 THEN SUBSTRING(${x}, ${first}, LEN(${x} + N'.') - ${first} - ${lastFromEnd} + 2) END`;
}

function wsChars(d: Dialect): string {
  const fn = d === 'postgres' ? 'chr' : d === 'sqlite' ? 'char' : 'CHAR';
  const cat = d === 'mssql' ? ' + ' : ' || ';
  return WS_CODES.map((c) => `${fn}(${c})`).join(cat);
}

/** Character length of trimmed text. */
export function textLength(d: Dialect, expr: string): string {
  return d === 'mssql' ? `LEN(${expr})` : `length(${expr})`;
}

/** The raw value as text, for etl_rejects (SQLite keeps each value's own type). */
export function rawText(d: Dialect, expr: string, kind: TimeKind | NumberKind | 'text'): string {
  if (d === 'sqlite') return expr;
  if (d === 'postgres') return `CAST(${expr} AS text)`;
  if (kind === 'native') return `CONVERT(nvarchar(40), ${expr}, 121)`;
  // Style 3: the 17 digits that read back as the same float (SQL Server 2016 and later).
  if (kind === 'exact') return `CONVERT(nvarchar(40), CAST(${expr} AS float), 3)`;
  return `CAST(${expr} AS nvarchar(4000))`;
}

/** A condition: the raw value is present (not NULL, and not blank text). */
export function isPresent(d: Dialect, expr: string, kind: TimeKind | NumberKind): string {
  if (kind === 'native' || kind === 'float' || kind === 'numeric' || kind === 'exact') return `${expr} IS NOT NULL`;
  return `${trimmedText(d, expr)} IS NOT NULL`;
}

// Accepted timestamp text: YYYY-MM-DD[( |T)HH:MM[:SS[.fraction of 1 to 7 digits]]], after trimming.
const D4 = '[0-9][0-9][0-9][0-9]';
const D2 = '[0-9][0-9]';
const DATE_SHAPE = `${D4}-${D2}-${D2}`;
const MINUTE_SHAPE = `${DATE_SHAPE}[ T]${D2}:${D2}`;
const SECOND_SHAPE = `${MINUTE_SHAPE}:${D2}`;
/** SQLite's common case: 'YYYY-MM-DD HH:MM:SS', minutes and seconds 00–59. */
const CANONICAL = `${DATE_SHAPE} ${D2}:[0-5][0-9]:[0-5][0-9]`;
const PG_TIME_PATTERN = '^[0-9]{4}-[0-9]{2}-[0-9]{2}([ T][0-9]{2}:[0-9]{2}(:[0-9]{2}(\\.[0-9]{1,7}){0,1}){0,1}){0,1}$';

function substring(d: Dialect, expr: string, from: number, len: number): string {
  return d === 'mssql' ? `SUBSTRING(${expr}, ${from}, ${len})` : `substr(${expr}, ${from}, ${len})`;
}

/** A condition on trimmed text `t`: it has the accepted shape (digits where digits belong). */
function timestampShape(d: Dialect, t: string): string {
  if (d === 'postgres') return `${t} ~ '${PG_TIME_PATTERN}'`;
  const like = d === 'sqlite' ? 'GLOB' : 'LIKE';
  const any = d === 'sqlite' ? '*' : '%';
  const plain = [DATE_SHAPE, MINUTE_SHAPE, SECOND_SHAPE].map((s) => `${t} ${like} '${s}'`);
  const fraction =
    `(${t} ${like} '${SECOND_SHAPE}.[0-9]${any}' AND ${textLength(d, t)} <= 27 ` +
    `AND ${substring(d, t, 21, 7)} NOT ${like} '${any}[^0-9]${any}')`;
  return `(${[...plain, fraction].join(' OR ')})`;
}

/**
 * A condition on trimmed text `t` of the accepted shape: month, day, hour, minute and second exist
 * (no 2026-02-30, no 25:61) and the year is in range. Arithmetic, so that no cast can fail (a CASE
 * keeps PostgreSQL from casting the time of a date-only text); years are 1970–2099, where every
 * fourth year is a leap year.
 */
function calendarValid(d: Dialect, t: string): string {
  const int = (from: number, len: number) => `CAST(${substring(d, t, from, len)} AS integer)`;
  const len = textLength(d, t);
  const year = substring(d, t, 1, 4);
  const m = int(6, 2);
  const day = int(9, 2);
  const daysInMonth = `CASE WHEN ${m} = 2 THEN CASE WHEN ${int(1, 4)} % 4 = 0 THEN 29 ELSE 28 END WHEN ${m} IN (4, 6, 9, 11) THEN 30 ELSE 31 END`;
  const timeOfDay =
    `CASE WHEN ${len} = 10 THEN 1 WHEN ${int(12, 2)} > 23 OR ${int(15, 2)} > 59 THEN 0 ` +
    `WHEN ${len} = 16 THEN 1 WHEN ${int(18, 2)} > 59 THEN 0 ELSE 1 END`;
  return `${year} >= '1970' AND ${year} < '2100' AND ${m} BETWEEN 1 AND 12 AND ${day} BETWEEN 1 AND ${daysInMonth} AND ${timeOfDay} = 1`;
}

/**
 * The raw timestamp as a value that compares with bound 'YYYY-MM-DD HH:MM:SS' parameters (see
 * dialect.ts timestampParam); NULL when it is missing or not a valid date and time in range.
 * SQLite's is canonical text 'YYYY-MM-DD HH:MM:SS.fff'; epoch milliseconds (what a JS Date becomes
 * there) are converted.
 */
export function validTimestamp(d: Dialect, expr: string, kind: TimeKind): string {
  if (kind === 'native') {
    const ts = (v: string) => (d === 'postgres' ? `CAST('${v}' AS timestamp)` : `CAST('${v}' AS datetime2(3))`);
    return `CASE WHEN ${expr} >= ${ts(TIME_RANGE.from)} AND ${expr} < ${ts(TIME_RANGE.to)} THEN ${expr} END`;
  }
  const t = trimmedText(d, expr);
  // Shape first, in a CASE of its own: neither PostgreSQL nor SQL Server promises to stop an AND early.
  if (d === 'postgres') {
    return `CASE WHEN ${timestampShape(d, t)} THEN CASE WHEN ${calendarValid(d, t)} THEN CAST(${t} AS timestamp) END END`;
  }
  if (d === 'mssql') {
    const iso = `REPLACE(${t}, 'T', ' ')`;
    return `CASE WHEN ${timestampShape(d, t)} THEN CASE WHEN ${calendarValid(d, t)} THEN TRY_CONVERT(datetime2(3), ${iso}, 121) END END`;
  }
  // SQLite: nearly every row holds canonical text 'YYYY-MM-DD HH:MM:SS[.fff]', checked here in SQL; any
  // other value (padded, 'T', no seconds, a fraction, epoch milliseconds) goes to the registered
  // function, which applies the same rules.
  const part = (from: number, len: number) => `substr(${expr}, ${from}, ${len})`;
  const daysInMonth =
    `CASE ${part(6, 2)} WHEN '02' THEN CASE WHEN ${part(1, 4)} % 4 = 0 THEN '29' ELSE '28' END ` +
    `WHEN '04' THEN '30' WHEN '06' THEN '30' WHEN '09' THEN '30' WHEN '11' THEN '30' ELSE '31' END`;
  return (
    `CASE WHEN typeof(${expr}) = 'text' AND (${expr} GLOB '${CANONICAL}' OR ${expr} GLOB '${CANONICAL}.[0-9][0-9][0-9]') ` +
    `THEN CASE WHEN ${expr} >= '1970' AND ${expr} < '2100' AND ${part(6, 2)} BETWEEN '01' AND '12' ` +
    `AND ${part(9, 2)} BETWEEN '01' AND ${daysInMonth} AND ${part(12, 2)} < '24' ` +
    `THEN CASE WHEN length(${expr}) = 19 THEN ${expr} || '.000' ELSE ${expr} END END ` +
    `ELSE ${SQLITE_TIMESTAMP_FUNCTION}(${expr}) END`
  );
}

/** The largest finite double. */
const MAX_DOUBLE = '1.7976931348623157e308';
// No '?' in SQL text: knex reads it as a placeholder.
const PG_NUMBER_PATTERN = '^[+-]{0,1}([0-9]+(\\.[0-9]*){0,1}|\\.[0-9]+)([eE][+-]{0,1}[0-9]{1,5}){0,1}$';

/**
 * The raw duration as a finite number; NULL when it is missing or not a finite number
 * (`abc`, `12,5`, NaN, ±Infinity). Text is a decimal number with an optional exponent.
 */
export function finiteNumber(d: Dialect, expr: string, kind: NumberKind): string {
  if (kind === 'exact') return expr;
  if (kind === 'float') return `CASE WHEN ${expr} > -CAST('Infinity' AS double precision) AND ${expr} < CAST('Infinity' AS double precision) THEN ${expr} END`;
  if (kind === 'numeric') return `CASE WHEN CAST(${expr} AS text) NOT IN ('NaN', 'Infinity', '-Infinity') THEN ${expr} END`;
  const t = trimmedText(d, expr);
  if (d === 'postgres') {
    const n = `CAST(${t} AS numeric)`;
    return `CASE WHEN ${t} ~ '${PG_NUMBER_PATTERN}' THEN CASE WHEN abs(${n}) <= ${MAX_DOUBLE} THEN CAST(${n} AS double precision) END END`;
  }
  if (d === 'mssql') {
    return `CASE WHEN ${t} NOT LIKE '%[^0-9.eE+-]%' AND ${t} LIKE '%[0-9]%' THEN TRY_CONVERT(float, ${t}) END`;
  }
  return (
    `CASE typeof(${expr}) WHEN 'integer' THEN ${expr} ` +
    `WHEN 'real' THEN CASE WHEN ${expr} BETWEEN -${MAX_DOUBLE} AND ${MAX_DOUBLE} THEN ${expr} END ` +
    `WHEN 'text' THEN ${SQLITE_DECIMAL_FUNCTION}(${t}) END`
  );
}

/**
 * SQLite has no regular expressions and its CAST reads any numeric prefix ('12,5' → 12), so text
 * durations, and timestamps not in canonical form, are read by these functions, registered on every
 * SQLite connection (sql/connection.ts).
 */
export const SQLITE_DECIMAL_FUNCTION = 'yieldrun_decimal';
export const SQLITE_TIMESTAMP_FUNCTION = 'yieldrun_timestamp';

const DECIMAL = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d{1,5})?$/;

/** The finite number a decimal text spells, or null. */
export function parseDecimal(text: unknown): number | null {
  if (typeof text !== 'string' || !DECIMAL.test(text)) return null;
  const n = Number(text);
  return Number.isFinite(n) ? n : null;
}

const ASCII_BLANK = /^[ \t\r\n]+|[ \t\r\n]+$/g;
const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?$/;

/**
 * A SQLite timestamp value as canonical text 'YYYY-MM-DD HH:MM:SS.fff', or null when it is missing
 * or invalid: the rules of validTimestamp, for text in any accepted form and for epoch milliseconds.
 */
export function parseSqliteTimestamp(value: unknown): string | null {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return null;
    const ms = Math.trunc(value);
    if (ms < Date.UTC(1970, 0, 1) || ms >= Date.UTC(2100, 0, 1)) return null;
    return new Date(ms).toISOString().slice(0, 23).replace('T', ' ');
  }
  if (typeof value !== 'string') return null;
  const m = TIMESTAMP.exec(value.replace(ASCII_BLANK, ''));
  if (!m) return null;
  const [, y, mo, d, h = '00', mi = '00', sec = '00', frac = ''] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const daysInMonth = month === 2 ? (year % 4 === 0 ? 29 : 28) : [4, 6, 9, 11].includes(month) ? 30 : 31;
  if (year < 1970 || year >= 2100 || month < 1 || month > 12 || day < 1 || day > daysInMonth) return null;
  if (Number(h) > 23 || Number(mi) > 59 || Number(sec) > 59) return null;
  return `${y}-${mo}-${d} ${h}:${mi}:${sec}.${frac.padEnd(3, '0').slice(0, 3)}`;
}
