/**
 * The SPC tables of the target database (sql/migrations.ts 004_spc): what a run writes, what the
 * next run and the reports read back, and the alert bookkeeping.
 *
 * A measure's run is written in one transaction: its points of the charted window are replaced,
 * its violations are inserted if absent (keeping first_seen_run_id) and marked seen by this run,
 * its per-key chart rows are replaced, and newly frozen limits are inserted. DELETE + INSERT and
 * plain UPDATEs with bound parameters, no MERGE (DESIGN.md).
 */
import type { Knex } from 'knex';
import { num, toDate, toDateOrNull } from './spc-db-values.js';
import { insertBatched, rowsPerStatement } from '../sql/batch-insert.js';
import { quoteIdent, quoteTable } from '../sql/dialect.js';
import { targetTable, type EtlContext } from './context.js';
import type { FrozenLimits, Panel, SupersededLimits } from './spc-judge.js';
import { listEvents, storeEvents, type EventsWritten, type StoredEvent } from './spc-event-store.js';
import type { Severity } from './spc-measures.js';
import { numberAt, phaseAt, type ChartedKey } from './spc-point-columns.js';
import type { MeasureSpec } from './spc-measures.js';
import type { ChartKind, LimitsSource, Phase } from './spc/chart-points.js';
import type { RuleNumber, Side } from './spc/nelson-rules.js';

export { toDate };
const isoDay = (v: unknown) => (v instanceof Date ? v.toISOString().slice(0, 10) : String(v).slice(0, 10));

/** How many ids or keys one statement lists (SQL Server allows 2,100 parameters). */
const CHUNK = 500;

export interface StoredLimits extends FrozenLimits {
  measure: string;
  key: string;
  setAt: Date;
  setBy: string;
  runId: number;
}

/** The frozen limits of a measure by chart key. */
export async function readFrozenLimits(ctx: EtlContext, measure: string): Promise<Map<string, StoredLimits>> {
  const rows = (await targetTable(ctx, ctx.target, 'spc_limits').where({ measure }).select('*')) as Record<string, unknown>[];
  return new Map(rows.map((r) => [String(r.chart_key), limitsOf(r)]));
}

/** Versions of a measure's limits that newer ones replaced, by chart key, oldest first. */
export async function readSupersededLimits(ctx: EtlContext, measure: string): Promise<Map<string, SupersededLimits[]>> {
  const rows = (await targetTable(ctx, ctx.target, 'spc_limits_history').where({ measure }).orderBy('valid_to').select('*')) as Record<string, unknown>[];
  const out = new Map<string, SupersededLimits[]>();
  for (const r of rows) out.set(String(r.chart_key), [...(out.get(String(r.chart_key)) ?? []), { ...limitsOf(r), validTo: toDate(r.valid_to).toISOString() }]);
  return out;
}

/** An spc_limits row: frozen limits of a key, who set them and when. */
export function limitsRow(measure: string, key: string, f: FrozenLimits, set: { at: Date; by: string; runId: number }): Record<string, unknown> {
  return {
    measure,
    chart_key: key,
    chart: f.chart,
    cl: f.cl,
    sigma_within: f.sigmaWithin,
    paired_cl: f.pairedCl,
    baseline_kind: f.baselineKind,
    baseline_from: f.baselineFrom ? new Date(f.baselineFrom) : null,
    baseline_to: f.baselineTo ? new Date(f.baselineTo) : null,
    subgroups: f.subgroups,
    valid_from: f.validFrom ? new Date(f.validFrom) : null,
    set_at: set.at,
    set_by: set.by,
    run_id: set.runId,
  };
}

function limitsOf(r: Record<string, unknown>): StoredLimits {
  return {
    validFrom: toDateOrNull(r.valid_from)?.toISOString() ?? null,
    measure: String(r.measure),
    key: String(r.chart_key),
    chart: String(r.chart) as ChartKind,
    cl: num(r.cl),
    sigmaWithin: num(r.sigma_within),
    pairedCl: num(r.paired_cl),
    baselineKind: String(r.baseline_kind) as FrozenLimits['baselineKind'],
    baselineFrom: toDateOrNull(r.baseline_from)?.toISOString() ?? null,
    baselineTo: toDateOrNull(r.baseline_to)?.toISOString() ?? null,
    subgroups: Number(r.subgroups),
    setAt: toDate(r.set_at),
    setBy: String(r.set_by),
    runId: Number(r.run_id),
  };
}

