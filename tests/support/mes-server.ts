/**
 * The MES of the tests: data/loopback-mes.ts (the documented API on 127.0.0.1) with every pushed
 * body validated against the schemas of docs/mes-api.yaml, so a push that drifts from the
 * document is refused with 400 as a strict MES would refuse it, and the faults of a real network.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { startLoopbackMes, type LoopbackMes, type LoopbackMesOptions } from '../../data/loopback-mes.js';

const here = path.dirname(fileURLToPath(import.meta.url));
export const MES_API_FILE = path.join(here, '..', '..', 'docs', 'mes-api.yaml');

/** The document's component schemas, with their $refs pointing into one JSON Schema of $defs. */
function compiledSchemas() {
  const doc = parse(readFileSync(MES_API_FILE, 'utf8')) as { components: { schemas: Record<string, unknown> } };
  const defs = JSON.parse(JSON.stringify(doc.components.schemas).replaceAll('#/components/schemas/', 'mes-api#/$defs/')) as Record<string, unknown>;
  const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: true, allowUnionTypes: true, formats: { 'date-time': /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/ } });
  ajv.addSchema({ $id: 'mes-api', $defs: defs });
  return (name: string) => {
    const v = ajv.getSchema(`mes-api#/$defs/${name}`);
    if (!v) throw new Error(`docs/mes-api.yaml has no schema ${name}`);
    return (value: unknown): string[] => (v(value) ? [] : (v.errors ?? []).map((e) => `${e.instancePath || '(body)'} ${e.message ?? ''}`.trim()));
  };
}

export const schemaValidator = compiledSchemas();

export type TestMesOptions = Omit<LoopbackMesOptions, 'validate'>;

export function startTestMes(opts: TestMesOptions): Promise<LoopbackMes> {
  return startLoopbackMes({ ...opts, validate: schemaValidator('QualityResult') });
}
