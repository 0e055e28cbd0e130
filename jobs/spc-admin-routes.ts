/**
 * The admin API's SPC routes (README "Admins"), so a web console can offer what `yieldrun spc events`
 * and `yieldrun spc ack` do:
 *   GET  /api/spc/events?open=1&measure=M&limit=N  events, newest first
 *   POST /api/spc/events/:id/ack  { cause, action, note? }  → the acknowledged event (operators)
 * The acknowledgement is recorded as the token's user; a `by` in the body is kept in the audit only.
 */
import type { Express, Request, Response } from 'express';
import type { EtlContext } from '../etl/context.js';
import { AcknowledgementError, acknowledgeEvent, listEvents } from '../etl/spc-event-store.js';
import { locals, paramsOf, type Access } from './console/access.js';
import { TEXT_LIMITS } from './caller-input.js';

/** An acknowledgement's fields from a request body; an error message when one is missing or too long. */
export function ackFields(b: Record<string, unknown>): { cause: string; action: string; note?: string } | string {
  for (const field of ['cause', 'action'] as const) {
    if (typeof b[field] !== 'string' || !(b[field] as string).trim()) return `${field} is required (a code from spc.${field === 'cause' ? 'causes' : 'actions'})`;
  }
  const note = typeof b.note === 'string' && b.note.trim() ? b.note : undefined;
  if (note !== undefined && note.length > TEXT_LIMITS.reason) return `note is longer than ${TEXT_LIMITS.reason} characters`;
  return { cause: String(b.cause), action: String(b.action), note };
}

/** Acknowledges event `id` as `by`, audited; the HTTP status and body to answer. */
export async function acknowledgeAudited(ctx: EtlContext, access: Access, req: Request, res: Response, id: number, by: string): Promise<{ status: number; body: unknown }> {
  const fields = ackFields((req.body ?? {}) as Record<string, unknown>);
  const parameters = { ...paramsOf(req), event: id };
  if (typeof fields === 'string') {
    await access.audit(req, res, { action: 'spc-ack', parameters, result: 'failed', detail: fields });
    return { status: 400, body: { error: fields } };
  }
  try {
    const e = await acknowledgeEvent(ctx, { id, ...fields, by });
    await access.audit(req, res, { action: 'spc-ack', parameters, result: 'allowed' });
    ctx.log.info({ event: id, by: e.acknowledgedBy, cause: e.causeCode, action: e.actionCode }, 'spc event acknowledged over HTTP');
    return { status: 200, body: e };
  } catch (err) {
    if (!(err instanceof AcknowledgementError)) throw err;
    await access.audit(req, res, { action: 'spc-ack', parameters, result: 'failed', detail: err.message });
    return { status: err.status, body: { error: err.message } };
  }
}

export function addSpcRoutes(app: Express, ctx: EtlContext, access: Access): void {
  app.get('/api/spc/events', async (req: Request, res: Response) => {
    const measure = req.query.measure ? String(req.query.measure) : undefined;
    if (measure !== undefined && !Object.hasOwn(ctx.config.spc.measures, measure)) return void res.status(400).json({ error: `no SPC measure '${measure}'; configured: ${Object.keys(ctx.config.spc.measures).join(', ')}` });
    const limit = Number(req.query.limit ?? 100);
    const open = req.query.open === '1' || req.query.open === 'true';
    res.json(await listEvents(ctx, { open, measures: measure ? [measure] : undefined, limit: Number.isInteger(limit) && limit > 0 ? Math.min(limit, 1000) : 100 }));
  });

  app.post('/api/spc/events/:id/ack', access.require('acknowledge', 'spc-ack'), async (req: Request, res: Response) => {
    const id = Number(req.params.id);
    if (!Number.isInteger(id) || id < 1) return void res.status(400).json({ error: 'the event id must be a whole number' });
    const r = await acknowledgeAudited(ctx, access, req, res, id, `api:${locals(res).principal!.name}`);
    res.status(r.status).json(r.body);
  });
}
