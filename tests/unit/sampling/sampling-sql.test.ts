/**
 * The statement that reads the lots, as SQL Server gets it (no SQL Server here: checked for the
 * forms it refuses), and the argument checks of `yieldrun sampling`.
 */
import { describe, expect, it } from 'vitest';
import { DateTime } from 'luxon';
import { resolveConfig } from '../../../config/load.js';
import { lotsStatement } from '../../../etl/sampling/lot-source.js';
import { CallerInputError, checkDesignArgs, percentArg, riskArg, wholeNumberArg } from '../../../jobs/caller-input.js';
import { tsqlProblems } from '../../support/tsql-check.js';

const clock = { timezone: 'Europe/Berlin', dayStart: '06:00' };
const from = DateTime.fromISO('2026-11-02T06:00:00', { zone: 'Europe/Berlin' });
const to = from.plus({ days: 1 });

describe('the lots statement', () => {
  it('on SQL Server: bracketed names, the window as two bound values, nothing SQL Server refuses', () => {
    const config = resolveConfig({ sampling: { lots: { table: 'dbo.incoming_lots' } } }, {}, 'test');
    const st = lotsStatement({ config, clock, sourceDialect: 'mssql' }, from, to);
    expect(tsqlProblems(st.sql)).toEqual([]);
    expect(st.sql).toContain('FROM [dbo].[incoming_lots] s WHERE s.[inspected_at] >= ? AND s.[inspected_at] < ?');
    expect(st.bindings).toEqual(['2026-11-02 06:00:00', '2026-11-03 06:00:00']);
  });
  it('a query source is wrapped as a derived table; a lot source without suppliers selects NULL', () => {
    const config = resolveConfig({ sampling: { lots: { query: 'SELECT * FROM qc.lot_results', columns: { supplier: null } } } }, {}, 'test');
    const st = lotsStatement({ config, clock, sourceDialect: 'mssql' }, from, to);
    expect(tsqlProblems(st.sql)).toEqual([]);
    expect(st.sql).toContain('NULL AS [supplier]');
    expect(st.sql).toContain('FROM (SELECT * FROM qc.lot_results) s WHERE');
  });
  it('bad config fails at start-up naming the key', () => {
    expect(() => resolveConfig({ sampling: { plans: [{ plan: { type: 'mil-std-105e', aql: 0.7 } }] } }, {}, 'test')).toThrow(/sampling\.plans\.0\.plan\.aql/);
    expect(() => resolveConfig({ sampling: { plans: [{ plan: { type: 'lot-size-table', table: 'nope' } }] } }, {}, 'test')).toThrow(/no sampling\.lotSizeTables\.nope/);
    expect(() => resolveConfig({ sampling: { lots: { table: 'x; drop' } } }, {}, 'test')).toThrow(/sampling\.lots\.table/);
    expect(() => resolveConfig({ sampling: { lotSizeTables: { t: { rows: [{ upTo: 200, n: 20 }, { upTo: 100, n: 20 }] } } } }, {}, 'test')).toThrow(/ascending order/);
  });
});

describe('yieldrun sampling arguments', () => {
  it('refuses what cannot be a lot size, an AQL, a risk, and an LTPD not above the AQL, naming the flag', () => {
    expect(wholeNumberArg('--lot-size', '1200', 2)).toBe(1200);
    expect(() => wholeNumberArg('--lot-size', '12.5', 2)).toThrow("--lot-size: expected a whole number of at least 2, got '12.5'");
    expect(() => percentArg('--aql', 'abc')).toThrow(CallerInputError);
    expect(() => riskArg('--alpha', '1.5')).toThrow(/--alpha: expected a probability above 0 and below 1/);
    expect(() => checkDesignArgs({ aql: '2', ltpd: '1' })).toThrow('--ltpd: expected an LTPD above the AQL 2 %, got 1 %');
    expect(checkDesignArgs({ aql: '1', ltpd: '10' })).toEqual({ aql: 1, ltpd: 10, alpha: 0.05, beta: 0.1, lotSize: undefined });
  });
});
