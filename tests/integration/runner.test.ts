/**
 * The job runner on real Redis with real BullMQ workers (in this process, and as `yieldrun worker`
 * child processes that a test kills), over summaries in a real PostgreSQL schema.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { simpleParser, type AddressObject } from 'mailparser';
import { Redis } from 'ioredis';
import { Queue, QueueEvents } from 'bullmq';
import { DateTime } from 'luxon';
import { createBackend, configFor, openMigrated, readSummary, silentLog, writeTestRecords, type Backend } from '../support/backends.js';
import { startCli, runCli, waitFor, writeConfigFile } from '../support/worker-process.js';
import { capturingLog } from '../support/logs.js';
import { runNightlySummary } from '../../etl/nightly-summary.js';
import { targetTable, type EtlContext } from '../../etl/context.js';
import { JOBS, type JobDefinition } from '../../jobs/registry.js';
import { startWorker, type WorkerHandle } from '../../jobs/worker.js';
import { enqueue, enqueueWithDependents } from '../../jobs/enqueue.js';
import { isFinalFailure } from '../../jobs/final-failure.js';
import { jobState } from '../../jobs/job-state.js';
import { missingDays, enqueueCatchUp } from '../../jobs/catch-up.js';
import { nextRunTimes, syncSchedules, SCHEDULE_QUEUE } from '../../jobs/schedules.js';
import { startAdminServer } from '../../jobs/admin-server.js';
import { dedupKey, redisConnection } from '../../jobs/queues.js';
import { generate } from '../../data/generate.js';
import type { ResolvedConfig } from '../../config/load.js';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const connection = redisConnection(REDIS_URL);

async function dropPrefix(prefix: string): Promise<void> {
  const r = new Redis(REDIS_URL);
  const keys = await r.keys(`${prefix}:*`);
  if (keys.length) await r.del(...keys);
  r.disconnect();
}

/** A config on the backend with its own queue prefix and fast lock / stall checks. */
function runnerConfig(backend: Backend, overrides: Record<string, any> = {}): ResolvedConfig {
  return configFor(backend, {
    ...overrides,
    runner: { queuePrefix: `yrt${randomBytes(4).toString('hex')}`, attempts: 2, backoffMs: 100, lockDurationMs: 2_000, stalledIntervalMs: 500, catchUp: false, ...(overrides.runner ?? {}) },
  });
}

/** The same config as a file for `yieldrun worker` child processes (no schedules, so no dependents). */
function configFile(cfg: ResolvedConfig, backend: Backend): string {
  return writeConfigFile({
    plant: { timezone: cfg.plant.timezone, dayStart: cfg.plant.dayStart },
    source: { timestamps: cfg.source.timestamps, testRecords: { table: cfg.source.testRecords.table } },
    target: backend.schema ? { schema: backend.schema } : {},
    runner: cfg.runner,
    schedules: {},
    alerts: cfg.alerts,
    mail: { outDir: cfg.mail.outDir },
  });
}


/** The .eml files an alert wrote (no SMTP_URL in tests), parsed. */
async function alertsIn(outDir: string) {
  const files = await waitFor('a failure alert', async () => {
    const f = readdirSync(outDir).filter((n) => n.endsWith('.eml'));
    return f.length ? f : undefined;
  });
  return Promise.all(files.map(async (f) => simpleParser(readFileSync(path.join(outDir, f)))));
}

/** A dependent job that records the days of each run. */
function recordingProbe(): { seen: string[][]; probe: JobDefinition } {
  const seen: string[][] = [];
  const probe: JobDefinition = {
    name: 'probe',
    description: 'records its days',
    async run(_c, params) {
      seen.push(params.days ?? []);
      return { runId: 0, days: [], primaryDays: [], summary: [], details: null };
    },
  };
  return { seen, probe };
}

/** 06:30 plant time on the 22nd: the schedule fires for the production day 2026-11-21. */
const FIRED = DateTime.fromISO('2026-11-22T06:30', { zone: 'Europe/Berlin' });

const DAY = '2026-11-20';
const spec = [
  { serial: 'A1', product: 'P1', test: 'TX', machine: 'M1', at: '2026-11-20 07:00:00', result: 'FAIL', duration: 10 },
  { serial: 'A1', product: 'P1', test: 'TX', machine: 'M2', at: '2026-11-20 07:10:00', result: 'PASS', duration: 12 },
  { serial: 'A2', product: 'P1', test: 'TX', machine: 'M1', at: '2026-11-20 08:00:00', result: 'PASS', duration: 14 },
];

const dateList = (from: string, n: number) => Array.from({ length: n }, (_, i) => DateTime.fromISO(from).plus({ days: i }).toISODate()!);

