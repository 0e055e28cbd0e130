/**
 * The set-based SQL of the process flow (process-flow.md), one statement per event log and batch,
 * built once for all three dialects.
 *
 * The event log is the valid test attempts (sql/valid-attempts.ts: the nightly summary's own
 * validation) or the battery line's winding and CEF records. One pass of window functions over each
 * case's events in order gives each event its predecessor, successor, attempt number at its step
 * and the case's first day slot; the parts of the result are aggregates per period of the cases
 * whose first event falls in it: edges (E), steps (S), variants (V) and, by attempt time, shifts (H).
 *
 * Medians and the 90th percentile are computed here, on every dialect, as numpy's default (type 7):
 * with the n values of a group in order x₀ … xₙ₋₁ and h = (n − 1)·p, the value is
 * x⌊h⌋ + (h − ⌊h⌋)·(x⌊h⌋+1 − x⌊h⌋). Each value's rank comes from ROW_NUMBER and the group's n from
 * COUNT OVER, so ⌊h⌋ and its fraction are integer arithmetic on p = num / den, and the group's
 * aggregate picks the two ranks. No percentile function is needed: SQLite has none, and SQL Server's
 * PERCENTILE_CONT is a window function only, which would not fold into the same GROUP BY.
 *
 * Every value is a bound parameter; identifiers come from validated config and are quoted here.
 */
import type { Dialect } from './dialect.js';
import { quoteIdent, quoteTable, timestampParam } from './dialect.js';
import { trimmedText, validTimestamp, type TimeKind } from './source-values.js';
import { slotOf, validAttemptCtes, type DaySlot, type ValidAttemptsInput } from './valid-attempts.js';
import { SqlText, type Statement } from './statement.js';
import type { Config } from '../config/schema.js';

/** A period of the batch as a range of day slots, inclusive: a day is one slot, a week seven. */
export interface FlowPeriodSlots {
  pid: number;
  lo: number;
  hi: number;
}

/** A piece of a shift in plant time, as the source stores time; `shift` indexes the configured shifts. */
export interface ShiftSlot extends DaySlot {
  shift: number;
}

export type FlowPart = 'E' | 'S' | 'V' | 'H' | 'K';

type Columns<K extends 'assembly' | 'winding'> = Config['source'][K]['columns'];

/** The battery line's event log: each cell's winding record and its CEF record. */
export interface BatteryEventsInput {
  dialect: Dialect;
  winding: { table: string; columns: Columns<'winding'>; timeKind: TimeKind };
  assembly: { table: string; columns: Columns<'assembly'>; timeKind: TimeKind };
  slots: readonly DaySlot[];
  historyFrom: string;
}

export interface FlowQueryInput {
  events: { log: 'tests'; attempts: ValidAttemptsInput } | { log: 'battery'; battery: BatteryEventsInput };
  periods: readonly FlowPeriodSlots[];
  /** Pieces of shifts covering the day slots, in time order (empty: no shift part). */
  shifts: readonly ShiftSlot[];
  parts: readonly FlowPart[];
}

/** The battery line's case product, activities, and the pseudo-steps of the edges. */
export const BATTERY_PRODUCT = 'CELL';
export const WINDING_STEP = 'WINDING';
export const CEF_STEP = 'CEF';
export const START = '(start)';
export const END = '(end)';

/** The longest variant SQL Server 2016 can spell without STRING_AGG (2017): steps beyond end in '>…'. */
export const MSSQL_VARIANT_STEPS = 40;

/**
 * A row of the statement's result. E: a from_step, b to_step, v1 transitions, v2 cases, v3 median
 * wait, v4 p90 wait. S: a step, v1 cases, v2 events, v3 rework events, v4 median processing, v5
 * median wait in. V: a variant, v1 cases, v2 median lead time. H: a step, sh shift, v1 attempts,
 * v2 unit-tests with attempt 1 there, v3 of them first pass, v4 waits, v5 median wait in.
 * K: a from_step, b to_step, c the machine of the from event, v1 transitions, v2 cases.
 */
export interface FlowFineRow {
  part: FlowPart;
  pid: number | string;
  product: string;
  a: string;
  b: string | null;
  c: string | null;
  sh: number | string | null;
  v1: number | string | null;
  v2: number | string | null;
  v3: number | string | null;
  v4: number | string | null;
  v5: number | string | null;
}

