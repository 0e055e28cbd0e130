/**
 * The admin console under /console: sign-in into a session, then the grid, runs, rerun /
 * backfill, queue, schedules and audit pages. Every form that changes something carries the
 * session's CSRF token; every change and every refused attempt is audited.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import { DEPENDENTS_QUEUE } from '../queues.js';
import { JOBS } from '../registry.js';
import { jobState } from '../job-state.js';
import { CallerInputError } from '../caller-input.js';
import { locals, paramsOf } from './access.js';
import { csrfMatches } from './sessions.js';
import { allows } from './users.js';
import { html, page, type Html, type PageFrame } from './html.js';
import type { ConsoleDeps } from './deps.js';
import { GRID_DAYS, gridBody } from './grid-page.js';
import { deliveryOfRun, emailBody, runBody, runsBody } from './run-page.js';
import { followBody, formBody, previewBody, previewDays, rerunForm } from './rerun-page.js';
import { QueueActionError, cancelJob, failedDaysOf, queueBody } from './queue-page.js';
import { schedulesBody } from './schedules-page.js';
import { auditBody, auditFilter } from './audit-page.js';
import { requestRerun } from './rerun.js';
import { spcEventsBody, spcEventsProbe } from './spc-events-page.js';
import { acknowledgeAudited } from '../spc-admin-routes.js';

/** The console's script and style: in the sources next to this file, or beside dist/ after a build. */
const STATIC_DIR = [path.join(import.meta.dirname, 'static'), path.resolve(import.meta.dirname, '..', '..', '..', 'jobs', 'console', 'static')].find((p) => existsSync(p))!;
const STATIC: Record<string, string> = { 'console.css': 'text/css; charset=utf-8', 'console.js': 'text/javascript; charset=utf-8' };

const JOB_ID = /^[A-Za-z0-9:_-]{1,128}$/;

