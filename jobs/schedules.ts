/**
 * Job schedulers from the config, in the plant's time zone. The config is the source of truth:
 * the worker upserts every configured schedule and removes the ones no longer configured.
 * A scheduler fires into the `schedule` queue, whose worker starts the job as a flow.
 */
import cronParser from 'cron-parser';
import { DateTime } from 'luxon';
import type { ConnectionOptions, Job } from 'bullmq';
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/load.js';
import { openQueue } from './queues.js';

export const SCHEDULE_QUEUE = 'schedule';

export async function syncSchedules(cfg: ResolvedConfig, connection: ConnectionOptions, log: Logger): Promise<{ upserted: string[]; removed: string[] }> {
  const queue = openQueue(cfg, SCHEDULE_QUEUE, connection);
  try {
    const upserted: string[] = [];
    for (const [name, s] of Object.entries(cfg.schedules)) {
      await queue.upsertJobScheduler(
        name,
        { pattern: s.cron, tz: cfg.plant.timezone },
        { name, data: { triggeredBy: `schedule:${name}`, schedule: name }, opts: { attempts: 1 } },
      );
      upserted.push(name);
    }
    const removed: string[] = [];
    for (const existing of await queue.getJobSchedulers(0, -1)) {
      if (!(existing.key in cfg.schedules)) {
        await queue.removeJobScheduler(existing.key);
        removed.push(existing.key);
      }
    }
    log.info({ upserted, removed, timezone: cfg.plant.timezone }, 'schedules synchronised');
    return { upserted, removed };
  } finally {
    await queue.close();
  }
}

/**
 * When a scheduler's job was due: BullMQ records it as `prevMillis`; a job added by hand to the
 * schedule queue (or by an older BullMQ) falls back to its creation time plus its delay.
 */
export function firingTime(job: Pick<Job, 'opts' | 'timestamp'>): DateTime {
  return DateTime.fromMillis(job.opts.prevMillis ?? job.timestamp + (job.opts.delay ?? 0));
}

/**
 * The next `count` run times of a cron pattern in a zone, after `from`: the same cron-parser
 * that BullMQ's job schedulers use, so what `yieldrun schedules` shows is what will happen.
 * On a spring-forward night a time inside the gap runs once, an hour later on the wall clock;
 * on a fall-back night a time in the repeated hour runs once, at its first occurrence.
 */
export function nextRunTimes(pattern: string, timezone: string, from: DateTime, count: number): DateTime[] {
  const it = cronParser.parseExpression(pattern, { currentDate: from.toJSDate(), tz: timezone });
  const out: DateTime[] = [];
  for (let i = 0; i < count; i++) out.push(DateTime.fromJSDate(it.next().toDate(), { zone: timezone }));
  return out;
}

/** The last run time of a cron pattern in a zone at or before `from` (cron-parser steps in whole seconds, strictly before its start). */
export function previousRunTime(pattern: string, timezone: string, from: DateTime): DateTime {
  const it = cronParser.parseExpression(pattern, { currentDate: from.plus({ seconds: 1 }).toJSDate(), tz: timezone });
  return DateTime.fromJSDate(it.prev().toDate(), { zone: timezone });
}

export interface ScheduleView {
  name: string;
  job: string;
  cron: string;
  timezone: string;
  dependents: string[];
  /** Next run times in plant time, ISO with offset. */
  next: string[];
}

export function describeSchedules(cfg: ResolvedConfig, now: DateTime, count = 3): ScheduleView[] {
  return Object.entries(cfg.schedules).map(([name, s]) => ({
    name,
    job: s.job,
    cron: s.cron,
    timezone: cfg.plant.timezone,
    dependents: s.dependents,
    next: nextRunTimes(s.cron, cfg.plant.timezone, now, count).map((t) => t.toISO()!),
  }));
}
