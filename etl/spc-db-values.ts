/** Reading the SPC tables' columns as the drivers return them (SQLite: epoch ms; numbers as text on some drivers). */

/** A timestamp column as the driver returns it (Date; epoch ms on SQLite) as a Date. */
export function toDate(v: unknown): Date {
  if (v instanceof Date) return v;
  if (typeof v === 'number') return new Date(v);
  if (typeof v === 'string' && /^\d+$/.test(v)) return new Date(Number(v));
  const d = new Date(String(v));
  if (Number.isNaN(d.getTime())) throw new Error(`cannot read the timestamp ${String(v)}`);
  return d;
}

export const toDateOrNull = (v: unknown) => (v === null || v === undefined ? null : toDate(v));
export const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
export const textOrNull = (v: unknown) => (v === null || v === undefined ? null : String(v));
