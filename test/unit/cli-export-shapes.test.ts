import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readDefinitions } from '../../src/cli/definitions.ts';
import { diff } from '../../src/cli/diff.ts';
import { buildExport, toYaml, type ExportResult, type Manifest } from '../../src/cli/export.ts';
import { inventoryFromDefinitions } from '../../src/cli/inventory.ts';
import { CLI_KINDS } from '../../src/cli/kinds/index.ts';
import { loadFiles } from '../../src/cli/manifests.ts';
import { validate } from '../../src/cli/validate.ts';
import { ALL_KINDS } from '../../src/kinds/index.ts';

// Definitions files in the shapes found in the wild: a 3.5-era export (MD5 hashes without
// hashing_algorithm, tags as one comma string, policies without apply-to or priority, bindings
// and a permission naming objects the file never declares), a 4.x export (operator policies as
// runtime parameters whose value is a list of [key, value] pairs, a hash without an algorithm,
// limits as pairs) and a management UI download (global parameters, limits as a parameter).
const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const SELECTION = { vhosts: [], include: [], exclude: [], ownUsers: ['guest'] };
const OPTS = { ...SELECTION, brokerRef: 'local', namespace: 'apps', deletionPolicy: 'Delete' as const };

function exportOf(file: string) {
  const inv = inventoryFromDefinitions(readDefinitions(join(FIXTURES, file)), CLI_KINDS, `file ${file}`);
  return { inv, res: buildExport(inv, CLI_KINDS, OPTS) };
}

const manifests = (res: ExportResult) => res.kinds.flatMap((k) => k.manifests);
const specOf = (res: ExportResult, kind: string, name: string) =>
  manifests(res).find((m) => m.kind === kind && m.metadata.name === name)?.spec;
const secretOf = (res: ExportResult, name: string) =>
  res.secrets.find((s) => s.metadata.name === name)?.stringData;
const leftOut = (res: ExportResult) => Object.fromEntries(res.left.map((l) => [l.c.describe, l.reason]));

/** What diff says of the exported manifests against the very file: nothing to do, all valid. */
function selfDiff(file: string) {
  const { inv, res } = exportOf(file);
  const dir = mkdtempSync(join(tmpdir(), 'warren-shapes-'));
  writeFileSync(join(dir, 'all.yaml'), toYaml([...manifests(res), ...res.secrets]));
  return diff(loadFiles([dir], CLI_KINDS, 'apps'), inv, CLI_KINDS, SELECTION);
}

const FILES = ['definitions-3.5-era.json', 'definitions-4.x.json', 'definitions-management-ui.json'];

