/**
 * The admin API's SPC routes (README "Admins"), so a web console can offer what `yieldrun spc events`
 * and `yieldrun spc ack` do:
 *   GET  /api/spc/events?open=1&measure=M&limit=N  events, newest first
 *   POST /api/spc/events/:id/ack  { cause, action, by, note? }  → the acknowledged event
 */
import type { Express, Request, Response } from 'express';
import type { EtlContext } from '../etl/context.js';
import { AcknowledgementError, acknowledgeEvent, listEvents } from '../etl/spc-event-store.js';

export function addSpcRoutes(app: Express, ctx: EtlContext): void {
  app.get('/api/spc/events', async (req: Request, res: Response) => {
    const measure = req.query.measure ? String(req.query.measure) : undefined;
    if (measure !== undefined && !ctx.config.spc.measures[measure]) return void res.status(400).json({ error: `no SPC measure '${measure}'; configured: ${Object.keys(ctx.config.spc.measures).join(', ')}` });
    const limit = Number(req.query.limit ?? 100);
    const open = req.query.open === '1' || req.query.open === 'true';
    res.json(await listEvents(ctx, { open, measures: measure ? [measure] : undefined, limit: Number.isInteger(limit) && limit > 0 ? Math.min(limit, 1000) : 100 }));
  });

  app.post('/api/spc/events/:id/ack', async (req: Request, res: Response) => {
    const id = Number(req.params.id);
    if (!Number.isInteger(id) || id < 1) return void res.status(400).json({ error: 'the event id must be a whole number' });
    const b = (req.body ?? {}) as Record<string, unknown>;
    for (const field of ['cause', 'action', 'by'] as const) {
      if (typeof b[field] !== 'string' || !(b[field] as string).trim()) return void res.status(400).json({ error: `${field} is required (${field === 'by' ? 'who acknowledges' : `a code from spc.${field === 'cause' ? 'causes' : 'actions'}`})` });
    }
    try {
      const e = await acknowledgeEvent(ctx, { id, cause: String(b.cause), action: String(b.action), by: String(b.by), note: typeof b.note === 'string' ? b.note : undefined });
      ctx.log.info({ event: id, by: e.acknowledgedBy, cause: e.causeCode, action: e.actionCode }, 'spc event acknowledged over HTTP');
      res.json(e);
    } catch (err) {
      if (err instanceof AcknowledgementError) return void res.status(err.status).json({ error: err.message });
      throw err;
    }
  });
}
