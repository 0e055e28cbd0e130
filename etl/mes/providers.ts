/**
 * What is pushed to the MES, as a list of providers: each kind reads its own stored results for a
 * production day and turns each entity (a product, an order, an event, a lot, a cell) into one
 * quality-result message of docs/mes-api.yaml, in ISA-95 terms: material, production order,
 * equipment, lot / sublot, and test results with value, unit, spec and disposition.
 *
 * A provider names the tables it reads; a kind whose table the target does not have (its job is
 * not installed there) is skipped, and said so once per process.
 */
import { targetTable, type EtlContext } from '../context.js';
import { dayStartInstant, addDays } from '../periods.js';
import { instantOf } from '../../reports/daily-yield-data.js';
import type { MesPushKind } from '../../config/schema.js';
import { readRisk } from './risk-store.js';

export type Disposition = 'conforming' | 'nonconforming' | 'hold' | 'none';

export interface TestResult {
  name: string;
  value: number | null;
  unit: string;
  spec?: { lower?: number; upper?: number; target?: number };
  disposition: Disposition;
  sampleSize?: number;
}

/** The body of POST /quality-results (docs/mes-api.yaml, QualityResult). */
export interface QualityResult {
  kind: MesPushKind;
  day: string;
  entity: string;
  site: string;
  disposition: Disposition;
  material?: { id: string };
  productionOrder?: { id: string; quantity: number; dueDate: string; status: string };
  equipment?: { id: string };
  lot?: { id: string; state?: string | null };
  materialSublot?: { id: string };
  samplingPlan?: { plan: string | null; sampleSize: number | null; accept: number | null; reject: number | null };
  spcEvent?: { id: string; measure: string; chart: string; state: string; openedAt: string; lastFlaggedAt: string; flaggedPoints: number; side: string | null; acknowledged: boolean };
  riskModel?: { version: string; class: string; topFeatures: unknown };
  testResults: TestResult[];
}

export interface PushProvider {
  kind: MesPushKind;
  /** Target tables the provider reads. */
  tables: readonly string[];
  collect(ctx: EtlContext, day: string): Promise<QualityResult[]>;
}

const num = (v: unknown): number | null => (v === null || v === undefined || v === '' || !Number.isFinite(Number(v)) ? null : Number(v));
const str = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));

function envelope(ctx: EtlContext, kind: MesPushKind, day: string, entity: string): Pick<QualityResult, 'kind' | 'day' | 'entity' | 'site'> {
  // No time of writing: the same results make the same body, byte for byte, on every run.
  return { kind, day, entity, site: ctx.config.plant.name };
}

/** A yield against its lower target: conforming at or above, nonconforming below, none without a value. */
function judged(value: number | null, lower: number): Disposition {
  return value === null ? 'none' : value >= lower ? 'conforming' : 'nonconforming';
}

function overall(results: readonly TestResult[]): Disposition {
  if (results.some((r) => r.disposition === 'nonconforming')) return 'nonconforming';
  if (results.some((r) => r.disposition === 'hold')) return 'hold';
  return results.some((r) => r.disposition === 'conforming') ? 'conforming' : 'none';
}

const productYield: PushProvider = {
  kind: 'product-yield',
  tables: ['summary_prod'],
  async collect(ctx, day) {
    const t = ctx.config.reports.dailyYield.targets;
    const rows = (await targetTable(ctx, ctx.target, 'summary_prod').where({ period_type: 'day', period_start: day }).orderBy('product').select('*')) as Record<string, unknown>[];
    return rows.map((r) => {
      const product = String(r.product);
      const units = Number(r.units_tested);
      const fpy = num(r.rolled_first_pass_yield);
      const cy = num(r.rolled_cumulative_yield);
      const testResults: TestResult[] = [
        { name: 'first_pass_yield', value: fpy, unit: 'fraction', spec: { lower: t.firstPassYield }, disposition: judged(fpy, t.firstPassYield), sampleSize: units },
        { name: 'cumulative_yield', value: cy, unit: 'fraction', spec: { lower: t.cumulativeYield }, disposition: judged(cy, t.cumulativeYield), sampleSize: units },
        { name: 'load_qty', value: Number(r.load_qty), unit: 'units', disposition: 'none' },
        { name: 'scrapped_serials', value: Number(r.scrapped_serials), unit: 'units', disposition: 'none' },
      ];
      return { ...envelope(ctx, 'product-yield', day, product), material: { id: product }, disposition: overall(testResults), testResults };
    });
  },
};

