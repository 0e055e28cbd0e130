/**
 * Shifts in plant time (process-flow.md §6), pure: the pieces of each production day that each
 * configured shift covers. A shift runs from its start to the next shift's start; a production day
 * whose start is not a shift start begins inside the shift that started the evening before.
 */
import { DateTime } from 'luxon';
import { addDays, productionDay, type PlantClock } from '../periods.js';

export interface Shift {
  name: string;
  /** 'HH:MM', plant time. */
  start: string;
}

export interface ShiftPiece {
  /** Index into the shifts in start order. */
  shift: number;
  from: DateTime;
  to: DateTime;
}

/** plant.shifts (name → start) in start order. */
export function orderedShifts(config: Record<string, string>): Shift[] {
  return Object.entries(config)
    .map(([name, start]) => ({ name, start }))
    .sort((a, b) => a.start.localeCompare(b.start));
}

/** The pieces of production day `day`, in time order; empty without shifts. */
export function shiftPieces(day: string, shifts: readonly Shift[], clock: PlantClock): ShiftPiece[] {
  if (shifts.length === 0) return [];
  const { from, to } = productionDay(day, clock);
  const starts = [-1, 0, 1]
    .flatMap((k) => shifts.map((s, shift) => ({ shift, at: DateTime.fromISO(`${addDays(day, k)}T${s.start}`, { zone: clock.timezone }) })))
    .sort((a, b) => a.at.toMillis() - b.at.toMillis());
  const activeAt = (t: DateTime) => starts.filter((s) => s.at <= t).pop()!.shift;
  const bounds = [from, ...starts.map((s) => s.at).filter((t) => t > from && t < to), to];
  const pieces: ShiftPiece[] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    const shift = activeAt(bounds[i]!);
    const prev = pieces[pieces.length - 1];
    // Two shifts starting at the same instant (a start inside a DST gap) leave an empty piece.
    if (bounds[i + 1]! <= bounds[i]!) continue;
    if (prev && prev.shift === shift) prev.to = bounds[i + 1]!;
    else pieces.push({ shift, from: bounds[i]!, to: bounds[i + 1]! });
  }
  return pieces;
}
