/**
 * Sending email, for every job that writes one (the daily yield report, failure alerts, SPC alerts).
 *
 * With SMTP_URL (environment only: it holds the password) messages go through one pooled SMTP
 * connection per mailer, with connection/greeting/socket timeouts, and a temporary failure (a 4xx
 * reply, a refused, reset or timed-out connection) is retried with exponential backoff. Without it,
 * each message is written as an .eml file under mail.outDir, exactly as it would have been sent,
 * so a demo or a test machine needs no mail server.
 *
 * Each message carries a Message-ID chosen before the first attempt, so retries and the delivery
 * record (reports/deliveries.ts) name the same message.
 *
 * Reports and failure alerts go through the outbox instead (reports/outbox/): renderMail turns a
 * message into the bytes it stores, and it sends them itself, one attempt at a time. The mailer
 * below serves the SPC alerts until they move onto the outbox too.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import nodemailer from 'nodemailer';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';

export interface MailSettings {
  from: string;
  /** Where .eml files go when there is no SMTP server. */
  outDir: string;
  /** smtp://user:pass@host:587 or smtps://…:465; undefined: write .eml files. */
  smtpUrl?: string;
  /** Further attempts after a temporary failure. */
  retries: number;
  /** First wait before a retry; doubled each time. */
  retryDelayMs: number;
  connectionTimeoutMs: number;
  greetingTimeoutMs: number;
  socketTimeoutMs: number;
}

export interface MailAttachment {
  filename: string;
  /** A file to attach (read when sending), or the content itself. */
  path?: string;
  content?: Buffer | string;
  contentType?: string;
  /** Content-ID for an inline image referenced as `cid:…` in the HTML. */
  cid?: string;
}

export interface MailMessage {
  to: readonly string[];
  cc?: readonly string[];
  replyTo?: readonly string[];
  subject: string;
  text: string;
  html?: string;
  attachments?: readonly MailAttachment[];
  /** `<…@…>`; chosen here when absent. */
  messageId?: string;
  /** Overrides the configured sender. */
  from?: string;
  /** Start of the .eml file name (without SMTP); default: from the subject. */
  fileStem?: string;
}

export interface SentMail {
  messageId: string;
  transport: 'smtp' | 'file';
  /** The .eml file written (file transport). */
  file?: string;
  /** The server's final reply (SMTP). */
  response?: string;
  accepted: string[];
  rejected: string[];
  attempts: number;
}

export interface Mailer {
  readonly transport: 'smtp' | 'file';
  /** Where messages go, without secrets: `smtp://host:port` or the .eml folder. */
  readonly target: string;
  send(message: MailMessage): Promise<SentMail>;
  /** Closes the pooled connections; the mailer cannot send afterwards. */
  close(): void;
}

export class MailConfigError extends Error {
  override name = 'MailConfigError';
}

const DEFAULTS = { retries: 3, retryDelayMs: 2_000, connectionTimeoutMs: 30_000, greetingTimeoutMs: 30_000, socketTimeoutMs: 60_000 };

/** The configuration's keys that sending needs. */
export type MailConfig = { mail: Pick<Config['mail'], 'from' | 'outDir' | 'retries' | 'retryDelayMs'> };

/** Settings from the configuration's `mail` keys and SMTP_URL. */
export function mailSettings(config: MailConfig, env: NodeJS.ProcessEnv = process.env): MailSettings {
  const url = env.SMTP_URL?.trim() || undefined;
  if (url && !/^smtps?:\/\/[^/]+/.test(url)) {
    throw new MailConfigError('environment SMTP_URL: expected smtp://user:password@host:587 or smtps://user:password@host:465');
  }
  return { ...DEFAULTS, from: config.mail.from, outDir: config.mail.outDir, smtpUrl: url, retries: config.mail.retries, retryDelayMs: config.mail.retryDelayMs };
}

/** `<uuid@domain-of-sender>`: unique, and traceable to this sender in mail logs. */
export function newMessageId(from: string): string {
  const domain = /@([^\s>]+)>?\s*$/.exec(from)?.[1] ?? 'yieldrun.local';
  return `<${randomUUID()}@${domain}>`;
}

/** The SMTP URL without its password, for logs and messages. */
export function redactSmtpUrl(url: string): string {
  return url.replace(/^(smtps?:\/\/[^/:@]*):[^/@]*@/i, '$1:***@');
}

const TRANSIENT_CODES = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);

/**
 * Worth another try: the server said "try again later" (4xx) or the connection failed. A 5xx reply
 * (unknown recipient, message refused), bad credentials or a bad message will fail the same way again.
 */
export function isTransientMailError(err: unknown): boolean {
  const e = err as { responseCode?: number; code?: string; message?: string };
  if (typeof e.responseCode === 'number') return e.responseCode >= 400 && e.responseCode < 500;
  if (e.code && TRANSIENT_CODES.has(e.code)) return true;
  return /Reached maximum number of retries after connection was closed|Connection closed unexpectedly/i.test(e.message ?? '');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A unique .eml file name starting with `stem` (made safe for any file system). */
export function emlFileName(stem: string): string {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const safe = stem.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 80) || 'message';
  return `${safe}_${stamp}_${randomUUID().slice(0, 8)}.eml`;
}

