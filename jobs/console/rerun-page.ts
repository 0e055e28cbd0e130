/**
 * The rerun / backfill form: job, days, dependents, reason and policy; a preview lists each day
 * with what exists now and whether it will run; submitting queues the days that run, behind the
 * nightly schedule, and leads to a page that follows the job.
 */
import type { ResolvedConfig } from '../../config/load.js';
import { JOBS } from '../registry.js';
import { CallerInputError, TEXT_LIMITS, boundedDayRange, boundedText, checkJobName } from '../caller-input.js';
import { dayGrid, willRun, type RerunPolicy } from './day-states.js';
import { csrfField, dayText, html, type Html } from './html.js';
import { stateBadge } from './grid-page.js';
import type { ConsoleDeps } from './deps.js';

export interface RerunForm {
  job: string;
  from: string;
  to: string;
  dependents: string[];
  reason?: string;
  policy: RerunPolicy;
  force: boolean;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** The form's fields, checked like the API's body: a bad one names itself. */
export function rerunForm(cfg: ResolvedConfig, q: Record<string, unknown>): RerunForm & { days: string[] } {
  const job = checkJobName('job', q.job ?? '');
  const from = String(q.from ?? '');
  const to = String(q.to || from);
  if (!DATE.test(from)) throw new CallerInputError('from', 'expected a date YYYY-MM-DD');
  if (!DATE.test(to)) throw new CallerInputError('to', 'expected a date YYYY-MM-DD');
  const force = q.force === 'on' || q.force === 'true';
  const days = boundedDayRange('to', from, to, { maxDays: cfg.runner.maxRangeDays, force, forceHint: 'the force box is ticked' });
  const raw = q.dependents === undefined ? [] : Array.isArray(q.dependents) ? q.dependents : [q.dependents];
  const dependents = raw.filter((x) => x !== '').map((x, i) => checkJobName(`dependents[${i}]`, x));
  const reason = boundedText('reason', q.reason, TEXT_LIMITS.reason)?.trim() || undefined;
  const policy = q.policy === 'failed-and-never-run' ? 'failed-and-never-run' : q.policy === undefined || q.policy === 'all' ? 'all' : undefined;
  if (!policy) throw new CallerInputError('policy', "expected 'all' or 'failed-and-never-run'");
  return { job, from, to, dependents, reason, policy, force, days };
}

/** Each day with what exists now and whether it will run. */
export async function previewDays(d: ConsoleDeps, f: RerunForm & { days: string[] }) {
  const grid = await dayGrid(d.ctx, d.connection, [f.job], f.days);
  const cells = grid.get(f.job)!;
  return f.days.map((day) => ({ day, cell: cells.get(day)!, runs: willRun(f.policy, cells.get(day)) }));
}

export function formBody(cfg: ResolvedConfig, values: Partial<RerunForm>, preview?: Html, error?: string): Html {
  const jobs = Object.keys(JOBS);
  const checked = (b: boolean) => (b ? html` checked` : '');
  return html`${error ? html`<p class="error" role="alert">${error}</p>` : ''}
<form method="get" action="/console/rerun" class="rerun">
<label>Job <select name="job">${jobs.map((j) => html`<option${values.job === j ? html` selected` : ''}>${j}</option>`)}</select></label>
<label>From <input type="date" name="from" required value="${values.from ?? ''}"></label>
<label>To <input type="date" name="to" value="${values.to ?? ''}"></label>
<fieldset><legend>Then, for the same days</legend>${jobs.map((j) => html`<label><input type="checkbox" name="dependents" value="${j}"${checked(values.dependents?.includes(j) ?? false)}> ${j}</label>`)}</fieldset>
<fieldset><legend>Days</legend><label><input type="radio" name="policy" value="all"${checked(values.policy !== 'failed-and-never-run')}> all days</label>
<label><input type="radio" name="policy" value="failed-and-never-run"${checked(values.policy === 'failed-and-never-run')}> failed and never-run days only</label></fieldset>
<label>Reason <input type="text" name="reason" maxlength="${TEXT_LIMITS.reason}" value="${values.reason ?? ''}"></label>
<label><input type="checkbox" name="force"${checked(values.force ?? false)}> allow more than ${cfg.runner.maxRangeDays} days</label>
<button type="submit" name="preview" value="1">Preview</button></form>
${preview ?? ''}`;
}

export function previewBody(csrf: string, f: RerunForm & { days: string[] }, rows: Awaited<ReturnType<typeof previewDays>>): Html {
  const running = rows.filter((r) => r.runs).map((r) => r.day);
  return html`<h2>Preview</h2><p>${f.job} will run for ${running.length} of ${rows.length} day(s)${f.dependents.length ? `, then ${f.dependents.join(', ')}` : ''}; queued behind the nightly schedule.</p>
<table class="preview"><thead><tr><th>Day</th><th>Now</th><th>Latest run</th><th>Will run</th></tr></thead><tbody>
${rows.map((r) => html`<tr class="${r.runs ? 'runs' : 'skips'}"><td>${r.day}</td><td>${stateBadge(r.cell.state)}${r.cell.note ? ` ${r.cell.note}` : ''}</td><td>${r.cell.runId ? html`<a href="/console/runs/${r.cell.runId}">run ${r.cell.runId}</a>` : '—'}</td><td>${r.runs ? 'yes' : 'no'}</td></tr>`)}
</tbody></table>
${running.length ? html`<form method="post" action="/console/rerun">${csrfField(csrf)}
<input type="hidden" name="job" value="${f.job}"><input type="hidden" name="from" value="${f.from}"><input type="hidden" name="to" value="${f.to}">
${f.dependents.map((x) => html`<input type="hidden" name="dependents" value="${x}">`)}<input type="hidden" name="policy" value="${f.policy}">
<input type="hidden" name="reason" value="${f.reason ?? ''}">${f.force ? html`<input type="hidden" name="force" value="on">` : ''}
<button type="submit" class="primary">Queue ${f.job} for ${dayText(running)}</button></form>` : html`<p>Nothing to run under this policy.</p>`}`;
}

export function followBody(queue: string, id: string, days: readonly string[]): Html {
  return html`<div class="follow" data-queue="${queue}" data-job="${id}"><p>Job <code>${id}</code> on <code>${queue}</code> for ${dayText(days)}.</p>
<p>State: <strong class="job-state">…</strong> <progress class="job-progress" max="100" value="0"></progress></p><p class="job-result"></p>
<p><a href="/console/follow/${encodeURIComponent(queue)}/${encodeURIComponent(id)}">Refresh</a> · <a href="/console/queue">Queue</a> · <a href="/console/grid">Grid</a></p></div>`;
}
