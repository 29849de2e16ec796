import { RabbitVhost, type RabbitVhostSpec } from '../api/vhost.ts';
import { Reasons, type Resource } from '../api/common.ts';
import type { Capabilities, QueueInfo, VhostInfo, VhostLimitName } from '../rabbitmq/index.ts';
import {
  applyLimits,
  differing,
  limitDifferences,
  limitsMatch,
  sameSet,
  type Difference,
} from './compare.ts';
import { Blocked, claim, Kept, type Table, type TopologyKind, entries } from './types.ts';

export interface Desired {
  name: string;
  description: string;
  tags: string[];
  defaultQueueType?: string;
  tracing?: boolean;
  /** Undefined: whatever the broker has is left alone. */
  deletionProtection?: boolean;
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

const isProtected = (actual: VhostInfo | undefined) => actual?.protected_from_deletion ?? false;

/** Deletion protection is not in the vhost's PUT: compared, and set, on its own. */
function protectionDifferences(d: Desired, actual: VhostInfo): Difference[] {
  const now = isProtected(actual);
  return differing([
    [
      'deletionProtection',
      now,
      d.deletionProtection,
      d.deletionProtection === undefined || now === d.deletionProtection,
    ],
  ]);
}

/** Protection asked of a broker that has none (before 4.1): nothing is declared. */
function unprotectable(d: Desired, caps: Capabilities): Blocked | undefined {
  if (!d.deletionProtection || caps.deletionProtection) return undefined;
  const v = caps.version;
  return new Blocked(
    Reasons.Rejected,
    `deletionProtection needs RabbitMQ 4.1 or later; this broker runs ${v.major}.${v.minor}.${v.patch}`,
  );
}

const metadataMatches = (d: Desired, actual: VhostInfo) => metadataDifferences(d, actual).length === 0;

/** What a reconcile would change in an existing vhost (its limits as listed by vhostLimitsTable). */
export const differences = (d: Desired, actual: VhostInfo, limits: Record<string, number>): Difference[] => [
  ...metadataDifferences(d, actual),
  ...protectionDifferences(d, actual),
  ...limitDifferences(d.limits, limits),
];

export const vhostName = (r: Resource<RabbitVhostSpec>) => r.spec.name ?? r.metadata.name;

export const fromSpec = (r: Resource<RabbitVhostSpec>): Desired => ({
  name: vhostName(r),
  description: r.spec.description ?? '',
  tags: r.spec.tags ?? [],
  defaultQueueType: r.spec.defaultQueueType,
  tracing: r.spec.tracing,
  deletionProtection: r.spec.deletionProtection,
  limits: { 'max-connections': r.spec.limits?.maxConnections, 'max-queues': r.spec.limits?.maxQueues },
});

/**
 * A queue no resource declares that keeps its vhost from being deleted: every queue but an
 * exclusive one, server-named (amq.gen-...) or not. A server-named queue declared durable, or
 * merely not exclusive, outlives the connection that declared it and holds messages like any
 * other. An exclusive queue lives only as long as its connection, which alone can read it; the
 * broker deletes it when that connection closes, as deleting the vhost does, so keeping the vhost
 * would keep nothing anyone else could read, and a vhost's deletion would hang on whether some
 * client (an RPC reply queue) happened to be connected.
 */
export const holdsVhost = (q: QueueInfo): boolean => q.exclusive !== true;

export const vhostKind: TopologyKind<RabbitVhostSpec, Desired> = {
  def: RabbitVhost,
  identity: (r) => ['vhost', vhostName(r)],
  holds: (r) => vhostName(r),

  desired: (r) => fromSpec(r),

  async apply(d, _r, { client, knownAbsent }) {
    if (d.deletionProtection !== undefined) {
      const refused = unprotectable(d, await client.capabilities());
      if (refused) throw refused;
    }
    let applied: 'created' | 'updated' | 'unchanged' = 'unchanged';
    const actual = knownAbsent(vhostsTable, d.name) ? undefined : await client.getVhost(d.name);
    const protectedNow = isProtected(actual);
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
    // Protection is not part of the PUT (which leaves it as it is): a request of its own.
    const protect = d.deletionProtection !== undefined && d.deletionProtection !== protectedNow;
    if (protect) await client.protectVhost(d.name, d.deletionProtection!);
    return (limitsWritten || protect) && applied === 'unchanged' ? 'updated' : applied;
  },

  async remove(r, { client }) {
    const name = vhostName(r);
    // Declared protected: the resource's deletion is the very accident protection is for.
    if (r.spec.deletionProtection) {
      throw new Blocked(
        Reasons.DeleteFailed,
        `vhost '${name}' is protected (spec.deletionProtection): set it to false to delete the vhost, or deletionPolicy to Retain to keep it`,
      );
    }
    // By now every resource inside is gone or retains its object: what is left, nobody declares.
    if (!r.spec.deleteWithUnmanagedQueues) {
      const left = (await client.listQueues(name)).filter(holdsVhost);
      if (left.length) {
        const names = left.slice(0, 10).map((q) => `'${q.name}'`);
        throw new Kept(
          `vhost '${name}' kept: it holds ${left.length === 1 ? 'a queue' : `${left.length} queues`} no resource declares (${names.join(', ')}${left.length > 10 ? ', ...' : ''}); set spec.deleteWithUnmanagedQueues to delete them with it`,
        );
      }
    }
    // Declared unprotected: protection someone turned on since is lifted with the rest.
    if (r.spec.deletionProtection === false && (await client.capabilities()).deletionProtection)
      await client.protectVhost(name, false);
    await client.deleteVhost(name);
  },

  tables: [vhostsTable, vhostLimitsTable],
  claims: (r) => [claim(vhostsTable, vhostName(r))],

  inSync(r, snap) {
    const d = fromSpec(r);
    const actual = snap.row(vhostsTable, d.name);
    return (
      !!actual &&
      !unprotectable(d, snap.caps) &&
      metadataMatches(d, actual) &&
      protectionDifferences(d, actual).length === 0 &&
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
