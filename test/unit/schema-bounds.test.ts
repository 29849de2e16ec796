import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

// Every field a tenant writes is bounded in the CRD, so that the API server refuses a manifest
// that would make warren hold or send more than it should: strings have maxLength, lists
// maxItems, maps maxProperties. Free-form values inside maps are bounded by the map's size and
// by the API server's request limit.
const dir = join(import.meta.dirname, '..', '..', 'crds');

function unbounded(schema: any, path: string, out: string[]): void {
  if (!schema || typeof schema !== 'object') return;
  if (schema.type === 'string' && schema.maxLength === undefined && !schema.enum && !schema.format)
    out.push(`${path}: string without maxLength`);
  if (schema.type === 'array') {
    if (schema.maxItems === undefined) out.push(`${path}: array without maxItems`);
    unbounded(schema.items, `${path}[]`, out);
  }
  if (
    schema.type === 'object' &&
    (schema.additionalProperties || schema['x-kubernetes-preserve-unknown-fields'])
  ) {
    if (schema.maxProperties === undefined) out.push(`${path}: map without maxProperties`);
  }
  for (const [k, v] of Object.entries(schema.properties ?? {})) unbounded(v, `${path}.${k}`, out);
  if (typeof schema.additionalProperties === 'object')
    unbounded(schema.additionalProperties, `${path}.*`, out);
}

describe('the CRDs bound what tenants write', () => {
  const crds = readdirSync(dir).filter((f) => f.startsWith('warren.dev_'));
  it.each(crds)('%s: every spec field', (file) => {
    const crd = parse(readFileSync(join(dir, file), 'utf8'));
    const out: string[] = [];
    for (const v of crd.spec.versions)
      unbounded(v.schema.openAPIV3Schema.properties.spec, `${v.name}.spec`, out);
    expect(out).toEqual([]);
  });
});