function text(d: Dialect, expr: string): string {
  return d === 'postgres' ? `CAST(${expr} AS text)` : d === 'mssql' ? `CAST(${expr} AS nvarchar(4000))` : expr;
}

function number(d: Dialect, expr: string): string {
  return d === 'postgres' ? `CAST(${expr} AS double precision)` : d === 'mssql' ? `CAST(${expr} AS float)` : `CAST(${expr} AS REAL)`;
}

/** Seconds from `a` to `b`, two parsed timestamps (SQLite: canonical text with milliseconds). */
export function secondsBetween(d: Dialect, a: string, b: string): string {
  if (d === 'postgres') return `CAST(EXTRACT(EPOCH FROM (${b} - ${a})) AS double precision)`;
  if (d === 'mssql') return `DATEDIFF_BIG(millisecond, ${a}, ${b}) / 1000.0`;
  return `round(unixepoch(${b}, 'subsec') - unixepoch(${a}, 'subsec'), 3)`;
}

/** The window columns that rank `value` within its group: r (0-based, among non-NULL values) and n. */
function ranks(value: string, group: string, suffix: string): string {
  return (
    `ROW_NUMBER() OVER (PARTITION BY ${group}, CASE WHEN ${value} IS NULL THEN 1 ELSE 0 END ORDER BY ${value}) - 1 AS r_${suffix}, ` +
    `COUNT(${value}) OVER (PARTITION BY ${group}) AS n_${suffix}`
  );
}

/** The type-7 quantile num/den of `value` in its group, as an aggregate over the ranked rows. */
function quantile(d: Dialect, value: string, suffix: string, num: number, den: number): string {
  const h = `((n_${suffix} - 1) * ${num})`;
  const lo = `${h} / ${den}`;
  const frac = `${number(d, `${h} % ${den}`)} / ${den}`;
  return `SUM(CASE WHEN ${value} IS NULL THEN NULL WHEN r_${suffix} = ${lo} THEN ${value} * (1 - ${frac}) WHEN r_${suffix} = ${lo} + 1 THEN ${value} * ${frac} END)`;
}

const median = (d: Dialect, value: string, suffix: string) => quantile(d, value, suffix, 1, 2);

/**
 * The battery line's events, as `deduped` has them: a cell's winding and CEF records with a cell,
 * an equipment and a valid time, exact duplicates once.
 */
function batteryEvents(q: SqlText, input: BatteryEventsInput): void {
  const d = input.dialect;
  const ts = timestampParam(d);
  const read = (table: string, cell: string, eqp: string, at: string, kind: TimeKind, step: string) => {
    const t = validTimestamp(d, `s.${quoteIdent(d, at)}`, kind);
    return (
      `SELECT ${trimmedText(d, `s.${quoteIdent(d, cell)}`)} AS serial, ${trimmedText(d, `s.${quoteIdent(d, eqp)}`)} AS machine, ` +
      `${t} AS tested_at, '${step}' AS test FROM ${quoteTable(d, table)} s WHERE ${t} >= ${ts}`
    );
  };
  const w = input.winding;
  const a = input.assembly;
  q.add(
    `braw AS (${read(w.table, w.columns.cellId, w.columns.eqpId, w.columns.prodDt, w.timeKind, WINDING_STEP)} UNION ALL ` +
      `${read(a.table, a.columns.cellId, a.columns.eqpId, a.columns.prodDt, a.timeKind, CEF_STEP)}),\n`,
    input.historyFrom,
    input.historyFrom,
  );
  q.add(`bslot AS (SELECT braw.*, `);
  slotOf(d, 'tested_at', input.slots, q);
  q.add(` AS slot FROM braw WHERE serial IS NOT NULL AND machine IS NOT NULL),\n`);
  q.add(`deduped AS (SELECT serial, test, tested_at, machine, ${text(d, 'NULL')} AS result, '${BATTERY_PRODUCT}' AS product, slot,
      ${number(d, 'NULL')} AS duration_s
    FROM bslot GROUP BY serial, test, tested_at, machine, slot),\n`);
}

