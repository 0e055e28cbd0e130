/**
 * Test records (metrics.md §1): serialised units start on the floor by the shift pattern and go
 * through their product's route in time order; failed attempts are retested (usually minutes later,
 * sometimes on another station, a few days later for some), a held unit stays pending, a unit that
 * fails three times is scrapped, and now and then the floor breaks the rules (a fourth attempt, a
 * retest after a PASS). Planted on top: one station's fail rate jump and the faulty rows of
 * planted-faults.ts.
 *
 * Pure: rows come out of a generator, one unit at a time, so any volume streams in bounded memory.
 */
import { DateTime } from 'luxon';
import { createRng, cumulativeWeights, type Rng } from './random.js';
import { dayWeight, sampleInstants } from './shift-pattern.js';
import type { DayWindow } from './source-time.js';
import { PRODUCTS, SLOPPY_RESULTS, STATION_FACTOR, resultSpelling, testStep, type Product, type TestStep } from './test-floor.js';
import { REJECT_REASONS, faultsForDay, plantFault, type Fault, type RejectReason } from './planted-faults.js';
import { flowPatternHooks, type FlowPatternHooks, type FlowPatterns } from './flow-patterns.js';

/** A test-record row by logical column (metrics.md §1); the writer maps it to the configured names. */
export interface TestRecordRow {
  serial: string | null;
  product: string | null;
  test: string | null;
  machine: string | null;
  testedAt: string | null;
  result: string | null;
  durationS: number | null;
  errorCode: string | null;
}

/** A row with the instant it records. */
export interface TimedRow {
  row: TestRecordRow;
  at: number;
}

export interface FailRateJump {
  machine: string;
  test: string;
  /** Index into the plan's windows of the day on which the station fails far more often. */
  dayIndex: number;
  failRate: number;
}

/** The planted station: TX_POWER-02 (a dirty fibre connector), jumping from about 3 % to 25 %. */
export function failRateJumpFor(days: number): FailRateJump {
  return { machine: 'TX_POWER-02', test: 'TX_POWER', dayIndex: Math.floor(days / 2), failRate: 0.25 };
}

export interface TestRecordPlan {
  seed: number;
  timezone: string;
  windows: readonly DayWindow[];
  /** Units that start on each production day. */
  unitsPerDay: readonly number[];
  /** Faulty rows to plant per day, or null for none. */
  faultsPerDay: readonly Fault[][] | null;
  jump: FailRateJump;
  /** The process-flow patterns to plant, or null for none. */
  flow: FlowPatterns | null;
  formatTime: (ms: number) => string;
}

/** What was generated, filled in as rows are drawn from `testRecordRows`. */
export interface TestRecordTally {
  rows: number;
  units: number;
  lateRetests: number;
  malformed: Record<RejectReason, number>;
  duplicates: number;
  /** Attempts and fails of the jump station per day, and of its test's other stations per day. */
  jumpStation: { attempts: number[]; fails: number[] };
  jumpPeers: { attempts: number[]; fails: number[] };
}

export function newTestRecordTally(days: number): TestRecordTally {
  const perDay = () => ({ attempts: Array<number>(days).fill(0), fails: Array<number>(days).fill(0) });
  return {
    rows: 0,
    units: 0,
    lateRetests: 0,
    malformed: Object.fromEntries(REJECT_REASONS.map((r) => [r, 0])) as Record<RejectReason, number>,
    duplicates: 0,
    jumpStation: perDay(),
    jumpPeers: perDay(),
  };
}

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Fail probability of a retest: a unit that failed once is more likely than others to fail again. */
const RETEST_FAIL = 0.3;
/** After a FAIL: the unit is put on hold and not retested (its unit-test stays pending). */
const P_HOLD = 0.03;
/** A retest moves to another station of the same step. */
const P_OTHER_STATION = 0.25;
/** A retest waits 1–3 production days (engineering hold, rework) and arrives late. */
const P_LATE_RETEST = 0.04;
/** Process violations (excess attempts): a fourth attempt after three FAILs, a retest after a PASS. */
const P_FOURTH_ATTEMPT = 0.15;
const P_RETEST_AFTER_PASS = 0.002;
/** A unit failing this close before the production day ends is retested by the next day's first shift. */
const HANDOVER_WINDOW = 30 * MINUTE;
const P_NULL_DURATION = 0.002;
const P_SLOPPY_RESULT = 0.004;

