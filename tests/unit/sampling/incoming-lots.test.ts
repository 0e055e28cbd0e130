/**
 * The generator's inspected lots: seeded, the planted bad separator supplier drifting worse, cell
 * lots drawn from the cells' own infusion defects.
 */
import { describe, expect, it } from 'vitest';
import { BAD_SUPPLIER, incomingLotsOfDay, type IncomingLotRow } from '../../../data/incoming-lots.js';
import { productionDayWindows } from '../../../data/source-time.js';
import type { CellLineDay } from '../../../data/cell-assembly.js';

const clock = { timezone: 'Europe/Berlin', dayStart: '06:00' };
const windows = productionDayWindows('2026-10-12', 30, clock);
const fmt = (ms: number) => new Date(ms).toISOString();
const days = (seed: number) => windows.map((w, i) => incomingLotsOfDay(seed, w, i, windows.length, fmt, null));
const rate = (rows: IncomingLotRow[]) => rows.reduce((a, r) => a + r.defectives, 0) / rows.reduce((a, r) => a + r.inspected, 0);
const major = (rows: IncomingLotRow[][], supplier: string) => rows.flat().filter((r) => r.supplier === supplier && r.inspectionClass === 'major');

describe('incoming lots', () => {
  it('the same seed gives the same lots', () => {
    expect(days(7)).toEqual(days(7));
    expect(days(7)).not.toEqual(days(8));
  });
  it(`${BAD_SUPPLIER.supplier} drifts worse over the last days; SEP-SUP-1 does not`, () => {
    const all = days(42);
    const first = major(all.slice(0, 10), BAD_SUPPLIER.supplier);
    const last = major(all.slice(-6), BAD_SUPPLIER.supplier);
    expect(rate(last)).toBeGreaterThan(0.04);
    expect(rate(first)).toBeLessThan(0.01);
    expect(rate(major(all, 'SEP-SUP-1'))).toBeLessThan(0.01);
  });
  it('every lot is sound: inspected ≤ lot size, defectives ≤ inspected', () => {
    for (const r of days(42).flat()) {
      expect(r.inspected).toBeLessThanOrEqual(r.lotSize);
      expect(r.defectives).toBeLessThanOrEqual(r.inspected);
    }
  });
  it('a cell lot is sampled from its own cells: no more defectives found than its infusion defects', () => {
    const assembly = [
      ...Array.from({ length: 150 }, (_, i) => ({ cellId: `A${i}`, lotId: 'WND03-261012A', eqpId: 'CEF01', prodDt: '', dfctCd: i < 3 ? 5 : i < 10 ? 4 : 0 })),
      ...Array.from({ length: 90 }, (_, i) => ({ cellId: `B${i}`, lotId: 'WND05-261012A', eqpId: 'CEF02', prodDt: '', dfctCd: 0 })),
    ];
    const cells = { assembly, winding: [], inspection: [] } as unknown as CellLineDay;
    const rows = incomingLotsOfDay(42, windows[0]!, 0, 30, fmt, cells).filter((r) => r.product.startsWith('CELL/'));
    expect(rows.map((r) => [r.lotId, r.product, r.lotSize, r.inspected, r.inspectionClass])).toEqual([
      ['WND03-261012A', 'CELL/WND03', 150, 20, 'final'],
      ['WND05-261012A', 'CELL/WND05', 90, 20, 'final'],
    ]);
    expect(rows[0]!.defectives).toBeLessThanOrEqual(3);
    expect(rows[1]!.defectives).toBe(0);
  });
});
