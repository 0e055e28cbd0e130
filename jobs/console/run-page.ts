/**
 * One run (etl_runs) for a person: what it covered and found, its rejects by reason, its error,
 * attempts, who and why, and what it produced: the report deliveries with the workbook to
 * download and the email as sent (the .eml the file transport wrote).
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { targetTable } from '../../etl/context.js';
import { deliveriesOfRun, type DeliveryRow } from '../../reports/deliveries.js';
import { dateRange } from '../../etl/periods.js';
import { html, type Html } from './html.js';
import { stateBadge } from './grid-page.js';
import { readEmail } from './eml.js';
import type { ConsoleDeps } from './deps.js';

const when = (v: unknown) => (v === null || v === undefined ? '' : v instanceof Date ? v.toISOString() : /^\d+$/.test(String(v)) ? new Date(Number(v)).toISOString() : String(v));

/** A delivery as the run page shows it: the row, with its message's state, transport and file from the outbox. */
export interface Delivery {
  id: number;
  report: string;
  period_label: string;
  kind: string;
  status: string;
  recipients: string | null;
  subject: string | null;
  transport: string | null;
  location: string | null;
  attachment: string | null;
}

function shown(v: DeliveryRow): Delivery {
  const to = v.recipients ? [...v.recipients.to, ...(v.recipients.cc ?? [])].join(', ') : null;
  return { id: v.id, report: v.report, period_label: v.periodLabel, kind: v.kind, status: v.status, recipients: to, subject: v.subject, transport: v.transport, location: v.location, attachment: v.attachment };
}

export async function deliveryOfRun(d: ConsoleDeps, runId: number, deliveryId: number): Promise<Delivery | undefined> {
  const v = (await deliveriesOfRun(d.ctx, runId)).find((x) => x.id === deliveryId);
  return v ? shown(v) : undefined;
}

/** Runs of a job (or all jobs) covering a day, newest first: where a grid cell leads. */
export async function runsBody(d: ConsoleDeps, job: string | undefined, day: string | undefined): Promise<Html> {
  let q = targetTable(d.ctx, d.ctx.target, 'etl_runs').orderBy('id', 'desc').limit(100);
  if (job) q = q.where({ job });
  if (day) q = q.where('period_from', '<=', day).where('period_to', '>=', day);
  const runs = (await q.select('id', 'job', 'period_from', 'period_to', 'status', 'attempt', 'triggered_by', 'reason', 'started_at', 'duration_ms')) as Record<string, unknown>[];
  if (runs.length === 0) return html`<p>No run of ${job ?? 'any job'} covered ${day ?? 'any day'} yet.</p>`;
  return html`<table><thead><tr><th>Run</th><th>Job</th><th>Days</th><th>Status</th><th>Attempt</th><th>Started (UTC)</th><th>Took</th><th>Who and why</th></tr></thead><tbody>
${runs.map((r) => html`<tr><td><a href="/console/runs/${r.id}">${r.id}</a></td><td>${r.job}</td><td>${r.period_from === r.period_to ? r.period_from : `${r.period_from} … ${r.period_to}`}</td>
<td>${stateBadge(r.status === 'succeeded' ? 'succeeded' : r.status === 'running' ? 'running' : 'failed')} ${r.status}</td><td>${r.attempt}</td><td>${when(r.started_at)}</td>
<td>${r.duration_ms === null ? '' : `${(Number(r.duration_ms) / 1000).toFixed(1)} s`}</td><td>${r.triggered_by}${r.reason ? `: ${r.reason}` : ''}</td></tr>`)}</tbody></table>`;
}

