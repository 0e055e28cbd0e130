/**
 * The SPC report pieces without a database: the control chart's spec (what is drawn) and its PNG,
 * the alert email, and the SPC sheet (rows shaped from stored tables, written and read back).
 */
import { describe, expect, it } from 'vitest';
import { controlChart } from '../../etl/spc/charts.js';
import { DEFAULT_RULE_SETTINGS } from '../../etl/spc/nelson-rules.js';
import type { StoredSpc } from '../../etl/spc-store.js';
import { chartPointsOf, renderSpcChart, spcChartSpec, type SpcChartData } from '../../reports/spc-chart.js';
import { composeSpcAlert, ruleText, spcAlertMessage } from '../../reports/spc-alert.js';
import type { StoredEvent } from '../../etl/spc-event-store.js';
import { writeAndReadBack } from '../support/xlsx.js';
import { addSpcSheet, SPC_COLUMNS, spcParagraph, spcSheetRows } from '../../reports/spc-sheet.js';

const TZ = 'Europe/Berlin';
const hour = (i: number) => new Date(Date.UTC(2026, 9, 21, 4 + i));

function gapChart(): SpcChartData {
  const values = [1.0, 1.02, 0.98, 1.01, 0.99, 1.0, 1.01, 0.97, 0.7, 0.72];
  const chart = controlChart({ chart: 'I-MR', observations: values.map((value, i) => ({ value, time: hour(i).toISOString() })) }, { baseline: 6 });
  return {
    title: 'Separator–anode gap',
    key: 'WND03',
    chart: 'I-MR',
    unit: 'mm',
    points: chartPointsOf(chart),
    violations: [
      { time: hour(8), rule: 1 },
      { time: hour(8), rule: 5 },
      { time: hour(9), rule: 1 },
      { time: hour(9), rule: 5 },
    ],
    spec: { lsl: 0.8, usl: 1.2, target: 1.0 },
    limitsNote: 'frozen: baseline of 6 subgroups',
  };
}

describe('control chart', () => {
  it('draws points, limits, 1σ/2σ zones, spec limits, the phase change and the rules of flagged points', () => {
    const data = gapChart();
    const spec = spcChartSpec(data, { timezone: TZ }) as any;
    const values = spec.data.values as any[];
    expect(values).toHaveLength(10);
    const p = data.points[0]!;
    expect(values[0]).toMatchObject({ t: '2026-10-21T06:00:00.000Z', cl: p.cl, ucl: p.ucl, lcl: p.lcl, p1: p.cl! + p.sigma!, m2: p.cl! - 2 * p.sigma!, phase: 'I', flagged: false, label: null });
    // A run of points flagged for the same rules is labelled once.
    expect(values.map((v) => v.label)).toEqual([null, null, null, null, null, null, null, null, '1,5', null]);
    expect(values.filter((v) => v.flagged)).toHaveLength(2);
    expect(values.findIndex((v) => v.phaseStart)).toBe(6);
    const main = spec.vconcat[0].layer as any[];
    const datums = main.filter((l) => l.mark.type === 'rule' && l.encoding?.y?.datum !== undefined).map((l) => l.encoding.y.datum);
    expect(datums).toEqual([0.8, 1.2, 1.0]);
    // Constant limits are drawn from two rows, not one per point.
    expect(main.find((l) => l.mark.type === 'area').data.values).toHaveLength(2);
    expect(spec.vconcat[1].layer[0].encoding.y.title).toBe('MR');
    expect(spec.title.text).toBe('Separator–anode gap · WND03');
  });

  it('renders a PNG about 640 px wide; a p-chart has no second panel', async () => {
    const png = await renderSpcChart(gapChart(), { timezone: TZ });
    expect(png.buffer.subarray(1, 4).toString()).toBe('PNG');
    expect(png.width).toBeGreaterThan(500);
    expect(png.width).toBeLessThan(760);
    const p = controlChart({ chart: 'p', samples: [40, 50, 45].map((n, i) => ({ n, defectives: i, time: hour(24 * i).toISOString() })) });
    const spec = spcChartSpec({ title: 'Fail rate', key: 'TX_POWER-02', chart: 'p', unit: null, points: chartPointsOf(p), violations: [], spec: { lsl: null, usl: null, target: null } }, { timezone: TZ }) as any;
    expect(spec.vconcat).toHaveLength(1);
  });
});

