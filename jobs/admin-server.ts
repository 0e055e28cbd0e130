/**
 * `yieldrun admin`: a JSON API for admins (reruns, run history, schedules, job state) and Bull
 * Board at /admin/queues, all behind a bearer token from ADMIN_TOKEN. Browsers get a Basic-auth
 * prompt for Bull Board: any user name, the token as password.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIPv4, type AddressInfo } from 'node:net';
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
import { JOBS } from './registry.js';
import { DEPENDENTS_QUEUE, openQueue } from './queues.js';
import { SCHEDULE_QUEUE, describeSchedules } from './schedules.js';
import { enqueueWithDependents } from './enqueue.js';
import { listRuns } from './run-history.js';
import { jobState } from './job-state.js';
import { CallerInputError, TEXT_LIMITS, boundedDayRange, boundedText, checkJobName } from './caller-input.js';
import { StartRefusedError } from './start-refused.js';
import { logDays } from './log.js';
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

/** A token anyone who can reach a public address may try: long enough not to be guessed. */
export const MIN_TOKEN_LENGTH = 24;
/** The largest JSON body the API reads (a rerun request is a few hundred bytes). */
const BODY_LIMIT = '64kb';

/** 127.0.0.0/8, ::1 and localhost: only this machine can connect. */
const isLoopback = (host: string) => host === 'localhost' || host === '::1' || (isIPv4(host) && host.startsWith('127.'));

/**
 * The ids a queued job of ours can have: a UUID (jobs/enqueue.ts, flow parents), a scheduler's
 * `repeat:<schedule>:<ms>`, or BullMQ's counter. Anything else names one of the queue's own keys
 * (`meta`, `events`, `id`, `wait`…), whose content is no job and never served as one.
 */
const JOB_ID = /^(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|repeat:[A-Za-z0-9:_-]+|\d+)$/i;

/** Refuses a start that would expose the API: no token, or a short one, on an address others reach. */
export function checkAdminAuth(opts: Pick<AdminServerOptions, 'host' | 'token' | 'noAuth'>): void {
  const loopback = isLoopback(opts.host);
  if (opts.noAuth && !opts.token) {
    if (!loopback) throw new StartRefusedError(`--no-auth is allowed only on a loopback address (127.0.0.1, ::1), not on ${opts.host}; set ADMIN_TOKEN instead`);
    return;
  }
  if (!opts.token) throw new StartRefusedError('the admin server needs ADMIN_TOKEN (or --no-auth, only when bound to 127.0.0.1)');
  if (!loopback && opts.token.length < MIN_TOKEN_LENGTH) {
    throw new StartRefusedError(
      `ADMIN_TOKEN has ${opts.token.length} characters; on ${opts.host}, an address others can reach, it needs at least ${MIN_TOKEN_LENGTH} (e.g. openssl rand -hex 24)`,
    );
  }
}

/** The rerun a JSON body asks for, or the field that is wrong. */
function rerunRequest(cfg: ResolvedConfig, b: Record<string, unknown>) {
  const job = checkJobName('job', b.job ?? '');
  const requestedBy = boundedText('requestedBy', b.requestedBy, TEXT_LIMITS.requestedBy)?.trim();
  if (!requestedBy) throw new CallerInputError('requestedBy', 'required: who asks for this rerun');
  const reason = boundedText('reason', b.reason, TEXT_LIMITS.reason);
  const from = String(b.from ?? b.date ?? '');
  const to = String(b.to ?? b.date ?? b.from ?? '');
  if (!DATE.test(from) || !DATE.test(to)) throw new CallerInputError('from', 'from and to (or date) must be dates YYYY-MM-DD');
  if (b.force !== undefined && typeof b.force !== 'boolean') throw new CallerInputError('force', 'expected true or false');
  const days = boundedDayRange('to', from, to, { maxDays: cfg.runner.maxRangeDays, force: b.force === true, forceHint: 'force: true' });
  if (b.dependents !== undefined && !Array.isArray(b.dependents)) throw new CallerInputError('dependents', 'expected a list of job names');
  const dependents = ((b.dependents as unknown[] | undefined) ?? []).map((d, i) => checkJobName(`dependents[${i}]`, d));
  return { job, requestedBy, reason, days, dependents, resend: b.resend === true };
}

export async function startAdminServer(cfg: ResolvedConfig, log: Logger, opts: AdminServerOptions): Promise<AdminServer> {
  checkAdminAuth(opts);
  const ctx = openEtlContext(cfg, log);
  const queues: Queue[] = [...Object.keys(JOBS), SCHEDULE_QUEUE, DEPENDENTS_QUEUE].map((n) => openQueue(cfg, n, opts.connection));
  const app = express();
  app.disable('x-powered-by');

  app.get('/healthz', (_req, res) => void res.json({ ok: true }));

  if (opts.token) {
    const token = opts.token;
    app.use((req: Request, res: Response, next: NextFunction) => {
      if (tokenMatches(presentedToken(req), token)) return next();
      if (req.path.startsWith('/admin')) res.setHeader('WWW-Authenticate', 'Basic realm="yieldrun admin"');
      res.status(401).json({ error: 'unauthorized: send Authorization: Bearer <ADMIN_TOKEN>' });
    });
  }
  // Bodies are read only once the caller is known: a stranger's 10 MB or broken JSON gets its 401 first.
  app.use(express.json({ limit: BODY_LIMIT }));

  const board = new ExpressAdapter();
  board.setBasePath('/admin/queues');
  createBullBoard({ queues: queues.map((q) => new BullMQAdapter(q)), serverAdapter: board });
  app.use('/admin/queues', board.getRouter());

  app.post('/api/reruns', async (req: Request, res: Response) => {
    const body: unknown = req.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return void res.status(400).json({ error: 'expected a JSON object' });
    let request: ReturnType<typeof rerunRequest>;
    try {
      request = rerunRequest(cfg, body as Record<string, unknown>);
    } catch (e) {
      if (!(e instanceof CallerInputError)) throw e;
      return void res.status(400).json({ error: e.message, field: e.field, ...(e.limit !== undefined ? { limit: e.limit } : {}) });
    }
    const { job, requestedBy, reason, days, dependents, resend } = request;
    const data = { days, triggeredBy: `admin-api:${requestedBy}`, reason, resend };
    const r = await enqueueWithDependents(cfg, opts.connection, job, data, dependents);
    log.info({ job, days: logDays(days), requestedBy, dependents, ...r }, r.deduplicated ? 'rerun over HTTP already queued' : 'rerun requested over HTTP');
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
    const id = String(req.params.id);
    if (!JOB_ID.test(id)) return void res.status(404).json({ error: 'no such job' });
    const state = await jobState(cfg, opts.connection, queue, id);
    if (!state) return void res.status(404).json({ error: 'no such job' });
    res.json(state);
  });

  addSpcRoutes(app, ctx);

  app.use((err: Error & { type?: string; status?: number }, _req: Request, res: Response, _next: NextFunction) => {
    // body-parser's refusals (too large, malformed, unsupported charset) are the caller's mistakes, not the server's.
    if (err.type === 'entity.too.large') return void res.status(413).json({ error: `request body over ${BODY_LIMIT}` });
    if (err.type === 'entity.parse.failed') return void res.status(400).json({ error: `malformed JSON body: ${err.message}` });
    if (err.status && err.status >= 400 && err.status < 500) return void res.status(err.status).json({ error: err.message });
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
