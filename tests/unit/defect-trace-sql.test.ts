/**
 * The defect trace's SQL for SQL Server, held honest without a server by the SQL it generates:
 * bracketed identifiers, datetime2 parameters, every value bound, under 2,100 parameters for the
 * largest batch; and the pure assembly of the statement's result into table rows.
 */
import { describe, expect, it } from 'vitest';
import { tsqlProblems } from '../support/tsql-check.js';
import knexFactory from 'knex';
import { buildDefectTraceStatement, type DefectTraceFineRow, type DefectTraceQueryInput } from '../../sql/defect-trace-query.js';
import { rowsPerStatement } from '../../sql/batch-insert.js';
import { ASSEMBLY_COLUMNS, INSPECTION_COLUMNS, WINDING_COLUMNS } from '../../config/schema.js';
import { addDays, dateRange, periodsForDays, productionDay, sourceTimestamp } from '../../etl/periods.js';
import { assembleDefectRows } from '../../etl/defect-trace.js';
import { UNTRACED } from '../../etl/lead-indicator.js';

const mssql = knexFactory({ client: 'mssql' });
const clock = { timezone: 'Europe/Berlin', dayStart: '06:00' };
const SQL_SERVER_PARAM_LIMIT = 2100;

function input(days: string[], over: Partial<DefectTraceQueryInput> = {}): DefectTraceQueryInput {
  return {
    dialect: 'mssql',
    assembly: { table: 'dbo.asb_data', columns: { ...ASSEMBLY_COLUMNS } },
    winding: { table: 'dbo.wnd_data', columns: { ...WINDING_COLUMNS } },
    inspection: { table: 'dbo.isp_ifo_h', columns: { ...INSPECTION_COLUMNS } },
    slots: days.map((d) => {
      const p = productionDay(d, clock);
      return { from: sourceTimestamp(p.from, 'local', clock), to: sourceTimestamp(p.to, 'local', clock) };
    }),
    gapItemCode: 'SEP_ANODE_GAP',
    lsl: 0.8,
    usl: 1.2,
    infusionCode: 5,
    fillingCode: 4,
    ...over,
  };
}

// The largest batch the job builds: five ISO weeks, every day of them a slot.
const fiveWeeks = dateRange('2026-10-05', '2026-11-08');

