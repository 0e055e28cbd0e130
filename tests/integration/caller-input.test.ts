/**
 * What callers may ask for, at the edge: the admin API (real HTTP server) and the CLI (real
 * processes) on the shared Redis under a queue prefix of their own. Every refused request is
 * answered with the field and its limit, and nothing is queued for it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { Queue } from 'bullmq';
import { createBackend, configFor, openMigrated, silentLog, type Backend } from '../support/backends.js';
import { runCli, writeConfigFile } from '../support/worker-process.js';
import { capturingLog } from '../support/logs.js';
import { startAdminServer, type AdminServer } from '../../jobs/admin-server.js';
import { JOBS } from '../../jobs/registry.js';
import { DEPENDENTS_QUEUE, redisConnection } from '../../jobs/queues.js';
import { SCHEDULE_QUEUE } from '../../jobs/schedules.js';
import { StartRefusedError } from '../../jobs/start-refused.js';
import type { ResolvedConfig } from '../../config/load.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const connection = redisConnection(REDIS_URL);
const TOKEN = 'caller-input-test-token-0123456789';

describe('caller input at the edge', () => {
  let backend: Backend;
  let cfg: ResolvedConfig;
  let server: AdminServer;
  let file: string;
  const { log, lines } = capturingLog();

  beforeAll(async () => {
    backend = await createBackend('sqlite');
    cfg = configFor(backend, { runner: { queuePrefix: `yrc${randomBytes(4).toString('hex')}`, catchUp: false } });
    const ctx = await openMigrated(cfg);
    await ctx.close();
    server = await startAdminServer(cfg, log, { port: 0, host: '127.0.0.1', token: TOKEN, connection });
    file = writeConfigFile({ plant: { timezone: 'Europe/Berlin', dayStart: '06:00' }, runner: { queuePrefix: cfg.runner.queuePrefix, catchUp: false }, schedules: {} });
  });
  afterAll(async () => {
    await server?.close();
    const r = new Redis(REDIS_URL);
    const keys = await r.keys(`${cfg.runner.queuePrefix}:*`);
    if (keys.length) await r.del(...keys);
    r.disconnect();
    await backend?.cleanup();
  });

  const post = (body: string, token: string | null = TOKEN) =>
    fetch(`${server.url}/api/reruns`, { method: 'POST', body, headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) } });
  const rerun = (fields: Record<string, unknown>) => post(JSON.stringify({ job: 'nightly-summary', date: '2026-11-20', requestedBy: 'carol', ...fields }));

  /** Jobs in every queue of the prefix, and the dedup markers an enqueue leaves. */
  async function queued(): Promise<number> {
    let n = 0;
    for (const name of [...Object.keys(JOBS), SCHEDULE_QUEUE, DEPENDENTS_QUEUE]) {
      const q = new Queue(name, { connection, prefix: cfg.runner.queuePrefix });
      n += Object.values(await q.getJobCounts()).reduce((a, b) => a + b, 0);
      await q.close();
    }
    const r = new Redis(REDIS_URL);
    n += (await r.keys(`${cfg.runner.queuePrefix}:*:enqueued:*`)).length;
    r.disconnect();
    return n;
  }

  it('admin API: inherited names, long text, centuries of days, broken or huge bodies: 400 / 413 naming the field, nothing queued', async () => {
    for (const job of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      const res = await rerun({ job });
      expect(res.status, job).toBe(400);
      expect(await res.json()).toMatchObject({ field: 'job', error: expect.stringContaining(`unknown job '${job}'`) });
    }
    const dep = await rerun({ dependents: ['spc', 'constructor'] });
    expect(dep.status).toBe(400);
    expect(await dep.json()).toMatchObject({ field: 'dependents[1]', error: expect.stringContaining("unknown job 'constructor'") });
    expect((await rerun({ dependents: 'spc' })).status).toBe(400);

    const reason = await rerun({ reason: 'r'.repeat(513) });
    expect(reason.status).toBe(400);
    expect(await reason.json()).toEqual({ field: 'reason', limit: 512, error: 'reason: at most 512 characters, got 513' });
    expect((await rerun({ reason: 42 })).status).toBe(400);
    const who = await rerun({ requestedBy: 'w'.repeat(129) });
    expect(who.status).toBe(400);
    expect(await who.json()).toEqual({ field: 'requestedBy', limit: 128, error: 'requestedBy: at most 128 characters, got 129' });

    const centuries = await rerun({ date: undefined, from: '1900-01-01', to: '2999-12-31' });
    expect(centuries.status).toBe(400);
    expect(await centuries.json()).toEqual({
      field: 'to',
      limit: 400,
      error: 'to: 1900-01-01 … 2999-12-31 is 401767 days; at most 400 at once (runner.maxRangeDays) unless force: true',
    });
    expect((await rerun({ from: '2026-01-01', to: '2026-12-31', force: 'yes' })).status).toBe(400);

    // Bodies are read after the token: a stranger gets 401 whatever they send.
    const huge = JSON.stringify({ job: 'nightly-summary', date: '2026-11-20', requestedBy: 'x', reason: 'x'.repeat(10 * 1024 * 1024) });
    expect((await post(huge, null)).status).toBe(401);
    expect((await post('{"job": "nightly-', null)).status).toBe(401);
    const tooLarge = await post(huge);
    expect(tooLarge.status).toBe(413);
    expect(await tooLarge.json()).toEqual({ error: 'request body over 64kb' });
    const malformed = await post('{"job": "nightly-');
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { error: string }).error).toMatch(/^malformed JSON body/);
    expect((await post('[1, 2]')).status).toBe(400);

    expect(await queued()).toBe(0);
  });

  it('admin API: the limits themselves are accepted; a forced long range is queued and logged by its ends and count', async () => {
    const ok = await rerun({ reason: 'r'.repeat(512), requestedBy: 'w'.repeat(128) });
    expect(ok.status).toBe(202);
    const forced = await rerun({ date: undefined, from: '2025-01-01', to: '2026-02-05', force: true });
    expect(forced.status).toBe(202);
    expect(((await forced.json()) as { days: string[] }).days).toHaveLength(401);
    const line = lines().find((l) => l.msg === 'rerun requested over HTTP' && typeof l.days === 'object' && !Array.isArray(l.days));
    expect(line?.days).toEqual({ first: '2025-01-01', last: '2026-02-05', count: 401 });
    expect(lines().find((l) => l.msg === 'rerun requested over HTTP' && Array.isArray(l.days))?.days).toEqual(['2026-11-20']);
  });

  it('admin API: queue internals are never served as jobs', async () => {
    const r = new Redis(REDIS_URL);
    // The queue's own keys exist (the reruns above made them), so a lookup by that name would find something.
    expect(await r.exists(`${cfg.runner.queuePrefix}:nightly-summary:meta`)).toBe(1);
    r.disconnect();
    for (const id of ['meta', 'events', 'id', 'wait', 'marker', 'stalled-check']) {
      const res = await fetch(`${server.url}/api/jobs/nightly-summary/${id}`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(res.status, id).toBe(404);
    }
    for (const queue of ['constructor', '__proto__', 'toString']) {
      const res = await fetch(`${server.url}/api/jobs/${queue}/1`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(res.status, queue).toBe(404);
    }
  });

  it('admin server: a short token or no token refused on any address but loopback', async () => {
    await expect(startAdminServer(cfg, silentLog, { port: 0, host: '0.0.0.0', token: 'x', connection })).rejects.toThrow(StartRefusedError);
    await expect(startAdminServer(cfg, silentLog, { port: 0, host: '0.0.0.0', token: 'x'.repeat(23), connection })).rejects.toThrow(/ADMIN_TOKEN has 23 characters; on 0\.0\.0\.0.* at least 24/);
    await expect(startAdminServer(cfg, silentLog, { port: 0, host: '0.0.0.0', noAuth: true, connection })).rejects.toThrow(/--no-auth is allowed only on a loopback address/);
    const public24 = await startAdminServer(cfg, silentLog, { port: 0, host: '0.0.0.0', token: 'x'.repeat(24), connection });
    await public24.close();
    // On loopback a short token is the admin's own business.
    const local = await startAdminServer(cfg, silentLog, { port: 0, host: '127.0.0.1', token: 'x', connection });
    await local.close();
  });

  // One test per refusal: each spawns a CLI process, and a long test starves vitest's own messages on a busy machine.
  const cliRefusals: [string, string[], string, NodeJS.ProcessEnv?][] = [
    ['an inherited job name (rerun)', ['rerun', 'constructor', '--date', '2026-11-20'], "unknown job 'constructor'"],
    ['an inherited job name (run)', ['run', 'toString', '--date', '2026-11-20'], "unknown job 'toString'"],
    ['an inherited dependent', ['rerun', 'nightly-summary', '--date', '2026-11-20', '--dependents', 'spc,__proto__'], "unknown job '__proto__'"],
    ['a reason over 512 characters', ['rerun', 'nightly-summary', '--date', '2026-11-20', '--reason', 'r'.repeat(513)], '--reason: at most 512 characters, got 513'],
    ['a triggered-by over 128 characters', ['rerun', 'nightly-summary', '--date', '2026-11-20', '--triggered-by', 'w'.repeat(129)], '--triggered-by: at most 128 characters, got 129'],
    ['centuries of days (rerun)', ['rerun', 'nightly-summary', '--from', '1900-01-01', '--to', '2999-12-31'], 'is 401767 days; at most 400 at once (runner.maxRangeDays) unless --force'],
    ['years of days (run)', ['run', 'nightly-summary', '--from', '2020-01-01', '--to', '2026-01-01'], 'at most 400 at once (runner.maxRangeDays) unless --force'],
    ['a short token on a public address', ['admin', '--host', '0.0.0.0', '--port', '0'], 'ADMIN_TOKEN has 5 characters', { ADMIN_TOKEN: 'short' }],
    ['--no-auth on a public address', ['admin', '--host', '0.0.0.0', '--port', '0', '--no-auth'], '--no-auth is allowed only on a loopback address'],
  ];
  it.each(cliRefusals)('CLI: %s exits 2 naming the option and its limit, nothing queued', async (_what, args, message, extra) => {
    const before = await queued();
    const env = { SOURCE_DATABASE_URL: backend.url, REDIS_URL, LOG_LEVEL: 'silent', ...(extra ?? {}) };
    const r = await runCli(['--config', file, ...args], env, { timeoutMs: 50_000 });
    expect(r.code).toBe(2);
    expect(r.output).toContain(message);
    expect(await queued()).toBe(before);
  }, 60_000);
});