export interface MeasureWrite {
  measure: MeasureSpec;
  runId: number;
  /** Who the run is for, recorded with frozen limits. */
  triggeredBy: string;
  computedAt: Date;
  /** The charted window: production days and their instants [from, to). */
  window: { firstDay: string; lastDay: string; from: Date; to: Date };
  keys: readonly ChartedKey[];
  /** Keys whose stored limits are of another chart type (the config changed): replaced by this run's. */
  replaceLimits: ReadonlySet<string>;
  /** Start of the run's first own production day: events opened before it are history, not news. */
  ownFrom: Date;
  /** spc.eventCloseAfter. */
  eventCloseAfter: number;
}

export interface MeasureWritten {
  points: number;
  violations: number;
  newViolations: number;
  /** Violations of the window that this run no longer finds. */
  withdrawnViolations: number;
  frozenKeys: string[];
  events: EventsWritten;
}

function pointRows(w: MeasureWrite, k: ChartedKey): Record<string, unknown>[] {
  const p = k.points;
  const rows: Record<string, unknown>[] = [];
  for (let i = 0; i < p.length; i++) {
    rows.push({
      measure: w.measure.name,
      chart_key: k.key,
      chart: k.chart,
      point_time: new Date(p.time[i]!),
      subgroup_size: p.n[i],
      value: numberAt(p.value, i),
      cl: numberAt(p.cl, i),
      ucl: numberAt(p.ucl, i),
      lcl: numberAt(p.lcl, i),
      sigma: numberAt(p.sigma, i),
      paired_value: numberAt(p.pairedValue, i),
      paired_cl: numberAt(p.pairedCl, i),
      paired_ucl: numberAt(p.pairedUcl, i),
      paired_lcl: numberAt(p.pairedLcl, i),
      phase: phaseAt(p, i),
      limits_source: k.limitsSource,
      run_id: w.runId,
      computed_at: w.computedAt,
    });
  }
  return rows;
}

function chartRow(w: MeasureWrite, k: ChartedKey): Record<string, unknown> {
  const n = k.points.length;
  const c = k.capability;
  return {
    measure: w.measure.name,
    chart_key: k.key,
    chart: k.chart,
    window_from: w.window.firstDay,
    window_to: w.window.lastDay,
    points: n,
    last_point_time: n > 0 ? new Date(k.points.time[n - 1]!) : null,
    limits_source: k.limitsSource,
    limits_note: k.note.slice(0, 255),
    cl: k.limits.cl,
    // The σ̂ that Cp and Cpk were computed with (the window's own); p-charts: the limits' √(p̄(1 − p̄)).
    sigma_within: c ? c.sigmaWithin : k.limits.sigmaWithin,
    unjudged: k.unjudged,
    values_n: c?.n ?? 0,
    mean: c?.mean ?? null,
    sigma_overall: c?.sigmaOverall ?? null,
    lsl: w.measure.spec.lsl,
    usl: w.measure.spec.usl,
    target: w.measure.spec.target,
    cp: c?.cp ?? null,
    cpk: c?.cpk ?? null,
    pp: c?.pp ?? null,
    ppk: c?.ppk ?? null,
    run_id: w.runId,
    computed_at: w.computedAt,
  };
}

/**
 * A multi-row INSERT … VALUES (…), (…) under the dialect's parameter limit (at most 1,000 rows, SQL
 * Server's limit for a VALUES list). knex writes a multi-row insert on SQLite as a compound SELECT,
 * which SQLite parses far more slowly; a chart of 10,000 points is written about twice as fast this way.
 */
async function insertRows(ctx: EtlContext, trx: Knex.Transaction, table: string, rows: readonly Record<string, unknown>[]): Promise<number> {
  if (rows.length === 0) return 0;
  const d = ctx.targetDialect;
  const columns = Object.keys(rows[0]!);
  const per = rowsPerStatement(d, columns.length, 1000);
  const target = quoteTable(d, ctx.targetSchema ? `${ctx.targetSchema}.${table}` : table);
  const tuple = `(${columns.map(() => '?').join(', ')})`;
  for (let i = 0; i < rows.length; i += per) {
    const chunk = rows.slice(i, i + per);
    const bindings: unknown[] = [];
    for (const r of chunk) for (const c of columns) bindings.push(r[c] ?? null);
    await trx.raw(`INSERT INTO ${target} (${columns.map((c) => quoteIdent(d, c)).join(', ')}) VALUES ${chunk.map(() => tuple).join(', ')}`, bindings as Knex.RawBinding[]);
  }
  return rows.length;
}

