/**
 * Single sampling plans of MIL-STD-105E / ANSI Z1.4 from its tables (mil-std-105e.ts): the code
 * letter of a lot size at an inspection level, and the plan a master table gives for it and an AQL,
 * arrows followed (pure).
 */
import { AQLS, CODE_LETTERS, INSPECTION_LEVELS, MASTER_TABLES, TABLE_I, type CodeLetter, type InspectionLevel, type Severity } from './mil-std-105e.js';

/** A request the tables cannot answer (an AQL that is no column, a level that is none): the caller's mistake. */
export class SamplingPlanError extends Error {}

export function isInspectionLevel(v: string): v is InspectionLevel {
  return (INSPECTION_LEVELS as readonly string[]).includes(v);
}

/** Table I. A lot of one unit counts as the first band (2 to 8). */
export function codeLetter(lotSize: number, level: InspectionLevel): CodeLetter {
  if (!Number.isInteger(lotSize) || lotSize < 1) throw new SamplingPlanError(`lot size ${lotSize}: expected a whole number of at least 1`);
  const column = INSPECTION_LEVELS.indexOf(level);
  if (column < 0) throw new SamplingPlanError(`inspection level '${level}': expected one of ${INSPECTION_LEVELS.join(', ')}`);
  const band = TABLE_I.find((b) => b.to === null || lotSize <= b.to)!;
  return band.letters[column] as CodeLetter;
}

/** The column of an AQL (in percent): it must be one the tables print. */
export function aqlColumn(aql: number): number {
  const j = AQLS.findIndex((a) => Math.abs(a - aql) <= 1e-9 * a);
  if (j < 0) throw new SamplingPlanError(`AQL ${aql}: not a column of MIL-STD-105E; expected one of ${AQLS.join(', ')}`);
  return j;
}

export interface StandardPlan {
  /** The code letter of the lot size. */
  codeLetter: CodeLetter;
  /** The row whose plan applies after the arrows (its sample size is the one to use). */
  planLetter: string;
  severity: Severity;
  n: number;
  ac: number;
  re: number;
}

/**
 * The plan for a code letter and AQL under a severity: the cell, or, for an arrow, the first plan in
 * its direction, whose sample size then replaces the code letter's (the standard's 9.4: "use the
 * first sampling plan below/above the arrow").
 */
export function masterPlan(letter: CodeLetter, aql: number, severity: Severity): StandardPlan {
  const table = MASTER_TABLES[severity];
  const rows = Object.keys(table.sampleSizes);
  const j = aqlColumn(aql);
  let i = rows.indexOf(letter);
  for (let steps = 0; steps <= rows.length; steps++) {
    const row = rows[i];
    if (row === undefined) break;
    const cell = table.cells[row]!.split(' ')[j]!;
    if (cell === '↓') i++;
    else if (cell === '↑') i--;
    else {
      const [ac, re] = cell.split('/').map(Number) as [number, number];
      return { codeLetter: letter, planLetter: row, severity, n: table.sampleSizes[row]!, ac, re };
    }
  }
  throw new Error(`MIL-STD-105E table for ${severity} inspection: the arrow at ${letter} / ${aql} leads to no plan`);
}

/** Code letter, then master table: the plan for a lot. */
export function milStd105ePlan(lotSize: number, aql: number, level: InspectionLevel, severity: Severity): StandardPlan {
  return masterPlan(codeLetter(lotSize, level), aql, severity);
}

export { CODE_LETTERS };
