/**
 * The outbox under mail-server faults, on SQLite and PostgreSQL, with a real SMTP server on
 * loopback: one that drops the connection after taking the data, one that never replies, one that
 * is down for longer than a run's retries (with a real BullMQ worker and its periodic sender), a
 * message that expires, and senders racing for the same message.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { simpleParser } from 'mailparser';
import { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import { silentLog } from '../support/backends.js';
import { waitFor } from '../support/worker-process.js';
import { openEtlContext } from '../../etl/context.js';
import { runDailyYieldReport, DAILY_YIELD_REPORT } from '../../reports/daily-yield-report.js';
import { deliveriesOf } from '../../reports/deliveries.js';
import { renderMail } from '../../reports/mail.js';
import { messagesOf, queueMessage } from '../../reports/outbox/outbox.js';
import { queueAndSend, sendDue, sendNow } from '../../reports/outbox/sender.js';
import { startWorker } from '../../jobs/worker.js';
import { enqueue } from '../../jobs/enqueue.js';
import { JOBS } from '../../jobs/registry.js';
import { redisConnection } from '../../jobs/queues.js';
import { main } from '../../jobs/cli.js';
import { DAY, downPort, setupReport, smtpSettings, startSmtp, summarise, type ReportSetup, type TestSmtp } from './report-fixture.js';

const BACKENDS = ['sqlite', 'postgres'] as const;
const ADMIN = 'mes-admin@example.com';
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** A logger whose JSON lines the test reads. */
function capturingLog(): { log: Logger; lines: () => Record<string, any>[] } {
  const out: string[] = [];
  const log: Logger = pino({ level: 'info' }, { write: (line: string) => void out.push(line) });
  return { log, lines: () => out.map((l) => JSON.parse(l) as Record<string, any>) };
}

/** Runs `fn` with SMTP_URL set, as an operator's environment would have it. */
async function withSmtpUrl<T>(url: string, fn: () => Promise<T>): Promise<T> {
  const saved = process.env.SMTP_URL;
  process.env.SMTP_URL = url;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env.SMTP_URL;
    else process.env.SMTP_URL = saved;
  }
}

