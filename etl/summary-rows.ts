/**
 * Turns the fine-grain aggregate rows of `sql/summary-query.ts` into the rows of
 * summary_prod_test, summary_machine and summary_prod (metrics.md §5–§8), and the per-period
 * data-quality counts. Pure: no I/O.
 */
import type { Period } from './periods.js';

/**
 * One row of the summary statement, as returned by the driver (sql/summary-query.ts). An F row is
 * the attempts of one slot × product × test × machine whose attempt 1 was at slot v10 on machine
 * t1 (and, for scrapped attempts, of one serial, t2): v1–v9 are attempt counts (tests, passes,
 * fails, pass and fail durations and their counts, excess attempts, duplicates dropped), v11–v15
 * cohort counts (units tested, first-pass units, passed, scrapped, retests).
 */
export interface FineRow {
  part: 'F' | 'L' | 'Q' | 'R';
  /** The day slot; NULL for rows without a timestamp (Q, R) or attempts after the batch's slots (F). */
  k: number | string | null;
  product: string | null;
  test: string | null;
  machine: string | null;
  /** Values of a rejected row (R), as read: serial, reason, result, error code, timestamp, duration. F: t1, t2 above. */
  t1: string | null;
  t2: string | null;
  t3: string | null;
  t4: string | null;
  t5: string | number | null;
  t6: string | number | null;
  v1: number | string | null;
  v2: number | string | null;
  v3: number | string | null;
  v4: number | string | null;
  v5: number | string | null;
  v6: number | string | null;
  v7: number | string | null;
  v8: number | string | null;
  v9: number | string | null;
  v10?: number | string | null;
  v11?: number | string | null;
  v12?: number | string | null;
  v13?: number | string | null;
  v14?: number | string | null;
  v15?: number | string | null;
}

interface Counts {
  test_count: number;
  pass_count: number;
  fail_count: number;
  dur_pass_sum: number;
  dur_pass_n: number;
  dur_fail_sum: number;
  dur_fail_n: number;
  excess: number;
  duplicates: number;
  units_tested: number;
  first_pass_units: number;
  passed_units: number;
  scrapped_units: number;
  retest_count: number;
}

const zero = (): Counts => ({
  test_count: 0,
  pass_count: 0,
  fail_count: 0,
  dur_pass_sum: 0,
  dur_pass_n: 0,
  dur_fail_sum: 0,
  dur_fail_n: 0,
  excess: 0,
  duplicates: 0,
  units_tested: 0,
  first_pass_units: 0,
  passed_units: 0,
  scrapped_units: 0,
  retest_count: 0,
});

function add(into: Counts, from: Counts): void {
  for (const k of Object.keys(into) as (keyof Counts)[]) into[k] += from[k];
}

const num = (v: number | string | null | undefined): number => (v === null || v === undefined ? 0 : Number(v));

/** a / b, NULL when b is 0 (metrics.md §8). */
export function ratio(a: number, b: number): number | null {
  return b === 0 ? null : a / b;
}

/**
 * Mean duration, rounded to the microsecond: the database may add floating-point durations in any
 * order (parallel aggregation), and a rerun must give identical rows.
 */
function mean(sum: number, n: number): number | null {
  return n === 0 ? null : Math.round((sum / n) * 1e6) / 1e6;
}

export interface PeriodKey {
  period_type: 'day' | 'week';
  period_start: string;
  period_label: string;
}

export interface AttemptAndCohortColumns {
  test_count: number;
  pass_count: number;
  fail_count: number;
  passing_rate: number | null;
  units_tested: number;
  first_pass_units: number;
  passed_units: number;
  scrapped_units: number;
  pending_units: number;
  first_pass_yield: number | null;
  cumulative_yield: number | null;
  retest_count: number;
  avg_duration_pass_s: number | null;
  avg_duration_fail_s: number | null;
}

export type ProdTestRow = PeriodKey & { product: string; test: string } & AttemptAndCohortColumns;
export type MachineRow = PeriodKey & { machine: string } & AttemptAndCohortColumns;
export interface ProdRow extends PeriodKey {
  product: string;
  load_qty: number;
  test_count: number;
  pass_count: number;
  fail_count: number;
  passing_rate: number | null;
  avg_duration_pass_s: number | null;
  avg_duration_fail_s: number | null;
  units_tested: number;
  first_pass_units: number;
  passed_units: number;
  scrapped_units: number;
  pending_units: number;
  rolled_first_pass_yield: number | null;
  rolled_cumulative_yield: number | null;
  scrapped_serials: number;
}

/** Data-quality counts per period, stored in etl_periods. */
export interface PeriodQuality extends PeriodKey {
  rows_read: number;
  rows_valid: number;
  rows_rejected: number;
  duplicates_dropped: number;
  excess_attempts: number;
  pending_units: number;
}

export interface SummaryRows {
  prodTest: ProdTestRow[];
  machine: MachineRow[];
  prod: ProdRow[];
  quality: PeriodQuality[];
  /** Rejects by reason over the day periods. */
  rejectsByReason: Record<string, number>;
  /** Rejected rows without a timestamp, by reason: they belong to no period, and every run finds them. */
  undatedByReason: Record<string, number>;
}

