import type { RabbitExchangeSpec } from '../../api/exchange.ts';
import * as page from '../../kinds/exchange.ts';
import type { CliKind } from '../types.ts';
import { nonEmpty, q } from './common.ts';

export const exchange: CliKind<RabbitExchangeSpec> = {
  kind: page.exchangeKind,
  describe: ([, vhost, name]) => `exchange ${q(name!)} in vhost ${q(vhost!)}`,

  fromDefinitions(defs, add) {
    for (const x of defs.exchanges ?? []) {
      // As the live table: the default exchange and amq.* belong to the broker.
      if (x.name === '' || x.name.startsWith('amq.')) continue;
      add(page.exchangesTable, [x.vhost, x.name], {
        name: x.name,
        vhost: x.vhost,
        type: x.type ?? 'direct',
        durable: x.durable === true,
        auto_delete: x.auto_delete === true,
        internal: x.internal === true,
        arguments: { ...(x.arguments ?? {}) },
      });
    }
  },

  export: (inv) =>
    inv.rows(page.exchangesTable).map(([, x]) => ({
      identity: ['exchange', x.vhost, x.name],
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
        internal: x.internal,
        arguments: nonEmpty(x.arguments),
      },
    })),

  plan(r, inv) {
    const d = page.fromSpec(r);
    const actual = inv.row(page.exchangesTable, d.vhost, d.name);
    if (!actual) return { exists: false, differences: [] };
    return { exists: true, differences: page.differences(d, actual) };
  },
};
