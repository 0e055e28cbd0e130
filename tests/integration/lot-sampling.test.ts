/**
 * The lot-sampling job on a hand-built lots table, on SQLite and PostgreSQL, every decision and
 * state worked out below; the stop alert through the outbox to a real SMTP server on loopback;
 * a rerun; a resume; the Lot sampling sheet read back from a real .xlsx.
 *
 * Plant Europe/Berlin, day start 06:00, source timestamps local. Plans:
 *   SEP / major   MIL-STD-105E AQL 1.0 level II: N 1 000 → J; normal n 80 Ac 2 Re 3, tightened n 80 Ac 1 Re 2
 *   FOIL / major  fixed n 20, c 0 (LTPD 10 %)
 *   * / critical  the plant's code table: N ≤ 500 → n 50, Ac 0
 *
 * Day 2026-11-02 (06:00 11-02 … 06:00 11-03 local):
 *   SEP  L1 d 3 reject (normal), L2 d 0 accept, L3 d 3 reject: 2 of the last 3 → tightened; L4 d 1 accept on tightened (Ac 1)
 *   FOIL F1 inspected 20, d 0 accept; F2 inspected 10 → sample too small; F3 lot size 0 → invalid
 *   OTHER / minor X1 → no plan;  C1 critical N 500, inspected 50, d 0 accept (at 05:30 on 11-03: still day 11-02)
 *   Z0 at 05:59 on 11-02 belongs to 11-01 and is not read.
 * Day 2026-11-03: SEP L5…L9 d 2 each: five rejections on tightened → discontinued after L9 (alert);
 *   L10 d 0 judged by the tightened plan, accepted, still discontinued.
 * Day 2026-11-04: SEP L11 d 0, after a resume recorded that day: tightened, one acceptance counted.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DateTime } from 'luxon';
import { createBackend, configFor, openMigrated, type Backend } from '../support/backends.js';
import type { EtlContext } from '../../etl/context.js';
import { targetTable } from '../../etl/context.js';
import { runLotSampling } from '../../etl/sampling/lot-sampling-job.js';
import { resumeInspection, listStates } from '../../etl/sampling/sampling-state.js';
import { createLotsTable } from '../../data/incoming-lots.js';
import { dialectOf } from '../../sql/dialect.js';
import { insertBatched } from '../../sql/batch-insert.js';
import { splitTableName } from '../../data/source-tables.js';
import { lotSamplingSection } from '../../reports/daily-yield-sections.js';
import { messagesOf } from '../../reports/outbox/outbox.js';
import { writeAndReadBack } from '../support/xlsx.js';
import { smtpSettings, startSmtp, type TestSmtp } from './report-fixture.js';

const D1 = '2026-11-02';
const D2 = '2026-11-03';
const D3 = '2026-11-04';

type Lot = [lotId: string, product: string, cls: string, lotSize: number, inspected: number, defectives: number, at: string];
const LOTS: Lot[] = [
  ['Z0', 'SEP', 'major', 1000, 80, 9, '2026-11-02 05:59:00'],
  ['L1', 'SEP', 'major', 1000, 80, 3, '2026-11-02 08:00:00'],
  ['L2', 'SEP', 'major', 1000, 80, 0, '2026-11-02 09:00:00'],
  ['L3', 'SEP', 'major', 1000, 80, 3, '2026-11-02 10:00:00'],
  ['L4', 'SEP', 'major', 1000, 80, 1, '2026-11-02 11:00:00'],
  ['F1', 'FOIL', 'major', 150, 20, 0, '2026-11-02 08:30:00'],
  ['F2', 'FOIL', 'major', 150, 10, 0, '2026-11-02 08:40:00'],
  ['F3', 'FOIL', 'major', 0, 20, 0, '2026-11-02 08:50:00'],
  ['X1', 'OTHER', 'minor', 100, 10, 0, '2026-11-02 12:00:00'],
  ['C1', 'SEP', 'critical', 500, 50, 0, '2026-11-03 05:30:00'],
  ...[5, 6, 7, 8, 9].map((i): Lot => [`L${i}`, 'SEP', 'major', 1000, 80, 2, `2026-11-03 ${String(i + 2).padStart(2, '0')}:00:00`]),
  ['L10', 'SEP', 'major', 1000, 80, 0, '2026-11-03 14:00:00'],
  ['L11', 'SEP', 'major', 1000, 80, 0, '2026-11-04 12:00:00'],
];

const stripRun = (rows: Record<string, unknown>[]) => rows.map(({ run_id: _r, computed_at: _c, ...r }) => r);

for (const name of ['sqlite', 'postgres'] as const) {
  describe(`lot sampling on ${name}`, () => {
    let backend: Backend;
    let ctx: EtlContext;
    let smtp: TestSmtp;
    let outDir: string;
    const run = (days: string[]) => runLotSampling(ctx, { days, triggeredBy: 'test', mail: smtpSettings(ctx, smtp) });
    const dispositions = async (day: string) =>
      (await targetTable(ctx, ctx.target, 'lot_dispositions').where({ production_day: day }).orderBy(['product', 'inspection_class', 'seq'])) as Record<string, any>[];

    beforeAll(async () => {
      backend = await createBackend(name);
      smtp = await startSmtp();
      outDir = mkdtempSync(path.join(os.tmpdir(), 'yieldrun-sampling-'));
      const lotsTable = backend.table('incoming_lots');
      ctx = await openMigrated(
        configFor(backend, {
          mail: { outDir },
          sampling: {
            lots: { table: lotsTable },
            plans: [
              { product: 'SEP', class: 'major', plan: { type: 'mil-std-105e', aql: 1.0, level: 'II' }, ltpd: 5 },
              { product: 'FOIL', class: 'major', plan: { type: 'fixed', n: 20, c: 0 }, ltpd: 10 },
              { product: '*', class: 'critical', plan: { type: 'lot-size-table', table: 'plant-codes' } },
            ],
            lotSizeTables: { 'plant-codes': { rows: [{ upTo: 100, n: 20 }, { upTo: 200, n: 20 }, { upTo: 500, n: 50 }, { upTo: 1000, n: 100 }] } },
            alert: { to: ['qa@example.com'] },
          },
        }),
      );
      const mapping = { table: lotsTable, columns: ctx.config.sampling.lots.columns };
      await createLotsTable(ctx.source, dialectOf(ctx.source), mapping);
      const c = mapping.columns;
      const rows = LOTS.map(([lotId, product, cls, lotSize, inspected, defectives, at]) => ({
        [c.lotId]: lotId,
        [c.product]: product,
        [c.supplier!]: product === 'SEP' ? 'SUP-2' : null,
        [c.inspectionClass]: cls,
        [c.lotSize]: lotSize,
        [c.inspected]: inspected,
        [c.defectives]: defectives,
        [c.inspectedAt]: at,
      }));
      const { schema, table } = splitTableName(lotsTable);
      await insertBatched(ctx.source, dialectOf(ctx.source), table, rows, { schema });
    });
    afterAll(async () => {
      await ctx?.close();
      await smtp?.close();
      await backend?.cleanup();
      rmSync(outDir, { recursive: true, force: true });
    });

    it('day 1: each lot its plan, decision and state; the lot before the day and the one after midnight placed by production day', async () => {
      const r = await run([D1]);
      expect(r.byDecision).toEqual({ accept: 4, reject: 2, sample_too_small: 1, no_plan: 1, invalid: 1 });
      const got = (await dispositions(D1)).map((d) => [d.lot_id, d.decision, d.sample_size, d.ac, d.re, d.state_before, d.state_after].join(' '));
      expect(got).toEqual([
        'F1 accept 20 0 1 normal normal',
        'F2 sample_too_small 20 0 1 normal normal',
        'F3 invalid    normal normal',
        'X1 no_plan    normal normal',
        'C1 accept 50 0 1 normal normal',
        'L1 reject 80 2 3 normal normal',
        'L2 accept 80 2 3 normal normal',
        'L3 reject 80 2 3 normal tightened',
        'L4 accept 80 1 2 tightened tightened',
      ]);
      const l1 = (await dispositions(D1)).find((d) => d.lot_id === 'L1')!;
      // α at AQL 1 %: 1 − Σ_{d≤2} C(80,d) 0.01^d 0.99^(80−d); β at LTPD 5 % likewise at 0.05.
      const pa = (p: number) => (1 - p) ** 80 + 80 * p * (1 - p) ** 79 + 3160 * p ** 2 * (1 - p) ** 78;
      expect(l1.alpha).toBeCloseTo(1 - pa(0.01), 12);
      expect(l1.beta).toBeCloseTo(pa(0.05), 12);
      expect(l1.plan).toBe('MIL-STD-105E II-A J AQL 1 % (level II)');
      expect((await dispositions(D1)).find((d) => d.lot_id === 'F3')!.note).toBe('lot size 0: expected a whole number of at least 1');
    });

    it('day 2: five rejections on tightened discontinue the inspection; the stop alert is mailed once', async () => {
      const r = await run([D2]);
      expect(r.changes.map((c) => `${c.lotId} ${c.from}→${c.to}`)).toEqual(['L9 tightened→discontinued']);
      const d2 = await dispositions(D2);
      expect(d2.map((d) => `${d.lot_id} ${d.decision} ${d.state_after}`)).toEqual([
        'L5 reject tightened',
        'L6 reject tightened',
        'L7 reject tightened',
        'L8 reject tightened',
        'L9 reject discontinued',
        'L10 accept discontinued',
      ]);
      expect(d2.find((d) => d.lot_id === 'L10')!.plan).toBe('MIL-STD-105E II-B J AQL 1 % (level II)');
      expect(r.alerts).toMatchObject([{ product: 'SEP', inspectionClass: 'major', status: 'sent', to: ['qa@example.com'] }]);
      expect(smtp.received.filter((m) => m.raw.toString().includes('Acceptance inspection of SEP (class major) is discontinued after lot L9'))).toHaveLength(1);
      const history = (await targetTable(ctx, ctx.target, 'sampling_state_history').orderBy('id')) as Record<string, any>[];
      expect(history.map((h) => `${h.lot_id} ${h.from_state}→${h.to_state}`)).toEqual(['L3 normal→tightened', 'L9 tightened→discontinued']);
      const states = await listStates(ctx);
      expect(states.find((s) => s.product === 'SEP' && s.inspectionClass === 'major')).toMatchObject({ state: 'discontinued', since: D2, lastLotId: 'L10' });
    });

    it('a rerun of day 1 judges day 2 again with identical rows, and alerts nothing new', async () => {
      const before = [stripRun(await dispositions(D1)), stripRun(await dispositions(D2))];
      const r = await run([D1]);
      expect(r.judgedDays).toEqual([D1, D2]);
      expect([stripRun(await dispositions(D1)), stripRun(await dispositions(D2))]).toEqual(before);
      expect((await messagesOf(ctx, ['lot-sampling-stop'])).length).toBe(1);
      expect(smtp.received.filter((m) => m.raw.toString().includes('is discontinued after lot'))).toHaveLength(1);
    });

    it('resume: discontinued → tightened from its day, audited; the next day counts from tightened', async () => {
      await expect(resumeInspection(ctx, { product: 'FOIL', inspectionClass: 'major', by: 'alice' })).rejects.toThrow(/not discontinued: nothing to resume/);
      const now = DateTime.fromISO('2026-11-04T10:00:00', { zone: 'Europe/Berlin' });
      expect(await resumeInspection(ctx, { product: 'SEP', inspectionClass: 'major', by: 'alice', reason: 'supplier replaced the coating line', now })).toEqual({ day: D3, by: 'alice' });
      // A rerun of day 2 before day 3 is judged: its last lot left SEP discontinued, the resume after it stands.
      await run([D2]);
      expect((await listStates(ctx)).find((s) => s.product === 'SEP' && s.inspectionClass === 'major')!.state).toBe('tightened');
      const r = await run([D3]);
      expect(r.changes).toEqual([]);
      const d3 = await dispositions(D3);
      expect(d3.map((d) => `${d.lot_id} ${d.decision} ${d.state_before}→${d.state_after}`)).toEqual(['L11 accept tightened→tightened']);
      expect(JSON.parse(d3[0]!.state_detail).tightenedAccepted).toBe(1);
      const manual = (await targetTable(ctx, ctx.target, 'sampling_state_history').whereNull('run_id')) as Record<string, any>[];
      expect(manual.map((m) => [m.from_state, m.to_state, m.changed_by, m.reason])).toEqual([['discontinued', 'tightened', 'alice', 'resumed after corrective action: supplier replaced the coating line']]);
      // A rerun of day 2 keeps the resume: day 3 still starts from tightened.
      await run([D2]);
      expect((await dispositions(D3)).map((d) => `${d.state_before}→${d.state_after}`)).toEqual(['tightened→tightened']);
    });

    it('the Lot sampling sheet of day 2: rejected lots first, the plan with its risks, the change, the OC picture; the email paragraph', async () => {
      const section = (await lotSamplingSection(ctx, D2))!;
      expect(section.email!.text).toContain('Lot sampling: 5 lot(s) rejected, 1 change(s) of inspection state');
      expect(section.email!.text).toContain('Rejected L5 (SEP / major, SUP-2): 2 of 80 nonconforming, Re 2 under MIL-STD-105E II-B J AQL 1 % (level II); tightened inspection, now tightened.');
      expect(section.email!.text).toContain('SEP / major: tightened → discontinued after lot L9');
      const book = await writeAndReadBack((b) => section.sheet.write(b));
      const ws = book.getWorksheet('Lot sampling')!;
      const values = ws.getSheetValues() as unknown[][];
      const headerRow = values.findIndex((row) => Array.isArray(row) && row[1] === 'Decision');
      expect(values[headerRow + 1]!.slice(1, 3)).toEqual(['reject', 'L5']);
      expect(values[headerRow + 6]!.slice(1, 3)).toEqual(['accept', 'L10']);
      // Inspected at, as plant wall-clock time.
      expect((values[headerRow + 1]![6] as Date).toISOString()).toBe('2026-11-03T07:00:00.000Z');
      const cells = values.flat().filter((v) => v !== undefined && v !== null).map(String);
      expect(cells).toContain('Plans: risks and AOQL');
      expect(cells).toContain('5 lots rejected on tightened inspection: acceptance inspection discontinued until the supplier has corrected the cause');
      expect(ws.getImages()).toHaveLength(1);
    });
  });
}

describe('lot sampling without plans', () => {
  it('a scheduled run reads nothing and says why, instead of failing on a source it never needed', async () => {
    const backend = await createBackend('sqlite');
    const ctx = await openMigrated(configFor(backend));
    try {
      const r = await runLotSampling(ctx, { days: [D1], triggeredBy: 'schedule' });
      expect(r).toMatchObject({ unconfigured: true, lots: 0, judgedDays: [] });
      const runs = (await targetTable(ctx, ctx.target, 'etl_runs').where({ job: 'lot-sampling' })) as Record<string, any>[];
      expect(runs.map((x) => x.status)).toEqual(['succeeded']);
    } finally {
      await ctx.close();
      await backend.cleanup();
    }
  });
});

describe('lot sampling with a wrong mapping', () => {
  it('names the key to fix before any work', async () => {
    const backend = await createBackend('sqlite');
    const ctx = await openMigrated(configFor(backend, { sampling: { lots: { table: 'incoming_lots', columns: { defectives: 'ng_qty' } }, plans: [{ plan: { type: 'fixed', n: 20, c: 0 } }] } }));
    try {
      await createLotsTable(ctx.source, 'sqlite', { table: 'incoming_lots', columns: { ...ctx.config.sampling.lots.columns, defectives: 'defectives' } });
      await expect(runLotSampling(ctx, { days: [D1], triggeredBy: 'test' })).rejects.toThrow(/source table 'incoming_lots' has no column for sampling\.lots\.columns\.defectives = 'ng_qty'/);
      const runs = (await targetTable(ctx, ctx.target, 'etl_runs').where({ job: 'lot-sampling' })) as Record<string, any>[];
      expect(runs.map((r) => r.status)).toEqual(['failed']);
    } finally {
      await ctx.close();
      await backend.cleanup();
    }
  });
});
