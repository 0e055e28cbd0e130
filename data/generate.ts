/**
 * The seeded demo / test data generator (sources.md "Demo and test data"): test records of an
 * optical-module test floor and the battery line's assembly, winding and inspection tables, with
 * patterns planted for the reports to find. Returns a manifest of what was planted.
 *
 * The same seed and options give byte-identical rows on every database; rows are generated and
 * written in chunks, so memory stays bounded at any volume.
 */
import { flowPatternsFor, type FlowPatterns } from './flow-patterns.js';
import type { Knex } from 'knex';
import { DateTime, IANAZone } from 'luxon';
import type { Config } from '../config/schema.js';
import type { PlantClock } from '../etl/periods.js';
import { dialectOf, quoteTable } from '../sql/dialect.js';
import { cellLineDays, plannedDrifts, type CellLineDay, type CellLineTally, type WinderDrift } from './cell-assembly.js';
import { REJECT_REASONS, faultsForDay, type Fault, type RejectReason } from './planted-faults.js';
import { dstChangeDays, productionDayWindows, sourceTimeFormatter, type DayWindow } from './source-time.js';
import { cellQualityDays, gapReadingsByWinder, OUTCOME_WITHIN_DAYS, PLANTED_RISK, type CellQualityDay, type CellQualityTally } from './cell-quality.js';
import {
  assemblyMapper,
  createSourceTables,
  formationMapper,
  inspectionMapper,
  oqcMapper,
  outcomeMapper,
  nonEmptySourceTables,
  testRecordMapper,
  windingMapper,
} from './source-tables.js';
import { tableWriter } from './table-writer.js';
import { ALL_STATIONS, PRODUCTS, TEST_STEPS } from './test-floor.js';
import { writeIncomingLots, type LotsMapping } from './incoming-lots.js';
import {
  failRateJumpFor,
  newTestRecordTally,
  planUnits,
  testRecordRows,
  type FailRateJump,
  type TestRecordRow,
  type TestRecordTally,
} from './test-records.js';

export { createSourceTables } from './source-tables.js';

export interface GenerateOptions {
  /** Approximate number of test records in total (reference volume 600,000). */
  rows: number;
  /** Same seed + same options => byte-identical data. */
  seed: number;
  /** First production day, 'YYYY-MM-DD' (plant-local). */
  start: string;
  /** Number of production days. */
  days: number;
  /** Plant IANA zone, e.g. 'Europe/Berlin'. */
  timezone: string;
  /** 'HH:MM', production day start, e.g. '06:00'. */
  dayStart: string;
  /** How source timestamps are written: UTC wall-clock or naive plant-local wall-clock. */
  timestamps: 'utc' | 'local';
  /** Table and column names (config `source`). */
  mapping: Config['source'];
  /** Also write the battery tables (default true). */
  assembly?: boolean;
  /** Plant malformed rows and duplicates (default true). */
  malformed?: boolean;
  /**
   * Plant the process-flow patterns of data/flow-patterns.ts (default false: they move the times of
   * some attempts, and data sets generated before them stay as they were; the demo plants them).
   */
  flowPatterns?: boolean;
  /** Also write inspected lots for the lot-sampling job into this table (config `sampling.lots`). */
  lots?: LotsMapping;
  /**
   * Also write the cell-quality tables of the cell-risk job (formation, OQC, outcomes; config
   * `source.formation`, `source.oqc`, `source.outcome`) with the planted failure risk (default false:
   * data sets generated before them stay as they were; the demo writes them). Needs `assembly`.
   */
  cellQuality?: boolean;
  /** Called after each chunk of test records: rows written so far, and the planned total. */
  onProgress?: (written: number, total: number) => void;
}