function columnsOf(c: Counts): AttemptAndCohortColumns {
  return {
    test_count: c.test_count,
    pass_count: c.pass_count,
    fail_count: c.fail_count,
    passing_rate: ratio(c.pass_count, c.test_count),
    units_tested: c.units_tested,
    first_pass_units: c.first_pass_units,
    passed_units: c.passed_units,
    scrapped_units: c.scrapped_units,
    pending_units: c.units_tested - c.passed_units - c.scrapped_units,
    first_pass_yield: ratio(c.first_pass_units, c.units_tested),
    cumulative_yield: ratio(c.passed_units, c.units_tested),
    retest_count: c.retest_count,
    avg_duration_pass_s: mean(c.dur_pass_sum, c.dur_pass_n),
    avg_duration_fail_s: mean(c.dur_fail_sum, c.dur_fail_n),
  };
}

/** Product of the non-NULL yields; NULL when there are none. */
function rolled(yields: (number | null)[]): number | null {
  const present = yields.filter((y): y is number => y !== null);
  return present.length === 0 ? null : present.reduce((a, b) => a * b, 1);
}

function group<K, V>(map: Map<string, { key: K; value: V }>, id: string, key: K, init: () => V): V {
  let e = map.get(id);
  if (!e) map.set(id, (e = { key, value: init() }));
  return e.value;
}

const sortBy = <T>(rows: T[], key: (r: T) => string): T[] => rows.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));

/**
 * @param slotPeriods for each day slot of the statement, the periods it belongs to: its day (when
 *   the day is one the run computes) and its ISO week. Slot rows add into each of them.
 */
