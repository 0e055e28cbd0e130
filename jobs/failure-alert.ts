/**
 * When a job fails for good: an email to the configured admins with the job, the days, the error
 * and the exact command that reruns it, with the dependents that did not run because of it.
 */
import { DateTime } from 'luxon';
import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/load.js';
import type { EtlContext } from '../etl/context.js';
import { lastCompleteDay, type PlantClock } from '../etl/periods.js';
import { dayRuns, type QueuedJobData } from './queues.js';
import { SCHEDULE_QUEUE, firingTime } from './schedules.js';
import { mailSettings, type MailSettings } from '../reports/mail.js';
import { queueAndSend } from '../reports/outbox/sender.js';

export type FailedJob = Pick<Job<QueuedJobData>, 'id' | 'name' | 'queueName' | 'data' | 'attemptsMade' | 'timestamp' | 'opts'>;

/** What failed, in the terms of the job to rerun. */
export interface FailedWork {
  /** The job to rerun (for a firing of the schedule queue: the scheduled job). */
  job: string;
  days: string[];
  /** Set when the job had no days of its own: the firing time they were derived from. */
  derivedFrom?: DateTime;
  /** The jobs that waited on it and did not run. */
  dependents: string[];
  /** Reports: it was to send again although delivered; so is the rerun. */
  resend: boolean;
}

/**
 * A scheduled run carries no days: it chooses them when it runs. What it was for is the production
 * day before it fired (in plant time), the day a rerun must name; the lookback days it would also
 * have recomputed are picked up by the next night.
 */
export function failedWork(cfg: ResolvedConfig, clock: PlantClock, job: FailedJob): FailedWork {
  const schedule = job.queueName === SCHEDULE_QUEUE ? cfg.schedules[job.name] : undefined;
  const name = schedule?.job ?? job.name;
  const dependents = schedule ? schedule.dependents : (job.data.waitingDependents ?? []);
  const resend = job.data.resend === true;
  if (job.data.days?.length) return { job: name, days: [...new Set(job.data.days)].sort(), dependents, resend };
  const at = job.data.firedAt ? DateTime.fromISO(job.data.firedAt) : firingTime(job);
  return { job: name, days: [lastCompleteDay(at, clock)], derivedFrom: at.setZone(clock.timezone), dependents, resend };
}

/** One command per run of consecutive days: a rerun never covers a day that did not fail. */
export function rerunCommands(work: Pick<FailedWork, 'job' | 'days' | 'dependents' | 'resend'>, reason: string): string[] {
  const flags = `${work.dependents.length ? ` --dependents ${work.dependents.join(',')}` : ''}${work.resend ? ' --resend' : ''}`;
  return dayRuns(work.days).map(([from, to]) => {
    const when = from === to ? `--date ${from}` : `--from ${from} --to ${to}`;
    return `yieldrun rerun ${work.job} ${when}${flags} --reason "${reason.replace(/["\\$`]/g, '')}"`;
  });
}

export interface FailureAlert {
  subject: string;
  text: string;
}

export function composeFailureAlert(cfg: ResolvedConfig, clock: PlantClock, job: FailedJob, err: Error): FailureAlert {
  const work = failedWork(cfg, clock, job);
  const span = dayRuns(work.days).map(([a, b]) => (a === b ? a : `${a} … ${b}`)).join(', ');
  const days = work.derivedFrom
    ? `${span} (the production day before the scheduled run at ${work.derivedFrom.toFormat('yyyy-LL-dd HH:mm ZZ')} ${clock.timezone})`
    : span;
  const lines = [
    `The job ${work.job} failed at ${cfg.plant.name} and will not be retried (attempts made: ${job.attemptsMade} of ${job.opts.attempts ?? 1}).`,
    '',
    `Days:          ${days}`,
    `Queue job id:  ${job.queueName}/${job.id}`,
    `Triggered by:  ${job.data.triggeredBy}${job.data.reason ? ` (${job.data.reason})` : ''}`,
    `Error:         ${err.message}`,
    '',
    ...(work.dependents.length ? [`Not run because of it: ${work.dependents.join(', ')}.`, ''] : []),
    'Once the cause is fixed, rerun it with:',
    '',
    ...rerunCommands(work, `after the failure of job ${job.id}`).map((c) => `  ${c}`),
    ...(work.derivedFrom ? ['', 'Lookback days the scheduled run would also have recomputed are picked up by the next nightly run.'] : []),
  ];
  return { subject: `[yieldrun] ${work.job} failed · ${cfg.plant.name} · ${span}`, text: lines.join('\n') };
}

/**
 * Queues the alert in the outbox (one per failed job) and sends it now; when the mail server is
 * down, the worker's outbox sender delivers it once the server is back.
 */
export async function reportFinalFailure(cfg: ResolvedConfig, ctx: EtlContext, job: FailedJob, err: Error, log: Logger, mail: MailSettings = mailSettings(cfg)): Promise<void> {
  const alert = composeFailureAlert(cfg, ctx.clock, job, err);
  const work = failedWork(cfg, ctx.clock, job);
  log.error({ jobId: job.id, job: job.name, days: work.days, dependentsNotRun: work.dependents }, alert.subject);
  if (cfg.alerts.admins.length === 0) return;
  const m = await queueAndSend(
    ctx,
    {
      dedupeKey: `failure-alert|${job.queueName}/${job.id}|${job.timestamp}`,
      kind: 'failure-alert',
      message: { to: cfg.alerts.admins, subject: alert.subject, text: alert.text, fileStem: `alert-${work.job}` },
    },
    { mail, log },
  );
  const what = { jobId: job.id, job: job.name, outboxId: m.id, messageId: m.messageId, to: cfg.alerts.admins, status: m.status, location: m.location };
  if (m.status === 'sent') log.info(what, 'failure alert sent');
  else log.warn({ ...what, err: m.lastError }, `failure alert ${m.status}: the outbox keeps it`);
}
