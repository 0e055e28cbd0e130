/**
 * Putting a job on its queue, for admins (`yieldrun rerun`, the admin API), schedules and flows.
 * The same job over the same days is never queued twice while one is waiting or running.
 */
import { randomUUID } from 'node:crypto';
import { FlowProducer, type ConnectionOptions } from 'bullmq';
import type { ResolvedConfig } from '../config/load.js';
import { DEPENDENTS_QUEUE, dedupKey, jobOptions, openQueue, type QueuedJobData } from './queues.js';

export interface Enqueued {
  queue: string;
  jobId: string;
  /** True when the same job and days were already waiting or running: that job's id is returned. */
  deduplicated: boolean;
}

export async function enqueue(cfg: ResolvedConfig, connection: ConnectionOptions, job: string, data: QueuedJobData): Promise<Enqueued> {
  const queue = openQueue(cfg, job, connection);
  try {
    const jobId = randomUUID();
    // Without a ttl the deduplication key lives until the job completes or fails.
    const added = await queue.add(job, data, { jobId, deduplication: { id: dedupKey(job, data.days) } });
    return { queue: job, jobId: added.id ?? jobId, deduplicated: added.id !== jobId };
  } finally {
    await queue.close();
  }
}

/**
 * The job as the child of a flow whose parent (`dependents`) BullMQ starts only once the child
 * succeeded; the parent then enqueues each dependent for the days the child computed. A child
 * that fails its last attempt fails the parent, so the dependents never run on a failed summary.
 */
export async function enqueueWithDependents(
  cfg: ResolvedConfig,
  connection: ConnectionOptions,
  job: string,
  data: QueuedJobData,
  dependents: readonly string[],
): Promise<{ parentId: string; childId: string }> {
  const flows = new FlowProducer({ connection, prefix: cfg.runner.queuePrefix });
  try {
    const node = await flows.add({
      name: DEPENDENTS_QUEUE,
      queueName: DEPENDENTS_QUEUE,
      data: { ...data, dependents: [...dependents] },
      opts: { ...jobOptions(cfg), attempts: 1 },
      children: [{ name: job, queueName: job, data: { ...data, waitingDependents: [...dependents] }, opts: { ...jobOptions(cfg), failParentOnFailure: true } }],
    });
    return { parentId: node.job.id!, childId: node.children![0]!.job.id! };
  } finally {
    await flows.close();
  }
}
