/**
 * The daily yield report with its optional sections, on the generated demo data (30 days from
 * 2026-10-12, Europe/Berlin, day start 06:00) and the shipped config/default.yaml: after the
 * nightly summary, the spc job and the defect trace, the report of 2026-10-31 (the day WND07's
 * infusion defects rise, its gap having fallen below LSL on 10-30) carries an SPC sheet with the
 * flagged charts drawn, and a Defect trace sheet that ranks the winders (WND07 and WND03, whose
 * defects rose on 10-22 after its gap fell below LSL on 10-21, above the threshold); the email names the
 * winders above the threshold. With the sections switched off, neither sheet is written.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { pino } from 'pino';
import ExcelJS from 'exceljs';
import { simpleParser, type ParsedMail } from 'mailparser';
import { defaultConfigPath, resolveConfig } from '../../config/load.js';
import { openEtlContext, type EtlContext } from '../../etl/context.js';
import { migrate } from '../../sql/migrations.js';
import { generate } from '../../data/generate.js';
import { addDays, dateRange } from '../../etl/periods.js';
import { runNightlySummary } from '../../etl/nightly-summary.js';
import { runSpc } from '../../etl/spc-job.js';
import { runDefectTrace } from '../../etl/defect-trace.js';
import { runDailyYieldReport } from '../../reports/daily-yield-report.js';
import { SPC_COLUMNS } from '../../reports/spc-sheet.js';
import { mailSettings } from '../../reports/mail.js';

const START = '2026-10-12';
const DAY = '2026-10-31';

let dir: string;
let ctx: EtlContext;
let raw: Record<string, any>;
let dbUrl: string;

function contextWith(sections: { spc: boolean; defectTrace: boolean }, outDir: string): EtlContext {
  const cfg = structuredClone(raw);
  cfg.mail = { ...cfg.mail, outDir: path.join(outDir, 'mail') };
  cfg.reports = { ...cfg.reports, outDir: path.join(outDir, 'reports'), dailyYield: { ...cfg.reports.dailyYield, sections } };
  return openEtlContext(resolveConfig(cfg, { SOURCE_DATABASE_URL: dbUrl }, 'default.yaml'), pino({ level: 'silent' }));
}

async function report(c: EtlContext, resend = false): Promise<{ workbook: ExcelJS.Workbook; mail: ParsedMail }> {
  // No SMTP_URL: the message is written as an .eml file, which the test parses.
  const r = await runDailyYieldReport(c, { days: [DAY], resend, triggeredBy: 'test', mail: { ...mailSettings(c.config, {}), smtpUrl: undefined } });
  const d = r.days[0]!;
  expect(d.outcome).toBe('sent');
  const workbook = new ExcelJS.Workbook();
  await workbook.xlsx.readFile(d.workbook!);
  return { workbook, mail: await simpleParser(readFileSync(d.location!)) };
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'yieldrun-report-sections-'));
  raw = parse(readFileSync(defaultConfigPath(), 'utf8')) as Record<string, any>;
  dbUrl = `sqlite:${path.join(dir, 'demo.sqlite')}`;
  ctx = contextWith({ spc: true, defectTrace: true }, path.join(dir, 'on'));
  await generate(ctx.source, {
    rows: 20_000,
    seed: 42,
    start: START,
    days: 30,
    timezone: ctx.config.plant.timezone,
    dayStart: ctx.config.plant.dayStart,
    timestamps: ctx.config.source.timestamps,
    mapping: ctx.config.source,
  });
  await migrate(ctx.target, ctx.targetSchema);
  const days = dateRange(START, addDays(START, 29));
  await runNightlySummary(ctx, { days, triggeredBy: 'test' });
  await runDefectTrace(ctx, { days: dateRange(START, DAY), triggeredBy: 'test' });
  await runSpc(ctx, { days: [DAY], triggeredBy: 'test' });
}, 300_000);

afterAll(async () => {
  await ctx?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('the daily report with its SPC and defect-trace sections', () => {
  it('adds the SPC and Defect trace sheets, with their charts and definitions, and the email paragraphs', async () => {
    const { workbook, mail } = await report(ctx);
    expect(workbook.worksheets.map((w) => w.name)).toEqual(['Overview', 'By product', 'By product × test', 'By machine', 'Rejects', 'SPC', 'Defect trace', 'Definitions']);

    // SPC: one row per measure × key as the spc run stored it; the gap chart of WND07 is flagged and drawn.
    const spc = workbook.getWorksheet('SPC')!;
    const col = (key: string) => SPC_COLUMNS.findIndex((c) => c.key === key) + 1;
    const rows = Array.from({ length: spc.rowCount - 1 }, (_, i) => spc.getRow(i + 2)).filter((r) => r.getCell(col('chartKey')).value !== null && r.getCell(col('chart')).value !== null);
    const gap = rows.filter((r) => String(r.getCell(col('title')).value).toLowerCase().includes('gap'));
    expect(gap).toHaveLength(10);
    const wnd07 = gap.find((r) => r.getCell(col('chartKey')).value === 'WND07')!;
    // Its drift is an open out-of-control event since 10-30 (found by this first run: history, never alerted).
    expect(wnd07.getCell(col('eventState')).value).toBe('open');
    expect(wnd07.getCell(col('outOfControlSince')).value).toEqual(expect.any(Date));
    expect(wnd07.getCell(col('eventHistory')).value).toBe('yes');
    expect(wnd07.getCell(col('windowTo')).value).toEqual(new Date(`${DAY}T00:00:00Z`));
    expect(spc.getImages().length).toBeGreaterThan(0);
    expect(spc.getImages().length).toBeLessThanOrEqual(ctx.config.reports.dailyYield.spcCharts);

    // Defect trace: WND07 above the threshold on its rise day, its gap below LSL the day before.
    const trace = workbook.getWorksheet('Defect trace')!;
    const header = (trace.getRow(1).values as unknown[]).slice(1);
    const at = (name: string) => header.indexOf(name) + 1;
    const winders = Array.from({ length: 12 }, (_, i) => trace.getRow(i + 2)).filter((r) => typeof r.getCell(at('Rank')).value === 'number');
    const w7 = winders.find((r) => r.getCell(at('Winder')).value === 'WND07')!;
    expect(w7.getCell(at('Above threshold')).value).toBe('yes');
    expect(w7.getCell(at('Gap verdict')).value).toBe('below-lsl');
    expect(w7.getCell(at('Rising since')).value).toEqual(new Date(`${DAY}T00:00:00Z`));
    // WND03, whose defects rose nine days earlier, its gap below LSL the day before that.
    const w3 = winders.find((r) => r.getCell(at('Winder')).value === 'WND03')!;
    expect(w3.getCell(at('Above threshold')).value).toBe('yes');
    expect(w3.getCell(at('Gap verdict')).value).toBe('below-lsl');
    expect(w3.getCell(at('Rising since')).value).toEqual(new Date('2026-10-22T00:00:00Z'));
    expect(w3.getCell(at('Days below LSL')).value).toContain('2026-10-21');
    expect(winders.filter((r) => r.getCell(at('Above threshold')).value === 'yes').map((r) => r.getCell(at('Winder')).value).sort()).toEqual(['WND03', 'WND07']);
    expect(trace.getImages()).toHaveLength(1);

    // Definitions: the sections' columns are explained too.
    const defs = workbook.getWorksheet('Definitions')!;
    const defined = Array.from({ length: defs.rowCount - 1 }, (_, i) => `${defs.getRow(i + 2).getCell(1).value}/${defs.getRow(i + 2).getCell(2).value}`);
    expect(defined).toContain('SPC/Cpk');
    expect(defined).toContain('Defect trace/Gap verdict');

    // The email: a defect-trace paragraph naming WND07, in HTML and in plain text; the footer names the sheets.
    expect(mail.html).toContain('Defect trace (CEF infusion defects by winder)');
    expect(mail.text).toMatch(/WND07: infusion-defect rate [\d.]+ % \(\d+ of \d+ cells\), rising since 2026-10-31/);
    expect(mail.text).toMatch(/WND03: infusion-defect rate [\d.]+ % \(\d+ of \d+ cells\), rising since 2026-10-22; gap below LSL 0.80 mm from 2026-10-21/);
    expect(mail.text).toContain('the SPC and Defect trace sheets');
    // The SPC paragraph names the open events with their age and acknowledgement.
    expect(mail.text).toMatch(/Separator–anode gap WND07: out of control since 2026-10-30 \d\d:\d\d \([\d.]+ days, event \d+, rules .*\); not acknowledged: yieldrun spc ack \d+/);
  });

  it('leaves the sections out when they are switched off', async () => {
    const off = contextWith({ spc: false, defectTrace: false }, path.join(dir, 'off'));
    try {
      // The same day's report again, on purpose (it was delivered above).
      const { workbook, mail } = await report(off, true);
      expect(workbook.worksheets.map((w) => w.name)).toEqual(['Overview', 'By product', 'By product × test', 'By machine', 'Rejects', 'Definitions']);
      expect(mail.text).not.toContain('Defect trace');
      expect(mail.text).not.toContain('SPC (control charts)');
    } finally {
      await off.close();
    }
  });
});