const violationId = (key: string, ms: number, panel: string, rule: number) => `${key}\u0000${ms}\u0000${panel}\u0000${rule}`;

/** Writes one measure's run in one transaction. */
export async function storeMeasure(ctx: EtlContext, w: MeasureWrite): Promise<MeasureWritten> {
  const name = w.measure.name;
  const insert = (trx: Knex.Transaction, table: string, rows: readonly object[]) => insertBatched(trx, ctx.targetDialect, table, rows, { schema: ctx.targetSchema });
  return ctx.target.transaction(async (trx) => {
    await targetTable(ctx, trx, 'spc_points').where('measure', name).where('point_time', '>=', w.window.from).where('point_time', '<', w.window.to).delete();
    // Key by key: the rows of one chart are built, written and dropped before the next.
    let points = 0;
    for (const k of w.keys) points += await insertRows(ctx, trx, 'spc_points', pointRows(w, k));

    // Violations: the ones already known keep their first run and alert state; the others are new.
    const existing = (await targetTable(ctx, trx, 'spc_violations')
      .where('measure', name)
      .where('point_time', '>=', w.window.from)
      .where('point_time', '<', w.window.to)
      .select('id', 'chart_key', 'point_time', 'panel', 'rule', 'withdrawn_run_id')) as { id: number | string; chart_key: string; point_time: unknown; panel: string; rule: number | string; withdrawn_run_id: unknown }[];
    const known = new Map(existing.map((r) => [violationId(r.chart_key, toDate(r.point_time).getTime(), r.panel, Number(r.rule)), Number(r.id)]));
    const seen: number[] = [];
    const fresh: Record<string, unknown>[] = [];
    for (const k of w.keys) {
      for (const v of k.violations) {
        const id = known.get(violationId(k.key, Date.parse(v.time), v.panel, v.rule));
        if (id !== undefined) seen.push(id);
        else {
          fresh.push({
            measure: name,
            chart_key: k.key,
            point_time: new Date(v.time),
            panel: v.panel,
            rule: v.rule,
            side: v.side,
            first_point_time: new Date(v.firstTime),
            point_value: v.value,
            severity: v.severity,
            first_seen_run_id: w.runId,
            last_seen_run_id: w.runId,
          });
        }
      }
    }
    for (let i = 0; i < seen.length; i += CHUNK) {
      await targetTable(ctx, trx, 'spc_violations').whereIn('id', seen.slice(i, i + CHUNK)).update({ last_seen_run_id: w.runId, withdrawn_run_id: null });
    }
    // The ones this run no longer finds (new data, new limits) are withdrawn: kept, but not current.
    const seenIds = new Set(seen);
    const gone = existing.filter((r) => (r.withdrawn_run_id === null || r.withdrawn_run_id === undefined) && !seenIds.has(Number(r.id))).map((r) => Number(r.id));
    for (let i = 0; i < gone.length; i += CHUNK) {
      await targetTable(ctx, trx, 'spc_violations').whereIn('id', gone.slice(i, i + CHUNK)).update({ withdrawn_run_id: w.runId });
    }
    await insert(trx, 'spc_violations', fresh);
    const events = await storeEvents(ctx, trx, { measure: name, runId: w.runId, window: { from: w.window.from, to: w.window.to }, ownFrom: w.ownFrom, closeAfter: w.eventCloseAfter, keys: w.keys });

    await targetTable(ctx, trx, 'spc_charts').where('measure', name).delete();
    await insert(trx, 'spc_charts', w.keys.map((k) => chartRow(w, k)));

    const frozen = w.keys.filter((k) => k.freeze !== null);
    const replaced = frozen.map((k) => k.key).filter((key) => w.replaceLimits.has(key));
    for (let i = 0; i < replaced.length; i += CHUNK) {
      await targetTable(ctx, trx, 'spc_limits').where('measure', name).whereIn('chart_key', replaced.slice(i, i + CHUNK)).delete();
    }
    const setBy = `run ${w.runId} (${w.triggeredBy})`.slice(0, 255);
    await insert(
      trx,
      'spc_limits',
      frozen.map((k) => {
        return limitsRow(name, k.key, k.freeze!, { at: w.computedAt, by: setBy, runId: w.runId });
      }),
    );
    return { points, violations: seen.length + fresh.length, newViolations: fresh.length, withdrawnViolations: gone.length, frozenKeys: frozen.map((k) => k.key), events };
  });
}

