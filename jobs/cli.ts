#!/usr/bin/env node
/**
 * The `yieldrun` command. Every subcommand has --help; failures exit non-zero
 * (2: bad configuration or arguments, or a refused start; 1: the work itself failed).
 */
import os from 'node:os';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { DateTime } from 'luxon';
import { loadConfig, ConfigError, type ResolvedConfig } from '../config/load.js';
import { openEtlContext } from '../etl/context.js';
import { lastCompleteDay } from '../etl/periods.js';
import { migrate } from '../sql/migrations.js';
import { connect, redactUrl } from '../sql/connection.js';
import { generate } from '../data/generate.js';
import { createLogger } from './log.js';
import { JOBS, jobNamed, UnknownJobError } from './registry.js';
import { SourceMappingError } from '../sql/source-check.js';
import { runDemo } from './demo.js';
import { startWorker } from './worker.js';
import { redisConnection } from './queues.js';
import { enqueueWithDependents } from './enqueue.js';
import { followJob } from './follow-job.js';
import { listRuns, formatRuns } from './run-history.js';
import { describeSchedules } from './schedules.js';
import { startAdminServer } from './admin-server.js';
import { configuredMeasure } from '../etl/spc-measures.js';
import { resetSpcLimits } from '../etl/spc-job.js';
import { CallerInputError, TEXT_LIMITS, boundedDayRange, boundedText } from './caller-input.js';
import { StartRefusedError } from './start-refused.js';
import { registerSpcCommands } from './spc-commands.js';
import { registerSamplingCommands } from './sampling-commands.js';
import { registerRiskCommands } from './risk-commands.js';
import { addUser, checkRole, checkUserName, listUsers, revokeUser } from './console/users.js';
import { auditedCli } from './console/cli-audit.js';
import { BACKFILL_PRIORITY } from './enqueue.js';

class UsageError extends Error {}

const log = createLogger();

function isoDateArg(v: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(v) || !DateTime.fromISO(v).isValid) throw new InvalidArgumentError(`expected a date YYYY-MM-DD, got '${v}'`);
  return v;
}

