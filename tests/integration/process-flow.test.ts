/**
 * The process flow on a hand-built event log whose every number is worked out below
 * (process-flow.md §1–§6), on SQLite and PostgreSQL.
 *
 * Plant Europe/Berlin, day start 06:00, source timestamps in UTC (the waits are then exact across
 * the DST change). Production day 2026-10-24 (Saturday) lasts 25 hours: summer time ends on
 * 10-25 at 03:00, so it runs from 10-24 04:00Z (06:00 CEST) to 10-25 05:00Z (06:00 CET). ISO week
 * 2026-W43 runs from Monday 10-19 to Sunday 10-25. Shifts A 06:00, B 14:00, C 22:00: on 10-24, A is
 * 04:00Z–12:00Z, B 12:00Z–20:00Z, C 20:00Z–05:00Z (nine hours). Route of P: DC > TX > RX.
 *
 * Cases (product P; time UTC, duration s; wait = time − previous time − previous duration, ≥ 0):
 *   S1 DC 10-24 05:00 (60), TX 05:10 (120) wait 540, RX 05:20 (30) wait 480       DC>TX>RX, lead 1230
 *      plus an exact duplicate of its DC (duration 70: the copy with 60 is kept), a row with result
 *      'MAYBE' (rejected) and a row of product Q (conflicting_product): no events.
 *   S2 DC 06:00 (60), TX 06:05 FAIL (100) wait 240, TX 06:10 FAIL, 06:15 FAIL, 06:20 PASS (100 each)
 *      waits 200 (a loop of three retests), RX 06:30 (30) wait 500                 DC>TX>RX, lead 1830
 *   S3 DC 07:00 (60), RX 07:02 (no duration) wait 60: skips TX                     DC>RX, lead 120
 *   S4 DC 08:00 (60), TX 08:01 (30) wait 0, XX 08:01:10 (20) wait −20 → 0, RX 08:02 (30) wait 30:
 *      an extra step                                                                DC>TX>XX>RX, lead 150
 *   S5 TX 09:00 (50), DC 09:05 (60) wait 250, RX 09:10 (30) wait 240: out of order  TX>DC>RX, lead 630
 *   S6 DC 10-25 04:30 FAIL (60): one event, 05:30 CET, still day 10-24             DC, lead 60
 *   S7 DC 10-24 20:30 (60), TX 10-25 06:00 (120) wait 34140, RX 06:10 (30) wait 480: spans two
 *      days, counted on 10-24                                                       DC>TX>RX, lead 34830
 *   S8 DC 10-23 23:00 (60), TX 10-24 05:30 (100) wait 23340: a case of 10-23, so only in the week
 *                                                                                   DC>TX, lead 23500
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBackend, configFor, openMigrated, writeBatteryTables, writeTestRecords, batterySource, readSummary, type Backend, type TestRecord } from '../support/backends.js';
import type { EtlContext } from '../../etl/context.js';
import { runProcessFlow } from '../../etl/flow/process-flow-job.js';
import { processFlowSection } from '../../reports/daily-yield-sections.js';
import { writeAndReadBack } from '../support/xlsx.js';

const D = '2026-10-24';
const W = '2026-10-19';

const rec = (serial: string, test: string, machine: string, at: string, result: string, duration: number | null, product = 'P'): TestRecord => ({
  serial,
  product,
  test,
  machine,
  at,
  result,
  duration,
});

const LOG: TestRecord[] = [
  rec('S1', 'DC', 'M1', '2026-10-24 05:00:00', 'PASS', 60),
  rec('S1', 'DC', 'M1', '2026-10-24 05:00:00', 'PASS', 70),
  rec('S1', 'TX', 'M2', '2026-10-24 05:10:00', 'PASS', 120),
  rec('S1', 'TX', 'M2', '2026-10-24 05:15:00', 'MAYBE', 10),
  rec('S1', 'TX', 'M2', '2026-10-24 05:16:00', 'PASS', 10, 'Q'),
  rec('S1', 'RX', 'M3', '2026-10-24 05:20:00', 'PASS', 30),
  rec('S2', 'DC', 'M1', '2026-10-24 06:00:00', 'PASS', 60),
  rec('S2', 'TX', 'M2', '2026-10-24 06:05:00', 'FAIL', 100),
  rec('S2', 'TX', 'M2', '2026-10-24 06:10:00', 'FAIL', 100),
  rec('S2', 'TX', 'M2', '2026-10-24 06:15:00', 'FAIL', 100),
  rec('S2', 'TX', 'M2', '2026-10-24 06:20:00', 'PASS', 100),
  rec('S2', 'RX', 'M3', '2026-10-24 06:30:00', 'PASS', 30),
  rec('S3', 'DC', 'M1', '2026-10-24 07:00:00', 'PASS', 60),
  rec('S3', 'RX', 'M3', '2026-10-24 07:02:00', 'PASS', null),
  rec('S4', 'DC', 'M1', '2026-10-24 08:00:00', 'PASS', 60),
  rec('S4', 'TX', 'M2', '2026-10-24 08:01:00', 'PASS', 30),
  rec('S4', 'XX', 'M4', '2026-10-24 08:01:10', 'PASS', 20),
  rec('S4', 'RX', 'M3', '2026-10-24 08:02:00', 'PASS', 30),
  rec('S5', 'TX', 'M2', '2026-10-24 09:00:00', 'PASS', 50),
  rec('S5', 'DC', 'M1', '2026-10-24 09:05:00', 'PASS', 60),
  rec('S5', 'RX', 'M3', '2026-10-24 09:10:00', 'PASS', 30),
  rec('S6', 'DC', 'M1', '2026-10-25 04:30:00', 'FAIL', 60),
  rec('S7', 'DC', 'M1', '2026-10-24 20:30:00', 'PASS', 60),
  rec('S7', 'TX', 'M2', '2026-10-25 06:00:00', 'PASS', 120),
  rec('S7', 'RX', 'M3', '2026-10-25 06:10:00', 'PASS', 30),
  rec('S8', 'DC', 'M1', '2026-10-23 23:00:00', 'PASS', 60),
  rec('S8', 'TX', 'M2', '2026-10-24 05:30:00', 'PASS', 100),
];

const grain = { product: 'P', period_type: 'day', period_start: D, period_label: D };
const strip = (rows: Record<string, any>[], keys: string[]): Record<string, any>[] =>
  rows.map((r) => Object.fromEntries(keys.map((k) => [k, typeof r[k] === 'number' && !Number.isInteger(r[k]) ? Math.round(r[k] * 1e6) / 1e6 : r[k]])));
const bool = (v: unknown) => v === true || v === 1;

for (const name of ['sqlite', 'postgres'] as const) {
  describe(`process flow on a hand-built log (${name})`, () => {
    let backend: Backend;
    let ctx: EtlContext;
    beforeAll(async () => {
      backend = await createBackend(name);
      const cfg = configFor(backend, {
        plant: { shifts: { A: '06:00', B: '14:00', C: '22:00' } },
        source: { timestamps: 'utc', ...batterySource(backend) },
        flow: { routes: { P: ['DC', 'TX', 'RX'] }, minCases: 2, bottleneckWaitS: 300, reworkRate: 0.3 },
      });
      ctx = await openMigrated(cfg);
      await writeTestRecords(ctx, LOG);
      // Battery: cells C1 and C3 wound and through CEF 30 min later (wait 1800); C2 only wound; a
      // CEF record with a blank cell id is not an event.
      await writeBatteryTables(ctx, {
        winding: [
          { cellId: 'C1', lotId: 'L1', eqpId: 'WND01', prodDt: '2026-10-24 10:00:00' },
          { cellId: 'C2', lotId: 'L1', eqpId: 'WND01', prodDt: '2026-10-24 11:00:00' },
          { cellId: 'C3', lotId: 'L1', eqpId: 'WND02', prodDt: '2026-10-24 11:30:00' },
        ],
        assembly: [
          { cellId: 'C1', lotId: 'L1', eqpId: 'CEF01', prodDt: '2026-10-24 10:30:00', dfctCd: 0 },
          { cellId: ' ', lotId: 'L1', eqpId: 'CEF01', prodDt: '2026-10-24 10:40:00', dfctCd: 0 },
          { cellId: 'C3', lotId: 'L1', eqpId: 'CEF01', prodDt: '2026-10-24 12:00:00', dfctCd: 0 },
        ],
      });
      await runProcessFlow(ctx, { days: [D], triggeredBy: 'test' });
    });
    afterAll(async () => {
      await ctx?.close();
      await backend?.cleanup();
    });

    it('edges: transitions, cases, median and p90 waits of the day (§2)', async () => {
      const rows = (await readSummary(ctx, 'summary_flow_edges', 'day', D)).filter((r) => r.product === 'P');
      const got = strip(rows, ['from_step', 'to_step', 'transitions', 'cases', 'median_wait_s', 'p90_wait_s', 'is_rework'])
        .map((r): Record<string, any> => ({ ...r, is_rework: bool(r.is_rework) }))
        .sort((a, b) => `${a.from_step}>${a.to_step}`.localeCompare(`${b.from_step}>${b.to_step}`));
      const e = (from_step: string, to_step: string, transitions: number, cases: number, median: number | null, p90: number | null) => ({
        from_step,
        to_step,
        transitions,
        cases,
        median_wait_s: median,
        p90_wait_s: p90,
        is_rework: from_step === to_step,
      });
      expect(got).toEqual(
        [
          e('(start)', 'DC', 6, 6, null, null), // S1 S2 S3 S4 S6 S7
          e('(start)', 'TX', 1, 1, null, null), // S5
          // DC→TX waits 0, 240, 540, 34140: h = 3·0.5 = 1.5 → 240 + 0.5·300; p90 h = 2.7 → 540 + 0.7·33600
          e('DC', 'TX', 4, 4, 390, 24060),
          e('DC', 'RX', 2, 2, 150, 222), // 60, 240: h = 0.5, 0.9
          e('DC', '(end)', 1, 1, null, null), // S6
          e('TX', 'TX', 3, 1, 200, 200), // S2's three retests
          e('TX', 'RX', 3, 3, 480, 496), // 480, 480, 500: h = 1, 1.8
          e('TX', 'XX', 1, 1, 0, 0), // S4: 60 − 30 − 30
          e('TX', 'DC', 1, 1, 250, 250), // S5
          e('XX', 'RX', 1, 1, 30, 30), // S4: a negative wait (−20) before XX counts as 0
          e('RX', '(end)', 6, 6, null, null),
        ].sort((a, b) => `${a.from_step}>${a.to_step}`.localeCompare(`${b.from_step}>${b.to_step}`)),
      );
      expect(rows.every((r) => r.period_label === D)).toBe(true);
    });

    it('steps: cases, events, rework, medians and the bottleneck ranking (§3)', async () => {
      const rows = (await readSummary(ctx, 'summary_flow_steps', 'day', D)).filter((r) => r.product === 'P');
      expect(strip(rows, ['step', 'cases', 'events', 'rework_events', 'rework_rate', 'median_processing_s', 'median_wait_in_s', 'bottleneck_rank']).sort((a, b) => a.step.localeCompare(b.step))).toEqual([
        // DC: 7 cases, all durations 60; the one non-loop edge into it is S5's TX→DC (250)
        { step: 'DC', cases: 7, events: 7, rework_events: 0, rework_rate: 0, median_processing_s: 60, median_wait_in_s: 250, bottleneck_rank: 3 },
        // RX: waits 30, 60, 240, 480, 480, 500 → h = 2.5 → 360; S3's RX has no duration
        { step: 'RX', cases: 6, events: 6, rework_events: 0, rework_rate: 0, median_processing_s: 30, median_wait_in_s: 360, bottleneck_rank: 2 },
        // TX: 8 events (S2 four), 3 beyond a case's first; durations 30, 50, 100 ×4, 120, 120 → 100;
        // waits in (loops excluded) 0, 240, 540, 34140 → 390: the bottleneck
        { step: 'TX', cases: 5, events: 8, rework_events: 3, rework_rate: 0.375, median_processing_s: 100, median_wait_in_s: 390, bottleneck_rank: 1 },
        // XX: 1 case, below minCases 2: no rank
        { step: 'XX', cases: 1, events: 1, rework_events: 0, rework_rate: 0, median_processing_s: 20, median_wait_in_s: 0, bottleneck_rank: null },
      ]);
    });

    it('variants: cases, share, rank (ties by text) and median lead time (§4)', async () => {
      const rows = (await readSummary(ctx, 'summary_flow_variants', 'day', D)).filter((r) => r.product === 'P');
      expect(strip(rows, ['variant', 'cases', 'share', 'rank', 'median_lead_time_s']).sort((a, b) => a.rank - b.rank)).toEqual([
        { variant: 'DC>TX>RX', cases: 3, share: Math.round((3 / 7) * 1e6) / 1e6, rank: 1, median_lead_time_s: 1830 }, // 1230, 1830, 34830
        { variant: 'DC', cases: 1, share: Math.round((1 / 7) * 1e6) / 1e6, rank: 2, median_lead_time_s: 60 },
        { variant: 'DC>RX', cases: 1, share: Math.round((1 / 7) * 1e6) / 1e6, rank: 3, median_lead_time_s: 120 },
        { variant: 'DC>TX>XX>RX', cases: 1, share: Math.round((1 / 7) * 1e6) / 1e6, rank: 4, median_lead_time_s: 150 },
        { variant: 'TX>DC>RX', cases: 1, share: Math.round((1 / 7) * 1e6) / 1e6, rank: 5, median_lead_time_s: 630 },
      ]);
    });

    it('conformance against the configured route (§5)', async () => {
      const rows = (await readSummary(ctx, 'summary_flow_conformance', 'day', D)).filter((r) => r.product === 'P');
      expect(strip(rows, ['cases', 'conforming_cases', 'fitness', 'skipped_step_cases', 'extra_step_cases', 'out_of_order_cases', 'route', 'route_source'])).toEqual([
        // conforming: S1, S2, S7 and S6 (a prefix); S3 skipped, S4 extra, S5 out of order
        { cases: 7, conforming_cases: 4, fitness: Math.round((4 / 7) * 1e6) / 1e6, skipped_step_cases: 1, extra_step_cases: 1, out_of_order_cases: 1, route: 'DC>TX>RX', route_source: 'config' },
      ]);
    });

    it('the week counts the case of the day before (S8) and its wait', async () => {
      const edges = await readSummary(ctx, 'summary_flow_edges', 'week', W);
      const dcTx = edges.find((r) => r.product === 'P' && r.from_step === 'DC' && r.to_step === 'TX')!;
      // 0, 240, 540, 23340, 34140: median x₂; p90 h = 3.6 → 23340 + 0.6·10800
      expect(strip([dcTx], ['transitions', 'cases', 'median_wait_s', 'p90_wait_s', 'period_label'])).toEqual([{ transitions: 5, cases: 5, median_wait_s: 540, p90_wait_s: 29820, period_label: '2026-W43' }]);
      const conf = (await readSummary(ctx, 'summary_flow_conformance', 'week', W)).find((r) => r.product === 'P')!;
      expect([conf.cases, conf.conforming_cases, conf.fitness]).toEqual([8, 5, 0.625]);
      const tx = (await readSummary(ctx, 'summary_flow_steps', 'week', W)).find((r) => r.product === 'P' && r.step === 'TX')!;
      expect([tx.cases, tx.events, tx.median_processing_s, tx.median_wait_in_s, tx.bottleneck_rank]).toEqual([6, 9, 100, 540, 1]);
    });

    it('skips by station: the units a route step\'s machine released past the next route step', async () => {
      const rows = await readSummary(ctx, 'summary_flow_skips', 'day', D);
      // DC on M1 released S1, S2, S4, S7 to TX, S3 and S5 to RX (past TX): 2 of 6. TX's next step RX
      // is the route's last, so nothing can jump over it; XX is not on the route.
      expect(strip(rows, ['product', 'from_step', 'skipped_step', 'machine', 'transitions_out', 'skipping_transitions', 'skip_share'])).toEqual([
        { product: 'P', from_step: 'DC', skipped_step: 'TX', machine: 'M1', transitions_out: 6, skipping_transitions: 2, skip_share: Math.round((1 / 3) * 1e6) / 1e6 },
      ]);
    });

    it('shifts: attempts, first pass and waits by attempt time (§6)', async () => {
      const rows = (await readSummary(ctx, 'summary_flow_shifts', 'day', D)).filter((r) => r.product === 'P');
      const got = strip(rows, ['step', 'shift', 'weekday', 'attempts', 'units_tested', 'first_pass_units', 'first_pass_yield', 'waits', 'median_wait_in_s']).sort((a, b) =>
        `${a.shift}${a.step}`.localeCompare(`${b.shift}${b.step}`),
      );
      expect(got).toEqual([
        // A (04:00Z–12:00Z): S1–S5 and S8's TX at 05:30, which counts here by its time
        { step: 'DC', shift: 'A', weekday: 6, attempts: 5, units_tested: 5, first_pass_units: 5, first_pass_yield: 1, waits: 1, median_wait_in_s: 250 },
        { step: 'RX', shift: 'A', weekday: 6, attempts: 5, units_tested: 5, first_pass_units: 5, first_pass_yield: 1, waits: 5, median_wait_in_s: 240 },
        // TX: S1, S2 ×4, S4, S5, S8; first pass S1, S4, S5, S8 of 5; waits 0, 240, 540, 23340 → 390
        { step: 'TX', shift: 'A', weekday: 6, attempts: 8, units_tested: 5, first_pass_units: 4, first_pass_yield: 0.8, waits: 4, median_wait_in_s: 390 },
        { step: 'XX', shift: 'A', weekday: 6, attempts: 1, units_tested: 1, first_pass_units: 1, first_pass_yield: 1, waits: 1, median_wait_in_s: 0 },
        // C (20:00Z–05:00Z, nine hours on the DST night): S7's DC and S6's failing DC at 04:30Z
        { step: 'DC', shift: 'C', weekday: 6, attempts: 2, units_tested: 2, first_pass_units: 1, first_pass_yield: 0.5, waits: 0, median_wait_in_s: null },
      ]);
    });

    it('the battery line: cells through winding and CEF', async () => {
      const edges = (await readSummary(ctx, 'summary_flow_edges', 'day', D)).filter((r) => r.product === 'CELL');
      expect(strip(edges, ['from_step', 'to_step', 'transitions', 'cases', 'median_wait_s']).sort((a, b) => `${a.from_step}>${a.to_step}`.localeCompare(`${b.from_step}>${b.to_step}`))).toEqual([
        { from_step: '(start)', to_step: 'WINDING', transitions: 3, cases: 3, median_wait_s: null },
        { from_step: 'CEF', to_step: '(end)', transitions: 2, cases: 2, median_wait_s: null },
        { from_step: 'WINDING', to_step: '(end)', transitions: 1, cases: 1, median_wait_s: null },
        { from_step: 'WINDING', to_step: 'CEF', transitions: 2, cases: 2, median_wait_s: 1800 },
      ]);
      const conf = (await readSummary(ctx, 'summary_flow_conformance', 'day', D)).find((r) => r.product === 'CELL')!;
      // No configured route: the rank-1 variant of the last 30 days, WINDING>CEF (C1, C3); C2 is a prefix of it.
      expect([conf.cases, conf.conforming_cases, conf.route, conf.route_source]).toEqual([3, 3, 'WINDING>CEF', 'discovered']);
    });

    it('the report: a Process flow sheet with a map per product, and a paragraph on the bottleneck and the worst loop', async () => {
      const section = (await processFlowSection(ctx, D))!;
      // P's TX waits 390 s (threshold 300 s) against RX's 360 and DC's 250. The cells' CEF waits
      // 1800 s but is their only ranked step (WINDING comes first): nothing to be a bottleneck against.
      // TX has 37.5 % of its events retests (threshold 30 %).
      expect(section.email!.text).toContain('Bottleneck: P TX, units waited 6.5 min (median) before it (threshold 5.0 min).');
      expect(section.email!.text).toContain('Worst rework loop: P TX, 37.5 % of its events are retests (3 of 8');
      expect(section.email!.text).toContain('Route deviation: M1 let 33.3 % of the units it released after DC skip TX (2 of 6; threshold 5.0 %).');
      expect(section.stats.flowMaps).toBe(2); // P and CELL
      const book = await writeAndReadBack((b) => section.sheet.write(b));
      const ws = book.getWorksheet('Process flow')!;
      const cells = (ws.getSheetValues() as unknown[][]).flat().filter((v) => v !== undefined && v !== null).map(String);
      expect(cells).toContain('Steps on 2026-10-24: waits, processing, rework, bottleneck rank');
      expect(cells).toContain('DC>TX>RX');
      expect(ws.getImages()).toHaveLength(2);
    });

    it('a rerun replaces the periods with identical rows', async () => {
      const before = await readSummary(ctx, 'summary_flow_steps', 'day', D);
      await runProcessFlow(ctx, { days: [D], triggeredBy: 'test' });
      expect(await readSummary(ctx, 'summary_flow_steps', 'day', D)).toEqual(before);
    });
  });
}

describe('process flow without battery tables', () => {
  it('names the table and the key to set, before any work', async () => {
    const backend = await createBackend('sqlite');
    const ctx = await openMigrated(configFor(backend));
    try {
      await writeTestRecords(ctx, LOG);
      await expect(runProcessFlow(ctx, { days: [D], triggeredBy: 'test' })).rejects.toThrow(
        /source table 'wnd_data' does not exist \(set source\.winding\.table .*\); or set flow\.battery: false/,
      );
    } finally {
      await ctx.close();
      await backend.cleanup();
    }
  });
});
