import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RabbitFederation } from '../../src/api/federation.ts';
import { RabbitShovel } from '../../src/api/shovel.ts';
import { checkDefinitions, readDefinitions, type Definitions } from '../../src/cli/definitions.ts';
import { diff, type DiffReport } from '../../src/cli/diff.ts';
import { buildExport, toYaml, type ExportOptions, type Manifest } from '../../src/cli/export.ts';
import { inventoryFromDefinitions, MemoryInventory } from '../../src/cli/inventory.ts';
import { CLI_KINDS } from '../../src/cli/kinds/index.ts';
import { loadFiles } from '../../src/cli/manifests.ts';
import type { Inventory } from '../../src/cli/types.ts';
import { bindingsTable } from '../../src/kinds/binding.ts';
import { upstreamValue } from '../../src/kinds/federation.ts';
import { exchangesTable } from '../../src/kinds/exchange.ts';
import { queuesTable } from '../../src/kinds/queue.ts';
import { shovelValue } from '../../src/kinds/shovel.ts';
import { vhostsTable } from '../../src/kinds/vhost.ts';
import { capabilities } from '../../src/rabbitmq/index.ts';

// The kinds that move messages, in `warren export` and `warren diff`: shovels and federation
// upstreams (whose URIs carry credentials), upstream sets, super streams.

const FIXTURES = join(import.meta.dirname, '..', 'fixtures');
const SELECTION = { vhosts: [], include: [], exclude: [], ownUsers: [] };
const OPTS: ExportOptions = { ...SELECTION, brokerRef: 'local', deletionPolicy: 'Retain' };

const PW = 'm0ver-pw';
const SRC = `amqp://mover:${PW}@rabbit-a.example.com:5672/orders`;
const DEST1 = `amqps://mover:${PW}@rabbit-b1.example.com/archive`;
const DEST2 = `amqps://mover:${PW}@rabbit-b2.example.com/archive`;
const UP = `amqps://fed:${PW}@central.example.com:5671/orders`;

type Param = { vhost?: string; component: string; name: string; value: unknown };
const defsWith = (parameters: Param[], extra: Partial<Definitions> = {}, version = '4.0.5') =>
  checkDefinitions(
    {
      rabbitmq_version: version,
      vhosts: [{ name: 'orders' }, { name: 'analytics' }],
      parameters: parameters.map((p) => ({ vhost: 'orders', ...p })),
      queues: [],
      ...extra,
    },
    'test',
  );

const exportOf = (defs: Definitions, opts: Partial<ExportOptions> = {}) =>
  buildExport(inventoryFromDefinitions(defs, CLI_KINDS, 'test'), CLI_KINDS, { ...OPTS, ...opts });
const docsOf = (res: ReturnType<typeof buildExport>, kind: string) =>
  res.kinds.find((k) => k.cli.kind.def.kind === kind)?.manifests ?? [];
const reasons = (res: ReturnType<typeof buildExport>) =>
  Object.fromEntries(res.left.map((l) => [l.c.describe, l.reason]));

/** The export of `defs` (Secrets included), edited, compared with `inv` (by default, `defs`). */
function compare(
  defs: Definitions,
  edit: (docs: Manifest[]) => Manifest[] = (d) => d,
  inv: Inventory = inventoryFromDefinitions(defs, CLI_KINDS, 'test'),
): DiffReport {
  const res = exportOf(defs);
  const docs = edit(structuredClone([...res.kinds.flatMap((k) => k.manifests), ...res.secrets]));
  const dir = mkdtempSync(join(tmpdir(), 'warren-moving-'));
  writeFileSync(join(dir, 'all.yaml'), toYaml(docs));
  return diff(loadFiles([dir], CLI_KINDS, 'apps'), inv, CLI_KINDS, SELECTION);
}
const find = (docs: Manifest[], kind: string, name: string) =>
  docs.find((d) => d.kind === kind && d.metadata.name === name)!;
const rowOf = (r: DiffReport, kind: string, name: string) =>
  r.rows.find((x) => x.kind === kind && x.name === name)!;

const SHOVEL: Param = {
  component: 'shovel',
  name: 'to-archive',
  value: {
    'src-uri': SRC,
    'src-queue': 'outbox',
    'src-prefetch-count': 50,
    'src-delete-after': 'queue-length',
    'dest-uri': [DEST1, DEST2],
    'dest-exchange': 'archive',
    'dest-exchange-key': 'orders',
    'dest-add-timestamp-header': true,
    'dest-publish-properties': { delivery_mode: 2 },
    'ack-mode': 'on-publish',
    'reconnect-delay': 10,
  },
};

