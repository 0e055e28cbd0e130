/** The audit trail with filters: user, action, result and a date range (UTC). */
import { listAudit, type AuditFilter } from './audit.js';
import { html, type Html } from './html.js';
import type { ConsoleDeps } from './deps.js';

const DATE = /^\d{4}-\d{2}-\d{2}$/;

export function auditFilter(q: Record<string, unknown>): AuditFilter {
  const text = (k: string) => (typeof q[k] === 'string' && q[k] !== '' ? String(q[k]).slice(0, 128) : undefined);
  const date = (k: string) => (typeof q[k] === 'string' && DATE.test(String(q[k])) ? String(q[k]) : undefined);
  return { actor: text('actor'), action: text('action'), result: text('result'), from: date('from'), to: date('to') };
}

export async function auditBody(d: ConsoleDeps, f: AuditFilter): Promise<Html> {
  const rows = await listAudit(d.ctx, f);
  return html`<form method="get" action="/console/audit" class="inline">
<label>User <input name="actor" value="${f.actor ?? ''}"></label><label>Action <input name="action" value="${f.action ?? ''}"></label>
<label>Result <select name="result"><option value="">any</option>${['allowed', 'denied', 'failed'].map((r) => html`<option${f.result === r ? html` selected` : ''}>${r}</option>`)}</select></label>
<label>From <input type="date" name="from" value="${f.from ?? ''}"></label><label>To <input type="date" name="to" value="${f.to ?? ''}"></label><button type="submit">Filter</button></form>
<table class="audit"><thead><tr><th>When (UTC)</th><th>Who</th><th>Role</th><th>Via</th><th>Action</th><th>Parameters</th><th>Result</th><th>Detail</th><th>From</th></tr></thead><tbody>
${rows.map((r) => html`<tr class="result-${r.result}"><td>${r.at}</td><td>${r.actor}</td><td>${r.role ?? ''}</td><td>${r.via}</td><td>${r.action}</td><td><code>${r.parameters === null ? '' : JSON.stringify(r.parameters)}</code></td><td>${r.result}</td><td>${r.detail ?? ''}</td><td>${r.address ?? ''}</td></tr>`)}
</tbody></table>`;
}
