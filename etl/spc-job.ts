/**
 * The `spc` job (spc.md; DESIGN.md "The flow of one night"): for a production day D, every enabled
 * measure is charted over the window of `spc.windowDays` days ending with D, one chart per key:
 *
 *   read the source (etl/spc-inputs.ts) → limits (versioned), chart, Nelson rules, capability
 *   (etl/spc-judge.ts) → one target transaction per measure (etl/spc-store.ts) with its
 *   out-of-control events (etl/spc-event-store.ts) → one email per measure for the events that
 *   opened and those that closed (reports/spc-alert.ts), each told once; history (events that
 *   opened before the run's own days) is stored and shown, never alerted
 *
 * and the run is recorded in etl_runs with job 'spc'. Several days given: the window ending with the
 * last day is charted, and earlier windows too when the days reach further back than one window.
 */
import type { EtlContext } from './context.js';
import { addDays, dateRange, productionDay } from './periods.js';
import { finishRun, recordFailure, requestedDays, startRun, type JobRequest, type RunTotals } from './run-log.js';
import type { EventsWritten } from './spc-event-store.js';
import { checkMeasureSource, readChartInputs, type KeyedInput, type UnchartedRows } from './spc-inputs.js';
import { judgeKey, storedLimitsApply } from './spc-judge.js';
import { chartedKey, numberAt, phaseAt, type ChartedKey } from './spc-point-columns.js';
import { configuredMeasure, enabledMeasures, type MeasureSpec } from './spc-measures.js';
import { deleteFrozenLimits, readFrozenLimits, readSupersededLimits, storeMeasure, type StoredLimits } from './spc-store.js';
import { claimEventAlerts, releaseEventAlerts } from './spc-event-store.js';
import type { ChartInput } from './spc/charts.js';
import type { ChartKind, LimitsSource } from './spc/chart-points.js';
import { mailSettings, type MailSettings } from '../reports/mail.js';
import { queueAndSend, type SenderOptions } from '../reports/outbox/sender.js';
import { spcAlertMessage } from '../reports/spc-alert.js';
import type { SpcChartData, SpcChartPoint } from '../reports/spc-chart.js';

export const SPC = 'spc';
export const SPC_RESET_LIMITS = 'spc-reset-limits';

/** Production days omitted: yesterday in plant time. */
export interface SpcRequest extends JobRequest {
  /** Only these measures; default: every enabled one. */
  measures?: readonly string[];
  /** Default: the configuration's mail keys and SMTP_URL. */
  mail?: MailSettings;
}

/** queued: in the outbox, which the worker sends once the mail server answers. */
export type AlertStatus = 'sent' | 'queued' | 'nothing-new' | 'no-recipients' | 'failed';

export interface SpcAlertOutcome {
  status: AlertStatus;
  /** Events whose opening the email told, and whose close (sent); or that are waiting (failed). */
  opened: number;
  closed: number;
  to: string[];
  subject?: string;
  messageId?: string;
  transport?: 'smtp' | 'file';
  /** The .eml file or the SMTP server's reply. */
  location?: string;
  error?: string;
}

export interface SpcMeasureOutcome {
  measure: string;
  title: string;
  chart: ChartKind;
  window: { from: string; to: string };
  charts: number;
  /** Source rows behind the charts. */
  rowsRead: number;
  /** Rows of the window that no chart shows: no value or outside validRange; no chart key (untraced), per day for p-charts. */
  uncharted: UnchartedRows;
  /** The table the chart key is looked up in, if any: rows without a key are untraced there. */
  lookup: string | null;
  points: number;
  /** Violations found in the window, those of them not seen by an earlier run, and earlier ones no longer found. */
  violations: number;
  newViolations: number;
  withdrawnViolations: number;
  /** Out-of-control events: found now for the first time (and of those, history), open after the run, closed by it, withdrawn. */
  events: EventsWritten;
  /** Charts the rules could not judge (σ̂ = 0: no variation). */
  unjudged: string[];
  /** Keys whose limits this run froze. */
  frozenKeys: string[];
  /** Charts by where their limits come from. */
  limits: Record<LimitsSource, number>;
  alert: SpcAlertOutcome;
}

export interface SpcResult {
  runId: number;
  days: string[];
  windows: { from: string; to: string }[];
  measures: SpcMeasureOutcome[];
  durationMs: number;
}