describe('schedules in plant time', () => {
  it('a 02:30 Europe/Berlin job runs once on both DST change nights, never twice, never skipped', () => {
    const at = (iso: string) => DateTime.fromISO(iso, { zone: 'UTC' });
    // Spring forward: 02:30 does not exist on 2026-03-29; it runs once, at 03:30 CEST.
    expect(nextRunTimes('30 2 * * *', 'Europe/Berlin', at('2026-03-27T12:00:00Z'), 3).map((t) => t.toISO())).toEqual([
      '2026-03-28T02:30:00.000+01:00',
      '2026-03-29T03:30:00.000+02:00',
      '2026-03-30T02:30:00.000+02:00',
    ]);
    // Fall back: 02:30 happens twice on 2026-10-25; it runs once, at the first (CEST).
    expect(nextRunTimes('30 2 * * *', 'Europe/Berlin', at('2026-10-24T12:00:00Z'), 3).map((t) => t.toISO())).toEqual([
      '2026-10-25T02:30:00.000+02:00',
      '2026-10-26T02:30:00.000+01:00',
      '2026-10-27T02:30:00.000+01:00',
    ]);
    // A 06:30 job is untouched by either change: one run a day at 06:30 local.
    expect(nextRunTimes('30 6 * * *', 'Europe/Berlin', at('2026-10-24T12:00:00Z'), 2).map((t) => t.toFormat('yyyy-MM-dd HH:mm ZZ'))).toEqual([
      '2026-10-25 06:30 +01:00',
      '2026-10-26 06:30 +01:00',
    ]);
  });

  it('the worker makes Redis match the config: upserts configured schedules, removes the others', async () => {
    const backend = await createBackend('sqlite');
    const cfg = runnerConfig(backend, { schedules: { 'nightly-summary': { job: 'nightly-summary', cron: '30 6 * * *' } } });
    const queue = new Queue(SCHEDULE_QUEUE, { connection, prefix: cfg.runner.queuePrefix });
    try {
      await queue.upsertJobScheduler('old-report', { pattern: '0 7 * * *', tz: 'UTC' });
      const r = await syncSchedules(cfg, connection, silentLog);
      expect(r).toEqual({ upserted: ['nightly-summary'], removed: ['old-report'] });
      const schedulers = await queue.getJobSchedulers(0, -1);
      expect(schedulers.map((s) => [s.key, s.pattern, s.tz])).toEqual([['nightly-summary', '30 6 * * *', 'Europe/Berlin']]);
      // BullMQ's next run is 06:30 plant time.
      const next = DateTime.fromMillis(Number(schedulers[0]!.next), { zone: 'Europe/Berlin' });
      expect(next.toFormat('HH:mm')).toBe('06:30');
    } finally {
      await queue.close();
      await dropPrefix(cfg.runner.queuePrefix);
      await backend.cleanup();
    }
  });
});

