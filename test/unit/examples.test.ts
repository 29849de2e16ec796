import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../src/api/deploy.ts';
import { ALL_KINDS } from '../../src/kinds/index.ts';

// Every warren.dev document under examples/ is valid against its kind's schema (the CRDs are
// generated from the same schemas; examples applied in integration tests are checked there too).
const files = (dir: string): string[] =>
  readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.yaml') ? [p] : [];
  });

const docs = files(join(ROOT, 'examples')).flatMap((f) =>
  parseAllDocuments(readFileSync(f, 'utf8'))
    .map((d) => d.toJS())
    .filter((d) => d?.apiVersion?.startsWith('warren.dev/'))
    .map((d) => [`${relative(ROOT, f)} ${d.kind}/${d.metadata.name}`, d] as const),
);

describe('examples/', () => {
  it('has the broker examples', () => {
    const names = docs.map(([n]) => n);
    for (const f of [
      'examples/brokers/tls.yaml',
      'examples/brokers/rabbitmqcluster.yaml',
      'examples/tenants/00-broker.yaml',
    ])
      expect(names.some((n) => n.startsWith(f))).toBe(true);
  });
  it('has a tenant quota line for every kind a tenant may declare', () => {
    const quota = parseAllDocuments(
      readFileSync(join(ROOT, 'examples/tenants/05-quota.yaml'), 'utf8'),
    )[0]!.toJS();
    const hard = Object.keys(quota.spec.hard);
    for (const k of ALL_KINDS.filter((k) => k.kind !== 'RabbitBroker'))
      expect(hard).toContain(`count/${k.plural}.warren.dev`);
  });
  it.each(docs)('%s matches its schema', (_name, d) => {
    const kind = ALL_KINDS.find((k) => k.kind === d.kind);
    expect(kind, d.kind).toBeDefined();
    const r = kind!.spec.safeParse(d.spec);
    expect(r.success ? '' : JSON.stringify(r.error.issues)).toBe('');
  });
});
