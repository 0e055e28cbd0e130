/**
 * One entry point for the job that charts a configured measure: the chart type is data (the
 * measure's config), so the input is a union tagged by it and the types keep each chart's input
 * with its chart.
 */
import { checkBaselineCount, type BaselineLimits, type ChartOptions, type ControlChart, type Limits } from './chart-points.js';
import { individualsChart, individualsLimits } from './individuals-chart.js';
import { pChart, pChartLimits, type ProportionSample } from './p-chart.js';
import type { Observation, Subgroup } from './subgroups.js';
import { xBarChart, xBarLimits } from './xbar-charts.js';

export type ChartInput =
  | { chart: 'I-MR'; observations: readonly Observation[] }
  | { chart: 'Xbar-R'; subgroups: readonly Subgroup[] }
  | { chart: 'Xbar-S'; subgroups: readonly Subgroup[] }
  | { chart: 'p'; samples: readonly ProportionSample[] };

/** The chart and its paired chart with limits from the window, a baseline of its first subgroups, or frozen limits. */
export function controlChart(input: ChartInput, options?: ChartOptions): ControlChart {
  switch (input.chart) {
    case 'I-MR':
      return individualsChart(input.observations, options);
    case 'Xbar-R':
      return xBarChart(input.subgroups, 'range', options);
    case 'Xbar-S':
      return xBarChart(input.subgroups, 'sd', options);
    case 'p':
      return pChart(input.samples, options);
  }
}

/** Number of subgroups (observations for I-MR, samples for p) in the input. */
export function subgroupCount(input: ChartInput): number {
  switch (input.chart) {
    case 'I-MR':
      return input.observations.length;
    case 'Xbar-R':
    case 'Xbar-S':
      return input.subgroups.length;
    case 'p':
      return input.samples.length;
  }
}

/** The limits of the whole input, i.e. of a baseline window chosen by dates before calling. */
export function chartLimits(input: ChartInput): Limits {
  switch (input.chart) {
    case 'I-MR':
      return individualsLimits(input.observations);
    case 'Xbar-R':
      return xBarLimits(input.subgroups, 'range');
    case 'Xbar-S':
      return xBarLimits(input.subgroups, 'sd');
    case 'p':
      return pChartLimits(input.samples);
  }
}

/**
 * Limits from the first `count` subgroups, to freeze and store (Phase I → Phase II). When the
 * series is shorter than `count`, `subgroups` says how many there were, so the caller can wait for
 * a complete baseline rather than freeze a short one.
 */
export function baselineLimits(input: ChartInput, count: number): BaselineLimits {
  checkBaselineCount(count);
  const first = firstSubgroups(input, count);
  return { ...chartLimits(first), subgroups: subgroupCount(first) };
}

function firstSubgroups(input: ChartInput, count: number): ChartInput {
  switch (input.chart) {
    case 'I-MR':
      return { chart: input.chart, observations: input.observations.slice(0, count) };
    case 'Xbar-R':
    case 'Xbar-S':
      return { chart: input.chart, subgroups: input.subgroups.slice(0, count) };
    case 'p':
      return { chart: input.chart, samples: input.samples.slice(0, count) };
  }
}
