/**
 * When the nightly summary fails for good, the daily yield report waiting on it does not run, and
 * its readers would hear nothing while the admins get the failure alert. So the report is started
 * for the days the summary failed: it finds the failed run in etl_runs and sends its short
 * "summary failed" notice instead of numbers (reports/daily-yield-report.ts), once, like any report.
 */
import type { ConnectionOptions } from 'bullmq';
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/load.js';
import type { EtlContext } from '../etl/context.js';
import { NIGHTLY_SUMMARY } from '../etl/nightly-summary.js';
import { DAILY_YIELD_REPORT } from '../reports/daily-yield-report.js';
import { readLatestSummaryRun } from '../reports/daily-yield-data.js';
import { enqueue } from './enqueue.js';
import { failedWork, type FailedJob } from './failure-alert.js';

export async function enqueueSummaryFailureNotices(
  cfg: ResolvedConfig,
  ctx: EtlContext,
  connection: ConnectionOptions,
  job: FailedJob,
  log: Logger,
): Promise<string | null> {
  const work = failedWork(cfg, ctx.clock, job);
  if (work.job !== NIGHTLY_SUMMARY || !work.dependents.includes(DAILY_YIELD_REPORT)) return null;
  // Only the days whose latest summary run did fail: a day a later run fixed gets its real report.
  const days: string[] = [];
  for (const day of work.days) {
    const run = await readLatestSummaryRun(ctx, day);
    if (run && run.status !== 'succeeded' && run.status !== 'running') days.push(day);
  }
  if (days.length === 0) return null;
  const r = await enqueue(cfg, connection, DAILY_YIELD_REPORT, {
    days,
    triggeredBy: `failure of ${job.queueName}/${job.id}`,
    reason: 'the nightly summary failed: tell the report recipients',
  });
  log.info({ jobId: job.id, job: job.name, days, reportJobId: r.jobId, deduplicated: r.deduplicated }, 'summary-failed notice enqueued');
  return r.jobId;
}