/** The windows that cover `days`: the one ending with the last day, then earlier ones for days it misses; oldest first. */
export function chartWindows(days: readonly string[], windowDays: number): { from: string; to: string }[] {
  const sorted = [...new Set(days)].sort();
  const windows: { from: string; to: string }[] = [];
  let i = sorted.length - 1;
  while (i >= 0) {
    const to = sorted[i]!;
    const from = addDays(to, -(windowDays - 1));
    windows.unshift({ from, to });
    while (i >= 0 && sorted[i]! >= from) i--;
  }
  return windows;
}

/** A date baseline's own chart inputs by key (it may lie before the window). */
async function datedBaselineInputs(ctx: EtlContext, m: MeasureSpec, from: string, to: string): Promise<Map<string, ChartInput>> {
  const inputs = new Map<string, ChartInput>();
  await readChartInputs(ctx, m, dateRange(from, to), (k) => inputs.set(k.key, k.input));
  return inputs;
}

/** A key with no readings in the baseline days. */
function emptyInput(chart: ChartKind): ChartInput {
  if (chart === 'I-MR') return { chart, observations: [] };
  if (chart === 'p') return { chart, samples: [] };
  return { chart, subgroups: [] };
}

interface MeasureRun {
  outcome: SpcMeasureOutcome;
  judged: ChartedKey[];
}

async function chartMeasure(ctx: EtlContext, m: MeasureSpec, window: { from: string; to: string }, runId: number, triggeredBy: string, ownFrom: Date): Promise<MeasureRun> {
  const stored = await readFrozenLimits(ctx, m.name);
  const superseded = await readSupersededLimits(ctx, m.name);
  const b = m.baseline;
  // Keys without usable frozen limits wait while the window is read when a date baseline has ended:
  // its own readings are fetched afterwards, only if some key needs them.
  const datedComplete = b?.kind === 'dates' && window.to >= b.to;
  const frozenFor = (key: string) => storedLimitsApply(stored.get(key), m.chart);
  const judged: ChartedKey[] = [];
  const waiting: KeyedInput[] = [];
  let rowsRead = 0;
  const uncharted = await readChartInputs(ctx, m, dateRange(window.from, window.to), (k) => {
    rowsRead += k.rows;
    if (datedComplete && !frozenFor(k.key)) waiting.push(k);
    else judged.push(chartedKey(judgeKey(m, { key: k.key, input: k.input, values: k.values, stored: stored.get(k.key), superseded: superseded.get(k.key) })));
  });
  if (waiting.length > 0 && b?.kind === 'dates') {
    const base = await datedBaselineInputs(ctx, m, b.from, b.to);
    for (const k of waiting) {
      const input = base.get(k.key);
      judged.push(chartedKey(judgeKey(m, { key: k.key, input: k.input, values: k.values, stored: stored.get(k.key), datedBaseline: { input: input ?? emptyInput(m.chart), complete: true } })));
    }
    judged.sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
  }
  // Stored limits that do not judge this chart (another chart type: the config changed; or σ̂ = 0)
  // are replaced when this run freezes new ones for the key.
  const replaceLimits = new Set([...stored.values()].filter((s) => !storedLimitsApply(s, m.chart)).map((s) => s.key));
  const written = await storeMeasure(ctx, {
    measure: m,
    runId,
    triggeredBy,
    computedAt: new Date(),
    window: { firstDay: window.from, lastDay: window.to, from: productionDay(window.from, ctx.clock).from.toJSDate(), to: productionDay(window.to, ctx.clock).to.toJSDate() },
    keys: judged,
    replaceLimits,
    ownFrom,
    eventCloseAfter: ctx.config.spc.eventCloseAfter,
  });
  const limits: Record<LimitsSource, number> = { window: 0, baseline: 0, frozen: 0 };
  for (const j of judged) limits[j.limitsSource]++;
  return {
    judged,
    outcome: {
      measure: m.name,
      title: m.title,
      chart: m.chart,
      window,
      charts: judged.length,
      rowsRead,
      uncharted,
      lookup: m.source.lookup?.table ?? null,
      points: written.points,
      violations: written.violations,
      newViolations: written.newViolations,
      withdrawnViolations: written.withdrawnViolations,
      events: written.events,
      unjudged: judged.filter((j) => j.unjudged !== null).map((j) => j.key),
      frozenKeys: written.frozenKeys,
      limits,
      alert: { status: 'nothing-new', opened: 0, closed: 0, to: m.alert.to },
    },
  };
}

