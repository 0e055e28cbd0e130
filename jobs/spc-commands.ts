/**
 * The `yieldrun spc` commands an engineer acts with (README "SPC"): list the out-of-control events,
 * acknowledge one with a cause and an action, and set new limits from a date after a process change.
 * Registered on the `spc` command by jobs/cli.ts; the admin API offers the same (jobs/spc-admin-routes.ts).
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { DateTime } from 'luxon';
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/load.js';
import { openEtlContext } from '../etl/context.js';
import { configuredMeasure } from '../etl/spc-measures.js';
import { AcknowledgementError, acknowledgeEvent, listEvents, type StoredEvent } from '../etl/spc-event-store.js';
import { parseBaseline, setSpcLimits, SetLimitsError } from '../etl/spc-set-limits.js';
import { acknowledgementText, eventRuleCounts } from '../reports/spc-alert.js';

export interface SpcCommandDeps {
  config(cmd: Command): ResolvedConfig;
  triggeredBy(): string;
  /** An error main() reports with exit code 2 (bad arguments). */
  usageError(message: string): Error;
  log: Logger;
}

function localTime(t: Date, tz: string): string {
  return DateTime.fromJSDate(t).setZone(tz).toFormat('yyyy-LL-dd HH:mm');
}

/** One line per event, as `yieldrun spc events` prints it. */
export function eventLine(e: StoredEvent, tz: string, now = new Date()): string {
  const span = e.closedAt
    ? `closed ${localTime(e.closedAt, tz)}, out of control from ${localTime(e.openedAt, tz)}`
    : `${e.state} since ${localTime(e.openedAt, tz)} (${((now.getTime() - e.openedAt.getTime()) / 86_400_000).toFixed(1)} days)`;
  return `#${e.id} ${e.measure} ${e.key}: ${span}, ${e.flaggedPoints} flagged point(s), rules ${eventRuleCounts(e.rules, e.chart)}${e.history ? ', history (not alerted)' : ''}; ${acknowledgementText(e, tz)}`;
}

function eventIdArg(v: string): number {
  const n = Number(v.replace(/^#/, ''));
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected an event id such as 12 (yieldrun spc events lists them), got '${v}'`);
  return n;
}

const dayArg = (v: string) => {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(v) || !DateTime.fromISO(v).isValid) throw new InvalidArgumentError(`expected a date YYYY-MM-DD, got '${v}'`);
  return v;
};

export function registerSpcCommands(spc: Command, deps: SpcCommandDeps): void {
  spc
    .command('events')
    .description('list the out-of-control events, newest first (open and acknowledged ones with --open)')
    .option('--open', 'only events not closed yet')
    .option('--measure <name>', 'only this measure (spc.measures)')
    .option('--limit <n>', 'how many', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a whole number ≥ 1, got '${v}'`);
      return n;
    }, 50)
    .option('--json', 'print JSON')
    .action(async (o: { open?: boolean; measure?: string; limit: number; json?: boolean }, cmd: Command) => {
      const cfg = deps.config(cmd);
      if (o.measure) {
        try {
          configuredMeasure(cfg, o.measure);
        } catch (e) {
          throw deps.usageError((e as Error).message);
        }
      }
      const ctx = openEtlContext(cfg, deps.log);
      try {
        const events = await listEvents(ctx, { open: o.open, measures: o.measure ? [o.measure] : undefined, limit: o.limit });
        if (o.json) console.log(JSON.stringify(events, null, 2));
        else if (events.length === 0) console.log(o.open ? 'no open SPC events' : 'no SPC events');
        else for (const e of events) console.log(eventLine(e, cfg.plant.timezone));
      } finally {
        await ctx.close();
      }
    });

  spc
    .command('ack')
    .description('acknowledge an out-of-control event: who, with an assignable-cause and a corrective-action code (spc.causes, spc.actions)')
    .argument('<event>', 'event id (yieldrun spc events)', eventIdArg)
    .requiredOption('--cause <code>', 'assignable-cause code from spc.causes')
    .requiredOption('--action <code>', 'corrective-action code from spc.actions')
    .requiredOption('--by <name>', 'who acknowledges')
    .option('--note <text>', 'what was found and done')
    .action(async (id: number, o: { cause: string; action: string; by: string; note?: string }, cmd: Command) => {
      const cfg = deps.config(cmd);
      const ctx = openEtlContext(cfg, deps.log);
      try {
        const e = await acknowledgeEvent(ctx, { id, cause: o.cause, action: o.action, by: o.by, note: o.note });
        console.log(`event ${e.id} (${e.measure} ${e.key}) ${acknowledgementText(e, cfg.plant.timezone)}; state ${e.state}`);
      } catch (e) {
        if (e instanceof AcknowledgementError) throw deps.usageError(e.message);
        throw e;
      } finally {
        await ctx.close();
      }
    });

  spc
    .command('set-limits')
    .description('new control limits after a process change, valid from a production day; the old ones are kept and judge the points before it')
    .argument('<measure>', 'measure name (spc.measures)')
    .argument('[key]', 'one chart key, e.g. WND03 (several key columns: "TX_POWER-02 | TX_POWER"); default: every key')
    .requiredOption('--from <date>', 'first production day the new limits judge', dayArg)
    .option('--baseline <spec>', 'N: the first N subgroups from --from on; FROM..TO: those production days (default: the measure\'s firstSubgroups)')
    .option('--reason <text>', 'why, recorded in etl_runs')
    .option('--triggered-by <who>', 'recorded in etl_runs (default: cli:user@host)')
    .action(async (measure: string, key: string | undefined, o: { from: string; baseline?: string; reason?: string; triggeredBy?: string }, cmd: Command) => {
      const cfg = deps.config(cmd);
      let baseline;
      try {
        configuredMeasure(cfg, measure);
        baseline = o.baseline === undefined ? undefined : parseBaseline(o.baseline);
      } catch (e) {
        throw deps.usageError((e as Error).message);
      }
      const ctx = openEtlContext(cfg, deps.log);
      try {
        const r = await setSpcLimits(ctx, { measure, key, from: o.from, baseline, triggeredBy: o.triggeredBy ?? deps.triggeredBy(), reason: o.reason });
        console.log(`run ${r.runId}: new limits of ${measure} valid from ${o.from} for ${r.set.length} key(s): ${r.set.map((s) => `${s.key} (CL ${s.cl?.toPrecision(6)}, σ̂ ${s.sigmaWithin?.toPrecision(4)}, ${s.subgroups} subgroups${s.replaced ? '; the old limits judge the points before' : ''})`).join(', ')}`);
        for (const s of r.skipped) console.log(`  ${s.key}: not set, ${s.reason}`);
        console.log('the next `yieldrun run spc` judges each point by the limits valid at its time');
      } catch (e) {
        if (e instanceof SetLimitsError) throw deps.usageError(e.message);
        throw e;
      } finally {
        await ctx.close();
      }
    });
}
