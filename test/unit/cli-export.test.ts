import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { checkDefinitions, readDefinitions, type Definitions } from '../../src/cli/definitions.ts';
import { diff } from '../../src/cli/diff.ts';
import { buildExport, writeExport, type ExportOptions, type Manifest } from '../../src/cli/export.ts';
import { inventoryFromDefinitions, MemoryInventory } from '../../src/cli/inventory.ts';
import { CLI_KINDS } from '../../src/cli/kinds/index.ts';
import type { CliKind } from '../../src/cli/types.ts';
import { loadFiles } from '../../src/cli/manifests.ts';
import { bindingsTable } from '../../src/kinds/binding.ts';
import { TOPOLOGY_KINDS } from '../../src/kinds/index.ts';
import { operatorPoliciesTable } from '../../src/kinds/policy.ts';
import { queuesTable } from '../../src/kinds/queue.ts';
import { vhostsTable } from '../../src/kinds/vhost.ts';
import { capabilities } from '../../src/rabbitmq/index.ts';

const FIXTURE = join(import.meta.dirname, '..', 'fixtures', 'definitions.json');
const fixture = () => readDefinitions(FIXTURE);
const OPTS: ExportOptions = {
  brokerRef: 'local',
  deletionPolicy: 'Retain',
  vhosts: [],
  include: [],
  exclude: [],
  ownUsers: ['warren-admin', 'guest'],
};

const exportOf = (defs: Definitions, opts: Partial<ExportOptions> = {}) =>
  buildExport(inventoryFromDefinitions(defs, CLI_KINDS, 'test'), CLI_KINDS, { ...OPTS, ...opts });

function docsOf(res: ReturnType<typeof buildExport>, kind: string): Manifest[] {
  return res.kinds.find((k) => k.cli.kind.def.kind === kind)?.manifests ?? [];
}
const named = (res: ReturnType<typeof buildExport>, kind: string, name: string) =>
  docsOf(res, kind).find((d) => d.metadata.name === name);

const tmp = () => mkdtempSync(join(tmpdir(), 'warren-cli-'));

describe('the kinds the command knows', () => {
  it('are every topology kind, in the same order', () => {
    expect(CLI_KINDS.map((k) => k.kind)).toEqual(TOPOLOGY_KINDS);
  });
});

