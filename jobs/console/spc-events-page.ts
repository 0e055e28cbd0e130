/**
 * SPC out-of-control events (spc.md §6): open ones first, then those closed in the last 30 days,
 * each with its rules, extreme value and acknowledgement; an operator acknowledges an open event
 * here with a cause and an action from spc.causes / spc.actions (POST /console/spc-events/:id/ack,
 * recorded as the signed-in user and audited).
 */
import { DateTime } from 'luxon';
import { listEvents, type StoredEvent } from '../../etl/spc-event-store.js';
import { csrfField, html, type Html } from './html.js';
import type { ConsoleDeps } from './deps.js';

/** Whether spc_events exists (the SPC events migration has run): asked until it does, then remembered. */
export function spcEventsProbe(d: ConsoleDeps): () => Promise<boolean> {
  let exists = false;
  return async () => {
    if (exists) return true;
    const schema = d.ctx.targetSchema ? d.ctx.target.schema.withSchema(d.ctx.targetSchema) : d.ctx.target.schema;
    exists = await schema.hasTable('spc_events').catch(() => false);
    return exists;
  };
}

const RECENT_DAYS = 30;

function plantTime(d: ConsoleDeps, t: Date | null): string {
  return t ? DateTime.fromJSDate(t, { zone: d.cfg.plant.timezone }).toFormat('yyyy-MM-dd HH:mm') : '';
}

function ackForm(d: ConsoleDeps, e: StoredEvent, csrf: string): Html {
  const options = (codes: Record<string, string>) => Object.entries(codes).map(([code, meaning]) => html`<option value="${code}">${code}: ${meaning}</option>`);
  return html`<form method="post" action="/console/spc-events/${String(e.id)}/ack" class="ack">${csrfField(csrf)}
<label>Cause <select name="cause" required>${options(d.cfg.spc.causes)}</select></label>
<label>Action <select name="action" required>${options(d.cfg.spc.actions)}</select></label>
<label>Note <input name="note" maxlength="512"></label>
<button type="submit">Acknowledge</button></form>`;
}

function acknowledgement(d: ConsoleDeps, e: StoredEvent): Html {
  if (!e.acknowledgedAt) return html`${e.state === 'closed' ? 'closed unacknowledged' : ''}`;
  return html`${e.acknowledgedBy ?? ''}, ${plantTime(d, e.acknowledgedAt)}: ${e.causeCode ?? ''} / ${e.actionCode ?? ''}${e.note ? html`<br>${e.note}` : ''}`;
}

export async function spcEventsBody(d: ConsoleDeps, opts: { canAcknowledge: boolean; csrf?: string; message?: string }): Promise<Html> {
  const since = DateTime.now().minus({ days: RECENT_DAYS }).toJSDate();
  const events = await listEvents(d.ctx, { closedSince: since, limit: 500 });
  const open = events.filter((e) => e.state === 'open' || e.state === 'acknowledged');
  const closed = events.filter((e) => e.state === 'closed');
  const rows = (list: StoredEvent[]) =>
    list.map(
      (e) => html`<tr class="spc-${e.state}"><td>${String(e.id)}</td><td>${e.measure}</td><td>${e.key}</td><td>${e.state}${e.history ? ' (history)' : ''}</td>
<td>${plantTime(d, e.openedAt)}</td><td>${plantTime(d, e.lastFlaggedAt)}</td><td>${plantTime(d, e.closedAt)}</td>
<td>${e.rules.map((r) => `${r.rule}${r.panel === 'paired' ? ' (paired)' : ''} ×${r.points}`).join(', ')}</td><td>${String(e.flaggedPoints)}</td>
<td>${e.extremeValue === null ? '' : e.extremeValue.toPrecision(5)}${e.side ? ` ${e.side}` : ''}</td>
<td>${e.state === 'open' && opts.canAcknowledge && opts.csrf ? ackForm(d, e, opts.csrf) : acknowledgement(d, e)}</td></tr>`,
    );
  const head = html`<thead><tr><th>event</th><th>measure</th><th>chart</th><th>state</th><th>opened</th><th>last flagged</th><th>closed</th><th>rules</th><th>points</th><th>extreme</th><th>acknowledgement</th></tr></thead>`;
  return html`${opts.message ? html`<p class="error">${opts.message}</p>` : ''}
<h2>Open (${String(open.length)})</h2>${open.length ? html`<table class="spc-events">${head}<tbody>${rows(open)}</tbody></table>` : html`<p>No open events.</p>`}
<h2>Closed in the last ${String(RECENT_DAYS)} days (${String(closed.length)})</h2>${closed.length ? html`<table class="spc-events">${head}<tbody>${rows(closed)}</tbody></table>` : html`<p>None.</p>`}`;
}
