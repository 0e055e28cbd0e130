/**
 * Catch-up: every production day in the lookback without a successful summary is enqueued,
 * oldest first. BullMQ's schedulers do not run what was missed while no worker was up.
 */
import { DateTime } from 'luxon';
import type { ConnectionOptions } from 'bullmq';
import type { Logger } from 'pino';
import { targetTable, type EtlContext } from '../etl/context.js';
import { addDays, dateRange, lastCompleteDay } from '../etl/periods.js';
import { isoDate, NIGHTLY_SUMMARY } from '../etl/nightly-summary.js';
import { enqueue, type Enqueued } from './enqueue.js';

/** Days from yesterday back through the lookback that have no successfully computed summary. */
export async function missingDays(ctx: EtlContext, now: DateTime): Promise<string[]> {
  const yesterday = lastCompleteDay(now, ctx.clock);
  const days = dateRange(addDays(yesterday, -ctx.config.yield.lookbackDays), yesterday);
  const done = (await targetTable(ctx, ctx.target, 'etl_periods')
    .where('period_type', 'day')
    .whereIn('period_start', days)
    .select('period_start')) as { period_start: unknown }[];
  const have = new Set(done.map((r) => isoDate(r.period_start)));
  return days.filter((d) => !have.has(d));
}

export async function enqueueCatchUp(ctx: EtlContext, connection: ConnectionOptions, log: Logger, now: DateTime = DateTime.now()): Promise<Enqueued[]> {
  const days = await missingDays(ctx, now);
  const out: Enqueued[] = [];
  for (const day of days) {
    out.push(await enqueue(ctx.config, connection, NIGHTLY_SUMMARY, { days: [day], triggeredBy: 'catch-up', reason: 'no successful summary for this day' }));
  }
  if (days.length) log.info({ days, jobs: out.map((e) => e.jobId) }, 'catch-up enqueued missed days');
  return out;
}
