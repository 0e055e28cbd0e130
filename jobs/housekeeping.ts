/**
 * The worker's periodic housekeeping, as a task list: each task runs every `everyMs` and, if it
 * asks to, as soon as Redis is back after a lost connection (a Redis restarted without persistence
 * comes back empty, and nobody would notice until the next start). Tasks run one at a time; a
 * failing task is logged and tried again at its next turn, never stops the worker.
 */
import type { ConnectionOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';

export interface HousekeepingTask {
  name: string;
  everyMs: number;
  /** Also run right after Redis is reachable again. */
  onReconnect: boolean;
  run(): Promise<void>;
}

export interface Housekeeping {
  /** Stops the timers and the watch on Redis; waits for a task that is running. */
  stop(): Promise<void>;
}

export function startHousekeeping(tasks: readonly HousekeepingTask[], connection: ConnectionOptions, log: Logger): Housekeeping {
  let chain: Promise<void> = Promise.resolve();
  const pending = new Set<string>();
  let stopped = false;

  const schedule = (task: HousekeepingTask, why: string) => {
    // A task still waiting for its turn is not queued twice (a long outage fires many timers).
    if (stopped || pending.has(task.name)) return;
    pending.add(task.name);
    chain = chain.then(async () => {
      pending.delete(task.name);
      if (stopped) return;
      try {
        await task.run();
      } catch (e) {
        log.error({ task: task.name, why, err: (e as Error).message }, 'housekeeping task failed; tried again at its next turn');
      }
    });
  };

  const timers = tasks.map((t) => {
    const timer = setInterval(() => schedule(t, 'interval'), t.everyMs);
    timer.unref();
    return timer;
  });

  // A connection of its own, only to hear of reconnects: BullMQ's connections recover by themselves.
  const watcher = new Redis({ ...(connection as RedisOptions), maxRetriesPerRequest: null });
  let readyCount = 0;
  let down = false;
  watcher.on('ready', () => {
    readyCount += 1;
    down = false;
    if (readyCount === 1) return; // the first connection: start-up already did the housekeeping
    log.warn({ tasks: tasks.filter((t) => t.onReconnect).map((t) => t.name) }, 'Redis is back after a lost connection: re-synchronising schedules and catching up');
    for (const t of tasks) if (t.onReconnect) schedule(t, 'reconnect');
  });
  watcher.on('error', (err: Error) => {
    if (down) return;
    down = true;
    log.warn({ err: err.message }, 'lost the connection to Redis; housekeeping resumes once it is back');
  });

  return {
    async stop() {
      stopped = true;
      for (const t of timers) clearInterval(t);
      watcher.disconnect();
      await chain;
    },
  };
}
