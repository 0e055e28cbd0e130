/**
 * Inspected lots for the lot-sampling job: incoming lots of electrode foil and separator from
 * their suppliers, and the cell lots of the battery line (one per winder, day and shift, the lot_id
 * of wnd_data / asb_data), each with its size, the units an inspector sampled and the
 * nonconforming units found.
 *
 * Planted: the separator supplier SEP-SUP-2 drifts worse, from about 0.3 % nonconforming to about
 * 8 % over the last 60 % of the range, so SEPARATOR / major goes to tightened inspection and is
 * discontinued; a few lots are inspected short of their sample (sample too small). Cell lots
 * (product CELL/<winder>, class final) are sampled from the actual cells: the final check finds the
 * infusion defects, a draw without replacement from the lot's own cells with dfct_cd 5, so the lots
 * of WND03 and WND07 turn bad after their gap drift.
 */
import type { Knex } from 'knex';
import type { Config } from '../config/schema.js';
import { dialectOf, type Dialect } from '../sql/dialect.js';
import { codeLetter, masterPlan } from '../etl/sampling/code-letters.js';
import { DFCT_INFUSION, type CellLineDay } from './cell-assembly.js';
import { createRng, type Rng } from './random.js';
import type { DayWindow } from './source-time.js';
import { splitTableName, timestampColumn } from './source-tables.js';
import { tableWriter } from './table-writer.js';

export type LotsMapping = Pick<Config['sampling']['lots'], 'columns'> & { table: string };

export interface IncomingLotRow {
  lotId: string;
  product: string;
  supplier: string | null;
  lotSize: number;
  inspected: number;
  defectives: number;
  inspectedAt: string;
  inspectionClass: string;
}

/** The planted bad supplier. */
export const BAD_SUPPLIER = { supplier: 'SEP-SUP-2', product: 'SEPARATOR', from: 0.4, startRate: 0.003, endRate: 0.08 } as const;

const MATERIALS: readonly { product: string; supplier: string; rate: number; lotsPerDay: number; sizes: [number, number]; critical?: number }[] = [
  { product: 'ANODE-FOIL', supplier: 'FOIL-SUP-1', rate: 0.002, lotsPerDay: 2, sizes: [800, 3000] },
  { product: 'CATHODE-FOIL', supplier: 'FOIL-SUP-1', rate: 0.003, lotsPerDay: 1, sizes: [800, 3000] },
  { product: 'CATHODE-FOIL', supplier: 'FOIL-SUP-3', rate: 0.002, lotsPerDay: 1, sizes: [500, 2000] },
  { product: 'SEPARATOR', supplier: 'SEP-SUP-1', rate: 0.003, lotsPerDay: 1, sizes: [1201, 3200], critical: 0.0005 },
  { product: 'SEPARATOR', supplier: BAD_SUPPLIER.supplier, rate: BAD_SUPPLIER.startRate, lotsPerDay: 2, sizes: [1201, 3200], critical: 0.0005 },
];

/** Nonconforming among n units each bad with probability p. */
function binomial(rng: Rng, n: number, p: number): number {
  let d = 0;
  for (let i = 0; i < n; i++) if (rng.next() < p) d++;
  return d;
}

/** Nonconforming in a sample of n drawn without replacement from N units of which D are bad. */
function drawWithoutReplacement(rng: Rng, N: number, D: number, n: number): number {
  let bad = D;
  let left = N;
  let found = 0;
  for (let i = 0; i < n && left > 0; i++, left--) {
    if (rng.next() < bad / left) {
      found++;
      bad--;
    }
  }
  return found;
}

/** The sample an inspector draws for a material lot: MIL-STD-105E normal, level II, AQL 1.0; occasionally short. */
function inspectedFor(rng: Rng, lotSize: number): number {
  const n = Math.min(lotSize, masterPlan(codeLetter(lotSize, 'II'), 1.0, 'normal').n);
  return rng.chance(0.02) ? Math.max(1, Math.floor(n * 0.6)) : n;
}

/** The plant's cell-lot sample by lot size (its sampling code table). */
function cellSample(lotSize: number): number {
  return Math.min(lotSize, lotSize <= 200 ? 20 : lotSize <= 500 ? 50 : lotSize <= 1000 ? 100 : 125);
}

const MINUTE = 60_000;

