/**
 * The benchmark's baseline: one hand-written SQL query computing a day's product × test metrics
 * (metrics.md §5) straight from test_records with the default column names, as an engineer would
 * write it for a report. The nightly summary is measured against it on the same database.
 */
import type { Dialect } from '../../sql/dialect.js';

export function baselineQuery(d: Dialect, table: string): string {
  const q = (c: string) => (d === 'mssql' ? `[${c}]` : `"${c}"`);
  const ts = d === 'postgres' ? 'CAST(? AS timestamp)' : d === 'mssql' ? 'CAST(? AS datetime2)' : '?';
  return `
WITH raw AS (
  SELECT NULLIF(TRIM(${q('SerialNum')}), '') AS serial, NULLIF(TRIM(${q('ProductName')}), '') AS product,
         NULLIF(TRIM(${q('TestName')}), '') AS test, NULLIF(TRIM(${q('MachineID')}), '') AS machine, ${q('TestTimeStamp')} AS ts,
         CASE UPPER(TRIM(${q('TestResult')})) WHEN 'PASS' THEN 'PASS' WHEN 'P' THEN 'PASS' WHEN 'OK' THEN 'PASS'
              WHEN 'FAIL' THEN 'FAIL' WHEN 'F' THEN 'FAIL' WHEN 'NG' THEN 'FAIL' END AS result,
         ${q('TestDuration_s')} AS dur
  FROM ${table} WHERE ${q('TestTimeStamp')} >= ${ts}
),
ok AS (
  SELECT * FROM raw
  WHERE serial IS NOT NULL AND product IS NOT NULL AND test IS NOT NULL AND machine IS NOT NULL
    AND ts IS NOT NULL AND result IS NOT NULL AND (dur IS NULL OR dur >= 0)
),
owner AS (
  SELECT serial, product FROM (
    SELECT serial, product, ROW_NUMBER() OVER (PARTITION BY serial ORDER BY ts, product) AS rn FROM ok
  ) x WHERE rn = 1
),
att AS (
  SELECT ok.serial, ok.product, ok.test, ok.machine, ok.ts, ok.result, MIN(ok.dur) AS dur,
         ROW_NUMBER() OVER (PARTITION BY ok.serial, ok.test ORDER BY ok.ts, ok.machine, ok.result) AS n
  FROM ok JOIN owner o ON o.serial = ok.serial AND o.product = ok.product
  GROUP BY ok.serial, ok.product, ok.test, ok.machine, ok.ts, ok.result
),
unit AS (
  SELECT product, test, MIN(ts) AS first_ts,
         MIN(CASE WHEN result = 'PASS' THEN n END) AS fp_n, COUNT(*) AS cnt
  FROM att GROUP BY serial, product, test
)
SELECT product, test,
       SUM(test_count) AS test_count, SUM(pass_count) AS pass_count,
       SUM(units) AS units_tested, SUM(fp) AS first_pass_units, SUM(passed) AS passed_units,
       SUM(scrapped) AS scrapped_units, SUM(retests) AS retest_count,
       SUM(dp) / NULLIF(SUM(np), 0) AS avg_duration_pass_s, SUM(df) / NULLIF(SUM(nf), 0) AS avg_duration_fail_s
FROM (
  SELECT product, test, COUNT(*) AS test_count, SUM(CASE WHEN result = 'PASS' THEN 1 ELSE 0 END) AS pass_count,
         0 AS units, 0 AS fp, 0 AS passed, 0 AS scrapped, 0 AS retests,
         SUM(CASE WHEN result = 'PASS' THEN dur END) AS dp, COUNT(CASE WHEN result = 'PASS' THEN dur END) AS np,
         SUM(CASE WHEN result = 'FAIL' THEN dur END) AS df, COUNT(CASE WHEN result = 'FAIL' THEN dur END) AS nf
  FROM att WHERE ts >= ${ts} AND ts < ${ts} GROUP BY product, test
  UNION ALL
  SELECT product, test, 0, 0, COUNT(*),
         SUM(CASE WHEN fp_n = 1 THEN 1 ELSE 0 END), SUM(CASE WHEN fp_n <= 3 THEN 1 ELSE 0 END),
         SUM(CASE WHEN (fp_n IS NULL OR fp_n > 3) AND cnt >= 3 THEN 1 ELSE 0 END),
         SUM(CASE WHEN COALESCE(fp_n, cnt) < 3 THEN COALESCE(fp_n, cnt) ELSE 3 END - 1),
         NULL, 0, NULL, 0
  FROM unit WHERE first_ts >= ${ts} AND first_ts < ${ts} GROUP BY product, test
) parts
GROUP BY product, test
ORDER BY product, test`;
}

/** Bindings in order: history start, then the day's bounds twice. */
export function baselineBindings(historyFrom: string, dayFrom: string, dayTo: string): string[] {
  return [historyFrom, dayFrom, dayTo, dayFrom, dayTo];
}