function intArg(v: string): number {
  const n = Number(v.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected a whole number, got '${v}'`);
  return n;
}

/** --date, or --from/--to: the production days a job covers. */
function withDayOptions(cmd: Command): Command {
  return cmd
    .option('--date <date>', 'one production day', isoDateArg)
    .option('--from <date>', 'first production day of a range', isoDateArg)
    .option('--to <date>', 'last production day of a range (inclusive; default: yesterday)', isoDateArg)
    .option('--force', 'allow a range longer than runner.maxRangeDays');
}

/** --reason and --triggered-by, each within its etl_runs column. */
function runTexts(o: { reason?: string; triggeredBy?: string }): { reason?: string; triggeredBy: string } {
  return {
    reason: boundedText('--reason', o.reason, TEXT_LIMITS.reason),
    triggeredBy: boundedText('--triggered-by', o.triggeredBy, TEXT_LIMITS.triggeredBy) ?? defaultTriggeredBy(),
  };
}

function config(cmd: Command): ResolvedConfig {
  return loadConfig(cmd.optsWithGlobals().config as string | undefined);
}

/**
 * Production days from --date, or --from/--to (inclusive; --to defaults to yesterday in plant time),
 * at most runner.maxRangeDays of them without --force.
 */
export function daysFromOptions(o: { date?: string; from?: string; to?: string; force?: boolean }, cfg: ResolvedConfig): string[] | undefined {
  if (o.date && (o.from || o.to)) throw new UsageError('give either --date or --from/--to, not both');
  if (o.date) return [o.date];
  if (o.to && !o.from) throw new UsageError('--to needs --from');
  if (o.from) {
    const to = o.to ?? lastCompleteDay(DateTime.now(), { timezone: cfg.plant.timezone, dayStart: cfg.plant.dayStart });
    return boundedDayRange('--from/--to', o.from, to, { maxDays: cfg.runner.maxRangeDays, force: o.force, forceHint: '--force' });
  }
  return undefined;
}

function defaultTriggeredBy(): string {
  let user = 'unknown';
  try {
    user = os.userInfo().username;
  } catch {
    /* no passwd entry in some containers */
  }
  return `cli:${user}@${os.hostname()}`;
}

export function buildProgram(): Command {
  const program = new Command('yieldrun')
    .description('Nightly yield summaries, SPC and reports from factory test data')
    .option('-c, --config <path>', 'configuration file (default: $YIELDRUN_CONFIG or config/default.yaml)')
    .showHelpAfterError()
    .configureOutput({ outputError: (s, write) => write(s) })
    // Commander's own errors (a bad option value, an unknown command) are thrown to main(), which
    // exits 2 for them like for any bad argument, instead of commander exiting 1 by itself.
    .exitOverride();

  program
    .command('migrate')
    .description('create or update the summary and bookkeeping tables in the target database')
    .action(async (_o, cmd: Command) => {
      const cfg = config(cmd);
      const ctx = openEtlContext(cfg, log);
      try {
        const applied = await migrate(ctx.target, ctx.targetSchema);
        console.log(applied.length ? `applied: ${applied.join(', ')}` : 'target schema is up to date');
      } finally {
        await ctx.close();
      }
    });

  program
    .command('generate')
    .description('write seeded demo / test data (test records and battery assembly tables) into a database')
    .option('--db <url>', 'database URL (default: the configured source)')
    .option('--rows <n>', 'approximate number of test records', intArg, 600_000)
    .option('--seed <n>', 'random seed: the same seed gives the same data', intArg, 42)
    .option('--start <date>', 'first production day', isoDateArg, '2026-10-12')
    .option('--days <n>', 'number of production days', intArg, 30)
    .option('--no-assembly', 'skip the battery assembly tables')
    .option('--no-malformed', 'write no malformed rows or duplicates')
    .option('--flow-patterns', 'plant the process-flow patterns (bottleneck, rework hot spot, route deviation, shift effect; README "Process flow")')
    .option('--cell-quality', 'also write formation, OQC and outcome tables with the planted cell failure risk (README "Cell risk")')
    .action(async (o: { db?: string; rows: number; seed: number; start: string; days: number; assembly: boolean; malformed: boolean; flowPatterns?: boolean; cellQuality?: boolean }, cmd: Command) => {
      const cfg = config(cmd);
      const url = o.db ?? cfg.source.url;
      const db = connect(url);
      const t0 = Date.now();
      try {
        const m = await generate(db, {
          rows: o.rows,
          seed: o.seed,
          start: o.start,
          days: o.days,
          timezone: cfg.plant.timezone,
          dayStart: cfg.plant.dayStart,
          timestamps: cfg.source.timestamps,
          mapping: cfg.source,
          assembly: o.assembly,
          malformed: o.malformed,
          flowPatterns: o.flowPatterns === true,
          cellQuality: o.cellQuality === true,
          lots: cfg.sampling.lots.table ? { table: cfg.sampling.lots.table, columns: cfg.sampling.lots.columns } : undefined,
        });
        console.log(`wrote ${m.testRecords} test records and ${m.cells} cells to ${redactUrl(url)} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
        console.log(`planted: ${m.failRateJump.machine} fail rate jumps on ${m.failRateJump.day}; gap drift on ${m.gapDrift.map((g) => `${g.winder} from ${g.driftStartDay}`).join(', ')}`);
        if (m.cellQuality) console.log(`wrote ${m.cellQuality.formation} formation rows, ${m.cellQuality.oqc} OQC results and ${m.cellQuality.outcomes} failed-cell outcomes (planted: low gap and high K-value raise the failure odds)`);
        if (m.incomingLots) console.log(`wrote ${m.incomingLots.lots} inspected lots; ${m.incomingLots.badSupplier.supplier} (${m.incomingLots.badSupplier.product}) drifts worse from ${m.incomingLots.badSupplier.fromDay}`);
      } finally {
        await db.destroy();
      }
    });

  const runCmd = program
    .command('run')
    .description(`run a job now, in this process (jobs: ${Object.keys(JOBS).join(', ')})`)
    .argument('<job>', 'job name');
  withDayOptions(runCmd)
    .option('--triggered-by <who>', 'recorded in etl_runs (default: cli:user@host)')
    .option('--reason <text>', 'why this run was started, recorded in etl_runs')
    .option('--json', 'print the result as JSON')
    .option('--resend', 'reports: send again although already delivered (recorded in report_deliveries)')
    .action(async (name: string, o: { date?: string; from?: string; to?: string; force?: boolean; triggeredBy?: string; reason?: string; json?: boolean; resend?: boolean }, cmd: Command) => {
      const job = jobNamed(name);
      const cfg = config(cmd);
      const days = daysFromOptions(o, cfg);
      const texts = runTexts(o);
      const ctx = openEtlContext(cfg, log);
      try {
        const params = { job: name, days: days && days.length > 1 ? `${days[0]}..${days[days.length - 1]}` : (days?.[0] ?? 'auto'), triggeredBy: texts.triggeredBy, reason: texts.reason, resend: o.resend };
        const outcome = await auditedCli(cfg, log, defaultTriggeredBy(), 'run', params, () => job.run(ctx, { days, ...texts, resend: o.resend }), ctx);
        if (o.json) console.log(JSON.stringify(outcome.details, null, 2));
        else for (const line of outcome.summary) console.log(line);
      } finally {
        await ctx.close();
      }
    });

  program
    .command('worker')
    .description('run queued and scheduled jobs from Redis ($REDIS_URL, default redis://127.0.0.1:6379) until SIGTERM / SIGINT')
    .option('--concurrency <n>', 'jobs at once per queue (default: runner.concurrency)', intArg)
    .action(async (o: { concurrency?: number }, cmd: Command) => {
      const cfg = config(cmd);
      if (o.concurrency) cfg.runner.concurrency = Math.max(1, o.concurrency);
      const handle = await startWorker(cfg, log);
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          log.info({ signal }, 'shutting down');
          void handle.close().then(resolve);
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
    });

  const rerunCmd = program
    .command('rerun')
    .description('enqueue a job for production days through Redis (a worker runs it); the same job and days are not queued twice')
    .argument('<job>', `job name (${Object.keys(JOBS).join(', ')})`);
  withDayOptions(rerunCmd)
    .option('--reason <text>', 'why, recorded in etl_runs')
    .option('--triggered-by <who>', 'recorded in etl_runs (default: cli:user@host)')
    .option('--dependents <jobs>', 'comma-separated jobs to run for the same days once this one succeeded')
    .option('--resend', 'send reports again although they were delivered')
    .option('--wait', 'follow the job with a progress bar until it finishes')
    .action(async (name: string, o: { date?: string; from?: string; to?: string; force?: boolean; reason?: string; triggeredBy?: string; dependents?: string; resend?: boolean; wait?: boolean }, cmd: Command) => {
      jobNamed(name);
      const cfg = config(cmd);
      const days = daysFromOptions(o, cfg);
      if (!days) throw new UsageError('give --date or --from [--to]');
      const dependents = (o.dependents ?? '').split(',').map((s) => s.trim()).filter(Boolean);
      dependents.forEach(jobNamed);
      const connection = redisConnection();
      const data = { days, ...runTexts(o), resend: o.resend };
      const params = { job: name, days: days.length > 1 ? `${days[0]}..${days[days.length - 1]}` : days[0], dependents, triggeredBy: data.triggeredBy, reason: data.reason, resend: o.resend };
      const r = await auditedCli(cfg, log, defaultTriggeredBy(), 'rerun', params, () => enqueueWithDependents(cfg, connection, name, data, dependents, { priority: BACKFILL_PRIORITY }));
      const then = dependents.length ? `; then ${dependents.join(', ')} (flow ${r.parentId})` : '';
      if (r.deduplicated) {
        const flow = r.parentId ? ` (its dependents: flow ${r.parentId})` : dependents.length ? ' without dependents' : '';
        console.log(`${name} for these days is already queued as job ${r.jobId} (${r.state ?? 'queued'})${flow}; not enqueued again`);
      } else console.log(`enqueued ${name} for ${days.length} day(s) ${days[0]} … ${days[days.length - 1]} as job ${r.jobId}${then}`);
      const jobId = r.jobId;
      if (o.wait) {
        const final = await followJob(cfg, connection, name, jobId);
        if (final !== 'completed') throw new Error(`job ${jobId} ${final}`);
      }
    });

  program
    .command('runs')
    .description('print the run history from etl_runs, newest first')
    .option('--job <name>', 'only this job')
    .option('--limit <n>', 'how many runs', intArg, 20)
    .option('--json', 'print JSON')
    .action(async (o: { job?: string; limit: number; json?: boolean }, cmd: Command) => {
      const ctx = openEtlContext(config(cmd), log);
      try {
        const runs = await listRuns(ctx, { job: o.job, limit: o.limit });
        if (o.json) console.log(JSON.stringify(runs, null, 2));
        else for (const line of formatRuns(runs)) console.log(line);
      } finally {
        await ctx.close();
      }
    });

  program
    .command('schedules')
    .description('print each configured schedule with its next run times in plant time')
    .option('--count <n>', 'next run times per schedule', intArg, 3)
    .action(async (o: { count: number }, cmd: Command) => {
      const cfg = config(cmd);
      const views = describeSchedules(cfg, DateTime.now(), o.count);
      if (views.length === 0) console.log('no schedules configured (config key: schedules)');
      for (const v of views) {
        console.log(`${v.name}: ${v.job} at "${v.cron}" (${v.timezone})${v.dependents.length ? `, then ${v.dependents.join(', ')}` : ''}`);
        for (const t of v.next) console.log(`  ${DateTime.fromISO(t, { setZone: true }).toFormat('ccc yyyy-LL-dd HH:mm ZZZZ')}`);
      }
    });

  program
    .command('admin')
    .description('serve the admin console (/console), the JSON API (/api) and a read-only Bull Board (/admin/queues) for users (`admin users add`) and the bootstrap $ADMIN_TOKEN')
    .option('--port <n>', 'port', intArg, 8080)
    .option('--host <addr>', 'address to bind', '127.0.0.1')
    .option('--no-auth', 'no token (allowed only on 127.0.0.1)')
    .option('--trust-proxy', 'behind a TLS-terminating proxy on this machine: trust its X-Forwarded-Proto / -For (Secure cookies, caller addresses)')
    .action(async (o: { port: number; host: string; auth: boolean; trustProxy?: boolean }, cmd: Command) => {
      const cfg = config(cmd);
      const server = await startAdminServer(cfg, log, {
        port: o.port,
        host: o.host,
        trustProxy: o.trustProxy ? 'loopback' : undefined,
        token: o.auth ? process.env.ADMIN_TOKEN?.trim() || undefined : undefined,
        noAuth: !o.auth,
        connection: redisConnection(),
      });
      console.log(`admin console on ${server.url}/console, API on ${server.url}/api (runs, schedules, reruns, jobs), Bull Board on ${server.url}/admin/queues`);
      await new Promise<void>((resolve) => {
        const stop = () => void server.close().then(resolve);
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
    });

  // Users of the console and the API, in the target database (admin_users); each change audited.
  const usersCmd = program.commands.find((c) => c.name() === 'admin')!.command('users').description('named users of the admin console and API: viewer, operator or admin');
  usersCmd
    .command('add')
    .description('add a user and print its token, once (only a scrypt hash of it is stored)')
    .argument('<name>', 'user name')
    .requiredOption('--role <role>', 'viewer (reads), operator (also reruns, cancels, acknowledges) or admin (also manages users)')
    .action(async (name: string, o: { role: string }, cmd: Command) => {
      checkUserName('NAME', name);
      const role = checkRole('--role', o.role);
      const cfg = config(cmd);
      const ctx = openEtlContext(cfg, log);
      try {
        const token = await auditedCli(cfg, log, defaultTriggeredBy(), 'user-add', { name, role }, () => addUser(ctx, name, role, defaultTriggeredBy()), ctx);
        console.log(`added ${name} (${role}); its token, shown only now:`);
        console.log(token);
      } finally {
        await ctx.close();
      }
    });
  usersCmd
    .command('list')
    .description('print the users, their roles and whether they are revoked')
    .action(async (_o, cmd: Command) => {
      const ctx = openEtlContext(config(cmd), log);
      try {
        const users = await listUsers(ctx);
        if (users.length === 0) console.log('no users yet: yieldrun admin users add NAME --role viewer|operator|admin');
        for (const u of users) console.log(`${u.name}  ${u.role}  added ${u.created_at.slice(0, 19)} by ${u.created_by}${u.revoked_at ? `  REVOKED ${u.revoked_at.slice(0, 19)}` : ''}`);
      } finally {
        await ctx.close();
      }
    });
  usersCmd
    .command('revoke')
    .description("revoke a user's token: the console and the API refuse it from then on")
    .argument('<name>', 'user name')
    .action(async (name: string, _o, cmd: Command) => {
      checkUserName('NAME', name);
      const cfg = config(cmd);
      const ctx = openEtlContext(cfg, log);
      try {
        await auditedCli(cfg, log, defaultTriggeredBy(), 'user-revoke', { name }, async () => {
          if (!(await revokeUser(ctx, name))) throw new UsageError(`no active user '${name}' (yieldrun admin users list)`);
        }, ctx);
        console.log(`revoked ${name}`);
      } finally {
        await ctx.close();
      }
    });

  program
    .command('demo')
    .description('generate the reference data into data/demo.sqlite if absent, migrate, and summarise every day')
    .option('--rows <n>', 'test records to generate when the demo database is absent', intArg, 600_000)
    .action(async (o: { rows: number }, cmd: Command) => {
      // The demo prints what a person reads; its JSON logs only when asked for (LOG_LEVEL).
      if (!process.env.LOG_LEVEL) log.level = 'warn';
      await runDemo(config(cmd), log, { rows: o.rows });
    });

  // SPC administration (README "SPC"): limits frozen from a baseline stay until an engineer resets them.
  const spcCmd = program.command('spc').description('statistical process control: out-of-control events and their acknowledgement, control limits (the charts are `yieldrun run spc`)');
  registerSpcCommands(spcCmd, { config, triggeredBy: defaultTriggeredBy, usageError: (m) => new UsageError(m), log });
  spcCmd
    .command('reset-limits')
    .description("delete a measure's frozen control limits (all keys, or one) so the next spc run sets them from its baseline again; recorded in etl_runs")
    .argument('<measure>', 'measure name (spc.measures)')
    .argument('[key]', 'one chart key, e.g. WND03 (several key columns: "TX_POWER-02 | TX_POWER"); default: every key')
    .option('--reason <text>', 'why, recorded in etl_runs')
    .option('--triggered-by <who>', 'recorded in etl_runs (default: cli:user@host)')
    .action(async (measure: string, key: string | undefined, o: { reason?: string; triggeredBy?: string }, cmd: Command) => {
      const cfg = config(cmd);
      try {
        configuredMeasure(cfg, measure);
      } catch (e) {
        throw new UsageError((e as Error).message);
      }
      const ctx = openEtlContext(cfg, log);
      try {
        const triggeredBy = o.triggeredBy ?? defaultTriggeredBy();
        const r = await auditedCli(cfg, log, defaultTriggeredBy(), 'spc-reset-limits', { measure, key, triggeredBy, reason: o.reason }, () => resetSpcLimits(ctx, { measure, key, triggeredBy, reason: o.reason }), ctx);
        const what = `${measure}${key === undefined ? '' : ` (${key})`}`;
        if (r.deleted.length === 0) console.log(`run ${r.runId}: no frozen limits of ${what} to reset`);
        else {
          console.log(`run ${r.runId}: deleted the frozen limits of ${what} for ${r.deleted.length} key(s): ${r.deleted.map((d) => d.key).join(', ')}`);
          console.log('the next `yieldrun run spc` sets them from the measure\'s baseline again');
        }
      } finally {
        await ctx.close();
      }
    });

  // Lot acceptance sampling (README "Lot sampling"): plans and their OC, design, states, resume.
  const samplingCmd = program.command('sampling').description('lot acceptance sampling: MIL-STD-105E plans and what they promise, plan design, inspection states (the dispositions are `yieldrun run lot-sampling`)');
  registerSamplingCommands(samplingCmd, { config, triggeredBy: defaultTriggeredBy, usageError: (m) => new UsageError(m), log });

  // Cell risk (README "Cell risk"): model versions and a refit on demand (the scores are `yieldrun run cell-risk`).
  const riskCmd = program.command('risk').description('cell risk: the model versions and a refit on demand (the daily scores are `yieldrun run cell-risk`)');
  registerRiskCommands(riskCmd, { config, triggeredBy: defaultTriggeredBy, dayArg: isoDateArg, log });

  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return 0;
  } catch (err) {
    // Already printed by commander; --help and --version end here too, with exit code 0.
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    if (
      err instanceof ConfigError ||
      err instanceof UsageError ||
      err instanceof SourceMappingError ||
      err instanceof UnknownJobError ||
      err instanceof CallerInputError ||
      err instanceof StartRefusedError
    ) {
      console.error(`yieldrun: ${err.message}`);
      return 2;
    }
    console.error(`yieldrun: ${(err as Error).message}`);
    return 1;
  }
}

// Run when executed (node dist/jobs/cli.js, the bin link, or tsx), not when imported by tests.
const invoked = process.argv[1] ?? '';
if (/(?:^|[/\\])(?:cli\.(?:js|ts)|yieldrun)$/.test(invoked)) {
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
