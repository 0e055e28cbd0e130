/**
 * The outbox's pure parts: what a failed SMTP attempt means at each stage, the wait between
 * attempts, and its configuration keys.
 */
import { describe, expect, it } from 'vitest';
import knexFactory from 'knex';
import { resolveConfig, ConfigError } from '../../config/load.js';
import { classifyFailure } from '../../reports/outbox/attempt.js';
import { retryDelayMs } from '../../reports/outbox/sender.js';
import { claimStatement } from '../../reports/outbox/outbox.js';

const smtpError = (message: string, props: { code?: string; command?: string; responseCode?: number }) => Object.assign(new Error(message), props);

describe('a failed SMTP attempt', () => {
  it('a reply from the server is definite: 4xx tried again, 5xx refused for good, at any stage', () => {
    expect(classifyFailure(smtpError('Invalid greeting', { code: 'EPROTOCOL', command: 'CONN', responseCode: 421 }), 'connect').kind).toBe('retry');
    expect(classifyFailure(smtpError('Recipient command failed', { code: 'EENVELOPE', command: 'RCPT TO', responseCode: 550 }), 'envelope').kind).toBe('refused');
    expect(classifyFailure(smtpError('Message failed', { code: 'EMESSAGE', command: 'DATA', responseCode: 451 }), 'handed-over').kind).toBe('retry');
    expect(classifyFailure(smtpError('Message failed', { code: 'EMESSAGE', command: 'DATA', responseCode: 552 }), 'handed-over').kind).toBe('refused');
    expect(classifyFailure(smtpError('Invalid login', { code: 'EAUTH', command: 'AUTH PLAIN', responseCode: 535 }), 'connect').kind).toBe('refused');
  });

  it('a lost connection or a timeout: tried again before the whole message was handed over, unknown after', () => {
    const dropped = smtpError('Connection closed unexpectedly', { code: 'ECONNECTION', command: 'CONN' });
    const timedOut = smtpError('Timeout', { code: 'ETIMEDOUT', command: 'CONN' });
    const refused = smtpError('connect ECONNREFUSED 127.0.0.1:25', { code: 'ESOCKET', command: 'CONN' });
    expect(classifyFailure(refused, 'connect').kind).toBe('retry');
    expect(classifyFailure(dropped, 'envelope').kind).toBe('retry');
    // Cut off while the data was streaming: the server never saw the final "." and discards it.
    expect(classifyFailure(dropped, 'data').kind).toBe('retry');
    expect(classifyFailure(dropped, 'handed-over')).toEqual({ kind: 'unknown', error: "Connection closed unexpectedly (after the whole message was sent, before the server's reply)" });
    expect(classifyFailure(timedOut, 'handed-over').kind).toBe('unknown');
    // Even a lost connection whose last words were a reply code is judged by the stage.
    expect(classifyFailure(smtpError('Connection closed unexpectedly', { code: 'ECONNECTION', command: 'CONN', responseCode: 421 }), 'handed-over').kind).toBe('unknown');
  });
});

describe('the wait between attempts', () => {
  const ctx = { config: { mail: { outbox: { maxRetryDelayMs: 60_000 } } } } as Parameters<typeof retryDelayMs>[0];
  it('doubles from mail.retryDelayMs up to mail.outbox.maxRetryDelayMs', () => {
    expect([1, 2, 3, 4, 5, 6, 7, 20].map((n) => retryDelayMs(ctx, { retryDelayMs: 2_000 }, n))).toEqual([2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000, 60_000]);
  });
});

describe('mail.outbox configuration', () => {
  const fail = (outbox: unknown) => {
    try {
      resolveConfig({ mail: { outbox } }, {}, 'test.yaml');
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      return (e as Error).message;
    }
    throw new Error('expected a ConfigError');
  };
  it('has defaults: every minute, expiry after a day, waits up to 15 minutes', () => {
    expect(resolveConfig({}, {}, 'test.yaml').mail.outbox).toEqual({ sendEveryMs: 60_000, expireAfterMs: 86_400_000, maxRetryDelayMs: 900_000 });
  });
  it('a bad value names the key', () => {
    expect(fail({ sendEveryMs: 10 })).toMatch(/mail\.outbox\.sendEveryMs/);
    expect(fail({ expireAfterMs: 'a day' })).toMatch(/mail\.outbox\.expireAfterMs: expected number/);
    expect(fail({ maxRetryDelayMs: -1 })).toMatch(/mail\.outbox\.maxRetryDelayMs/);
    expect(fail({ every: 1 })).toMatch(/mail\.outbox: unknown key\(s\) 'every'/);
  });
});

describe('the claim on SQL Server', () => {
  it('is one parameterised UPDATE guarded by status, expiry and due time, every instant bound as a Date (typed by the driver)', () => {
    const mssql = knexFactory({ client: 'mssql' });
    const now = new Date('2026-11-21T05:00:00Z');
    const { sql, bindings } = claimStatement({ targetSchema: 'dbo' }, mssql, 7, 'tok', now, now).toSQL().toNative();
    expect(sql).toMatch(/^update \[dbo\]\.\[outbox\] set \[status\] = @p0, \[claim_token\] = @p1, \[claimed_by\] = @p2, \[claimed_at\] = @p3, \[attempts\] = attempts \+ 1, \[updated_at\] = @p4 /);
    expect(sql).toContain('where [id] = @p5 and [status] = @p6 and [expires_at] > @p7 and [next_attempt_at] <= @p8');
    expect(bindings).toEqual(['sending', 'tok', expect.any(String), now, now, 7, 'pending', now, now]);
  });
});
