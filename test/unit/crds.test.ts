import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import { GROUP } from '../../src/api/common.ts';
import { toCRD } from '../../src/api/crd.ts';
import { ALL_KINDS } from '../../src/kinds/index.ts';
import { toStructural } from '../../src/api/schema.ts';

describe('toStructural', () => {
  it('turns an open map into a preserved object', () => {
    const s = toStructural(z.object({ args: z.record(z.string(), z.unknown()) }));
    expect((s.properties as any).args).toEqual({
      type: 'object',
      'x-kubernetes-preserve-unknown-fields': true,
    });
  });

  it('drops the safe-integer bounds zod adds', () => {
    const s = toStructural(z.object({ n: z.number().int().min(0) }));
    expect((s.properties as any).n).toEqual({ type: 'integer', minimum: 0 });
  });

  it('refuses shapes a CRD cannot hold', () => {
    expect(() => toStructural(z.strictObject({ a: z.string() }))).toThrow(/additionalProperties/);
    const recursive: z.ZodType = z.lazy(() => z.object({ child: recursive.optional() }));
    expect(() => toStructural(z.object({ tree: recursive }))).toThrow(/not allowed/);
  });
});

describe('generated CRDs', () => {
  for (const def of ALL_KINDS) {
    it(`${def.kind}: committed file matches the schema, with columns, short name and category`, () => {
      const file = join(import.meta.dirname, '..', '..', 'crds', `${GROUP}_${def.plural}.yaml`);
      expect(existsSync(file)).toBe(true);
      const crd = parse(readFileSync(file, 'utf8'));
      expect(crd).toEqual(toCRD(def));
      expect(crd.spec.names.categories).toEqual(['rabbit']);
      expect(crd.spec.names.shortNames).toHaveLength(1);
      const cols = crd.spec.versions[0].additionalPrinterColumns.map((c: any) => c.name);
      expect(cols.slice(-3)).toEqual(['Ready', 'Reason', 'Age']);
      const schema = crd.spec.versions[0].schema.openAPIV3Schema;
      expect(JSON.stringify(schema)).not.toContain('"additionalProperties":false');
      expect(schema.properties.status.properties.conditions['x-kubernetes-list-map-keys']).toEqual(['type']);
    });
  }
});
