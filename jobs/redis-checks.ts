/**
 * What the worker checks of its Redis before it takes a job: that no key is ever evicted (a queued
 * job would silently vanish), and whether Redis keeps anything on disk (restarted without AOF or
 * RDB, it comes back empty: queued jobs, flows and schedules gone).
 */
import type { ConnectionOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { StartRefusedError } from './start-refused.js';

export interface RedisPersistence {
  /** appendonly yes. */
  aof: boolean;
  /** The `save` points of RDB snapshots; '' when none. */
  save: string;
}

/** The risk, worded once for the warning and the refusal. */
const RISK =
  'a Redis restart loses every queued job, flow and schedule; the worker re-synchronises schedules and ' +
  'catches up on lost runs periodically (runner.resyncIntervalMs, runner.catchUpIntervalMs), but runs in flight ' +
  'are redone late. Turn on AOF (redis.conf: appendonly yes, or redis-cli CONFIG SET appendonly yes) or RDB snapshots (save 60 1000)';

async function configValue(redis: Redis, key: string): Promise<string | undefined> {
  const pair = (await redis.config('GET', key)) as string[];
  return pair[1];
}

export async function checkRedis(connection: ConnectionOptions, log: Logger, opts: { requirePersistence: boolean }): Promise<RedisPersistence | undefined> {
  const redis = new Redis({ ...(connection as RedisOptions), lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined); // a failed connect rejects connect() with the error
  try {
    await redis.connect();
    const info = await redis.info('memory');
    const policy = /maxmemory_policy:(\S+)/.exec(info)?.[1];
    if (policy && policy !== 'noeviction') {
      throw new StartRefusedError(
        `Redis maxmemory-policy is '${policy}'; yieldrun needs 'noeviction' so that queued jobs are never evicted ` +
          `(set it with: redis-cli CONFIG SET maxmemory-policy noeviction, and in redis.conf)`,
      );
    }
    let persistence: RedisPersistence;
    try {
      persistence = { aof: (await configValue(redis, 'appendonly')) === 'yes', save: ((await configValue(redis, 'save')) ?? '').trim() };
    } catch (e) {
      // Managed Redis services often disable CONFIG; what cannot be read cannot be required.
      const msg = `could not read the Redis persistence settings (CONFIG GET appendonly / save: ${(e as Error).message})`;
      if (opts.requirePersistence) throw new StartRefusedError(`${msg}; runner.requirePersistence is true, so the worker does not start`);
      log.warn(msg);
      return undefined;
    }
    if (!persistence.aof && !persistence.save) {
      if (opts.requirePersistence) {
        throw new StartRefusedError(`Redis keeps nothing on disk (appendonly no, save ""): ${RISK}. runner.requirePersistence is true, so the worker does not start`);
      }
      log.warn({ appendonly: 'no', save: '' }, `Redis keeps nothing on disk (appendonly no, save ""): ${RISK}; set runner.requirePersistence: true to refuse such a Redis`);
    }
    return persistence;
  } finally {
    redis.disconnect();
  }
}
