/**
 * The daily-yield-report job end to end on SQLite and PostgreSQL: the real nightly summary over a
 * worked example (tests/integration/report-fixture.ts), a real SMTP server on loopback, the MIME
 * message parsed back, the attached workbook read back, and report_deliveries.
 */
import { readFileSync, readdirSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { simpleParser, type ParsedMail } from 'mailparser';
import ExcelJS from 'exceljs';
import { readSummary, silentLog, writeTestRecords } from '../support/backends.js';
import { runNightlySummary } from '../../etl/nightly-summary.js';
import { targetTable } from '../../etl/context.js';
import { runDailyYieldReport } from '../../reports/daily-yield-report.js';
import { claimDelivery, deliveriesOf } from '../../reports/deliveries.js';
import { renderMail } from '../../reports/mail.js';
import { claimMessage } from '../../reports/outbox/outbox.js';
import { sendDue } from '../../reports/outbox/sender.js';
import { pctText, pointsText } from '../../reports/daily-yield-email.js';
import { main } from '../../jobs/cli.js';
import { DAY, RECIPIENTS, setupReport, smtpSettings, startSmtp, summarise, type ReportSetup, type TestSmtp } from './report-fixture.js';

const BACKENDS = ['sqlite', 'postgres'] as const;

const addresses = (a: ParsedMail['to']) => (Array.isArray(a) ? a : a ? [a] : []).flatMap((x) => x.value.map((v) => v.address));

/** The cell texts of the KPI row whose first cell is `name`. */
function kpiRow(html: string, name: string): string[] {
  const m = new RegExp(`<tr[^>]*><td[^>]*>${name}</td>(.*?)</tr>`).exec(html);
  if (!m) throw new Error(`no KPI row for ${name}`);
  return [...m[1]!.matchAll(/<td[^>]*>([^<]*)<\/td>/g)].map((x) => x[1]!);
}

describe.each(BACKENDS)('daily yield report email on %s', (backendName) => {
  let s: ReportSetup | undefined;
  let smtp: TestSmtp | undefined;

  afterEach(async () => {
    await smtp?.close();
    smtp = undefined;
    await s?.cleanup();
    s = undefined;
  });

  async function ready(overrides: Record<string, any> = {}, refuseFirst = 0) {
    s = await setupReport(backendName, overrides);
    await summarise(s.ctx);
    smtp = await startSmtp({ refuseFirst });
    return { ctx: s.ctx, smtp, mail: smtpSettings(s.ctx, smtp) };
  }

  it('sends one message: subject, recipients, KPI values equal to the summary rows, inline chart, workbook attached', async () => {
    const { ctx, smtp, mail } = await ready();
    const r = await runDailyYieldReport(ctx, { days: [DAY], triggeredBy: 'test', mail });
    expect(r.days[0]).toMatchObject({ day: DAY, kind: 'report', outcome: 'sent', transport: 'smtp' });
    expect(smtp.received).toHaveLength(1);
    const got = smtp.received[0]!;
    expect(got.to.sort()).toEqual([...RECIPIENTS.to, ...RECIPIENTS.cc].sort());

    const m = await simpleParser(got.raw, { keepCidLinks: true });
    // All products FPY 0.65 against 2/3 the day before: −1.7 points (the fixture's worked example).
    expect(m.subject).toBe('Daily yield 2026-11-20 · Test Plant · FPY 65.0 % (\u22121.7)');
    expect(addresses(m.to)).toEqual(RECIPIENTS.to);
    expect(addresses(m.cc)).toEqual(RECIPIENTS.cc);
    expect(m.replyTo?.value.map((v) => v.address)).toEqual([RECIPIENTS.replyTo]);
    expect(m.from?.value).toEqual([{ name: 'yieldrun', address: 'yieldrun@localhost' }]);
    expect(m.messageId).toBe(r.days[0]!.messageId);

    // The HTML's KPI rows are the summary_prod rows of the day.
    const html = m.html as string;
    const prod = await readSummary(ctx, 'summary_prod', 'day', DAY);
    expect(prod.map((p) => p.product)).toEqual(['P1', 'P2']);
    for (const p of prod) {
      const cells = kpiRow(html, p.product);
      expect(cells[0]).toBe(String(p.load_qty));
      expect(cells[1]).toBe(String(p.test_count));
      expect(cells[2]).toBe(pctText(p.rolled_first_pass_yield));
      expect(cells[5]).toBe(pctText(p.rolled_cumulative_yield));
    }
    expect(kpiRow(html, 'P1').slice(0, 6)).toEqual(['4', '10', '56.3 %', pointsText(9 / 16 - 0.5), '83.3 %', '75.0 %']);
    expect(kpiRow(html, 'All products')).toEqual(['6', '12', '65.0 %', '\u22121.7', '85.7 %', '80.0 %', '\u221220.0']);
    expect(html).toMatch(/<td[^>]*>1<\/td><td[^>]*>M1<\/td><td[^>]*>4<\/td><td[^>]*>75\.0 %<\/td>/);
    expect(html).toContain('Rejected by reason: bad_result 1, missing_machine 1.');
    expect(m.text).toMatch(/All products\s+6\s+12\s+65\.0 %!/);

    // The trend chart, inline by Content-ID.
    const img = m.attachments.find((a) => a.contentType === 'image/png')!;
    expect(img).toBeDefined();
    expect(img.contentId).toBe('<fpy-trend@yieldrun>');
    expect(img.related).toBe(true);
    expect(html).toContain('src="cid:fpy-trend@yieldrun"');
    expect(img.content.subarray(1, 4).toString()).toBe('PNG');

    // The workbook, attached and readable.
    const xlsx = m.attachments.find((a) => a.filename === 'test-plant_daily-yield_2026-11-20.xlsx')!;
    expect(xlsx.contentType).toBe('application/vnd.openxmlformats-officedocument.spreadsheetml.sheet');
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(xlsx.content as unknown as ExcelJS.Buffer);
    expect(wb.worksheets.map((w) => w.name)).toEqual(['Overview', 'By product', 'By product × test', 'By machine', 'Rejects', 'Definitions']);
    expect(wb.getWorksheet('By product')!.getRow(2).getCell(4).value).toBe('P1');
    expect(xlsx.content.equals(readFileSync(r.days[0]!.workbook!))).toBe(true);

    const [d] = await deliveriesOf(ctx, 'daily-yield-report', DAY);
    expect(d).toMatchObject({ kind: 'report', status: 'sent', resend: false, transport: 'smtp', messageId: m.messageId, subject: m.subject, attempts: 1 });
    expect(d!.recipients).toEqual({ to: RECIPIENTS.to, cc: RECIPIENTS.cc, replyTo: [RECIPIENTS.replyTo] });
    expect(d!.location).toMatch(/^250/);
  });

  it('a retry after a successful send sends nothing; --resend sends again and is recorded', async () => {
    const { ctx, smtp, mail } = await ready();
    await runDailyYieldReport(ctx, { days: [DAY], triggeredBy: 'schedule', mail });
    const retry = await runDailyYieldReport(ctx, { days: [DAY], triggeredBy: 'schedule', mail, attempt: 2 });
    expect(retry.days[0]).toMatchObject({ outcome: 'already-sent', kind: 'report' });
    expect(smtp.received).toHaveLength(1);

    const again = await runDailyYieldReport(ctx, { days: [DAY], triggeredBy: 'cli:qe', reason: 'lost the mail', resend: true, mail });
    expect(again.days[0]).toMatchObject({ outcome: 'sent', resend: true });
    expect(smtp.received).toHaveLength(2);
    const [a, b] = await Promise.all(smtp.received.map((x) => simpleParser(x.raw)));
    expect(b!.messageId).not.toBe(a!.messageId);
    expect(b!.subject).toBe(a!.subject);

    const rows = await deliveriesOf(ctx, 'daily-yield-report', DAY);
    expect(rows.map((x) => [x.status, x.resend, x.triggeredBy])).toEqual([
      ['sent', false, 'schedule'],
      ['sent', true, 'cli:qe'],
    ]);
    expect(rows[1]!.reason).toBe('lost the mail');
    // And a plain retry after the resend still sends nothing.
    await runDailyYieldReport(ctx, { days: [DAY], triggeredBy: 'schedule', mail });
    expect(smtp.received).toHaveLength(2);
  });

  it('a server that refuses for a while gets the message once it accepts', async () => {
    const { ctx, smtp, mail } = await ready({}, 2);
    const r = await runDailyYieldReport(ctx, { days: [DAY], triggeredBy: 'test', mail: { ...mail, retries: 3 } });
    expect(smtp.refused).toBe(2);
    expect(smtp.received).toHaveLength(1);
    expect(r.days[0]!.outcome).toBe('sent');
    const rows = await deliveriesOf(ctx, 'daily-yield-report', DAY);
    expect(rows.map((x) => x.status)).toEqual(['sent']);
  });

  it('a server that refuses past the retries: the run fails, the message stays queued, the next run sends it once', async () => {
    const { ctx, smtp, mail } = await ready({}, 100);
    await expect(runDailyYieldReport(ctx, { days: [DAY], triggeredBy: 'test', mail: { ...mail, retries: 1 } })).rejects.toThrow(/queued but not sent yet: .*421.*busy/s);
    expect(smtp.received).toHaveLength(0);
    let [d] = await deliveriesOf(ctx, 'daily-yield-report', DAY);
    expect(d).toMatchObject({ status: 'pending', attempts: 2 });
    expect(d!.error).toMatch(/busy/);
    // The table itself says so too, as a dashboard or an admin reading it sees it.
    const stored = () => targetTable(ctx, ctx.target, 'report_deliveries').where({ period_start: DAY }).first('status', 'attempts', 'error', 'transport', 'sent_at');
    expect(await stored()).toMatchObject({ status: 'pending', attempts: 2, transport: null, sent_at: null });
    expect((await stored()).error).toMatch(/421.*busy/s);
    const runs = (await targetTable(ctx, ctx.target, 'etl_runs').where({ job: 'daily-yield-report' }).orderBy('id')) as any[];
    expect(runs.map((x) => x.status)).toEqual(['failed']);

    const ok = await startSmtp();
    try {
      const r = await runDailyYieldReport(ctx, { days: [DAY], triggeredBy: 'test', mail: smtpSettings(ctx, ok) });
      expect(r.days[0]!.outcome).toBe('sent');
      expect(ok.received).toHaveLength(1);
      [d] = await deliveriesOf(ctx, 'daily-yield-report', DAY);
      expect(d).toMatchObject({ status: 'sent', attempts: 3, error: null });
      const row = await stored();
      expect(row).toMatchObject({ status: 'sent', attempts: 3, error: null, transport: 'smtp' });
      expect(row.sent_at).not.toBeNull();
      // The message queued by the first run, byte for byte: one Message-ID for every attempt.
      expect((await simpleParser(ok.received[0]!.raw)).messageId).toBe(d!.messageId);
      await runDailyYieldReport(ctx, { days: [DAY], triggeredBy: 'test', mail: smtpSettings(ctx, ok) });
      expect(ok.received).toHaveLength(1);
    } finally {
      await ok.close();
    }
  });

  it('two runs at once send one message', async () => {
    const { ctx, smtp, mail } = await ready();
    const results = await Promise.all([
      runDailyYieldReport(ctx, { days: [DAY], triggeredBy: 'worker-a', mail }),
      runDailyYieldReport(ctx, { days: [DAY], triggeredBy: 'worker-b', mail }),
    ]);
    expect(smtp.received).toHaveLength(1);
    expect(results.map((r) => r.days[0]!.outcome).sort()).toEqual([expect.stringMatching(/^(already-sent|in-progress)$/), 'sent'].sort());
    expect((await deliveriesOf(ctx, 'daily-yield-report', DAY)).map((d) => d.status)).toEqual(['sent']);
  });

  it('a delivery that failed before the outbox existed is claimed again once: two runs at once send one message', async () => {
    const { ctx, smtp, mail } = await ready();
    const now = new Date();
    await targetTable(ctx, ctx.target, 'report_deliveries').insert({
      report: 'daily-yield-report', period_type: 'day', period_start: DAY, period_label: DAY, kind: 'report', dedupe_key: `daily-yield-report|day|${DAY}|report`,
      resend: false, status: 'failed', recipients: '{}', subject: 'old', attempts: 1, error: '421 busy', created_at: now, updated_at: now,
    });
    // Four retries claim it at once: one holds it, the others are told it is on its way.
    const rendered = await renderMail(mail, { to: RECIPIENTS.to, subject: 's', text: 't' });
    const request = { report: 'daily-yield-report', periodType: 'day', periodStart: DAY, periodLabel: DAY, kind: 'report', recipients: { to: RECIPIENTS.to, cc: [], replyTo: [] }, subject: 's', messageId: rendered.messageId, triggeredBy: 'retry' } as const;
    const claims = await Promise.all([1, 2, 3, 4].map(() => claimDelivery(ctx, request, { mail: rendered, fileStem: 'retry', resendHint: '' })));
    expect(claims.filter((c) => c.claimed)).toHaveLength(1);
    expect(claims.filter((c) => !c.claimed).map((c) => !c.claimed && c.why)).toEqual(Array(3).fill(expect.stringMatching(/^(pending|in-progress)$/)));
    const r = await runDailyYieldReport(ctx, { days: [DAY], triggeredBy: 'worker-a', mail });
    expect(smtp.received).toHaveLength(1);
    expect(r.days[0]!.outcome).toBe('sent');
    expect((await simpleParser(smtp.received[0]!.raw)).messageId).toBe(rendered.messageId);
    const rows = await deliveriesOf(ctx, 'daily-yield-report', DAY);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ status: 'sent', error: null });
    expect(rows[0]!.outboxId).not.toBeNull();
  });

  it('a workbook over maxAttachmentMb is not attached; the email says where it is', async () => {
    const { ctx, smtp, mail } = await ready({ reports: { dailyYield: { maxAttachmentMb: 0.001 } } });
    const r = await runDailyYieldReport(ctx, { days: [DAY], triggeredBy: 'test', mail });
    const m = await simpleParser(smtp.received[0]!.raw);
    expect(m.attachments.map((a) => a.contentType)).toEqual(['image/png']);
    expect(m.text).toContain(`Not attached (`);
    expect(m.text).toContain(`over the 0.001 MB limit of reports.dailyYield.maxAttachmentMb): ${path.basename(r.days[0]!.workbook!)} at ${r.days[0]!.workbook}`);
    expect(existsSync(r.days[0]!.workbook!)).toBe(true);
  });

  it('a claim that never finished (a crash between send and record) is not sent again by itself', async () => {
    const { ctx, smtp, mail } = await ready();
    const longAgo = new Date(Date.now() - 2 * 3600_000);
    const rendered = await renderMail(mail, { to: RECIPIENTS.to, subject: 's', text: 't', messageId: '<m@x>' });
    const claim = await claimDelivery(
      ctx,
      { report: 'daily-yield-report', periodType: 'day', periodStart: DAY, periodLabel: DAY, kind: 'report', recipients: { to: RECIPIENTS.to, cc: [], replyTo: [] }, subject: 's', messageId: '<m@x>', triggeredBy: 'crashed' },
      { mail: rendered, fileStem: 'crashed', resendHint: 'yieldrun run daily-yield-report --resend' },
      longAgo,
    );
    if (!claim.claimed) throw new Error('not claimed');
    // The process that claimed the message for sending died two hours ago.
    expect(await claimMessage(ctx, claim.outboxId!, longAgo)).toBeDefined();
    // Not sent again, and the run fails so that an admin is told (the failure alert) what to check.
    await expect(runDailyYieldReport(ctx, { days: [DAY], triggeredBy: 'test', mail })).rejects.toThrow(
      new RegExp(`${DAY}: delivery ${claim.id} \\(<m@x>\\) was claimed but never confirmed.*--date ${DAY} --resend`),
    );
    expect(smtp.received).toHaveLength(0);
    expect((await targetTable(ctx, ctx.target, 'etl_runs').where({ job: 'daily-yield-report' }).orderBy('id', 'desc').first()).status).toBe('failed');
    expect((await deliveriesOf(ctx, 'daily-yield-report', DAY))[0]!.status).toBe('unconfirmed');
    // Nor by the worker's outbox sender, which settles the dead claim as unconfirmed.
    expect(await sendDue(ctx, { mail, log: silentLog })).toMatchObject({ sent: 0, unconfirmed: 1 });
    expect(smtp.received).toHaveLength(0);
    const again = await runDailyYieldReport(ctx, { days: [DAY], triggeredBy: 'test', mail, resend: true });
    expect(again.days[0]).toMatchObject({ outcome: 'sent', resend: true });
    expect(smtp.received).toHaveLength(1);
  });

  it('a day without summary rows gets a short "no data" notice, no workbook', async () => {
    const { ctx, smtp, mail } = await ready();
    await runNightlySummary(ctx, { days: ['2026-11-21'], triggeredBy: 'test' }); // a Saturday without production
    const r = await runDailyYieldReport(ctx, { days: ['2026-11-21'], triggeredBy: 'test', mail });
    expect(r.days[0]).toMatchObject({ kind: 'no-data', outcome: 'sent', workbook: null });
    expect(smtp.received).toHaveLength(1);
    const m = await simpleParser(smtp.received[0]!.raw);
    expect(m.subject).toBe('Daily yield 2026-11-21 · Test Plant · no data');
    expect(m.text).toContain('No data for 2026-11-21');
    expect(m.text).toMatch(/nightly summary run \d+ .*found no valid test records/);
    expect(m.attachments).toHaveLength(0);
    expect(existsSync(path.join(s!.out, 'reports', 'test-plant_daily-yield_2026-11-21.xlsx'))).toBe(false);
    await runDailyYieldReport(ctx, { days: ['2026-11-21'], triggeredBy: 'test', mail });
    expect(smtp.received).toHaveLength(1);
  });

  it('noData: skip sends nothing for such a day, and records that', async () => {
    const { ctx, smtp, mail } = await ready({ reports: { dailyYield: { noData: 'skip' } } });
    const r = await runDailyYieldReport(ctx, { days: ['2026-11-22'], triggeredBy: 'test', mail });
    expect(r.days[0]).toMatchObject({ kind: 'no-data', outcome: 'skipped' });
    expect(smtp.received).toHaveLength(0);
    expect((await deliveriesOf(ctx, 'daily-yield-report', '2026-11-22')).map((d) => [d.kind, d.status])).toEqual([['no-data', 'skipped']]);
  });

  it('a day whose summary run failed gets a notice instead of the old numbers; the report follows the successful rerun', async () => {
    const { ctx, smtp, mail } = await ready();
    // Late data, and a summary run that fails while loading (summary_prod is away).
    await writeTestRecords(ctx, [{ serial: 'S9', product: 'P1', test: 'TX', machine: 'M1', at: '2026-11-20 13:00:00', result: 'FAIL', duration: 9 }]);
    const schema = () => (ctx.targetSchema ? ctx.target.schema.withSchema(ctx.targetSchema) : ctx.target.schema);
    await schema().renameTable('summary_prod', 'summary_prod_away');
    await expect(runNightlySummary(ctx, { days: [DAY], triggeredBy: 'test' })).rejects.toThrow();
    await schema().renameTable('summary_prod_away', 'summary_prod');

    const r = await runDailyYieldReport(ctx, { days: [DAY], triggeredBy: 'test', mail });
    expect(r.days[0]).toMatchObject({ kind: 'summary-failed', outcome: 'sent', workbook: null });
    const notice = await simpleParser(smtp.received[0]!.raw);
    expect(notice.subject).toBe('Daily yield 2026-11-20 · Test Plant · summary failed');
    expect(notice.text).toMatch(/The nightly summary run \d+ .*failed/);
    expect(notice.text).toMatch(/Error: .*summary_prod/);
    expect(notice.html).not.toContain('65.0 %'); // the rows of the earlier run are not shown
    expect(notice.attachments).toHaveLength(0);
    await runDailyYieldReport(ctx, { days: [DAY], triggeredBy: 'test', mail });
    expect(smtp.received).toHaveLength(1);

    await runNightlySummary(ctx, { days: [DAY], triggeredBy: 'test' });
    const after = await runDailyYieldReport(ctx, { days: [DAY], triggeredBy: 'test', mail });
    expect(after.days[0]).toMatchObject({ kind: 'report', outcome: 'sent' });
    expect(smtp.received).toHaveLength(2);
    const report = await simpleParser(smtp.received[1]!.raw);
    // S9 is a fifth P1 TX unit that failed: TX 3/5, RX 3/4 → P1 9/20; all (9·0.45 + 2)/11 = 0.55.
    expect(report.subject).toBe('Daily yield 2026-11-20 · Test Plant · FPY 55.0 % (\u221211.7)');
    expect((await deliveriesOf(ctx, 'daily-yield-report', DAY)).map((d) => [d.kind, d.status])).toEqual([
      ['summary-failed', 'sent'],
      ['report', 'sent'],
    ]);
  });
});