describe('warren export from a definitions file', () => {
  it('writes every object of the realistic file, as the kinds declare them, defaults left out', () => {
    const res = exportOf(fixture());
    const counts = Object.fromEntries(res.kinds.map((k) => [k.cli.kind.def.kind, k.manifests.length]));
    expect(counts).toEqual({
      RabbitVhost: 3,
      RabbitUser: 4,
      RabbitPermission: 5,
      RabbitTopicPermission: 2,
      RabbitQueue: 7,
      RabbitExchange: 5,
      RabbitBinding: 9,
      RabbitPolicy: 2,
      RabbitOperatorPolicy: 1,
      RabbitShovel: 1,
      RabbitFederation: 1,
      RabbitFederationUpstreamSet: 1,
    });
    expect(res.left).toEqual([]);
    expect(named(res, 'RabbitVhost', 'orders')!.spec).toEqual({
      brokerRef: { name: 'local' },
      description: 'order pipeline',
      tags: ['prod', 'team-a'],
      defaultQueueType: 'quorum',
      limits: { maxConnections: 100, maxQueues: 500 },
      deletionPolicy: 'Retain',
    });
    expect(named(res, 'RabbitVhost', 'billing-eu')!.spec).toMatchObject({
      name: 'billing/eu',
      description: 'EU invoicing',
    });
    expect(named(res, 'RabbitUser', 'reporting')!.spec).toEqual({
      brokerRef: { name: 'local' },
      tags: ['management', 'reporting'], // a comma-separated string in the file
      limits: { maxConnections: 2 },
      credentialsSecretRef: { name: 'reporting-credentials' },
      deletionPolicy: 'Retain',
    });
    expect(named(res, 'RabbitUser', 'ops')!.spec).toMatchObject({ passwordless: true });
    expect(named(res, 'RabbitUser', 'ops')!.spec).not.toHaveProperty('credentialsSecretRef');
    expect(named(res, 'RabbitUser', 'billing-service')!.spec).toMatchObject({ username: 'Billing.Service' });
    expect(named(res, 'RabbitQueue', 'orders-created')!.spec).toEqual({
      brokerRef: { name: 'local' },
      name: 'orders.created',
      vhost: 'orders',
      type: 'quorum',
      arguments: { 'x-dead-letter-exchange': 'dead-letters', 'x-delivery-limit': 5 },
      deletionPolicy: 'Retain',
    });
    // The same queue name in two vhosts: told apart by the vhost.
    expect(named(res, 'RabbitQueue', 'orders-dead-letters')!.spec).toMatchObject({ vhost: 'orders' });
    expect(named(res, 'RabbitQueue', 'billing-eu-dead-letters')!.spec).toMatchObject({ vhost: 'billing/eu' });
    expect(named(res, 'RabbitExchange', 'orders-internal')!.spec).toEqual({
      brokerRef: { name: 'local' },
      name: 'orders.internal',
      vhost: 'orders',
      internal: true, // type direct, durable, not autoDelete: the schema's defaults
      arguments: { 'alternate-exchange': 'dead-letters' },
      deletionPolicy: 'Retain',
    });
    const headers = docsOf(res, 'RabbitBinding').find((d) => d.spec!.source === 'by-region')!;
    expect(headers.spec).toEqual({
      brokerRef: { name: 'local' },
      vhost: 'billing/eu',
      source: 'by-region',
      destination: 'invoices',
      arguments: { region: 'eu', 'x-match': 'all' },
      deletionPolicy: 'Retain',
    });
    expect(named(res, 'RabbitPolicy', 'dlx')!.spec).toEqual({
      brokerRef: { name: 'local' },
      vhost: 'billing/eu',
      pattern: '.*',
      definition: { 'dead-letter-exchange': 'dead-letters' },
      deletionPolicy: 'Retain',
    });
    expect(named(res, 'RabbitOperatorPolicy', 'cap')!.spec).toEqual({
      brokerRef: { name: 'local' },
      vhost: 'orders',
      pattern: '.*',
      definition: { 'delivery-limit': 50, 'max-length': 100000 },
      deletionPolicy: 'Retain',
    });
  });

  it('keeps credentials out of the manifests: one Secret per user with a password, per shovel and upstream', () => {
    const res = exportOf(fixture());
    const text = JSON.stringify(res.kinds.flatMap((k) => k.manifests));
    expect(text).not.toMatch(/kI3GCqW5|password_hash|passwordHash|fed-s3cret|amqps?:/);
    expect(res.secrets.map((s) => s.metadata.name)).toEqual([
      'billing-service-credentials',
      'central-upstream-uri',
      'dead-letters-to-analytics-shovel-uris',
      'orders-app-credentials',
      'reporting-credentials',
    ]);
    expect(res.secrets[0]).toEqual({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'billing-service-credentials' },
      type: 'Opaque',
      stringData: {
        passwordHash: fixture().users![1]!.password_hash,
        hashingAlgorithm: 'rabbit_password_hashing_sha512',
      },
    });
  });

  it('gives manifests every kind accepts, whose identities are the broker objects exported', () => {
    const res = exportOf(fixture(), { namespace: 'apps' });
    for (const { cli, manifests } of res.kinds) {
      for (const m of manifests) {
        const parsed = cli.kind.def.spec.safeParse(m.spec);
        expect(parsed.success, `${m.kind} ${m.metadata.name}`).toBe(true);
        expect(m.metadata).toEqual({ name: m.metadata.name, namespace: 'apps' });
        expect(m.metadata.name).toMatch(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/);
      }
    }
    // Compared back with the file they came from, through the kinds' own logic: nothing to do.
    const dir = tmp();
    writeExport(res, join(dir, 'out'), { credentialsDir: join(dir, 'creds'), force: false });
    const loaded = loadFiles([join(dir, 'out'), join(dir, 'creds')], CLI_KINDS, 'apps');
    const inv = inventoryFromDefinitions(fixture(), CLI_KINDS, 'file');
    const report = diff(loaded, inv, CLI_KINDS, OPTS);
    expect(report.rows.filter((r) => r.action !== 'unchanged' || r.notes.length)).toEqual([]);
    expect(report.summary.unchanged).toBe(41);
    expect(report.unmanaged).toEqual([]);
  });

  it('reads the 3.10 and 4.x shapes of a file the same way', () => {
    const modern = checkDefinitions(
      {
        users: [
          {
            name: 'u',
            password_hash: 'abc',
            hashing_algorithm: 'rabbit_password_hashing_sha256',
            tags: ['a', 'b'],
            limits: {},
          },
        ],
        vhosts: [{ name: 'v', description: 'd', tags: ['t'], default_queue_type: 'quorum' }],
        parameters: [{ vhost: 'v', component: 'vhost-limits', name: 'limits', value: { 'max-queues': 5 } }],
        queues: [],
      },
      'x',
    );
    const v43 = checkDefinitions(
      {
        users: [
          {
            name: 'u',
            password_hash: 'abc',
            hashing_algorithm: 'rabbit_password_hashing_sha256',
            tags: 'a,b',
            limits: {},
          },
        ],
        vhosts: [
          {
            name: 'v',
            limits: { 'max-queues': 5 },
            metadata: { description: 'd', tags: ['t'], default_queue_type: 'quorum' },
          },
        ],
      },
      'x',
    );
    expect(exportOf(v43)).toEqual(exportOf(modern));
    // 3.10 exports a vhost as its name only: its description cannot be recovered from the file.
    const v310 = checkDefinitions({ vhosts: [{ name: 'v' }] }, 'x');
    expect(named(exportOf(v310), 'RabbitVhost', 'v')!.spec).toEqual({
      brokerRef: { name: 'local' },
      deletionPolicy: 'Retain',
    });
  });

  it('refuses what is not a broker-wide definitions document', () => {
    expect(() => checkDefinitions({ foo: 1 }, 'f.json')).toThrow(/not a RabbitMQ definitions document/);
    expect(() => checkDefinitions({ queues: [{ name: 'q', durable: true }] }, 'f.json')).toThrow(
      /one vhost's export/,
    );
    const dir = tmp();
    writeFileSync(join(dir, 'bad.json'), '{');
    expect(() => readDefinitions(join(dir, 'bad.json'))).toThrow(/not JSON/);
  });

  it('with deletionPolicy Delete, leaves the field out (the default)', () => {
    const res = exportOf(fixture(), { deletionPolicy: 'Delete', brokerRef: 'prod' });
    for (const m of res.kinds.flatMap((k) => k.manifests)) {
      expect(m.spec).not.toHaveProperty('deletionPolicy');
      expect(m.spec!.brokerRef).toEqual({ name: 'prod' });
    }
  });
});