function mailOptions(settings: Pick<MailSettings, 'from'>, m: MailMessage, messageId: string): nodemailer.SendMailOptions {
  return {
    from: m.from ?? settings.from,
    to: [...m.to],
    cc: m.cc?.length ? [...m.cc] : undefined,
    replyTo: m.replyTo?.length ? [...m.replyTo] : undefined,
    subject: m.subject,
    text: m.text,
    html: m.html,
    messageId,
    attachments: m.attachments?.map((a) => ({ filename: a.filename, path: a.path, content: a.content, contentType: a.contentType, cid: a.cid })),
  };
}

/** A message rendered to the byte, as it goes over SMTP or into an .eml file, with its envelope. */
export interface RenderedMail {
  raw: Buffer;
  messageId: string;
  envelope: { from: string; to: string[] };
}

const composer = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });

/**
 * Renders `m` (attachments read now) into the MIME message that is sent: the outbox stores these
 * bytes, so every attempt and the .eml kept on expiry are the same message, Date and Message-ID included.
 */
export async function renderMail(settings: Pick<MailSettings, 'from'>, m: MailMessage): Promise<RenderedMail> {
  if (m.to.length === 0) throw new MailConfigError('a message needs at least one recipient');
  const messageId = m.messageId ?? newMessageId(m.from ?? settings.from);
  const info = (await composer.sendMail(mailOptions(settings, m, messageId))) as { message: Buffer; envelope: { from: string; to: string[] } };
  return { raw: info.message, messageId, envelope: { from: info.envelope.from, to: info.envelope.to } };
}

/** Writes a rendered message as `<dir>/<stem>_<time>_<id>.eml`; returns the file. */
export function writeEml(dir: string, stem: string, raw: Buffer): string {
  mkdirSync(dir, { recursive: true });
  const file = path.resolve(dir, emlFileName(stem));
  writeFileSync(file, raw);
  return file;
}

/** A mailer for `settings`: SMTP when smtpUrl is set, else .eml files. Keep it for many messages; close it at the end. */
export function createMailer(settings: MailSettings, log?: Logger): Mailer {
  if (!settings.smtpUrl) {
    return {
      transport: 'file',
      target: settings.outDir,
      async send(m) {
        const r = await renderMail(settings, m);
        const file = writeEml(settings.outDir, m.fileStem ?? m.subject, r.raw);
        log?.info({ file, messageId: r.messageId }, 'email written as .eml (no SMTP_URL)');
        return { messageId: r.messageId, transport: 'file', file, accepted: r.envelope.to, rejected: [], attempts: 1 };
      },
      close() {},
    };
  }

  const smtpUrl = settings.smtpUrl;
  // The pool re-queues a message whose connection closed mid-send without limit and without delay;
  // maxRequeues 0 hands that case to the retry loop below, which waits and counts.
  const transporter = nodemailer.createTransport({
    url: smtpUrl,
    pool: true,
    maxConnections: 2,
    maxRequeues: 0,
    connectionTimeout: settings.connectionTimeoutMs,
    greetingTimeout: settings.greetingTimeoutMs,
    socketTimeout: settings.socketTimeoutMs,
  } as nodemailer.TransportOptions);
  const target = redactSmtpUrl(smtpUrl).replace(/\/\/[^@/]*@/, '//');
  return {
    transport: 'smtp',
    target,
    async send(m) {
      if (m.to.length === 0) throw new MailConfigError('a message needs at least one recipient');
      const messageId = m.messageId ?? newMessageId(m.from ?? settings.from);
      const options = mailOptions(settings, m, messageId);
      for (let attempt = 1; ; attempt++) {
        try {
          const info = (await transporter.sendMail(options)) as { response: string; accepted: (string | { address: string })[]; rejected: (string | { address: string })[] };
          const addr = (a: string | { address: string }) => (typeof a === 'string' ? a : a.address);
          log?.info({ messageId, attempt, response: info.response, rejected: info.rejected.length }, 'email sent');
          return { messageId, transport: 'smtp', response: info.response, accepted: info.accepted.map(addr), rejected: info.rejected.map(addr), attempts: attempt };
        } catch (err) {
          const last = attempt > settings.retries || !isTransientMailError(err);
          log?.warn({ messageId, attempt, err: (err as Error).message, willRetry: !last }, 'email not sent');
          if (last) {
            const e = err as Error;
            e.message = `email to ${m.to.join(', ')} via ${target} failed after ${attempt} attempt(s): ${e.message}`;
            throw e;
          }
          await sleep(settings.retryDelayMs * 2 ** (attempt - 1));
        }
      }
    },
    close() {
      transporter.close();
    },
  };
}

/** Settings, or the configuration to take them from (with SMTP_URL from the environment). */
export type MailSource = MailSettings | MailConfig;

function settingsOf(source: MailSource): MailSettings {
  return 'mail' in source ? mailSettings(source) : source;
}

/**
 * Sends one message and closes the connection: for jobs that send one email now and then
 * (alerts). A job that sends many keeps one `createMailer` for all of them.
 */
export async function sendMail(source: MailSource, message: MailMessage, log?: Logger): Promise<SentMail> {
  const mailer = createMailer(settingsOf(source), log);
  try {
    return await mailer.send(message);
  } finally {
    mailer.close();
  }
}