describe('control chart: the paired panel (MR, R, S)', () => {
  /** Seven values with mean 10 and range r: an X̄ on CL, an R of r. */
  const seven = (r: number) => [10 - r / 2, 10 + r / 2, 10, 10, 10, 10, 10];
  const rChart = (n: 5 | 7, ranges: readonly number[]) =>
    controlChart({ chart: 'Xbar-R', subgroups: ranges.map((r, i) => ({ values: seven(r).slice(0, n), time: hour(i).toISOString() })) }, { frozen: { cl: 10, sigmaWithin: 1 } });
  const data = (n: 5 | 7, ranges: readonly number[], violations: SpcChartData['violations'] = []): SpcChartData => ({
    title: 'Tension',
    key: 'M1',
    chart: 'Xbar-R',
    unit: 'N',
    points: chartPointsOf(rChart(n, ranges)),
    violations,
    spec: { lsl: null, usl: null, target: null },
  });
  const pairedLayers = (spec: any) => spec.vconcat[1].layer as any[];
  const lines = (spec: any) => pairedLayers(spec).filter((l) => l.mark.type === 'line').map((l) => l.encoding.y.field);

  it('draws the R chart LCL when it is above zero (n = 7: D3·R̄ = 0.076 × 2.704 σ̂ ≈ 0.205), not at n = 5 (D3 = 0)', () => {
    const seven7 = spcChartSpec(data(7, [2, 2, 2]), { timezone: TZ }) as any;
    expect(lines(seven7)).toEqual(['pcl', 'pucl', 'plcl', 'pv']);
    const v = seven7.data.values[0];
    // σ̂ = 1: CL = d2(7) = 2.704, LCL = d2 − 3·d3 = 2.704 − 3 × 0.833 = 0.205, UCL = 2.704 + 2.499 ≈ 5.20
    // (Montgomery, Appendix VI; d3 is printed to 3 decimals, so UCL holds to 2).
    expect(v.pcl).toBeCloseTo(2.704, 3);
    expect(v.plcl).toBeCloseTo(0.205, 3);
    expect(v.pucl).toBeCloseTo(5.2, 2);
    const five = spcChartSpec(data(5, [2, 2, 2]), { timezone: TZ }) as any;
    expect(five.data.values[0].plcl).toBe(0);
    expect(lines(five)).toEqual(['pcl', 'pucl', 'pv']);
  });

  it('marks violations of the paired chart on its own panel, apart from the main chart', () => {
    const spec = spcChartSpec(data(7, [2, 6, 0.125], [{ time: hour(1), rule: 1, panel: 'paired' }, { time: hour(2), rule: 1, panel: 'paired' }]), { timezone: TZ }) as any;
    const values = spec.data.values as any[];
    expect(values.map((v) => v.flagged)).toEqual([false, false, false]);
    expect(values.map((v) => v.pflagged)).toEqual([false, true, true]);
    expect(values.map((v) => v.plabel)).toEqual([null, '1', null]);
    const layers = pairedLayers(spec);
    expect(layers.find((l) => l.mark.type === 'circle').encoding.color.condition).toEqual({ test: 'datum.pflagged', value: '#c62828' });
    expect(layers.find((l) => l.mark.type === 'text').encoding.text).toEqual({ field: 'plabel' });
    expect(spec.title.subtitle[2]).toMatch(/^2 flagged point/);
  });
});

function event(id: number, key: string, over: Partial<StoredEvent> = {}): StoredEvent {
  return {
    id,
    measure: 'sep_anode_gap',
    key,
    chart: 'I-MR',
    state: 'open',
    openedAt: hour(2),
    lastFlaggedAt: hour(9),
    closedAt: null,
    flaggedPoints: 7,
    extremeValue: 0.7123456,
    extremeCl: 1.001,
    side: 'below',
    history: false,
    firstSeenRunId: 7,
    lastSeenRunId: 7,
    withdrawnRunId: null,
    openAlertRunId: 7,
    closeAlertRunId: null,
    acknowledgedAt: null,
    acknowledgedBy: null,
    causeCode: null,
    actionCode: null,
    note: null,
    rules: [
      { panel: 'main', rule: 1, points: 3 },
      { panel: 'main', rule: 2, points: 5 },
      { panel: 'paired', rule: 1, points: 1 },
    ],
    ...over,
  };
}

