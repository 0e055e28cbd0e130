/**
 * `yieldrun worker`: runs the registered jobs from their BullMQ queues. Several workers on several
 * machines share the work through Redis. On start it makes the job schedulers match the config
 * and enqueues the days that were missed (catch-up); while it runs, it does both again
 * periodically and after every Redis reconnect (jobs/housekeeping.ts), so a Redis that lost its
 * keys is repaired without a restart.
 */
import os from 'node:os';
import { DateTime } from 'luxon';
import { Worker, type ConnectionOptions, type Job } from 'bullmq';
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/load.js';
import { openEtlContext, type EtlContext } from '../etl/context.js';
import { JOBS, isJobName, type JobDefinition } from './registry.js';
import { DEPENDENTS_QUEUE, redisConnection, type QueuedJobData } from './queues.js';
import { SCHEDULE_QUEUE, firingTime, syncSchedules } from './schedules.js';
import { enqueueCatchUp } from './catch-up.js';
import { enqueue, enqueueWithDependents } from './enqueue.js';
import { reportFinalFailure } from './failure-alert.js';
import { closeAbandonedRuns, isFinalFailure } from './final-failure.js';
import { enqueueSummaryFailureNotices } from './summary-failure-notice.js';
import { checkRedis } from './redis-checks.js';
import { startHousekeeping, type HousekeepingTask } from './housekeeping.js';
import { StartRefusedError } from './start-refused.js';
import { TEXT_LIMITS, fitColumn } from './caller-input.js';
import { logDays } from './log.js';
import { mailSettings } from '../reports/mail.js';
import { startOutboxSender, type OutboxSenderHandle } from '../reports/outbox/sender.js';
import { pushDue } from '../etl/mes/sender.js';
import { mesClientSettings } from '../etl/mes/client.js';

/**
 * A Redis restart can leave a command of the client library's rejected with "Connection is closed."
 * where nobody awaits it: logged, never a crash of the worker, whose housekeeping heals the state
 * once Redis is back. Any other unhandled rejection stays fatal, as Node makes it.
 */
function tolerateCutOffRedisCommands(log: Logger): () => void {
  const onRejection = (reason: unknown) => {
    if (reason instanceof Error && reason.message === 'Connection is closed.') {
      log.warn({ err: reason.message }, 'a Redis command was cut off by a lost connection');
      return;
    }
    throw reason;
  };
  process.on('unhandledRejection', onRejection);
  return () => void process.off('unhandledRejection', onRejection);
}

export interface WorkerHandle {
  workers: Worker[];
  /** Stops taking jobs, lets the active ones finish, closes connections. */
  close(): Promise<void>;
}

export interface WorkerOptions {
  connection?: ConnectionOptions;
  /** The jobs this worker runs (default: all registered). */
  jobs?: Record<string, JobDefinition>;
  /** Sync schedules and catch up on start, then periodically and after each Redis reconnect (default true). */
  housekeeping?: boolean;
  /** "Now" for the catch-up (tests pin the production day); default the clock. */
  now?: () => DateTime;
  /**
   * More periodic tasks, run in turn with the schedule sync and the catch-up (jobs/housekeeping.ts).
   * The hook for work of other parts that must go on while the worker runs (an email outbox's
   * drain, for one).
   */
  periodic?: HousekeepingTask[];
}

/** What a job returns to BullMQ: kept with the job, read by a flow parent. */
export interface QueuedJobResult {
  runId: number;
  days: string[];
  /** The days the job's dependents should run for (a scheduled nightly run: yesterday). */
  primaryDays: string[];
}

export function validateJobNames(cfg: ResolvedConfig, jobs: Record<string, JobDefinition>): void {
  const known = Object.keys(jobs).join(', ');
  for (const [name, s] of Object.entries(cfg.schedules)) {
    if (!isJobName(s.job, jobs)) throw new StartRefusedError(`schedules.${name}.job: unknown job '${s.job}'; known jobs: ${known}`);
    for (const d of s.dependents) {
      if (!isJobName(d, jobs)) throw new StartRefusedError(`schedules.${name}.dependents: unknown job '${d}'; known jobs: ${known}`);
    }
  }
}

/** The MES pushes that are due (mes.sendEveryMs): what a run could not deliver is sent by the worker, under the same key. */
async function sendDueMesPushes(ctx: EtlContext, log: Logger): Promise<void> {
  const r = await pushDue(ctx, { client: mesClientSettings(ctx.config), log: log.child({ component: 'mes-outbox' }) });
  if (r.acknowledged + r.pending + r.rejected + r.expired + r.released > 0) log.info(r, 'MES outbox pass');
}

