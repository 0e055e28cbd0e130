/**
 * The `yieldrun sampling` commands (README "Lot sampling"): what a MIL-STD-105E plan is for a lot
 * size and AQL and what it promises (`plan`), the smallest plan meeting both risks (`design`), the
 * inspection states (`states`), and resuming a discontinued inspection (`resume`). Registered on
 * the `sampling` command by jobs/cli.ts.
 */
import type { Command } from 'commander';
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/load.js';
import { openEtlContext } from '../etl/context.js';
import { isInspectionLevel, milStd105ePlan, SamplingPlanError } from '../etl/sampling/code-letters.js';
import { INSPECTION_LEVELS } from '../etl/sampling/mil-std-105e.js';
import { aoql, binomialPa, designPlan, fractionAtPa, hypergeometricPa, producersRisk } from '../etl/sampling/oc.js';
import { listStates, resumeInspection, ResumeError } from '../etl/sampling/sampling-state.js';
import { CallerInputError, boundedText, checkDesignArgs, TEXT_LIMITS, wholeNumberArg } from './caller-input.js';

export interface SamplingCommandDeps {
  config(cmd: Command): ResolvedConfig;
  triggeredBy(): string;
  usageError(message: string): Error;
  log: Logger;
}

const pct = (x: number, digits = 2) => `${(100 * x).toFixed(digits)} %`;

/** The lines `yieldrun sampling plan` prints (pure). */
export function planLines(lotSize: number, aql: number, level: (typeof INSPECTION_LEVELS)[number]): string[] {
  const lines: string[] = [];
  for (const severity of ['normal', 'tightened', 'reduced'] as const) {
    const p = milStd105ePlan(lotSize, aql, level, severity);
    const n = Math.min(p.n, lotSize);
    const plan = { n, c: p.ac };
    const via = p.planLetter === p.codeLetter ? '' : ` (arrow to ${p.planLetter})`;
    if (severity === 'normal') lines.push(`lot size ${lotSize}, level ${level}: code letter ${p.codeLetter}`);
    const all = n < p.n ? ` (table ${p.n}: 100 % inspection)` : '';
    lines.push(
      `${severity.padEnd(9)} n ${String(n).padStart(4)}${all} Ac ${p.ac} Re ${p.re}${via}: α at AQL ${aql} % = ${pct(producersRisk(plan, aql / 100))}, LTPD (Pa 0.10) = ${pct(fractionAtPa(plan, 0.1))}, AOQL = ${pct(aoql(plan, lotSize).aoql, 3)}`,
    );
  }
  const normal = milStd105ePlan(lotSize, aql, level, 'normal');
  const n = Math.min(normal.n, lotSize);
  lines.push('', `OC of the normal plan (Pa: binomial for the process, hypergeometric for a lot of ${lotSize})`);
  const top = fractionAtPa({ n, c: normal.ac }, 0.01);
  for (let i = 0; i <= 8; i++) {
    const p = (top * i) / 8;
    const lot = n <= lotSize ? hypergeometricPa(lotSize, n, normal.ac, Math.round(p * lotSize)) : Number.NaN;
    lines.push(`  p ${pct(p).padStart(8)}  Pa process ${binomialPa(n, normal.ac, p).toFixed(4)}  Pa lot ${lot.toFixed(4)}`);
  }
  return lines;
}

