/**
 * The MES exchange's statements as SQL Server would get them (tests/support/mssql-dry-run.ts): the
 * outbox's queue, claim, settle, due and stale-claim statements, the risk rows' replacement and the
 * orders' upsert, with every Date bound as DATETIMEOFFSET(3), no form SQL Server refuses, and no
 * statement whose row count is read.
 */
import { describe, expect, it } from 'vitest';
import { mssqlDryRun, type SentStatement } from '../support/mssql-dry-run.js';
import { tsqlProblems } from '../support/tsql-check.js';
import { silentLog } from '../support/backends.js';
import { resolveConfig } from '../../config/load.js';
import type { EtlContext } from '../../etl/context.js';
import { claimPush, duePushIds, queuePush, releaseStaleClaims, settlePush } from '../../etl/mes/outbox.js';
import { storeRisk } from '../../etl/mes/risk-store.js';
import { pullOrders } from '../../etl/mes/orders.js';
import { startLoopbackMes } from '../../data/loopback-mes.js';

const untyped = (sent: readonly SentStatement[]) =>
  sent.flatMap((st) => st.parameters.filter((p) => p.value instanceof Date && !(p.type === 'DateTimeOffset' && p.scale === 3)).map((p) => `${p.type}(${p.scale}) in ${st.sql}`));

describe('MES exchange statements on SQL Server', () => {
  it('queue, claim, settle, due and stale claims of mes_outbox, and the risk rows of a day', async () => {
    const at = new Date('2026-11-21T05:30:00.385Z');
    const { db, sent } = mssqlDryRun((st) => {
      if (st.sql.startsWith('insert into [dbo].[mes_outbox]')) return [{ id: 3 }];
      if (st.sql.startsWith('select') && st.sql.includes('and [claim_token] = @p2')) return [{ id: 3, idempotency_key: 'k', kind: 'product-yield', day: '2026-11-20', entity: 'P1', status: 'sending', payload: '{}', attempts: 1, next_attempt_at: at, expires_at: at }];
      return [];
    });
    const ctx = { target: db, targetSchema: 'dbo', targetDialect: 'mssql', log: silentLog, config: resolveConfig({}, {}) } as unknown as EtlContext;
    expect(await queuePush(ctx, { kind: 'product-yield', day: '2026-11-20', entity: 'P1', payload: '{}', runId: 1 }, at)).toEqual({ id: 3, outcome: 'queued', status: 'pending' });
    const held = await claimPush(ctx, 3, at, at);
    expect(held).toMatchObject({ id: 3, status: 'sending' });
    await settlePush(ctx, held!, { status: 'acknowledged', httpStatus: 201, receipt: 'r', acknowledgedAt: at }, at);
    await duePushIds(ctx, at, 10);
    await releaseStaleClaims(ctx, at, 60_000);
    await storeRisk(ctx, '2026-11-20', [{ day: '2026-11-20', orderId: 'O', product: 'P', quantity: 5, startDate: '2026-11-01', dueDate: '2026-11-30', status: 'released', goodSoFar: 1, ratePerDay: 0.5, rateWindowDays: 7, daysLeft: 10, projectedGood: 6, shortfall: 0, atRisk: false }], 1, at);
    await db.destroy();
    const all = sent();
    expect(all.flatMap((s) => tsqlProblems(s.sql))).toEqual([]);
    expect(untyped(all)).toEqual([]);
    expect(all[0]!.sql).toMatch(/^insert into \[dbo\]\.\[mes_outbox\] .* output inserted\.\[id\] values/);
    expect(all.find((s) => s.sql.startsWith('update [dbo].[mes_outbox] set [status] = @p0, [claim_token]'))!.sql).toContain('[attempts] = attempts + 1');
    expect(all.some((s) => s.sql.startsWith('delete from [dbo].[mes_order_risk] where [day] = @p0'))).toBe(true);
    expect(all.some((s) => s.sql.startsWith('insert into [dbo].[mes_order_risk]'))).toBe(true);
    // A claim is read back by its token, never judged by the UPDATE's count.
    const claim = all.findIndex((s) => s.sql.startsWith('update [dbo].[mes_outbox] set [status] = @p0, [claim_token]'));
    expect(all[claim + 1]!.sql).toMatch(/^select top \(@p0\) .* from \[dbo\]\.\[mes_outbox\] where \[id\] = @p1 and \[claim_token\] = @p2$/);
  });

  it('the pulled orders replace their rows by id: a DELETE … IN and an INSERT in one transaction', async () => {
    const mes = await startLoopbackMes({ orders: [{ id: 'PO-1', material: { id: 'P' }, quantity: { value: 5, unit: 'units' }, scheduledStart: '2026-11-01', dueDate: '2026-11-09', status: 'released' }] });
    const { db, sent } = mssqlDryRun();
    try {
      const ctx = { target: db, targetSchema: 'dbo', targetDialect: 'mssql', log: silentLog, config: resolveConfig({}, {}) } as unknown as EtlContext;
      expect(await pullOrders(ctx, { url: mes.url, token: undefined, timeoutMs: 2_000 }, 1)).toEqual({ pages: 1, orders: 1, rejected: [] });
    } finally {
      await mes.close();
      await db.destroy();
    }
    const sql = sent().map((s) => s.sql);
    expect(sql[0]).toBe('BEGIN TRANSACTION');
    expect(sql[1]).toMatch(/^delete from \[dbo\]\.\[mes_orders\] where \[order_id\] in \(@p0\)/);
    expect(sql[sql.length - 1]).toBe('COMMIT TRANSACTION');
    expect(sql.some((s) => s.startsWith('insert into [dbo].[mes_orders]'))).toBe(true);
    expect(sent().flatMap((s) => tsqlProblems(s.sql))).toEqual([]);
    expect(untyped(sent())).toEqual([]);
  });
});
