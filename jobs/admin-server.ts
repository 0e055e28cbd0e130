/**
 * `yieldrun admin`: a JSON API for admins (reruns, run history, schedules, job state) and Bull
 * Board at /admin/queues, all behind a bearer token from ADMIN_TOKEN. Browsers get a Basic-auth
 * prompt for Bull Board: any user name, the token as password.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import express, { type NextFunction, type Request, type Response } from 'express';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import type { ConnectionOptions, Queue } from 'bullmq';
import { DateTime } from 'luxon';
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/load.js';
import { openEtlContext } from '../etl/context.js';
import { dateRange } from '../etl/periods.js';
import { JOBS } from './registry.js';
import { DEPENDENTS_QUEUE, openQueue } from './queues.js';
import { SCHEDULE_QUEUE, describeSchedules } from './schedules.js';
import { enqueueWithDependents } from './enqueue.js';
import { listRuns } from './run-history.js';
import { jobState } from './job-state.js';
import { addSpcRoutes } from './spc-admin-routes.js';

export interface AdminServerOptions {
  port: number;
  host: string;
  /** ADMIN_TOKEN; required unless `noAuth` on 127.0.0.1. */
  token?: string;
  noAuth?: boolean;
  connection: ConnectionOptions;
}

export interface AdminServer {
  url: string;
  close(): Promise<void>;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/** Compares in constant time: a token is never guessable from response timing. */
function tokenMatches(given: string | undefined, token: string): boolean {
  return given !== undefined && timingSafeEqual(digest(given), digest(token));
}

function presentedToken(req: Request): string | undefined {
  const h = req.headers.authorization ?? '';
  if (h.startsWith('Bearer ')) return h.slice(7).trim();
  if (h.startsWith('Basic ')) {
    const decoded = Buffer.from(h.slice(6), 'base64').toString('utf8');
    return decoded.slice(decoded.indexOf(':') + 1);
  }
  return undefined;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;

export async function startAdminServer(cfg: ResolvedConfig, log: Logger, opts: AdminServerOptions): Promise<AdminServer> {
  if (!opts.token && !(opts.noAuth && opts.host === '127.0.0.1')) {
    throw new Error('the admin server needs ADMIN_TOKEN (or --no-auth, only when bound to 127.0.0.1)');
  }
  const ctx = openEtlContext(cfg, log);
  const queues: Queue[] = [...Object.keys(JOBS), SCHEDULE_QUEUE, DEPENDENTS_QUEUE].map((n) => openQueue(cfg, n, opts.connection));
  const app = express();
  app.disable('x-powered-by');
  app.use(express.json({ limit: '64kb' }));

  app.get('/healthz', (_req, res) => void res.json({ ok: true }));

  if (opts.token) {
    const token = opts.token;
    app.use((req: Request, res: Response, next: NextFunction) => {
      if (tokenMatches(presentedToken(req), token)) return next();
      if (req.path.startsWith('/admin')) res.setHeader('WWW-Authenticate', 'Basic realm="yieldrun admin"');
      res.status(401).json({ error: 'unauthorized: send Authorization: Bearer <ADMIN_TOKEN>' });
    });
  }

  const board = new ExpressAdapter();
  board.setBasePath('/admin/queues');
  createBullBoard({ queues: queues.map((q) => new BullMQAdapter(q)), serverAdapter: board });
  app.use('/admin/queues', board.getRouter());

  app.post('/api/reruns', async (req: Request, res: Response) => {
    const b = (req.body ?? {}) as Record<string, unknown>;
    const job = String(b.job ?? '');
    if (!JOBS[job]) return void res.status(400).json({ error: `unknown job '${job}'; known jobs: ${Object.keys(JOBS).join(', ')}` });
    const requestedBy = typeof b.requestedBy === 'string' ? b.requestedBy.trim() : '';
    if (!requestedBy) return void res.status(400).json({ error: 'requestedBy is required: who asks for this rerun' });
    const from = String(b.from ?? b.date ?? '');
    const to = String(b.to ?? b.date ?? b.from ?? '');
    if (!DATE.test(from) || !DATE.test(to)) return void res.status(400).json({ error: 'from and to (or date) must be dates YYYY-MM-DD' });
    let days: string[];
    try {
      days = dateRange(from, to);
    } catch (e) {
      return void res.status(400).json({ error: (e as Error).message });
    }
    const data = { days, triggeredBy: `admin-api:${requestedBy}`, reason: typeof b.reason === 'string' ? b.reason : undefined, resend: b.resend === true };
    const dependents = Array.isArray(b.dependents) ? b.dependents.map(String) : [];
    const unknown = dependents.filter((d) => !JOBS[d]);
    if (unknown.length) return void res.status(400).json({ error: `unknown dependent job(s): ${unknown.join(', ')}` });
    const r = await enqueueWithDependents(cfg, opts.connection, job, data, dependents);
    log.info({ job, days: days.length, requestedBy, dependents, ...r }, r.deduplicated ? 'rerun over HTTP already queued' : 'rerun requested over HTTP');
    res.status(r.deduplicated ? 200 : 202).json({ ...r, days });
  });

  app.get('/api/runs', async (req: Request, res: Response) => {
    const limit = Number(req.query.limit ?? 50);
    res.json(await listRuns(ctx, { job: req.query.job ? String(req.query.job) : undefined, limit: Number.isFinite(limit) ? limit : 50 }));
  });

  app.get('/api/schedules', (_req: Request, res: Response) => void res.json(describeSchedules(cfg, DateTime.now(), 5)));

  app.get('/api/jobs/:queue/:id', async (req: Request, res: Response) => {
    const queue = String(req.params.queue);
    if (![...Object.keys(JOBS), SCHEDULE_QUEUE, DEPENDENTS_QUEUE].includes(queue)) return void res.status(404).json({ error: `no queue '${queue}'` });
    const state = await jobState(cfg, opts.connection, queue, String(req.params.id));
    if (!state) return void res.status(404).json({ error: 'no such job' });
    res.json(state);
  });

  addSpcRoutes(app, ctx);

  app.use((err: Error, _req: Request, res: Response, _next: NextFunction) => {
    log.error({ err: err.message }, 'admin API error');
    res.status(500).json({ error: err.message });
  });

  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(opts.port, opts.host, () => resolve(s));
    s.on('error', reject);
  });
  const addr = server.address() as AddressInfo;
  const url = `http://${opts.host}:${addr.port}`;
  log.info({ url, auth: opts.token ? 'bearer token' : 'none (127.0.0.1 only)' }, 'admin server listening');
  return {
    url,
    async close() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all(queues.map((q) => q.close()));
      await ctx.close();
    },
  };
}
