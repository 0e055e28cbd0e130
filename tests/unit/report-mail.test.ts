/**
 * reports/mail.ts without a server: settings from config and SMTP_URL, which failures are worth a
 * retry, and the .eml fallback (a real MIME message, parsed back with mailparser).
 */
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { simpleParser } from 'mailparser';
import { createMailer, isTransientMailError, mailSettings, newMessageId, redactSmtpUrl, sendMail, MailConfigError } from '../../reports/mail.js';

const mailConfig = (outDir: string) => ({ mail: { from: 'yieldrun <yieldrun@localhost>', outDir, retries: 2, retryDelayMs: 10 } });

describe('mail settings', () => {
  it('take the sender and folder from the config and the server from SMTP_URL only', () => {
    expect(mailSettings(mailConfig('out/mail'), {})).toMatchObject({ from: 'yieldrun <yieldrun@localhost>', outDir: 'out/mail', smtpUrl: undefined, retries: 2 });
    expect(mailSettings(mailConfig('x'), { SMTP_URL: 'smtp://u:p@mail:587' }).smtpUrl).toBe('smtp://u:p@mail:587');
    expect(() => mailSettings(mailConfig('x'), { SMTP_URL: 'mail.example.com:25' })).toThrow(MailConfigError);
    expect(() => mailSettings(mailConfig('x'), { SMTP_URL: 'mail.example.com:25' })).toThrow(/SMTP_URL: expected smtp:\/\//);
  });

  it('never show the password', () => {
    expect(redactSmtpUrl('smtps://report:s3cr3t@mail.example.com:465')).toBe('smtps://report:***@mail.example.com:465');
  });

  it('message ids are unique and carry the sender\'s domain', () => {
    const a = newMessageId('yieldrun <reports@plant.example.com>');
    expect(a).toMatch(/^<[0-9a-f-]{36}@plant\.example\.com>$/);
    expect(newMessageId('reports@plant.example.com')).not.toBe(a);
  });
});

describe('which failures are retried', () => {
  it('temporary: 4xx replies and connection failures', () => {
    expect(isTransientMailError(Object.assign(new Error('busy'), { responseCode: 421, code: 'EPROTOCOL' }))).toBe(true);
    expect(isTransientMailError(Object.assign(new Error('greylisted'), { responseCode: 451 }))).toBe(true);
    expect(isTransientMailError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isTransientMailError(Object.assign(new Error('t/o'), { code: 'ETIMEDOUT' }))).toBe(true);
  });
  it('permanent: 5xx replies, bad credentials, bad messages', () => {
    expect(isTransientMailError(Object.assign(new Error('no such user'), { responseCode: 550 }))).toBe(false);
    expect(isTransientMailError(Object.assign(new Error('auth'), { code: 'EAUTH', responseCode: 535 }))).toBe(false);
    expect(isTransientMailError(Object.assign(new Error('bad'), { code: 'EMESSAGE' }))).toBe(false);
  });
});

describe('without SMTP_URL: .eml files', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('writes the message as it would have been sent, attachments and inline images included', async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'yieldrun-mail-'));
    const mailer = createMailer({ ...mailSettings(mailConfig(dir), {}) });
    expect(mailer.transport).toBe('file');
    const sent = await mailer.send({
      to: ['qa@example.com'],
      cc: ['lead@example.com'],
      replyTo: ['quality@example.com'],
      subject: 'Daily yield 2026-11-20 · Plant · FPY 96.2 % (\u22120.8)',
      text: 'plain',
      html: '<p>html <img src="cid:c1"></p>',
      attachments: [
        { filename: 'chart.png', content: Buffer.from('not really a png'), contentType: 'image/png', cid: 'c1' },
        { filename: 'data.csv', content: 'a,b\n1,2\n', contentType: 'text/csv' },
      ],
      fileStem: 'plant_daily-yield_2026-11-20',
    });
    mailer.close();
    expect(sent.transport).toBe('file');
    expect(path.dirname(sent.file!)).toBe(dir);
    expect(path.basename(sent.file!)).toMatch(/^plant_daily-yield_2026-11-20_.*\.eml$/);
    const m = await simpleParser(readFileSync(sent.file!));
    expect(m.subject).toBe('Daily yield 2026-11-20 · Plant · FPY 96.2 % (\u22120.8)');
    expect(m.messageId).toBe(sent.messageId);
    expect((m.to as { text: string }).text).toBe('qa@example.com');
    expect((m.cc as { text: string }).text).toBe('lead@example.com');
    expect(m.replyTo?.text).toBe('quality@example.com');
    expect(m.text?.trim()).toBe('plain');
    const png = m.attachments.find((a) => a.filename === 'chart.png')!;
    expect(png).toMatchObject({ contentType: 'image/png', contentId: '<c1>', related: true });
    expect(m.attachments.find((a) => a.filename === 'data.csv')!.content.toString()).toBe('a,b\n1,2\n');
  });

  it('sendMail takes the config, as the failure alerts call it', async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'yieldrun-mail-'));
    const saved = process.env.SMTP_URL;
    delete process.env.SMTP_URL;
    try {
      const sent = await sendMail(mailConfig(dir), { to: ['admin@example.com'], subject: '[yieldrun] nightly-summary failed', text: 'details' });
      expect(sent.transport).toBe('file');
      expect(readdirSync(dir)).toHaveLength(1);
    } finally {
      if (saved !== undefined) process.env.SMTP_URL = saved;
    }
  });

  it('refuses a message without recipients', async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'yieldrun-mail-'));
    await expect(sendMail(mailSettings(mailConfig(dir), {}), { to: [], subject: 's', text: 't' })).rejects.toThrow(/recipient/);
  });
});
