import { RabbitVhost, type RabbitVhostSpec } from '../api/vhost.ts';
import type { Resource } from '../api/common.ts';
import type { VhostInfo, VhostLimitName } from '../rabbitmq/index.ts';
import {
  applyLimits,
  differing,
  limitDifferences,
  limitsMatch,
  sameSet,
  type Difference,
} from './compare.ts';
import { claim, Kept, type Table, type TopologyKind, entries } from './types.ts';

export interface Desired {
  name: string;
  description: string;
  tags: string[];
  defaultQueueType?: string;
  tracing?: boolean;
  limits: Record<VhostLimitName, number | undefined>;
}

export const vhostsTable: Table<VhostInfo> = {
  name: 'vhosts',
  noun: 'vhost',
  scope: 'broker',
  read: async (client) => entries(vhostsTable, await client.listVhosts(), (v) => [[v.name], v]),
};

export const vhostLimitsTable: Table<Record<string, number>> = {
  name: 'vhostLimits',
  noun: 'vhost limit',
  settings: true,
  scope: 'broker',
  read: async (client) =>
    entries(vhostLimitsTable, await client.listVhostLimits(), (l) => [[l.vhost], l.value]),
};

function metadataDifferences(d: Desired, actual: VhostInfo): Difference[] {
  return differing([
    ['description', actual.description, d.description, actual.description === d.description],
    ['tags', actual.tags, d.tags, sameSet(actual.tags, d.tags)],
    [
      'defaultQueueType',
      actual.default_queue_type,
      d.defaultQueueType,
      d.defaultQueueType === undefined || actual.default_queue_type === d.defaultQueueType,
    ],
    ['tracing', actual.tracing, d.tracing, d.tracing === undefined || actual.tracing === d.tracing],
  ]);
}

const metadataMatches = (d: Desired, actual: VhostInfo) => metadataDifferences(d, actual).length === 0;

/** What a reconcile would change in an existing vhost (its limits as listed by vhostLimitsTable). */
export const differences = (d: Desired, actual: VhostInfo, limits: Record<string, number>): Difference[] => [
  ...metadataDifferences(d, actual),
  ...limitDifferences(d.limits, limits),
];

export const vhostName = (r: Resource<RabbitVhostSpec>) => r.spec.name ?? r.metadata.name;

export const fromSpec = (r: Resource<RabbitVhostSpec>): Desired => ({
  name: vhostName(r),
  description: r.spec.description ?? '',
  tags: r.spec.tags ?? [],
  defaultQueueType: r.spec.defaultQueueType,
  tracing: r.spec.tracing,
  limits: { 'max-connections': r.spec.limits?.maxConnections, 'max-queues': r.spec.limits?.maxQueues },
});

export const vhostKind: TopologyKind<RabbitVhostSpec, Desired> = {
  def: RabbitVhost,
  identity: (r) => ['vhost', vhostName(r)],
  holds: (r) => vhostName(r),

  desired: (r) => fromSpec(r),

  async apply(d, _r, { client, knownAbsent }) {
    let applied: 'created' | 'updated' | 'unchanged' = 'unchanged';
    const actual = knownAbsent(vhostsTable, d.name) ? undefined : await client.getVhost(d.name);
    if (!actual || !metadataMatches(d, actual)) {
      // 'created' only when the broker says so (201): then the vhost is known to be empty.
      applied = await client.putVhost(d.name, {
        description: d.description,
        tags: d.tags,
        defaultQueueType: d.defaultQueueType ?? actual?.default_queue_type,
        tracing: d.tracing,
      });
    }
    const limits = actual ? await client.getVhostLimits(d.name) : {};
    const limitsWritten = await applyLimits(
      d.limits,
      limits,
      (name, value) => client.putVhostLimit(d.name, name, value),
      (name) => client.deleteVhostLimit(d.name, name),
    );
    return limitsWritten && applied === 'unchanged' ? 'updated' : applied;
  },

  async remove(r, { client }) {
    const name = vhostName(r);
    // By now every resource inside is gone or retains its object: what is left, nobody declares.
    // Server-named queues (amq.gen-...) belong to live connections and go with them.
    if (!r.spec.deleteWithUnmanagedQueues) {
      const left = (await client.listQueues(name)).filter((q) => !q.name.startsWith('amq.'));
      if (left.length) {
        const names = left.slice(0, 10).map((q) => `'${q.name}'`);
        throw new Kept(
          `vhost '${name}' kept: it holds ${left.length === 1 ? 'a queue' : `${left.length} queues`} no resource declares (${names.join(', ')}${left.length > 10 ? ', ...' : ''}); set spec.deleteWithUnmanagedQueues to delete them with it`,
        );
      }
    }
    await client.deleteVhost(name);
  },

  tables: [vhostsTable, vhostLimitsTable],
  claims: (r) => [claim(vhostsTable, vhostName(r))],

  inSync(r, snap) {
    const d = fromSpec(r);
    const actual = snap.row(vhostsTable, d.name);
    return (
      !!actual &&
      metadataMatches(d, actual) &&
      limitsMatch(d.limits, snap.row(vhostLimitsTable, d.name) ?? {})
    );
  },

  status(d, _r, ctx) {
    const unmanaged = ctx.unmanagedIn(d.name);
    return {
      name: d.name,
      unmanagedObjects: unmanaged?.count,
      unmanagedSample: unmanaged?.sample.length ? unmanaged.sample : undefined,
    };
  },
};