export function registerSamplingCommands(sampling: Command, deps: SamplingCommandDeps): void {
  sampling
    .command('plan')
    .description('the MIL-STD-105E / ANSI Z1.4 single sampling plans (normal, tightened, reduced) for a lot size and AQL, with α, the LTPD at Pa 0.10, the AOQL and the OC')
    .requiredOption('--lot-size <n>', 'units in the lot')
    .requiredOption('--aql <percent>', 'acceptance quality limit, a column of the tables (0.010 … 1000)')
    .option('--level <level>', `inspection level: ${INSPECTION_LEVELS.join(', ')}`, 'II')
    .action((o: { lotSize: string; aql: string; level: string }) => {
      const lotSize = wholeNumberArg('--lot-size', o.lotSize, 2);
      const aql = Number(o.aql);
      if (!Number.isFinite(aql) || aql <= 0) throw new CallerInputError('--aql', `expected an AQL in percent such as 1.0, got '${o.aql}'`);
      if (!isInspectionLevel(o.level)) throw new CallerInputError('--level', `expected one of ${INSPECTION_LEVELS.join(', ')}, got '${o.level}'`);
      try {
        for (const line of planLines(lotSize, aql, o.level)) console.log(line);
      } catch (e) {
        if (e instanceof SamplingPlanError) throw new CallerInputError('--aql', e.message);
        throw e;
      }
    });

  sampling
    .command('design')
    .description('the smallest single sampling plan (n, c) with Pa(AQL) ≥ 1 − α and Pa(LTPD) ≤ β; binomial, or hypergeometric with --lot-size')
    .requiredOption('--aql <percent>', 'acceptance quality limit, percent nonconforming')
    .requiredOption('--ltpd <percent>', 'lot tolerance percent defective')
    .option('--alpha <p>', "producer's risk", '0.05')
    .option('--beta <p>', "consumer's risk", '0.10')
    .option('--lot-size <n>', 'design for lots of this size (hypergeometric)')
    .action((o: { aql: string; ltpd: string; alpha: string; beta: string; lotSize?: string }) => {
      const a = checkDesignArgs(o);
      const r = designPlan({ aql: a.aql / 100, ltpd: a.ltpd / 100, alpha: a.alpha, beta: a.beta, lotSize: a.lotSize });
      if (!r) {
        console.log(`no single sampling plan short of ${a.lotSize === undefined ? '100 000 units' : `the whole lot of ${a.lotSize}`} meets α ${a.alpha} at ${a.aql} % and β ${a.beta} at ${a.ltpd} %: inspect every unit`);
        return;
      }
      console.log(`n ${r.n}, c ${r.c} (${a.lotSize === undefined ? 'binomial' : `hypergeometric, lots of ${a.lotSize}`})`);
      console.log(`Pa at AQL ${a.aql} % = ${r.paAtAql.toFixed(4)} (α ${r.alpha.toFixed(4)} ≤ ${a.alpha}); Pa at LTPD ${a.ltpd} % = ${r.paAtLtpd.toFixed(4)} (β ${r.beta.toFixed(4)} ≤ ${a.beta})`);
      if (a.lotSize !== undefined) console.log(`AOQL ${pct(aoql(r, a.lotSize).aoql, 3)} with rejected lots screened`);
    });

  sampling
    .command('states')
    .description('the inspection state (normal, tightened, reduced, discontinued) of every product × class')
    .option('--json', 'print JSON')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const ctx = openEtlContext(deps.config(cmd), deps.log);
      try {
        const states = await listStates(ctx);
        if (o.json) console.log(JSON.stringify(states, null, 2));
        else if (states.length === 0) console.log('no lots judged yet (yieldrun run lot-sampling)');
        else for (const s of states) console.log(`${s.product} / ${s.inspectionClass}: ${s.state} since ${s.since ?? '–'} (last lot ${s.lastLotId ?? '–'} on ${s.lastDay ?? '–'})`);
      } finally {
        await ctx.close();
      }
    });

  sampling
    .command('resume')
    .description('resume a discontinued inspection after corrective action: it restarts on tightened (recorded in sampling_state_history)')
    .requiredOption('--product <name>', 'product or material')
    .requiredOption('--class <name>', 'inspection class')
    .requiredOption('--by <name>', 'who decided it')
    .option('--reason <text>', 'the corrective action')
    .action(async (o: { product: string; class: string; by: string; reason?: string }, cmd: Command) => {
      const by = boundedText('--by', o.by, TEXT_LIMITS.triggeredBy)!;
      const reason = boundedText('--reason', o.reason, 400);
      const cfg = deps.config(cmd);
      const ctx = openEtlContext(cfg, deps.log);
      try {
        const r = await resumeInspection(ctx, { product: o.product, inspectionClass: o.class, by: `${by} (${deps.triggeredBy()})`, reason });
        console.log(`${o.product} / ${o.class}: discontinued → tightened from ${r.day}, recorded by ${r.by}`);
      } catch (e) {
        if (e instanceof ResumeError) throw deps.usageError(e.message);
        throw e;
      } finally {
        await ctx.close();
      }
    });
}

