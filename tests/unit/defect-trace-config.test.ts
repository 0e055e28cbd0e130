/**
 * The defectTrace configuration: its defaults (those of sources.md and the shipped default.yaml)
 * and a bad value named by its key.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, defaultConfigPath, loadConfig, resolveConfig } from '../../config/load.js';

const DEFAULTS = {
  gapItemCode: 'SEP_ANODE_GAP',
  lsl: 0.8,
  usl: 1.2,
  defectCodes: { infusion: 5, filling: 4 },
  infusionRateThreshold: 0.02,
  minCells: 50,
  windowDays: 30,
  leadDays: 2,
  baselineDays: 14,
  driftZ: 3,
};

const fail = (raw: unknown) => {
  try {
    resolveConfig(raw, {}, 'test.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
};

describe('defectTrace configuration', () => {
  it('defaults to the spec limits, and default.yaml says the same', () => {
    expect(resolveConfig({}, {}, 'test').defectTrace).toEqual(DEFAULTS);
    expect(loadConfig(defaultConfigPath(), {}).defectTrace).toEqual(DEFAULTS);
  });

  it('names the key of a bad value', () => {
    expect(fail({ defectTrace: { lsl: 1.3 } })).toMatch(/defectTrace\.lsl: expected a gap LSL below defectTrace\.usl/);
    expect(fail({ defectTrace: { infusionRateThreshold: 2 } })).toMatch(/defectTrace\.infusionRateThreshold: expected a fraction in \[0, 1\]/);
    expect(fail({ defectTrace: { defectCodes: { filling: 5 } } })).toMatch(/defectTrace\.defectCodes: the infusion and filling defect codes must differ/);
    expect(fail({ defectTrace: { leadDays: 0 } })).toMatch(/defectTrace\.leadDays/);
    expect(fail({ defectTrace: { gapItemCode: '  ' } })).toMatch(/defectTrace\.gapItemCode: expected an item code/);
    expect(fail({ defectTrace: { lead: 2 } })).toMatch(/defectTrace: unknown key\(s\) 'lead'/);
  });
});
