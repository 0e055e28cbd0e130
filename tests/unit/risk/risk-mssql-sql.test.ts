/**
 * The cell-risk job's writes as SQL Server would get them (tests/support/mssql-dry-run.ts): a new
 * model version (the active one retired) and a day's scores replaced in one transaction, every
 * Date bound as DATETIMEOFFSET(3), no form SQL Server refuses, no row count read.
 */
import { describe, expect, it } from 'vitest';
import { mssqlDryRun, type SentStatement } from '../../support/mssql-dry-run.js';
import { tsqlProblems } from '../../support/tsql-check.js';
import { silentLog } from '../../support/backends.js';
import { resolveConfig } from '../../../config/load.js';
import type { EtlContext } from '../../../etl/context.js';
import { readActiveModel, replaceScores, storeModel } from '../../../etl/risk/model-store.js';

const untyped = (sent: readonly SentStatement[]) =>
  sent.flatMap((st) => st.parameters.filter((p) => p.value instanceof Date && !(p.type === 'DateTimeOffset' && p.scale === 3)).map((p) => `${p.type}(${p.scale}) in ${st.sql}`));

describe('cell-risk statements on SQL Server', () => {
  it('stores a version after the highest, retires the active one, replaces the day\'s scores, in one transaction', async () => {
    const at = new Date('2026-11-11T05:30:00.385Z');
    const { db, sent } = mssqlDryRun((st) => (st.sql.startsWith('select top (@p0) max([version])') ? [{ v: 4 }] : []));
    const ctx = { target: db, targetSchema: 'dbo', targetDialect: 'mssql', log: silentLog, config: resolveConfig({}, {}) } as unknown as EtlContext;
    await db.transaction(async (trx) => {
      const version = await storeModel(ctx, trx, {
        fitDay: '2026-11-10', fittedAt: at, fittedBy: 'test', runId: 9, train: { from: '2026-10-16', to: '2026-10-29' }, test: { from: '2026-10-30', to: '2026-11-03' },
        selection: { numeric: ['gap_mm'], categorical: [] }, encoding: { numeric: [{ feature: 'gap_mm', mean: 1, sd: 0.1, present: 10 }], categorical: [] },
        intercept: { coefficient: -3, se: 0.1 }, columns: [{ feature: 'gap_mm', coefficient: -0.5, se: 0.05, perUnit: { coefficient: -5, se: 0.5 } }],
        ridge: 1, separated: false, nTrain: 10, nTest: 5, positivesTrain: 2, positivesTest: 1, auc: 0.8, precision: null, recall: 0, threshold: 75,
        calibration: [], roc: [{ threshold: Number.POSITIVE_INFINITY, fpr: 0, tpr: 0 }],
      });
      expect(version).toBe(5);
      await replaceScores(ctx, trx, '2026-11-10', [{ day: '2026-11-10', cell_id: 'C1', lot_id: 'L1', winder: 'WND03', score: 80.5, class: 'short-term test recommended', top_features: '[]', model_version: 5 }], { run_id: 9, computed_at: at });
    });
    await readActiveModel(ctx);
    await db.destroy();
    const all = sent();
    const sql = all.map((s) => s.sql);
    expect(all.flatMap((s) => tsqlProblems(s.sql))).toEqual([]);
    expect(untyped(all)).toEqual([]);
    expect(sql[0]).toBe('BEGIN TRANSACTION');
    expect(sql[1]).toMatch(/^select top \(@p0\) max\(\[version\]\) as \[v\] from \[dbo\]\.\[risk_models\]/);
    expect(sql[2]).toMatch(/^update \[dbo\]\.\[risk_models\] set \[status\] = @p0 where \[status\] = @p1/);
    expect(sql[3]).toMatch(/^insert into \[dbo\]\.\[risk_models\]/);
    expect(sql[4]).toMatch(/^delete from \[dbo\]\.\[cell_risk\] where \[day\] = @p0/);
    expect(sql[5]).toMatch(/^insert into \[dbo\]\.\[cell_risk\]/);
    expect(sql[6]).toBe('COMMIT TRANSACTION');
    // The ROC curve's first point (threshold +∞) is stored as null: JSON has no Infinity.
    expect(all[3]!.parameters.map((p) => p.value)).toContain(JSON.stringify([{ threshold: null, fpr: 0, tpr: 0 }]));
    expect(sql[7]).toMatch(/^select top \(@p0\) \* from \[dbo\]\.\[risk_models\] where \[status\] = @p1 order by \[version\] desc/);
  });
});
