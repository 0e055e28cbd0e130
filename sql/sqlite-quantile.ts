/**
 * The type-7 quantile as a SQLite aggregate function, registered on every SQLite connection
 * (sql/connection.ts) for the process flow's medians and 90th percentiles (sql/flow-query.ts).
 * `yieldrun_quantile(value, num, den)` is the num/den quantile of the group's non-NULL values:
 * with the n values in order x₀ … xₙ₋₁ and h = (n − 1)·num, lo = ⌊h / den⌋ and f = (h mod den) / den,
 * x_lo·(1 − f) + x_lo+1·f (the second term 0 when x_lo is the last), in the floating-point steps
 * PostgreSQL's and SQL Server's forms of the statement take. NULL for a group without values.
 */
export const SQLITE_QUANTILE_FUNCTION = 'yieldrun_quantile';

interface QuantileState {
  values: number[];
  num: number;
  den: number;
}

export function typeSevenQuantile(sorted: readonly number[], num: number, den: number): number | null {
  const n = sorted.length;
  if (n === 0) return null;
  const h = (n - 1) * num;
  const lo = Math.floor(h / den);
  const frac = (h % den) / den;
  return sorted[lo]! * (1 - frac) + (lo + 1 < n ? sorted[lo + 1]! * frac : 0);
}

/** The aggregate's definition for better-sqlite3's Database.aggregate (three arguments). */
export const sqliteQuantileAggregate = {
  deterministic: true,
  varargs: false,
  start: (): QuantileState => ({ values: [], num: 1, den: 2 }),
  step: (state: QuantileState, value: unknown, num: unknown, den: unknown): QuantileState => {
    if (typeof value === 'number' || typeof value === 'bigint') state.values.push(Number(value));
    state.num = Number(num);
    state.den = Number(den);
    return state;
  },
  result: (state: QuantileState): number | null => typeSevenQuantile(state.values.sort((a, b) => a - b), state.num, state.den),
};
