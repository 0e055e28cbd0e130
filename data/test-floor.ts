/**
 * The optical-module test floor the demo data comes from: test steps with their stations, error
 * codes and cycle times, and products with their volume share, maturity and route. Plain data, so
 * a reader sees the plant at a glance; it is the same for every seed (the seed varies the units).
 */
import { createRng } from './random.js';

export interface TestStep {
  name: string;
  /** Stations that run the step; retests may move to another. */
  stations: string[];
  /** First-attempt fail probability of an average product on an average station. */
  failRate: number;
  /** Median cycle time of a passing attempt, seconds. */
  seconds: number;
  /** Spread of the cycle time (sigma of its logarithm): a fixed chamber program barely varies. */
  spread: number;
  errorCodes: string[];
}

export interface Product {
  name: string;
  /** Share of the units started. */
  share: number;
  /** Multiplies every fail probability: new, dense products fail more. */
  maturity: number;
  /** Test steps in the order a unit goes through them. */
  route: string[];
}

const stations = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}-${String(i + 1).padStart(2, '0')}`);

/** In line order: a product's route is an ordered subset. */
export const TEST_STEPS: readonly TestStep[] = [
  { name: 'DC_CURRENT', stations: stations('DC_CURRENT', 2), failRate: 0.006, seconds: 3.2, spread: 0.08, errorCodes: ['ICC_HIGH', 'ICC_LOW', 'SHORT'] },
  { name: 'TX_POWER', stations: stations('TX_POWER', 3), failRate: 0.025, seconds: 12.5, spread: 0.08, errorCodes: ['TXP_LOW', 'TXP_HIGH', 'TXP_UNSTABLE'] },
  { name: 'WAVELENGTH', stations: stations('WAVELENGTH', 2), failRate: 0.012, seconds: 8.4, spread: 0.08, errorCodes: ['WL_OUT_OF_RANGE', 'SMSR_LOW'] },
  { name: 'EXT_RATIO', stations: stations('EXT_RATIO', 3), failRate: 0.02, seconds: 15.0, spread: 0.08, errorCodes: ['ER_LOW', 'OMA_LOW'] },
  { name: 'EYE_MASK', stations: stations('EYE_MASK', 3), failRate: 0.03, seconds: 31.0, spread: 0.08, errorCodes: ['MASK_HIT', 'JITTER_HIGH', 'CROSSING_OFF'] },
  { name: 'RX_SENS', stations: stations('RX_SENS', 4), failRate: 0.035, seconds: 46.0, spread: 0.08, errorCodes: ['RX_SENS_FAIL', 'LOS_ASSERT', 'RSSI_CAL'] },
  { name: 'BER', stations: stations('BER', 4), failRate: 0.02, seconds: 118.0, spread: 0.08, errorCodes: ['BER_HIGH', 'CDR_UNLOCK'] },
  { name: 'TEMP_CYCLE', stations: stations('TEMP_CYCLE', 4), failRate: 0.04, seconds: 1790.0, spread: 0.01, errorCodes: ['TC_HOT_FAIL', 'TC_COLD_FAIL', 'TC_DRIFT'] },
  { name: 'VISUAL', stations: stations('VISUAL', 2), failRate: 0.01, seconds: 21.0, spread: 0.08, errorCodes: ['SCRATCH', 'CONTAMINATION', 'LABEL'] },
  { name: 'FINAL_QA', stations: stations('FINAL_QA', 2), failRate: 0.006, seconds: 58.0, spread: 0.08, errorCodes: ['EEPROM_CRC', 'DDM_CAL', 'LABEL_MISMATCH'] },
];

const ALL = TEST_STEPS.map((t) => t.name);
const without = (...skip: string[]) => ALL.filter((t) => !skip.includes(t));

export const PRODUCTS: readonly Product[] = [
  { name: 'SFP-1G-LX', share: 0.06, maturity: 0.6, route: without('EXT_RATIO', 'EYE_MASK', 'BER', 'TEMP_CYCLE') },
  { name: 'SFP-10G-SR', share: 0.16, maturity: 0.7, route: without('WAVELENGTH', 'BER', 'TEMP_CYCLE') },
  { name: 'SFP-10G-LR', share: 0.12, maturity: 0.8, route: without('BER', 'TEMP_CYCLE') },
  { name: 'SFP28-25G-SR', share: 0.1, maturity: 0.9, route: without('WAVELENGTH', 'TEMP_CYCLE') },
  { name: 'SFP28-25G-LR', share: 0.07, maturity: 1.0, route: without('TEMP_CYCLE') },
  { name: 'QSFP-40G-SR4', share: 0.06, maturity: 0.8, route: without('WAVELENGTH', 'BER', 'TEMP_CYCLE', 'DC_CURRENT') },
  { name: 'QSFP28-100G-SR4', share: 0.12, maturity: 1.0, route: without('WAVELENGTH', 'TEMP_CYCLE') },
  { name: 'QSFP28-100G-LR4', share: 0.09, maturity: 1.1, route: ALL },
  { name: 'QSFP28-100G-CWDM4', share: 0.08, maturity: 1.15, route: without('EXT_RATIO') },
  { name: 'QSFP-DD-400G-DR4', share: 0.06, maturity: 1.4, route: ALL },
  { name: 'QSFP-DD-400G-FR4', share: 0.05, maturity: 1.5, route: ALL },
  { name: 'OSFP-800G-DR8', share: 0.03, maturity: 1.8, route: ALL },
];

export const ALL_STATIONS: readonly string[] = TEST_STEPS.flatMap((t) => t.stations);

/**
 * Stations differ a little (fixture wear, calibration); fixed, not seeded, so a station is the same
 * good or bad one in every data set.
 */
export const STATION_FACTOR: ReadonlyMap<string, number> = (() => {
  const rng = createRng(20_261_012, 'station-factor');
  return new Map(ALL_STATIONS.map((s) => [s, Math.round(rng.between(0.8, 1.25) * 100) / 100]));
})();

/**
 * How a station's software spells results: older testers write P/F, the operator-entered visual
 * and final inspections OK/NG (valid with the default synonyms PASS,P,OK / FAIL,F,NG).
 */
export function resultSpelling(station: string): { pass: string; fail: string } {
  if (station.startsWith('WAVELENGTH')) return { pass: 'P', fail: 'F' };
  if (station.startsWith('VISUAL') || station === 'FINAL_QA-02') return { pass: 'OK', fail: 'NG' };
  return { pass: 'PASS', fail: 'FAIL' };
}

/** Free-typed or badly parsed variants that are still valid after trimming and upper-casing. */
export const SLOPPY_RESULTS = {
  pass: [' pass ', 'pass', 'Pass', 'PASS ', ' ok', 'p'],
  fail: ['fail', ' FAIL', 'Fail ', ' ng ', 'f'],
} as const;

export function testStep(name: string): TestStep {
  const t = TEST_STEPS.find((s) => s.name === name);
  if (!t) throw new Error(`unknown test step '${name}'`);
  return t;
}