function chartData(m: MeasureSpec, j: ChartedKey): SpcChartData {
  const p = j.points;
  const points: SpcChartPoint[] = [];
  for (let i = 0; i < p.length; i++) {
    points.push({
      time: new Date(p.time[i]!),
      value: numberAt(p.value, i),
      cl: numberAt(p.cl, i),
      ucl: numberAt(p.ucl, i),
      lcl: numberAt(p.lcl, i),
      sigma: numberAt(p.sigma, i),
      paired: j.chart === 'p' ? null : { value: numberAt(p.pairedValue, i), cl: numberAt(p.pairedCl, i), ucl: numberAt(p.pairedUcl, i), lcl: numberAt(p.pairedLcl, i) },
      phase: phaseAt(p, i),
    });
  }
  return {
    title: m.title,
    key: j.key,
    chart: j.chart,
    unit: m.unit,
    points,
    violations: j.violations.map((v) => ({ time: new Date(v.time), rule: v.rule, panel: v.panel })),
    spec: m.spec,
    limitsNote: j.note,
  };
}

/**
 * Emails the measure's events that opened (not history) and the closes of events whose opening was
 * told, if any. They are claimed before sending, so two runs at once cannot both send them; a
 * failed send gives them back for the next run.
 */
async function alertMeasure(ctx: EtlContext, m: MeasureSpec, run: MeasureRun, runId: number, day: string, sender: SenderOptions): Promise<SpcAlertOutcome> {
  if (m.alert.to.length === 0) {
    const waiting = run.outcome.events.opened - run.outcome.events.history;
    return { status: waiting > 0 ? 'no-recipients' : 'nothing-new', opened: waiting, closed: 0, to: [] };
  }
  const claimed = await claimEventAlerts(ctx, m.name, runId, new Date());
  const counts = { opened: claimed.opened.length, closed: claimed.closed.length };
  if (counts.opened + counts.closed === 0) return { status: 'nothing-new', ...counts, to: m.alert.to };
  try {
    const keys = new Set(claimed.opened.map((e) => e.key));
    const charts = new Map(run.judged.filter((j) => keys.has(j.key)).map((j) => [j.key, chartData(m, j)]));
    const message = await spcAlertMessage(
      {
        plant: ctx.config.plant.name,
        timezone: ctx.config.plant.timezone,
        measure: { name: m.name, title: m.title, unit: m.unit, chart: m.chart, rules: m.rules },
        day,
        window: run.outcome.window,
        runId,
        opened: claimed.opened,
        closed: claimed.closed,
      },
      charts,
      m.alert,
    );
    // Through the outbox (reports/outbox/), like every email: stored before it is sent, retried by
    // the worker while the mail server is down, never sent again after an unknown outcome.
    const entry = await queueAndSend(ctx, { dedupeKey: `spc-alert|${m.name}|run ${runId}`, kind: 'spc-alert', message }, sender);
    const told = { ...counts, to: m.alert.to, subject: message.subject, messageId: entry.messageId };
    if (entry.status === 'sent') return { status: 'sent', ...told, transport: entry.transport ?? undefined, location: entry.location ?? undefined };
    // Queued: the worker's outbox sender delivers it once the server answers; the events stay told.
    if (entry.status === 'pending' || entry.status === 'sending') return { status: 'queued', ...told, error: entry.lastError ?? undefined };
    // The server refused it for good, or it may have arrived: the outbox kept it and told the admins.
    if (entry.status === 'unconfirmed') return { status: 'failed', ...told, error: `the message may not have been delivered: ${entry.lastError ?? 'unknown outcome'}` };
    await releaseEventAlerts(ctx, m.name, runId);
    return { status: 'failed', ...told, error: entry.lastError ?? 'the message expired unsent' };
  } catch (err) {
    await releaseEventAlerts(ctx, m.name, runId);
    return { status: 'failed', ...counts, to: m.alert.to, error: (err as Error).message };
  }
}

