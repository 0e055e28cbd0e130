/**
 * The jobs yieldrun can run, as plain data: the CLI (`yieldrun run <job>`) and, later, the queue
 * worker look them up here, so a job runs the same code in-process or through Redis.
 */
import type { EtlContext } from '../etl/context.js';
import { NIGHTLY_SUMMARY, runNightlySummary } from '../etl/nightly-summary.js';

export interface JobParams {
  /** Production days; omitted: the job's own default (for the nightly summary, yesterday plus what needs recomputing). */
  days?: string[];
  triggeredBy: string;
  reason?: string;
  queueJobId?: string;
  attempt?: number;
}

export interface JobOutcome {
  runId: number;
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
      return { runId: r.runId, summary, details: r };
    },
  },
};

export function jobNamed(name: string): JobDefinition {
  const job = JOBS[name];
  if (!job) throw new Error(`unknown job '${name}'; known jobs: ${Object.keys(JOBS).join(', ')}`);
  return job;
}
