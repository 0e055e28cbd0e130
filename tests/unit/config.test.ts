import { describe, expect, it } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig, resolveConfig, defaultConfigPath, ConfigError } from '../../config/load.js';
import { redactUrl, mssqlConnection } from '../../sql/connection.js';
import { pino } from 'pino';
import { REDACTED_PATHS } from '../../jobs/log.js';

const fail = (raw: unknown, env: NodeJS.ProcessEnv = {}) => {
  try {
    resolveConfig(raw, env, 'test.yaml');
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  throw new Error('expected a ConfigError');
};

describe('configuration', () => {
  it('the shipped default.yaml is valid and gives the demo defaults', () => {
    const cfg = loadConfig(defaultConfigPath(), {});
    expect(cfg.plant).toEqual({ name: 'Demo Plant', timezone: 'Europe/Berlin', dayStart: '06:00', shifts: { A: '06:00', B: '14:00', C: '22:00' } });
    expect(cfg.source.url).toBe('sqlite:./data/demo.sqlite');
    expect(cfg.target.url).toBe(cfg.source.url);
    expect(cfg.yield).toMatchObject({ maxAttempts: 3, lookbackDays: 7, resultSynonyms: { pass: ['PASS', 'P', 'OK'], fail: ['FAIL', 'F', 'NG'] } });
    expect(cfg.source.testRecords.columns.testedAt).toBe('TestTimeStamp');
  });

  it('a bad value names the key and the expected form', () => {
    expect(fail({ plant: { timezone: 'Mars/Olympus' } })).toMatch(/plant\.timezone: expected an IANA time zone/);
    expect(fail({ plant: { dayStart: '6am' } })).toMatch(/plant\.dayStart: expected a local time HH:MM/);
    expect(fail({ yield: { maxAttempts: 0 } })).toMatch(/yield\.maxAttempts/);
    expect(fail({ yield: { lookbackDays: 'seven' } })).toMatch(/yield\.lookbackDays: expected number, got string/);
    expect(fail({ source: { timestamps: 'gmt' } })).toMatch(/source\.timestamps/);
    expect(fail({ source: { testRecords: { columns: { serial: 'Serial; DROP TABLE x' } } } })).toMatch(
      /source\.testRecords\.columns\.serial: expected a column name/,
    );
    expect(fail({ source: { testRecords: { table: 'a.b.c' } } })).toMatch(/source\.testRecords\.table/);
    expect(fail({ plant: { timezon: 'UTC' } })).toMatch(/plant: unknown key\(s\) 'timezon'/);
    expect(fail({ yield: { resultSynonyms: { pass: ['OK'], fail: ['ok'] } } })).toMatch(/both PASS and FAIL/);
  });

  it('the runner\'s housekeeping intervals and caller limits have defaults and bounds, named when wrong', () => {
    expect(resolveConfig({}, {}).runner).toMatchObject({ resyncIntervalMs: 300_000, catchUpIntervalMs: 900_000, requirePersistence: false, maxRangeDays: 400 });
    expect(fail({ runner: { resyncIntervalMs: 10 } })).toMatch(/runner\.resyncIntervalMs: Number must be greater than or equal to 1000/);
    expect(fail({ runner: { catchUpIntervalMs: '15m' } })).toMatch(/runner\.catchUpIntervalMs: expected number, got string/);
    expect(fail({ runner: { requirePersistence: 'yes' } })).toMatch(/runner\.requirePersistence: expected boolean/);
    expect(fail({ runner: { maxRangeDays: 0 } })).toMatch(/runner\.maxRangeDays/);
  });

  it('refuses a password in the file; takes URLs and the zone from the environment', () => {
    expect(fail({ source: { url: 'postgres://u:secret@db/x' } })).toMatch(/source\.url: a password in the config file is not allowed/);
    expect(fail({ target: { url: 'postgres://u@db/x?sslmode=require&password=secret' } })).toMatch(/target\.url: a password in the config file is not allowed/);
    const cfg = resolveConfig({}, { SOURCE_DATABASE_URL: 'postgres://u:secret@db/x', PLANT_TIMEZONE: 'Asia/Taipei' });
    expect(cfg.source.url).toBe('postgres://u:secret@db/x');
    expect(cfg.target.url).toBe('postgres://u:secret@db/x');
    expect(cfg.plant.timezone).toBe('Asia/Taipei');
    const split = resolveConfig({}, { SOURCE_DATABASE_URL: 'mssql://r:pw@mes/MES', TARGET_DATABASE_URL: 'postgres://w@dw/yield' });
    expect(split.target.url).toBe('postgres://w@dw/yield');
    expect(fail({}, { PLANT_TIMEZONE: 'Nowhere/City' })).toMatch(/PLANT_TIMEZONE/);
    expect(fail({}, { TARGET_DATABASE_URL: 'mysql://x' })).toMatch(/TARGET_DATABASE_URL: expected sqlite/);
  });

  it('names the file when it cannot be read or parsed', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'yieldrun-cfg-'));
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'plant: [unclosed');
    expect(() => loadConfig(bad, {})).toThrow(/bad\.yaml is not valid YAML/);
    expect(() => loadConfig(path.join(dir, 'missing.yaml'), {})).toThrow(/cannot read configuration file .*missing\.yaml/);
    const typo = path.join(dir, 'typo.yaml');
    writeFileSync(typo, 'yield:\n  maxAttempts: -1\n');
    expect(() => loadConfig(typo, {})).toThrow(/typo\.yaml:\n  yield\.maxAttempts/);
  });

  it('never shows a password in a URL it prints', () => {
    expect(redactUrl('mssql://sa:Top$ecret@mes:1433/MES?encrypt=false')).toBe('mssql://sa:***@mes:1433/MES?encrypt=false');
    expect(redactUrl('sqlite:./data/demo.sqlite')).toBe('sqlite:./data/demo.sqlite');
    expect(redactUrl('postgres://u@db/x?sslmode=require&password=s3cret&application_name=y')).toBe('postgres://u@db/x?sslmode=require&password=***&application_name=y');
  });

  it('parses SQL Server URLs into driver options', () => {
    const c = mssqlConnection('mssql://reader:p%40ss@mes.plant:1444/MES_DB?encrypt=false&trustServerCertificate=true') as any;
    expect(c).toMatchObject({ server: 'mes.plant', port: 1444, user: 'reader', password: 'p@ss', database: 'MES_DB' });
    expect(c.options).toMatchObject({ encrypt: false, trustServerCertificate: true, useUTC: true });
  });
});