describe('defect-trace SQL for SQL Server', () => {
  it('quotes identifiers with brackets, types timestamp parameters as datetime2 and binds every value', () => {
    const st = buildDefectTraceStatement(input(fiveWeeks));
    expect(st.sql).toContain('FROM [dbo].[asb_data] a JOIN slots sl ON a.[prod_dt] >= sl.ps');
    expect(st.sql).toContain('FROM [dbo].[wnd_data] w WHERE w.[cell_id] IN (SELECT cell_id FROM cef)');
    expect(st.sql).toContain('FROM [dbo].[isp_ifo_h] i');
    expect(st.sql).toContain('SELECT CAST(? AS integer) AS k, CAST(? AS datetime2) AS ps, CAST(? AS datetime2) AS pe');
    expect(st.sql).not.toMatch(/LIMIT|::|"|`/);
    expect(tsqlProblems(st.sql)).toEqual([]);
    // Dates, the item code, the defect codes and the limits are parameters, never literals.
    expect(st.sql).not.toMatch(/2026-|SEP_ANODE_GAP|0\.8|1\.2|= 5|= 4/);
    expect(st.bindings).toContain('SEP_ANODE_GAP');
    const native = mssql.raw(st.sql, st.bindings).toSQL().toNative();
    expect(native.bindings.length).toBe(st.bindings.length);
    expect(native.sql).toContain('@p0');
    expect(native.sql).not.toContain('?');
  });

  it('stays under 2,100 parameters for the largest batch', () => {
    const st = buildDefectTraceStatement(input(fiveWeeks));
    // 35 slots × 3, two outer ranges × 2, item code, two defect codes, LSL and USL.
    expect(st.bindings.length).toBe(35 * 3 + 4 + 1 + 2 + 2);
    expect(st.bindings.length).toBeLessThan(SQL_SERVER_PARAM_LIMIT);
  });

  it('uses the configured table and column names, and refuses an unsafe one', () => {
    const st = buildDefectTraceStatement(
      input(['2026-10-24'], {
        assembly: { table: 'mes.CEF_RESULT', columns: { ...ASSEMBLY_COLUMNS, cellId: 'CellID', prodDt: 'FillTime', dfctCd: 'DefectCode' } },
        inspection: { table: 'mes.INSP', columns: { ...INSPECTION_COLUMNS, inspVal: 'Value' } },
      }),
    );
    expect(st.sql).toContain('FROM [mes].[CEF_RESULT] a JOIN slots sl ON a.[FillTime] >= sl.ps AND a.[FillTime] < sl.pe');
    expect(st.sql).toContain('a.[CellID] AS cell_id, a.[DefectCode] AS dfct_cd');
    expect(st.sql).toContain('i.[Value] IS NOT NULL');
    expect(() => buildDefectTraceStatement(input(['2026-10-24'], { winding: { table: 'wnd_data; DROP TABLE x', columns: { ...WINDING_COLUMNS } } }))).toThrow(/unsafe SQL identifier/);
  });

  it('binds the 25-hour DST day by its wall-clock bounds, and other dialects quote with double quotes', () => {
    const st = buildDefectTraceStatement(input(['2026-10-24']));
    expect(st.bindings.slice(0, 3)).toEqual([0, '2026-10-24 06:00:00', '2026-10-25 06:00:00']);
    const pg = buildDefectTraceStatement({ ...input(['2026-10-24']), dialect: 'postgres' });
    expect(pg.sql).toContain('FROM "dbo"."asb_data" a');
    expect(pg.sql).toContain('CAST(? AS timestamp)');
  });

  it('writes the table in batches under the parameter limit', () => {
    const row = {
      winder: 'WND03', period_type: 'day', period_start: '2026-10-22', period_label: '2026-10-22', cells_assembled: 300,
      infusion_defects: 12, filling_defects: 1, infusion_defect_rate: 0.04, gap_n: 24, gap_mean: 0.74, gap_min: 0.67, gap_max: 0.8,
      gap_sd: 0.03, gap_below_lsl: 24, gap_above_usl: 0, gap_lsl: 0.8, gap_usl: 1.2, run_id: 1, computed_at: new Date(),
    };
    const per = rowsPerStatement('mssql', Object.keys(row).length);
    const q = mssql.withSchema('dbo').table('summary_defect_winder').insert(Array.from({ length: per }, () => row)).toSQL();
    expect(q.sql).toMatch(/^insert into \[dbo\]\.\[summary_defect_winder\]/);
    expect(q.bindings.length).toBeLessThan(SQL_SERVER_PARAM_LIMIT);
  });
});

describe('assembling the rows', () => {
  const week = dateRange('2026-10-19', '2026-10-25');
  const C = (k: number, winder: string | null, cells: number, infusion: number, filling: number): DefectTraceFineRow => ({ part: 'C', k, winder, v1: cells, v2: infusion, v3: filling, v4: null, v5: null, v6: null, v7: null });
  // Part G: n, mean, min, max, Σ(x − mean)², below, above (pg returns counts as text: still numbers).
  const G = (k: number, winder: string, n: number, m: number, min: number, max: number, ss: number, below: number, above: number): DefectTraceFineRow => ({ part: 'G', k, winder, v1: String(n), v2: m, v3: min, v4: max, v5: ss, v6: below, v7: above });

  const fine = [
    C(4, 'WND01', 3, 1, 1), // slot 4 = 10-23
    C(4, null, 1, 1, 0),
    C(5, 'WND01', 1, 1, 0), // 10-24
    G(4, 'WND01', 3, 0.95, 0.9, 1.0, 0.005, 0, 0),
    G(5, 'WND01', 2, 0.8, 0.75, 0.85, 0.005, 1, 0),
    G(6, 'WND09', 1, 1.3, 1.3, 1.3, 0, 0, 1), // 10-25: inspected, no cells
  ];
  const rows = assembleDefectRows(fine, periodsForDays(['2026-10-23', '2026-10-24', '2026-10-25'], clock), week, { lsl: 0.8, usl: 1.2 });
  const find = (type: string, start: string, winder: string) => rows.find((r) => r.period_type === type && r.period_start === start && r.winder === winder);

  it('gives each day its slot, the untraced cells their own row, and winders without cells a NULL rate', () => {
    expect(rows.filter((r) => r.period_type === 'day').map((r) => `${r.period_start} ${r.winder}`)).toEqual([
      `2026-10-23 ${UNTRACED}`, '2026-10-23 WND01', '2026-10-24 WND01', '2026-10-25 WND09',
    ]);
    expect(find('day', '2026-10-23', UNTRACED)).toMatchObject({ cells_assembled: 1, infusion_defects: 1, infusion_defect_rate: 1, gap_n: 0, gap_mean: null, gap_sd: null });
    expect(find('day', '2026-10-23', 'WND01')).toMatchObject({ cells_assembled: 3, infusion_defect_rate: 1 / 3, gap_n: 3, gap_mean: 0.95, gap_sd: 0.05, gap_lsl: 0.8, gap_usl: 1.2 });
    expect(find('day', '2026-10-25', 'WND09')).toMatchObject({ cells_assembled: 0, infusion_defect_rate: null, gap_n: 1, gap_sd: null, gap_above_usl: 1 });
  });

  it('pools the week from its day slots', () => {
    // WND01: 5 readings, mean (2.85 + 1.6)/5 = 0.89; SS = 0.005 + 0.005 + 3·0.06² + 2·0.09² = 0.01 + 0.0108 + 0.0162 = 0.037 → sd √(0.037/4).
    const w = find('week', '2026-10-19', 'WND01')!;
    expect(w).toMatchObject({ period_label: '2026-W43', cells_assembled: 4, infusion_defects: 2, filling_defects: 1, infusion_defect_rate: 0.5, gap_n: 5, gap_min: 0.75, gap_max: 1, gap_below_lsl: 1 });
    expect(w.gap_mean!).toBeCloseTo(0.89, 9);
    expect(w.gap_sd!).toBeCloseTo(Math.sqrt(0.037 / 4), 9);
    expect(rows.filter((r) => r.period_type === 'week').map((r) => r.winder)).toEqual([UNTRACED, 'WND01', 'WND09']);
  });

  it('covers the whole week whatever days were asked for', () => {
    expect(addDays(week[0]!, 6)).toBe(week[6]);
    const onlyMonday = assembleDefectRows([C(6, 'WND02', 10, 0, 0)], periodsForDays(['2026-10-19'], clock), week, { lsl: 0.8, usl: 1.2 });
    // Sunday's cells are in the week row though only Monday (without rows) was asked for.
    expect(onlyMonday).toEqual([expect.objectContaining({ period_type: 'week', winder: 'WND02', cells_assembled: 10, infusion_defect_rate: 0 })]);
  });
});