export function consoleRouter(d: ConsoleDeps): express.Router {
  const r = express.Router();
  const send = (res: Response, frame: Omit<PageFrame, 'principal' | 'csrf'>, body: Html, status = 200) => {
    const l = locals(res);
    res.status(status).type('html').send(page({ ...frame, principal: l.principal, csrf: l.session?.csrf, spcEvents: l.spcEvents }, body));
  };

  r.get('/static/:file', (req, res) => {
    const type = STATIC[String(req.params.file)];
    if (!type) return void res.status(404).type('text/plain').send('not found');
    res.type(type).setHeader('Cache-Control', 'no-cache');
    res.send(readFileSync(path.join(STATIC_DIR, String(req.params.file))));
  });

  const spcEvents = spcEventsProbe(d);
  r.use(async (req, res, next) => {
    const l = locals(res);
    l.via = 'console';
    l.session = d.sessions.get(req);
    l.principal = l.session?.principal;
    l.spcEvents = await spcEvents();
    next();
  });
  r.use(express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 200 }));

  // The synchroniser token on every POST, sign-in included (its pre-session has one).
  r.use(async (req: Request, res: Response, next: NextFunction) => {
    if (req.method !== 'POST') return next();
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (csrfMatches(locals(res).session, body._csrf)) return next();
    await d.access.audit(req, res, { action: `POST ${req.path}`, parameters: paramsOf(req), result: 'denied', detail: 'missing or wrong CSRF token' });
    res.status(403).type('text/plain').send('forbidden: this form is stale or did not come from the console (CSRF token missing or wrong); reload the page and try again');
  });

  const signInForm = (csrf: string, message?: string, name = '') =>
    html`${message ? html`<p class="error" role="alert">${message}</p>` : ''}<form method="post" action="/console/signin" class="signin"><input type="hidden" name="_csrf" value="${csrf}">
<label>Name <input name="name" autocomplete="username" required value="${name}"></label>
<label>Token <input name="token" type="password" autocomplete="current-password"${d.access.open ? '' : html` required`}></label><button type="submit" class="primary">Sign in</button></form>
<p>A token comes from <code>yieldrun admin users add NAME --role viewer|operator|admin</code>; the bootstrap admin signs in as <code>admin</code> with ADMIN_TOKEN.</p>`;

  r.get('/signin', (req, res) => {
    const l = locals(res);
    l.session = l.session?.principal ? l.session : d.sessions.start(req, res);
    l.principal = undefined;
    send(res, { title: 'Sign in' }, signInForm(l.session.csrf));
  });

  r.post('/signin', async (req, res) => {
    const body = req.body as Record<string, unknown>;
    const name = typeof body.name === 'string' ? body.name.trim().slice(0, 64) : '';
    const token = typeof body.token === 'string' ? body.token : '';
    const address = req.ip ?? 'unknown';
    const l = locals(res);
    const wait = d.limiter.retryAfter(address, name);
    if (wait > 0) {
      await d.access.audit(req, res, { actor: name || '(no name)', action: 'sign-in', parameters: { name }, result: 'denied', detail: `rate limited: ${d.limiter.limit} failed sign-ins within ${d.limiter.windowMs / 60000} min` });
      res.setHeader('Retry-After', String(wait));
      return void send(res, { title: 'Sign in' }, signInForm(l.session!.csrf, `Too many failed sign-ins from this address or for this name; try again in ${wait} s.`, name), 429);
    }
    const principal = await d.access.signIn(name, token);
    if (!principal) {
      d.limiter.fail(address, name);
      await d.access.audit(req, res, { actor: name || '(no name)', action: 'sign-in', parameters: { name }, result: 'denied', detail: 'unknown name, wrong or revoked token' });
      return void send(res, { title: 'Sign in' }, signInForm(l.session!.csrf, 'Name or token not recognised (or the token was revoked).', name), 401);
    }
    d.limiter.succeed(name);
    l.session = d.sessions.start(req, res, principal);
    l.principal = principal;
    await d.access.audit(req, res, { action: 'sign-in', parameters: { name }, result: 'allowed' });
    res.redirect(303, '/console/grid');
  });

  r.post('/signout', (req, res) => {
    d.sessions.end(req, res);
    res.redirect(303, '/console/signin');
  });

  r.use(d.access.require('read'));
  r.get('/', (_req, res) => res.redirect(303, '/console/grid'));

  r.get('/grid', async (req, res) => {
    const n = Math.min(Math.max(Number(req.query.days) || GRID_DAYS.default, 1), GRID_DAYS.max);
    send(res, { title: 'Days × jobs', current: 'grid' }, await gridBody(d, n, allows(locals(res).principal!.role, 'rerun')));
  });

  r.get('/runs', async (req, res) => {
    const job = typeof req.query.job === 'string' && Object.hasOwn(JOBS, req.query.job) ? req.query.job : undefined;
    const day = typeof req.query.day === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(req.query.day) ? req.query.day : undefined;
    send(res, { title: `Runs${job ? ` of ${job}` : ''}${day ? ` covering ${day}` : ''}`, current: 'grid' }, await runsBody(d, job, day));
  });

  r.get('/runs/:id', async (req, res) => {
    const id = Number(req.params.id);
    const body = Number.isInteger(id) ? await runBody(d, id) : undefined;
    if (!body) return void send(res, { title: 'No such run' }, html`<p>No run ${String(req.params.id)}.</p>`, 404);
    send(res, { title: `Run ${id}`, current: 'grid' }, body);
  });

  r.get('/runs/:id/deliveries/:did/:what', async (req, res) => {
    const v = await deliveryOfRun(d, Number(req.params.id) || 0, Number(req.params.did) || 0);
    // Only the files a delivery of this run recorded are ever served.
    if (v && req.params.what === 'workbook' && v.attachment && existsSync(v.attachment)) return void res.download(v.attachment, path.basename(v.attachment));
    if (v && req.params.what === 'email' && v.transport === 'file' && v.location && existsSync(v.location)) {
      return void send(res, { title: `Email: ${v.subject ?? v.report}`, current: 'grid' }, emailBody(v));
    }
    send(res, { title: 'Not found' }, html`<p>Nothing recorded to show.</p>`, 404);
  });

  r.get('/rerun', d.access.require('rerun'), async (req, res) => {
    const q = req.query as Record<string, unknown>;
    if (!q.preview) return void send(res, { title: 'Rerun / backfill', current: 'rerun' }, formBody(d.cfg, { job: typeof q.job === 'string' ? q.job : undefined }));
    try {
      const f = rerunForm(d.cfg, q);
      send(res, { title: 'Rerun / backfill', current: 'rerun' }, formBody(d.cfg, f, previewBody(locals(res).session!.csrf, f, await previewDays(d, f))));
    } catch (e) {
      if (!(e instanceof CallerInputError)) throw e;
      send(res, { title: 'Rerun / backfill', current: 'rerun' }, formBody(d.cfg, {}, undefined, e.message), 400);
    }
  });

  r.post('/rerun', d.access.require('rerun', 'rerun'), async (req, res) => {
    const l = locals(res);
    let f: ReturnType<typeof rerunForm>;
    try {
      f = rerunForm(d.cfg, req.body as Record<string, unknown>);
    } catch (e) {
      if (!(e instanceof CallerInputError)) throw e;
      await d.access.audit(req, res, { action: 'rerun', parameters: paramsOf(req), result: 'failed', detail: e.message });
      return void send(res, { title: 'Rerun / backfill', current: 'rerun' }, formBody(d.cfg, {}, undefined, e.message), 400);
    }
    const days = (await previewDays(d, f)).filter((x) => x.runs).map((x) => x.day);
    const parameters = { job: f.job, days, dependents: f.dependents, reason: f.reason, policy: f.policy };
    if (days.length === 0) {
      await d.access.audit(req, res, { action: 'rerun', parameters, result: 'failed', detail: 'no day to run under the policy' });
      return void send(res, { title: 'Rerun / backfill', current: 'rerun' }, formBody(d.cfg, f, undefined, 'Nothing to run under this policy.'), 400);
    }
    try {
      const q = await requestRerun(d.cfg, d.connection, 'console', l.principal!, { job: f.job, days, dependents: f.dependents, reason: f.reason });
      await d.access.audit(req, res, { action: 'rerun', parameters: { ...parameters, jobId: q.jobId, deduplicated: q.deduplicated }, result: 'allowed' });
      res.redirect(303, `/console/follow/${encodeURIComponent(f.job)}/${encodeURIComponent(q.jobId)}`);
    } catch (e) {
      await d.access.audit(req, res, { action: 'rerun', parameters, result: 'failed', detail: (e as Error).message });
      throw e;
    }
  });

  const queueOf = (name: unknown) => (typeof name === 'string' && (Object.hasOwn(JOBS, name) || name === DEPENDENTS_QUEUE) ? name : undefined);

  r.get('/follow/:queue/:id', async (req, res) => {
    const queue = queueOf(req.params.queue);
    const id = String(req.params.id);
    const s = queue && JOB_ID.test(id) ? await jobState(d.cfg, d.connection, queue, id) : null;
    if (!s) return void send(res, { title: 'No such job' }, html`<p>No job ${id} (it may have been removed).</p>`, 404);
    send(res, { title: `Following ${s.name}`, current: 'queue' }, followBody(queue!, id, (s.data as { days?: string[] }).days ?? []));
  });

  r.get('/jobs/:queue/:file', async (req, res) => {
    const queue = queueOf(req.params.queue);
    const id = String(req.params.file).replace(/\.json$/, '');
    const s = queue && JOB_ID.test(id) ? await jobState(d.cfg, d.connection, queue, id) : null;
    if (!s) return void res.status(404).json({ error: 'no such job' });
    res.json(s);
  });

  r.get('/queue', async (_req, res) => {
    const l = locals(res);
    send(res, { title: 'Queue', current: 'queue' }, await queueBody(d, l.session!.csrf, allows(l.principal!.role, 'cancel')));
  });

  r.post('/queue/cancel', d.access.require('cancel', 'cancel'), async (req, res) => {
    const body = req.body as Record<string, unknown>;
    const queue = queueOf(body.queue);
    const id = String(body.id ?? '');
    try {
      if (!queue || !JOB_ID.test(id)) throw new QueueActionError('queue and id must name a job');
      const { days } = await cancelJob(d, queue, id);
      await d.access.audit(req, res, { action: 'cancel', parameters: { queue, id, days }, result: 'allowed' });
      res.redirect(303, '/console/queue');
    } catch (e) {
      await d.access.audit(req, res, { action: 'cancel', parameters: { queue: body.queue, id }, result: 'failed', detail: (e as Error).message });
      if (!(e instanceof QueueActionError)) throw e;
      send(res, { title: 'Queue', current: 'queue' }, html`<p class="error">${e.message}</p><p><a href="/console/queue">Back to the queue</a></p>`, 409);
    }
  });

  r.post('/queue/retry', d.access.require('retry', 'retry'), async (req, res) => {
    const body = req.body as Record<string, unknown>;
    const queue = queueOf(body.queue);
    const id = String(body.id ?? '');
    try {
      if (!queue || queue === DEPENDENTS_QUEUE || !JOB_ID.test(id)) throw new QueueActionError('queue and id must name a failed job');
      const { job, days } = await failedDaysOf(d, queue, id);
      if (days.length === 0) throw new QueueActionError(`every day of job ${id} has succeeded since; nothing to retry`);
      const q = await requestRerun(d.cfg, d.connection, 'console', locals(res).principal!, { job: queue, days, dependents: [], reason: `retry of the failed days of job ${id}${job.data.reason ? `: ${job.data.reason}` : ''}`.slice(0, 512) });
      await d.access.audit(req, res, { action: 'retry', parameters: { queue, id, days, jobId: q.jobId }, result: 'allowed' });
      res.redirect(303, `/console/follow/${encodeURIComponent(queue)}/${encodeURIComponent(q.jobId)}`);
    } catch (e) {
      await d.access.audit(req, res, { action: 'retry', parameters: { queue: body.queue, id }, result: 'failed', detail: (e as Error).message });
      if (!(e instanceof QueueActionError)) throw e;
      send(res, { title: 'Queue', current: 'queue' }, html`<p class="error">${e.message}</p><p><a href="/console/queue">Back to the queue</a></p>`, 409);
    }
  });

  r.get('/schedules', (_req, res) => send(res, { title: 'Schedules', current: 'schedules' }, schedulesBody(d)));

  const eventsPage = async (res: Response, message?: string, status = 200) => {
    const l = locals(res);
    const body = await spcEventsBody(d, { canAcknowledge: allows(l.principal!.role, 'acknowledge'), csrf: l.session?.csrf, message });
    send(res, { title: 'SPC events', current: 'spc-events' }, body, status);
  };
  r.get('/spc-events', async (_req, res) => {
    if (!locals(res).spcEvents) return void send(res, { title: 'SPC events' }, html`<p>No <code>spc_events</code> table in the target yet: this page appears once the SPC events migration has run.</p>`, 404);
    await eventsPage(res);
  });

  r.post('/spc-events/:id/ack', d.access.require('acknowledge', 'spc-ack'), async (req, res) => {
    const id = Number(req.params.id);
    if (!Number.isInteger(id) || id < 1) return void (await eventsPage(res, 'The event id must be a whole number.', 400));
    const r = await acknowledgeAudited(d.ctx, d.access, req, res, id, `console:${locals(res).principal!.name}`);
    if (r.status === 200) return void res.redirect(303, '/console/spc-events');
    await eventsPage(res, (r.body as { error: string }).error, r.status);
  });

  r.get('/audit', async (req, res) => {
    const f = auditFilter(req.query as Record<string, unknown>);
    send(res, { title: 'Audit', current: 'audit' }, await auditBody(d, f));
  });

  return r;
}
