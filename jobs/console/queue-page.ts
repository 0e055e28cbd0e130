/**
 * The queues as an operator needs them: waiting (and prioritized), active, delayed and failed
 * jobs; cancel a waiting backfill (the job and, for a flow, its dependents: all its days), or
 * queue again only the days of a failed job that failed or never ran.
 */
import { Job } from 'bullmq';
import { JOBS } from '../registry.js';
import { DEPENDENTS_QUEUE, openQueue, type QueuedJobData } from '../queues.js';
import { dayGrid, willRun } from './day-states.js';
import { csrfField, dayText, html, type Html } from './html.js';
import type { ConsoleDeps } from './deps.js';

const SHOWN = ['waiting', 'prioritized', 'active', 'delayed', 'failed'] as const;
const CANCELLABLE = new Set(['waiting', 'prioritized', 'delayed', 'waiting-children']);

export async function queueBody(d: ConsoleDeps, csrf: string, canAct: boolean): Promise<Html> {
  const sections: Html[] = [];
  for (const name of Object.keys(JOBS)) {
    const queue = openQueue(d.cfg, name, d.connection);
    try {
      const counts = await queue.getJobCounts(...SHOWN);
      const rows: Html[] = [];
      for (const state of SHOWN) {
        for (const j of await queue.getJobs([state], 0, 49)) {
          const action =
            !canAct ? '' : CANCELLABLE.has(state) ? html`<form method="post" action="/console/queue/cancel">${csrfField(csrf)}<input type="hidden" name="queue" value="${name}"><input type="hidden" name="id" value="${j.id}"><button type="submit" class="cancel">Cancel</button></form>`
            : state === 'failed' && j.data.days?.length ? html`<form method="post" action="/console/queue/retry">${csrfField(csrf)}<input type="hidden" name="queue" value="${name}"><input type="hidden" name="id" value="${j.id}"><button type="submit">Retry failed days</button></form>` : '';
          rows.push(html`<tr data-job-id="${j.id}"><td>${state}</td><td><a href="/console/follow/${name}/${encodeURIComponent(j.id!)}"><code>${j.id}</code></a></td><td>${dayText(j.data.days)}</td><td>${j.data.triggeredBy}${j.data.reason ? `: ${j.data.reason}` : ''}</td><td>${j.opts.priority ? `${j.opts.priority} (backfill)` : '—'}</td><td>${j.attemptsMade}</td><td>${j.failedReason ?? ''}</td><td>${action}</td></tr>`);
        }
      }
      sections.push(html`<h2>${name}</h2><p class="counts">${SHOWN.map((s) => `${s} ${counts[s] ?? 0}`).join(' · ')}</p>
${rows.length ? html`<table class="queue"><thead><tr><th>State</th><th>Job</th><th>Days</th><th>Who and why</th><th>Priority</th><th>Attempts</th><th>Error</th><th></th></tr></thead><tbody>${rows}</tbody></table>` : ''}`);
    } finally {
      await queue.close();
    }
  }
  return html`${sections}`;
}

export class QueueActionError extends Error {}

/** Cancels a job that has not started: a flow's parent with it, so its dependents never start either. */
export async function cancelJob(d: ConsoleDeps, queueName: string, id: string): Promise<{ days: string[] }> {
  const queue = openQueue(d.cfg, queueName, d.connection);
  try {
    const job = await Job.fromId<QueuedJobData>(queue, id);
    if (!job) throw new QueueActionError(`no job ${id} on ${queueName}`);
    const state = await job.getState();
    if (!CANCELLABLE.has(state)) throw new QueueActionError(`job ${id} is ${state}: only a job that has not started can be cancelled`);
    if (job.parent?.id) {
      const parents = openQueue(d.cfg, DEPENDENTS_QUEUE, d.connection);
      try {
        const parent = await Job.fromId(parents, job.parent.id);
        // Removing the parent removes its children: the job and every day it was queued for.
        if (parent) await parent.remove({ removeChildren: true });
      } finally {
        await parents.close();
      }
    }
    if (await Job.fromId(queue, id)) await job.remove();
    return { days: job.data.days ?? [] };
  } finally {
    await queue.close();
  }
}

/** The days of a failed job that failed or never ran, as they stand now (a later run may have fixed some). */
export async function failedDaysOf(d: ConsoleDeps, queueName: string, id: string): Promise<{ job: Job<QueuedJobData>; days: string[] }> {
  const queue = openQueue(d.cfg, queueName, d.connection);
  try {
    const job = await Job.fromId<QueuedJobData>(queue, id);
    if (!job) throw new QueueActionError(`no job ${id} on ${queueName}`);
    if ((await job.getState()) !== 'failed') throw new QueueActionError(`job ${id} has not failed`);
    const days = job.data.days ?? [];
    const cells = (await dayGrid(d.ctx, d.connection, [queueName], days, { stale: false })).get(queueName)!;
    return { job, days: days.filter((day) => willRun('failed-and-never-run', cells.get(day))) };
  } finally {
    await queue.close();
  }
}
