/**
 * Whether a failed job will run again, and what is left to tidy when it will not. Counting attempts
 * is not enough: BullMQ fails a job for good with an UnrecoverableError, attempts left or not, and
 * that is how it fails a job that stalled more than maxStalledCount times ("job stalled more than
 * allowable limit"), whose attemptsMade never reached the limit.
 */
import type { EtlContext } from '../etl/context.js';
import { targetTable } from '../etl/context.js';

export interface FailureFacts {
  /** The job's state read after BullMQ's failed event; undefined or 'unknown' when it could not be read (removed on fail). */
  state?: string;
  attemptsMade: number;
  attempts: number;
  error: { name: string; message: string };
}

const GIVEN_UP = /(stalled|started) more than allowable limit/;

export function isFinalFailure(f: FailureFacts): boolean {
  // The state is the truth: 'failed' is final, any other known state means a retry is queued or running.
  if (f.state === 'failed') return true;
  if (f.state !== undefined && f.state !== 'unknown') return false;
  return f.attemptsMade >= f.attempts || f.error.name === 'UnrecoverableError' || GIVEN_UP.test(f.error.message);
}

/**
 * A job failed because its worker died (stalled) never reached the code that records its run, so
 * the attempt that died still shows as running in etl_runs; the next attempt would have closed it.
 */
export async function closeAbandonedRuns(ctx: EtlContext, queueJobId: string, error: string): Promise<void> {
  // No row count is returned: SQL Server-compatible engines may not report one.
  await targetTable(ctx, ctx.target, 'etl_runs')
    .where({ queue_job_id: queueJobId, status: 'running' })
    .update({ status: 'interrupted', finished_at: new Date(), error: `the worker running this attempt stopped before it finished; then: ${error}`.slice(0, 4000) });
}
