/**
 * `yieldrun worker`: runs the registered jobs from their BullMQ queues. Several workers on several
 * machines share the work through Redis. On start it makes the job schedulers match the config
 * and enqueues the days that were missed (catch-up).
 */
import os from 'node:os';
import { Worker, type ConnectionOptions, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/load.js';
import { openEtlContext } from '../etl/context.js';
import { JOBS, type JobDefinition } from './registry.js';
import { DEPENDENTS_QUEUE, redisConnection, type QueuedJobData } from './queues.js';
import { SCHEDULE_QUEUE, syncSchedules } from './schedules.js';
import { enqueueCatchUp } from './catch-up.js';
import { enqueue, enqueueWithDependents } from './enqueue.js';
import { reportFinalFailure } from './failure-alert.js';

export interface WorkerHandle {
  workers: Worker[];
  /** Stops taking jobs, lets the active ones finish, closes connections. */
  close(): Promise<void>;
}

export interface WorkerOptions {
  connection?: ConnectionOptions;
  /** The jobs this worker runs (default: all registered). */
  jobs?: Record<string, JobDefinition>;
  /** Sync schedules and catch up on start (default true). */
  housekeeping?: boolean;
}

/** What a job returns to BullMQ: kept with the job, read by a flow parent. */
export interface QueuedJobResult {
  runId: number;
  days: string[];
  /** The days the job's dependents should run for (a scheduled nightly run: yesterday). */
  primaryDays: string[];
}

/** BullMQ needs Redis to keep every key: with eviction, queued jobs can silently vanish. */
export async function checkRedisPolicy(connection: ConnectionOptions): Promise<void> {
  const redis = new Redis({ ...(connection as object), lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    const info = await redis.info('memory');
    const policy = /maxmemory_policy:(\S+)/.exec(info)?.[1];
    if (policy && policy !== 'noeviction') {
      throw new Error(
        `Redis maxmemory-policy is '${policy}'; yieldrun needs 'noeviction' so that queued jobs are never evicted ` +
          `(set it with: redis-cli CONFIG SET maxmemory-policy noeviction, and in redis.conf)`,
      );
    }
  } finally {
    redis.disconnect();
  }
}

export function validateJobNames(cfg: ResolvedConfig, jobs: Record<string, JobDefinition>): void {
  for (const [name, s] of Object.entries(cfg.schedules)) {
    if (!jobs[s.job]) throw new Error(`schedules.${name}.job: unknown job '${s.job}'; known jobs: ${Object.keys(jobs).join(', ')}`);
    for (const d of s.dependents) {
      if (!jobs[d]) throw new Error(`schedules.${name}.dependents: unknown job '${d}'; known jobs: ${Object.keys(jobs).join(', ')}`);
    }
  }
}

export async function startWorker(cfg: ResolvedConfig, log: Logger, opts: WorkerOptions = {}): Promise<WorkerHandle> {
  const connection = opts.connection ?? redisConnection();
  const jobs = opts.jobs ?? JOBS;
  validateJobNames(cfg, jobs);
  await checkRedisPolicy(connection);
  const ctx = openEtlContext(cfg, log);
  const workerOpts = {
    connection,
    prefix: cfg.runner.queuePrefix,
    concurrency: cfg.runner.concurrency,
    lockDuration: cfg.runner.lockDurationMs,
    stalledInterval: cfg.runner.stalledIntervalMs,
    maxStalledCount: cfg.runner.maxStalledCount,
    name: `${os.hostname()}:${process.pid}`,
  };

  const runJob = (def: JobDefinition) => async (job: Job<QueuedJobData>): Promise<QueuedJobResult> => {
    const jlog = log.child({ jobId: job.id, job: job.name, days: job.data.days ?? 'auto', attempt: job.attemptsStarted });
    jlog.info('job started');
    const outcome = await def.run(
      { ...ctx, log: jlog },
      {
        days: job.data.days,
        triggeredBy: job.data.triggeredBy,
        reason: job.data.reason,
        resend: job.data.resend,
        queueJobId: job.id,
        // attemptsStarted also counts a start whose worker died (a stalled job put back), unlike attemptsMade.
        attempt: job.attemptsStarted,
        onProgress: (fraction) => void job.updateProgress(Math.round(fraction * 100)).catch(() => undefined),
      },
    );
    jlog.info({ runId: outcome.runId, summary: outcome.summary }, 'job succeeded');
    if (def.name === 'nightly-summary' && cfg.runner.catchUp && job.data.schedule) {
      await enqueueCatchUp(ctx, connection, jlog).catch((e: Error) => jlog.error({ err: e.message }, 'catch-up failed'));
    }
    return { runId: outcome.runId, days: outcome.days, primaryDays: outcome.primaryDays };
  };

  const workers: Worker[] = Object.values(jobs).map((def) => new Worker<QueuedJobData, QueuedJobResult>(def.name, runJob(def), workerOpts));

  // A scheduler fires into the schedule queue; this turns the firing into a flow: the scheduled job
  // as the child, and a `dependents` parent that BullMQ starts only once the child succeeded.
  workers.push(
    new Worker<QueuedJobData>(
      SCHEDULE_QUEUE,
      async (job) => {
        const s = cfg.schedules[job.name];
        if (!s) return { skipped: `schedule '${job.name}' is no longer configured` };
        const data: QueuedJobData = { triggeredBy: `schedule:${job.name}`, schedule: job.name };
        if (s.dependents.length === 0) {
          const r = await enqueue(cfg, connection, s.job, data);
          return { enqueued: [r.jobId] };
        }
        const flow = await enqueueWithDependents(cfg, connection, s.job, data, s.dependents);
        log.info({ schedule: job.name, ...flow }, 'scheduled run enqueued');
        return flow;
      },
      { ...workerOpts, concurrency: 1 },
    ),
  );

  // The flow parent: start each dependent for the days its child computed.
  workers.push(
    new Worker<QueuedJobData>(
      DEPENDENTS_QUEUE,
      async (job) => {
        const children = Object.values(await job.getChildrenValues<QueuedJobResult>());
        const days = [...new Set(children.flatMap((c) => c.primaryDays))].sort();
        const started: string[] = [];
        for (const dep of job.data.dependents ?? []) {
          const r = await enqueue(cfg, connection, dep, { days, triggeredBy: `${job.data.triggeredBy} after ${children.map((c) => `run ${c.runId}`).join(', ')}` });
          started.push(`${dep}:${r.jobId}`);
        }
        log.info({ jobId: job.id, days, started }, 'dependents enqueued');
        return { days, started };
      },
      { ...workerOpts, concurrency: 1 },
    ),
  );

  for (const w of workers) {
    w.on('failed', (job, err) => {
      if (!job) return;
      // A flow parent fails only because its child did; the child's alert already says what did not run.
      const final = job.attemptsMade >= (job.opts.attempts ?? 1) && w.name !== DEPENDENTS_QUEUE;
      log.error({ jobId: job.id, job: job.name, days: job.data.days ?? 'auto', attempt: job.attemptsMade, final, err: err.message }, 'job failed');
      if (final) void reportFinalFailure(cfg, ctx, job, err, log).catch((e: Error) => log.error({ err: e.message }, 'failure alert not sent'));
    });
    w.on('error', (err) => log.error({ queue: w.name, err: err.message }, 'worker error'));
  }

  if (opts.housekeeping !== false) {
    await syncSchedules(cfg, connection, log);
    if (cfg.runner.catchUp) await enqueueCatchUp(ctx, connection, log);
  }
  log.info({ queues: workers.map((w) => w.name), concurrency: cfg.runner.concurrency }, 'worker started');

  let closing: Promise<void> | undefined;
  return {
    workers,
    close() {
      closing ??= (async () => {
        log.info('worker stopping: finishing active jobs');
        await Promise.all(workers.map((w) => w.close()));
        await ctx.close();
        log.info('worker stopped');
      })();
      return closing;
    },
  };
}