const orderYield: PushProvider = {
  kind: 'order-yield',
  tables: ['mes_order_risk'],
  async collect(ctx, day) {
    return (await readRisk(ctx, day)).map((r) => {
      const testResults: TestResult[] = [
        { name: 'good_units_so_far', value: r.goodSoFar, unit: 'units', spec: { lower: r.quantity }, disposition: r.goodSoFar >= r.quantity ? 'conforming' : 'none' },
        { name: 'good_units_per_day', value: r.ratePerDay, unit: 'units/day', disposition: 'none', sampleSize: r.rateWindowDays },
        { name: 'projected_good_units_at_due_date', value: r.projectedGood, unit: 'units', spec: { lower: r.quantity }, disposition: r.atRisk ? 'nonconforming' : 'conforming' },
      ];
      return {
        ...envelope(ctx, 'order-yield', day, r.orderId),
        material: { id: r.product },
        productionOrder: { id: r.orderId, quantity: r.quantity, dueDate: r.dueDate, status: r.status },
        disposition: r.atRisk ? 'nonconforming' : 'conforming',
        testResults,
      };
    });
  },
};

const spcEvent: PushProvider = {
  kind: 'spc-event',
  tables: ['spc_events'],
  async collect(ctx, day) {
    // The events still open (acknowledged or not) at the end of the day.
    const end = dayStartInstant(addDays(day, 1), ctx.clock).toJSDate();
    const rows = (await targetTable(ctx, ctx.target, 'spc_events').whereIn('state', ['open', 'acknowledged']).where('opened_at', '<', end).orderBy('id').select('*')) as Record<string, unknown>[];
    const iso = (v: unknown) => instantOf(v)?.toISOString() ?? String(v);
    return rows.map((r) => {
      const id = String(r.id);
      const measure = String(r.measure);
      const unit = ctx.config.spc.measures[measure]?.unit ?? '';
      const testResults: TestResult[] = [{ name: measure, value: num(r.extreme_value), unit, spec: { ...(num(r.extreme_cl) !== null ? { target: num(r.extreme_cl)! } : {}) }, disposition: 'nonconforming', sampleSize: Number(r.flagged_points) }];
      return {
        ...envelope(ctx, 'spc-event', day, id),
        equipment: { id: String(r.chart_key) },
        spcEvent: {
          id,
          measure,
          chart: String(r.chart),
          state: String(r.state),
          openedAt: iso(r.opened_at),
          lastFlaggedAt: iso(r.last_flagged_at),
          flaggedPoints: Number(r.flagged_points),
          side: str(r.side),
          acknowledged: r.acknowledged_at !== null && r.acknowledged_at !== undefined,
        },
        disposition: 'nonconforming',
        testResults,
      };
    });
  },
};

/** Accept / reject as the sampling job spells it, compared without case. */
function lotDisposition(decision: string | null): Disposition {
  const d = (decision ?? '').trim().toLowerCase();
  if (d === 'accept' || d === 'accepted') return 'conforming';
  if (d === 'reject' || d === 'rejected') return 'nonconforming';
  return 'hold';
}

/**
 * The lot-sampling job's dispositions of the day (lot_dispositions, README "Lot sampling"): one
 * message per lot and inspection class (a separator lot inspected for critical and for major
 * nonconformities is judged twice), the entity `<lot id>/<class>`.
 */