describe('a shovel in warren export', () => {
  it('becomes a RabbitShovel, and its URIs a Secret under the keys uriSecretRef reads', () => {
    const res = exportOf(defsWith([SHOVEL]));
    expect(docsOf(res, 'RabbitShovel')).toEqual([
      {
        apiVersion: 'warren.dev/v1alpha1',
        kind: 'RabbitShovel',
        metadata: { name: 'to-archive' },
        spec: {
          brokerRef: { name: 'local' },
          vhost: 'orders',
          source: { deleteAfter: 'queue-length', prefetchCount: 50, queue: 'outbox' },
          destination: {
            addTimestampHeader: true,
            exchange: 'archive',
            publishProperties: { delivery_mode: 2 },
            routingKey: 'orders',
          },
          ackMode: 'on-publish',
          reconnectDelay: 10,
          uriSecretRef: { name: 'to-archive-shovel-uris' },
          deletionPolicy: 'Retain',
        },
      },
    ]);
    expect(res.secrets).toEqual([
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'to-archive-shovel-uris' },
        type: 'Opaque',
        // Several URIs, tried in turn: comma separated, as warren reads them.
        stringData: { srcUri: SRC, destUri: `${DEST1},${DEST2}` },
      },
    ]);
    const manifests = JSON.stringify(res.kinds.flatMap((k) => k.manifests));
    expect(manifests).not.toMatch(new RegExp(`${PW}|example\\.com|amqps?:`));
  });

  it('declares, once applied, the very parameter it was exported from', () => {
    const specs: Array<Record<string, unknown>> = [
      { source: { queue: 'q' }, destination: { queue: 'r' } },
      {
        source: {
          exchange: 'x',
          routingKey: 'k.#',
          prefetchCount: 10,
          deleteAfter: 100,
          consumerArgs: { 'x-priority': 5 },
        },
        destination: {
          exchange: 'y',
          routingKey: 'z',
          addForwardHeaders: false,
          queueArgs: { 'x-queue-type': 'quorum' },
        },
        ackMode: 'no-ack',
        reconnectDelay: 0.5,
      },
      {
        source: { protocol: 'amqp10', address: '/queues/a' },
        destination: {
          protocol: 'amqp10',
          address: '/exchanges/b',
          applicationProperties: { app: 'x' },
          properties: { subject: 's' },
          messageAnnotations: { 'x-opt': 1 },
        },
      },
    ];
    for (const s of specs) {
      const spec = RabbitShovel.spec.parse({
        brokerRef: { name: 'local' },
        name: 'My.Shovel',
        vhost: 'orders',
        uriSecretRef: { name: 'my-shovel-shovel-uris' },
        deletionPolicy: 'Retain',
        ...s,
      });
      const r = { metadata: { name: 'my-shovel', namespace: 'apps' }, spec } as any;
      const value = shovelValue(r, { uris: { srcUri: [SRC], destUri: [DEST1] }, secrets: [] });
      const res = exportOf(defsWith([{ component: 'shovel', name: 'My.Shovel', value }]));
      const [m] = docsOf(res, 'RabbitShovel');
      expect(RabbitShovel.spec.parse(m!.spec), JSON.stringify(s)).toEqual(spec);
      expect(res.secrets[0]!.stringData).toEqual({ srcUri: SRC, destUri: DEST1 });
    }
  });

  it('leaves out a shovel with settings RabbitShovel does not declare, and reads older key names', () => {
    const res = exportOf(
      defsWith([
        { component: 'shovel', name: 'predeclared', value: { ...SHOVEL.value!, 'src-predeclared': true } },
        {
          component: 'shovel',
          name: 'local-protocol',
          value: { 'src-protocol': 'local', 'src-uri': 'amqp://', 'dest-uri': 'amqp://', 'src-queue': 'a' },
        },
        {
          component: 'shovel',
          name: 'old',
          value: { 'src-uri': SRC, 'src-queue': 'a', 'dest-uri': DEST1, 'prefetch-count': 7 },
        },
      ]),
    );
    expect(reasons(res)).toEqual({
      "shovel 'predeclared' in vhost 'orders'":
        'has settings a RabbitShovel does not declare (src-predeclared)',
      "shovel 'local-protocol' in vhost 'orders'": expect.stringMatching(
        /^not valid as a RabbitShovel \(spec\.source\.protocol: /,
      ),
    });
    expect(docsOf(res, 'RabbitShovel')[0]!.spec!.source).toEqual({ prefetchCount: 7, queue: 'a' });
  });

  it('needs the vhosts of this broker its URIs connect to directly (but / is every broker’s)', () => {
    const defs = defsWith([
      {
        component: 'shovel',
        name: 'to-analytics',
        value: { 'src-uri': 'amqp://', 'src-queue': 'a', 'dest-uri': 'amqp:///analytics', 'dest-queue': 'b' },
      },
    ]);
    expect(docsOf(exportOf(defs), 'RabbitShovel')).toHaveLength(1);
    const narrow = exportOf(defs, { vhosts: ['orders'] });
    expect(reasons(narrow)["shovel 'to-analytics' in vhost 'orders'"]).toBe(
      "needs vhost 'analytics', which is left out",
    );
  });
});

