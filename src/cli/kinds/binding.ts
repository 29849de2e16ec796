import type { RabbitBindingSpec } from '../../api/binding.ts';
import * as page from '../../kinds/binding.ts';
import type { BindingInfo } from '../../rabbitmq/index.ts';
import type { CliKind } from '../types.ts';
import { nonEmpty, q } from './common.ts';

export const binding: CliKind<RabbitBindingSpec> = {
  kind: page.bindingKind,
  describe: ([, vhost, source, type, destination, key]) =>
    `binding from exchange ${q(source!)} to ${type} ${q(destination!)}${key ? ` with key ${q(key)}` : ''} in vhost ${q(vhost!)}`,

  fromDefinitions(defs, add) {
    for (const b of defs.bindings ?? []) {
      if (b.source === '') continue; // the default exchange's implicit bindings
      const row: BindingInfo = {
        vhost: b.vhost,
        source: b.source,
        destination: b.destination,
        destination_type: b.destination_type,
        routing_key: b.routing_key ?? '',
        arguments: { ...(b.arguments ?? {}) },
        properties_key: b.properties_key ?? '',
      };
      add(page.bindingsTable, page.rowKey(b.vhost, row), row);
    }
  },

  export: (inv) =>
    inv.rows(page.bindingsTable).map(([, b]) => ({
      identity: ['binding', ...page.rowKey(b.vhost, b)],
      nameParts: [b.source, b.destination, b.routing_key],
      vhost: b.vhost,
      matchNames: [b.source, b.destination],
      needs: [
        ['vhost', b.vhost],
        ['exchange', b.vhost, b.source],
        [b.destination_type, b.vhost, b.destination],
      ],
      spec: {
        vhost: b.vhost,
        source: b.source,
        destination: b.destination,
        destinationType: b.destination_type,
        routingKey: b.routing_key,
        arguments: nonEmpty(b.arguments),
      },
    })),

  // A binding has nothing to change: it is there or not.
  plan: (r, inv) => {
    const d = page.fromSpec(r);
    return { exists: !!inv.row(page.bindingsTable, ...page.rowKey(d.vhost, d)), differences: [] };
  },
};
