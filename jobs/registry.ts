/**
 * The jobs yieldrun can run, as plain data: the CLI (`yieldrun run <job>`) and, later, the queue
 * worker look them up here, so a job runs the same code in-process or through Redis.
 */
import type { DateTime } from 'luxon';
import type { EtlContext } from '../etl/context.js';
import { NIGHTLY_SUMMARY, runNightlySummary } from '../etl/nightly-summary.js';
import { DAILY_YIELD_REPORT, describeReport, runDailyYieldReport } from '../reports/daily-yield-report.js';
import { DEFECT_TRACE, describeDefectTrace, runDefectTrace } from '../etl/defect-trace.js';
import { SPC, describeSpc, runSpc } from '../etl/spc-job.js';
import { PROCESS_FLOW, describeProcessFlow, runProcessFlow } from '../etl/flow/process-flow-job.js';
import { LOT_SAMPLING, describeLotSampling, runLotSampling } from '../etl/sampling/lot-sampling-job.js';
import { MES_EXCHANGE, describeMesExchange, runMesExchange } from '../etl/mes/mes-exchange-job.js';
import { CELL_RISK, describeCellRisk, runCellRisk } from '../etl/risk/cell-risk-job.js';

export interface JobParams {
  /** Production days; omitted: the job's own default (for the nightly summary, yesterday plus what needs recomputing). */
  days?: string[];
  triggeredBy: string;
  reason?: string;
  queueJobId?: string;
  attempt?: number;
  /** Send a report again although it was delivered. */
  resend?: boolean;
  /** "Now" for choosing default days: a scheduled run's firing time, so a retry or a late start covers the same day. */
  now?: DateTime;
  /**
   * Reports progress as a fraction in [0, 1]; the queue shows it to `rerun --wait`. A job that
   * chooses its own days names them once chosen (`detail.days`), for the logs.
   */
  onProgress?: (fraction: number, detail?: ProgressDetail) => void;
}

export interface ProgressDetail {
  days?: readonly string[];
}

export interface JobOutcome {
  runId: number;
  /** The production days the job covered. */
  days: string[];
  /** The days the jobs depending on this one should run for (a scheduled nightly run: yesterday). */
  primaryDays: string[];
  /** Lines for a person: what the job did and found. */
  summary: string[];
  details: unknown;
}

export interface JobDefinition {
  name: string;
  description: string;
  run(ctx: EtlContext, params: JobParams): Promise<JobOutcome>;
}

const pct = (n: number, d: number) => (d === 0 ? '–' : `${((100 * n) / d).toFixed(2)} %`);

