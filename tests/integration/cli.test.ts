/**
 * The `yieldrun` command as a user runs it: a real process, real SQLite file, exit codes.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createBackend, configFor, openMigrated, writeTestRecords, type Backend } from '../support/backends.js';
import { runCli, writeConfigFile } from '../support/worker-process.js';

const COMMANDS = ['migrate', 'generate', 'run', 'rerun', 'runs', 'schedules', 'worker', 'admin', 'demo'] as const;

describe('yieldrun CLI', () => {
  let backend: Backend;
  let file: string;
  const env = () => ({ SOURCE_DATABASE_URL: backend.url, LOG_LEVEL: 'silent' });

  beforeAll(async () => {
    backend = await createBackend('sqlite');
    const ctx = await openMigrated(configFor(backend));
    await writeTestRecords(ctx, [
      { serial: 'A1', product: 'P1', test: 'TX', machine: 'M1', at: '2026-11-20 07:00:00', result: 'FAIL', duration: 10 },
      { serial: 'A1', product: 'P1', test: 'TX', machine: 'M2', at: '2026-11-20 07:10:00', result: 'PASS', duration: 12 },
      { serial: null, product: 'P1', test: 'TX', machine: 'M1', at: '2026-11-20 08:00:00', result: 'PASS' },
    ]);
    await ctx.close();
    file = writeConfigFile({
      plant: { name: 'Test Plant', timezone: 'Europe/Berlin', dayStart: '06:00' },
      // No dependents: this file tests the CLI, not the reports that default.yaml runs after the summary.
      schedules: { nightly: { job: 'nightly-summary', cron: '30 6 * * *', dependents: [] } },
    });
  });
  afterAll(async () => backend?.cleanup());

  // One test per command: each spawns a process, and one long test would hold vitest's reporter.
  it('lists every command in --help', async () => {
    const top = await runCli(['--help']);
    expect(top.code).toBe(0);
    for (const cmd of COMMANDS) expect(top.output).toContain(cmd);
  }, 60_000);

  it.each(COMMANDS)('%s has --help', async (cmd) => {
    const r = await runCli([cmd, '--help']);
    expect(r.code, cmd).toBe(0);
    expect(r.output).toMatch(/Usage: yieldrun/);
  }, 60_000);

  it('runs the nightly summary for a day and prints what it did; the run history shows it', async () => {
    const r = await runCli(['--config', file, 'run', 'nightly-summary', '--date', '2026-11-20', '--reason', 'cli test'], env());
    expect(r.code).toBe(0);
    expect(r.output).toMatch(/1 day\(s\) 2026-11-20, 2 period\(s\) replaced/);
    expect(r.output).toMatch(/rows read 3, valid 2, rejected 1 \(33\.33 %\): missing_serial 1/);
    const runs = await runCli(['--config', file, 'runs', '--limit', '5'], env());
    expect(runs.code).toBe(0);
    expect(runs.output).toMatch(/nightly-summary\s+2026-11-20\s+succeeded/);
    expect(runs.output).toContain('cli test');
  }, 60_000);

  it('`yieldrun sampling plan` prints the code letter and the plans of the three severities', async () => {
    const r = await runCli(['--config', file, 'sampling', 'plan', '--lot-size', '1000', '--aql', '1.0'], env());
    expect(r.code).toBe(0);
    expect(r.output).toContain('lot size 1000, level II: code letter J');
    expect(r.output).toMatch(/normal\s+n\s+80 Ac 2 Re 3/);
    expect(r.output).toMatch(/tightened n\s+80 Ac 1 Re 2/);
    expect(r.output).toMatch(/reduced\s+n\s+32 Ac 1 Re 3/);
  }, 60_000);

  it('`yieldrun risk models` says no model is fitted yet; `risk refit` without cell-quality tables exits 2 naming the key (a mapping to fix, as for every job)', async () => {
    const models = await runCli(['--config', file, 'risk', 'models'], env());
    expect(models.code).toBe(0);
    expect(models.output).toContain('no model fitted yet (yieldrun run cell-risk --date D, or yieldrun risk refit --date D)');
    const refit = await runCli(['--config', file, 'risk', 'refit', '--date', '2026-11-20'], env());
    expect(refit.code).toBe(2);
    expect(refit.output).toMatch(/source table 'fmt_data' does not exist \(set source\.formation\.table/);
  }, 60_000);

  it('prints schedules with next run times in plant time', async () => {
    const r = await runCli(['--config', file, 'schedules', '--count', '2'], env());
    expect(r.code).toBe(0);
    expect(r.output).toContain('nightly: nightly-summary at "30 6 * * *" (Europe/Berlin)');
    expect(r.output.match(/ 06:30 /g)?.length).toBe(2);
  }, 60_000);

  it.each([
    ['a bad configuration names the key', () => [writeConfigFile({ plant: { timezone: 'Mars/Base' } }), 'run', 'nightly-summary', '--date', '2026-11-20'], /plant\.timezone: expected an IANA time zone/],
    ['--date with --from', () => [file, 'run', 'nightly-summary', '--date', '2026-11-20', '--from', '2026-11-19'], /either --date or --from\/--to/],
    ['a date not YYYY-MM-DD', () => [file, 'run', 'nightly-summary', '--date', '20-11-2026'], /expected a date YYYY-MM-DD, got '20-11-2026'/],
    ['a source table that does not exist', () => [writeConfigFile({ source: { testRecords: { table: 'mes_tests' } } }), 'run', 'nightly-summary', '--date', '2026-11-20'], /source table 'mes_tests' does not exist \(set source\.testRecords\.table/],
    ['an unknown job', () => [file, 'run', 'no-such-job'], /unknown job 'no-such-job'/],
    ['a refit day not YYYY-MM-DD', () => [file, 'risk', 'refit', '--date', '2026-11'], /expected a date YYYY-MM-DD, got '2026-11'/],
    ['an AQL that is no column of MIL-STD-105E', () => [file, 'sampling', 'plan', '--lot-size', '1000', '--aql', '0.7'], /--aql: AQL 0\.7: not a column of MIL-STD-105E; expected one of 0\.01/],
    ['an LTPD not above the AQL', () => [file, 'sampling', 'design', '--aql', '2', '--ltpd', '1'], /--ltpd: expected an LTPD above the AQL 2 %, got 1 %/],
    ['a bad cron pattern', () => [writeConfigFile({ schedules: { nightly: { job: 'nightly-summary', cron: '61 6 * * *' } } }), 'schedules'], /schedules\.nightly\.cron: expected a valid cron pattern/],
  ] as const)('exits 2 with the reason: %s', async (_, args, message) => {
    const r = await runCli(['--config', ...args()], env());
    expect(r.code).toBe(2);
    expect(r.output).toMatch(message);
  }, 60_000);

  it('`yieldrun worker` exits non-zero with the error when its start-up fails, instead of hanging', async () => {
    // A target that was never migrated: the catch-up on start cannot read etl_periods.
    const fresh = await createBackend('sqlite');
    const prefix = `yrc${randomBytes(4).toString('hex')}`;
    try {
      const cfgFile = writeConfigFile({ plant: { timezone: 'Europe/Berlin', dayStart: '06:00' }, runner: { queuePrefix: prefix, catchUp: true }, schedules: {} });
      const r = await runCli(['--config', cfgFile, 'worker'], { SOURCE_DATABASE_URL: fresh.url, LOG_LEVEL: 'silent' }, { timeoutMs: 60_000 });
      expect(r.timedOut).toBe(false);
      expect(r.code).toBe(1);
      expect(r.output).toContain('no etl_periods table');
      expect(r.output).toContain('run `yieldrun migrate` first');
    } finally {
      await fresh.cleanup();
      const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
      const keys = await redis.keys(`${prefix}:*`);
      if (keys.length) await redis.del(...keys);
      redis.disconnect();
    }
  }, 90_000);
});
