/**
 * The runner on a Redis that keeps nothing on disk: a redis-server of the test's own (never the
 * shared one on 6379), stopped with SHUTDOWN NOSAVE in the middle of a flow and started again on
 * the same port, empty. The worker keeps running; the target database says what happened.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Queue } from 'bullmq';
import { simpleParser } from 'mailparser';
import { DateTime } from 'luxon';
import { Redis } from 'ioredis';
import { createBackend, configFor, openMigrated, silentLog, type Backend } from '../support/backends.js';
import { runCli, waitFor, writeConfigFile } from '../support/worker-process.js';
import { capturingLog } from '../support/logs.js';
import { startOwnRedis, type OwnRedis } from '../support/redis-server.js';
import { startSmtp, type TestSmtp } from './report-fixture.js';
import { generate } from '../../data/generate.js';
import { targetTable, type EtlContext } from '../../etl/context.js';
import { deliveriesOf } from '../../reports/deliveries.js';
import { JOBS, type JobDefinition } from '../../jobs/registry.js';
import { startWorker, type WorkerHandle } from '../../jobs/worker.js';
import { enqueueCatchUp } from '../../jobs/catch-up.js';
import { SCHEDULE_QUEUE } from '../../jobs/schedules.js';
import { redisConnection } from '../../jobs/queues.js';
import { StartRefusedError } from '../../jobs/start-refused.js';
import type { ResolvedConfig } from '../../config/load.js';

const DAY = '2026-11-21';
/** The schedule fires at 06:30 plant time on the 22nd for the production day of the 21st. */
const FIRED = DateTime.fromISO('2026-11-22T06:30', { zone: 'Europe/Berlin' });
const NOW = DateTime.fromISO('2026-11-22T07:00', { zone: 'Europe/Berlin' });
const DEPENDENTS = ['daily-yield-report', 'spc', 'defect-trace'];

const prefix = () => `yrr${randomBytes(4).toString('hex')}`;

