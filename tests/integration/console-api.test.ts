/**
 * The admin server's access rules over real HTTP, on a real SQLite target and the shared Redis
 * under a queue prefix of its own: bearer tokens per user and role, the bootstrap ADMIN_TOKEN,
 * the console's CSRF tokens and sign-in rate limit, security headers, a read-only Bull Board for
 * admins only, and the audit rows, denied attempts included.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Job } from 'bullmq';
import { openQueue } from '../../jobs/queues.js';
import { listAudit } from '../../jobs/console/audit.js';
import { ADMIN_TOKEN, connection, consoleFixture, signInOverHttp, type ConsoleFixture } from '../support/console.js';

describe('admin server access', () => {
  let f: ConsoleFixture;
  beforeAll(async () => {
    f = await consoleFixture({ signInLimit: 3 });
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
    for (let i = 0; i < 3; i++) expect((await signInOverHttp(f.server.url, 'vera', 'vera.wrong')).status).toBe(401);
    const limited = await signInOverHttp(f.server.url, 'vera', f.tokens.viewer);
    expect(limited.status).toBe(429);
    expect(Number(limited.response.headers.get('retry-after'))).toBeGreaterThan(0);
    const rows = await listAudit(f.ctx, { actor: 'vera', action: 'sign-in' });
    expect(rows.map((r) => r.result)).toEqual(['denied', 'denied', 'denied', 'denied']);
    expect(rows[0]!.detail).toMatch(/rate limited/);
  });

  it('Bull Board: admins only, and read-only', async () => {
    const basic = (token: string) => ({ authorization: `Basic ${Buffer.from(`x:${token}`).toString('base64')}` });
    expect((await fetch(`${f.server.url}/admin/queues`, { headers: basic(f.tokens.operator) })).status).toBe(403);
    expect((await fetch(`${f.server.url}/admin/queues`, { headers: basic(ADMIN_TOKEN) })).status).toBe(200);
    const retry = await fetch(`${f.server.url}/admin/queues/api/queues/defect-trace/retry/failed`, { method: 'PUT', headers: basic(ADMIN_TOKEN) });
    expect(retry.status).toBe(405);
  });
});
