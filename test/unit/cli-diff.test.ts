import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readDefinitions } from '../../src/cli/definitions.ts';
import { diff, hasChanges, renderTable, type DiffReport } from '../../src/cli/diff.ts';
import { buildExport, toYaml, type Manifest } from '../../src/cli/export.ts';
import { inventoryFromDefinitions } from '../../src/cli/inventory.ts';
import { CLI_KINDS } from '../../src/cli/kinds/index.ts';
import { loadFiles } from '../../src/cli/manifests.ts';

const defs = readDefinitions(join(import.meta.dirname, '..', 'fixtures', 'definitions.json'));
const inv = inventoryFromDefinitions(defs, CLI_KINDS, 'broker test');
const SELECTION = { vhosts: [], include: [], exclude: [], ownUsers: ['warren-admin', 'guest'] };
const exported = buildExport(inv, CLI_KINDS, { ...SELECTION, brokerRef: 'local', deletionPolicy: 'Retain' });

/** The fixture's manifests (and Secrets), edited by `edit`, compared with the fixture's broker. */
function compare(edit: (docs: Manifest[]) => Manifest[] = (d) => d): DiffReport {
  const docs = edit(structuredClone([...exported.kinds.flatMap((k) => k.manifests), ...exported.secrets]));
  const dir = mkdtempSync(join(tmpdir(), 'warren-diff-'));
  writeFileSync(join(dir, 'all.yaml'), toYaml(docs));
  return diff(loadFiles([dir], CLI_KINDS, 'apps'), inv, CLI_KINDS, SELECTION);
}

const find = (docs: Manifest[], kind: string, name: string) =>
  docs.find((d) => d.kind === kind && d.metadata.name === name)!;
const row = (r: DiffReport, kind: string, name: string) =>
  r.rows.find((x) => x.kind === kind && x.name === name)!;

