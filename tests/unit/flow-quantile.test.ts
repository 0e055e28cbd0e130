/**
 * The process flow's medians and 90th percentiles (process-flow.md: numpy's default, type 7), as
 * the SQLite aggregate computes them and as a real SQLite database runs it, against values worked
 * out by hand.
 */
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { connect } from '../../sql/connection.js';
import { SQLITE_QUANTILE_FUNCTION, typeSevenQuantile } from '../../sql/sqlite-quantile.js';

describe('type-7 quantile', () => {
  it('interpolates between the two values around h = (n − 1)·p', () => {
    // [1, 2, 3, 4]: median h = 1.5 → 2·0.5 + 3·0.5 = 2.5; p90 h = 2.7 → 3·0.3 + 4·0.7 = 3.7.
    expect(typeSevenQuantile([1, 2, 3, 4], 1, 2)).toBe(2.5);
    expect(typeSevenQuantile([1, 2, 3, 4], 9, 10)).toBeCloseTo(3.7, 12);
    // Odd count: the middle value exactly; p90 of [10, 20, 30]: h = 1.8 → 20·0.2 + 30·0.8 = 28.
    expect(typeSevenQuantile([10, 20, 30], 1, 2)).toBe(20);
    expect(typeSevenQuantile([10, 20, 30], 9, 10)).toBeCloseTo(28, 12);
    // One value is every quantile; none is NULL.
    expect(typeSevenQuantile([7], 9, 10)).toBe(7);
    expect(typeSevenQuantile([], 1, 2)).toBeNull();
  });

  describe('as a SQLite aggregate', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'yieldrun-quantile-'));
    const db = connect(`sqlite:${path.join(dir, 'q.sqlite')}`);
    afterAll(async () => {
      await db.destroy();
      rmSync(dir, { recursive: true, force: true });
    });

    it('sorts each group, skips NULLs and gives NULL to a group without values', async () => {
      const rows = (await db.raw(
        `WITH v(g, x) AS (VALUES ('a', 4), ('a', NULL), ('a', 1), ('a', 3), ('a', 2), ('b', NULL), ('c', 30.0), ('c', 10), ('c', 20))
         SELECT g, ${SQLITE_QUANTILE_FUNCTION}(x, 1, 2) AS med, ${SQLITE_QUANTILE_FUNCTION}(x, 9, 10) AS p90 FROM v GROUP BY g ORDER BY g`,
      )) as { g: string; med: number | null; p90: number | null }[];
      expect(rows.map((r) => [r.g, r.med])).toEqual([
        ['a', 2.5],
        ['b', null],
        ['c', 20],
      ]);
      expect(rows[0]!.p90).toBeCloseTo(3.7, 12);
      expect(rows[1]!.p90).toBeNull();
      expect(rows[2]!.p90).toBeCloseTo(28, 12);
    });
  });
});
