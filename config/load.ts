import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { IANAZone } from 'luxon';
import type { ZodError } from 'zod';
import { configSchema, type Config } from './schema.js';

/** A resolved configuration: the file's values, environment overrides applied, URLs settled. */
export interface ResolvedConfig extends Omit<Config, 'mes'> {
  source: Config['source'];
  target: Config['target'] & { url: string };
  /** The MES exchange; `token` from the environment MES_TOKEN only. */
  mes: Omit<Config['mes'], 'token'> & { token?: string };
  /** Where the configuration came from, for messages. */
  origin: string;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

const here = path.dirname(fileURLToPath(import.meta.url));
/** config/default.yaml, found from both the sources and the compiled dist/. */
export function defaultConfigPath(): string {
  const candidates = [path.join(here, 'default.yaml'), path.join(here, '..', '..', 'config', 'default.yaml')];
  return candidates.find((p) => existsSync(p)) ?? candidates[0]!;
}

function formatIssues(err: ZodError, origin: string): string {
  const lines = err.issues.map((i) => {
    const key = i.path.length ? i.path.join('.') : '(top level)';
    let msg = i.message;
    if (i.code === 'unrecognized_keys') msg = `unknown key(s) ${i.keys.map((k) => `'${k}'`).join(', ')}`;
    if (i.code === 'invalid_type') msg = `expected ${i.expected}, got ${i.received}`;
    return `  ${key}: ${msg}`;
  });
  return `invalid configuration in ${origin}:\n${lines.join('\n')}`;
}

const URL_FORM = /^(sqlite:|postgres:\/\/|postgresql:\/\/|mssql:\/\/)/;

/**
 * Validates a raw config object (as read from YAML) and applies the environment:
 * SOURCE_DATABASE_URL, TARGET_DATABASE_URL (defaults to the source), PLANT_TIMEZONE and MES_TOKEN.
 */
export function resolveConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env, origin = 'config'): ResolvedConfig {
  const parsed = configSchema.safeParse(raw ?? {});
  if (!parsed.success) throw new ConfigError(formatIssues(parsed.error, origin));
  const cfg = parsed.data;

  const envUrl = (name: string): string | undefined => {
    const v = env[name]?.trim();
    if (!v) return undefined;
    if (!URL_FORM.test(v)) throw new ConfigError(`environment ${name}: expected sqlite:PATH, postgres://… or mssql://…`);
    return v;
  };
  const sourceUrl = envUrl('SOURCE_DATABASE_URL') ?? cfg.source.url;
  const targetUrl = envUrl('TARGET_DATABASE_URL') ?? cfg.target.url ?? sourceUrl;
  const tz = env.PLANT_TIMEZONE?.trim();
  if (tz && !IANAZone.isValidZone(tz)) {
    throw new ConfigError(`environment PLANT_TIMEZONE: expected an IANA time zone such as Europe/Berlin, got '${tz}'`);
  }
  const mesToken = env.MES_TOKEN?.trim() || undefined;
  if (cfg.mes.enabled && !mesToken) {
    throw new ConfigError('environment MES_TOKEN: required when mes.enabled is true (the bearer token the MES API expects)');
  }
  const { token: _fileToken, ...mes } = cfg.mes;
  return {
    ...cfg,
    mes: { ...mes, token: mesToken },
    plant: { ...cfg.plant, timezone: tz || cfg.plant.timezone },
    source: { ...cfg.source, url: sourceUrl },
    target: { ...cfg.target, url: targetUrl },
    origin,
  };
}

/** Loads `--config PATH`, else YIELDRUN_CONFIG, else config/default.yaml. */
export function loadConfig(file?: string, env: NodeJS.ProcessEnv = process.env): ResolvedConfig {
  const p = file ?? env.YIELDRUN_CONFIG ?? defaultConfigPath();
  let text: string;
  try {
    text = readFileSync(p, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read configuration file ${p}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (e) {
    throw new ConfigError(`configuration file ${p} is not valid YAML: ${(e as Error).message}`);
  }
  return resolveConfig(raw, env, p);
}