/** What was planted, so tests and the demo can check that the reports find it. */
export interface GenerateManifest {
  /** Test-record rows written, planted faulty rows and duplicates included. */
  testRecords: number;
  products: string[];
  tests: string[];
  machines: string[];
  /**
   * The station whose fail rate jumps on `day`. The rates are measured on the rows written (all
   * attempts, retests included, planted faulty rows excluded): `baselineFailRate` on the station's
   * other days, or on its test's other stations that day when the range is a single day.
   */
  failRateJump: { machine: string; test: string; day: string; baselineFailRate: number; jumpFailRate: number };
  /** WND03 and WND07: the gap drifts below LSL during `driftStartDay`; infusion defects rise from `defectRiseDay`. */
  gapDrift: { winder: string; driftStartDay: string; defectRiseDay: string }[];
  /** The process-flow patterns (data/flow-patterns.ts), or null when not planted. */
  flowPatterns: {
    bottleneck: { step: string; days: string[] };
    reworkHotSpot: { product: string; step: string; days: string[] };
    routeDeviation: { station: string; skippedStep: string; share: number };
    shiftEffect: { weekday: number; shift: string; waitFactor: number };
  } | null;
  /** Planted rows per reject reason (metrics.md §3); each is rejected for exactly that reason. */
  malformed: Record<RejectReason, number>;
  /** Exact copies of valid rows (a double upload). */
  duplicates: number;
  /** Retests (attempt 2 or later of a unit-test) at least 24 hours after the unit's first attempt. */
  lateRetests: number;
  /** Production days in the range during which the plant zone changes its UTC offset. */
  dstDays: string[];
  /** Cells filled at CEF (assembly rows), those of them without a winding record, and SEP_ANODE_GAP readings. */
  cells: number;
  untracedCells: number;
  gapReadings: number;
  /** Inspected lots written (with `lots`), and the planted bad supplier. */
  incomingLots?: { lots: number; badSupplier: { supplier: string; product: string; fromDay: string } };
  /**
   * With `cellQuality`: rows written, and the planted failure model (data/cell-quality.ts):
   * logit P = intercept + gapPerMm·(gap − gapRef) + kPerMvDay·(K − kRef) + cefDefect·[dfct_cd ≠ 0].
   */
  cellQuality?: {
    formation: number;
    oqc: number;
    oqcNg: number;
    outcomes: number;
    failuresDrawn: number;
    outcomeWithinDays: number;
    planted: typeof PLANTED_RISK;
  };
}

/** Everything decided before the first row: the same options always give the same plan. */
export interface GenerationPlan {
  seed: number;
  clock: PlantClock;
  windows: DayWindow[];
  formatTime: (ms: number) => string;
  jump: FailRateJump;
  drifts: WinderDrift[];
  dstDays: string[];
  unitsPerDay: number[];
  faultsPerDay: Fault[][] | null;
  /** The process-flow patterns planted, or null. */
  flow: FlowPatterns | null;
  /** Test records expected in total. */
  expectedRows: number;
}

type PlanOptions = Pick<GenerateOptions, 'rows' | 'seed' | 'start' | 'days' | 'timezone' | 'dayStart' | 'timestamps' | 'malformed' | 'flowPatterns'>;

function checkOptions(o: PlanOptions): void {
  const fail = (what: string) => {
    throw new Error(`generate: ${what}`);
  };
  if (!Number.isSafeInteger(o.rows) || o.rows < 0) fail(`rows must be a whole number >= 0, got ${o.rows}`);
  if (!Number.isSafeInteger(o.seed)) fail(`seed must be a whole number, got ${o.seed}`);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(o.start) || !DateTime.fromISO(o.start).isValid) fail(`start must be a date YYYY-MM-DD, got '${o.start}'`);
  if (!Number.isSafeInteger(o.days) || o.days < 1) fail(`days must be a whole number >= 1, got ${o.days}`);
  if (!IANAZone.isValidZone(o.timezone)) fail(`timezone must be an IANA zone such as Europe/Berlin, got '${o.timezone}'`);
  if (!/^([01]\d|2[0-3]):[0-5]\d$/.test(o.dayStart)) fail(`dayStart must be a local time HH:MM such as 06:00, got '${o.dayStart}'`);
  if (o.timestamps !== 'utc' && o.timestamps !== 'local') fail(`timestamps must be 'utc' or 'local', got '${String(o.timestamps)}'`);
}

export function planGeneration(opts: PlanOptions): GenerationPlan {
  checkOptions(opts);
  const clock: PlantClock = { timezone: opts.timezone, dayStart: opts.dayStart };
  const windows = productionDayWindows(opts.start, opts.days, clock);
  const jump = failRateJumpFor(opts.days);
  const { unitsPerDay, rowsPerDay } = planUnits(opts.seed, opts.timezone, windows, jump, opts.rows);
  return {
    seed: opts.seed,
    clock,
    windows,
    formatTime: sourceTimeFormatter(opts.timestamps, opts.timezone),
    jump,
    drifts: plannedDrifts(opts.start, opts.days),
    dstDays: dstChangeDays(windows, opts.timezone),
    unitsPerDay,
    faultsPerDay: opts.malformed === false || opts.rows === 0 ? null : rowsPerDay.map(faultsForDay),
    flow: opts.flowPatterns ? flowPatternsFor(opts.days) : null,
    expectedRows: opts.rows,
  };
}

