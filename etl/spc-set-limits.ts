/**
 * `yieldrun spc set-limits MEASURE [KEY] --from DATE [--baseline …]` (spc.md §5): new control limits
 * after a process change, valid from the start of production day DATE. They are computed now from
 * the source readings of their baseline (the first N subgroups from DATE on, or the production days
 * FROM..TO); the version they replace is kept in spc_limits_history with DATE as its end, so every
 * point is judged by the limits valid at its time: points before DATE keep their limits and flags.
 * Recorded in etl_runs as job 'spc-set-limits'. `reset-limits` (re-baselining from the window) stays.
 */
import { DateTime } from 'luxon';
import type { EtlContext } from './context.js';
import { targetTable } from './context.js';
import { dateRange, lastCompleteDay, productionDay } from './periods.js';
import { finishRun, recordFailure, startRun } from './run-log.js';
import { readChartInputs } from './spc-inputs.js';
import { freezable, pairedCentre, timesOf, type FrozenLimits } from './spc-judge.js';
import { configuredMeasure, type BaselineSpec, type MeasureSpec } from './spc-measures.js';
import { limitsRow, toDate } from './spc-store.js';
import { baselineLimits, chartLimits, controlChart, subgroupCount, type ChartInput } from './spc/charts.js';

export const SPC_SET_LIMITS = 'spc-set-limits';

/** A request that cannot be carried out as given: the CLI exits 2 with it. */
export class SetLimitsError extends Error {}

export interface SetLimitsRequest {
  measure: string;
  key?: string | undefined;
  /** Production day from whose start the new limits judge. */
  from: string;
  /** Default: the measure's firstSubgroups count, counted from `from`. */
  baseline?: BaselineSpec | undefined;
  triggeredBy: string;
  reason?: string | undefined;
  /** "Now", for the last complete day a first-N baseline may reach; tests pin it. */
  now?: DateTime;
}

export interface SetLimitsResult {
  runId: number;
  measure: string;
  validFrom: Date;
  set: { key: string; cl: number | null; sigmaWithin: number | null; subgroups: number; replaced: boolean }[];
  /** Keys without new limits, and why (too few subgroups, no spread). */
  skipped: { key: string; reason: string }[];
}

/** `--baseline`: a number of subgroups, or FROM..TO production days. */
export function parseBaseline(text: string): BaselineSpec {
  const t = text.trim();
  if (/^\d+$/.test(t) && Number(t) >= 2) return { kind: 'firstSubgroups', count: Number(t) };
  const m = /^(\d{4}-\d{2}-\d{2})\.\.(\d{4}-\d{2}-\d{2})$/.exec(t);
  if (m && DateTime.fromISO(m[1]!).isValid && DateTime.fromISO(m[2]!).isValid && m[1]! <= m[2]!) return { kind: 'dates', from: m[1]!, to: m[2]! };
  throw new SetLimitsError(`--baseline: expected a number of subgroups (≥ 2), e.g. 120, or production days FROM..TO, e.g. 2026-11-02..2026-11-06; got '${text}'`);
}

function baselineOf(m: MeasureSpec, req: SetLimitsRequest): BaselineSpec {
  if (req.baseline) return req.baseline;
  if (m.baseline?.kind === 'firstSubgroups') return m.baseline;
  throw new SetLimitsError(`give --baseline N (subgroups from ${req.from}) or --baseline FROM..TO: ${m.configKey}.baseline is ${m.baseline ? 'a date range, which lies before the change' : 'not set'}`);
}

function limitsFor(input: ChartInput, b: BaselineSpec): { limits: FrozenLimits } | { reason: string } {
  const base = b.kind === 'firstSubgroups' ? baselineLimits(input, b.count) : { ...chartLimits(input), subgroups: subgroupCount(input) };
  if (b.kind === 'firstSubgroups' && base.subgroups < b.count) return { reason: `only ${base.subgroups} of ${b.count} subgroups since the change` };
  if (base.subgroups < 2) return { reason: `too few subgroups (${base.subgroups}) in the baseline` };
  if (!freezable(base)) return { reason: 'no spread in the baseline (σ̂ = 0 or none)' };
  const times = timesOf(input);
  const last = b.kind === 'firstSubgroups' ? b.count - 1 : times.length - 1;
  const chart = controlChart(input, { frozen: { cl: base.cl, sigmaWithin: base.sigmaWithin } });
  return {
    limits: {
      chart: input.chart,
      cl: base.cl,
      sigmaWithin: base.sigmaWithin,
      pairedCl: pairedCentre(chart),
      baselineKind: b.kind,
      baselineFrom: times[0] || null,
      baselineTo: times[last] || null,
      subgroups: base.subgroups,
      validFrom: null,
    },
  };
}

