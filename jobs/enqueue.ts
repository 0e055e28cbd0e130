/**
 * Putting a job on its queue, for admins (`yieldrun rerun`, the admin API), schedules, catch-up and
 * flows. The same job over the same days is never queued twice while one is waiting or running,
 * whether it was queued alone or as the first step of a flow.
 */
import { randomUUID } from 'node:crypto';
import { FlowProducer, Job, type ConnectionOptions, type Queue } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import type { ResolvedConfig } from '../config/load.js';
import { DEPENDENTS_QUEUE, dedupKey, jobOptions, openQueue, type QueuedJobData } from './queues.js';

export interface Enqueued {
  queue: string;
  jobId: string;
  /** For a flow: the `dependents` parent that starts the dependents once the job succeeded. */
  parentId?: string;
  /** True when the same job and days were already waiting or running: that job's id is returned. */
  deduplicated: boolean;
  /** The state of the job that was already there (waiting, active, delayed…), when deduplicated. */
  state?: string;
}

/** States of a job that has not finished: a second one over the same days would do the same work. */
const UNFINISHED = new Set(['waiting', 'active', 'delayed', 'prioritized', 'waiting-children']);

const LOCK_MS = 10_000;
/** A marker outlives any job that still waits; a stale one is harmless (its job's state is checked). */
const MARKER_MS = 30 * 24 * 3600 * 1000;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/**
 * Deduplication of our own, the same for single jobs and flows: BullMQ's `deduplication` option
 * is not allowed on a flow's jobs. Under a lock per key (so concurrent enqueues from several
 * processes take turns), a marker names the job last queued for the key; while that job has not
 * finished, nothing new is queued. `stillNeeded`, asked under the lock once no such job is
 * waiting or running, lets a caller that decided from the database earlier (the catch-up) see that
 * a job which finished meanwhile did the work: then nothing is queued and the result is undefined.
 */
async function withDeduplication(
  queue: Queue<QueuedJobData>,
  connection: ConnectionOptions,
  key: string,
  add: (jobId: string) => Promise<Enqueued>,
  stillNeeded?: () => Promise<boolean>,
): Promise<Enqueued | undefined> {
  const redis = new Redis({ ...(connection as RedisOptions), maxRetriesPerRequest: 1 });
  // A lost connection fails the commands below with their own error; the event itself needs no report.
  redis.on('error', () => undefined);
  const marker = `${queue.qualifiedName}:enqueued:${key}`;
  const lock = `${queue.qualifiedName}:enqueue-lock:${key}`;
  const token = randomUUID();
  try {
    const until = Date.now() + LOCK_MS;
    while ((await redis.set(lock, token, 'PX', LOCK_MS, 'NX')) !== 'OK') {
      if (Date.now() > until) {
        throw new Error(`could not enqueue ${key}: another enqueue of the same job and days held its lock for ${LOCK_MS / 1000} s; check Redis and try again`);
      }
      await new Promise((r) => setTimeout(r, 20 + Math.random() * 40));
    }
    try {
      const existingId = await redis.get(marker);
      const existing = existingId ? await Job.fromId<QueuedJobData>(queue, existingId) : undefined;
      const state = existing ? await existing.getState() : 'unknown';
      if (existing && UNFINISHED.has(state)) {
        return { queue: queue.name, jobId: existing.id!, parentId: existing.parent?.id, deduplicated: true, state };
      }
      if (stillNeeded && !(await stillNeeded())) return undefined;
      const jobId = randomUUID();
      await redis.set(marker, jobId, 'PX', MARKER_MS);
      return await add(jobId);
    } finally {
      await redis.eval(RELEASE, 1, lock, token);
    }
  } finally {
    redis.disconnect();
  }
}

/**
 * The priority of a rerun or backfill an admin asks for: BullMQ starts a job without priority
 * (a scheduled run, catch-up, a dependent) before any prioritized one, so when both wait the
 * nightly schedule goes first.
 */
export const BACKFILL_PRIORITY = 10;

export interface EnqueueOptions {
  /** BullMQ priority (1 = highest … 2^21); omitted: before every prioritized job. */
  priority?: number;
}

/** One job alone. */
export async function enqueue(cfg: ResolvedConfig, connection: ConnectionOptions, job: string, data: QueuedJobData): Promise<Enqueued> {
  return enqueueWithDependents(cfg, connection, job, data, []);
}

/**
 * The job as the child of a flow whose parent (`dependents`) BullMQ starts only once the child
 * succeeded; the parent then enqueues each dependent for the days the child computed. A child
 * that fails its last attempt fails the parent, so the dependents never run on a failed summary.
 * Without dependents, the job alone. Schedules, catch-up and admins all enqueue through here.
 */
export async function enqueueWithDependents(
  cfg: ResolvedConfig,
  connection: ConnectionOptions,
  job: string,
  data: QueuedJobData,
  dependents: readonly string[],
  options: EnqueueOptions = {},
): Promise<Enqueued> {
  return (await enqueueIfNeeded(cfg, connection, job, data, dependents, undefined, options))!;
}

/** enqueueWithDependents, unless `stillNeeded` (asked under the deduplication lock) says the work is done: then undefined. */
export async function enqueueIfNeeded(
  cfg: ResolvedConfig,
  connection: ConnectionOptions,
  job: string,
  data: QueuedJobData,
  dependents: readonly string[],
  stillNeeded?: () => Promise<boolean>,
  options: EnqueueOptions = {},
): Promise<Enqueued | undefined> {
  const priority = options.priority === undefined ? {} : { priority: options.priority };
  const queue = openQueue(cfg, job, connection);
  try {
    return await withDeduplication(queue, connection, dedupKey(job, data.days, data.resend), async (jobId) => {
      if (dependents.length === 0) {
        await queue.add(job, data, { jobId, ...priority });
        return { queue: job, jobId, deduplicated: false };
      }
      const flows = new FlowProducer({ connection, prefix: cfg.runner.queuePrefix });
      try {
        const node = await flows.add({
          name: DEPENDENTS_QUEUE,
          queueName: DEPENDENTS_QUEUE,
          data: { ...data, dependents: [...dependents] },
          opts: { ...jobOptions(cfg), attempts: 1 },
          children: [{ name: job, queueName: job, data: { ...data, waitingDependents: [...dependents] }, opts: { ...jobOptions(cfg), jobId, failParentOnFailure: true, ...priority } }],
        });
        return { queue: job, jobId, parentId: node.job.id!, deduplicated: false };
      } finally {
        await flows.close();
      }
    }, stillNeeded);
  } finally {
    await queue.close();
  }
}