export async function runBody(d: ConsoleDeps, id: number): Promise<Html | undefined> {
  const run = (await targetTable(d.ctx, d.ctx.target, 'etl_runs').where({ id }).first()) as Record<string, unknown> | undefined;
  if (!run) return undefined;
  const rejects = (await targetTable(d.ctx, d.ctx.target, 'etl_rejects').where({ run_id: id }).groupBy('reason').orderBy('reason').select('reason').count({ n: '*' })) as { reason: string; n: number | string }[];
  const deliveries = (await deliveriesOfRun(d.ctx, id)).map(shown);
  let stats: unknown = null;
  try {
    stats = run.stats ? JSON.parse(String(run.stats)) : null;
  } catch {
    stats = run.stats;
  }
  const days = run.period_from && run.period_to ? dateRange(String(run.period_from), String(run.period_to)) : [];
  const row = (k: string, v: unknown) => html`<tr><th>${k}</th><td>${v}</td></tr>`;
  return html`<table class="facts">
${row('Job', run.job)}${row('Days', days.length <= 1 ? (days[0] ?? 'chosen by the job') : `${days[0]} … ${days[days.length - 1]} (${days.length} days)`)}
${row('Status', html`${stateBadge(run.status === 'succeeded' ? 'succeeded' : run.status === 'running' ? 'running' : 'failed')} ${run.status}`)}
${row('Attempt', run.attempt)}${row('Who', run.triggered_by)}${row('Why', run.reason ?? '—')}
${row('Started (UTC)', when(run.started_at))}${row('Finished (UTC)', when(run.finished_at) || '—')}
${row('Duration', run.duration_ms === null ? '—' : `${(Number(run.duration_ms) / 1000).toFixed(2)} s`)}
${row('Rows read / valid / rejected / written', [run.rows_read, run.rows_valid, run.rows_rejected, run.rows_written].map((v) => (v === null ? '–' : String(v))).join(' / '))}
${row('Duplicates dropped', run.duplicates_dropped ?? '–')}${row('Queue job', run.queue_job_id ?? '—')}${row('Host', run.host ?? '—')}
</table>
${run.error ? html`<h2>Error</h2><pre class="error">${run.error}</pre>` : ''}
<h2>Rejects by reason</h2>${rejects.length ? html`<table><thead><tr><th>Reason</th><th>Rows</th></tr></thead><tbody>${rejects.map((r) => html`<tr><td>${r.reason}</td><td>${Number(r.n)}</td></tr>`)}</tbody></table>` : html`<p>None stored.</p>`}
<h2>What it recorded</h2>${stats ? html`<pre class="stats">${JSON.stringify(stats, null, 2)}</pre>` : html`<p>No statistics recorded.</p>`}
<h2>Reports</h2>${deliveries.length ? html`<table><thead><tr><th>Report</th><th>Period</th><th>Kind</th><th>Status</th><th>Subject</th><th>To</th><th>Produced</th></tr></thead><tbody>${deliveries.map(
    (v) => html`<tr><td>${v.report}</td><td>${v.period_label}</td><td>${v.kind}</td><td>${v.status}</td><td>${v.subject ?? ''}</td><td>${v.recipients ?? ''}</td>
<td>${v.attachment && existsSync(v.attachment) ? html`<a href="/console/runs/${id}/deliveries/${v.id}/workbook">workbook (${path.basename(v.attachment)})</a> ` : ''}${v.transport === 'file' && v.location && existsSync(v.location) ? html`<a href="/console/runs/${id}/deliveries/${v.id}/email">email as sent</a>` : ''}</td></tr>`,
  )}</tbody></table>` : html`<p>This run delivered no report.</p>`}`;
}

/** The email as the file transport wrote it: its headers, its text, the attachments it carried. */
export function emailBody(v: Delivery): Html {
  const mail = readEmail(readFileSync(v.location!, 'utf8'));
  return html`<table class="facts">${['From', 'To', 'Cc', 'Reply-To', 'Subject', 'Date', 'Message-ID'].map((h) => html`<tr><th>${h}</th><td>${mail.headers.get(h.toLowerCase()) ?? ''}</td></tr>`)}</table>
<h2>Attachments</h2>${mail.attachments.length ? html`<ul class="attachments">${mail.attachments.map((a) => html`<li>${a.filename} (${a.contentType}, ${(a.bytes / 1024).toFixed(1)} kB)</li>`)}</ul>` : html`<p>None.</p>`}
<h2>Text</h2><pre class="eml">${mail.text ?? '(no plain-text part)'}</pre>`;
}