describe('alert email', () => {
  const input = {
    plant: 'Demo <Plant>',
    timezone: TZ,
    measure: { name: 'sep_anode_gap', title: 'Separator–anode gap', unit: 'mm', chart: 'I-MR' as const, rules: DEFAULT_RULE_SETTINGS },
    day: '2026-10-21',
    window: { from: '2026-09-22', to: '2026-10-21' },
    runId: 7,
  };

  it('tells each opened event once: since when, its rules with counts, the value farthest from CL, how to acknowledge; escapes HTML', () => {
    const a = composeSpcAlert({ ...input, opened: [event(5, 'WND03'), event(6, '<WND07>', { openedAt: hour(5) })], closed: [], charts: [{ key: 'WND03', cid: 'c1@yieldrun', width: 635, height: 412 }] });
    // 2026-10-21 06:00Z is 08:00 in Berlin.
    expect(a.subject).toBe('SPC alert · Demo <Plant> · Separator–anode gap: WND03 out of control since 2026-10-21 08:00, <WND07> out of control since 2026-10-21 11:00');
    expect(a.text).toContain('WND03: out of control since 2026-10-21 08:00 (event 5, open)');
    expect(a.text).toContain('  rules: 1 ×3 (one point beyond 3σ); 2 ×5 (9 points in a row on one side of CL); 1 (MR) ×1 (MR chart: one point beyond 3σ)');
    expect(a.text).toContain('  7 flagged point(s), the latest 2026-10-21 15:00; farthest from CL: 0.71235 mm below CL 1.0010');
    expect(a.text).toContain('  acknowledge: yieldrun spc ack 5 --cause CODE --action CODE --by NAME [--note TEXT]');
    expect(a.html).toContain('<img src="cid:c1@yieldrun" width="635" height="412"');
    expect(a.html).toContain('&lt;WND07&gt;');
    expect(a.html).not.toContain('<WND07>');
    expect(ruleText(2, { ...DEFAULT_RULE_SETTINGS, sameSideRun: 8 })).toBe('8 points in a row on one side of CL');
  });

  it('a closed event is a short note with its acknowledgement, or that it closed unacknowledged', () => {
    const acked = event(5, 'WND03', { state: 'closed', closedAt: hour(17), acknowledgedAt: hour(10), acknowledgedBy: 'alice', causeCode: 'MATERIAL', actionCode: 'ADJUSTED' });
    const a = composeSpcAlert({ ...input, opened: [], closed: [acked, event(6, 'WND07', { state: 'closed', closedAt: hour(18) })] });
    expect(a.subject).toBe('SPC · Demo <Plant> · Separator–anode gap: back in control on WND03, WND07 (events closed)');
    expect(a.text).toContain('WND03: event 5 closed 2026-10-21 23:00, out of control from 2026-10-21 08:00 to 2026-10-21 15:00, 7 flagged point(s) (rules 1 ×3, 2 ×5, 1 (MR) ×1); acknowledged by alice 2026-10-21 16:00 (cause MATERIAL, action ADJUSTED)');
    expect(a.text).toContain('WND07: event 6 closed 2026-10-22 00:00');
    expect(a.text).toMatch(/WND07: .*; not acknowledged/);
  });

  it('the message carries the opened events’ charts as inline PNGs', async () => {
    const chart = gapChart();
    const msg = await spcAlertMessage({ ...input, opened: [event(5, 'WND03')], closed: [] }, new Map([['WND03', chart]]), { to: ['qe@example.com'], cc: [] });
    expect(msg.to).toEqual(['qe@example.com']);
    expect(msg.attachments).toHaveLength(1);
    const att = msg.attachments![0]!;
    expect(att).toMatchObject({ contentType: 'image/png', cid: 'spc-sep_anode_gap-0-WND03@yieldrun', filename: 'spc-sep_anode_gap-WND03.png' });
    expect(msg.html).toContain(`cid:${att.cid}`);
    expect(msg.fileStem).toBe('spc-alert_sep_anode_gap_2026-10-21');
  });
});