describe.each(BACKENDS)('outbox on %s', (backendName) => {
  let s: ReportSetup | undefined;
  const servers: TestSmtp[] = [];

  afterEach(async () => {
    for (const x of servers.splice(0)) await x.close();
    await s?.cleanup();
    s = undefined;
  });

  async function ready(overrides: Record<string, any> = {}) {
    s = await setupReport(backendName, { alerts: { admins: [ADMIN] }, ...overrides });
    await summarise(s.ctx);
    return s.ctx;
  }

  async function smtp(opts: Parameters<typeof startSmtp>[0] = {}) {
    const x = await startSmtp(opts);
    servers.push(x);
    return x;
  }

  it('a server that drops the connection after the data: one message, the delivery unconfirmed, nothing sent again until --resend sends exactly one more', async () => {
    const ctx = await ready();
    const server = await smtp({ dropAfterData: 1 });
    const mail = smtpSettings(ctx, server);

    await expect(runDailyYieldReport(ctx, { days: [DAY], triggeredBy: 'schedule', mail })).rejects.toThrow(/never confirmed .*after the whole message was sent.*--date 2026-11-20 --resend/s);
    expect(server.received).toHaveLength(1);
    const [d] = await deliveriesOf(ctx, DAILY_YIELD_REPORT, DAY);
    expect(d).toMatchObject({ status: 'unconfirmed', attempts: 1 });
    expect((await simpleParser(server.received[0]!.raw)).messageId).toBe(d!.messageId);

    // Neither a retry of the job nor the worker's outbox sender sends it again.
    await expect(runDailyYieldReport(ctx, { days: [DAY], triggeredBy: 'schedule', mail, attempt: 2 })).rejects.toThrow(/never confirmed/);
    expect(await sendDue(ctx, { mail, log: silentLog })).toEqual({ sent: 0, retried: 0, unconfirmed: 0, expired: 0 });
    expect(server.received).toHaveLength(1);

    // On purpose, through the CLI: exactly one more.
    const cfg = ctx.config;
    const file = path.join(s!.out, 'config.json');
    writeFileSync(
      file,
      JSON.stringify({
        plant: cfg.plant,
        source: { url: cfg.source.url, timestamps: cfg.source.timestamps, testRecords: { table: cfg.source.testRecords.table } },
        target: cfg.target.schema ? { schema: cfg.target.schema } : {},
        mail: { outDir: cfg.mail.outDir },
        reports: { outDir: cfg.reports.outDir, dailyYield: { to: cfg.reports.dailyYield.to, cc: cfg.reports.dailyYield.cc } },
      }),
    );
    const log = console.log;
    console.log = () => undefined;
    try {
      const code = await withSmtpUrl(server.url, () => main(['node', 'yieldrun', '--config', file, 'run', 'daily-yield-report', '--date', DAY, '--resend', '--reason', 'the first may not have arrived']));
      expect(code).toBe(0);
    } finally {
      console.log = log;
    }
    expect(server.received).toHaveLength(2);
    const [first, second] = await Promise.all(server.received.map((x) => simpleParser(x.raw)));
    expect(second!.subject).toBe(first!.subject);
    expect(second!.messageId).not.toBe(first!.messageId);
    const rows = await deliveriesOf(ctx, DAILY_YIELD_REPORT, DAY);
    expect(rows.map((r) => [r.status, r.resend])).toEqual([
      ['unconfirmed', false],
      ['sent', true],
    ]);
    expect(await sendDue(ctx, { mail, log: silentLog })).toMatchObject({ sent: 0 });
    expect(server.received).toHaveLength(2);
  });

  it('a server that takes the data and never replies: the socket times out, unconfirmed, not sent again', async () => {
    const ctx = await ready();
    const server = await smtp({ hangAfterData: 1 });
    const mail = { ...smtpSettings(ctx, server), socketTimeoutMs: 500 };
    await expect(runDailyYieldReport(ctx, { days: [DAY], triggeredBy: 'test', mail })).rejects.toThrow(/never confirmed/);
    expect(server.received).toHaveLength(1);
    const [m] = await messagesOf(ctx, [DAILY_YIELD_REPORT]);
    expect(m).toMatchObject({ status: 'unconfirmed', attempts: 1 });
    expect(m!.lastError).toMatch(/Timeout.*after the whole message was sent/);
    expect(await sendDue(ctx, { mail, log: silentLog })).toMatchObject({ sent: 0, retried: 0 });
    expect(server.received).toHaveLength(1);
  });

  it('a server down for longer than the run\'s retries: the report and its failure alert each arrive once when it is back, sent by the worker', async () => {
    const ctx = await ready({
      runner: { queuePrefix: `yro${randomBytes(4).toString('hex')}`, attempts: 2, backoffMs: 100, lockDurationMs: 5_000, stalledIntervalMs: 1_000, catchUp: false },
      mail: { retries: 1, retryDelayMs: 20, outbox: { sendEveryMs: 150, maxRetryDelayMs: 200 } },
    });
    const port = await downPort();
    const connection = redisConnection(REDIS_URL);
    const cfg = ctx.config;
    const worker = await withSmtpUrl(`smtp://127.0.0.1:${port}`, () =>
      startWorker(cfg, silentLog, { connection, jobs: { [DAILY_YIELD_REPORT]: JOBS[DAILY_YIELD_REPORT]! }, housekeeping: false }),
    );
    try {
      await withSmtpUrl(`smtp://127.0.0.1:${port}`, async () => {
        await enqueue(cfg, connection, DAILY_YIELD_REPORT, { days: [DAY], triggeredBy: 'schedule' });
        // Both attempts of the job fail to send; its failure alert cannot be sent either.
        const alert = await waitFor('the failure alert in the outbox, tried', async () => (await messagesOf(ctx, ['failure-alert'])).find((m) => m.status === 'pending' && m.attempts > 0));
        expect(alert.lastError).toMatch(/ECONNREFUSED/);
        expect(alert.subject).toMatch(/daily-yield-report failed .* 2026-11-20/);
        const [report] = await messagesOf(ctx, [DAILY_YIELD_REPORT]);
        expect(report).toMatchObject({ status: 'pending' });
        expect(report!.lastError).toMatch(/ECONNREFUSED/);
        // The worker's sender keeps trying while the server is down.
        const tried = report!.attempts;
        await waitFor('more attempts while down', async () => ((await messagesOf(ctx, [DAILY_YIELD_REPORT]))[0]!.attempts >= tried + 2 ? true : undefined));

        const server = await smtp({ port });
        await waitFor('both emails', async () => (server.received.length >= 2 ? true : undefined), 20_000);
        await new Promise((r) => setTimeout(r, 1_000)); // several more passes of the sender
        expect(server.received).toHaveLength(2);
        const got = await Promise.all(server.received.map((x) => simpleParser(x.raw)));
        const subjects = got.map((m) => m.subject ?? '').sort();
        expect(subjects[0]).toMatch(/^Daily yield 2026-11-20 · Test Plant · FPY/);
        expect(subjects[1]).toMatch(/^\[yieldrun\] daily-yield-report failed · Test Plant · 2026-11-20/);
        const alertMail = got.find((m) => m.subject?.startsWith('[yieldrun]'))!;
        expect(alertMail.text).toContain('is queued but not sent yet');
        expect(server.received.find((x) => x.to.includes(ADMIN))).toBeDefined();
        expect((await messagesOf(ctx)).map((m) => [m.kind, m.status])).toEqual([
          [DAILY_YIELD_REPORT, 'sent'],
          ['failure-alert', 'sent'],
        ]);
        expect((await deliveriesOf(ctx, DAILY_YIELD_REPORT, DAY)).map((d) => d.status)).toEqual(['sent']);
      });
    } finally {
      await worker.close();
      const r = new Redis(REDIS_URL);
      const keys = await r.keys(`${cfg.runner.queuePrefix}:*`);
      if (keys.length) await r.del(...keys);
      r.disconnect();
    }
  });

  it('a message not sent before it expires: one admin alert, the .eml kept on disk and its path logged', async () => {
    const ctx = await ready();
    const port = await downPort();
    const mail = smtpSettings(ctx, { url: `smtp://127.0.0.1:${port}` });
    await expect(runDailyYieldReport(ctx, { days: [DAY], triggeredBy: 'test', mail: { ...mail, retries: 0 } })).rejects.toThrow(/queued but not sent yet/);

    const { log, lines } = capturingLog();
    const later = new Date(Date.now() + 25 * 3600_000);
    expect(await sendDue(ctx, { mail, log, now: () => later })).toMatchObject({ expired: 1, sent: 0 });
    expect(await sendDue(ctx, { mail, log, now: () => later })).toMatchObject({ expired: 0 });
    const [d] = await deliveriesOf(ctx, DAILY_YIELD_REPORT, DAY);
    expect(d!.status).toBe('expired');
    expect(d!.keptFile).toMatch(new RegExp(`^${ctx.config.mail.outDir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/expired/test-plant_daily-yield_2026-11-20_.*\\.eml$`));
    expect(existsSync(d!.keptFile!)).toBe(true);
    const kept = await simpleParser(readFileSync(d!.keptFile!));
    expect(kept.messageId).toBe(d!.messageId);
    expect(kept.attachments.map((a) => a.filename)).toContain('test-plant_daily-yield_2026-11-20.xlsx');
    expect(lines().filter((l) => l.msg === 'email expired: not sent; kept as .eml').map((l) => l.keptFile)).toEqual([d!.keptFile]);

    // The report is not sent again by a rerun; it says where the message is.
    await expect(runDailyYieldReport(ctx, { days: [DAY], triggeredBy: 'test', mail })).rejects.toThrow(/expired unsent: .*kept as .*\.eml; to send it again: .*--resend/s);

    // The admins' alert, once, when the server is back.
    const notices = await messagesOf(ctx, ['outbox-expired']);
    expect(notices).toHaveLength(1);
    const server = await smtp({ port });
    const soon = new Date(later.getTime() + 60_000);
    expect(await sendDue(ctx, { mail, log, now: () => soon })).toMatchObject({ sent: 1 });
    expect(await sendDue(ctx, { mail, log, now: () => soon })).toMatchObject({ sent: 0, expired: 0 });
    expect(server.received).toHaveLength(1);
    expect(server.received[0]!.to).toEqual([ADMIN]);
    const alert = await simpleParser(server.received[0]!.raw);
    expect(alert.subject).toBe('[yieldrun] email not delivered · Test Plant · ' + d!.subject);
    expect(alert.text).toContain(`kept as ${d!.keptFile}`);
    expect(alert.text).toContain('yieldrun run daily-yield-report --date 2026-11-20 --resend');
  });

  it('two senders racing for the same messages send each one once', async () => {
    const ctx = await ready();
    const server = await smtp();
    const mail = smtpSettings(ctx, server);
    const ids: number[] = [];
    for (let i = 0; i < 5; i++) {
      const rendered = await renderMail(mail, { to: [ADMIN], subject: `race ${i}`, text: 'once' });
      ids.push((await queueMessage(ctx, { dedupeKey: `race|${i}`, kind: 'test', mail: rendered, subject: `race ${i}`, fileStem: 'race' })).id);
    }
    // The same key again is not queued again.
    const again = await renderMail(mail, { to: [ADMIN], subject: 'race 0', text: 'once' });
    expect(await queueMessage(ctx, { dedupeKey: 'race|0', kind: 'test', mail: again, subject: 'race 0', fileStem: 'race' })).toEqual({ id: ids[0], queued: false });

    const other = openEtlContext(ctx.config, silentLog); // a second process: its own connections
    try {
      const o = { mail, log: silentLog };
      await Promise.all([sendDue(ctx, o), sendDue(other, o), ...ids.flatMap((id) => [sendNow(ctx, id, o), sendNow(other, id, o)])]);
    } finally {
      await other.close();
    }
    expect(server.received).toHaveLength(5);
    const subjects = (await Promise.all(server.received.map((x) => simpleParser(x.raw)))).map((m) => m.subject).sort();
    expect(subjects).toEqual(['race 0', 'race 1', 'race 2', 'race 3', 'race 4']);
    expect((await messagesOf(ctx, ['test'])).map((m) => [m.status, m.attempts])).toEqual(Array(5).fill(['sent', 1]));
  });

  it('queueAndSend: a key sent once is not sent again', async () => {
    const ctx = await ready();
    const server = await smtp();
    const o = { mail: smtpSettings(ctx, server), log: silentLog };
    const req = { dedupeKey: 'alert|1', kind: 'failure-alert', message: { to: [ADMIN], subject: 'x failed', text: 'details' } };
    expect(await queueAndSend(ctx, req, o)).toMatchObject({ status: 'sent', queued: true, attempted: true });
    expect(await queueAndSend(ctx, req, o)).toMatchObject({ status: 'sent', queued: false, attempted: false });
    expect(server.received).toHaveLength(1);
  });
});