const lotDispositions: PushProvider = {
  kind: 'lot-disposition',
  tables: ['lot_dispositions'],
  async collect(ctx, day) {
    const rows = (await targetTable(ctx, ctx.target, 'lot_dispositions').where({ production_day: day }).orderBy(['lot_id', 'inspection_class']).select('*')) as Record<string, unknown>[];
    return rows.map((r) => {
      const lot = String(r.lot_id);
      const accept = num(r.ac);
      const reject = num(r.re);
      const disposition = lotDisposition(str(r.decision));
      const testResults: TestResult[] = [
        { name: 'defectives', value: num(r.defectives), unit: 'units', spec: accept !== null ? { upper: accept } : {}, disposition, sampleSize: num(r.inspected) ?? undefined },
      ];
      return {
        ...envelope(ctx, 'lot-disposition', day, `${lot}/${String(r.inspection_class)}`),
        material: { id: String(r.product) },
        lot: { id: lot, state: str(r.state_after) },
        samplingPlan: { plan: str(r.plan), sampleSize: num(r.sample_size), accept, reject },
        disposition,
        testResults,
      };
    });
  },
};

const cellRisk: PushProvider = {
  kind: 'cell-risk',
  tables: ['cell_risk'],
  async collect(ctx, day) {
    const min = ctx.config.mes.cellRiskMinScore;
    const rows = (await targetTable(ctx, ctx.target, 'cell_risk').where({ day }).where('score', '>=', min).orderBy('cell_id').select('*')) as Record<string, unknown>[];
    return rows.map((r) => {
      const cell = String(r.cell_id);
      let topFeatures: unknown = r.top_features ?? null;
      if (typeof topFeatures === 'string') {
        try {
          topFeatures = JSON.parse(topFeatures);
        } catch {
          /* kept as text */
        }
      }
      return {
        ...envelope(ctx, 'cell-risk', day, cell),
        materialSublot: { id: cell },
        riskModel: { version: String(r.model_version), class: String(r.class), topFeatures },
        disposition: 'hold',
        testResults: [{ name: 'risk_score', value: num(r.score), unit: 'score 0-100', spec: { upper: min }, disposition: 'hold' }],
      };
    });
  },
};

export const PROVIDERS: readonly PushProvider[] = [productYield, orderYield, spcEvent, lotDispositions, cellRisk];

/** Kinds already said to be skipped, per target database and schema: said once per process. */
const toldSkipped = new Set<string>();

export interface Collected {
  results: QualityResult[];
  /** Kinds left out because a table they read is missing, with that table. */
  skipped: { kind: MesPushKind; table: string }[];
}

/** The configured kinds' results for the day. */
export async function collectResults(ctx: EtlContext, day: string, providers: readonly PushProvider[] = PROVIDERS): Promise<Collected> {
  const out: Collected = { results: [], skipped: [] };
  const wanted = new Set(ctx.config.mes.push);
  const schema = () => (ctx.targetSchema ? ctx.target.schema.withSchema(ctx.targetSchema) : ctx.target.schema);
  for (const p of providers.filter((x) => wanted.has(x.kind))) {
    let missing: string | undefined;
    for (const t of p.tables) if (!(await schema().hasTable(t))) missing ??= t;
    if (missing) {
      out.skipped.push({ kind: p.kind, table: missing });
      const told = `${ctx.config.target.url}|${ctx.targetSchema ?? ''}|${p.kind}`;
      if (!toldSkipped.has(told)) {
        toldSkipped.add(told);
        ctx.log.info({ kind: p.kind, table: missing }, `MES push kind ${p.kind} skipped: the target has no table ${missing} (its job is not installed); remove it from mes.push to silence this`);
      }
      continue;
    }
    out.results.push(...(await p.collect(ctx, day)));
  }
  return out;
}
