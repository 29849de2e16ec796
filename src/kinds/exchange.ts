import { RabbitExchange, type RabbitExchangeSpec } from '../api/exchange.ts';
import type { Resource } from '../api/common.ts';
import { ManagementError, type ExchangeBody, type ExchangeInfo } from '../rabbitmq/index.ts';
import { differing, keptAsDeclared, sameAsLastTime, sameJson, type Difference } from './compare.ts';
import { claim, depKeys, type Table, type TopologyKind, entries } from './types.ts';

export interface Desired extends ExchangeBody {
  vhost: string;
  name: string;
}

export const exchangesTable: Table<ExchangeInfo> = {
  name: 'exchanges',
  noun: 'exchange',
  scope: 'vhost',
  // The default exchange and amq.* belong to the broker: not rows anyone could declare.
  read: async (client, vhost) =>
    entries(exchangesTable, await client.listExchanges(vhost), (x) =>
      x.name === '' || x.name.startsWith('amq.') ? undefined : [[x.vhost, x.name], x],
    ),
};

export const exchangeName = (r: Resource<RabbitExchangeSpec>) => r.spec.name ?? r.metadata.name;

export const fromSpec = (r: Resource<RabbitExchangeSpec>): Desired => ({
  vhost: r.spec.vhost,
  name: exchangeName(r),
  type: r.spec.type,
  durable: r.spec.durable,
  auto_delete: r.spec.autoDelete,
  internal: r.spec.internal,
  arguments: r.spec.arguments ?? {},
});

/** What differs between an existing exchange and the spec (the broker cannot change any of it). */
export const differences = (d: Desired, a: ExchangeInfo): Difference[] =>
  differing([
    ['type', a.type, d.type, a.type === d.type],
    ['durable', a.durable, d.durable, a.durable === d.durable],
    ['autoDelete', a.auto_delete, d.auto_delete, a.auto_delete === d.auto_delete],
    ['internal', a.internal, d.internal, a.internal === d.internal],
    ['arguments', a.arguments, d.arguments, sameJson(a.arguments, d.arguments)],
  ]);

const matches = (d: Desired, a: ExchangeInfo) => !differences(d, a).length;

export const exchangeKind: TopologyKind<RabbitExchangeSpec, Desired> = {
  def: RabbitExchange,
  identity: (r) => ['exchange', r.spec.vhost, exchangeName(r)],
  // The broker refuses to redeclare it otherwise (400 inequivalent arg; AMQP: PRECONDITION_FAILED).
  immutableFields: ['type', 'durable', 'autoDelete', 'internal', 'arguments'],
  vhostOf: (r) => r.spec.vhost,

  desired(r, ctx) {
    ctx.dependOn(depKeys.object(ctx.brokerKey, ['vhost', r.spec.vhost]));
    return fromSpec(r);
  },

  async apply(d, _r, { client, knownAbsent }) {
    // A new exchange the last survey did not find is written without a read first.
    const actual = knownAbsent(exchangesTable, d.vhost, d.name)
      ? undefined
      : await client.getExchange(d.vhost, d.name);
    const diffs = actual ? differences(d, actual) : [];
    if (actual && !diffs.length) return 'unchanged';
    // A differing exchange is declared anyway: the broker says which property is inequivalent.
    await client.putExchange(d.vhost, d.name, d).catch((err: unknown) => {
      if (err instanceof ManagementError && /unknown exchange type/.test(err.reason)) {
        throw new ManagementError({
          method: err.method,
          path: err.path,
          status: err.status,
          reason: `${err.reason} (an exchange type from a plugin needs that plugin enabled)`,
          category: 'Rejected',
        });
      }
      throw err;
    });
    if (actual) throw keptAsDeclared(`exchange '${d.name}'`, diffs);
    return 'created';
  },

  async remove(r, { client }) {
    await client.deleteExchange(r.spec.vhost, exchangeName(r));
  },

  tables: [exchangesTable],
  claims: (r) => [claim(exchangesTable, r.spec.vhost, exchangeName(r))],

  inSync(r, snap) {
    const actual = snap.row(exchangesTable, r.spec.vhost, exchangeName(r));
    return !!actual && sameAsLastTime(r, [actual], () => matches(fromSpec(r), actual));
  },

  status: (d) => ({ name: d.name }),
};