describe('warren diff', () => {
  it('finds nothing to do for the manifests the broker was exported to', () => {
    const r = compare();
    expect(r.summary).toEqual({
      create: 0,
      change: 0,
      refused: 0,
      conflict: 0,
      invalid: 0,
      unchanged: 41,
      unmanaged: 0,
    });
    expect(hasChanges(r)).toBe(false);
    expect(row(r, 'RabbitQueue', 'orders-created')).toEqual({
      action: 'unchanged',
      kind: 'RabbitQueue',
      namespace: 'apps',
      name: 'orders-created',
      object: "queue 'orders.created' in vhost 'orders'",
      changes: [],
      notes: [],
    });
  });

  it('reports each changed field through the kind that owns it', () => {
    const r = compare((docs) => {
      find(docs, 'RabbitVhost', 'orders').spec!.description = 'orders v2';
      find(docs, 'RabbitUser', 'reporting').spec!.tags = ['management'];
      find(docs, 'RabbitPermission', 'ops-orders').spec!.read = '^audit';
      find(docs, 'RabbitTopicPermission', 'orders-app-orders-events').spec!.write = '.*';
      find(docs, 'RabbitQueue', 'orders-retry').spec!.arguments = {
        'x-max-priority': 5,
        'x-max-length': 10000,
      };
      find(docs, 'RabbitExchange', 'events').spec!.type = 'direct';
      find(docs, 'RabbitPolicy', 'retry-ttl').spec!.priority = 7;
      find(docs, 'RabbitOperatorPolicy', 'cap').spec!.definition = { 'max-length': 5 };
      return docs;
    });
    const changes = Object.fromEntries(
      r.rows.filter((x) => x.action === 'change').map((x) => [`${x.kind} ${x.name}`, x.changes]),
    );
    expect(changes).toEqual({
      'RabbitVhost orders': [{ field: 'description', broker: 'order pipeline', spec: 'orders v2' }],
      'RabbitUser reporting': [{ field: 'tags', broker: ['management', 'reporting'], spec: ['management'] }],
      'RabbitPermission ops-orders': [{ field: 'read', broker: '.*', spec: '^audit' }],
      'RabbitTopicPermission orders-app-orders-events': [
        { field: 'write', broker: '^orders\\.', spec: '.*' },
      ],
      'RabbitPolicy retry-ttl': [{ field: 'priority', broker: 5, spec: 7 }],
      'RabbitOperatorPolicy cap': [
        {
          field: 'definition',
          broker: { 'delivery-limit': 50, 'max-length': 100000 },
          spec: { 'max-length': 5 },
        },
      ],
    });
    expect(r.summary.change).toBe(6);
    // What the broker cannot change on an existing queue or exchange is refused, not a change.
    expect(row(r, 'RabbitQueue', 'orders-retry')).toMatchObject({
      action: 'refused',
      changes: [
        {
          field: 'arguments',
          broker: { 'x-max-length': 10000, 'x-max-priority': 10 },
          spec: { 'x-max-length': 10000, 'x-max-priority': 5 },
        },
      ],
      notes: [
        "the broker cannot change arguments of an existing object (it refuses the declaration: inequivalent arg, warren would report Rejected; an argument it does not compare it keeps as it is): delete queue 'orders.retry' in vhost 'orders' and let warren declare it again, or declare what the broker has",
      ],
    });
    expect(row(r, 'RabbitExchange', 'events')).toMatchObject({
      action: 'refused',
      changes: [{ field: 'type', broker: 'topic', spec: 'direct' }],
    });
    expect(r.summary.refused).toBe(2);
    expect(hasChanges(r)).toBe(true);
  });

  it('refuses every field the kind pages declare immutable, and only those', () => {
    const r = compare((docs) => {
      const q = find(docs, 'RabbitQueue', 'invoices').spec!;
      q.durable = false;
      q.autoDelete = true;
      const x = find(docs, 'RabbitExchange', 'events').spec!;
      x.internal = true;
      x.durable = false;
      x.autoDelete = true;
      x.arguments = { 'alternate-exchange': 'unrouted' };
      return docs;
    });
    expect(row(r, 'RabbitQueue', 'invoices').action).toBe('refused');
    expect(row(r, 'RabbitQueue', 'invoices').changes.map((c) => c.field)).toEqual(['durable', 'autoDelete']);
    expect(row(r, 'RabbitExchange', 'events').changes.map((c) => c.field)).toEqual([
      'durable',
      'autoDelete',
      'internal',
      'arguments',
    ]);
    expect(row(r, 'RabbitExchange', 'events').action).toBe('refused');
    expect(r.summary).toMatchObject({ refused: 2, change: 0 });
  });

  it('reports new objects as creates, and broker objects no resource declares as left alone', () => {
    const r = compare((docs) => [
      ...docs.filter((d) => !(d.kind === 'RabbitQueue' && d.metadata.name === 'audit')),
      {
        apiVersion: 'warren.dev/v1alpha1',
        kind: 'RabbitQueue',
        metadata: { name: 'new' },
        spec: { brokerRef: { name: 'local' }, vhost: 'orders' },
      },
      // A binding with another key is another binding.
      {
        apiVersion: 'warren.dev/v1alpha1',
        kind: 'RabbitBinding',
        metadata: { name: 'b2' },
        spec: {
          brokerRef: { name: 'local' },
          vhost: 'orders',
          source: 'events',
          destination: 'audit',
          routingKey: 'x',
        },
      },
    ]);
    expect(r.rows.filter((x) => x.action === 'create').map((x) => x.object)).toEqual([
      "queue 'new' in vhost 'orders'",
      "binding from exchange 'events' to queue 'audit' with key 'x' in vhost 'orders'",
    ]);
    expect(r.unmanaged).toEqual([{ kind: 'RabbitQueue', object: "queue 'audit' in vhost 'orders'" }]);
  });

  it('compares passwords with the Secrets given, never showing them', () => {
    const r = compare((docs) => {
      // orders-app's hash is RabbitMQ's documented example: password test12.
      find(docs, 'Secret', 'orders-app-credentials').stringData = { password: 'test12' };
      find(docs, 'Secret', 'reporting-credentials').stringData = { password: 'wrong' };
      // billing-service's Secret is not given; ops loses passwordless (warren would generate one).
      const others = docs.filter((d) => d.metadata.name !== 'billing-service-credentials');
      delete find(others, 'RabbitUser', 'ops').spec!.passwordless;
      return others;
    });
    expect(row(r, 'RabbitUser', 'orders-app').action).toBe('unchanged');
    expect(row(r, 'RabbitUser', 'reporting').changes).toEqual([
      { field: 'password', broker: '(another)', spec: '(from Secret reporting-credentials)' },
    ]);
    expect(row(r, 'RabbitUser', 'billing-service')).toMatchObject({
      action: 'unchanged',
      notes: ['password not compared: Secret apps/billing-service-credentials not given'],
    });
    expect(row(r, 'RabbitUser', 'ops').changes).toEqual([
      { field: 'password', broker: '(another)', spec: '(generated into Secret ops-user-credentials)' },
    ]);
    expect(JSON.stringify(r)).not.toMatch(/test12|wrong|kI3GCq/);
  });

  it("does not read a password from someone else's Secret of the generated name", () => {
    const withSecret = (labels: Record<string, string> | undefined) =>
      compare((docs) => {
        delete find(docs, 'RabbitUser', 'ops').spec!.passwordless;
        const secret = {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'ops-user-credentials', ...(labels ? { labels } : {}) },
          stringData: { username: 'ops', password: 'someone-elses-secret' },
        };
        return [...docs, secret as unknown as Manifest];
      });
    expect(row(withSecret(undefined), 'RabbitUser', 'ops')).toMatchObject({
      changes: [],
      notes: [
        'password not compared: Secret apps/ops-user-credentials was not made by warren, which will not use it',
      ],
    });
    // warren's own generated Secret is compared (ops is passwordless in the broker: another password).
    expect(
      row(withSecret({ 'app.kubernetes.io/managed-by': 'warren' }), 'RabbitUser', 'ops').changes,
    ).toEqual([{ field: 'password', broker: '(another)', spec: '(from Secret ops-user-credentials)' }]);
  });

  it('reports a second declaration of one object as a conflict, and a spec the schema refuses as invalid', () => {
    const r = compare((docs) => [
      ...docs,
      {
        apiVersion: 'warren.dev/v1alpha1',
        kind: 'RabbitQueue',
        metadata: { name: 'zz-invoices-again' },
        spec: { brokerRef: { name: 'local' }, vhost: 'billing/eu', name: 'invoices', type: 'classic' },
      },
      {
        apiVersion: 'warren.dev/v1alpha1',
        kind: 'RabbitQueue',
        metadata: { name: 'bad' },
        spec: { brokerRef: { name: 'local' }, type: 'lazy' },
      },
    ]);
    expect(row(r, 'RabbitQueue', 'zz-invoices-again')).toMatchObject({
      action: 'conflict',
      notes: ['apps/invoices declares the same object and owns it (Conflict)'],
    });
    expect(row(r, 'RabbitQueue', 'bad').action).toBe('invalid');
    expect(row(r, 'RabbitQueue', 'bad').notes).toEqual([
      'the API server would refuse it (422): spec.type: Unsupported value: supported values: "classic", "quorum", "stream"',
    ]);
    // What needs attention comes first.
    expect(r.rows.map((x) => x.action).indexOf('unchanged')).toBe(2);
  });

  it('says invalid for what the API server refuses: an unknown field (400), a CEL rule, a bound (422)', () => {
    const q = (name: string, spec: Record<string, unknown>): Manifest => ({
      apiVersion: 'warren.dev/v1alpha1',
      kind: 'RabbitQueue',
      metadata: { name },
      spec: { brokerRef: { name: 'local' }, vhost: 'orders', ...spec },
    });
    const r = compare((docs) => [
      ...docs,
      q('misspelt', { durabel: true }),
      q('transient-quorum', { type: 'quorum', durable: false }),
      q('long', { name: 'x'.repeat(256) }),
      q('Upper', {}),
      q('fine', { type: 'quorum' }),
    ]);
    const notes = (name: string) => [
      row(r, 'RabbitQueue', name).action,
      ...row(r, 'RabbitQueue', name).notes,
    ];
    expect(notes('misspelt')).toEqual([
      'invalid',
      'the API server would refuse it (400): unknown field "spec.durabel"',
    ]);
    expect(notes('transient-quorum')).toEqual([
      'invalid',
      'the API server would refuse it (422): spec: Invalid value: quorum queues and streams must be durable and not autoDelete',
    ]);
    expect(notes('long')).toEqual([
      'invalid',
      'the API server would refuse it (422): spec.name: Invalid value: must NOT have more than 255 characters',
    ]);
    expect(notes('Upper')[1]).toMatch(
      /^the API server would refuse it \(422\): metadata\.name: Invalid value: "Upper"/,
    );
    expect(notes('fine')).toEqual(['create']);
    expect(r.summary.invalid).toBe(4);
  });

  it('prints a table for people', () => {
    const r = compare((docs) => {
      find(docs, 'RabbitPolicy', 'retry-ttl').spec!.priority = 7;
      return docs.filter((d) => !(d.kind === 'RabbitQueue' && d.metadata.name === 'audit'));
    });
    const lines = renderTable(r).split('\n');
    expect(lines[0]).toMatch(/^ACTION +KIND +RESOURCE +BROKER OBJECT +DETAILS$/);
    expect(lines[1]).toMatch(
      /^change +RabbitPolicy +apps\/retry-ttl +policy 'retry-ttl' in vhost 'orders' +priority: 5 -> 7$/,
    );
    expect(lines).toContain('0 to create, 1 to change, 39 unchanged (broker test)');
    expect(lines).toContain('1 broker objects no resource declares (warren leaves them alone):');
    expect(lines).toContain("  queue 'audit' in vhost 'orders'");
  });
});