describe('mes configuration', () => {
  it('is off by default and takes the token only from MES_TOKEN', () => {
    const off = resolveConfig({}, {});
    expect(off.mes).toMatchObject({ enabled: false, timeoutMs: 10_000, rateWindowDays: 7, push: ['product-yield', 'order-yield', 'spc-event', 'lot-disposition', 'cell-risk'] });
    expect(off.mes.token).toBeUndefined();
    const on = resolveConfig({ mes: { enabled: true, url: 'https://mes.example.com/api/v1/' } }, { MES_TOKEN: ' s3cret ' });
    expect(on.mes).toMatchObject({ url: 'https://mes.example.com/api/v1', token: 's3cret' });
  });

  it('names the key of a bad value', () => {
    expect(fail({ mes: { token: 'abc' } })).toMatch(/mes\.token: the MES token is a secret: set it in the environment MES_TOKEN/);
    expect(fail({ mes: { enabled: true } }, { MES_TOKEN: 't' })).toMatch(/mes\.url: expected the MES API base URL when mes\.enabled is true/);
    expect(fail({ mes: { url: 'ftp://mes/api' } })).toMatch(/mes\.url: expected the MES API base URL/);
    expect(fail({ mes: { url: 'not a url' } })).toMatch(/mes\.url: expected the MES API base URL/);
    expect(fail({ mes: { url: 'https://user:pw@mes.example.com/api' } })).toMatch(/mes\.url: credentials in the URL are not allowed/);
    expect(fail({ mes: { push: ['product-yield', 'wafer-map'] } })).toMatch(/mes\.push\.1: expected push kinds from/);
    expect(fail({ mes: { rateWindowDays: 0 } })).toMatch(/mes\.rateWindowDays/);
    expect(fail({ mes: { enabled: true, url: 'https://mes.example.com' } })).toMatch(/environment MES_TOKEN: required when mes\.enabled is true/);
  });

  it('never logs the token (the logger\'s redaction)', () => {
    const lines: string[] = [];
    const log = pino({ redact: { paths: REDACTED_PATHS, censor: '***' } }, { write: (l: string) => void lines.push(l) });
    const cfg = resolveConfig({ mes: { enabled: true, url: 'https://mes.example.com' } }, { MES_TOKEN: 'tok-123' });
    log.info({ mes: cfg.mes }, 'config');
    expect(lines.join('')).not.toContain('tok-123');
  });
});
