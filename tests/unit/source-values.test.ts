/**
 * The rules for one raw value (metrics.md §3) as the JavaScript side applies them on SQLite:
 * text durations and timestamps not in canonical form. The SQL of the other dialects applies the
 * same rules; tests/integration/dirty-rows.test.ts runs both against real databases.
 */
import { describe, expect, it } from 'vitest';
import { parseDecimal, parseSqliteTimestamp, trimmedText } from '../../sql/source-values.js';

describe('parseDecimal', () => {
  it('reads decimal text with an optional sign, fraction and exponent', () => {
    expect(['12.5', '+5', '-0.5', '.5', '5.', '1e3', '0', '007'].map(parseDecimal)).toEqual([12.5, 5, -0.5, 0.5, 5, 1000, 0, 7]);
  });
  it('refuses text that is not a finite number', () => {
    expect(['abc', '12,5', '1.2.3', '', '-', 'NaN', 'Infinity', '1e999', '0x1F', ' 5'].map(parseDecimal)).toEqual(Array(10).fill(null));
  });
});

describe('parseSqliteTimestamp', () => {
  it('accepts every allowed form and gives canonical text', () => {
    expect(parseSqliteTimestamp(' 2026-11-20T08:00 ')).toBe('2026-11-20 08:00:00.000');
    expect(parseSqliteTimestamp('2026-11-20')).toBe('2026-11-20 00:00:00.000');
    expect(parseSqliteTimestamp('2026-11-20 09:00:00.25')).toBe('2026-11-20 09:00:00.250');
    expect(parseSqliteTimestamp('2026-11-20 09:00:00.1234567\r\n')).toBe('2026-11-20 09:00:00.123');
    expect(parseSqliteTimestamp('2024-02-29 23:59:59')).toBe('2024-02-29 23:59:59.000'); // a leap day
    expect(parseSqliteTimestamp('1970-01-01 00:00:00')).toBe('1970-01-01 00:00:00.000'); // the first valid instant
    // Epoch milliseconds (a JS Date written by better-sqlite3): 2026-11-20 07:00:00.5 UTC.
    expect(parseSqliteTimestamp(Date.UTC(2026, 10, 20, 7, 0, 0, 500))).toBe('2026-11-20 07:00:00.500');
  });
  it('refuses impossible dates and times, other forms, and the range outside [1970, 2100)', () => {
    const bad = ['2026-02-29 00:00:00', '2026-02-30 07:00:00', '2026-04-31', '2026-13-01', '2026-00-10', '2026-10-02 25:61:00',
      '2026-10-02 24:00:00', '2026-10-02 23:59:60', 'not a date', '2026/10/02 07:00', '2026-10-02 7:00', '2026-10-02 07:00:00Z',
      '1969-12-31 23:59:59', '2100-01-01 00:00:00', '   ', ''];
    expect(bad.map(parseSqliteTimestamp)).toEqual(Array(bad.length).fill(null));
    expect([Date.UTC(1969, 11, 31, 23, 59, 59), Date.UTC(2100, 0, 1), Number.POSITIVE_INFINITY, null].map(parseSqliteTimestamp)).toEqual([null, null, null, null]);
  });
});

describe('trimmedText on SQL Server', () => {
  it('finds the first and last non-blank characters with PATINDEX (SQL Server 2016 has no TRIM)', () => {
    const sql = trimmedText('mssql', 's.[SerialNum]');
    expect(sql).not.toMatch(/\bTRIM\(/);
    expect(sql).toContain("PATINDEX('%[^' + CHAR(32) + CHAR(9) + CHAR(10) + CHAR(13) + ']%', CAST(s.[SerialNum] AS nvarchar(4000)))");
    expect(sql).toContain('REVERSE(CAST(s.[SerialNum] AS nvarchar(4000)))');
  });
});
