import { RabbitVhost, type RabbitVhostSpec } from '../api/vhost.ts';
import type { Resource } from '../api/common.ts';
import type { VhostInfo, VhostLimitName } from '../rabbitmq/index.ts';
import type { TopologyKind } from './types.ts';

interface Desired {
  name: string;
  description: string;
  tags: string[];
  defaultQueueType?: string;
  tracing?: boolean;
  limits: Record<VhostLimitName, number | undefined>;
}

const isSet = (v: number | undefined) => v !== undefined && v !== -1;

function metadataMatches(d: Desired, actual: VhostInfo): boolean {
  return (
    actual.description === d.description &&
    sameSet(actual.tags, d.tags) &&
    (d.defaultQueueType === undefined || actual.default_queue_type === d.defaultQueueType) &&
    (d.tracing === undefined || actual.tracing === d.tracing)
  );
}

export function limitsMatch(
  desired: Record<string, number | undefined>,
  actual: Record<string, number>,
): boolean {
  return Object.entries(desired).every(([k, v]) => (v === undefined ? !isSet(actual[k]) : actual[k] === v));
}

const vhostName = (r: Resource<RabbitVhostSpec>) => r.spec.name ?? r.metadata.name;
const sameSet = (a: string[], b: string[]) =>
  a.length === b.length && [...a].sort().join(',') === [...b].sort().join(',');

export const vhostKind: TopologyKind<RabbitVhostSpec, Desired> = {
  def: RabbitVhost,
  identity: (r) => `vhost|${vhostName(r)}`,

  desired: (r) => ({
    name: vhostName(r),
    description: r.spec.description ?? '',
    tags: r.spec.tags ?? [],
    defaultQueueType: r.spec.defaultQueueType,
    tracing: r.spec.tracing,
    limits: { 'max-connections': r.spec.limits?.maxConnections, 'max-queues': r.spec.limits?.maxQueues },
  }),

  async apply(d, _r, { client }) {
    let wrote = false;
    const actual = await client.getVhost(d.name);
    if (!actual || !metadataMatches(d, actual)) {
      await client.putVhost(d.name, {
        description: d.description,
        tags: d.tags,
        defaultQueueType: d.defaultQueueType ?? actual?.default_queue_type,
        tracing: d.tracing,
      });
      wrote = true;
    }
    const limits = actual ? await client.getVhostLimits(d.name) : {};
    for (const [name, value] of Object.entries(d.limits) as [VhostLimitName, number | undefined][]) {
      if (value === undefined) {
        // A limit removed from the spec is removed from the broker.
        if (isSet(limits[name])) {
          await client.deleteVhostLimit(d.name, name);
          wrote = true;
        }
      } else if (limits[name] !== value) {
        await client.putVhostLimit(d.name, name, value);
        wrote = true;
      }
    }
    return wrote;
  },

  async remove(r, { client }) {
    await client.deleteVhost(vhostName(r));
  },

  claims: (r) => [`vhosts|${vhostName(r)}`],

  inSync(r, snap) {
    const d = vhostKind.desired(r, undefined as never) as Desired;
    const actual = snap.vhosts.get(d.name);
    return (
      !!actual && metadataMatches(d, actual) && limitsMatch(d.limits, snap.vhostLimits.get(d.name) ?? {})
    );
  },

  status: (d) => ({ name: d.name }),
};