describe('a shovel in warren diff', () => {
  const defs = defsWith([SHOVEL]);

  it('compares its URIs with the Secret given, never showing them', () => {
    expect(rowOf(compare(defs), 'RabbitShovel', 'to-archive')).toMatchObject({
      action: 'unchanged',
      object: "shovel 'to-archive' in vhost 'orders'",
      changes: [],
      notes: [],
    });
    const other = 'amqps://mover:n3w-pw@rabbit-b1.example.com/archive';
    const r = compare(defs, (docs) => {
      find(docs, 'Secret', 'to-archive-shovel-uris').stringData!.destUri = other;
      return docs;
    });
    expect(rowOf(r, 'RabbitShovel', 'to-archive')).toMatchObject({
      action: 'change',
      changes: [{ field: 'dest-uri', broker: '(another)', spec: '(from Secret to-archive-shovel-uris)' }],
    });
    expect(JSON.stringify(r)).not.toMatch(/m0ver-pw|n3w-pw|example\.com/);
  });

  it('without the Secret, compares the rest and says the URIs were not', () => {
    const r = compare(defs, (docs) => {
      (find(docs, 'RabbitShovel', 'to-archive').spec!.source as any).prefetchCount = 80;
      return docs.filter((d) => d.kind !== 'Secret');
    });
    expect(rowOf(r, 'RabbitShovel', 'to-archive')).toMatchObject({
      action: 'change',
      changes: [{ field: 'src-prefetch-count', broker: 50, spec: 80 }],
      notes: ['URIs not compared: Secret apps/to-archive-shovel-uris not given'],
    });
  });

  it('with a URI warren cannot use, says so without the value', () => {
    const r = compare(defs, (docs) => {
      find(docs, 'Secret', 'to-archive-shovel-uris').stringData!.srcUri = `http://mover:${PW}@x/`;
      return docs;
    });
    expect(rowOf(r, 'RabbitShovel', 'to-archive').notes).toEqual([
      'URIs not compared: Secret apps/to-archive-shovel-uris key srcUri: URI 1 must start with amqp:// or amqps:// (warren would report InvalidSecret)',
    ]);
    expect(JSON.stringify(r)).not.toContain(PW);
  });

  it('counts a shovel declared without protocols as the same one', () => {
    const r = compare(defs, (docs) => {
      (find(docs, 'RabbitShovel', 'to-archive').spec!.source as any).protocol = 'amqp091';
      return docs;
    });
    expect(rowOf(r, 'RabbitShovel', 'to-archive').action).toBe('unchanged');
  });
});

const UPSTREAMS: Param[] = [
  {
    component: 'federation-upstream',
    name: 'Central.EU',
    value: {
      uri: [UP, UP.replace('central', 'central-2')],
      exchange: 'events',
      'message-ttl': 60000,
      'max-hops': 2,
      'trust-user-id': false,
      'queue-type': 'quorum',
      'reconnect-delay': 3,
      'resource-cleanup-mode': 'never',
    },
  },
  { component: 'federation-upstream', name: 'west', value: { uri: UP.replace('central', 'west') } },
  {
    component: 'federation-upstream-set',
    name: 'regions',
    value: [{ upstream: 'Central.EU' }, { upstream: 'west' }],
  },
];