const PRODUCT_CUMULATIVE = cumulativeWeights(PRODUCTS.map((p) => p.share));
const ROUTES: ReadonlyMap<string, readonly TestStep[]> = new Map(PRODUCTS.map((p) => [p.name, p.route.map(testStep)]));

interface Attempt {
  step: TestStep;
  station: string;
  at: number;
  fail: boolean;
  /** NULL when the tester did not report it. */
  seconds: number | null;
  errorCode: string | null;
}

interface UnitContext {
  timezone: string;
  /** Ends of the production days (each the next day's start), ascending; the last is the range end. */
  dayEnds: readonly number[];
  rangeEnd: number;
  jump: FailRateJump;
  jumpFrom: number;
  jumpTo: number;
}

function unitContext(windows: readonly DayWindow[], timezone: string, jump: FailRateJump): UnitContext {
  const jumpWindow = windows[jump.dayIndex];
  return {
    timezone,
    dayEnds: windows.map((w) => w.to),
    rangeEnd: windows[windows.length - 1]?.to ?? 0,
    jump,
    jumpFrom: jumpWindow?.from ?? 0,
    jumpTo: jumpWindow?.to ?? 0,
  };
}

/**
 * One unit's attempts in time order, from `start` until it completes its route, is scrapped or held,
 * or the range ends. `emit` receives each attempt and whether it is a retest.
 */
function simulateUnit(rng: Rng, product: Product, start: number, ctx: UnitContext, emit: (a: Attempt, retest: boolean) => void, hooks?: FlowPatternHooks): void {
  let t = start;
  // The queue wait before the next step, drawn after the previous one; planted patterns scale it.
  let queued = 0;
  let skipNext = false;
  const route = ROUTES.get(product.name)!;
  for (const [i, step] of route.entries()) {
    const previousEnd = t;
    t += hooks ? Math.round(queued * hooks.waitFactor(step.name, t)) : queued;
    if (t >= ctx.rangeEnd) return; // still on its way: the remaining steps happen after the range
    // A skipped step is still drawn, so the unit's stream stays as it was; its rows are not written.
    const skipped = skipNext;
    skipNext = false;
    const out = skipped ? () => {} : emit;
    let station = rng.pick(step.stations);
    let attempt = 1;
    let fails = 0;
    let planted = false;
    if (!skipped && hooks?.extraFail(product.name, step.name, t)) {
      // A planted first FAIL (no draw from the unit's stream), retested five minutes later.
      const seconds = Math.round(step.seconds * 600) / 1000;
      emit({ step, station, at: t, fail: true, seconds, errorCode: step.errorCodes[0]! }, false);
      t += Math.round(seconds * SECOND) + 5 * MINUTE;
      planted = true;
    }
    for (;;) {
      const a = attemptAt(rng, product, step, station, t, attempt, ctx);
      out(a, attempt > 1 || planted);
      const end = t + Math.round((a.seconds ?? step.seconds) * SECOND);
      if (!a.fail) {
        t = end;
        if (rng.chance(P_RETEST_AFTER_PASS)) {
          const at = end + Math.round(rng.logNormal(4 * MINUTE, 0.5));
          if (at < ctx.rangeEnd) {
            const recheck = attemptAt(rng, product, step, station, at, attempt + 1, ctx, 0.03);
            out(recheck, true);
            t = at + Math.round((recheck.seconds ?? step.seconds) * SECOND);
          }
        }
        const next = route[i + 1];
        if (hooks && !skipped && next && hooks.skips(station, next.name)) skipNext = true;
        break;
      }
      fails++;
      if (fails >= 3) {
        if (!rng.chance(P_FOURTH_ATTEMPT)) return; // scrapped
        const at = end + Math.round(rng.logNormal(10 * MINUTE, 0.5));
        if (at >= ctx.rangeEnd) return;
        const fourth = attemptAt(rng, product, step, station, at, attempt + 1, ctx, 0.5);
        out(fourth, true);
        if (fourth.fail) return;
        t = at + Math.round((fourth.seconds ?? step.seconds) * SECOND);
        break;
      }
      if (rng.chance(P_HOLD)) return;
      t = rng.chance(P_LATE_RETEST) ? lateRetestInstant(rng, end, ctx.timezone) : retestInstant(rng, end, ctx);
      if (t >= ctx.rangeEnd) return; // the retest will come after the range: pending
      if (rng.chance(P_OTHER_STATION) && step.stations.length > 1) station = rng.pick(step.stations.filter((s) => s !== station));
      attempt++;
    }
    if (skipped) t = previousEnd;
    // Queueing for the next step: minutes usually, an hour or two when the line backs up.
    queued = MINUTE + Math.round(Math.min(2 * HOUR, rng.exponential(15 * MINUTE)));
  }
}