/** The plan's test records, without a database; `tally` fills in as the rows are drawn. */
export function testRecordStream(plan: GenerationPlan): { rows: Generator<TestRecordRow>; tally: TestRecordTally } {
  const tally = newTestRecordTally(plan.windows.length);
  const rows = testRecordRows(
    { seed: plan.seed, timezone: plan.clock.timezone, windows: plan.windows, unitsPerDay: plan.unitsPerDay, faultsPerDay: plan.faultsPerDay, jump: plan.jump, flow: plan.flow, formatTime: plan.formatTime },
    tally,
  );
  return { rows, tally };
}

/** The plan's battery-line rows, one production day at a time, without a database. */
export function cellLineStream(plan: GenerationPlan): { days: Generator<CellLineDay>; tally: CellLineTally } {
  const tally: CellLineTally = { cells: 0, untracedCells: 0, gapReadings: 0 };
  const days = cellLineDays({ seed: plan.seed, clock: plan.clock, windows: plan.windows, drifts: plan.drifts, formatTime: plan.formatTime }, tally);
  return { days, tally };
}

const CHUNK_ROWS = 10_000;

export async function generate(db: Knex, opts: GenerateOptions): Promise<GenerateManifest> {
  const plan = planGeneration(opts);
  const assembly = opts.assembly ?? true;
  const cellQuality = assembly && (opts.cellQuality ?? false);
  if (opts.cellQuality && !assembly) throw new Error('generate: cellQuality needs the battery tables (assembly)');
  const dialect = dialectOf(db);
  await createSourceTables(db, opts.mapping, { assembly, cellQuality });
  const filled = await nonEmptySourceTables(db, opts.mapping, { assembly, cellQuality });
  if (filled.length > 0) {
    throw new Error(
      `generate: ${filled.join(', ')} already hold${filled.length === 1 ? 's' : ''} rows; the generator only writes into empty tables ` +
        '(it never adds to or changes existing data): drop them, or point it at another database or schema',
    );
  }

  const tests = testRecordStream(plan);
  const toTestRecord = testRecordMapper(opts.mapping.testRecords.columns);
  const testWriter = tableWriter(db, dialect, opts.mapping.testRecords.table, CHUNK_ROWS, () =>
    opts.onProgress?.(testWriter.written, Math.max(plan.expectedRows, testWriter.written)),
  );
  for (const row of tests.rows) if (testWriter.add(toTestRecord(row))) await testWriter.flush();
  await testWriter.flush();

  let cells: CellLineTally = { cells: 0, untracedCells: 0, gapReadings: 0 };
  if (assembly) {
    const cellLine = cellLineStream(plan);
    await writeCellLine(db, opts.mapping, cellLine.days);
    cells = cellLine.tally;
  }
  const manifest = manifestOf(plan, tests.tally, cells);
  if (cellQuality) manifest.cellQuality = await writeCellQuality(db, opts.mapping, plan);
  if (opts.lots) manifest.incomingLots = await writeIncomingLots(db, opts.lots, plan, assembly ? cellLineStream(plan).days : null);
  // PostgreSQL plans by its statistics, which a fresh bulk load lacks until autovacuum's analyze
  // comes by (never, where autovacuum is off): the rows written get them now, as a plant's have.
  if (dialect === 'postgres') {
    for (const table of await nonEmptySourceTables(db, opts.mapping, { assembly, cellQuality })) await db.raw(`ANALYZE ${quoteTable(dialect, table)}`);
  }
  return manifest;
}

/** One table a day's rows go to: its name, and the day's rows already keyed by column. */
interface DayTable<D> {
  table: string;
  rows: (day: D) => Iterable<Record<string, unknown>>;
}

/** Writes each day's rows into their tables in chunks (memory bounded at any volume). */
async function writeDays<D>(db: Knex, days: Iterable<D>, tables: readonly DayTable<D>[]): Promise<void> {
  const dialect = dialectOf(db);
  const writers = tables.map((t) => ({ ...t, writer: tableWriter(db, dialect, t.table, CHUNK_ROWS) }));
  for (const day of days) {
    for (const w of writers) for (const r of w.rows(day)) if (w.writer.add(r)) await w.writer.flush();
  }
  await Promise.all(writers.map((w) => w.writer.flush()));
}

