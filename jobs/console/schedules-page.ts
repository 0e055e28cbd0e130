/** The configured schedules with their next run times in plant time. */
import { DateTime } from 'luxon';
import { describeSchedules } from '../schedules.js';
import { html, type Html } from './html.js';
import type { ConsoleDeps } from './deps.js';

export function schedulesBody(d: ConsoleDeps): Html {
  const views = describeSchedules(d.cfg, DateTime.now(), 5);
  if (views.length === 0) return html`<p>No schedules configured (config key <code>schedules</code>).</p>`;
  return html`<p>Plant time: ${d.cfg.plant.timezone}, production day starts at ${d.cfg.plant.dayStart}.</p>
<table><thead><tr><th>Schedule</th><th>Job</th><th>Cron</th><th>Then</th><th>Next runs (plant time)</th></tr></thead><tbody>
${views.map((v) => html`<tr><td>${v.name}</td><td>${v.job}</td><td><code>${v.cron}</code></td><td>${v.dependents.join(', ') || '—'}</td>
<td><ul>${v.next.map((t) => html`<li>${DateTime.fromISO(t, { setZone: true }).toFormat('ccc yyyy-LL-dd HH:mm ZZZZ')}</li>`)}</ul></td></tr>`)}</tbody></table>`;
}
