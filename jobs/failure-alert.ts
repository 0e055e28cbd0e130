/**
 * When a job fails its last attempt: an email to the configured admins with the job, the days,
 * the error and the exact command that reruns it.
 */
import type { Job } from 'bullmq';
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/load.js';
import type { EtlContext } from '../etl/context.js';
import type { QueuedJobData } from './queues.js';
import { sendMail } from '../reports/mail.js';

export function rerunCommand(job: string, days: readonly string[] | undefined): string {
  if (!days || days.length === 0) return `yieldrun rerun ${job} --reason "after failure"`;
  const sorted = [...days].sort();
  return `yieldrun rerun ${job} --from ${sorted[0]} --to ${sorted[sorted.length - 1]} --reason "after failure"`;
}

export interface FailureAlert {
  subject: string;
  text: string;
}

export function composeFailureAlert(cfg: ResolvedConfig, job: Pick<Job<QueuedJobData>, 'id' | 'name' | 'data' | 'attemptsMade'>, err: Error, dependents: readonly string[]): FailureAlert {
  const days = job.data.days?.length ? job.data.days.join(', ') : 'chosen at run time (yesterday and the lookback)';
  const lines = [
    `The job ${job.name} failed its last attempt (${job.attemptsMade}) at ${cfg.plant.name}.`,
    '',
    `Days:          ${days}`,
    `Queue job id:  ${job.id}`,
    `Triggered by:  ${job.data.triggeredBy}${job.data.reason ? ` (${job.data.reason})` : ''}`,
    `Error:         ${err.message}`,
    '',
    ...(dependents.length ? [`Not run because of it: ${dependents.join(', ')}.`, ''] : []),
    'Once the cause is fixed, rerun it with:',
    '',
    `  ${rerunCommand(job.name, job.data.days)}`,
  ];
  return { subject: `[yieldrun] ${job.name} failed · ${cfg.plant.name} · ${job.data.days?.[0] ?? 'scheduled run'}`, text: lines.join('\n') };
}

export async function reportFinalFailure(cfg: ResolvedConfig, _ctx: EtlContext, job: Job<QueuedJobData>, err: Error, log: Logger): Promise<void> {
  const dependents = job.data.waitingDependents ?? [];
  const alert = composeFailureAlert(cfg, job, err, dependents);
  log.error({ jobId: job.id, job: job.name, dependentsNotRun: dependents }, alert.subject);
  if (cfg.alerts.admins.length === 0) return;
  const sent = await sendMail(cfg, { to: cfg.alerts.admins, subject: alert.subject, text: alert.text, fileStem: `alert-${job.name}` }, log);
  log.info({ jobId: job.id, messageId: sent.messageId, to: cfg.alerts.admins, file: sent.file }, 'failure alert sent');
}