describe('warren export of definitions in the shapes found in the wild', () => {
  it.each(FILES)('%s: every manifest passes the API server checks, offline', (file) => {
    const { res } = exportOf(file);
    expect(manifests(res).length).toBeGreaterThan(8);
    for (const m of manifests(res)) {
      const def = ALL_KINDS.find((k) => k.kind === m.kind)!;
      expect(validate(def, m as Manifest).violations, `${m.kind} ${m.metadata.name}`).toEqual([]);
    }
  });

  it.each(FILES)('%s: diff of its manifests against the file finds nothing to do', (file) => {
    const r = selfDiff(file);
    expect(r.rows.filter((x) => x.action !== 'unchanged')).toEqual([]);
    expect(r.summary.unchanged).toBe(exportOf(file).res.kinds.flatMap((k) => k.manifests).length);
  });

  it('3.5 era: MD5 hashes without hashing_algorithm keep MD5, tags in one comma string become a list', () => {
    const { res } = exportOf('definitions-3.5-era.json');
    expect(secretOf(res, 'legacy-admin-credentials')).toEqual({
      passwordHash: 'YWRtMYXh9GRhJlkyCrb8VwbAucI=',
      hashingAlgorithm: 'rabbit_password_hashing_md5',
    });
    expect(secretOf(res, 'legacy-worker-credentials')?.hashingAlgorithm).toBe('rabbit_password_hashing_md5');
    expect(specOf(res, 'RabbitUser', 'legacy-admin')).toMatchObject({
      tags: ['administrator', 'management'],
    });
    expect(specOf(res, 'RabbitUser', 'legacy-worker')?.tags).toBeUndefined();
    // No apply-to, no priority: the broker's defaults (all, 0), which are the schema's too.
    expect(specOf(res, 'RabbitPolicy', 'render-ttl')).toEqual({
      brokerRef: { name: 'local' },
      vhost: 'legacy',
      pattern: '^render$',
      definition: { 'message-ttl': 60000 },
    });
    expect(specOf(res, 'RabbitPolicy', 'dlx')).toMatchObject({ priority: 2 });
  });

  it('3.5 era: what names objects the file never declares is left out, saying why; amq.* is every vhost’s', () => {
    const { res } = exportOf('definitions-3.5-era.json');
    expect(leftOut(res)).toEqual({
      "binding from exchange 'render' to queue 'thumbnails' with key '#.thumb' in vhost 'legacy'":
        "needs queue 'thumbnails' in vhost 'legacy', which the file definitions-3.5-era.json does not have (warren would wait for it: WaitingForDependency)",
      "binding from exchange 'uploads' to exchange 'render' in vhost 'legacy'":
        "needs exchange 'uploads' in vhost 'legacy', which the file definitions-3.5-era.json does not have (warren would wait for it: WaitingForDependency)",
      "permission of user 'gone-user' in vhost 'legacy'":
        "needs user 'gone-user', which the file definitions-3.5-era.json does not have (warren would wait for it: WaitingForDependency)",
    });
    const bindings = manifests(res).filter((m) => m.kind === 'RabbitBinding');
    expect(bindings.map((b) => [b.spec!.source, b.spec!.destination])).toEqual([
      ['amq.topic', 'delay'],
      ['render', 'render'],
    ]);
  });

  it('4.x: operator policies from runtime parameters, their value (and definition) as [key, value] pairs', () => {
    const { res } = exportOf('definitions-4.x.json');
    expect(specOf(res, 'RabbitOperatorPolicy', 'cap-length')).toEqual({
      brokerRef: { name: 'local' },
      vhost: 'shipping',
      pattern: '^parcels\\.',
      priority: 1,
      definition: { 'max-length': 50000, overflow: 'reject-publish' },
    });
    // Without apply-to: queues (operator policies apply to nothing else), the schema's default.
    expect(specOf(res, 'RabbitOperatorPolicy', 'cap-bytes')).toEqual({
      brokerRef: { name: 'local' },
      vhost: 'shipping',
      pattern: '.*',
      definition: { 'max-length-bytes': 104857600 },
    });
    // Limits as pairs, too.
    expect(specOf(res, 'RabbitVhost', 'shipping')).toMatchObject({ limits: { maxQueues: 200 } });
  });

  it('4.x: a hash without hashing_algorithm is SHA-256 (the default since 3.6), named in its Secret', () => {
    const { res } = exportOf('definitions-4.x.json');
    expect(secretOf(res, 'shipping-reports-credentials')).toEqual({
      passwordHash: 'cmVwMZeGLL5HV4YVVgnRwEVwMyJtQLAV4vhcSCM8qIJVeLsm',
      hashingAlgorithm: 'rabbit_password_hashing_sha256',
    });
    expect(specOf(res, 'RabbitUser', 'shipping-reports')).toMatchObject({
      tags: ['monitoring', 'management'],
    });
    expect(specOf(res, 'RabbitUser', 'shipping-app')).toMatchObject({ limits: { maxConnections: 10 } });
  });

  it('management UI download: global parameters are not topology, limits come from vhost-limits', () => {
    const { res } = exportOf('definitions-management-ui.json');
    expect(res.kinds.map((k) => k.cli.kind.def.kind)).toEqual([
      'RabbitVhost',
      'RabbitUser',
      'RabbitPermission',
      'RabbitQueue',
      'RabbitExchange',
      'RabbitBinding',
      'RabbitPolicy',
    ]);
    expect(specOf(res, 'RabbitVhost', 'ui-shop')).toMatchObject({ limits: { maxConnections: 50 } });
    expect(specOf(res, 'RabbitExchange', 'cart')).toMatchObject({
      arguments: { 'alternate-exchange': 'amq.fanout' },
    });
    expect(Object.values(leftOut(res))).toEqual([
      "needs queue 'cart.abandoned' in vhost 'ui-shop', which the file definitions-management-ui.json does not have (warren would wait for it: WaitingForDependency)",
    ]);
  });
});
