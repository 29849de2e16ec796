import { RabbitBinding, type RabbitBindingSpec } from '../api/binding.ts';
import type { Resource } from '../api/common.ts';
import type { BindingBody, BindingInfo, DestinationType, ManagementClient } from '../rabbitmq/index.ts';
import { canonical, sameJson } from './compare.ts';
import { claim, depKeys, type Table, type TopologyKind, entries } from './types.ts';

// Bindings have no name in the broker: a binding is its source, destination, routing key and
// arguments. A resource whose spec changes declares a new binding, and the old one goes.

type Status = {
  source?: string;
  destination?: string;
  destinationType?: string;
  routingKey?: string;
  arguments?: Record<string, unknown>;
};
type Binding = Resource<RabbitBindingSpec, Status>;
export interface Desired extends BindingBody {
  vhost: string;
}

export const bindingsTable: Table<BindingInfo> = {
  name: 'bindings',
  noun: 'binding',
  scope: 'vhost',
  // (listBindings leaves out the default exchange's implicit binding of every queue.)
  read: async (client, vhost) =>
    entries(bindingsTable, await client.listBindings(vhost), (b) => [rowKey(b.vhost, b), b]),
};

/** A binding's row key in the survey's table and (after 'binding') its identity. */
export const rowKey = (vhost: string, b: BindingBody) => [
  vhost,
  b.source,
  b.destination_type,
  b.destination,
  b.routing_key,
  canonical(b.arguments),
];

export const fromSpec = (r: Resource<RabbitBindingSpec>): Desired => ({
  vhost: r.spec.vhost,
  source: r.spec.source,
  destination: r.spec.destination,
  destination_type: r.spec.destinationType,
  routing_key: r.spec.routingKey,
  arguments: r.spec.arguments ?? {},
});

/** The binding last applied, from status. */
function applied(r: Binding): Desired | undefined {
  const s = r.status;
  if (!s?.source || !s.destination || !s.destinationType) return undefined;
  return {
    vhost: r.spec.vhost,
    source: s.source,
    destination: s.destination,
    destination_type: s.destinationType as DestinationType,
    routing_key: s.routingKey ?? '',
    arguments: s.arguments ?? {},
  };
}

const same = (a: BindingBody, b: BindingBody) =>
  a.routing_key === b.routing_key && sameJson(a.arguments, b.arguments);

async function find(client: ManagementClient, b: Desired): Promise<BindingInfo[]> {
  const between = await client.listBindingsBetween(b.vhost, b.source, b.destination_type, b.destination);
  return between.filter((x) => same(x, b));
}

export const bindingKind: TopologyKind<RabbitBindingSpec, Desired, Status> = {
  def: RabbitBinding,
  identity: (r) => ['binding', ...rowKey(r.spec.vhost, fromSpec(r))],
  vhostOf: (r) => r.spec.vhost,

  desired(r, ctx) {
    const d = fromSpec(r);
    // Declared again when its source or destination is (re-)created: a new queue has no bindings.
    ctx.dependOn(depKeys.object(ctx.brokerKey, ['exchange', d.vhost, d.source]));
    ctx.dependOn(depKeys.object(ctx.brokerKey, [d.destination_type, d.vhost, d.destination]));
    ctx.dependOn(depKeys.object(ctx.brokerKey, ['vhost', d.vhost]));
    return d;
  },

  async apply(d, r, ctx) {
    const { client } = ctx;
    const old = applied(r);
    let moved = false;
    if (old && canonical(rowKey(old.vhost, old)) !== canonical(rowKey(d.vhost, d))) {
      if (!ctx.declaredByOther(['binding', ...rowKey(old.vhost, old)])) {
        for (const b of await find(client, old)) await client.deleteBinding(old.vhost, b);
      }
      moved = true;
    }
    // A new binding the last survey did not find is added without a read first (adding is idempotent).
    if (!ctx.knownAbsent(bindingsTable, ...rowKey(d.vhost, d)) && (await find(client, d)).length)
      return moved ? 'updated' : 'unchanged';
    // A missing source or destination is a 404: WaitingForDependency until it is created.
    await client.postBinding(d.vhost, d);
    return 'created';
  },

  async remove(r, { client }) {
    const b = applied(r) ?? fromSpec(r);
    for (const x of await find(client, b)) await client.deleteBinding(b.vhost, x);
  },

  tables: [bindingsTable],
  claims: (r) => [claim(bindingsTable, ...rowKey(r.spec.vhost, applied(r) ?? fromSpec(r)))],

  inSync: (r, snap) => !!snap.row(bindingsTable, ...rowKey(r.spec.vhost, fromSpec(r))),

  status: (d) => ({
    source: d.source,
    destination: d.destination,
    destinationType: d.destination_type,
    routingKey: d.routing_key,
    arguments: d.arguments,
  }),
};