describe('federation upstreams and upstream sets in warren export', () => {
  it('become RabbitFederations with their URIs in Secrets, and sets naming them by resource', () => {
    const res = exportOf(defsWith(UPSTREAMS));
    expect(docsOf(res, 'RabbitFederation').map((d) => d.spec)).toEqual([
      {
        brokerRef: { name: 'local' },
        name: 'Central.EU',
        vhost: 'orders',
        exchange: 'events',
        messageTTL: 60000,
        maxHops: 2,
        reconnectDelay: 3,
        trustUserId: false,
        queueType: 'quorum',
        resourceCleanupMode: 'never',
        uriSecretRef: { name: 'central-eu-upstream-uri' },
        deletionPolicy: 'Retain',
      },
      {
        brokerRef: { name: 'local' },
        vhost: 'orders',
        uriSecretRef: { name: 'west-upstream-uri' },
        deletionPolicy: 'Retain',
      },
    ]);
    expect(docsOf(res, 'RabbitFederationUpstreamSet').map((d) => d.spec)).toEqual([
      {
        brokerRef: { name: 'local' },
        vhost: 'orders',
        // The RabbitFederation resources' names, not the broker's.
        upstreams: [{ name: 'central-eu' }, { name: 'west' }],
        deletionPolicy: 'Retain',
      },
    ]);
    expect(res.secrets.map((s) => [s.metadata.name, s.stringData])).toEqual([
      ['central-eu-upstream-uri', { uri: `${UP},${UP.replace('central', 'central-2')}` }],
      ['west-upstream-uri', { uri: UP.replace('central', 'west') }],
    ]);
    expect(JSON.stringify(res.kinds.flatMap((k) => k.manifests))).not.toMatch(/m0ver-pw|amqps?:/);
  });

  it('declare, once applied, the very upstream they were exported from', () => {
    const spec = RabbitFederation.spec.parse({
      brokerRef: { name: 'local' },
      vhost: 'orders',
      uriSecretRef: { name: 'up-upstream-uri' },
      deletionPolicy: 'Retain',
      queue: 'q',
      expires: 1000,
      prefetchCount: 20,
      ackMode: 'on-publish',
      resourceCleanupMode: 'never',
      channelUseMode: 'single',
      consumerTag: 'fed-orders',
      bindNowait: true,
    });
    const value = upstreamValue({ metadata: { name: 'up', namespace: 'apps' }, spec } as any, {
      uris: { uri: [UP] },
      secrets: [],
    });
    const res = exportOf(defsWith([{ component: 'federation-upstream', name: 'up', value }]));
    expect(RabbitFederation.spec.parse(docsOf(res, 'RabbitFederation')[0]!.spec)).toEqual(spec);
  });

  it('leave out what they cannot declare, and sets that need it', () => {
    const res = exportOf(
      defsWith([
        ...UPSTREAMS.slice(0, 2),
        { component: 'federation-upstream', name: 'old', value: { uri: UP, 'ha-policy': 'all' } },
        { component: 'federation-upstream-set', name: 'with-old', value: [{ upstream: 'old' }] },
        { component: 'federation-upstream-set', name: 'tuned', value: [{ upstream: 'west', exchange: 'y' }] },
        { component: 'federation-upstream-set', name: 'dangling', value: [{ upstream: 'nowhere' }] },
      ]),
    );
    expect(reasons(res)).toEqual({
      "federation upstream 'old' in vhost 'orders'":
        'has settings a RabbitFederation does not declare (ha-policy)',
      "federation upstream set 'with-old' in vhost 'orders'":
        "needs federation upstream 'old' in vhost 'orders', which is left out",
      "federation upstream set 'tuned' in vhost 'orders'":
        'is not a plain list of upstreams (per-upstream settings are not declared by a RabbitFederationUpstreamSet)',
      "federation upstream set 'dangling' in vhost 'orders'":
        "names upstream 'nowhere', which the broker does not have",
    });
    const excluded = exportOf(defsWith(UPSTREAMS), { exclude: ['federation:west'] });
    expect(reasons(excluded)["federation upstream set 'regions' in vhost 'orders'"]).toBe(
      "needs federation upstream 'west' in vhost 'orders', which is left out",
    );
  });
});