export function assembleSummaries(rows: readonly FineRow[], periods: readonly Period[], slotPeriods: readonly (readonly number[])[]): SummaryRows {
  const periodKey = (pid: number): PeriodKey => {
    const p = periods[pid];
    if (!p) throw new Error(`internal: the summary query returned unknown period ${pid}`);
    return { period_type: p.type, period_start: p.start, period_label: p.label };
  };
  const fine = new Map<string, { key: { pid: number; product: string; test: string; machine: string }; value: Counts }>();
  const load = new Map<string, number>();
  const scrappedSerials = new Map<string, number>();
  const quality = new Map<number, PeriodQuality>();
  const rejectsByReason: Record<string, number> = {};
  const undatedByReason: Record<string, number> = {};

  const qualityOf = (pid: number) => {
    let q = quality.get(pid);
    if (!q) {
      q = { ...periodKey(pid), rows_read: 0, rows_valid: 0, rows_rejected: 0, duplicates_dropped: 0, excess_attempts: 0, pending_units: 0 };
      quality.set(pid, q);
    }
    return q;
  };

  const fineOf = (pid: number, product: string, test: string, machine: string) =>
    group(fine, `${pid}\u0000${product}\u0000${test}\u0000${machine}`, { pid, product, test, machine }, zero);
  const scrapped = new Map<string, Set<string>>();
  for (const r of rows) {
    const k = r.k === null ? null : Number(r.k);
    if (r.part === 'F') {
      const product = r.product!;
      const test = r.test!;
      // The attempts, in the periods of their own slot; every valid row read there is an attempt or a copy.
      for (const pid of k === null ? [] : (slotPeriods[k] ?? [])) {
        const c = fineOf(pid, product, test, r.machine!);
        c.test_count += num(r.v1);
        c.pass_count += num(r.v2);
        c.fail_count += num(r.v3);
        c.dur_pass_sum += num(r.v4);
        c.dur_pass_n += num(r.v5);
        c.dur_fail_sum += num(r.v6);
        c.dur_fail_n += num(r.v7);
        c.excess += num(r.v8);
        c.duplicates += num(r.v9);
        const q = qualityOf(pid);
        q.rows_read += num(r.v1) + num(r.v9);
        q.rows_valid += num(r.v1) + num(r.v9);
      }
      // The cohort, in the periods of attempt 1's slot, on attempt 1's machine.
      const first = r.v10 === null || r.v10 === undefined ? null : Number(r.v10);
      for (const pid of first === null ? [] : (slotPeriods[first] ?? [])) {
        const c = fineOf(pid, product, test, String(r.t1));
        c.units_tested += num(r.v11);
        c.first_pass_units += num(r.v12);
        c.passed_units += num(r.v13);
        c.scrapped_units += num(r.v14);
        c.retest_count += num(r.v15);
        if (r.t2 !== null) {
          const id = `${pid}\u0000${product}`;
          let serials = scrapped.get(id);
          if (!serials) scrapped.set(id, (serials = new Set()));
          serials.add(r.t2);
        }
      }
      continue;
    }
    if (r.part === 'Q') {
      const n = num(r.v1);
      const reason = r.product;
      if (k === null) {
        // A row without a timestamp is always rejected (missing_timestamp or an earlier reason).
        const why = reason ?? 'missing_timestamp';
        undatedByReason[why] = (undatedByReason[why] ?? 0) + n;
        continue;
      }
      for (const pid of slotPeriods[k] ?? []) {
        const q = qualityOf(pid);
        q.rows_read += n;
        if (reason) {
          q.rows_rejected += n;
          if (periods[pid]!.type === 'day') rejectsByReason[reason] = (rejectsByReason[reason] ?? 0) + n;
        } else q.rows_valid += n;
      }
      continue;
    }
    if (r.part === 'L' && k !== null) {
      // Per day slot: a week adds up its days (a serial first appears on exactly one day).
      for (const pid of slotPeriods[k] ?? []) {
        const id = `${pid}\u0000${r.product!}`;
        load.set(id, (load.get(id) ?? 0) + num(r.v1));
      }
    }
  }
  for (const [id, serials] of scrapped) scrappedSerials.set(id, serials.size);

  type K2 = { pid: number; a: string };
  type K3 = { pid: number; a: string; b: string };
  const byProdTest = new Map<string, { key: K3; value: Counts }>();
  const byMachine = new Map<string, { key: K2; value: Counts }>();
  const byProd = new Map<string, { key: K2; value: Counts }>();
  for (const { key, value } of fine.values()) {
    add(group(byProdTest, `${key.pid}\u0000${key.product}\u0000${key.test}`, { pid: key.pid, a: key.product, b: key.test }, zero), value);
    add(group(byMachine, `${key.pid}\u0000${key.machine}`, { pid: key.pid, a: key.machine }, zero), value);
    add(group(byProd, `${key.pid}\u0000${key.product}`, { pid: key.pid, a: key.product }, zero), value);
    const q = qualityOf(key.pid);
    q.duplicates_dropped += value.duplicates;
    q.excess_attempts += value.excess;
    q.pending_units += value.units_tested - value.passed_units - value.scrapped_units;
  }
  // A product loaded in a period without any attempt there still gets its row (metrics.md §7).
  for (const id of load.keys()) {
    const [pid, product] = id.split('\u0000') as [string, string];
    group(byProd, id, { pid: Number(pid), a: product }, zero);
  }

  const prodTest: ProdTestRow[] = [...byProdTest.values()].map(({ key, value }) => ({
    product: key.a,
    test: key.b,
    ...periodKey(key.pid),
    ...columnsOf(value),
  }));
  const machine: MachineRow[] = [...byMachine.values()].map(({ key, value }) => ({
    machine: key.a,
    ...periodKey(key.pid),
    ...columnsOf(value),
  }));
  // Rolled yields multiply in ascending test-name order (metrics.md §7): floating-point products
  // depend on the order, and a range run and a single-day rerun must give the same bits.
  const testYields = new Map<string, { fpy: (number | null)[]; cy: (number | null)[] }>();
  const byTestName = [...byProdTest.values()].sort((a, b) => (a.key.b < b.key.b ? -1 : a.key.b > b.key.b ? 1 : 0));
  for (const { key, value } of byTestName) {
    const id = `${key.pid}\u0000${key.a}`;
    const y = testYields.get(id) ?? { fpy: [], cy: [] };
    const cols = columnsOf(value);
    y.fpy.push(cols.first_pass_yield);
    y.cy.push(cols.cumulative_yield);
    testYields.set(id, y);
  }
  const prod: ProdRow[] = [...byProd.entries()].map(([id, { key, value }]) => {
    const cols = columnsOf(value);
    const y = testYields.get(id);
    return {
      product: key.a,
      ...periodKey(key.pid),
      load_qty: load.get(id) ?? 0,
      test_count: cols.test_count,
      pass_count: cols.pass_count,
      fail_count: cols.fail_count,
      passing_rate: cols.passing_rate,
      avg_duration_pass_s: cols.avg_duration_pass_s,
      avg_duration_fail_s: cols.avg_duration_fail_s,
      units_tested: cols.units_tested,
      first_pass_units: cols.first_pass_units,
      passed_units: cols.passed_units,
      scrapped_units: cols.scrapped_units,
      pending_units: cols.pending_units,
      rolled_first_pass_yield: y ? rolled(y.fpy) : null,
      rolled_cumulative_yield: y ? rolled(y.cy) : null,
      scrapped_serials: scrappedSerials.get(id) ?? 0,
    };
  });
  // Every period computed gets a quality row, even an empty one: "computed, nothing there" is news.
  periods.forEach((_, pid) => qualityOf(pid));

  const grain = (r: PeriodKey) => `${r.period_type}\u0000${r.period_start}`;
  return {
    prodTest: sortBy(prodTest, (r) => `${grain(r)}\u0000${r.product}\u0000${r.test}`),
    machine: sortBy(machine, (r) => `${grain(r)}\u0000${r.machine}`),
    prod: sortBy(prod, (r) => `${grain(r)}\u0000${r.product}`),
    quality: sortBy([...quality.values()], grain),
    rejectsByReason,
    undatedByReason,
  };
}