describe('warren export of what only a live broker shows', () => {
  function live() {
    const inv = new MemoryInventory('broker', capabilities('4.0.5'));
    const vhost = (name: string, extra = {}) =>
      inv.add(vhostsTable, [name], {
        name,
        description: '',
        tags: [],
        tracing: false,
        default_queue_type: 'classic',
        ...extra,
      });
    vhost('app', { tracing: true });
    vhost('vault', { protected_from_deletion: true });
    const queue = (name: string, extra = {}) =>
      inv.add(queuesTable, ['app', name], {
        name,
        vhost: 'app',
        durable: true,
        auto_delete: false,
        exclusive: false,
        type: 'classic',
        arguments: { 'x-queue-type': 'classic' },
        ...extra,
      });
    queue('work');
    queue('reply-7', { exclusive: true, durable: false, auto_delete: true });
    queue('amq.gen-Xy12', { durable: false });
    queue('mqtt-subscription-x', { type: 'rabbit_mqtt_qos0_queue' });
    const bind = (destination: string) => {
      const b = {
        vhost: 'app',
        source: 'amq.direct',
        destination,
        destination_type: 'queue' as const,
        routing_key: destination,
        arguments: {},
        properties_key: destination,
      };
      inv.add(bindingsTable, ['app', b.source, 'queue', destination, destination, '{}'], b);
    };
    bind('work');
    bind('reply-7');
    return inv;
  }

  it('leaves out what belongs to connections or the broker, and what needs them', () => {
    const res = buildExport(live(), CLI_KINDS, OPTS);
    expect(docsOf(res, 'RabbitVhost')[0]!.spec).toEqual({
      brokerRef: { name: 'local' },
      tracing: true, // classic, reported by 4.x for every vhost, is left out
      deletionPolicy: 'Retain',
    });
    // Protected from deletion in the broker (4.1+): declared so.
    expect(docsOf(res, 'RabbitVhost')[1]!.spec).toEqual({
      brokerRef: { name: 'local' },
      deletionProtection: true,
      deletionPolicy: 'Retain',
    });
    expect(docsOf(res, 'RabbitQueue').map((d) => d.metadata.name)).toEqual(['work']);
    expect(docsOf(res, 'RabbitQueue')[0]!.spec).toEqual({
      brokerRef: { name: 'local' },
      vhost: 'app',
      type: 'classic',
      deletionPolicy: 'Retain',
    });
    expect(docsOf(res, 'RabbitBinding').map((d) => d.spec!.destination)).toEqual(['work']);
    const reasons = Object.fromEntries(res.left.map((l) => [l.c.describe, l.reason]));
    expect(reasons).toEqual({
      "queue 'reply-7' in vhost 'app'": 'exclusive: it belongs to the connection that declared it',
      "queue 'amq.gen-Xy12' in vhost 'app'":
        "server-named ('amq.' names are the broker's): warren cannot declare it",
      "queue 'mqtt-subscription-x' in vhost 'app'":
        "type 'rabbit_mqtt_qos0_queue': not one warren declares (classic, quorum, stream)",
      "binding from exchange 'amq.direct' to queue 'reply-7' with key 'reply-7' in vhost 'app'":
        "needs queue 'reply-7' in vhost 'app', which is left out",
    });
  });

  it("leaves out an object its kind's schema refuses, saying why", () => {
    const inv = live();
    inv.add(operatorPoliciesTable, ['app', 'wide'], {
      vhost: 'app',
      name: 'wide',
      pattern: '.*',
      definition: { 'max-length': 1 },
      priority: 0,
      'apply-to': 'exchanges',
    });
    const res = buildExport(inv, CLI_KINDS, OPTS);
    expect(docsOf(res, 'RabbitOperatorPolicy')).toEqual([]);
    expect(res.left.find((l) => l.c.word === 'operatorpolicy')!.reason).toMatch(
      /^not valid as a RabbitOperatorPolicy \(spec\.applyTo: /,
    );
  });
});

describe('a kind that exports objects on behalf of others', () => {
  it('claims them: the other kinds leave them out', () => {
    // As a super stream would claim its exchange and partition queues.
    const bundle: CliKind = {
      ...CLI_KINDS.find((k) => k.kind.def.kind === 'RabbitExchange')!,
      claims: () => [
        ['queue', 'orders', 'audit'],
        ['exchange', 'orders', 'events'],
      ],
      export: () => [],
    };
    const kinds = CLI_KINDS.map((k) => (k.kind.def.kind === 'RabbitExchange' ? bundle : k));
    const res = buildExport(inventoryFromDefinitions(fixture(), kinds, 'test'), kinds, OPTS);
    expect(named(res, 'RabbitQueue', 'audit')).toBeUndefined();
    expect(res.left.map((l) => [l.c.describe, l.reason])).toContainEqual([
      "queue 'audit' in vhost 'orders'",
      'exported as part of a RabbitExchange',
    ]);
  });
});

describe('writing the export', () => {
  it('writes one file per kind and a kustomization.yaml; Secrets apart, owner-only', () => {
    const dir = tmp();
    const out = join(dir, 'out');
    const creds = join(dir, 'out-credentials');
    writeExport(exportOf(fixture(), { namespace: 'apps' }), out, {
      credentialsDir: creds,
      force: false,
      namespace: 'apps',
    });
    expect(readdirSync(out).sort()).toEqual([
      'bindings.yaml',
      'exchanges.yaml',
      'federations.yaml',
      'federationupstreamsets.yaml',
      'kustomization.yaml',
      'operatorpolicies.yaml',
      'permissions.yaml',
      'policies.yaml',
      'queues.yaml',
      'shovels.yaml',
      'topicpermissions.yaml',
      'users.yaml',
      'vhosts.yaml',
    ]);
    const kustomization = parseAllDocuments(readFileSync(join(out, 'kustomization.yaml'), 'utf8'))[0]!.toJS();
    expect(kustomization).toEqual({
      apiVersion: 'kustomize.config.k8s.io/v1beta1',
      kind: 'Kustomization',
      namespace: 'apps',
      resources: [
        'vhosts.yaml',
        'users.yaml',
        'permissions.yaml',
        'topicpermissions.yaml',
        'queues.yaml',
        'exchanges.yaml',
        'bindings.yaml',
        'policies.yaml',
        'operatorpolicies.yaml',
        'shovels.yaml',
        'federations.yaml',
        'federationupstreamsets.yaml',
      ],
    });
    const queues = parseAllDocuments(readFileSync(join(out, 'queues.yaml'), 'utf8')).map((d) => d.toJS());
    expect(queues).toHaveLength(7);
    expect(statSync(creds).mode & 0o777).toBe(0o700);
    for (const f of readdirSync(creds)) expect(statSync(join(creds, f)).mode & 0o777).toBe(0o600);
    expect(readdirSync(creds).sort()).toEqual([
      'billing-service-credentials.yaml',
      'central-upstream-uri.yaml',
      'dead-letters-to-analytics-shovel-uris.yaml',
      'kustomization.yaml',
      'orders-app-credentials.yaml',
      'reporting-credentials.yaml',
    ]);
    // Nothing secret in the manifests' directory.
    for (const f of readdirSync(out))
      expect(readFileSync(join(out, f), 'utf8')).not.toMatch(/passwordHash|fed-s3cret|amqps?:/);
  });

  it('quotes strings YAML 1.1 would read as booleans or numbers', () => {
    const defs = checkDefinitions(
      {
        vhosts: [{ name: 'v' }],
        queues: [
          {
            name: 'q',
            vhost: 'v',
            durable: true,
            auto_delete: false,
            arguments: {
              'x-queue-type': 'classic',
              'x-dead-letter-exchange': 'on',
              'x-dead-letter-routing-key': '0x10',
            },
          },
        ],
      },
      'x',
    );
    const dir = tmp();
    writeExport(exportOf(defs), join(dir, 'out'), { force: false });
    const text = readFileSync(join(dir, 'out', 'queues.yaml'), 'utf8');
    expect(text).toContain('x-dead-letter-exchange: "on"');
    expect(text).toContain('x-dead-letter-routing-key: "0x10"');
  });

  it('refuses a directory that holds files unless forced, then replaces its YAML files', () => {
    const dir = tmp();
    writeFileSync(join(dir, 'old.yaml'), 'x: 1\n');
    writeFileSync(join(dir, 'notes.txt'), 'keep\n');
    expect(() => writeExport(exportOf(fixture()), dir, { force: false })).toThrow(/not empty/);
    writeExport(exportOf(fixture()), dir, { force: true });
    expect(readdirSync(dir)).not.toContain('old.yaml');
    expect(readdirSync(dir)).toContain('notes.txt');
  });

  it('with no credentials directory, writes no Secrets and the users still name theirs', () => {
    const dir = tmp();
    const res = exportOf(fixture());
    const files = writeExport(res, join(dir, 'out'), { force: false });
    expect(files.some((f) => f.includes('credentials'))).toBe(false);
    expect(named(res, 'RabbitUser', 'orders-app')!.spec!.credentialsSecretRef).toEqual({
      name: 'orders-app-credentials',
    });
  });
});
