/**
 * SPC events, read-only, once a table `spc_events` exists in the target (another part of the
 * project adds it; its columns are not known here, so they are shown as they are). Acknowledging
 * an event waits for that table's definition.
 */
import { targetTable } from '../../etl/context.js';
import { html, type Html } from './html.js';
import type { ConsoleDeps } from './deps.js';

/** Whether spc_events exists: asked on each page until it does (a catalog lookup), then remembered. */
export function spcEventsProbe(d: ConsoleDeps): () => Promise<boolean> {
  let exists = false;
  return async () => {
    if (exists) return true;
    const schema = d.ctx.targetSchema ? d.ctx.target.schema.withSchema(d.ctx.targetSchema) : d.ctx.target.schema;
    exists = await schema.hasTable('spc_events').catch(() => false);
    return exists;
  };
}

const cellText = (v: unknown) => (v === null || v === undefined ? '' : v instanceof Date ? v.toISOString() : String(v));

export async function spcEventsBody(d: ConsoleDeps): Promise<Html> {
  const schema = d.ctx.targetSchema ? d.ctx.target.schema.withSchema(d.ctx.targetSchema) : d.ctx.target.schema;
  let q = targetTable(d.ctx, d.ctx.target, 'spc_events').select('*').limit(200);
  if (await schema.hasColumn('spc_events', 'id')) q = q.orderBy('id', 'desc');
  const newestFirst = (await q) as Record<string, unknown>[];
  if (newestFirst.length === 0) return html`<p>No SPC events recorded.</p>`;
  const columns = Object.keys(newestFirst[0]!);
  return html`<table class="spc-events"><thead><tr>${columns.map((c) => html`<th>${c}</th>`)}</tr></thead>
<tbody>${newestFirst.map((r) => html`<tr>${columns.map((c) => html`<td>${cellText(r[c])}</td>`)}</tr>`)}</tbody></table>`;
}