describe('federation upstreams and upstream sets in warren diff', () => {
  const defs = defsWith(UPSTREAMS);

  it('find nothing to do for what was exported', () => {
    const r = compare(defs);
    expect(r.rows.map((x) => [x.kind, x.name, x.action, x.notes])).toEqual([
      ['RabbitVhost', 'analytics', 'unchanged', []],
      ['RabbitVhost', 'orders', 'unchanged', []],
      ['RabbitFederation', 'central-eu', 'unchanged', []],
      ['RabbitFederation', 'west', 'unchanged', []],
      ['RabbitFederationUpstreamSet', 'regions', 'unchanged', []],
    ]);
  });

  it('compare fields, the URI through its Secret (never shown), and the upstreams of a set', () => {
    const r = compare(defs, (docs) => {
      find(docs, 'RabbitFederation', 'central-eu').spec!.maxHops = 1;
      find(docs, 'Secret', 'west-upstream-uri').stringData!.uri = 'amqp://fed:0ther-pw@west.example.com';
      find(docs, 'RabbitFederationUpstreamSet', 'regions').spec!.upstreams = [{ name: 'west' }];
      return docs;
    });
    const changes = Object.fromEntries(
      r.rows.filter((x) => x.action === 'change').map((x) => [x.name, x.changes]),
    );
    expect(changes).toEqual({
      'central-eu': [{ field: 'max-hops', broker: 2, spec: 1 }],
      west: [{ field: 'uri', broker: '(another)', spec: '(from Secret west-upstream-uri)' }],
      regions: [{ field: 'upstreams', broker: ['Central.EU', 'west'], spec: ['west'] }],
    });
    expect(JSON.stringify(r)).not.toMatch(/m0ver-pw|0ther-pw/);
  });

  it('say why a set is not compared when an upstream resource is missing', () => {
    const r = compare(defs, (docs) => docs.filter((d) => d.metadata.name !== 'west'));
    expect(rowOf(r, 'RabbitFederationUpstreamSet', 'regions')).toMatchObject({
      action: 'unchanged',
      notes: ['not compared: RabbitFederation apps/west not found'],
    });
  });
});