async function writeCellLine(db: Knex, mapping: Config['source'], days: Iterable<CellLineDay>): Promise<void> {
  const toWinding = windingMapper(mapping.winding.columns);
  const toAssembly = assemblyMapper(mapping.assembly.columns);
  const toInspection = inspectionMapper(mapping.inspection.columns);
  await writeDays(db, days, [
    { table: mapping.winding.table, rows: (d) => d.winding.map(toWinding) },
    { table: mapping.assembly.table, rows: (d) => d.assembly.map(toAssembly) },
    { table: mapping.inspection.table, rows: (d) => d.inspection.map(toInspection) },
  ]);
}

/** The cell-quality rows follow from the battery-line days: a first pass collects the gap readings, a second writes the rows. */
export function cellQualityStream(plan: GenerationPlan): { days: Generator<CellQualityDay>; tally: CellQualityTally } {
  const tally: CellQualityTally = { formation: 0, oqc: 0, oqcNg: 0, outcomes: 0, failuresDrawn: 0 };
  const gaps = gapReadingsByWinder(cellLineStream(plan).days);
  const rangeEnd = plan.windows[plan.windows.length - 1]!.to;
  return { days: cellQualityDays({ seed: plan.seed, rangeEnd, formatTime: plan.formatTime }, cellLineStream(plan).days, gaps, tally), tally };
}

/** Writes the plan's cell-quality rows into the (empty) formation, OQC and outcome tables. */
export async function writeCellQuality(db: Knex, mapping: Config['source'], plan: GenerationPlan): Promise<NonNullable<GenerateManifest['cellQuality']>> {
  const toFormation = formationMapper(mapping.formation.columns);
  const toOqc = oqcMapper(mapping.oqc.columns);
  const toOutcome = outcomeMapper(mapping.outcome.columns);
  const stream = cellQualityStream(plan);
  await writeDays(db, stream.days, [
    { table: mapping.formation.table, rows: (d) => d.formation.map(toFormation) },
    { table: mapping.oqc.table, rows: (d) => d.oqc.map(toOqc) },
    { table: mapping.outcome.table, rows: (d) => d.outcomes.map(toOutcome) },
  ]);
  return { ...stream.tally, outcomeWithinDays: OUTCOME_WITHIN_DAYS, planted: PLANTED_RISK };
}

const rate = (fails: number, attempts: number) => (attempts === 0 ? 0 : Math.round((fails / attempts) * 10_000) / 10_000);
const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

function manifestOf(plan: GenerationPlan, t: TestRecordTally, c: CellLineTally): GenerateManifest {
  const d = plan.jump.dayIndex;
  const station = t.jumpStation;
  const otherDays = (xs: number[]) => sum(xs) - (xs[d] ?? 0);
  const baseline =
    plan.windows.length > 1
      ? rate(otherDays(station.fails), otherDays(station.attempts))
      : rate(t.jumpPeers.fails[d] ?? 0, t.jumpPeers.attempts[d] ?? 0);
  return {
    testRecords: t.rows,
    products: PRODUCTS.map((p) => p.name),
    tests: TEST_STEPS.map((s) => s.name),
    machines: [...ALL_STATIONS],
    failRateJump: {
      machine: plan.jump.machine,
      test: plan.jump.test,
      day: plan.windows[d]!.date,
      baselineFailRate: baseline,
      jumpFailRate: rate(station.fails[d] ?? 0, station.attempts[d] ?? 0),
    },
    gapDrift: plan.drifts.map((g) => ({ winder: g.winder, driftStartDay: g.driftStartDay, defectRiseDay: g.defectRiseDay })),
    flowPatterns: plan.flow && {
      bottleneck: { step: plan.flow.bottleneck.step, days: plan.flow.bottleneck.dayIndexes.map((i) => plan.windows[i]!.date) },
      reworkHotSpot: {
        product: plan.flow.reworkHotSpot.product,
        step: plan.flow.reworkHotSpot.step,
        days: plan.windows.slice(plan.flow.reworkHotSpot.fromDay, plan.flow.reworkHotSpot.toDay).map((w) => w.date),
      },
      routeDeviation: plan.flow.routeDeviation,
      shiftEffect: { weekday: plan.flow.shiftEffect.weekday, shift: 'night (16–24 h after dayStart)', waitFactor: plan.flow.shiftEffect.waitFactor },
    },
    malformed: Object.fromEntries(REJECT_REASONS.map((r) => [r, t.malformed[r]])) as Record<RejectReason, number>,
    duplicates: t.duplicates,
    lateRetests: t.lateRetests,
    dstDays: plan.dstDays,
    cells: c.cells,
    untracedCells: c.untracedCells,
    gapReadings: c.gapReadings,
  };
}
