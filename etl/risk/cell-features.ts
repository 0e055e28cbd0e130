/**
 * Reads the cells whose ageing ended on a range of production days, with their features and
 * outcomes (sql/risk-query.ts), and turns each row into a CellFeatures: the closer of the two gap
 * readings around the winding (within risk.gapMarginHours), the categorical levels, the label.
 */
import type { DateTime } from 'luxon';
import type { EtlContext } from '../context.js';
import { addDays, dayStartInstant, sourceTimestamp, sourceValueInstant } from '../periods.js';
import { buildRiskFeatureStatement, type RiskFeatureRow, type RiskQueryInput } from '../../sql/risk-query.js';
import { runStatement, type Statement } from '../../sql/statement.js';
import { checkSourceTable } from '../../sql/source-check.js';
import { NO_LEVEL, type CellFeatures } from './features.js';

const HOUR = 3_600_000;

const num = (v: unknown): number | null => {
  if (v === null || v === undefined || v === '') return null;
  const n = Number(v);
  return Number.isFinite(n) ? n : null;
};
const level = (v: unknown): string => {
  if (v === null || v === undefined) return NO_LEVEL;
  const s = String(v).trim();
  return s === '' ? NO_LEVEL : s;
};

/** Fails naming the key when a mapped table or column of the job's sources does not exist. */
export async function checkRiskSources(ctx: EtlContext): Promise<void> {
  const s = ctx.config.source;
  for (const key of ['formation', 'assembly', 'winding', 'inspection', 'oqc', 'outcome'] as const) {
    await checkSourceTable(ctx.source, s[key].table, s[key].columns, `source.${key}`);
  }
}

/** The statement for the cells whose ageing ended on production days from..to, outcomes known before `knownBefore` (pure). */
export function riskFeatureStatement(ctx: Pick<EtlContext, 'config' | 'clock' | 'sourceDialect'>, from: string, to: string, knownBefore: DateTime): Statement {
  const c = ctx.config;
  const mode = c.source.timestamps;
  const stamp = (t: DateTime) => sourceTimestamp(t, mode, ctx.clock);
  const ageingFrom = dayStartInstant(from, ctx.clock);
  const ageingTo = dayStartInstant(addDays(to, 1), ctx.clock);
  const windingFrom = ageingFrom.minus({ days: c.risk.windingLookbackDays });
  const margin = { hours: c.risk.gapMarginHours };
  const input: RiskQueryInput = {
    dialect: ctx.sourceDialect,
    formation: c.source.formation,
    assembly: c.source.assembly,
    winding: c.source.winding,
    inspection: c.source.inspection,
    oqc: c.source.oqc,
    outcome: c.source.outcome,
    ageingFrom: stamp(ageingFrom),
    ageingTo: stamp(ageingTo),
    windingFrom: stamp(windingFrom),
    gapFrom: stamp(windingFrom.minus(margin)),
    gapTo: stamp(ageingTo.plus(margin)),
    knownBefore: stamp(knownBefore),
    gapItemCode: c.defectTrace.gapItemCode,
  };
  return buildRiskFeatureStatement(input);
}

/** The closer of the readings before and after the winding, the earlier on a tie; none beyond the margin. */
export function nearestGap(woundAt: number | null, before: { at: number; value: number } | null, after: { at: number; value: number } | null, marginMs: number): number | null {
  if (woundAt === null) return null;
  const candidates = [before, after].filter((r): r is { at: number; value: number } => r !== null && Math.abs(woundAt - r.at) <= marginMs);
  if (candidates.length === 0) return null;
  return candidates.reduce((best, r) => (Math.abs(woundAt - r.at) < Math.abs(woundAt - best.at) ? r : best)).value;
}

/** One row of the feature statement as a cell (pure but for the clock it is given). */
export function cellFeaturesOf(r: RiskFeatureRow, opts: { instant: (v: unknown) => number | null; marginMs: number; labelled: boolean }): CellFeatures {
  const reading = (value: unknown, at: unknown) => {
    const v = num(value);
    const t = opts.instant(at);
    return v === null || t === null ? null : { at: t, value: v };
  };
  const dfct = num(r.dfct_cd);
  return {
    cellId: String(r.cell_id).trim(),
    lotId: r.lot_id === null ? null : String(r.lot_id),
    winder: r.winder === null ? null : String(r.winder),
    numeric: {
      gap_mm: nearestGap(opts.instant(r.wound_at), reading(r.gap_before, r.gap_before_at), reading(r.gap_after, r.gap_after_at), opts.marginMs),
      k_value: num(r.k_value),
      capacity_ah: num(r.capacity),
      dcir_mohm: num(r.dcir),
      ocv2_v: num(r.ocv2),
      age_days: num(r.age_days),
      oqc_acir_mohm: num(r.oqc_value),
    },
    categorical: {
      winder: level(r.winder),
      cef_defect: dfct === null ? NO_LEVEL : String(dfct),
      oqc_result: level(r.oqc_result === null ? null : String(r.oqc_result).toUpperCase()),
      formation_eqp: level(r.fmt_eqp),
    },
    label: opts.labelled ? (r.outcome !== null ? 1 : 0) : null,
  };
}

/**
 * The cells whose ageing ended on production days from..to; with `labelled`, each with its outcome
 * as known before `knownBefore` (no outcome row: good).
 */
export async function readCells(ctx: EtlContext, from: string, to: string, knownBefore: DateTime, labelled: boolean): Promise<CellFeatures[]> {
  const mode = ctx.config.source.timestamps;
  const rows = await runStatement<RiskFeatureRow>(ctx.source, riskFeatureStatement(ctx, from, to, knownBefore));
  // Many cells share a reading time: each text is parsed once (a zone conversion costs ~10 µs).
  const parsed = new Map<string, number | null>();
  const instant = (v: unknown) => {
    if (v === null || v === undefined) return null;
    const key = v instanceof Date ? `d${v.getTime()}` : `${typeof v}${String(v)}`;
    let ms = parsed.get(key);
    if (ms === undefined) {
      const t = sourceValueInstant(v, mode, ctx.clock);
      ms = t.isValid ? t.toMillis() : null;
      parsed.set(key, ms);
    }
    return ms;
  };
  return rows.map((r) => cellFeaturesOf(r, { instant, marginMs: ctx.config.risk.gapMarginHours * HOUR, labelled }));
}