function stored(): StoredSpc {
  const base = { windowFrom: '2026-09-22', windowTo: '2026-10-21', points: 720, limitsNote: 'frozen: baseline of 120 subgroups', valuesN: 720, mean: 0.95, sigmaOverall: 0.1, lsl: 0.8, usl: 1.2, target: 1, cp: 1.1, pp: 0.6, runId: 9, computedAt: new Date('2026-10-22T05:00:00Z'), unjudged: null as string | null };
  return {
    charts: [
      { ...base, measure: 'fail_rate', key: 'TX_POWER-02', chart: 'p', lastPointTime: hour(0), limitsSource: 'window', cl: 0.03, sigmaWithin: 0.17, valuesN: 0, mean: null, sigmaOverall: null, lsl: null, usl: null, target: null, cp: null, cpk: null, pp: null, ppk: null },
      { ...base, measure: 'sep_anode_gap', key: 'WND07', chart: 'I-MR', lastPointTime: hour(23), limitsSource: 'frozen', cl: 1.0, sigmaWithin: 0.03, cpk: 1.5, ppk: 1.4 },
      { ...base, measure: 'sep_anode_gap', key: 'WND03', chart: 'I-MR', lastPointTime: hour(23), limitsSource: 'frozen', cl: 1.0, sigmaWithin: 0.03, cpk: 0.9, ppk: 0.5 },
    ],
    lastPoints: [{ measure: 'sep_anode_gap', key: 'WND03', chart: 'I-MR', time: hour(23), n: 1, value: 0.74, cl: 1.0, ucl: 1.09, lcl: 0.91, sigma: 0.03, pairedValue: 0.01, pairedCl: 0.034, pairedUcl: 0.11, pairedLcl: 0, phase: 'II', limitsSource: 'frozen', runId: 9 }],
    openViolations: [
      { id: 1, measure: 'sep_anode_gap', key: 'WND03', pointTime: new Date('2026-10-20T10:00:00Z'), panel: 'main', rule: 1, side: 'below', firstPointTime: new Date('2026-10-20T10:00:00Z'), value: 0.85, firstSeenRunId: 8, lastSeenRunId: 9, severity: 'alarm', eventId: 5, withdrawnRunId: null },
      // 2026-10-21 06:00 plant time is 04:00Z: on the window's last production day.
      { id: 2, measure: 'sep_anode_gap', key: 'WND03', pointTime: new Date('2026-10-21T04:00:00Z'), panel: 'main', rule: 1, side: 'below', firstPointTime: new Date('2026-10-21T04:00:00Z'), value: 0.75, firstSeenRunId: 9, lastSeenRunId: 9, severity: 'alarm', eventId: 5, withdrawnRunId: null },
      { id: 3, measure: 'sep_anode_gap', key: 'WND03', pointTime: new Date('2026-10-21T04:00:00Z'), panel: 'main', rule: 5, side: 'below', firstPointTime: new Date('2026-10-21T03:00:00Z'), value: 0.75, firstSeenRunId: 9, lastSeenRunId: 9, severity: 'warning', eventId: 5, withdrawnRunId: null },
      // The moving range into that point, beyond the MR chart's UCL.
      { id: 4, measure: 'sep_anode_gap', key: 'WND03', pointTime: new Date('2026-10-21T04:00:00Z'), panel: 'paired', rule: 1, side: 'above', firstPointTime: new Date('2026-10-21T04:00:00Z'), value: 0.2, firstSeenRunId: 9, lastSeenRunId: 9, severity: 'alarm', eventId: 5, withdrawnRunId: null },
    ],
    limits: [{ measure: 'sep_anode_gap', key: 'WND03', chart: 'I-MR', cl: 1.0, sigmaWithin: 0.03, pairedCl: 0.034, baselineKind: 'firstSubgroups', baselineFrom: null, baselineTo: null, subgroups: 120, validFrom: null, setAt: new Date('2026-10-17T05:00:00Z'), setBy: 'run 3 (cli:alice@host)', runId: 3 }],
    events: [
      // Open since 2026-10-20 10:00Z, acknowledged; and an older one on WND07 that closed in the window.
      event(5, 'WND03', { openedAt: new Date('2026-10-20T10:00:00Z'), state: 'acknowledged', acknowledgedAt: new Date('2026-10-21T07:00:00Z'), acknowledgedBy: 'alice', causeCode: 'MATERIAL', actionCode: 'ADJUSTED' }),
      event(4, 'WND07', { openedAt: new Date('2026-10-01T10:00:00Z'), state: 'closed', closedAt: new Date('2026-10-02T10:00:00Z') }),
    ],
  };
}

const measures = [
  { name: 'sep_anode_gap', title: 'Separator–anode gap', unit: 'mm' },
  { name: 'fail_rate', title: 'Fail rate', unit: null },
];

