/**
 * MIL-STD-105E (10 May 1989; public domain, and the same tables as ANSI/ASQ Z1.4 and ISO 2859-1)
 * single sampling, as data: Table I (sample size code letters) and the master tables II-A
 * (normal), II-B (tightened) and II-C (reduced), each cell as printed: "Ac/Re", or an arrow,
 * "↓" use the first plan below it, "↑" the first plan above it.
 *
 * Checked cell by cell (tests/unit/sampling/mil-std-105e.test.ts) against the resolved plans of the
 * R package AQLSchemes (J. Lawson; function AAZ14Single, as published in the public repository
 * fjgonzalezmgt/AQLSchemesCust, R/AAZ14Single.R): every code letter × AQL × table resolves to the
 * same sample size, Ac and Re.
 */

/** Inspection levels of Table I: the special levels S-1 … S-4 and the general levels I, II, III. */
export const INSPECTION_LEVELS = ['S-1', 'S-2', 'S-3', 'S-4', 'I', 'II', 'III'] as const;
export type InspectionLevel = (typeof INSPECTION_LEVELS)[number];

/** The AQL columns of the master tables, in percent nonconforming (or nonconformities per 100 units above 10). */
export const AQLS = [0.01, 0.015, 0.025, 0.04, 0.065, 0.1, 0.15, 0.25, 0.4, 0.65, 1.0, 1.5, 2.5, 4.0, 6.5, 10, 15, 25, 40, 65, 100, 150, 250, 400, 650, 1000] as const;

