import type { RabbitVhostSpec } from '../../api/vhost.ts';
import * as page from '../../kinds/vhost.ts';
import { parametersOf, vhostMetadata } from '../definitions.ts';
import type { CliKind } from '../types.ts';
import { limitsSpec, q } from './common.ts';

const LIMITS = { 'max-connections': 'maxConnections', 'max-queues': 'maxQueues' };

export const vhost: CliKind<RabbitVhostSpec> = {
  kind: page.vhostKind,
  describe: ([, name]) => `vhost ${q(name!)}`,

  fromDefinitions(defs, add) {
    for (const v of defs.vhosts ?? []) {
      const m = vhostMetadata(v);
      add(page.vhostsTable, [v.name], {
        name: v.name,
        description: m.description,
        tags: m.tags,
        default_queue_type: m.defaultQueueType,
        // Definitions do not carry tracing (a node-local setting): off.
        tracing: false,
        ...(m.protectedFromDeletion && { protected_from_deletion: true }),
      });
      // 4.x puts the limits on the vhost, 3.x in a runtime parameter.
      if (v.limits && Object.keys(v.limits).length) add(page.vhostLimitsTable, [v.name], v.limits);
    }
    for (const p of parametersOf(defs, 'vhost-limits')) add(page.vhostLimitsTable, [p.vhost], p.value);
  },

  export: (inv) =>
    inv.rows(page.vhostsTable).map(([[name], v]) => ({
      identity: ['vhost', name!],
      nameParts: [name!],
      brokerName: { field: 'name', value: name! },
      vhost: name,
      matchNames: [name!],
      spec: {
        description: v.description || undefined,
        tags: v.tags.length ? v.tags : undefined,
        // classic is every broker's default (4.x reports it for every vhost).
        defaultQueueType: v.default_queue_type === 'classic' ? undefined : v.default_queue_type,
        tracing: v.tracing || undefined,
        deletionProtection: v.protected_from_deletion || undefined,
        limits: limitsSpec(inv.row(page.vhostLimitsTable, name!), LIMITS),
      },
    })),

  plan(r, inv) {
    const d = page.fromSpec(r);
    const actual = inv.row(page.vhostsTable, d.name);
    if (!actual) return { exists: false, differences: [] };
    return {
      exists: true,
      differences: page.differences(d, actual, inv.row(page.vhostLimitsTable, d.name) ?? {}),
    };
  },
};
