/**
 * Reads the lots inspected in a window from `sampling.lots` (a table, or one SELECT wrapped as a
 * derived table), and checks each row's values. A row whose values make no sense (a lot size that
 * is not a whole number, more defectives than inspected units) is kept with its reason, never
 * dropped: it becomes an `invalid` disposition.
 */
import type { DateTime } from 'luxon';
import type { EtlContext } from '../context.js';
import { sourceTimestamp, sourceValueInstant } from '../periods.js';
import { quoteIdent, quoteTable } from '../../sql/dialect.js';
import { SqlText, runStatement, type Statement } from '../../sql/statement.js';
import { checkSourceTable } from '../../sql/source-check.js';

export interface InspectedLot {
  lotId: string;
  product: string;
  inspectionClass: string;
  supplier: string | null;
  inspectedAt: DateTime;
  lotSize: number | null;
  inspected: number | null;
  defectives: number | null;
  /** Why the row cannot be judged; null when its values are sound. */
  invalid: string | null;
}

const text = (v: unknown): string | null => {
  if (v === null || v === undefined) return null;
  const s = String(v).trim();
  return s === '' ? null : s;
};

const count = (v: unknown): number | null => {
  if (v === null || v === undefined || v === '') return null;
  const n = typeof v === 'number' ? v : Number(String(v).trim());
  return Number.isFinite(n) ? n : Number.NaN;
};

/** The checks of one row (pure). */
export function lotProblem(l: Pick<InspectedLot, 'lotId' | 'product' | 'inspectionClass' | 'lotSize' | 'inspected' | 'defectives'>): string | null {
  if (!l.lotId) return 'no lot id';
  if (!l.product) return 'no product';
  if (!l.inspectionClass) return 'no inspection class';
  const whole = (n: number | null) => n !== null && Number.isInteger(n) && n >= 0;
  if (!whole(l.lotSize) || l.lotSize! < 1) return `lot size ${l.lotSize ?? 'missing'}: expected a whole number of at least 1`;
  if (!whole(l.inspected)) return `inspected ${l.inspected ?? 'missing'}: expected a whole number`;
  if (l.inspected! > l.lotSize!) return `inspected ${l.inspected} exceeds the lot size ${l.lotSize}`;
  if (!whole(l.defectives)) return `defectives ${l.defectives ?? 'missing'}: expected a whole number`;
  if (l.defectives! > l.inspected!) return `defectives ${l.defectives} exceed the inspected ${l.inspected}`;
  return null;
}

const LOGICAL = ['lotId', 'product', 'supplier', 'lotSize', 'inspected', 'defectives', 'inspectedAt', 'inspectionClass'] as const;

/** Checks the mapping before any work (a table source): a wrong column name stops the run naming the key. */
export async function checkLotSource(ctx: EtlContext): Promise<void> {
  const { table, columns } = ctx.config.sampling.lots;
  if (table) await checkSourceTable(ctx.source, table, columns, 'sampling.lots');
}

/** The statement that reads the lots of [from, to): every value bound, every name quoted (pure). */
export function lotsStatement(ctx: Pick<EtlContext, 'config' | 'clock' | 'sourceDialect'>, from: DateTime, to: DateTime): Statement {
  const { table, query, columns } = ctx.config.sampling.lots;
  const d = ctx.sourceDialect;
  const mode = ctx.config.source.timestamps;
  const q = (c: string) => `s.${quoteIdent(d, c)}`;
  const select = LOGICAL.map((k) => {
    const col = columns[k];
    return col === null ? `NULL AS ${quoteIdent(d, k)}` : `${q(col)} AS ${quoteIdent(d, k)}`;
  }).join(', ');
  const st = new SqlText();
  st.add(`SELECT ${select} FROM `);
  st.add(query ? `(${query}) s` : `${quoteTable(d, table!)} s`);
  st.add(` WHERE ${q(columns.inspectedAt)} >= ? AND ${q(columns.inspectedAt)} < ?`, sourceTimestamp(from, mode, ctx.clock), sourceTimestamp(to, mode, ctx.clock));
  return st.statement();
}

/** The lots whose inspection time falls in [from, to), in inspection order. */
export async function readLots(ctx: EtlContext, from: DateTime, to: DateTime): Promise<InspectedLot[]> {
  const mode = ctx.config.source.timestamps;
  const rows = await runStatement<Record<string, unknown>>(ctx.source, lotsStatement(ctx, from, to));
  const lots = rows.map((r): InspectedLot => {
    const at = r.inspectedAt;
    const inspectedAt = sourceValueInstant(at, mode, ctx.clock);
    const lot = {
      lotId: text(r.lotId) ?? '',
      product: text(r.product) ?? '',
      inspectionClass: text(r.inspectionClass) ?? '',
      supplier: text(r.supplier),
      inspectedAt,
      lotSize: count(r.lotSize),
      inspected: count(r.inspected),
      defectives: count(r.defectives),
    };
    return { ...lot, invalid: inspectedAt.isValid ? lotProblem(lot) : `inspection time '${String(at)}' is not a time` };
  });
  return lots.sort((a, b) => a.inspectedAt.toMillis() - b.inspectedAt.toMillis() || a.lotId.localeCompare(b.lotId));
}