export const CODE_LETTERS = ['A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'J', 'K', 'L', 'M', 'N', 'P', 'Q', 'R'] as const;
export type CodeLetter = (typeof CODE_LETTERS)[number];

/**
 * Table I: lot size band (upper bound, inclusive; the last band has none) → code letter per level,
 * in the order of INSPECTION_LEVELS.
 */
export const TABLE_I: readonly { from: number; to: number | null; letters: string }[] = [
  { from: 2, to: 8, letters: 'AAAAAAB' },
  { from: 9, to: 15, letters: 'AAAAABC' },
  { from: 16, to: 25, letters: 'AABBBCD' },
  { from: 26, to: 50, letters: 'ABBCCDE' },
  { from: 51, to: 90, letters: 'BBCCCEF' },
  { from: 91, to: 150, letters: 'BBCDDFG' },
  { from: 151, to: 280, letters: 'BCDEEGH' },
  { from: 281, to: 500, letters: 'BCDEFHJ' },
  { from: 501, to: 1200, letters: 'CCEFGJK' },
  { from: 1201, to: 3200, letters: 'CDEGHKL' },
  { from: 3201, to: 10000, letters: 'CDFGJLM' },
  { from: 10001, to: 35000, letters: 'CDFHKMN' },
  { from: 35001, to: 150000, letters: 'DEGJLNP' },
  { from: 150001, to: 500000, letters: 'DEGJMPQ' },
  { from: 500001, to: null, letters: 'DEHKNQR' },
];

export type Severity = 'normal' | 'tightened' | 'reduced';

export interface MasterTable {
  /** Sample size per row (code letter; II-B has a row S of 3150 below R). */
  sampleSizes: Readonly<Record<string, number>>;
  /** Row → the 26 cells under AQLS, separated by spaces. */
  cells: Readonly<Record<string, string>>;
}

/** Table II-A: single sampling plans for normal inspection. */
export const TABLE_II_A: MasterTable = {
  sampleSizes: { A: 2, B: 3, C: 5, D: 8, E: 13, F: 20, G: 32, H: 50, J: 80, K: 125, L: 200, M: 315, N: 500, P: 800, Q: 1250, R: 2000 },
  cells: {
    A: '↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ 0/1 ↓ ↓ 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 30/31',
    B: '↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ 0/1 ↑ ↓ 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 30/31 44/45',
    C: '↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ 0/1 ↑ ↓ 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 30/31 44/45 ↑',
    D: '↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ 0/1 ↑ ↓ 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 30/31 44/45 ↑ ↑',
    E: '↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ 0/1 ↑ ↓ 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 30/31 44/45 ↑ ↑ ↑',
    F: '↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ 0/1 ↑ ↓ 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 ↑ ↑ ↑ ↑ ↑ ↑',
    G: '↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ 0/1 ↑ ↓ 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 ↑ ↑ ↑ ↑ ↑ ↑ ↑',
    H: '↓ ↓ ↓ ↓ ↓ ↓ ↓ 0/1 ↑ ↓ 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑',
    J: '↓ ↓ ↓ ↓ ↓ ↓ 0/1 ↑ ↓ 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑',
    K: '↓ ↓ ↓ ↓ ↓ 0/1 ↑ ↓ 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑',
    L: '↓ ↓ ↓ ↓ 0/1 ↑ ↓ 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑',
    M: '↓ ↓ ↓ 0/1 ↑ ↓ 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑',
    N: '↓ ↓ 0/1 ↑ ↓ 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑',
    P: '↓ 0/1 ↑ ↓ 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑',
    Q: '0/1 ↑ ↓ 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑',
    R: '↑ ↑ 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑',
  },
};

/** Table II-B: single sampling plans for tightened inspection (row S is reached only by the arrow under 0.025). */
export const TABLE_II_B: MasterTable = {
  sampleSizes: { A: 2, B: 3, C: 5, D: 8, E: 13, F: 20, G: 32, H: 50, J: 80, K: 125, L: 200, M: 315, N: 500, P: 800, Q: 1250, R: 2000, S: 3150 },
  cells: {
    A: '↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ 1/2 2/3 3/4 5/6 8/9 12/13 18/19 27/28',
    B: '↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ 0/1 ↓ ↓ 1/2 2/3 3/4 5/6 8/9 12/13 18/19 27/28 41/42',
    C: '↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ 0/1 ↓ ↓ 1/2 2/3 3/4 5/6 8/9 12/13 18/19 27/28 41/42 ↑',
    D: '↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ 0/1 ↓ ↓ 1/2 2/3 3/4 5/6 8/9 12/13 18/19 27/28 41/42 ↑ ↑',
    E: '↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ 0/1 ↓ ↓ 1/2 2/3 3/4 5/6 8/9 12/13 18/19 27/28 41/42 ↑ ↑ ↑',
    F: '↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ 0/1 ↓ ↓ 1/2 2/3 3/4 5/6 8/9 12/13 18/19 ↑ ↑ ↑ ↑ ↑ ↑',
    G: '↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ 0/1 ↓ ↓ 1/2 2/3 3/4 5/6 8/9 12/13 18/19 ↑ ↑ ↑ ↑ ↑ ↑ ↑',
    H: '↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ 0/1 ↓ ↓ 1/2 2/3 3/4 5/6 8/9 12/13 18/19 ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑',
    J: '↓ ↓ ↓ ↓ ↓ ↓ ↓ 0/1 ↓ ↓ 1/2 2/3 3/4 5/6 8/9 12/13 18/19 ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑',
    K: '↓ ↓ ↓ ↓ ↓ ↓ 0/1 ↓ ↓ 1/2 2/3 3/4 5/6 8/9 12/13 18/19 ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑',
    L: '↓ ↓ ↓ ↓ ↓ 0/1 ↓ ↓ 1/2 2/3 3/4 5/6 8/9 12/13 18/19 ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑',
    M: '↓ ↓ ↓ ↓ 0/1 ↓ ↓ 1/2 2/3 3/4 5/6 8/9 12/13 18/19 ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑',
    N: '↓ ↓ ↓ 0/1 ↓ ↓ 1/2 2/3 3/4 5/6 8/9 12/13 18/19 ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑',
    P: '↓ ↓ 0/1 ↓ ↓ 1/2 2/3 3/4 5/6 8/9 12/13 18/19 ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑',
    Q: '↓ 0/1 ↓ ↓ 1/2 2/3 3/4 5/6 8/9 12/13 18/19 ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑',
    R: '0/1 ↑ ↓ 1/2 2/3 3/4 5/6 8/9 12/13 18/19 ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑',
    S: '↑ ↑ 1/2 ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑',
  },
};

/**
 * Table II-C: single sampling plans for reduced inspection. Code letters A, B and C share the
 * sample size 2, so their rows differ only in Ac/Re; under the high AQLs row B points up to row A.
 * A reduced plan may have Re > Ac + 1: a lot with Ac < d < Re is accepted and inspection returns
 * to normal.
 */
export const TABLE_II_C: MasterTable = {
  sampleSizes: { A: 2, B: 2, C: 2, D: 3, E: 5, F: 8, G: 13, H: 20, J: 32, K: 50, L: 80, M: 125, N: 200, P: 315, Q: 500, R: 800 },
  cells: {
    A: '↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ 0/1 ↓ ↓ 1/2 2/3 3/4 5/6 7/8 10/11 14/15 21/22 30/31',
    B: '↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ 0/1 ↑ ↓ 0/2 1/3 2/4 3/5 ↑ ↑ ↑ ↑ ↑ ↑',
    C: '↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ 0/1 ↑ ↓ 0/2 1/3 1/4 2/5 3/6 5/8 7/10 10/13 14/17 21/24 ↑',
    D: '↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ 0/1 ↑ ↓ 0/2 1/3 1/4 2/5 3/6 5/8 7/10 10/13 14/17 21/24 ↑ ↑',
    E: '↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ 0/1 ↑ ↓ 0/2 1/3 1/4 2/5 3/6 5/8 7/10 10/13 14/17 21/24 ↑ ↑ ↑',
    F: '↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ 0/1 ↑ ↓ 0/2 1/3 1/4 2/5 3/6 5/8 7/10 10/13 ↑ ↑ ↑ ↑ ↑ ↑',
    G: '↓ ↓ ↓ ↓ ↓ ↓ ↓ ↓ 0/1 ↑ ↓ 0/2 1/3 1/4 2/5 3/6 5/8 7/10 10/13 ↑ ↑ ↑ ↑ ↑ ↑ ↑',
    H: '↓ ↓ ↓ ↓ ↓ ↓ ↓ 0/1 ↑ ↓ 0/2 1/3 1/4 2/5 3/6 5/8 7/10 10/13 ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑',
    J: '↓ ↓ ↓ ↓ ↓ ↓ 0/1 ↑ ↓ 0/2 1/3 1/4 2/5 3/6 5/8 7/10 10/13 ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑',
    K: '↓ ↓ ↓ ↓ ↓ 0/1 ↑ ↓ 0/2 1/3 1/4 2/5 3/6 5/8 7/10 10/13 ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑',
    L: '↓ ↓ ↓ ↓ 0/1 ↑ ↓ 0/2 1/3 1/4 2/5 3/6 5/8 7/10 10/13 ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑',
    M: '↓ ↓ ↓ 0/1 ↑ ↓ 0/2 1/3 1/4 2/5 3/6 5/8 7/10 10/13 ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑',
    N: '↓ ↓ 0/1 ↑ ↓ 0/2 1/3 1/4 2/5 3/6 5/8 7/10 10/13 ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑',
    P: '↓ 0/1 ↑ ↓ 0/2 1/3 1/4 2/5 3/6 5/8 7/10 10/13 ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑',
    Q: '0/1 ↑ ↓ 0/2 1/3 1/4 2/5 3/6 5/8 7/10 10/13 ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑',
    R: '↑ ↑ 0/2 1/3 1/4 2/5 3/6 5/8 7/10 10/13 ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑ ↑',
  },
};

export const MASTER_TABLES: Readonly<Record<Severity, MasterTable>> = { normal: TABLE_II_A, tightened: TABLE_II_B, reduced: TABLE_II_C };