/** One day's lots (pure given the seed). */
export function incomingLotsOfDay(seed: number, w: DayWindow, dayIndex: number, days: number, formatTime: (ms: number) => string, cells: CellLineDay | null): IncomingLotRow[] {
  const rng = createRng(seed, 'incoming-lots', w.date);
  const rows: IncomingLotRow[] = [];
  const stamp = w.date.replace(/-/g, '');
  const progress = days <= 1 ? 1 : dayIndex / (days - 1);
  let k = 0;
  for (const m of MATERIALS) {
    let rate = m.rate;
    if (m.supplier === BAD_SUPPLIER.supplier && progress >= BAD_SUPPLIER.from) {
      rate = BAD_SUPPLIER.startRate + ((progress - BAD_SUPPLIER.from) / (1 - BAD_SUPPLIER.from)) * (BAD_SUPPLIER.endRate - BAD_SUPPLIER.startRate);
    }
    for (let i = 0; i < m.lotsPerDay; i++) {
      const lotSize = Math.round(rng.between(m.sizes[0], m.sizes[1]));
      const at = w.from + Math.round(rng.between(60, 20 * 60)) * MINUTE;
      const lotId = `${m.product.slice(0, 3)}-${m.supplier}-${stamp}-${++k}`;
      const inspected = inspectedFor(rng, lotSize);
      rows.push({ lotId, product: m.product, supplier: m.supplier, lotSize, inspected, defectives: binomial(rng, inspected, rate), inspectedAt: formatTime(at), inspectionClass: 'major' });
      if (m.critical !== undefined) {
        // The same lot inspected for critical nonconformities (pinholes): accept on zero.
        const n = Math.min(lotSize, 32);
        rows.push({ lotId, product: m.product, supplier: m.supplier, lotSize, inspected: n, defectives: binomial(rng, n, m.critical), inspectedAt: formatTime(at + 30 * MINUTE), inspectionClass: 'critical' });
      }
    }
  }
  if (cells) {
    const lots = new Map<string, { size: number; bad: number; winder: string }>();
    for (const a of cells.assembly) {
      const l = lots.get(a.lotId) ?? { size: 0, bad: 0, winder: a.lotId.split('-')[0]! };
      l.size++;
      if (a.dfctCd === DFCT_INFUSION) l.bad++;
      lots.set(a.lotId, l);
    }
    for (const [lotId, l] of [...lots].sort(([a], [b]) => a.localeCompare(b))) {
      const n = cellSample(l.size);
      const at = w.from + Math.round(rng.between(22 * 60, 23.5 * 60)) * MINUTE;
      rows.push({ lotId, product: `CELL/${l.winder}`, supplier: null, lotSize: l.size, inspected: n, defectives: drawWithoutReplacement(rng, l.size, l.bad, n), inspectedAt: formatTime(Math.min(at, w.to - MINUTE)), inspectionClass: 'final' });
    }
  }
  return rows;
}

export function createLotsTable(db: Knex, d: Dialect, mapping: LotsMapping): Promise<void> {
  const { schema, table } = splitTableName(mapping.table);
  const c = mapping.columns;
  const sb = schema ? db.schema.withSchema(schema) : db.schema;
  return sb.createTable(table, (t) => {
    t.string(c.lotId, 64);
    t.string(c.product, 64);
    if (c.supplier) t.string(c.supplier, 64);
    t.integer(c.lotSize);
    t.integer(c.inspected);
    t.integer(c.defectives);
    timestampColumn(t, d, c.inspectedAt);
    t.string(c.inspectionClass, 32);
    t.index([c.inspectedAt], `ix_${table}_${c.inspectedAt}`.slice(0, 60));
  });
}

/**
 * Writes the lots of every day into an empty (or absent) lots table; the cell lots come from the
 * same battery-line days the generator wrote (`cellDays`, in day order, or null for none).
 */
export async function writeIncomingLots(
  db: Knex,
  mapping: LotsMapping,
  plan: { seed: number; windows: readonly DayWindow[]; formatTime: (ms: number) => string },
  cellDays: Iterable<CellLineDay> | null,
): Promise<{ lots: number; badSupplier: { supplier: string; product: string; fromDay: string } }> {
  const d = dialectOf(db);
  const { schema, table } = splitTableName(mapping.table);
  const sb = schema ? db.schema.withSchema(schema) : db.schema;
  if (!(await sb.hasTable(table))) await createLotsTable(db, d, mapping);
  else {
    const q = schema ? db.withSchema(schema).table(table) : db.table(table);
    const row = (await q.count({ n: '*' }).first()) as { n: number | string } | undefined;
    if (Number(row?.n ?? 0) > 0) throw new Error(`generate: ${mapping.table} already holds rows; the generator only writes into empty tables`);
  }
  const c = mapping.columns;
  const writer = tableWriter(db, d, mapping.table, 5000);
  const cells = cellDays ? cellDays[Symbol.iterator]() : null;
  for (const [i, w] of plan.windows.entries()) {
    const day = cells ? (cells.next().value as CellLineDay | undefined) ?? null : null;
    for (const r of incomingLotsOfDay(plan.seed, w, i, plan.windows.length, plan.formatTime, day)) {
      const row: Record<string, unknown> = {
        [c.lotId]: r.lotId,
        [c.product]: r.product,
        [c.lotSize]: r.lotSize,
        [c.inspected]: r.inspected,
        [c.defectives]: r.defectives,
        [c.inspectedAt]: r.inspectedAt,
        [c.inspectionClass]: r.inspectionClass,
      };
      if (c.supplier) row[c.supplier] = r.supplier;
      if (writer.add(row)) await writer.flush();
    }
  }
  await writer.flush();
  const fromIndex = Math.ceil(BAD_SUPPLIER.from * (plan.windows.length - 1));
  return { lots: writer.written, badSupplier: { supplier: BAD_SUPPLIER.supplier, product: BAD_SUPPLIER.product, fromDay: plan.windows[Math.min(fromIndex, plan.windows.length - 1)]!.date } };
}