describe('SPC sheet', () => {
  it('one row per measure × key in configuration order, with the last point, capability and the open event with its age and acknowledgement', () => {
    const rows = spcSheetRows(stored(), { clock: { timezone: TZ, dayStart: '06:00' }, measures });
    expect(rows.map((r) => `${r.measure}/${r.chartKey}`)).toEqual(['sep_anode_gap/WND03', 'sep_anode_gap/WND07', 'fail_rate/TX_POWER-02']);
    expect(rows[0]).toMatchObject({
      title: 'Separator–anode gap',
      unit: 'mm',
      lastValue: 0.74,
      cl: 1.0,
      ucl: 1.09,
      lcl: 0.91,
      lastPhase: 'II',
      cpk: 0.9,
      ppk: 0.5,
      eventState: 'acknowledged',
      eventId: 5,
      outOfControlSince: new Date('2026-10-20T10:00:00Z'),
      // To the run at 2026-10-22 05:00Z: 43 hours.
      eventAgeDays: 1.8,
      eventRules: '1 ×3, 2 ×5, 1 (MR) ×1',
      eventPoints: 7,
      eventHistory: 'no',
      acknowledgedBy: 'alice',
      cause: 'MATERIAL',
      action: 'ADJUSTED',
      closedEvents: 0,
      warnings: 1,
      limitsSource: 'frozen',
      limitsSetBy: 'run 3 (cli:alice@host)',
    });
    // WND07's event closed on 10-02, after the window began (09-22): counted, not open.
    expect(rows[1]).toMatchObject({ eventState: 'in control', eventId: null, closedEvents: 1, eventRules: '', lastValue: null, cl: 1.0, limitsSetAt: null });
    expect(rows[2]).toMatchObject({ chart: 'p', n: null, sigmaWithin: null, limitsSource: 'window' });
  });

  it('writes typed cells into an Excel Table with a frozen header; an empty sheet says why', async () => {
    const rows = spcSheetRows(stored(), { clock: { timezone: TZ, dayStart: '06:00' }, measures });
    const back = await writeAndReadBack((book) => {
      addSpcSheet(book, rows, { timezone: TZ });
      addSpcSheet(book, [], { timezone: TZ, sheetName: 'SPC (empty)' });
    });
    const ws = back.getWorksheet('SPC')!;
    expect(ws.views[0]).toMatchObject({ state: 'frozen', xSplit: 2, ySplit: 1 });
    expect(ws.getRow(1).values).toEqual([undefined, ...SPC_COLUMNS.map((c) => c.header)]);
    const cell = (key: string, row = 2) => ws.getRow(row).getCell(SPC_COLUMNS.findIndex((c) => c.key === key) + 1);
    expect(cell('chartKey').value).toBe('WND03');
    expect(cell('lastValue').value).toBe(0.74);
    expect(cell('cpk').numFmt).toBe('0.00');
    expect(cell('eventState').value).toBe('acknowledged');
    // Plant wall-clock time: 2026-10-20 10:00Z is 12:00 in Berlin.
    expect(cell('outOfControlSince').value).toEqual(new Date('2026-10-20T12:00:00Z'));
    expect(cell('windowTo').value).toEqual(new Date('2026-10-21T00:00:00Z'));
    const tables = (ws as any).getTables?.() ?? Object.values((ws as any).tables ?? {});
    expect(tables.length).toBe(1);
    expect(back.getWorksheet('SPC (empty)')!.getCell(2, 1).value).toMatch(/No SPC charts stored yet/);
  });
});

describe('the daily email SPC paragraph', () => {
  it('names the open events with their age and acknowledgement, and once the charts that cannot be judged', () => {
    const data = stored();
    data.charts[0]!.unjudged = 'no variation: cannot be judged';
    data.events.push(event(8, 'WND07', { openedAt: new Date('2026-10-21T04:00:00Z') }));
    const rows = spcSheetRows(data, { clock: { timezone: TZ, dayStart: '06:00' }, measures, asOf: new Date('2026-10-22T04:00:00Z') });
    const p = spcParagraph(rows, '2026-10-21', TZ)!;
    expect(p.flagged).toBe(2);
    expect(p.text.split('\n')).toEqual([
      'SPC (control charts)',
      '2 of 3 control charts are out of control on 2026-10-21:',
      // Unacknowledged first.
      '  - Separator–anode gap WND07: out of control since 2026-10-21 06:00 (1 days, event 8, rules 1 ×3, 2 ×5, 1 (MR) ×1); not acknowledged: yieldrun spc ack 8 --cause CODE --action CODE --by NAME',
      '  - Separator–anode gap WND03: out of control since 2026-10-20 12:00 (1.8 days, event 5, rules 1 ×3, 2 ×5, 1 (MR) ×1); acknowledged by alice 2026-10-21 09:00 (cause MATERIAL, action ADJUSTED)',
      '  - no variation: cannot be judged: Fail rate TX_POWER-02',
    ]);
  });
});