export interface StoredViolation {
  id: number;
  measure: string;
  key: string;
  pointTime: Date;
  /** main: the I, X̄ or p chart; paired: its MR, R or S chart. */
  panel: Panel;
  rule: RuleNumber;
  side: Side | null;
  firstPointTime: Date;
  value: number | null;
  firstSeenRunId: number;
  lastSeenRunId: number;
  /** alarm or warning, as the measure's configuration said when it was found. */
  severity: Severity;
  eventId: number | null;
  withdrawnRunId: number | null;
}

function violationOf(r: Record<string, unknown>): StoredViolation {
  return {
    id: Number(r.id),
    measure: String(r.measure),
    key: String(r.chart_key),
    pointTime: toDate(r.point_time),
    panel: r.panel === 'paired' ? 'paired' : 'main',
    rule: Number(r.rule) as RuleNumber,
    side: (r.side ?? null) as Side | null,
    firstPointTime: toDate(r.first_point_time),
    value: num(r.point_value),
    firstSeenRunId: Number(r.first_seen_run_id),
    lastSeenRunId: Number(r.last_seen_run_id),
    severity: r.severity === 'warning' ? 'warning' : 'alarm',
    eventId: num(r.event_id),
    withdrawnRunId: num(r.withdrawn_run_id),
  };
}

/** Deletes frozen limits (all keys of the measure, or one) with their earlier versions, so the next run sets them from its baseline again. */
export async function deleteFrozenLimits(ctx: EtlContext, db: Knex | Knex.Transaction, measure: string, key?: string): Promise<StoredLimits[]> {
  const q = () => {
    const b = targetTable(ctx, db, 'spc_limits').where({ measure });
    return key === undefined ? b : b.where({ chart_key: key });
  };
  const rows = ((await q().select('*')) as Record<string, unknown>[]).map(limitsOf);
  if (rows.length > 0) await q().delete();
  // Earlier versions go too: the next run sets the limits from the baseline and judges every point by them.
  const history = targetTable(ctx, db, 'spc_limits_history').where({ measure });
  await (key === undefined ? history : history.where({ chart_key: key })).delete();
  return rows;
}

// ------------------------------------------------------------------------------------------------
// Reading back, for the reports

export interface StoredChart {
  measure: string;
  key: string;
  chart: ChartKind;
  windowFrom: string;
  windowTo: string;
  points: number;
  lastPointTime: Date | null;
  limitsSource: LimitsSource;
  limitsNote: string | null;
  cl: number | null;
  sigmaWithin: number | null;
  valuesN: number;
  mean: number | null;
  sigmaOverall: number | null;
  lsl: number | null;
  usl: number | null;
  target: number | null;
  cp: number | null;
  cpk: number | null;
  pp: number | null;
  ppk: number | null;
  /** Why the rules did not judge the chart (no variation), or null. */
  unjudged: string | null;
  runId: number;
  computedAt: Date;
}

export interface StoredPoint {
  measure: string;
  key: string;
  chart: ChartKind;
  time: Date;
  n: number;
  value: number | null;
  cl: number | null;
  ucl: number | null;
  lcl: number | null;
  sigma: number | null;
  pairedValue: number | null;
  pairedCl: number | null;
  pairedUcl: number | null;
  pairedLcl: number | null;
  phase: Phase;
  limitsSource: LimitsSource;
  runId: number;
}

function chartOf(r: Record<string, unknown>): StoredChart {
  return {
    measure: String(r.measure),
    key: String(r.chart_key),
    chart: String(r.chart) as ChartKind,
    windowFrom: isoDay(r.window_from),
    windowTo: isoDay(r.window_to),
    points: Number(r.points),
    lastPointTime: toDateOrNull(r.last_point_time),
    limitsSource: String(r.limits_source) as LimitsSource,
    limitsNote: (r.limits_note as string | null) ?? null,
    cl: num(r.cl),
    sigmaWithin: num(r.sigma_within),
    valuesN: Number(r.values_n),
    mean: num(r.mean),
    sigmaOverall: num(r.sigma_overall),
    lsl: num(r.lsl),
    usl: num(r.usl),
    target: num(r.target),
    cp: num(r.cp),
    cpk: num(r.cpk),
    pp: num(r.pp),
    ppk: num(r.ppk),
    unjudged: (r.unjudged as string | null | undefined) ?? null,
    runId: Number(r.run_id),
    computedAt: toDate(r.computed_at),
  };
}

