/**
 * Charts render to PNG without a browser, at a size that fits an email, with their target lines.
 */
import { describe, expect, it } from 'vitest';
import { paretoChartSpec, renderPng, renderSvg, trendChartSpec, yieldDomain } from '../../reports/charts.js';
import { buildPareto, type MachineDay, type TrendPoint } from '../../reports/daily-yield-data.js';

/** Width and height from a PNG's IHDR chunk. */
function pngSize(b: Buffer): { width: number; height: number } {
  expect(b.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

const days = Array.from({ length: 30 }, (_, i) => new Date(Date.UTC(2026, 9, 22 + i)).toISOString().slice(0, 10));
const points: TrendPoint[] = ['All products', 'P1', 'P2', 'P3'].flatMap((product, k) =>
  days.map((day, i) => ({ product, day, value: 0.9 + 0.05 * Math.sin(i / 4 + k), units: 100 })),
);
const machines: MachineDay[] = Array.from({ length: 20 }, (_, i) => ({
  machine: `ST-${i + 1}`, test_count: 100, pass_count: 90, passing_rate: 0.9, units_tested: 100, first_pass_units: 100 - (20 - i), first_pass_yield: (80 + i) / 100, cumulative_yield: 1, retest_count: 0,
}));

describe('charts', () => {
  it('trend: one panel per product, the target as a red dashed rule, the day marked', async () => {
    const spec = trendChartSpec(points, { day: '2026-11-20', target: 0.95 });
    const svg = await renderSvg(spec);
    for (const p of ['All products', 'P1', 'P2', 'P3']) expect(svg).toContain(`>${p}</text>`);
    expect(svg).toMatch(/stroke="#c62828"[^>]*stroke-dasharray="4,3"|stroke-dasharray="4,3"[^>]*stroke="#c62828"/);
    expect(svg).toContain('target 95 %');
    const png = await renderPng(spec);
    // Fits an email body; the PNG has twice the pixels for sharpness.
    expect(png.width).toBeGreaterThan(400);
    expect(png.width).toBeLessThanOrEqual(680);
    expect(pngSize(png.buffer)).toEqual({ width: png.width * 2, height: png.height * 2 });
  });

  it('pareto: bars most first, cumulative share, the 80 % line', async () => {
    const p = buildPareto(machines, 15);
    const spec = paretoChartSpec(p, { day: '2026-11-20' });
    const svg = await renderSvg(spec);
    expect(svg.indexOf('>ST-1</text>')).toBeLessThan(svg.indexOf('>ST-2</text>'));
    expect(svg).not.toContain('>ST-20</text>'); // 20 stations have failures; the 15 with most are drawn
    expect(svg).toContain('80 %');
    const png = await renderPng(spec);
    expect(png.width).toBeLessThanOrEqual(680);
    expect(pngSize(png.buffer).width).toBe(png.width * 2);
  });

  it('the yield axis shows the target and the lowest yield, in 5-point steps', () => {
    expect(yieldDomain([0.97, 0.99], 0.95)).toEqual([0.9, 1]);
    expect(yieldDomain([0.42], 0.95)).toEqual([0.4, 1]);
    expect(yieldDomain([0.001], 0.9)).toEqual([0, 1]);
  });
});