export const JOBS: Record<string, JobDefinition> = {
  [NIGHTLY_SUMMARY]: {
    name: NIGHTLY_SUMMARY,
    description: 'compute summary_machine, summary_prod_test and summary_prod for production days and their ISO weeks',
    async run(ctx, params) {
      const r = await runNightlySummary(ctx, params);
      const rejects = Object.entries(r.rejectsByReason)
        .filter(([, n]) => n > 0)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ');
      const summary = [
        `run ${r.runId}: ${r.days.length} day(s) ${r.days[0] ?? ''}${r.days.length > 1 ? ` … ${r.days[r.days.length - 1]}` : ''}, ${r.periods.length} period(s) replaced`,
        `rows read ${r.rowsRead}, valid ${r.rowsValid}, rejected ${r.rowsRejected} (${pct(r.rowsRejected, r.rowsRead)})${rejects ? `: ${rejects}` : ''}`,
        `duplicates dropped ${r.duplicatesDropped}, excess attempts ${r.excessAttempts}, summary rows written ${r.rowsWritten}`,
        `took ${(r.durationMs / 1000).toFixed(2)} s`,
      ];
      if (r.selection) summary.unshift(`chosen: ${Object.entries(r.selection).map(([d, why]) => `${d} (${why})`).join(', ')}`);
      const primaryDays = r.selection ? Object.keys(r.selection).filter((d) => r.selection![d] === 'yesterday') : r.days;
      return { runId: r.runId, days: r.days, primaryDays, summary, details: r };
    },
  },
  [DAILY_YIELD_REPORT]: {
    name: DAILY_YIELD_REPORT,
    description: 'the daily yield workbook and email for production days (default: yesterday); sent once per day unless --resend',
    async run(ctx, params) {
      const r = await runDailyYieldReport(ctx, params);
      const days = r.days.map((d) => d.day);
      return { runId: r.runId, days, primaryDays: days, summary: describeReport(r), details: r };
    },
  },
  [DEFECT_TRACE]: {
    name: DEFECT_TRACE,
    description: 'trace CEF infusion defects to winders and their separator–anode gap into summary_defect_winder (default: yesterday)',
    async run(ctx, params) {
      const r = await runDefectTrace(ctx, params);
      // Dependents report on the days asked for, not on the window days filled in for the baseline.
      return { runId: r.runId, days: r.days, primaryDays: r.requested, summary: describeDefectTrace(r), details: r };
    },
  },
  [SPC]: {
    name: SPC,
    description: 'control charts, Nelson rules and capability of the spc.measures over the window ending with the day (default: yesterday); emails each out-of-control event once when it opens and when it closes',
    async run(ctx, params) {
      const r = await runSpc(ctx, params);
      return { runId: r.runId, days: r.days, primaryDays: r.days, summary: describeSpc(r), details: r };
    },
  },
  [PROCESS_FLOW]: {
    name: PROCESS_FLOW,
    description: 'directly-follows edges, steps, variants, route conformance and shifts of the test and battery event logs into summary_flow_* (default: yesterday)',
    async run(ctx, params) {
      const r = await runProcessFlow(ctx, params);
      return { runId: r.runId, days: r.days, primaryDays: r.days, summary: describeProcessFlow(r), details: r };
    },
  },
  [LOT_SAMPLING]: {
    name: LOT_SAMPLING,
    description: 'every lot inspected on the day judged by its sampling plan under its inspection state (MIL-STD-105E switching) into lot_dispositions and sampling_state; alerts when an inspection is discontinued (default: yesterday)',
    async run(ctx, params) {
      const r = await runLotSampling(ctx, params);
      return { runId: r.runId, days: r.judgedDays, primaryDays: r.days, summary: describeLotSampling(r), details: r };
    },
  },
  [CELL_RISK]: {
    name: CELL_RISK,
    description: 'score the cells whose ageing ended on the day with the active cell-risk model into cell_risk (short-term test recommended at or above risk.threshold), fitting and evaluating a new model version first when it is due (default: yesterday)',
    async run(ctx, params) {
      const r = await runCellRisk(ctx, params);
      return { runId: r.runId, days: r.days, primaryDays: r.days, summary: describeCellRisk(r), details: r };
    },
  },
  [MES_EXCHANGE]: {
    name: MES_EXCHANGE,
    description: 'pull production orders from the MES into mes_orders, their delivery risk into mes_order_risk, and push the day\'s results to the MES once each through mes_outbox (default: yesterday)',
    async run(ctx, params) {
      const r = await runMesExchange(ctx, params);
      return { runId: r.runId, days: r.days, primaryDays: r.days, summary: describeMesExchange(r), details: r };
    },
  },
};

/** A job name that is not registered: a wrong argument, not a failed run. */
export class UnknownJobError extends Error {}

/**
 * Whether `name` is a job of `jobs`: an own property, so `constructor`, `toString` or `__proto__`
 * (inherited from Object.prototype) never pass for a job that nobody serves.
 */
export function isJobName(name: string, jobs: Record<string, JobDefinition> = JOBS): boolean {
  return Object.hasOwn(jobs, name);
}

export function jobNamed(name: string): JobDefinition {
  const job = isJobName(name) ? JOBS[name] : undefined;
  if (!job) throw new UnknownJobError(`unknown job '${name}'; known jobs: ${Object.keys(JOBS).join(', ')}`);
  return job;
}