describe('a super stream in warren export', () => {
  const fixture = () => readDefinitions(join(FIXTURES, 'definitions.json'));
  const withSuperStream = (defs = fixture()) => {
    const extra = JSON.parse(readFileSync(join(FIXTURES, 'definitions-super-stream.json'), 'utf8'));
    for (const s of ['exchanges', 'queues', 'bindings'] as const) defs[s]!.push(...extra[s]);
    return defs;
  };

  it('is one RabbitSuperStream, not an exchange, N queues and N bindings', () => {
    const res = exportOf(withSuperStream());
    expect(docsOf(res, 'RabbitSuperStream')).toEqual([
      {
        apiVersion: 'warren.dev/v1alpha1',
        kind: 'RabbitSuperStream',
        metadata: { name: 'payments' },
        spec: {
          brokerRef: { name: 'local' },
          vhost: 'orders',
          routingKeys: ['amer', 'emea', 'apac'],
          arguments: { 'x-max-age': '30D' },
          deletionPolicy: 'Retain',
        },
      },
    ]);
    // The fixture's own objects, and nothing of the super stream's.
    const counts = Object.fromEntries(res.kinds.map((k) => [k.cli.kind.def.kind, k.manifests.length]));
    expect(counts).toMatchObject({ RabbitQueue: 7, RabbitExchange: 5, RabbitBinding: 9 });
    expect(res.left.map((l) => l.c.describe)).toEqual([
      "queue 'payments-amer' in vhost 'orders'",
      "queue 'payments-apac' in vhost 'orders'",
      "queue 'payments-emea' in vhost 'orders'",
      "exchange 'payments' in vhost 'orders'",
      "binding from exchange 'payments' to queue 'payments-amer' with key 'amer' in vhost 'orders'",
      "binding from exchange 'payments' to queue 'payments-apac' with key 'apac' in vhost 'orders'",
      "binding from exchange 'payments' to queue 'payments-emea' with key 'emea' in vhost 'orders'",
    ]);
    expect(new Set(res.left.map((l) => l.reason))).toEqual(
      new Set(['exported as part of a RabbitSuperStream']),
    );
  });

  /** A live broker's super stream `s` in vhost `v`: partitions named by `partition`. */
  function live(keys: string[], opts: { version?: string; partition?: (k: string) => string } = {}) {
    const inv = new MemoryInventory('broker', capabilities(opts.version ?? '4.0.5'));
    const partition = opts.partition ?? ((k: string) => `s-${k}`);
    inv.add(vhostsTable, ['v'], { name: 'v', description: '', tags: [], tracing: false });
    inv.add(exchangesTable, ['v', 's'], {
      name: 's',
      vhost: 'v',
      type: 'direct',
      durable: true,
      auto_delete: false,
      internal: false,
      arguments: { 'x-super-stream': true },
    });
    keys.forEach((k, i) => {
      const q = partition(k);
      inv.add(queuesTable, ['v', q], {
        name: q,
        vhost: 'v',
        durable: true,
        auto_delete: false,
        exclusive: false,
        type: 'stream',
        arguments: { 'x-queue-type': 'stream' },
      });
      const b = {
        vhost: 'v',
        source: 's',
        destination: q,
        destination_type: 'queue' as const,
        routing_key: k,
        arguments: { 'x-stream-partition-order': i },
        properties_key: k,
      };
      inv.add(bindingsTable, ['v', 's', 'queue', q, k, JSON.stringify(b.arguments)], b);
    });
    return inv;
  }

  it('with partitions 0..n-1 gives their number', () => {
    const res = buildExport(live(['0', '1', '2']), CLI_KINDS, OPTS);
    expect(docsOf(res, 'RabbitSuperStream')[0]!.spec).toEqual({
      brokerRef: { name: 'local' },
      vhost: 'v',
      partitions: 3,
      deletionPolicy: 'Retain',
    });
    expect(docsOf(res, 'RabbitQueue')).toEqual([]);
  });

  it('shaped otherwise than a RabbitSuperStream declares it, is exported part by part, saying why', () => {
    const odd = buildExport(live(['a', 'b'], { partition: (k) => `part-${k}` }), CLI_KINDS, OPTS);
    expect(reasons(odd)).toEqual({
      "super stream 's' in vhost 'v'":
        "partition 'part-a' is not named <super stream>-<routing key>: exported as its exchange, queues and bindings",
    });
    expect(docsOf(odd, 'RabbitQueue').map((d) => d.metadata.name)).toEqual(['part-a', 'part-b']);
    expect(docsOf(odd, 'RabbitExchange')[0]!.spec!.arguments).toEqual({ 'x-super-stream': true });
    expect(docsOf(odd, 'RabbitBinding')).toHaveLength(2);
    // From a 3.10 file: the broker it came from had no super streams.
    const old = buildExport(live(['a'], { version: '3.10.8' }), CLI_KINDS, OPTS);
    expect(reasons(old)["super stream 's' in vhost 'v'"]).toMatch(
      /^RabbitMQ 3\.10 has no super streams \(3\.11 or later\): exported as/,
    );
  });

  it('in warren diff: nothing to do as exported; partitions to add, bindings to repair', () => {
    const defs = withSuperStream();
    expect(compare(defs).summary).toMatchObject({ create: 0, change: 0, unchanged: 42, unmanaged: 0 });
    // A partition more, and a partition bound by another key too (its binding would go).
    const inv = inventoryFromDefinitions(defs, CLI_KINDS, 'test') as MemoryInventory;
    const stray = {
      vhost: 'orders',
      source: 'payments',
      destination: 'payments-emea',
      destination_type: 'queue' as const,
      routing_key: 'europe',
      arguments: {},
      properties_key: 'europe',
    };
    inv.add(bindingsTable, ['orders', 'payments', 'queue', 'payments-emea', 'europe', '{}'], stray);
    const r = compare(
      defs,
      (docs) => {
        find(docs, 'RabbitSuperStream', 'payments').spec!.routingKeys = ['amer', 'emea', 'apac', 'apj'];
        return docs;
      },
      inv,
    );
    expect(rowOf(r, 'RabbitSuperStream', 'payments')).toMatchObject({
      action: 'change',
      changes: [
        {
          field: 'partitions',
          broker: ['payments-amer', 'payments-emea', 'payments-apac'],
          spec: ['payments-amer', 'payments-emea', 'payments-apac', 'payments-apj'],
        },
        {
          field: 'binding to payments-apj',
          spec: { routingKey: 'apj', arguments: { 'x-stream-partition-order': 3 } },
        },
        { field: 'binding to payments-emea', broker: { routingKey: 'europe', arguments: {} } },
      ],
    });
  });
});
