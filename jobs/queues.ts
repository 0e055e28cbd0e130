/**
 * Queue names, Redis connection and job options: one queue per kind of work (a job name from
 * jobs/registry.ts), plus `dependents`, the parent of a flow that starts the jobs reading a
 * summary once the summary has succeeded.
 */
import { Queue, type ConnectionOptions, type JobsOptions } from 'bullmq';
import type { ResolvedConfig } from '../config/load.js';
import { addDays } from '../etl/periods.js';

export const DEPENDENTS_QUEUE = 'dependents';

/** What every queued job carries; the same parameters `yieldrun run` takes. */
export interface QueuedJobData {
  days?: string[];
  triggeredBy: string;
  reason?: string;
  resend?: boolean;
  /** For a flow parent: the jobs to start for the days its child computed. */
  dependents?: string[];
  /** For a flow child: the jobs that wait on it (named in its failure alert). */
  waitingDependents?: string[];
  /** The schedule that enqueued the job, if any. */
  schedule?: string;
  /**
   * When the schedule fired (ISO instant). A job without days computes "yesterday" from it, so a
   * retry or a late start covers the same day, and a failure alert can name that day.
   */
  firedAt?: string;
}

export function redisUrl(env: NodeJS.ProcessEnv = process.env): string {
  return env.REDIS_URL?.trim() || 'redis://127.0.0.1:6379';
}

/** ioredis options from a redis:// URL. Workers need maxRetriesPerRequest null (BullMQ blocks on Redis). */
export function redisConnection(url = redisUrl()): ConnectionOptions {
  const u = new URL(url);
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') throw new Error(`REDIS_URL: expected redis://host:port, got '${u.protocol}'`);
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    username: u.username ? decodeURIComponent(u.username) : undefined,
    password: u.password ? decodeURIComponent(u.password) : undefined,
    db: u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0,
    tls: u.protocol === 'rediss:' ? {} : undefined,
    maxRetriesPerRequest: null,
  };
}

/** Attempts and exponential backoff from config; finished jobs are kept for a while for the admin's view. */
export function jobOptions(cfg: ResolvedConfig): JobsOptions {
  return {
    attempts: cfg.runner.attempts,
    backoff: { type: 'exponential', delay: cfg.runner.backoffMs },
    removeOnComplete: { age: 14 * 24 * 3600, count: 5000 },
    removeOnFail: { age: 30 * 24 * 3600, count: 5000 },
  };
}

export function openQueue(cfg: ResolvedConfig, name: string, connection: ConnectionOptions): Queue<QueuedJobData> {
  return new Queue<QueuedJobData>(name, { connection, prefix: cfg.runner.queuePrefix, defaultJobOptions: jobOptions(cfg) });
}

/**
 * The deduplication key of a job over some days: the same job, the same days and the same `resend`
 * are never queued twice at once. Every day is in it, as runs of consecutive days
 * (`nightly-summary:2026-11-14..2026-11-17,2026-11-19`), so two sets with the same ends and count differ.
 */
export function dedupKey(job: string, days: readonly string[] | undefined, resend?: boolean): string {
  const flag = resend ? ':resend' : '';
  if (!days || days.length === 0) return `${job}:auto${flag}`;
  return `${job}:${dayRuns(days).map(([a, b]) => (a === b ? a : `${a}..${b}`)).join(',')}${flag}`;
}

/** Sorted distinct days as runs of consecutive days, [first, last] each. */
export function dayRuns(days: readonly string[]): [string, string][] {
  const sorted = [...new Set(days)].sort();
  const runs: [string, string][] = [];
  for (const d of sorted) {
    const last = runs[runs.length - 1];
    if (last && addDays(last[1], 1) === d) last[1] = d;
    else runs.push([d, d]);
  }
  return runs;
}
