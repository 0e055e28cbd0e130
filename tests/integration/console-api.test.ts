/**
 * The admin server's access rules over real HTTP, on a real SQLite target and the shared Redis
 * under a queue prefix of its own: bearer tokens per user and role, the bootstrap ADMIN_TOKEN,
 * the console's CSRF tokens and sign-in rate limit, security headers, a read-only Bull Board for
 * admins only, and the audit rows, denied attempts included.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Job } from 'bullmq';
import { openQueue } from '../../jobs/queues.js';
import { enqueue } from '../../jobs/enqueue.js';
import { startWorker } from '../../jobs/worker.js';
import { JOBS, type JobDefinition } from '../../jobs/registry.js';
import { silentLog } from '../support/backends.js';
import { runCli, waitFor, writeConfigFile } from '../support/worker-process.js';
import { listAudit } from '../../jobs/console/audit.js';
import { ADMIN_TOKEN, connection, consoleFixture, signInOverHttp, type ConsoleFixture } from '../support/console.js';

describe('admin server access', () => {
  let f: ConsoleFixture;
  beforeAll(async () => {
    f = await consoleFixture();
  });
  afterAll(async () => f?.close());

  const api = (path: string, token: string | undefined, body?: unknown) =>
    fetch(`${f.server.url}${path}`, {
      method: body === undefined ? 'GET' : 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  const rerun = { job: 'defect-trace', date: '2026-11-20', requestedBy: 'someone else', reason: 'MES fixed' };

  it('each user by their own token: viewers read, operators rerun as themselves, revoked and unknown tokens are refused; all of it audited', async () => {
    expect((await api('/api/runs', f.tokens.viewer)).status).toBe(200);
    const denied = await api('/api/reruns', f.tokens.viewer, rerun);
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { error: string }).error).toMatch(/vera is viewer; rerun needs operator/);
    expect((await api('/api/runs', f.tokens.revoked)).status).toBe(401);
    expect((await api('/api/runs', `${f.tokens.operator}x`)).status).toBe(401);
    expect((await api('/api/reruns', 'olga.guessed', rerun)).status).toBe(401);

    const ok = await api('/api/reruns', f.tokens.operator, rerun);
    expect(ok.status).toBe(202);
    const { jobId } = (await ok.json()) as { jobId: string };
    const queue = openQueue(f.cfg, 'defect-trace', connection);
    const job = await Job.fromId(queue, jobId);
    // Who asked is the token's user; what the body claims is only an annotation in the audit.
    expect(job?.data).toMatchObject({ triggeredBy: 'api:olga', days: ['2026-11-20'], reason: 'MES fixed' });
    // Behind the schedule: prioritized, so a job without priority (a scheduled run) starts first.
    expect(job?.opts.priority).toBeGreaterThan(0);
    expect(await job?.getState()).toBe('prioritized');
    await queue.close();

    expect((await api('/api/reruns', ADMIN_TOKEN, { ...rerun, date: '2026-11-21' })).status).toBe(202);

    const audit = await listAudit(f.ctx, { action: 'rerun' });
    expect(audit.map((a) => [a.actor, a.role, a.via, a.result])).toEqual([
      ['admin', 'admin', 'api', 'allowed'],
      ['olga', 'operator', 'api', 'allowed'],
      ['vera', 'viewer', 'api', 'denied'],
    ]);
    expect(audit[1]!.parameters).toMatchObject({ job: 'defect-trace', requestedBy: 'someone else', jobId });
    expect(audit[1]!.address).toMatch(/127\.0\.0\.1/);
    const strangers = await listAudit(f.ctx, { actor: '(unauthenticated)' });
    expect(strangers.filter((a) => a.action === 'POST /api/reruns' && a.result === 'denied')).toHaveLength(1);
  });

  it('security headers on every page: a strict CSP without inline code, no sniffing, no framing, no referrer', async () => {
    for (const path of ['/console/signin', '/api/runs', '/console/static/console.js']) {
      const res = await fetch(`${f.server.url}${path}`);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp, path).toContain("script-src 'self'");
      expect(csp).toContain("style-src 'self'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(csp).not.toContain('unsafe-inline');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    }
    const page = await (await fetch(`${f.server.url}/console/signin`)).text();
    expect(page).not.toMatch(/<script>|<style|style="/);
  });

  it('console: the session cookie is HttpOnly and SameSite=Strict, Secure behind TLS; a form without its CSRF token is refused and audited', async () => {
    const s = await signInOverHttp(f.server.url, 'olga', f.tokens.operator);
    expect(s.status).toBe(303);
    const setCookie = s.response.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    expect(setCookie).not.toMatch(/Secure/);

    const form = { job: 'defect-trace', from: '2026-11-10', to: '2026-11-10', policy: 'all', reason: 'csrf test' };
    const post = (csrf?: string) =>
      fetch(`${f.server.url}/console/rerun`, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie: s.cookie, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ ...form, ...(csrf === undefined ? {} : { _csrf: csrf }) }),
      });
    expect((await post()).status).toBe(403);
    expect((await post('forged')).status).toBe(403);
    const ok = await post(s.csrf);
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toMatch(/^\/console\/follow\/defect-trace\//);
    const rows = await listAudit(f.ctx, { actor: 'olga', result: 'denied' });
    expect(rows.filter((r) => r.detail === 'missing or wrong CSRF token')).toHaveLength(2);
    expect((await listAudit(f.ctx, { actor: 'olga', action: 'rerun', result: 'allowed' }))[0]!.parameters).toMatchObject({ days: ['2026-11-10'], reason: 'csrf test' });
  });

  it('console: Secure cookie when a trusted proxy says the request came over https', async () => {
    const behind = await consoleFixture({ trustProxy: 'loopback' });
    try {
      const s = await signInOverHttp(behind.server.url, 'vera', behind.tokens.viewer, { 'x-forwarded-proto': 'https' });
      expect(s.status).toBe(303);
      expect(s.response.headers.get('set-cookie')).toMatch(/; Secure/);
    } finally {
      await behind.close();
    }
  });

  it('console: failed sign-ins are limited per address and name, the right token too once over the limit, and audited', async () => {
    // A server of its own: its limit counts this machine's address, which the other tests sign in from.
    const limited = await consoleFixture({ signInLimit: 3 });
    try {
      for (let i = 0; i < 3; i++) expect((await signInOverHttp(limited.server.url, 'vera', 'vera.wrong')).status).toBe(401);
      const refused = await signInOverHttp(limited.server.url, 'vera', limited.tokens.viewer);
      expect(refused.status).toBe(429);
      expect(Number(refused.response.headers.get('retry-after'))).toBeGreaterThan(0);
      // Another name from the same address is refused too: the address is over its limit.
      expect((await signInOverHttp(limited.server.url, 'olga', limited.tokens.operator)).status).toBe(429);
      const rows = await listAudit(limited.ctx, { actor: 'vera', action: 'sign-in' });
      expect(rows.map((r) => r.result)).toEqual(['denied', 'denied', 'denied', 'denied']);
      expect(rows[0]!.detail).toMatch(/rate limited/);
      expect(rows[3]!.detail).toMatch(/wrong or revoked token/);
    } finally {
      await limited.close();
    }
  });

  it('a backfill waits behind the nightly schedule: when both wait, the scheduled run starts first', async () => {
    const order: string[] = [];
    const spc: JobDefinition = {
      ...JOBS.spc!,
      async run(_ctx, params) {
        order.push(params.triggeredBy);
        return { runId: 0, days: params.days ?? [], primaryDays: params.days ?? [], summary: [], details: null };
      },
    };
    expect((await api('/api/reruns', f.tokens.operator, { job: 'spc', from: '2026-10-01', to: '2026-10-03', requestedBy: 'x' })).status).toBe(202);
    await enqueue(f.cfg, connection, 'spc', { triggeredBy: 'schedule:spc', schedule: 'spc', days: ['2026-11-25'] });
    const w = await startWorker({ ...f.cfg, runner: { ...f.cfg.runner, concurrency: 1 } }, silentLog, { connection, housekeeping: false, jobs: { spc } });
    try {
      await waitFor('both ran', async () => order.length === 2);
    } finally {
      await w.close();
    }
    expect(order).toEqual(['schedule:spc', 'api:olga']);
  });

  it('console: "retry failed days" queues again only the days of a failed job that failed or never ran, as the operator', async () => {
    const failing: JobDefinition = { ...JOBS['daily-yield-report']!, run: async () => Promise.reject(new Error('SMTP refused')) };
    const day = '2026-10-20';
    const r = await enqueue(f.cfg, connection, 'daily-yield-report', { triggeredBy: 'schedule:report', days: [day, '2026-10-21'] });
    const w = await startWorker({ ...f.cfg, runner: { ...f.cfg.runner, attempts: 1 } }, silentLog, { connection, housekeeping: false, jobs: { 'daily-yield-report': failing } });
    const queue = openQueue(f.cfg, 'daily-yield-report', connection);
    try {
      await waitFor('the job failed', async () => (await queue.getJobState(r.jobId)) === 'failed');
    } finally {
      await w.close();
    }
    // One of its days succeeded since (another run covered it): only the other is retried.
    await f.ctx.target.table('etl_runs').insert({ job: 'daily-yield-report', period_from: day, period_to: day, periods: JSON.stringify([day]), triggered_by: 'cli:test', status: 'succeeded', attempt: 1, started_at: new Date() });
    const operator = await signInOverHttp(f.server.url, 'olga', f.tokens.operator);
    expect(operator.status).toBe(303);
    const res = await fetch(`${f.server.url}/console/queue/retry`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie: operator.cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: operator.csrf, queue: 'daily-yield-report', id: r.jobId }),
    });
    expect(res.status).toBe(303);
    const retried = await Job.fromId(queue, decodeURIComponent(res.headers.get('location')!.split('/').pop()!));
    expect(retried?.data).toMatchObject({ days: ['2026-10-21'], triggeredBy: 'console:olga', reason: `retry of the failed days of job ${r.jobId}` });
    await queue.close();
    expect((await listAudit(f.ctx, { action: 'retry' }))[0]).toMatchObject({ actor: 'olga', result: 'allowed', parameters: { id: r.jobId, days: ['2026-10-21'] } });
  });

  it('CLI: users add prints a token once that the API takes; list and revoke; each change audited as the CLI user', async () => {
    const file = writeConfigFile({ plant: { timezone: 'Europe/Berlin', dayStart: '06:00' }, runner: { queuePrefix: f.cfg.runner.queuePrefix, catchUp: false }, schedules: {} });
    const env = { SOURCE_DATABASE_URL: f.backend.url, LOG_LEVEL: 'silent' };
    const added = await runCli(['--config', file, 'admin', 'users', 'add', 'otto', '--role', 'operator'], env, { timeoutMs: 60_000 });
    expect(added.code).toBe(0);
    const token = /^otto\.\S+$/m.exec(added.output)?.[0];
    expect(token).toBeDefined();
    const stored = (await f.ctx.target.table('admin_users').where({ name: 'otto' }).first()) as Record<string, string>;
    expect(JSON.stringify(stored)).not.toContain(token!.split('.')[1]);
    expect(JSON.parse(stored.token_params!)).toMatchObject({ N: 32768, r: 8, p: 1 });
    expect((await api('/api/runs', token)).status).toBe(200);
    expect((await runCli(['--config', file, 'admin', 'users', 'add', 'otto', '--role', 'admin'], env, { timeoutMs: 60_000 })).code).toBe(2);
    expect((await runCli(['--config', file, 'admin', 'users', 'add', 'bad name', '--role', 'viewer'], env, { timeoutMs: 60_000 })).output).toMatch(/NAME: expected 1 to 64 letters/);
    expect((await runCli(['--config', file, 'admin', 'users', 'revoke', 'otto'], env, { timeoutMs: 60_000 })).code).toBe(0);
    const list = await runCli(['--config', file, 'admin', 'users', 'list'], env, { timeoutMs: 60_000 });
    expect(list.output).toMatch(/^otto {2}operator {2}added .* REVOKED /m);
    expect(list.output).toMatch(/^vera {2}viewer/m);
    const rerun = await runCli(['--config', file, 'rerun', 'defect-trace', '--date', '2026-10-05', '--reason', 'from the shell'], { ...env, REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' }, { timeoutMs: 60_000 });
    expect(rerun.code).toBe(0);
    const rows = await listAudit(f.ctx);
    const cli = rows.filter((r) => r.via === 'cli').map((r) => [r.action, r.result]);
    expect(cli).toEqual([['rerun', 'allowed'], ['user-revoke', 'allowed'], ['user-add', 'failed'], ['user-add', 'allowed']]);
    expect(rows.find((r) => r.action === 'rerun' && r.via === 'cli')).toMatchObject({ actor: expect.stringMatching(/^cli:.+@/), parameters: { job: 'defect-trace', days: '2026-10-05', reason: 'from the shell' } });
  }, 120_000);

  it('SPC events: listed for viewers; operators acknowledge in the console and over the API, as themselves; all audited', async () => {
    const event = (key: string) => ({
      measure: 'sep_anode_gap', chart_key: key, chart: 'I-MR', state: 'open', opened_at: new Date('2026-11-20T08:00:00Z'),
      last_flagged_at: new Date('2026-11-20T09:00:00Z'), flagged_points: 3, history: 0, first_seen_run_id: 1, last_seen_run_id: 1,
    });
    const table = () => (f.ctx.targetSchema ? f.ctx.target.withSchema(f.ctx.targetSchema).table('spc_events') : f.ctx.target.table('spc_events'));
    await table().insert([event('WND03'), event('WND07')]);
    const [first, second] = ((await table().orderBy('id').select('id')) as { id: number }[]).map((r) => Number(r.id));
    const cause = Object.keys(f.ctx.config.spc.causes)[0]!;
    const action = Object.keys(f.ctx.config.spc.actions)[0]!;
    const form = (csrf: string) => new URLSearchParams({ _csrf: csrf, cause, action, note: 'separator roll <changed>' });
    const post = (id: number, s: { cookie: string; csrf: string }) =>
      fetch(`${f.server.url}/console/spc-events/${id}/ack`, { method: 'POST', redirect: 'manual', headers: { cookie: s.cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: form(s.csrf) });

    // A viewer sees both, without a form, and may not acknowledge.
    const viewer = await signInOverHttp(f.server.url, 'vera', f.tokens.viewer);
    const seen = await (await fetch(`${f.server.url}/console/spc-events`, { headers: { cookie: viewer.cookie } })).text();
    expect(seen).toContain('WND03');
    expect(seen).toContain('WND07');
    expect(seen).not.toContain('/ack"');
    expect((await post(first!, viewer)).status).toBe(403);

    // An operator gets the form and acknowledges as herself; the note is shown escaped.
    const operator = await signInOverHttp(f.server.url, 'olga', f.tokens.operator);
    expect(await (await fetch(`${f.server.url}/console/spc-events`, { headers: { cookie: operator.cookie } })).text()).toContain(`action="/console/spc-events/${first}/ack"`);
    const ok = await post(first!, operator);
    expect(ok.status).toBe(303);
    const after = await (await fetch(`${f.server.url}/console/spc-events`, { headers: { cookie: operator.cookie } })).text();
    expect(after).toContain('console:olga');
    expect(after).toContain('separator roll &lt;changed&gt;');
    expect((await post(first!, operator)).status).toBe(409); // acknowledged once only

    // Over the API: a viewer's token is refused, an operator's acknowledges as the token's user, whatever `by` says.
    expect((await api(`/api/spc/events/${second}/ack`, f.tokens.viewer, { cause, action })).status).toBe(403);
    const r = await api(`/api/spc/events/${second}/ack`, f.tokens.operator, { cause, action, by: 'someone else' });
    expect(r.status).toBe(200);
    expect(((await r.json()) as { acknowledgedBy: string }).acknowledgedBy).toBe('api:olga');
    expect((await api(`/api/spc/events/${second}/ack`, f.tokens.operator, { cause: 'NO_SUCH', action })).status).toBe(400); // not a configured cause

    const audit = await listAudit(f.ctx, { action: 'spc-ack' });
    expect(audit.map((a) => [a.actor, a.result]).sort()).toEqual([
      ['olga', 'allowed'], ['olga', 'allowed'], ['olga', 'failed'], ['olga', 'failed'], ['vera', 'denied'], ['vera', 'denied'],
    ]);
  });

  it('Bull Board: admins only, and read-only', async () => {
    const basic = (token: string) => ({ authorization: `Basic ${Buffer.from(`x:${token}`).toString('base64')}` });
    expect((await fetch(`${f.server.url}/admin/queues`, { headers: basic(f.tokens.operator) })).status).toBe(403);
    expect((await fetch(`${f.server.url}/admin/queues`, { headers: basic(ADMIN_TOKEN) })).status).toBe(200);
    const retry = await fetch(`${f.server.url}/admin/queues/api/queues/defect-trace/retry/failed`, { method: 'PUT', headers: basic(ADMIN_TOKEN) });
    expect(retry.status).toBe(405);
  });
});
