/**
 * The `yieldrun risk` commands (README "Cell risk"): the model versions with their held-out
 * metrics and coefficients (`models`), and fitting a new version for a day now, then scoring the
 * day with it (`refit`). Registered on the `risk` command by jobs/cli.ts.
 */
import type { Command } from 'commander';
import type { Logger } from 'pino';
import type { ResolvedConfig } from '../config/load.js';
import { openEtlContext } from '../etl/context.js';
import { describeCellRisk, runCellRisk } from '../etl/risk/cell-risk-job.js';
import { listModels, type StoredModel } from '../etl/risk/model-store.js';
import { auditedCli } from './console/cli-audit.js';

export interface RiskCommandDeps {
  config(cmd: Command): ResolvedConfig;
  triggeredBy(): string;
  /** --date, validated as the other commands' days are. */
  dayArg(v: string): string;
  log: Logger;
}

const metric = (v: number | null, digits = 3) => (v === null ? '–' : v.toFixed(digits));

/** The lines `yieldrun risk models` prints for one version (pure). */
export function modelLines(m: StoredModel): string[] {
  const lines = [
    `version ${m.version} (${m.status}) fitted for ${m.fitDay} by ${m.fittedBy}, run ${m.runId}`,
    `  training ${m.train.from} … ${m.train.to}: ${m.nTrain} cells, ${m.positivesTrain} failed; held out ${m.test.from} … ${m.test.to}: ${m.nTest} cells, ${m.positivesTest} failed`,
    `  AUC ${metric(m.auc)}, at score ${m.threshold}: precision ${metric(m.precision)}, recall ${metric(m.recall)}; ridge ${m.ridge}${m.separated ? ' (separated)' : ''}`,
    `  intercept ${m.intercept.coefficient.toFixed(4)} (se ${m.intercept.se.toFixed(4)})`,
  ];
  for (const c of m.columns) {
    const name = c.level === undefined ? c.feature : `${c.feature} = ${c.level}`;
    const unit = c.perUnit ? `; per unit ${c.perUnit.coefficient.toFixed(4)} (se ${c.perUnit.se.toFixed(4)})` : '';
    lines.push(`  ${name.padEnd(28)} ${c.coefficient.toFixed(4).padStart(9)} (se ${c.se.toFixed(4)})${unit}`);
  }
  return lines;
}

export function registerRiskCommands(risk: Command, deps: RiskCommandDeps): void {
  risk
    .command('models')
    .description('the cell-risk model versions, newest first: windows, held-out AUC, precision and recall, coefficients with standard errors')
    .option('--json', 'print them as JSON')
    .action(async (o: { json?: boolean }, cmd: Command) => {
      const ctx = openEtlContext(deps.config(cmd), deps.log);
      try {
        const models = await listModels(ctx);
        if (o.json) console.log(JSON.stringify(models, null, 2));
        else if (models.length === 0) console.log('no model fitted yet (yieldrun run cell-risk --date D, or yieldrun risk refit --date D)');
        else for (const m of models) for (const l of modelLines(m)) console.log(l);
      } finally {
        await ctx.close();
      }
    });

  risk
    .command('refit')
    .description('fit a new model version for the day now (the active one retired), then score the day with it')
    .requiredOption('--date <date>', 'the production day', deps.dayArg)
    .option('--reason <text>', 'why, recorded in etl_runs')
    .action(async (o: { date: string; reason?: string }, cmd: Command) => {
      const cfg = deps.config(cmd);
      const ctx = openEtlContext(cfg, deps.log);
      try {
        const by = deps.triggeredBy();
        const r = await auditedCli(cfg, deps.log, by, 'risk refit', { day: o.date, reason: o.reason }, () => runCellRisk(ctx, { days: [o.date], refit: true, triggeredBy: by, reason: o.reason }), ctx);
        for (const l of describeCellRisk(r)) console.log(l);
      } finally {
        await ctx.close();
      }
    });
}