export async function startWorker(cfg: ResolvedConfig, log: Logger, opts: WorkerOptions = {}): Promise<WorkerHandle> {
  const connection = opts.connection ?? redisConnection();
  const jobs = opts.jobs ?? JOBS;
  validateJobNames(cfg, jobs);
  const mail = mailSettings(cfg);
  await checkRedis(connection, log, { requirePersistence: cfg.runner.requirePersistence });
  const now = opts.now ?? (() => DateTime.now());
  const ctx = openEtlContext(cfg, log);
  let outbox: OutboxSenderHandle | undefined;
  const workerOpts = {
    connection,
    prefix: cfg.runner.queuePrefix,
    concurrency: cfg.runner.concurrency,
    lockDuration: cfg.runner.lockDurationMs,
    stalledInterval: cfg.runner.stalledIntervalMs,
    maxStalledCount: cfg.runner.maxStalledCount,
    name: `${os.hostname()}:${process.pid}`,
    // Started only once the schedules are synchronised and the catch-up is queued (see below).
    autorun: false,
  };

  const runJob = (def: JobDefinition) => async (job: Job<QueuedJobData>): Promise<QueuedJobResult> => {
    // A run without days chooses them; they are bound to the logger once chosen, never as 'auto' first.
    const jlog = log.child({ jobId: job.id, job: job.name, attempt: job.attemptsStarted, ...(job.data.days ? { days: logDays(job.data.days) } : {}) });
    jlog.info({ days: job.data.days ? logDays(job.data.days) : 'auto', triggeredBy: job.data.triggeredBy }, 'job started');
    const firedAt = job.data.firedAt ? DateTime.fromISO(job.data.firedAt) : undefined;
    const outcome = await def.run(
      { ...ctx, log: jlog },
      {
        days: job.data.days,
        // A dependent's "… after run N" may outgrow the column a caller's text was checked against.
        triggeredBy: fitColumn(job.data.triggeredBy, TEXT_LIMITS.triggeredBy),
        reason: job.data.reason === undefined ? undefined : fitColumn(job.data.reason, TEXT_LIMITS.reason),
        resend: job.data.resend,
        queueJobId: job.id,
        // attemptsStarted also counts a start whose worker died (a stalled job put back), unlike attemptsMade.
        attempt: job.attemptsStarted,
        now: firedAt,
        onProgress: (fraction, detail) => {
          if (detail?.days && !job.data.days) {
            jlog.setBindings({ days: logDays(detail.days) });
            jlog.info('days chosen');
          }
          void job.updateProgress(Math.round(fraction * 100)).catch(() => undefined);
        },
      },
    );
    jlog.info({ runId: outcome.runId, summary: outcome.summary }, 'job succeeded');
    if (def.name === 'nightly-summary' && cfg.runner.catchUp && job.data.schedule) {
      await enqueueCatchUp(ctx, connection, jlog, firedAt).catch((e: Error) => jlog.error({ err: e.message }, 'catch-up failed'));
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
        const jlog = log.child({ jobId: job.id, job: job.name, queue: SCHEDULE_QUEUE });
        const s = cfg.schedules[job.name];
        if (!s) {
          jlog.warn('schedule no longer configured: nothing enqueued');
          return { skipped: `schedule '${job.name}' is no longer configured` };
        }
        const firedAt = firingTime(job).toUTC().toISO()!;
        const data: QueuedJobData = { triggeredBy: `schedule:${job.name}`, schedule: job.name, firedAt };
        const r = await enqueueWithDependents(cfg, connection, s.job, data, s.dependents);
        jlog.info({ firedAt, enqueued: r }, r.deduplicated ? 'scheduled run already queued' : 'scheduled run enqueued');
        return r;
      },
      { ...workerOpts, concurrency: 1 },
    ),
  );

  // The flow parent: start each dependent for the days its child computed.
  workers.push(
    new Worker<QueuedJobData>(
      DEPENDENTS_QUEUE,
      async (job) => {
        const jlog = log.child({ jobId: job.id, job: job.name, queue: DEPENDENTS_QUEUE });
        const children = Object.values(await job.getChildrenValues<QueuedJobResult>());
        const days = [...new Set(children.flatMap((c) => c.primaryDays))].sort();
        const triggeredBy = `${job.data.triggeredBy} after ${children.map((c) => `run ${c.runId}`).join(', ')}`;
        const started: string[] = [];
        for (const dep of job.data.dependents ?? []) {
          const r = await enqueue(cfg, connection, dep, { days, triggeredBy, reason: job.data.reason, resend: job.data.resend });
          started.push(`${dep}:${r.jobId}${r.deduplicated ? ' (already queued)' : ''}`);
        }
        jlog.info({ days: logDays(days), started }, 'dependents enqueued');
        return { days, started };
      },
      { ...workerOpts, concurrency: 1 },
    ),
  );

  // Failure handling (alerts, notices) in flight: a stopping worker lets it finish before closing the database.
  const handlingFailures = new Set<Promise<void>>();
  for (const w of workers) {
    w.on('failed', (job, err) => {
      if (!job) return;
      const handling = onFailed(w, job, err).catch((e: Error) => log.error({ jobId: job.id, job: job.name, err: e.message }, 'failure handling failed'));
      handlingFailures.add(handling);
      void handling.finally(() => handlingFailures.delete(handling));
    });
    w.on('error', (err) => {
      // A job whose keys are gone (Redis restarted without persistence) cannot be finished in the queue;
      // what it did is recorded in etl_runs, and the catch-up enqueues what should follow it.
      const vanished = /^Missing key for job (\S+)\./.exec(err.message);
      if (vanished) log.warn({ queue: w.name, jobId: vanished[1], err: err.message }, 'job vanished from Redis while it ran; its run is in etl_runs and the catch-up picks up what follows');
      else log.error({ queue: w.name, err: err.message }, 'worker error');
    });
  }

  async function onFailed(w: Worker, job: Job<QueuedJobData>, err: Error): Promise<void> {
    // Read after BullMQ moved the job: 'failed' for good, or delayed / waiting for a retry.
    const state = await job.getState().catch(() => undefined);
    // A flow parent fails only because its child did; the child's alert already says what did not run.
    const final = w.name !== DEPENDENTS_QUEUE && isFinalFailure({ state, attemptsMade: job.attemptsMade, attempts: job.opts.attempts ?? 1, error: err });
    log.error({ jobId: job.id, job: job.name, days: job.data.days ? logDays(job.data.days) : 'auto', attempt: job.attemptsMade, state, final, err: err.message }, 'job failed');
    if (!final) return;
    if (job.id && w.name !== SCHEDULE_QUEUE) {
      await closeAbandonedRuns(ctx, job.id, err.message).catch((e: Error) => log.error({ jobId: job.id, err: e.message }, 'could not close the runs of the failed job'));
    }
    await reportFinalFailure(cfg, ctx, job, err, log, mail).catch((e: Error) => log.error({ jobId: job.id, job: job.name, err: e.message }, 'failure alert not sent'));
    await enqueueSummaryFailureNotices(cfg, ctx, connection, job, log).catch((e: Error) =>
      log.error({ jobId: job.id, job: job.name, err: e.message }, 'summary-failed notice not enqueued'),
    );
  }

  let housekeeping: { stop(): Promise<void> } | undefined;
  const stopTolerating = tolerateCutOffRedisCommands(log);
  const closeAll = async () => {
    stopTolerating();
    await housekeeping?.stop();
    await Promise.all(workers.map((w) => w.close()));
    await Promise.all([...handlingFailures]);
    await outbox?.stop();
    await ctx.close();
  };

  // Housekeeping before any worker takes a job: if it fails, nothing has started, everything
  // opened is closed, and the caller (yieldrun worker) exits with the error instead of hanging.
  try {
    if (opts.housekeeping !== false) {
      await syncSchedules(cfg, connection, log);
      if (cfg.runner.catchUp) await enqueueCatchUp(ctx, connection, log, now());
    }
  } catch (err) {
    log.error({ err: (err as Error).message }, 'worker start-up failed');
    await closeAll().catch((e: Error) => log.error({ err: e.message }, 'could not close after a failed start-up'));
    throw err;
  }
  for (const w of workers) void w.run().catch((err: Error) => log.error({ queue: w.name, err: err.message }, 'worker stopped on an error'));
  if (opts.housekeeping !== false) {
    const tasks: HousekeepingTask[] = [
      { name: 'sync schedules', everyMs: cfg.runner.resyncIntervalMs, onReconnect: true, run: async () => void (await syncSchedules(cfg, connection, log)) },
      ...(cfg.runner.catchUp
        ? [{ name: 'catch up', everyMs: cfg.runner.catchUpIntervalMs, onReconnect: true, run: async () => void (await enqueueCatchUp(ctx, connection, log, now(), 'never-run')) }]
        : []),
      ...(cfg.mes.enabled && cfg.mes.url
        ? [{ name: 'mes outbox', everyMs: cfg.mes.sendEveryMs, onReconnect: false, run: async () => void (await sendDueMesPushes(ctx, log)) }]
        : []),
      ...(opts.periodic ?? []),
    ];
    housekeeping = startHousekeeping(tasks, connection, log);
  }
  // Every email waits in the outbox until it is sent: this sends what a run left (mail.outbox.sendEveryMs).
  outbox = startOutboxSender(ctx, { mail, log: log.child({ component: 'outbox' }) });
  log.info({ queues: workers.map((w) => w.name), concurrency: cfg.runner.concurrency }, 'worker started');

  let closing: Promise<void> | undefined;
  return {
    workers,
    close() {
      closing ??= (async () => {
        log.info('worker stopping: finishing active jobs');
        await closeAll();
        log.info('worker stopped');
      })();
      return closing;
    },
  };
}
