/** The state of one queued job, for `rerun --wait` and the admin API. */
import { Job, type ConnectionOptions } from 'bullmq';
import type { ResolvedConfig } from '../config/load.js';
import { openQueue } from './queues.js';

export interface JobState {
  queue: string;
  id: string;
  name: string;
  state: string;
  progress: number;
  attemptsMade: number;
  failedReason: string | null;
  result: unknown;
  data: unknown;
  enqueuedAt: string | null;
  startedAt: string | null;
  finishedAt: string | null;
}

const when = (ms: number | undefined) => (ms ? new Date(ms).toISOString() : null);

export async function jobState(cfg: ResolvedConfig, connection: ConnectionOptions, queueName: string, id: string): Promise<JobState | null> {
  const queue = openQueue(cfg, queueName, connection);
  try {
    // The state first: once it reads completed or failed, the job read after it is final too
    // (read the other way round, a retry between the two reads pairs old attempts with a new state).
    const state = await queue.getJobState(id);
    const job = await Job.fromId(queue, id);
    if (!job) return null;
    return {
      queue: queueName,
      id,
      name: job.name,
      state,
      progress: typeof job.progress === 'number' ? job.progress : 0,
      attemptsMade: job.attemptsMade,
      failedReason: job.failedReason ?? null,
      result: job.returnvalue ?? null,
      data: job.data,
      enqueuedAt: when(job.timestamp),
      startedAt: when(job.processedOn),
      finishedAt: when(job.finishedOn),
    };
  } finally {
    await queue.close();
  }
}