describe('queued jobs on PostgreSQL', () => {
  let backend: Backend;
  let ctx: EtlContext;
  let cfg: ResolvedConfig;
  let worker: WorkerHandle | undefined;

  beforeAll(async () => {
    backend = await createBackend('postgres');
    cfg = runnerConfig(backend);
    ctx = await openMigrated(cfg);
    await writeTestRecords(ctx, spec);
  });
  afterEach(async () => {
    await worker?.close();
    worker = undefined;
  });
  afterAll(async () => {
    await ctx?.close();
    await dropPrefix(cfg.runner.queuePrefix);
    await backend?.cleanup();
  });

  const runs = () => targetTable(ctx, ctx.target, 'etl_runs').orderBy('id').select('*') as Promise<any[]>;
  const finished = (queue: string, id: string) =>
    waitFor(`job ${queue}/${id} to finish`, async () => {
      const s = await jobState(cfg, connection, queue, id);
      return s && (s.state === 'completed' || s.state === 'failed') ? s : undefined;
    });

  it('a flow runs the dependent only after the summary succeeded, for the same days, reason and resend', async () => {
    const seen: { days: string[]; summaryRows: number; reason?: string; resend?: boolean }[] = [];
    const probe: JobDefinition = {
      name: 'probe',
      description: 'records when it ran and what the summary held then',
      async run(c, params) {
        const rows = await targetTable(c, c.target, 'summary_prod_test').where({ period_type: 'day' });
        seen.push({ days: params.days ?? [], summaryRows: rows.length, reason: params.reason, resend: params.resend });
        return { runId: 0, days: params.days ?? [], primaryDays: [], summary: [], details: null };
      },
    };
    worker = await startWorker(cfg, silentLog, { connection, jobs: { ...JOBS, probe }, housekeeping: false });
    const flow = await enqueueWithDependents(cfg, connection, 'nightly-summary', { days: [DAY], triggeredBy: 'test', reason: 'MES fix', resend: true }, ['probe']);
    expect((await finished('nightly-summary', flow.jobId)).state).toBe('completed');
    await waitFor('the dependent to run', async () => seen.length > 0);
    expect(seen).toEqual([{ days: [DAY], summaryRows: 1, reason: 'MES fix', resend: true }]);
    expect((await finished('dependents', flow.parentId!)).state).toBe('completed');
  });

  it('with the summary failing, the dependent does not run, and the flow says why', async () => {
    const outDir = mkdtempSync(path.join(os.tmpdir(), 'yieldrun-alerts-'));
    const broken: ResolvedConfig = {
      ...cfg,
      source: { ...cfg.source, testRecords: { ...cfg.source.testRecords, table: backend.table('no_such_table') } },
      alerts: { admins: ['mes-admin@example.com'] },
      mail: { ...cfg.mail, outDir },
    };
    let probeRuns = 0;
    const probe: JobDefinition = {
      name: 'probe',
      description: 'counts its runs',
      async run() {
        probeRuns += 1;
        return { runId: 0, days: [], primaryDays: [], summary: [], details: null };
      },
    };
    worker = await startWorker(broken, silentLog, { connection, jobs: { ...JOBS, probe }, housekeeping: false });
    const flow = await enqueueWithDependents(broken, connection, 'nightly-summary', { days: ['2026-11-19'], triggeredBy: 'test' }, ['probe']);
    const child = await finished('nightly-summary', flow.jobId);
    expect(child.state).toBe('failed');
    expect(child.attemptsMade).toBe(2);
    expect(child.failedReason).toMatch(/no_such_table' does not exist/);
    const parent = await finished('dependents', flow.parentId!);
    expect(parent.state).toBe('failed');
    expect(parent.failedReason).toMatch(/child .* failed/i);
    expect(probeRuns).toBe(0);
    // The admins got an alert (no SMTP_URL here: written as .eml) with the command that reruns it.
    const [mail] = await alertsIn(outDir);
    expect(mail!.subject).toMatch(/nightly-summary failed .* 2026-11-19/);
    expect((mail!.to as AddressObject).text).toBe('mes-admin@example.com');
    expect(mail!.text).toContain(`yieldrun rerun nightly-summary --date 2026-11-19 --dependents probe --reason "after the failure of job ${flow.jobId}"`);
    expect(mail!.text).toContain('Not run because of it: probe.');
    expect(mail!.text).toContain("no_such_table' does not exist");
  });

  /** A config whose source table is missing, scheduled with these dependents; alerts and mail go to `outDir`. */
  const brokenSchedule = (outDir: string, dependents: string[], overrides: Partial<ResolvedConfig> = {}): ResolvedConfig => ({
    ...cfg,
    source: { ...cfg.source, testRecords: { ...cfg.source.testRecords, table: backend.table('no_such_table') } },
    schedules: { 'nightly-summary': { job: 'nightly-summary', cron: '30 6 * * *', dependents } },
    alerts: { admins: ['mes-admin@example.com'] },
    mail: { ...cfg.mail, outDir },
    ...overrides,
  });

  /** What a job scheduler adds when it fires at 06:30 plant time (the scheduler itself would wait for that time); the flow it became. */
  async function fireNightlySchedule(): Promise<{ jobId: string; parentId: string }> {
    const schedule = new Queue(SCHEDULE_QUEUE, { connection, prefix: cfg.runner.queuePrefix });
    const firing = await schedule.add('nightly-summary', { triggeredBy: 'schedule:nightly-summary', schedule: 'nightly-summary' }, { attempts: 1, timestamp: FIRED.toMillis() });
    await schedule.close();
    return (await finished(SCHEDULE_QUEUE, firing.id!)).result as { jobId: string; parentId: string };
  }

  it('a scheduled run (no days) that fails for good: the alert names the day before the firing and a rerun command with it', async () => {
    const outDir = mkdtempSync(path.join(os.tmpdir(), 'yieldrun-alerts-'));
    const probe: JobDefinition = { name: 'probe', description: 'never runs', run: () => Promise.reject(new Error('the dependent ran')) };
    worker = await startWorker(brokenSchedule(outDir, ['probe']), silentLog, { connection, jobs: { ...JOBS, probe }, housekeeping: false });
    const enqueued = await fireNightlySchedule();
    const child = await finished('nightly-summary', enqueued.jobId);
    expect(child).toMatchObject({ state: 'failed', attemptsMade: 2, data: { firedAt: FIRED.toUTC().toISO() } });
    expect((child.data as { days?: string[] }).days).toBeUndefined();
    expect((await finished('dependents', enqueued.parentId)).state).toBe('failed');
    const [mail] = await alertsIn(outDir);
    expect(mail!.subject).toMatch(/nightly-summary failed .* 2026-11-21/);
    expect(mail!.text).toMatch(/Days: +2026-11-21 \(the production day before the scheduled run at 2026-11-22 06:30 \+01:00 Europe\/Berlin\)/);
    expect(mail!.text).toContain(`yieldrun rerun nightly-summary --date 2026-11-21 --dependents probe --reason "after the failure of job ${enqueued.jobId}"`);
  });

  it('a scheduled summary that fails for good: its failed runs are in the history, and the report readers get the summary-failed notice', async () => {
    const outDir = mkdtempSync(path.join(os.tmpdir(), 'yieldrun-alerts-'));
    const reports = { ...cfg.reports, outDir, dailyYield: { ...cfg.reports.dailyYield, to: ['quality-team@example.com'] } };
    worker = await startWorker(brokenSchedule(outDir, ['daily-yield-report'], { reports }), silentLog, { connection, housekeeping: false });
    const enqueued = await fireNightlySchedule();
    expect((await finished('nightly-summary', enqueued.jobId)).state).toBe('failed');
    // Both attempts are failed runs for the day the schedule was for, with the key to fix.
    const failed = (await runs()).filter((r) => r.queue_job_id === enqueued.jobId);
    expect(failed.map((r) => [r.status, r.periods])).toEqual([
      ['failed', '["2026-11-21"]'],
      ['failed', '["2026-11-21"]'],
    ]);
    expect(failed[0].error).toMatch(/set source\.testRecords\.table/);
    // The admins' alert, and the notice to the report's recipients instead of numbers.
    const mails = await waitFor('the alert and the notice', async () => {
      const all = await Promise.all(readdirSync(outDir).filter((n) => n.endsWith('.eml')).map((f) => simpleParser(readFileSync(path.join(outDir, f)))));
      return all.length >= 2 ? all : undefined;
    });
    const notice = mails.find((m) => m.subject?.startsWith('Daily yield'))!;
    expect(notice.subject).toBe(`Daily yield 2026-11-21 · ${cfg.plant.name} · summary failed`);
    expect((notice.to as AddressObject).text).toBe('quality-team@example.com');
    expect(notice.text).toMatch(/for production day 2026-11-21 failed/);
    expect(mails.find((m) => m.subject?.startsWith('[yieldrun]'))!.subject).toMatch(/nightly-summary failed .* 2026-11-21/);
  });

  it('the failure is final when BullMQ says so, not only when the attempts are used up', () => {
    const error = { name: 'Error', message: 'boom' };
    expect(isFinalFailure({ state: 'failed', attemptsMade: 1, attempts: 3, error })).toBe(true);
    expect(isFinalFailure({ state: 'delayed', attemptsMade: 1, attempts: 3, error })).toBe(false);
    expect(isFinalFailure({ state: 'waiting', attemptsMade: 3, attempts: 3, error })).toBe(false);
    // The state could not be read (removed on fail): the error and the attempts decide.
    const stalled = { name: 'UnrecoverableError', message: 'job stalled more than allowable limit' };
    expect(isFinalFailure({ state: 'unknown', attemptsMade: 1, attempts: 3, error: stalled })).toBe(true);
    expect(isFinalFailure({ attemptsMade: 1, attempts: 3, error: { name: 'Error', message: stalled.message } })).toBe(true);
    expect(isFinalFailure({ attemptsMade: 3, attempts: 3, error })).toBe(true);
    expect(isFinalFailure({ attemptsMade: 1, attempts: 3, error })).toBe(false);
  });

  it('two concurrent reruns of the same job and days: one is queued, one runs', async () => {
    const before = (await runs()).length;
    const [a, b] = await Promise.all([
      enqueue(cfg, connection, 'nightly-summary', { days: ['2026-11-18'], triggeredBy: 'alice' }),
      enqueue(cfg, connection, 'nightly-summary', { days: ['2026-11-18'], triggeredBy: 'bob' }),
    ]);
    expect([a.deduplicated, b.deduplicated].sort()).toEqual([false, true]);
    expect(a.jobId).toBe(b.jobId);
    // The CLI says so too.
    const file = configFile(cfg, backend);
    const cli = await runCli(['--config', file, 'rerun', 'nightly-summary', '--date', '2026-11-18'], { SOURCE_DATABASE_URL: backend.url, REDIS_URL });
    expect(cli.code).toBe(0);
    expect(cli.output).toContain(`already queued as job ${a.jobId} (waiting); not enqueued again`);

    worker = await startWorker(cfg, silentLog, { connection, housekeeping: false });
    expect((await finished('nightly-summary', a.jobId)).state).toBe('completed');
    const after = (await runs()).slice(before);
    expect(after.map((r) => [r.period_from, r.status])).toEqual([['2026-11-18', 'succeeded']]);
  });

  it('two concurrent flow reruns of the same job and days: one is queued, and the CLI and API say so', async () => {
    const { seen, probe } = recordingProbe();
    const before = (await runs()).length;
    const day = '2026-11-12';
    const [a, b] = await Promise.all(
      ['alice', 'bob'].map((who) => enqueueWithDependents(cfg, connection, 'nightly-summary', { days: [day], triggeredBy: who }, ['probe'])),
    );
    expect([a!.deduplicated, b!.deduplicated].sort()).toEqual([false, true]);
    expect(a!.jobId).toBe(b!.jobId);
    const queued = a!.deduplicated ? b! : a!;
    expect(a!.parentId).toBe(queued.parentId);
    // Alone or in a flow, the same job and days are one piece of work.
    expect(await enqueue(cfg, connection, 'nightly-summary', { days: [day], triggeredBy: 'carol' })).toMatchObject({ jobId: queued.jobId, deduplicated: true, state: 'waiting' });
    // Resend is part of the key, and so is every day (not only the ends and the count).
    expect(dedupKey('nightly-summary', [day], true)).not.toBe(dedupKey('nightly-summary', [day]));
    expect(dedupKey('j', ['2026-11-01', '2026-11-02', '2026-11-04'])).toBe('j:2026-11-01..2026-11-02,2026-11-04');
    expect(dedupKey('j', ['2026-11-01', '2026-11-03', '2026-11-04'])).toBe('j:2026-11-01,2026-11-03..2026-11-04');

    const server = await startAdminServer(cfg, silentLog, { port: 0, host: '127.0.0.1', token: 't0k3n', connection });
    try {
      const res = await fetch(`${server.url}/api/reruns`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer t0k3n' },
        body: JSON.stringify({ job: 'nightly-summary', date: day, requestedBy: 'dave', dependents: ['daily-yield-report'] }),
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ jobId: queued.jobId, parentId: queued.parentId, deduplicated: true });
    } finally {
      await server.close();
    }
    const cli = await runCli(['--config', configFile(cfg, backend), 'rerun', 'nightly-summary', '--date', day, '--dependents', 'spc'], { SOURCE_DATABASE_URL: backend.url, REDIS_URL });
    expect(cli.code).toBe(0);
    expect(cli.output).toContain(`already queued as job ${queued.jobId} (waiting) (its dependents: flow ${queued.parentId}); not enqueued again`);

    worker = await startWorker(cfg, silentLog, { connection, jobs: { ...JOBS, probe }, housekeeping: false });
    expect((await finished('dependents', queued.parentId!)).state).toBe('completed');
    await waitFor('the dependent to run', async () => seen.length > 0);
    expect(seen).toEqual([[day]]);
    expect((await runs()).slice(before).map((r) => [r.period_from, r.status])).toEqual([[day, 'succeeded']]);
    // No flow parent was left waiting for a child that was never added.
    const parents = new Queue('dependents', { connection, prefix: cfg.runner.queuePrefix });
    expect(await parents.getWaitingChildrenCount()).toBe(0);
    await parents.close();
  }, 60_000);

  it('catch-up enqueues exactly the days in the lookback without a successful summary, oldest first', async () => {
    // Lookback 7 before yesterday (2026-11-21 at 07:00 on the 22nd): 2026-11-14 … 2026-11-21.
    // Succeeded so far: 2026-11-20 (flow test) and 2026-11-18 (rerun test); 2026-11-19 only failed.
    const now = DateTime.fromISO('2026-11-22T07:00', { zone: 'Europe/Berlin' });
    const missing = ['2026-11-14', '2026-11-15', '2026-11-16', '2026-11-17', '2026-11-19', '2026-11-21'];
    expect(await missingDays(ctx, now)).toEqual(missing);
    // A caught-up night gets what a scheduled one gets: the nightly schedule's dependents.
    const withDependents: ResolvedConfig = { ...cfg, schedules: { nightly: { job: 'nightly-summary', cron: '30 6 * * *', dependents: ['probe'] } } };
    const { seen, probe } = recordingProbe();
    const queued = await enqueueCatchUp({ ...ctx, config: withDependents }, connection, silentLog, now);
    const queue = new Queue('nightly-summary', { connection, prefix: cfg.runner.queuePrefix });
    const waiting = await queue.getJobs(['wait'], 0, -1, true);
    await queue.close();
    expect(waiting.map((j) => [j.data.days, j.data.triggeredBy, j.parentKey?.split(':')[1]])).toEqual(missing.map((d) => [[d], 'catch-up', 'dependents']));
    expect(queued.summaries.every((q) => !q.deduplicated && q.parentId)).toBe(true);
    // The days whose summary succeeded without the dependent ever running get the dependent alone.
    expect(queued.dependents.map((d) => [d.job, d.day, d.deduplicated])).toEqual([
      ['probe', '2026-11-18', false],
      ['probe', '2026-11-20', false],
    ]);
    // A second catch-up while they wait queues nothing new, in either strictness.
    for (const mode of ['not-succeeded', 'never-run'] as const) {
      expect(await enqueueCatchUp({ ...ctx, config: withDependents }, connection, silentLog, now, mode)).toEqual({ summaries: [], dependents: [] });
    }
    // Running them fills the gaps, each followed by its dependent; a further catch-up finds nothing.
    worker = await startWorker(withDependents, silentLog, { connection, jobs: { ...JOBS, probe }, housekeeping: false });
    for (const q of queued.summaries) expect((await finished('nightly-summary', q.jobId)).state).toBe('completed');
    for (const q of queued.summaries) expect((await finished('dependents', q.parentId!)).state).toBe('completed');
    for (const q of queued.dependents) expect((await finished('probe', q.jobId)).state).toBe('completed');
    expect(seen.map((d) => d.join()).sort()).toEqual([...missing, '2026-11-18', '2026-11-20'].sort());
    expect(await missingDays(ctx, now)).toEqual([]);
  }, 60_000);

  it('a scheduled firing runs the summary for the day before it fired, then its dependents; the logs name the days', async () => {
    const scheduled: ResolvedConfig = { ...cfg, schedules: { 'nightly-summary': { job: 'nightly-summary', cron: '30 6 * * *', dependents: ['probe'] } } };
    const seen: { days?: string[]; triggeredBy: string }[] = [];
    const probe: JobDefinition = {
      name: 'probe',
      description: 'records its days',
      async run(_c, params) {
        seen.push({ days: params.days, triggeredBy: params.triggeredBy });
        return { runId: 0, days: [], primaryDays: [], summary: [], details: null };
      },
    };
    const { log, lines } = capturingLog();
    worker = await startWorker(scheduled, log, { connection, jobs: { ...JOBS, probe }, housekeeping: false });
    const schedule = new Queue(SCHEDULE_QUEUE, { connection, prefix: cfg.runner.queuePrefix });
    const firing = await schedule.add('nightly-summary', { triggeredBy: 'schedule:nightly-summary', schedule: 'nightly-summary' }, { attempts: 1, timestamp: FIRED.toMillis() });
    await schedule.close();
    const enqueued = (await finished(SCHEDULE_QUEUE, firing.id!)).result as { jobId: string; parentId: string };
    expect((await finished('nightly-summary', enqueued.jobId)).state).toBe('completed');
    expect((await finished('dependents', enqueued.parentId)).state).toBe('completed');
    await waitFor('the dependent to run', async () => seen.length > 0);
    // Every day up to 2026-11-21 was computed by the tests above: the firing needs just its day.
    expect(seen).toEqual([{ days: ['2026-11-21'], triggeredBy: expect.stringMatching(/^schedule:nightly-summary after run \d+$/) }]);
    const summaryLines = lines().filter((l) => l.jobId === enqueued.jobId);
    expect(summaryLines.find((l) => l.msg === 'job started')).toMatchObject({ job: 'nightly-summary', days: 'auto' });
    const once = ['days chosen', 'periods replaced', 'job succeeded'];
    expect(summaryLines.map((l) => l.msg)).toEqual(expect.arrayContaining(once));
    for (const l of summaryLines.filter((x) => once.includes(x.msg))) expect(l, l.msg).toMatchObject({ job: 'nightly-summary', days: ['2026-11-21'] });
    expect(lines().find((l) => l.msg === 'dependents enqueued')).toMatchObject({ jobId: enqueued.parentId, job: 'dependents', days: ['2026-11-21'] });
    expect(lines().find((l) => l.msg === 'scheduled run enqueued')).toMatchObject({ jobId: firing.id, job: 'nightly-summary', queue: SCHEDULE_QUEUE });
  }, 60_000);

  it('rerun --wait sees progress between the aggregate and the load, not only 0 and 100 %', async () => {
    const events = new QueueEvents('nightly-summary', { connection, prefix: cfg.runner.queuePrefix });
    await events.waitUntilReady();
    // Listening before the job exists: a worker may report its first progress before enqueue returns.
    const reported: { jobId: string; percent: number }[] = [];
    events.on('progress', ({ jobId, data }) => void reported.push({ jobId, percent: Number(data) }));
    worker = await startWorker(cfg, silentLog, { connection, housekeeping: false });
    let jobId: string;
    try {
      // One ISO week: one batch, so progress is 0 (days chosen), after the aggregate, after the load.
      jobId = (await enqueue(cfg, connection, 'nightly-summary', { days: dateList('2026-11-16', 5), triggeredBy: 'progress' })).jobId;
      expect((await finished('nightly-summary', jobId)).state).toBe('completed');
      await waitFor('the last progress event', async () => reported.some((r) => r.jobId === jobId && r.percent === 100));
    } finally {
      await events.close();
    }
    expect(reported.filter((r) => r.jobId === jobId).map((r) => r.percent)).toEqual([0, 80, 100]);
  });

  it('admin API: 401 without the token; a rerun with it; run history and job state', async () => {
    const server = await startAdminServer(cfg, silentLog, { port: 0, host: '127.0.0.1', token: 's3cret-token', connection });
    try {
      const api = (path: string, init: RequestInit = {}, token?: string) =>
        fetch(`${server.url}${path}`, { ...init, headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) } });
      expect((await api('/api/runs')).status).toBe(401);
      expect((await api('/api/runs', {}, 'wrong')).status).toBe(401);
      const board = await api('/admin/queues');
      expect(board.status).toBe(401);
      expect(board.headers.get('www-authenticate')).toMatch(/^Basic/);
      expect((await fetch(`${server.url}/admin/queues`, { headers: { authorization: `Basic ${Buffer.from('admin:s3cret-token').toString('base64')}` } })).status).toBe(200);

      expect((await api('/api/reruns', { method: 'POST', body: JSON.stringify({ job: 'nightly-summary', from: '2026-11-16', to: '2026-11-17' }) }, 's3cret-token')).status).toBe(400);
      const res = await api('/api/reruns', { method: 'POST', body: JSON.stringify({ job: 'nightly-summary', from: '2026-11-16', to: '2026-11-17', requestedBy: 'carol', reason: 'MES backfill' }) }, 's3cret-token');
      expect(res.status).toBe(202);
      const body = (await res.json()) as { jobId: string; days: string[] };
      expect(body.days).toEqual(['2026-11-16', '2026-11-17']);

      worker = await startWorker(cfg, silentLog, { connection, housekeeping: false });
      expect((await finished('nightly-summary', body.jobId)).state).toBe('completed');
      const state = (await (await api(`/api/jobs/nightly-summary/${body.jobId}`, {}, 's3cret-token')).json()) as any;
      expect(state).toMatchObject({ state: 'completed', progress: 100, data: { days: ['2026-11-16', '2026-11-17'], triggeredBy: 'api:admin' } });
      const history = (await (await api('/api/runs?limit=1', {}, 's3cret-token')).json()) as any[];
      expect(history[0]).toMatchObject({ job: 'nightly-summary', period_from: '2026-11-16', period_to: '2026-11-17', status: 'succeeded', triggered_by: 'api:admin', reason: 'MES backfill', queue_job_id: body.jobId });
      expect((await api('/api/schedules', {}, 's3cret-token')).status).toBe(200);
    } finally {
      await server.close();
    }
    await expect(startAdminServer(cfg, silentLog, { port: 0, host: '0.0.0.0', noAuth: true, connection })).rejects.toThrow(/--no-auth is allowed only on a loopback address/);
  });
});

