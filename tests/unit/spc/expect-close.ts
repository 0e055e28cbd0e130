import { expect } from 'vitest';

/** |actual − expected| ≤ rel·|expected| (or ≤ rel when expected is 0), with a message that shows both. */
export function expectClose(actual: number | null | undefined, expected: number, rel = 1e-9): void {
  expect(actual, `expected a number close to ${expected}`).toBeTypeOf('number');
  const a = actual as number;
  const tolerance = rel * Math.max(Math.abs(expected), expected === 0 ? 1 : 0);
  expect(Math.abs(a - expected), `${a} vs ${expected} (relative tolerance ${rel})`).toBeLessThanOrEqual(tolerance);
}

/** Rounds to `decimals` places the way a printed table does (half away from zero). */
export function printed(value: number, decimals: number): number {
  const scale = 10 ** decimals;
  return (Math.sign(value) * Math.round(Math.abs(value) * scale + 1e-9)) / scale;
}

/** Every number anywhere in `value` is finite: no NaN or Infinity leaks into stored points. */
export function expectAllFinite(value: unknown, path = '$'): void {
  if (typeof value === 'number') {
    expect(Number.isFinite(value), `${path} = ${value}`).toBe(true);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => expectAllFinite(v, `${path}[${i}]`));
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) expectAllFinite(v, `${path}.${k}`);
  }
}
