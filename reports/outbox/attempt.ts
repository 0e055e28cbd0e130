/**
 * One attempt to deliver a rendered message, and what its failure means for the next one.
 *
 * The outcome of an SMTP send is only unknown once the whole message has been handed over: up to
 * the server's 354 (go ahead) nothing can have been delivered, and a message cut off before its
 * final "." is discarded by the server. After that, a dropped connection or a timeout leaves it
 * open whether the server took the message, so such a message is never sent again by itself.
 * nodemailer reports a dropped connection as ECONNECTION / CONN at any stage, so the stage is
 * tracked here: the message body is a stream that says when it was read to its end.
 */
import { Readable } from 'node:stream';
import SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';
import shared from 'nodemailer/lib/shared/index.js';
import { redactSmtpUrl, writeEml, type MailSettings, type RenderedMail } from '../mail.js';

export type Attempt =
  /** Accepted by the server, or written as an .eml file. */
  | { kind: 'sent'; transport: 'smtp' | 'file'; location: string; rejected: string[] }
  /** Not delivered, and worth another try (a 4xx reply, no connection, dropped before the end of the data). */
  | { kind: 'retry'; error: string }
  /** Refused for good (a 5xx reply, bad credentials): another try would fail the same way. */
  | { kind: 'refused'; error: string }
  /** The message was handed over and no reply came: it may or may not have been delivered. */
  | { kind: 'unknown'; error: string };

type Stage = 'connect' | 'envelope' | 'data' | 'handed-over';

interface SmtpError extends Error {
  code?: string;
  command?: string;
  responseCode?: number;
}

/** What a failure at `stage` means. A reply from the server is definite; a lost connection depends on the stage. */
export function classifyFailure(err: SmtpError, stage: Stage): Exclude<Attempt, { kind: 'sent' }> {
  const error = err.message;
  if (typeof err.responseCode === 'number' && err.command !== 'CONN') {
    return err.responseCode >= 400 && err.responseCode < 500 ? { kind: 'retry', error } : { kind: 'refused', error };
  }
  if (err.code === 'EAUTH' || err.code === 'EENVELOPE' || err.code === 'EMESSAGE' || err.code === 'ETLS') {
    // Without a reply code: a local refusal (no recipients, message too large, TLS setup) that repeats.
    return typeof err.responseCode === 'number' && err.responseCode < 500 ? { kind: 'retry', error } : { kind: 'refused', error };
  }
  if (stage === 'handed-over') return { kind: 'unknown', error: `${error} (after the whole message was sent, before the server's reply)` };
  return { kind: 'retry', error };
}

/** Sends `mail` once: over SMTP when settings.smtpUrl is set, else as an .eml file under settings.outDir. */
export async function attemptDelivery(settings: MailSettings, mail: RenderedMail, fileStem: string): Promise<Attempt> {
  if (!settings.smtpUrl) {
    try {
      return { kind: 'sent', transport: 'file', location: writeEml(settings.outDir, fileStem, mail.raw), rejected: [] };
    } catch (err) {
      return { kind: 'retry', error: `could not write the .eml under ${settings.outDir}: ${(err as Error).message}` };
    }
  }
  const target = redactSmtpUrl(settings.smtpUrl).replace(/\/\/[^@/]*@/, '//');
  const r = await smtpOnce(settings, mail);
  return r.kind === 'sent' ? r : { ...r, error: `via ${target}: ${r.error}` };
}

function smtpOnce(settings: MailSettings, mail: RenderedMail): Promise<Attempt> {
  const { auth, ...options } = shared.parseConnectionUrl(settings.smtpUrl!);
  const conn = new SMTPConnection({
    ...options,
    connectionTimeout: settings.connectionTimeoutMs,
    greetingTimeout: settings.greetingTimeoutMs,
    socketTimeout: settings.socketTimeoutMs,
  });
  let stage: Stage = 'connect';
  return new Promise<Attempt>((resolve) => {
    let settled = false;
    const finish = (a: Attempt) => {
      if (settled) return;
      settled = true;
      if (a.kind === 'sent') conn.quit();
      else conn.close();
      resolve(a);
    };
    const fail = (err: SmtpError) => finish(classifyFailure(err, stage));
    conn.on('error', fail);
    conn.connect((err) => {
      if (err) return fail(err);
      const send = (err?: SmtpError) => {
        if (err) return fail(err);
        stage = 'envelope';
        let handed = false;
        // Read only once the server said 354; read to its end, the final "." follows at once.
        const body = new Readable({
          read() {
            if (handed) return;
            handed = true;
            stage = 'data';
            this.push(mail.raw);
            this.push(null);
          },
        });
        body.on('end', () => {
          stage = 'handed-over';
        });
        conn.send({ from: mail.envelope.from, to: mail.envelope.to }, body, (err, info) => {
          if (err) return fail(err);
          const addr = (a: string | { address: string }) => (typeof a === 'string' ? a : a.address);
          finish({ kind: 'sent', transport: 'smtp', location: String(info.response ?? ''), rejected: (info.rejected ?? []).map(addr) });
        });
      };
      if (auth && (auth as { user?: string }).user) conn.login(auth as SMTPConnection.Credentials, send);
      else send();
    });
  });
}