export async function setSpcLimits(ctx: EtlContext, req: SetLimitsRequest): Promise<SetLimitsResult> {
  const m = configuredMeasure(ctx.config, req.measure);
  const b = baselineOf(m, req);
  const validFrom = productionDay(req.from, ctx.clock).from.toJSDate();
  const lastDay = lastCompleteDay(req.now ?? DateTime.now(), ctx.clock);
  const days = b.kind === 'dates' ? dateRange(b.from, b.to) : req.from <= lastDay ? dateRange(req.from, lastDay) : [];
  if (days.length === 0) throw new SetLimitsError(`--from ${req.from} has no complete production day yet (the last is ${lastDay}): new limits need readings`);
  const startedAt = new Date();
  const runId = await startRun(ctx, { job: SPC_SET_LIMITS, days: [req.from], triggeredBy: req.triggeredBy, reason: req.reason }, startedAt);
  try {
    const found: { key: string; limits: FrozenLimits }[] = [];
    const skipped: { key: string; reason: string }[] = [];
    await readChartInputs(ctx, m, days, (k) => {
      if (req.key !== undefined && k.key !== req.key) return;
      const r = limitsFor(k.input, b);
      if ('reason' in r) skipped.push({ key: k.key, reason: r.reason });
      else found.push({ key: k.key, limits: r.limits });
    });
    if (req.key !== undefined && found.length === 0) {
      throw new SetLimitsError(`no new limits for ${m.name} (${req.key}): ${skipped[0]?.reason ?? `no readings of that key on ${days[0]} … ${days[days.length - 1]}`}`);
    }
    const setBy = `run ${runId} (${req.triggeredBy})`.slice(0, 255);
    const set: SetLimitsResult['set'] = [];
    await ctx.target.transaction(async (trx) => {
      for (const f of found) {
        const current = (await targetTable(ctx, trx, 'spc_limits').where({ measure: m.name, chart_key: f.key }).select('*')) as Record<string, unknown>[];
        const old = current[0];
        if (old && old.valid_from !== null && old.valid_from !== undefined && toDate(old.valid_from).getTime() >= validFrom.getTime()) {
          throw new SetLimitsError(`the limits of ${m.name} (${f.key}) already start at ${toDate(old.valid_from).toISOString()}: new ones must start later (or reset-limits first)`);
        }
        if (old) {
          await targetTable(ctx, trx, 'spc_limits_history').insert({ ...old, valid_to: validFrom, superseded_at: startedAt, superseded_by: setBy });
          await targetTable(ctx, trx, 'spc_limits').where({ measure: m.name, chart_key: f.key }).delete();
        }
        const l = f.limits;
        await targetTable(ctx, trx, 'spc_limits').insert(limitsRow(m.name, f.key, { ...l, validFrom: validFrom.toISOString() }, { at: startedAt, by: setBy, runId }));
        set.push({ key: f.key, cl: l.cl, sigmaWithin: l.sigmaWithin, subgroups: l.subgroups, replaced: old !== undefined });
      }
      await finishRun(ctx, trx, runId, startedAt, {
        status: 'succeeded',
        totals: { rows_read: found.length + skipped.length, rows_valid: found.length, rows_rejected: skipped.length, duplicates_dropped: 0, rows_written: found.length, stats: { measure: m.name, key: req.key ?? null, validFrom, baseline: b, set, skipped } },
      });
    });
    ctx.log.info({ job: SPC_SET_LIMITS, runId, measure: m.name, key: req.key, from: req.from, set: set.length, skipped: skipped.length, by: req.triggeredBy }, 'spc limits set');
    return { runId, measure: m.name, validFrom, set, skipped };
  } catch (err) {
    await recordFailure(ctx, runId, startedAt, err);
    throw err;
  }
}