/** The process-flow statement for one event log and batch; its rows are FlowFineRow. */
export function buildFlowStatement(input: FlowQueryInput): Statement {
  const d = input.events.log === 'tests' ? input.events.attempts.dialect : input.events.battery.dialect;
  if (input.periods.length === 0 || input.parts.length === 0) throw new Error('internal: a flow query needs periods and parts');
  const q = new SqlText();
  q.add('WITH fperiods AS (');
  input.periods.forEach((p, i) => q.add(`${i ? ' UNION ALL ' : ''}SELECT CAST(? AS integer) AS pid, CAST(? AS integer) AS lo, CAST(? AS integer) AS hi`, p.pid, p.lo, p.hi));
  q.add('),\n');
  if (input.events.log === 'tests') validAttemptCtes(q, input.events.attempts);
  else batteryEvents(q, input.events.battery);

  // A case's events in order (process-flow.md §1: time, machine, FAIL before PASS; the step breaks
  // the last tie between steps). Exact duplicates are gone, so the order is total.
  const order = 'ORDER BY tested_at, machine, result, test';
  const byCase = `OVER (PARTITION BY serial ${order})`;
  const materialized = d === 'mssql' ? '' : 'MATERIALIZED ';
  q.add(`ev AS (SELECT serial, product, test, machine, tested_at, result, duration_s, slot,
      ROW_NUMBER() ${byCase} AS seq,
      ROW_NUMBER() OVER (PARTITION BY serial, test ${order}) AS step_n,
      LAG(test) ${byCase} AS prev_step, LAG(tested_at) ${byCase} AS prev_at, LAG(duration_s) ${byCase} AS prev_duration,
      LEAD(test) ${byCase} AS next_step, LAG(machine) ${byCase} AS prev_machine,
      FIRST_VALUE(slot) ${byCase} AS case_slot, FIRST_VALUE(tested_at) ${byCase} AS case_first_at
    FROM deduped),\n`);
  // The wait before an event: from the end of the case's previous event (its time when it has no
  // duration), never negative. The lead time, on a case's last event: from its first event's time.
  const gap = `${secondsBetween(d, 'prev_at', 'tested_at')} - COALESCE(prev_duration, 0)`;
  const collapsed = '(prev_step IS NULL OR prev_step <> test)';
  // Materialised once: every part reads it (SQLite and PostgreSQL would otherwise redo the windows).
  q.add(`evw AS ${materialized}(SELECT ev.*,
      CASE WHEN prev_step IS NULL THEN NULL WHEN ${gap} < 0 THEN 0 ELSE ${gap} END AS wait_s,
      CASE WHEN prev_step <> test THEN CASE WHEN ${gap} < 0 THEN 0 ELSE ${gap} END END AS wait_in_s,
      CASE WHEN next_step IS NULL THEN ${secondsBetween(d, 'case_first_at', 'tested_at')} + COALESCE(duration_s, 0) END AS lead_s`);
  if (d === 'mssql') q.add(`,\n      SUM(CASE WHEN ${collapsed} THEN 1 ELSE 0 END) OVER (PARTITION BY serial ${order} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS vseq`);
  q.add(`\n    FROM ev),\n`);
  q.add(`pev AS ${materialized}(SELECT p.pid, evw.* FROM evw JOIN fperiods p ON evw.case_slot >= p.lo AND evw.case_slot <= p.hi),\n`);

  const branches: string[] = [];
  const ctes: (string | Statement)[] = [];
  const numNull = number(d, 'NULL');
  const intNull = 'CAST(NULL AS integer)';
  // Every branch names and types its columns: any part may come first, and the first names them.
  const select = (part: FlowPart, a: string, b: string, sh: string, v: readonly string[], c = 'NULL') =>
    `SELECT '${part}' AS part, pid, ${text(d, 'product')} AS product, ${text(d, a)} AS a, ${text(d, b)} AS b, ${text(d, c)} AS c, ${sh} AS sh, ` +
    v.map((x, i) => `${number(d, x)} AS v${i + 1}`).join(', ');
  if (input.parts.includes('E')) {
    ctes.push(`pairs AS (SELECT pid, product, serial, ${text(d, `COALESCE(prev_step, '${START}')`)} AS from_step, ${text(d, 'test')} AS to_step, wait_s FROM pev
      UNION ALL SELECT pid, product, serial, ${text(d, 'test')}, ${text(d, `'${END}'`)}, ${numNull} FROM pev WHERE next_step IS NULL)`);
    ctes.push(`er AS (SELECT pairs.*, ${ranks('wait_s', 'pid, product, from_step, to_step', 'w')} FROM pairs)`);
    branches.push(
      `${select('E', 'from_step', 'to_step', intNull, ['COUNT(*)', 'COUNT(DISTINCT serial)', median(d, 'wait_s', 'w'), quantile(d, 'wait_s', 'w', 9, 10), 'NULL'])}
    FROM er GROUP BY pid, product, from_step, to_step`,
    );
  }
  if (input.parts.includes('S')) {
    ctes.push(`sr AS (SELECT pev.*, ${ranks('duration_s', 'pid, product, test', 'd')}, ${ranks('wait_in_s', 'pid, product, test', 'w')} FROM pev)`);
    branches.push(
      `${select('S', 'test', 'NULL', intNull, ['COUNT(DISTINCT serial)', 'COUNT(*)', 'SUM(CASE WHEN step_n > 1 THEN 1 ELSE 0 END)', median(d, 'duration_s', 'd'), median(d, 'wait_in_s', 'w')])}
    FROM sr GROUP BY pid, product, test`,
    );
  }
  if (input.parts.includes('V')) {
    // A case's variant: its steps with repeats collapsed, joined by '>'.
    let variant: string;
    if (d === 'postgres') variant = `string_agg(CASE WHEN ${collapsed} THEN test END, '>' ORDER BY seq)`;
    else if (d === 'sqlite') variant = `group_concat(CASE WHEN ${collapsed} THEN test END, '>' ORDER BY seq)`;
    else {
      const pieces = Array.from({ length: MSSQL_VARIANT_STEPS }, (_, i) => `MAX(CASE WHEN ${collapsed} AND vseq = ${i + 1} THEN ${i ? "N'>' + " : ''}test END)`);
      variant = `CONCAT(${pieces.join(', ')}, MAX(CASE WHEN vseq > ${MSSQL_VARIANT_STEPS} THEN N'>…' END))`;
    }
    ctes.push(`cases AS (SELECT serial, product, case_slot, ${text(d, variant)} AS variant, MAX(lead_s) AS lead_s FROM evw WHERE case_slot IS NOT NULL GROUP BY serial, product, case_slot)`);
    ctes.push(`vr AS (SELECT p.pid, cases.*, ${ranks('lead_s', 'p.pid, product, variant', 'l')} FROM cases JOIN fperiods p ON cases.case_slot >= p.lo AND cases.case_slot <= p.hi)`);
    branches.push(`${select('V', 'variant', 'NULL', intNull, ['COUNT(*)', median(d, 'lead_s', 'l'), 'NULL', 'NULL', 'NULL'])}
    FROM vr GROUP BY pid, product, variant`);
  }
  if (input.parts.includes('K')) {
    // Hand-offs between steps by the machine that released the unit: which station sends units past a step.
    branches.push(`${select('K', 'prev_step', 'test', intNull, ['COUNT(*)', 'COUNT(DISTINCT serial)', 'NULL', 'NULL', 'NULL'], 'prev_machine')}
    FROM pev WHERE prev_step <> test GROUP BY pid, product, prev_step, test, prev_machine`);
  }
  if (input.parts.includes('H') && input.shifts.length > 0) {
    // By attempt time: the attempt's own day slot and the shift that contains it.
    const h = new SqlText();
    h.add('hev AS (SELECT p.pid, evw.*, ');
    slotOf(d, 'tested_at', input.shifts, h, (i) => input.shifts[i]!.shift);
    h.add(' AS sh FROM evw JOIN fperiods p ON evw.slot >= p.lo AND evw.slot <= p.hi)');
    ctes.push(h.statement());
    ctes.push(`hr AS (SELECT hev.*, ${ranks('wait_in_s', 'pid, product, test, sh', 'w')} FROM hev)`);
    branches.push(
      `${select('H', 'test', 'NULL', 'sh', ['COUNT(*)', 'SUM(CASE WHEN step_n = 1 THEN 1 ELSE 0 END)', "SUM(CASE WHEN step_n = 1 AND result = 'PASS' THEN 1 ELSE 0 END)", 'COUNT(wait_in_s)', median(d, 'wait_in_s', 'w')])}
    FROM hr WHERE sh IS NOT NULL GROUP BY pid, product, test, sh`,
    );
  }
  const withBindings = ctes.map((c) => (typeof c === 'string' ? { sql: c, bindings: [] } : c));
  withBindings.forEach((c, i) => q.add(`${c.sql}${i < withBindings.length - 1 ? ',' : ''}\n`, ...c.bindings));
  q.add(branches.join('\nUNION ALL '));
  return q.statement();
}