/**
 * Minutes after the failed attempt, unless the shift is about to hand over: a unit that fails in the
 * night shift's last half hour is left for the early shift, so its retest falls on the next production day.
 */
function retestInstant(rng: Rng, failEnd: number, ctx: UnitContext): number {
  const handover = ctx.dayEnds.find((end) => end > failEnd);
  if (handover !== undefined && handover - failEnd < HANDOVER_WINDOW) return handover + Math.round(rng.logNormal(15 * MINUTE, 0.5));
  return failEnd + Math.round(Math.min(90 * MINUTE, rng.logNormal(6 * MINUTE, 0.6)));
}

/** 1–3 production days later, at a time of day near the failed attempt's (same shift, roughly). */
function lateRetestInstant(rng: Rng, failEnd: number, timezone: string): number {
  const days = 1 + rng.int(3);
  // Calendar days in the plant zone, so a DST change between them does not move the shift.
  const sameTimeLater = DateTime.fromMillis(failEnd, { zone: timezone }).plus({ days }).toMillis();
  return Math.max(sameTimeLater, failEnd + days * DAY) + Math.round(rng.between(10 * MINUTE, 3 * HOUR));
}

function attemptAt(rng: Rng, product: Product, step: TestStep, station: string, at: number, attempt: number, ctx: UnitContext, failOverride?: number): Attempt {
  let p = failOverride ?? (attempt === 1 ? step.failRate * product.maturity * STATION_FACTOR.get(station)! : Math.min(0.6, RETEST_FAIL * product.maturity));
  const jumped = station === ctx.jump.machine && at >= ctx.jumpFrom && at < ctx.jumpTo;
  if (jumped) p = Math.max(p, ctx.jump.failRate);
  const fail = rng.chance(p);
  // Failing attempts usually stop at the first out-of-limit measurement, so they are shorter.
  let seconds: number | null = rng.logNormal(step.seconds, step.spread) * (fail ? rng.between(0.3, 1) : 1);
  seconds = rng.chance(P_NULL_DURATION) ? null : Math.round(seconds * 1000) / 1000;
  // The jump station's failures have one cause (a dirty connector): mostly its first error code.
  const errorCode = !fail ? null : jumped && rng.chance(0.8) ? step.errorCodes[0]! : rng.pick(step.errorCodes);
  return { step, station, at, fail, seconds, errorCode };
}

function resultText(rng: Rng, station: string, fail: boolean): string {
  if (rng.chance(P_SLOPPY_RESULT)) return rng.pick(fail ? SLOPPY_RESULTS.fail : SLOPPY_RESULTS.pass);
  const spelling = resultSpelling(station);
  return fail ? spelling.fail : spelling.pass;
}

/** 'A004512': a letter per million units, so serials stay 7 characters (up to 26 million units). */
export function serialOf(n: number): string {
  return String.fromCharCode(65 + Math.floor(n / 1_000_000) % 26) + String(n % 1_000_000).padStart(6, '0');
}

/** The first serial number: seeded, so two data sets never share serials by accident. */
function firstSerial(seed: number): number {
  return 1000 + createRng(seed, 'serials').int(400_000);
}

/**
 * The test records of the plan, unit by unit; each unit's planted faults follow its rows.
 * `tally` is updated as rows are drawn.
 */
