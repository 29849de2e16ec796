import { RabbitVhost, type RabbitVhostSpec } from '../api/vhost.ts';
import type { Resource } from '../api/common.ts';
import type { VhostInfo, VhostLimitName } from '../rabbitmq/index.ts';
import { applyLimits, limitsMatch, sameSet } from './compare.ts';
import type { TopologyKind } from './types.ts';

interface Desired {
  name: string;
  description: string;
  tags: string[];
  defaultQueueType?: string;
  tracing?: boolean;
  limits: Record<VhostLimitName, number | undefined>;
}

function metadataMatches(d: Desired, actual: VhostInfo): boolean {
  return (
    actual.description === d.description &&
    sameSet(actual.tags, d.tags) &&
    (d.defaultQueueType === undefined || actual.default_queue_type === d.defaultQueueType) &&
    (d.tracing === undefined || actual.tracing === d.tracing)
  );
}

const vhostName = (r: Resource<RabbitVhostSpec>) => r.spec.name ?? r.metadata.name;

const fromSpec = (r: Resource<RabbitVhostSpec>): Desired => ({
  name: vhostName(r),
  description: r.spec.description ?? '',
  tags: r.spec.tags ?? [],
  defaultQueueType: r.spec.defaultQueueType,
  tracing: r.spec.tracing,
  limits: { 'max-connections': r.spec.limits?.maxConnections, 'max-queues': r.spec.limits?.maxQueues },
});

export const vhostKind: TopologyKind<RabbitVhostSpec, Desired> = {
  def: RabbitVhost,
  identity: (r) => `vhost|${vhostName(r)}`,

  desired: (r) => fromSpec(r),

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
    const limitsWritten = await applyLimits(
      d.limits,
      limits,
      (name, value) => client.putVhostLimit(d.name, name, value),
      (name) => client.deleteVhostLimit(d.name, name),
    );
    return wrote || limitsWritten;
  },

  async remove(r, { client }) {
    await client.deleteVhost(vhostName(r));
  },

  claims: (r) => [`vhosts|${vhostName(r)}`],

  inSync(r, snap) {
    const d = fromSpec(r);
    const actual = snap.vhosts.get(d.name);
    return (
      !!actual && metadataMatches(d, actual) && limitsMatch(d.limits, snap.vhostLimits.get(d.name) ?? {})
    );
  },

  status: (d) => ({ name: d.name }),
};