describe('worker processes that die or are stopped (PostgreSQL, generated data)', () => {
  let backend: Backend;
  let ctx: EtlContext;
  let cfg: ResolvedConfig;
  let file: string;
  const env = () => ({ SOURCE_DATABASE_URL: backend.url, REDIS_URL });

  beforeAll(async () => {
    backend = await createBackend('postgres');
    cfg = runnerConfig(backend);
    ctx = await openMigrated(cfg);
    // Large enough that a summary runs for a few seconds.
    await generate(ctx.source, { rows: 250_000, seed: 3, start: '2026-11-18', days: 1, timezone: 'Europe/Berlin', dayStart: '06:00', timestamps: 'local', mapping: cfg.source, assembly: false });
    file = configFile(cfg, backend);
  }, 300_000);
  afterAll(async () => {
    await ctx?.close();
    await dropPrefix(cfg.runner.queuePrefix);
    await backend?.cleanup();
  });

  const snapshot = async () => ({
    pt: await readSummary(ctx, 'summary_prod_test', 'day', '2026-11-18'),
    m: await readSummary(ctx, 'summary_machine', 'day', '2026-11-18'),
    p: await readSummary(ctx, 'summary_prod', 'week', '2026-11-16'),
  });
  const runningRun = (queueJobId: string) =>
    waitFor('the summary to be running', async () => (await targetTable(ctx, ctx.target, 'etl_runs').where({ queue_job_id: queueJobId, status: 'running' }).first()) as any, 60_000, 20);

  it('SIGKILL mid-summary: another worker completes it, with the rows of an uninterrupted run', async () => {
    const first = startCli(['--config', file, 'worker'], env());
    const job = await enqueue(cfg, connection, 'nightly-summary', { days: ['2026-11-18'], triggeredBy: 'test' });
    await runningRun(job.jobId);
    first.child.kill('SIGKILL');
    await first.exited;

    const second = startCli(['--config', file, 'worker'], env());
    try {
      const done = await waitFor('the job to complete on the second worker', async () => {
        const s = await jobState(cfg, connection, 'nightly-summary', job.jobId);
        return s?.state === 'completed' ? s : undefined;
      }, 120_000, 100);
      expect(done.state).toBe('completed');
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
    const rows = (await targetTable(ctx, ctx.target, 'etl_runs').where({ queue_job_id: job.jobId }).orderBy('id')) as any[];
    expect(rows.map((r) => [r.status, r.attempt])).toEqual([['interrupted', 1], ['succeeded', 2]]);
    const afterCrash = await snapshot();
    expect(afterCrash.pt.length).toBeGreaterThan(10);
    await runNightlySummary(ctx, { days: ['2026-11-18'], triggeredBy: 'uninterrupted' });
    expect(await snapshot()).toEqual(afterCrash);
  }, 240_000);

  it('a job failed for stalling too often (attempts left) still alerts, and its dead attempt is closed in etl_runs', async () => {
    const outDir = mkdtempSync(path.join(os.tmpdir(), 'yieldrun-alerts-'));
    // One stall is too many; two attempts would otherwise be left for a failure of the job itself.
    const stalling: ResolvedConfig = {
      ...cfg,
      runner: { ...cfg.runner, queuePrefix: `${cfg.runner.queuePrefix}s`, maxStalledCount: 0 },
      alerts: { admins: ['mes-admin@example.com'] },
      mail: { ...cfg.mail, outDir },
    };
    const first = startCli(['--config', configFile(stalling, backend), 'worker'], env());
    const job = await enqueue(stalling, connection, 'nightly-summary', { days: ['2026-11-18'], triggeredBy: 'stall' });
    await runningRun(job.jobId);
    first.child.kill('SIGKILL');
    await first.exited;

    const second = await startWorker(stalling, silentLog, { connection, housekeeping: false });
    try {
      const failed = await waitFor('the stalled job to fail', async () => {
        const s = await jobState(stalling, connection, 'nightly-summary', job.jobId);
        return s?.state === 'failed' ? s : undefined;
      }, 60_000, 100);
      expect(failed.failedReason).toBe('job stalled more than allowable limit');
      expect(failed.attemptsMade).toBeLessThan(stalling.runner.attempts);
      const [mail] = await alertsIn(outDir);
      expect(mail!.subject).toMatch(/nightly-summary failed .* 2026-11-18/);
      expect(mail!.text).toContain('job stalled more than allowable limit');
      expect(mail!.text).toContain('yieldrun rerun nightly-summary --date 2026-11-18 --reason');
      const rows = await waitFor('the dead attempt to be closed', async () => {
        const r = (await targetTable(ctx, ctx.target, 'etl_runs').where({ queue_job_id: job.jobId }).orderBy('id')) as any[];
        return r.every((x) => x.status !== 'running') ? r : undefined;
      });
      expect(rows.map((r) => [r.status, r.attempt])).toEqual([['interrupted', 1]]);
    } finally {
      await second.close();
      await dropPrefix(stalling.runner.queuePrefix);
    }
  }, 240_000);

  it('SIGTERM lets the active summary finish: no job left active, no partial rows', async () => {
    const before = await snapshot();
    const w = startCli(['--config', file, 'worker'], env());
    const job = await enqueue(cfg, connection, 'nightly-summary', { days: ['2026-11-18'], triggeredBy: 'graceful' });
    await runningRun(job.jobId);
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
    expect(w.output()).toContain('worker stopped');
    const s = await jobState(cfg, connection, 'nightly-summary', job.jobId);
    expect(s?.state).toBe('completed');
    const queue = new Queue('nightly-summary', { connection, prefix: cfg.runner.queuePrefix });
    expect(await queue.getActiveCount()).toBe(0);
    await queue.close();
    const run = (await targetTable(ctx, ctx.target, 'etl_runs').where({ queue_job_id: job.jobId }).first()) as any;
    expect(run.status).toBe('succeeded');
    expect(await snapshot()).toEqual(before);
  }, 240_000);
});