export function pointOf(r: Record<string, unknown>): StoredPoint {
  return {
    measure: String(r.measure),
    key: String(r.chart_key),
    chart: String(r.chart) as ChartKind,
    time: toDate(r.point_time),
    n: Number(r.subgroup_size),
    value: num(r.value),
    cl: num(r.cl),
    ucl: num(r.ucl),
    lcl: num(r.lcl),
    sigma: num(r.sigma),
    pairedValue: num(r.paired_value),
    pairedCl: num(r.paired_cl),
    pairedUcl: num(r.paired_ucl),
    pairedLcl: num(r.paired_lcl),
    phase: String(r.phase) as Phase,
    limitsSource: String(r.limits_source) as LimitsSource,
    runId: Number(r.run_id),
  };
}

/** Everything the SPC sheet shows, as stored: reports/spc-sheet.ts shapes it. */
export interface StoredSpc {
  charts: StoredChart[];
  /** The last point of each chart (the one at its last_point_time). */
  lastPoints: StoredPoint[];
  /** The violations the latest run of each chart found (its charted window), withdrawn ones left out. */
  openViolations: StoredViolation[];
  limits: StoredLimits[];
  /** Out-of-control events still open or acknowledged, and those closed within the charts' windows. */
  events: StoredEvent[];
}

/** Reads the SPC state of every measure (or of `measures`) for the report. */
export async function readStoredSpc(ctx: EtlContext, opts: { measures?: readonly string[] } = {}): Promise<StoredSpc> {
  // targetTable's withSchema also qualifies the joined table.
  const only = <T extends Knex.QueryBuilder>(q: T, column = 'measure'): T => (opts.measures ? (q.whereIn(column, [...opts.measures]) as T) : q);
  const charts = ((await only(targetTable(ctx, ctx.target, 'spc_charts').select('*'))) as Record<string, unknown>[]).map(chartOf);
  const lastPoints = ((await only(
    targetTable(ctx, ctx.target, 'spc_points as p')
      .join('spc_charts as c', function () {
        this.on('c.measure', '=', 'p.measure').andOn('c.chart_key', '=', 'p.chart_key').andOn('c.last_point_time', '=', 'p.point_time').andOn('c.run_id', '=', 'p.run_id');
      })
      .select('p.*'),
    'p.measure',
  )) as Record<string, unknown>[]).map(pointOf);
  const openViolations = ((await only(
    targetTable(ctx, ctx.target, 'spc_violations as v')
      .join('spc_charts as c', function () {
        this.on('c.measure', '=', 'v.measure').andOn('c.chart_key', '=', 'v.chart_key').andOn('c.run_id', '=', 'v.last_seen_run_id');
      })
      .whereNull('v.withdrawn_run_id')
      .select('v.*'),
    'v.measure',
  )) as Record<string, unknown>[]).map(violationOf);
  const limits = ((await only(targetTable(ctx, ctx.target, 'spc_limits').select('*'))) as Record<string, unknown>[]).map(limitsOf);
  const earliest = charts.reduce<string | null>((m, c) => (m === null || c.windowFrom < m ? c.windowFrom : m), null);
  const events = earliest === null ? [] : await listEvents(ctx, { measures: opts.measures ?? [...new Set(charts.map((c) => c.measure))], closedSince: new Date(`${earliest}T00:00:00Z`) });
  return { charts, lastPoints, openViolations, limits, events };
}

/** One chart's stored points and current (not withdrawn) violations in [from, to), for drawing it (reports/spc-chart.ts). */
export async function readStoredSeries(ctx: EtlContext, measure: string, key: string, range?: { from: Date; to: Date }): Promise<{ points: StoredPoint[]; violations: StoredViolation[] }> {
  const ranged = <T extends Knex.QueryBuilder>(q: T, column: string): T => (range ? (q.where(column, '>=', range.from).where(column, '<', range.to) as T) : q);
  const points = ((await ranged(targetTable(ctx, ctx.target, 'spc_points').where({ measure, chart_key: key }), 'point_time').orderBy('point_time').select('*')) as Record<string, unknown>[]).map(pointOf);
  const violations = ((await ranged(targetTable(ctx, ctx.target, 'spc_violations').where({ measure, chart_key: key }).whereNull('withdrawn_run_id'), 'point_time').orderBy('point_time').select('*')) as Record<string, unknown>[]).map(violationOf);
  return { points, violations };
}
