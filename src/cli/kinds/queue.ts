import type { RabbitQueueSpec } from '../../api/queue.ts';
import * as page from '../../kinds/queue.ts';
import { isQueueType, queueTypeFromArguments } from '../../rabbitmq/index.ts';
import type { CliKind } from '../types.ts';
import { nonEmpty, q } from './common.ts';

export const queue: CliKind<RabbitQueueSpec> = {
  kind: page.queueKind,
  describe: ([, vhost, name]) => `queue ${q(name!)} in vhost ${q(vhost!)}`,

  fromDefinitions(defs, add) {
    // Definitions leave exclusive queues out.
    for (const x of defs.queues ?? []) {
      const args = { ...(x.arguments ?? {}) };
      add(page.queuesTable, [x.vhost, x.name], {
        name: x.name,
        vhost: x.vhost,
        durable: x.durable ?? true,
        auto_delete: x.auto_delete === true,
        exclusive: false,
        arguments: args,
        type: x.type ?? queueTypeFromArguments(args),
      });
    }
  },

  export: (inv) =>
    inv.rows(page.queuesTable).map(([, x]) => {
      // The type is its own field; the broker adds x-queue-type to the arguments (always, on 4.x).
      const { 'x-queue-type': _, ...args } = x.arguments;
      return {
        identity: ['queue', x.vhost, x.name],
        nameParts: [x.name],
        brokerName: { field: 'name', value: x.name },
        vhost: x.vhost,
        matchNames: [x.name],
        needs: [['vhost', x.vhost]],
        spec: {
          vhost: x.vhost,
          type: x.type,
          durable: x.durable,
          autoDelete: x.auto_delete,
          arguments: nonEmpty(args),
        },
        skip: x.exclusive
          ? 'exclusive: it belongs to the connection that declared it'
          : x.name.startsWith('amq.')
            ? "server-named ('amq.' names are the broker's): warren cannot declare it"
            : !isQueueType(x.type)
              ? `type ${q(x.type)}: not one warren declares (classic, quorum, stream)`
              : undefined,
      };
    }),

  plan(r, inv) {
    const d = page.fromSpec(r);
    const actual = inv.row(page.queuesTable, d.vhost, d.name);
    if (!actual) return { exists: false, differences: [] };
    return { exists: true, differences: page.differences(d, actual, inv.caps) };
  },
};
