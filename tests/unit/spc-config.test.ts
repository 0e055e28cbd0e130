/**
 * The `spc` configuration: the shipped measures of spc.md §1, the defaults that depend on the chart
 * type, and validation messages that name the key to fix (no SQL can come in through a name).
 */
import { describe, expect, it } from 'vitest';
import { loadConfig, resolveConfig, defaultConfigPath, ConfigError } from '../../config/load.js';
import { enabledMeasures, measureSpec } from '../../etl/spc-measures.js';
import { applicableRules } from '../../etl/spc/nelson-rules.js';
import { DEFAULT_SPC_ACTIONS, DEFAULT_SPC_CAUSES } from '../../config/schema.js';

const gap = {
  chart: 'I-MR',
  source: { table: 'isp_ifo_h', where: { item_cd: 'SEP_ANODE_GAP' } },
  time: 'insp_dt',
  key: 'eqp_id',
  value: 'insp_val',
};

const fail = (measure: Record<string, unknown>, name = 'gap') => {
  try {
    resolveConfig({ spc: { measures: { [name]: measure } } }, {}, 'test.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
};

describe('spc configuration', () => {
  it('default.yaml configures the four measures of spc.md §1 for the demo data', () => {
    const cfg = loadConfig(defaultConfigPath(), {});
    expect(cfg.spc.windowDays).toBe(30);
    const measures = enabledMeasures(cfg);
    expect(measures.map((m) => [m.name, m.chart])).toEqual([
      ['sep_anode_gap', 'I-MR'],
      ['test_duration', 'Xbar-S'],
      ['fail_rate', 'p'],
      ['infusion_defect_rate', 'p'],
    ]);
    const [g, d, f, i] = measures as [any, any, any, any];
    expect(g.source).toMatchObject({ from: { table: 'isp_ifo_h' }, where: { item_cd: ['SEP_ANODE_GAP'] }, key: ['eqp_id'], value: 'insp_val', time: 'insp_dt' });
    expect(g.spec).toEqual({ lsl: 0.8, usl: 1.2, target: 1 });
    expect(g.subgroup).toEqual({ kind: 'none' });
    expect(g.rules.enabled).toEqual([1, 2, 3, 5, 6]);
    expect(d.source.key).toEqual(['MachineID', 'TestName']);
    expect(d.subgroup).toEqual({ kind: 'hour' });
    expect(f.source.defective).toEqual({ column: 'TestResult', in: ['FAIL', 'F', 'NG'] });
    expect(f.subgroup).toEqual({ kind: 'day' });
    // p-charts judge rules 1–4 only (spc.md §3); without `rules`, the default set 1, 2, 3, 5, 6 filtered to those.
    expect(f.rules.enabled).toEqual([1, 2, 3]);
    expect(i.rules.enabled).toEqual([1, 2, 3]);
    expect(i.source.lookup).toEqual({ table: 'wnd_data', match: { from: 'cell_id', to: 'cell_id' }, latest: 'prod_dt' });
    expect(i.source.key).toEqual(['eqp_id']);
    expect(i.source.defective).toEqual({ column: 'dfct_cd', in: [5] });
  });

  it('no spc key: no measures; run lengths and rules default to Nelson', () => {
    expect(resolveConfig({}, {}).spc).toEqual({ windowDays: 30, eventCloseAfter: 8, causes: DEFAULT_SPC_CAUSES, actions: DEFAULT_SPC_ACTIONS, measures: {} });
    const m = measureSpec('gap', resolveConfig({ spc: { measures: { gap } } }, {}).spc.measures.gap!);
    expect(m.rules).toEqual({
      enabled: [1, 2, 3, 5, 6],
      sameSideRun: 9,
      trendRun: 6,
      alternatingRun: 14,
      beyondTwoSigma: { count: 2, window: 3 },
      beyondOneSigma: { count: 4, window: 5 },
      withinOneSigmaRun: 15,
      outsideOneSigmaRun: 8,
    });
    expect(m.baseline).toBeNull();
    expect(m.alert).toEqual({ to: [], cc: [] });
    const we = measureSpec('gap', resolveConfig({ spc: { measures: { gap: { ...gap, rules: [1, 2], runLengths: { sameSide: 8 } } } } }, {}).spc.measures.gap!);
    expect(we.rules).toMatchObject({ enabled: [1, 2], sameSideRun: 8 });
  });

  it('rule severities: rules 1 and 2 alarm, the others warning, unless a measure says otherwise; codes are checked', () => {
    const raw = { chart: 'I-MR', source: { table: 'g' }, time: 't', key: 'k', value: 'v' };
    const plain = measureSpec('m', resolveConfig({ spc: { measures: { m: raw } } }, {}).spc.measures.m!);
    expect(plain.severity).toEqual({ 1: 'alarm', 2: 'alarm', 3: 'warning', 4: 'warning', 5: 'warning', 6: 'warning', 7: 'warning', 8: 'warning' });
    const own = measureSpec('m', resolveConfig({ spc: { measures: { m: { ...raw, severity: { 5: 'alarm', 2: 'warning' } } } } }, {}).spc.measures.m!);
    expect([own.severity[1], own.severity[2], own.severity[5]]).toEqual(['alarm', 'warning', 'alarm']);
    expect(() => resolveConfig({ spc: { measures: { m: { ...raw, severity: { 9: 'alarm' } } } } }, {})).toThrow(/spc\.measures\.m\.severity.*rule number 1 to 8/s);
    expect(() => resolveConfig({ spc: { measures: { m: { ...raw, severity: { 1: 'loud' } } } } }, {})).toThrow(/expected alarm or warning/);
    expect(() => resolveConfig({ spc: { causes: { 'bad code': 'x' } } }, {})).toThrow(/spc\.causes.*expected a code such as MATERIAL/s);
    expect(resolveConfig({ spc: { causes: { FILM: 'separator film lot' } } }, {}).spc.causes).toEqual({ FILM: 'separator film lot' });
  });

  it('a bad identifier names the key; values never reach the SQL text', () => {
    expect(fail({ ...gap, value: 'insp_val; DROP TABLE x' })).toMatch(/spc\.measures\.gap\.value: expected a column name/);
    expect(fail({ ...gap, key: ['eqp_id', 'x"y'] })).toMatch(/spc\.measures\.gap\.key\.1: expected a column name/);
    expect(fail({ ...gap, time: '1st' })).toMatch(/spc\.measures\.gap\.time: expected a column name/);
    expect(fail({ ...gap, source: { table: 'isp--x' } })).toMatch(/spc\.measures\.gap\.source\.table: expected a table name/);
    expect(fail({ ...gap, source: { table: 'isp_ifo_h', where: { 'item_cd OR 1=1': 'x' } } })).toMatch(/spc\.measures\.gap\.source\.where/);
    expect(fail({ ...gap, source: { table: 'asb_data', lookup: { table: 'wnd_data', match: 'cell id', key: 'eqp_id' } } }, 'r')).toMatch(/spc\.measures\.r\.source\.lookup\.match/);
    expect(fail(gap, 'Gap-1')).toMatch(/spc\.measures\.Gap-1: expected a measure name/);
  });

  it('an unknown chart type or subgrouping names the key and the expected form', () => {
    expect(fail({ ...gap, chart: 'CUSUM' })).toMatch(/spc\.measures\.gap\.chart: expected a chart type: I-MR, Xbar-R, Xbar-S, p/);
    expect(fail({ ...gap, chart: 'Xbar-R', subgroup: 'hourly' })).toMatch(/spc\.measures\.gap\.subgroup: expected none, \{ size: N \}/);
    expect(fail({ ...gap, chart: 'Xbar-R', subgroup: { size: 1 } })).toMatch(/spc\.measures\.gap\.subgroup\.size: expected a subgroup size of 2 to 100/);
    expect(fail({ ...gap, chart: 'Xbar-R' })).toMatch(/spc\.measures\.gap\.subgroup: an Xbar-R chart needs subgroups/);
    expect(fail({ ...gap, subgroup: { by: 'hour' } })).toMatch(/spc\.measures\.gap\.subgroup: an I-MR chart charts single readings/);
    expect(fail({ ...gap, baseline: { firstSubgroups: 1 } })).toMatch(/spc\.measures\.gap\.baseline/);
    expect(fail({ ...gap, baseline: { from: '2026-10-20', to: '2026-10-12' } })).toMatch(/spc\.measures\.gap\.baseline: baseline\.from must not be after baseline\.to/);
    expect(fail({ ...gap, spec: { lsl: 1.2, usl: 0.8 } })).toMatch(/spc\.measures\.gap\.spec: lsl must be below usl/);
    expect(fail({ ...gap, rules: [1, 9] })).toMatch(/spc\.measures\.gap\.rules\.1: expected rule numbers 1 to 8/);
    expect(fail({ ...gap, alert: { to: ['not-an-address'] } })).toMatch(/spc\.measures\.gap\.alert\.to\.0: expected an email address/);
    expect(fail({ ...gap, colour: 'red' })).toMatch(/spc\.measures\.gap: unknown key\(s\) 'colour'/);
  });

  it('p-charts: a defective condition, rules 1–4 only, no value or spec limits', () => {
    const p = { chart: 'p', source: { table: 'test_records' }, time: 'TestTimeStamp', key: 'MachineID', defective: { column: 'TestResult', in: ['FAIL'] } };
    expect(() => resolveConfig({ spc: { measures: { p } } }, {})).not.toThrow();
    // One default for every chart, filtered to what the chart allows: the same set as applicableRules('p').
    const rulesOf = (extra: Record<string, unknown>) => measureSpec('p', resolveConfig({ spc: { measures: { p: { ...p, ...extra } } } }, {}).spc.measures.p!).rules.enabled;
    expect(rulesOf({})).toEqual(applicableRules('p'));
    expect(rulesOf({})).toEqual([1, 2, 3]);
    expect(rulesOf({ rules: [1, 2, 3, 4] })).toEqual([1, 2, 3, 4]);
    expect(rulesOf({ rules: [4] })).toEqual([4]);
    expect(fail({ ...p, defective: undefined })).toMatch(/spc\.measures\.gap\.defective: a p-chart needs defective/);
    expect(fail({ ...p, rules: [1, 5] })).toMatch(/spc\.measures\.gap\.rules: p-charts use rules 1 to 4 only/);
    expect(fail({ ...p, value: 'TestDuration_s' })).toMatch(/spc\.measures\.gap\.value: a p-chart counts rows/);
    expect(fail({ ...p, spec: { usl: 0.05 } })).toMatch(/spc\.measures\.gap\.spec: spec limits apply to I-MR and X̄ charts/);
    expect(fail({ ...p, defective: { column: 'TestResult', in: ['FAIL', 4] } })).toMatch(/spc\.measures\.gap\.defective\.in: expected text values or number values, not both/);
  });

  it('a source is a table or one read-only SELECT, and the chart key is named once', () => {
    expect(fail({ ...gap, source: {} })).toMatch(/spc\.measures\.gap\.source: expected exactly one of table or query/);
    expect(fail({ ...gap, source: { table: 't', query: 'SELECT 1' } })).toMatch(/expected exactly one of table or query/);
    expect(fail({ ...gap, source: { query: 'DELETE FROM isp_ifo_h' } })).toMatch(/spc\.measures\.gap\.source\.query: expected one SELECT statement/);
    expect(fail({ ...gap, source: { query: 'SELECT * FROM isp_ifo_h; DROP TABLE isp_ifo_h' } })).toMatch(/spc\.measures\.gap\.source\.query: expected a single SELECT statement/);
    expect(fail({ ...gap, key: undefined })).toMatch(/spc\.measures\.gap\.key: expected the chart key column/);
    const lookup = { table: 'wnd_data', match: 'cell_id', key: 'eqp_id' };
    expect(fail({ ...gap, source: { table: 'asb_data', lookup } })).toMatch(/spc\.measures\.gap\.key: give the chart key either as key or as source\.lookup\.key/);
    const q = resolveConfig({ spc: { measures: { gap: { ...gap, source: { query: 'SELECT eqp_id, insp_dt, insp_val FROM isp_ifo_h' } } } } }, {});
    expect(measureSpec('gap', q.spc.measures.gap!).source.from).toEqual({ query: 'SELECT eqp_id, insp_dt, insp_val FROM isp_ifo_h' });
  });
});
