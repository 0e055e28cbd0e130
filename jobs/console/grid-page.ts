/** The days × jobs grid: the last N production days (rows) × jobs (columns), each cell the day's latest state. */
import { JOBS } from '../registry.js';
import { DAY_STATES, dayGrid, recentDays, type DayCell } from './day-states.js';
import { html, type Html } from './html.js';
import type { ConsoleDeps } from './deps.js';

export const GRID_DAYS = { default: 14, max: 120 };

const LABEL: Record<string, string> = { succeeded: 'succeeded', failed: 'failed', running: 'running', queued: 'queued', 'never-run': 'never run', stale: 'stale (late data or pending units)' };

export function stateBadge(state: string): Html {
  return html`<span class="state state-${state}">${LABEL[state] ?? state}</span>`;
}

export async function gridBody(d: ConsoleDeps, n: number, canRerun: boolean): Promise<Html> {
  const jobs = Object.keys(JOBS);
  const days = recentDays(d.cfg, n);
  const grid = await dayGrid(d.ctx, d.connection, jobs, days);
  const cell = (job: string, day: string, c: DayCell) =>
    html`<td class="cell state-${c.state}" data-state="${c.state}"><a href="/console/runs?job=${encodeURIComponent(job)}&amp;day=${day}" title="${LABEL[c.state]}${c.note ? `: ${c.note}` : ''}">${LABEL[c.state]!.split(' ')[0]}</a></td>`;
  return html`<form method="get" action="/console/grid" class="inline"><label>Days <input type="number" name="days" min="1" max="${GRID_DAYS.max}" value="${n}"></label><button type="submit">Show</button></form>
<p class="legend">${DAY_STATES.map((s) => stateBadge(s))}</p>
<table class="grid"><thead><tr><th>Production day</th>${jobs.map((j) => html`<th>${j}</th>`)}</tr></thead>
<tbody>${days.map((day) => html`<tr><th><a href="/console/runs?day=${day}">${day}</a></th>${jobs.map((j) => cell(j, day, grid.get(j)!.get(day)!))}</tr>`)}</tbody></table>
${canRerun ? html`<p><a class="button" href="/console/rerun">Rerun or backfill…</a></p>` : ""}`;
}