describe('yieldrun run daily-yield-report (CLI, no SMTP_URL: .eml files)', () => {
  let s: ReportSetup | undefined;
  afterEach(async () => {
    await s?.cleanup();
    s = undefined;
  });

  it('writes the email under mail.outDir once, and again with --resend', async () => {
    s = await setupReport('sqlite');
    await summarise(s.ctx);
    const cfg = s.ctx.config;
    const file = path.join(s.out, 'config.json');
    writeFileSync(
      file,
      JSON.stringify({
        plant: cfg.plant,
        source: { url: cfg.source.url, timestamps: cfg.source.timestamps, testRecords: { table: cfg.source.testRecords.table } },
        mail: { outDir: cfg.mail.outDir },
        reports: { outDir: cfg.reports.outDir, dailyYield: { to: ['qa@example.com'] } },
      }),
    );
    const saved = process.env.SMTP_URL;
    delete process.env.SMTP_URL;
    const log = console.log;
    const lines: string[] = [];
    console.log = (...a: unknown[]) => void lines.push(a.join(' '));
    try {
      const run = (...extra: string[]) => main(['node', 'yieldrun', '--config', file, 'run', 'daily-yield-report', '--date', DAY, ...extra]);
      expect(await run()).toBe(0);
      expect(await run()).toBe(0);
      expect(readdirSync(cfg.mail.outDir)).toHaveLength(1);
      expect(await run('--resend', '--reason', 'for the audit')).toBe(0);
    } finally {
      console.log = log;
      if (saved !== undefined) process.env.SMTP_URL = saved;
    }
    const emls = readdirSync(cfg.mail.outDir);
    expect(emls).toHaveLength(2);
    expect(lines.join('\n')).toMatch(/already sent .*Use --resend/);
    expect(lines.join('\n')).toMatch(/sent again to qa@example.com/);
    const m = await simpleParser(readFileSync(path.join(cfg.mail.outDir, emls[0]!)));
    expect(m.subject).toBe('Daily yield 2026-11-20 · Test Plant · FPY 65.0 % (\u22121.7)');
    expect(m.attachments.map((a) => a.filename).sort()).toEqual(['fpy-trend.png', 'test-plant_daily-yield_2026-11-20.xlsx']);
    const rows = await deliveriesOf(s.ctx, 'daily-yield-report', DAY);
    expect(rows.map((d) => [d.transport, d.resend, d.reason])).toEqual([
      ['file', false, null],
      ['file', true, 'for the audit'],
    ]);
    expect(rows.map((d) => d.location).sort()).toEqual(emls.map((e) => path.resolve(cfg.mail.outDir, e)).sort());
  });
});