describe('a Redis that keeps nothing on disk (its own redis-server)', () => {
  let redis: OwnRedis;
  let backend: Backend;
  let ctx: EtlContext;
  let worker: WorkerHandle | undefined;

  beforeAll(async () => {
    redis = await startOwnRedis();
    backend = await createBackend('sqlite');
    ctx = await openMigrated(configFor(backend));
  });
  afterEach(async () => {
    await worker?.close();
    worker = undefined;
  });
  afterAll(async () => {
    await ctx?.close();
    await backend?.cleanup();
    await redis?.stop();
  });

  it('the worker warns at start, naming the risk and the setting; runner.requirePersistence refuses (exit 2); with AOF it is quiet', async () => {
    const connection = redisConnection(redis.url);
    const cfg = configFor(backend, { runner: { queuePrefix: prefix(), catchUp: false } });
    const { log, lines } = capturingLog();
    worker = await startWorker(cfg, log, { connection, housekeeping: false });
    const warning = lines().find((l) => l.level === 40 && /keeps nothing on disk/.test(l.msg));
    expect(warning?.msg).toMatch(/appendonly no, save ""/);
    expect(warning?.msg).toMatch(/a Redis restart loses every queued job, flow and schedule/);
    expect(warning?.msg).toMatch(/appendonly yes/);
    expect(warning?.msg).toMatch(/runner\.requirePersistence: true/);
    await worker.close();
    worker = undefined;

    const strict: ResolvedConfig = { ...cfg, runner: { ...cfg.runner, requirePersistence: true } };
    await expect(startWorker(strict, silentLog, { connection, housekeeping: false })).rejects.toThrow(StartRefusedError);
    const file = writeConfigFile({ plant: { timezone: 'Europe/Berlin', dayStart: '06:00' }, runner: { queuePrefix: prefix(), catchUp: false, requirePersistence: true }, schedules: {} });
    const cli = await runCli(['--config', file, 'worker'], { SOURCE_DATABASE_URL: backend.url, REDIS_URL: redis.url, LOG_LEVEL: 'silent' }, { timeoutMs: 60_000 });
    expect(cli.timedOut).toBe(false);
    expect(cli.code).toBe(2);
    expect(cli.output).toContain('Redis keeps nothing on disk');
    expect(cli.output).toContain('runner.requirePersistence is true, so the worker does not start');

    // With AOF on, the same strict worker starts and says nothing about persistence.
    const admin = new Redis(redis.url);
    await admin.config('SET', 'appendonly', 'yes');
    try {
      const quiet = capturingLog();
      worker = await startWorker(strict, quiet.log, { connection, housekeeping: false });
      expect(quiet.lines().filter((l) => /on disk/.test(l.msg))).toEqual([]);
    } finally {
      await admin.config('SET', 'appendonly', 'no');
      admin.disconnect();
    }
  }, 120_000);

  describe('restarted empty in the middle of a scheduled flow', () => {
    let smtp: TestSmtp;
    let out: string;
    let savedSmtpUrl: string | undefined;
    let flowCtx: EtlContext;
    let flowBackend: Backend;
    let cfg: ResolvedConfig;

    beforeAll(async () => {
      smtp = await startSmtp();
      savedSmtpUrl = process.env.SMTP_URL;
      process.env.SMTP_URL = smtp.url;
      out = mkdtempSync(path.join(os.tmpdir(), 'yieldrun-recovery-'));
      flowBackend = await createBackend('sqlite');
      cfg = configFor(flowBackend, {
        plant: { name: 'Test Plant' },
        // Only the flow's day is due: the catch-up has nothing else to fill.
        yield: { lookbackDays: 0 },
        // A lock long enough that a report rendering on a busy machine is never taken for stalled and run twice.
        runner: { queuePrefix: prefix(), attempts: 2, backoffMs: 100, lockDurationMs: 60_000, catchUp: true, resyncIntervalMs: 1_000, catchUpIntervalMs: 1_000 },
        schedules: { 'nightly-summary': { job: 'nightly-summary', cron: '30 6 * * *', dependents: DEPENDENTS } },
        alerts: { admins: [] },
        mail: { outDir: path.join(out, 'mail'), retryDelayMs: 20 },
        reports: { outDir: path.join(out, 'reports'), dailyYield: { to: ['quality-team@example.com'] } },
        spc: {
          measures: {
            fail_rate: {
              chart: 'p',
              source: { table: 'test_records', where: { TestResult: ['PASS', 'FAIL'] } },
              time: 'TestTimeStamp',
              key: 'MachineID',
              defective: { column: 'TestResult', in: ['FAIL'] },
              baseline: { firstSubgroups: 2 },
            },
          },
        },
      });
      flowCtx = await openMigrated(cfg);
      await generate(flowCtx.source, { rows: 3_000, seed: 5, start: DAY, days: 1, timezone: 'Europe/Berlin', dayStart: '06:00', timestamps: 'local', mapping: cfg.source });
    }, 120_000);
    afterAll(async () => {
      if (savedSmtpUrl === undefined) delete process.env.SMTP_URL;
      else process.env.SMTP_URL = savedSmtpUrl;
      await flowCtx?.close();
      await flowBackend?.cleanup();
      await smtp?.close();
      rmSync(out, { recursive: true, force: true });
    });

    const runsOf = async (job: string) =>
      ((await targetTable(flowCtx, flowCtx.target, 'etl_runs').where({ job }).orderBy('id')) as any[]).filter((r) => (JSON.parse(r.periods ?? '[]') as string[]).includes(DAY));

    it('after recovery the summary, the report (one email), SPC and trace exist for the day, and the schedule is back, without a worker restart', async () => {
      const connection = redisConnection(redis.url);
      // The summary succeeds and is recorded, then holds until Redis has been restarted: its job, its
      // flow parent and the schedule are gone by the time it reports back, as on a real restart.
      let release!: () => void;
      const held = new Promise<void>((resolve) => (release = resolve));
      const summary = JOBS['nightly-summary']!;
      const holding: JobDefinition = { ...summary, run: async (c, p) => summary.run(c, p).then(async (o) => (await held, o)) };

      // The scheduler's firing, waiting when the worker starts: the start-up catch-up leaves its day to it.
      const schedule = new Queue(SCHEDULE_QUEUE, { connection, prefix: cfg.runner.queuePrefix });
      await schedule.add('nightly-summary', { triggeredBy: 'schedule:nightly-summary', schedule: 'nightly-summary' }, { attempts: 1, timestamp: FIRED.toMillis() });
      await schedule.close();

      const { log, lines } = capturingLog();
      worker = await startWorker(cfg, log, { connection, jobs: { ...JOBS, 'nightly-summary': holding }, now: () => NOW });
      await waitFor('the summary to succeed', async () => (await runsOf('nightly-summary')).some((r) => r.status === 'succeeded'), 60_000);
      expect(await runsOf('nightly-summary')).toHaveLength(1);
      for (const job of DEPENDENTS) expect(await runsOf(job), job).toEqual([]);

      await redis.shutdownNoSave();
      await redis.start();
      release();

      for (const job of DEPENDENTS) {
        await waitFor(`${job} to succeed for ${DAY}`, async () => (await runsOf(job)).some((r) => r.status === 'succeeded'), 90_000, 100);
      }
      await waitFor('the report email', async () => smtp.received.length > 0, 30_000);
      // The schedule is back in the emptied Redis.
      const schedulers = await waitFor('the schedule to be back', async () => {
        const q = new Queue(SCHEDULE_QUEUE, { connection, prefix: cfg.runner.queuePrefix });
        const s = await q.getJobSchedulers(0, -1);
        await q.close();
        return s.length ? s : undefined;
      });
      expect(schedulers.map((s) => [s.key, s.pattern, s.tz])).toEqual([['nightly-summary', '30 6 * * *', 'Europe/Berlin']]);
      expect(lines().some((l) => /Redis is back after a lost connection/.test(l.msg))).toBe(true);
      // The held summary could not be finished in the emptied queue: said as what it is, not as a failure.
      await waitFor('the vanished job to be named', async () => lines().some((l) => l.msg.startsWith('job vanished from Redis while it ran')));
      expect(lines().filter((l) => l.msg === 'job failed')).toEqual([]);

      // Nothing is left to catch up, in either strictness: no second report, SPC or trace is coming.
      for (const mode of ['never-run', 'not-succeeded'] as const) {
        expect(await enqueueCatchUp(flowCtx, connection, silentLog, NOW, mode)).toEqual({ summaries: [], dependents: [] });
      }
      // A delivery's state is its message's in the outbox.
      const deliveries = await deliveriesOf(flowCtx, 'daily-yield-report', DAY);
      expect(deliveries.map((d) => [d.kind, d.status])).toEqual([['report', 'sent']]);
      expect(smtp.received).toHaveLength(1);
      expect((await simpleParser(smtp.received[0]!.raw)).subject).toMatch(/^Daily yield 2026-11-21 · Test Plant/);
      expect(smtp.received[0]!.to).toEqual(['quality-team@example.com']);
      expect((await runsOf('nightly-summary')).map((r) => r.status)).toEqual(['succeeded']);
      for (const job of DEPENDENTS) expect((await runsOf(job)).map((r) => r.status), job).toEqual(['succeeded']);
      expect((await targetTable(flowCtx, flowCtx.target, 'summary_prod_test').where({ period_type: 'day', period_start: DAY })).length).toBeGreaterThan(0);
      expect((await targetTable(flowCtx, flowCtx.target, 'summary_defect_winder').where({ period_type: 'day', period_start: DAY })).length).toBeGreaterThan(0);
    }, 240_000);
  });
});
