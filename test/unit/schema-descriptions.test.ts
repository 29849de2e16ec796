// Every field a user can write or read has a description, so that `kubectl explain` and the generated
// reference (docs/reference/) answer for every one of them.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { toCRD } from '../../src/api/crd.ts';
import { referenceFiles } from '../../src/api/generate-docs.ts';
import { ALL_KINDS } from '../../src/kinds/index.ts';

const ROOT = join(import.meta.dirname, '..', '..');
type Schema = Record<string, any>;

/** Every property under node (nested objects, array items, map values), with its path. */
function properties(node: Schema, path: string, out: [string, Schema][] = []): [string, Schema][] {
  for (const [name, child] of Object.entries<Schema>(node.properties ?? {})) {
    out.push([`${path}.${name}`, child]);
    properties(child, `${path}.${name}`, out);
  }
  if (node.items) properties(node.items, `${path}[]`, out);
  if (node.additionalProperties && typeof node.additionalProperties === 'object')
    properties(node.additionalProperties, `${path}{}`, out);
  for (const key of ['anyOf', 'oneOf', 'allOf'])
    for (const branch of node[key] ?? []) properties(branch, path, out);
  return out;
}

const roots = ALL_KINDS.map((def) => {
  const schema = (toCRD(def) as Schema).spec.versions[0].schema.openAPIV3Schema as Schema;
  return { def, spec: schema.properties.spec as Schema, status: schema.properties.status as Schema };
});
const described = (n: Schema) => typeof n.description === 'string' && n.description.trim().length > 0;

describe('schema descriptions', () => {
  for (const part of ['spec', 'status'] as const) {
    it(`every property under ${part} of every kind has a description (100%)`, () => {
      const all = roots.flatMap((r) => properties(r[part], `${r.def.kind}.${part}`));
      const missing = all.filter(([, n]) => !described(n)).map(([p]) => p);
      const pct = ((100 * (all.length - missing.length)) / all.length).toFixed(1);
      console.log(`${part}: ${all.length - missing.length} of ${all.length} properties described (${pct}%)`);
      expect(all.length).toBeGreaterThan(100);
      expect(missing).toEqual([]);
    });
  }

  it('every kind has a description', () => {
    for (const { def } of roots) expect(def.description.trim(), def.kind).not.toBe('');
  });

  it('deletionPolicy says what each of its values does, on every topology kind', () => {
    const topology = roots.filter((r) => r.def.kind !== 'RabbitBroker');
    expect(topology.length).toBeGreaterThan(10);
    for (const { def, spec } of topology) {
      const p = spec.properties.deletionPolicy as Schema;
      expect(p.enum, def.kind).toEqual(['Delete', 'Retain']);
      for (const value of p.enum)
        expect(p.description, def.kind).toMatch(new RegExp(`\\b${value}\\b[^:.]*:`));
    }
  });
});

describe('generated reference (docs/reference/)', () => {
  it('is up to date with the schemas (npm run gen:crds writes it)', async () => {
    const files = await referenceFiles(ALL_KINDS, ROOT);
    expect(files.size).toBe(ALL_KINDS.length + 1);
    for (const [file, text] of files) {
      expect(existsSync(join(ROOT, file)), file).toBe(true);
      expect(readFileSync(join(ROOT, file), 'utf8') === text, `${file} is stale: npm run gen:crds`).toBe(
        true,
      );
    }
  });

  it('names every field of every kind, with its rules', async () => {
    const files = await referenceFiles(ALL_KINDS, ROOT);
    for (const r of roots) {
      const page = files.get(`docs/reference/${r.def.kind.toLowerCase()}.md`)!;
      for (const part of ['spec', 'status'] as const) {
        for (const [path, node] of properties(r[part], part)) {
          if (path.endsWith('[]')) continue;
          expect(page, `${r.def.kind} ${path}`).toContain(`### \`${path}\``);
          for (const v of node['x-kubernetes-validations'] ?? []) expect(page).toContain(v.rule);
        }
      }
    }
  });
});