export async function runSpc(ctx: EtlContext, req: SpcRequest): Promise<SpcResult> {
  const t0 = Date.now();
  const measures = req.measures ? req.measures.map((name) => configuredMeasure(ctx.config, name)) : enabledMeasures(ctx.config);
  for (const m of measures) await checkMeasureSource(ctx.source, m);
  const days = requestedDays(req, ctx.clock);
  const windows = chartWindows(days, ctx.config.spc.windowDays);
  const ownFrom = productionDay(days[0]!, ctx.clock).from.toJSDate();
  const startedAt = new Date();
  const runId = await startRun(ctx, { job: SPC, days, triggeredBy: req.triggeredBy, reason: req.reason, queueJobId: req.queueJobId, attempt: req.attempt }, startedAt);
  const log = ctx.log.child({ job: SPC, runId, from: days[0], to: days[days.length - 1] });
  log.info({ measures: measures.map((m) => m.name), windows }, 'spc started');

  const sender: SenderOptions = { mail: req.mail ?? mailSettings(ctx.config), log };
  const outcomes: SpcMeasureOutcome[] = [];
  const totals: RunTotals = { rows_read: 0, rows_valid: 0, rows_rejected: 0, duplicates_dropped: 0, rows_written: 0, stats: {} };
  try {
    const steps = windows.length * Math.max(1, measures.length);
    let done = 0;
    for (const w of windows) {
      for (const m of measures) {
        const run = await chartMeasure(ctx, m, w, runId, req.triggeredBy, ownFrom);
        run.outcome.alert = await alertMeasure(ctx, m, run, runId, w.to, sender);
        const o = run.outcome;
        log.info({ measure: m.name, window: w, charts: o.charts, points: o.points, violations: o.violations, new: o.newViolations, events: o.events, frozen: o.frozenKeys.length, alert: o.alert.status }, 'measure charted');
        if (o.alert.status === 'failed') log.error({ measure: m.name, err: o.alert.error }, 'spc alert not sent; the next run sends it');
        outcomes.push(o);
        // Rows without a key are valid rows no chart can show: counted as valid, reported apart.
        totals.rows_read += o.rowsRead + o.uncharted.rejected + o.uncharted.noKey;
        totals.rows_valid += o.rowsRead + o.uncharted.noKey;
        totals.rows_rejected += o.uncharted.rejected;
        totals.rows_written += o.points;
        req.onProgress?.(++done / steps);
      }
    }
  } catch (err) {
    log.error({ err: (err as Error).message }, 'spc failed');
    await recordFailure(ctx, runId, startedAt, err, totals);
    throw err;
  }

  totals.stats = {
    windows,
    measures: outcomes.map((o) => ({
      measure: o.measure,
      window: o.window,
      charts: o.charts,
      rowsCharted: o.rowsRead,
      rowsRejected: o.uncharted.rejected,
      rowsWithoutKey: o.uncharted.noKey,
      ...(o.chart === 'p' ? { rowsWithoutKeyByDay: o.uncharted.noKeyByDay } : {}),
      points: o.points,
      violations: o.violations,
      newViolations: o.newViolations,
      withdrawnViolations: o.withdrawnViolations,
      events: o.events,
      unjudged: o.unjudged,
      frozenKeys: o.frozenKeys,
      limits: o.limits,
      alert: o.alert,
    })),
  };
  const failed = outcomes.filter((o) => o.alert.status === 'failed');
  if (failed.length > 0) {
    // The charts are stored; the run fails so that the queue retries it, and the retry sends the alert.
    const error = `SPC alert email not sent for ${failed.map((o) => `${o.measure} (${o.alert.error})`).join('; ')}; its events stay un-alerted and the next run sends them`;
    await finishRun(ctx, ctx.target, runId, startedAt, { status: 'failed', error, totals });
    throw new Error(error);
  }
  await finishRun(ctx, ctx.target, runId, startedAt, { status: 'succeeded', totals });
  const result: SpcResult = { runId, days, windows, measures: outcomes, durationMs: Date.now() - t0 };
  log.info({ durationMs: result.durationMs }, 'spc succeeded');
  return result;
}

/** Days listed by name in a summary line; the rest are counted (etl_runs.stats has them all). */
const DAYS_LISTED = 7;

/**
 * The rows a measure read but did not chart, for a person: "3 rejected (no value or outside
 * validRange); 20 untraced (no match in wnd_data) on 10 day(s): 2026-10-01 2, …". Empty when none.
 */
export function unchartedText(u: UnchartedRows, lookup: string | null): string {
  const parts: string[] = [];
  if (u.rejected > 0) parts.push(`${u.rejected} rejected (no value or outside validRange)`);
  if (u.noKey > 0) {
    const days = Object.entries(u.noKeyByDay).sort((a, b) => (a[0] < b[0] ? -1 : 1));
    const listed = days.slice(0, DAYS_LISTED).map(([d, n]) => `${d} ${n}`);
    const more = days.length > DAYS_LISTED ? `, … ${days.length - DAYS_LISTED} more` : '';
    const byDay = days.length > 0 ? ` on ${days.length} day(s): ${listed.join(', ')}${more}` : '';
    parts.push(`${u.noKey} ${lookup ? `untraced (no match in ${lookup})` : 'without a chart key'}, not charted${byDay}`);
  }
  return parts.join('; ');
}