export function* testRecordRows(plan: TestRecordPlan, tally: TestRecordTally): Generator<TestRecordRow> {
  const { windows, jump, formatTime } = plan;
  const ctx = unitContext(windows, plan.timezone, jump);
  const rangeEnd = ctx.rangeEnd;
  const jumpTestStations = new Set(testStep(jump.test).stations);
  let serial = firstSerial(plan.seed);
  const unitRows: TimedRow[] = [];

  for (let d = 0; d < windows.length; d++) {
    const w = windows[d]!;
    const n = plan.unitsPerDay[d] ?? 0;
    // One stream per day: a day's units do not depend on how many units other days have.
    const rng = createRng(plan.seed, 'units', w.date);
    const starts = sampleInstants(rng, w, n);
    const faults = plan.faultsPerDay && n > 0 ? assignFaults(plan.seed, w.date, plan.faultsPerDay[d] ?? [], n) : new Map<number, Fault[]>();
    const faultRng = createRng(plan.seed, 'faults', w.date, 'rows');
    const flowRng = createRng(plan.seed, 'flow', w.date);
    const hooks = plan.flow ? flowPatternHooks(plan.flow, windows, (p) => flowRng.chance(p)) : undefined;

    for (let i = 0; i < n; i++) {
      const product = PRODUCTS[rng.weighted(PRODUCT_CUMULATIVE)]!;
      const sn = serialOf(serial++);
      const start = starts[i]!;
      unitRows.length = 0;
      simulateUnit(rng, product, start, ctx, (a, retest) => {
        const row: TestRecordRow = {
          serial: sn,
          product: product.name,
          test: a.step.name,
          machine: a.station,
          testedAt: formatTime(a.at),
          result: resultText(rng, a.station, a.fail),
          durationS: a.seconds,
          errorCode: a.errorCode,
        };
        unitRows.push({ row, at: a.at });
        if (retest && a.at - start >= DAY) tally.lateRetests++;
        if (jumpTestStations.has(a.station)) {
          const day = dayIndexOf(windows, a.at, d);
          const t = a.station === jump.machine ? tally.jumpStation : tally.jumpPeers;
          if (day >= 0) {
            t.attempts[day]!++;
            if (a.fail) t.fails[day]!++;
          }
        }
      }, hooks);
      tally.units++;
      for (const r of unitRows) {
        tally.rows++;
        yield r.row;
      }
      for (const fault of faults.get(i) ?? []) {
        const row = plantFault(faultRng, fault, unitRows, { formatTime, rangeEnd });
        if (fault === 'duplicate') tally.duplicates++;
        else tally.malformed[fault]++;
        tally.rows++;
        yield row;
      }
    }
  }
}

/** The day index of `ms`, searching forward from the unit's start day (attempts never go back). */
function dayIndexOf(windows: readonly DayWindow[], ms: number, from: number): number {
  for (let d = from; d < windows.length; d++) if (ms < windows[d]!.to) return ms >= windows[d]!.from ? d : -1;
  return -1;
}

/** Which of the day's units (by index) carries which planted faults. */
function assignFaults(seed: number, date: string, faults: readonly Fault[], units: number): Map<number, Fault[]> {
  const rng = createRng(seed, 'faults', date, 'units');
  const byUnit = new Map<number, Fault[]>();
  for (const f of faults) {
    const i = rng.int(units);
    byUnit.set(i, [...(byUnit.get(i) ?? []), f]);
  }
  return byUnit;
}

/**
 * Units per production day for about `rows` test records: the day's share follows the weekday
 * weights, and the rows per unit are measured by simulating a sample of units over the same range
 * (retests, scrapped and held units, routes cut off at the range end all included).
 */
export function planUnits(seed: number, timezone: string, windows: readonly DayWindow[], jump: FailRateJump, rows: number): { unitsPerDay: number[]; rowsPerDay: number[] } {
  const weights = windows.map(dayWeight);
  const total = weights.reduce((a, b) => a + b, 0);
  const rowsPerDay = weights.map((w) => (rows * w) / total);
  // Subtracted whether or not faults are planted: the valid rows must not depend on `malformed`.
  const faultRows = rowsPerDay.reduce((sum, r) => sum + faultsForDay(r).length, 0);
  const perUnit = rowsPerUnit(seed, timezone, windows, jump);
  const units = Math.max(0, Math.round((rows - faultRows) / perUnit));
  // Cumulative rounding: the days add up to exactly `units`.
  let before = 0;
  let acc = 0;
  const unitsPerDay = weights.map((w) => {
    acc += w;
    const upTo = Math.round((units * acc) / total);
    const n = upTo - before;
    before = upTo;
    return n;
  });
  return { unitsPerDay, rowsPerDay };
}

const CALIBRATION_UNITS = 4000;

function rowsPerUnit(seed: number, timezone: string, windows: readonly DayWindow[], jump: FailRateJump): number {
  if (windows.length === 0) return 1;
  const rng = createRng(seed, 'calibration');
  const dayCumulative = cumulativeWeights(windows.map(dayWeight));
  const ctx = unitContext(windows, timezone, jump);
  let rows = 0;
  for (let i = 0; i < CALIBRATION_UNITS; i++) {
    const w = windows[rng.weighted(dayCumulative)]!;
    const start = sampleInstants(rng, w, 1)[0]!;
    simulateUnit(rng, PRODUCTS[rng.weighted(PRODUCT_CUMULATIVE)]!, start, ctx, () => rows++);
  }
  return Math.max(1, rows / CALIBRATION_UNITS);
}
