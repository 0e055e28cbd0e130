/**
 * `yieldrun admin`: the admin console (/console, jobs/console/), a JSON API (reruns, run history,
 * schedules, job state) and Bull Board at /admin/queues, read-only and for admins only. The API
 * and Bull Board take a user's token (`yieldrun admin users add`) or the bootstrap ADMIN_TOKEN as
 * a bearer token; browsers get a Basic-auth prompt for Bull Board: any user name, the token as
 * password. Every mutation is audited (admin_audit), refused ones too.
 */
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
import { listRuns } from './run-history.js';
import { jobState } from './job-state.js';
import { CallerInputError, TEXT_LIMITS, boundedDayRange, boundedText, checkJobName } from './caller-input.js';
import { StartRefusedError } from './start-refused.js';
import { logDays } from './log.js';
import { addSpcRoutes } from './spc-admin-routes.js';
import { Access, locals, paramsOf, presentedToken } from './console/access.js';
import { SessionStore, SignInLimiter } from './console/sessions.js';
import { securityHeaders } from './console/security-headers.js';
import { consoleRouter } from './console/router.js';
import { requestRerun } from './console/rerun.js';

export interface AdminServerOptions {
  port: number;
  host: string;
  /** ADMIN_TOKEN; required unless `noAuth` on 127.0.0.1. */
  token?: string;
  noAuth?: boolean;
  connection: ConnectionOptions;
  /**
   * Behind a TLS-terminating proxy: trust its X-Forwarded-Proto / X-Forwarded-For, so the session
   * cookie is marked Secure and the audit records the caller's address (express `trust proxy`).
   */
  trustProxy?: boolean | string;
  /** Failed console sign-ins allowed per address and per name within 15 minutes (default 5). */
  signInLimit?: number;
}

export interface AdminServer {
  url: string;
  close(): Promise<void>;
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
  const access = new Access(ctx, opts);
  const app = express();
  app.disable('x-powered-by');
  if (opts.trustProxy) app.set('trust proxy', opts.trustProxy);
  app.use(securityHeaders);

  app.get('/healthz', (_req, res) => void res.json({ ok: true }));
  app.get('/', (_req, res) => res.redirect(303, '/console/grid'));
  app.use(
    '/console',
    consoleRouter({ cfg, ctx, connection: opts.connection, access, sessions: new SessionStore(), limiter: new SignInLimiter(opts.signInLimit ?? 5), log }),
  );

  app.use(async (req: Request, res: Response, next: NextFunction) => {
    const l = locals(res);
    l.via = 'api';
    l.principal = await access.byToken(presentedToken(req));
    if (l.principal) return next();
    if (req.method !== 'GET' && req.method !== 'HEAD') await access.audit(req, res, { action: `${req.method} ${req.path}`, result: 'denied', detail: 'no valid token' });
    if (req.path.startsWith('/admin')) res.setHeader('WWW-Authenticate', 'Basic realm="yieldrun admin"');
    res.status(401).json({ error: 'unauthorized: send Authorization: Bearer <token> (a user\'s token or ADMIN_TOKEN)' });
  });
  // Bodies are read only once the caller is known: a stranger's 10 MB or broken JSON gets its 401 first.
  app.use(express.json({ limit: BODY_LIMIT }));

  // Read-only (no retry, clean or promote) and for admins: every change goes through an audited path.
  const board = new ExpressAdapter();
  board.setBasePath('/admin/queues');
  createBullBoard({ queues: queues.map((q) => new BullMQAdapter(q, { readOnlyMode: true, allowRetries: false })), serverAdapter: board });
  app.use('/admin/queues', access.require('bull-board'), (req: Request, res: Response, next: NextFunction) => {
    if (req.method === 'GET' || req.method === 'HEAD') return next();
    res.status(405).json({ error: 'Bull Board is read-only here: rerun, cancel and retry in the console (/console/queue)' });
  }, board.getRouter());

  app.post('/api/reruns', access.require('rerun', 'rerun'), async (req: Request, res: Response) => {
    const body: unknown = req.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      await access.audit(req, res, { action: 'rerun', result: 'failed', detail: 'expected a JSON object' });
      return void res.status(400).json({ error: 'expected a JSON object' });
    }
    let request: ReturnType<typeof rerunRequest>;
    try {
      request = rerunRequest(cfg, body as Record<string, unknown>);
    } catch (e) {
      if (!(e instanceof CallerInputError)) throw e;
      await access.audit(req, res, { action: 'rerun', parameters: paramsOf(req), result: 'failed', detail: e.message });
      return void res.status(400).json({ error: e.message, field: e.field, ...(e.limit !== undefined ? { limit: e.limit } : {}) });
    }
    const { job, requestedBy, reason, days, dependents, resend } = request;
    // triggered_by is the token's user; requestedBy is the caller's annotation, kept in the audit and the log.
    const principal = locals(res).principal!;
    const parameters = { job, days: logDays(days), dependents, reason, resend, requestedBy };
    try {
      const r = await requestRerun(cfg, opts.connection, 'api', principal, { job, days, dependents, reason, resend });
      await access.audit(req, res, { action: 'rerun', parameters: { ...parameters, jobId: r.jobId, deduplicated: r.deduplicated }, result: 'allowed' });
      log.info({ job, days: logDays(days), user: principal.name, requestedBy, dependents, ...r }, r.deduplicated ? 'rerun over HTTP already queued' : 'rerun requested over HTTP');
      res.status(r.deduplicated ? 200 : 202).json({ ...r, days });
    } catch (e) {
      await access.audit(req, res, { action: 'rerun', parameters, result: 'failed', detail: (e as Error).message });
      throw e;
    }
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

  addSpcRoutes(app, ctx, access);

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