/** Lines for a person, as `yieldrun run spc` prints them. */
export function describeSpc(r: SpcResult): string[] {
  const lines = [
    `run ${r.runId}: SPC for ${r.days.length === 1 ? r.days[0] : `${r.days[0]} … ${r.days[r.days.length - 1]}`}, window${r.windows.length > 1 ? 's' : ''} ${r.windows.map((w) => `${w.from} … ${w.to}`).join(', ')}`,
  ];
  if (r.measures.length === 0) lines.push('no SPC measures configured (spc.measures)');
  for (const o of r.measures) {
    const limits = (Object.entries(o.limits) as [LimitsSource, number][]).filter(([, n]) => n > 0).map(([s, n]) => `${s} ${n}`).join(', ');
    const frozen = o.frozenKeys.length ? `, limits frozen now for ${o.frozenKeys.length}` : '';
    const alert =
      o.alert.status === 'sent'
        ? `alert sent to ${o.alert.to.join(', ')} (${o.alert.opened} opened, ${o.alert.closed} closed)`
        : o.alert.status === 'failed'
          ? `ALERT NOT SENT: ${o.alert.error}`
          : o.alert.status === 'no-recipients'
            ? 'no alert recipients configured'
            : 'nothing new to alert';
    const uncharted = unchartedText(o.uncharted, o.lookup);
    const e = o.events;
    const history = e.history > 0 ? ` (${e.history} history: opened before the run's days, not alerted)` : '';
    const unjudged = o.unjudged.length > 0 ? `; no variation, cannot be judged: ${o.unjudged.join(', ')}` : '';
    lines.push(
      `${o.measure} (${o.chart}): ${o.charts} chart(s), ${o.points} points from ${o.rowsRead} rows${uncharted ? ` (${uncharted})` : ''}, ${o.violations} violation(s), ${o.newViolations} new` +
        `${o.withdrawnViolations ? `, ${o.withdrawnViolations} withdrawn` : ''}; events: ${e.opened} new${history}, ${e.open} open, ${e.closed} closed${e.withdrawn ? `, ${e.withdrawn} withdrawn` : ''}${unjudged}; limits ${limits || '–'}${frozen}; ${alert}`,
    );
  }
  lines.push(`took ${(r.durationMs / 1000).toFixed(2)} s`);
  return lines;
}

export interface ResetLimitsResult {
  runId: number;
  measure: string;
  key: string | null;
  deleted: StoredLimits[];
}

/**
 * Deletes a measure's frozen limits (all keys, or one) so that the next run sets them from its
 * baseline again (Phase I). Recorded in etl_runs as job 'spc-reset-limits': who, when, why, and
 * the limits that were deleted.
 */
export async function resetSpcLimits(ctx: EtlContext, req: { measure: string; key?: string; triggeredBy: string; reason?: string }): Promise<ResetLimitsResult> {
  configuredMeasure(ctx.config, req.measure);
  const startedAt = new Date();
  const runId = await startRun(ctx, { job: SPC_RESET_LIMITS, days: [], triggeredBy: req.triggeredBy, reason: req.reason }, startedAt);
  try {
    const deleted = await ctx.target.transaction(async (trx) => {
      const rows = await deleteFrozenLimits(ctx, trx, req.measure, req.key);
      await finishRun(ctx, trx, runId, startedAt, {
        status: 'succeeded',
        totals: {
          rows_read: rows.length,
          rows_valid: rows.length,
          rows_rejected: 0,
          duplicates_dropped: 0,
          rows_written: rows.length,
          stats: { measure: req.measure, key: req.key ?? null, deleted: rows.map((r) => ({ key: r.key, chart: r.chart, cl: r.cl, sigmaWithin: r.sigmaWithin, setAt: r.setAt, setBy: r.setBy })) },
        },
      });
      return rows;
    });
    ctx.log.info({ job: SPC_RESET_LIMITS, runId, measure: req.measure, key: req.key, deleted: deleted.length, by: req.triggeredBy }, 'spc limits reset');
    return { runId, measure: req.measure, key: req.key ?? null, deleted };
  } catch (err) {
    await recordFailure(ctx, runId, startedAt, err);
    throw err;
  }
}
