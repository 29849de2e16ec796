import { isDeepStrictEqual } from 'node:util';
import { Reasons, type Resource } from '../api/common.ts';
import { RabbitSuperStream, type RabbitSuperStreamSpec } from '../api/superstream.ts';
import {
  normalizeQueueArguments,
  queueTypeFromArguments,
  type Capabilities,
  type ExchangeBody,
  type ExchangeInfo,
  type QueueInfo,
} from '../rabbitmq/index.ts';
import { bindingsTable } from './binding.ts';
import { canonical, sameJson, type Difference } from './compare.ts';
import { exchangesTable } from './exchange.ts';
import { queuesTable } from './queue.ts';
import { Blocked, claim, depKeys, type Applied, type Snapshot, type TopologyKind } from './types.ts';

// A super stream is what the stream clients (and `rabbitmq-streams add_super_stream`) make: a
// direct exchange <name> marked x-super-stream, stream queues <name>-<routing key>, and a binding
// from the exchange to each with its routing key and x-stream-partition-order, which is how a
// client learns the partitions and their order. The partitions belong to the super stream.

type SuperStream = Resource<RabbitSuperStreamSpec, { exchange?: string; partitions?: string[] }>;
export interface Partition {
  queue: string;
  key: string;
  order: number;
}
export interface SuperStreamDesired {
  vhost: string;
  name: string;
  partitions: Partition[];
  queueArguments: Record<string, unknown>;
}

export const SUPER_STREAM_EXCHANGE: ExchangeBody = {
  type: 'direct',
  durable: true,
  auto_delete: false,
  internal: false,
  arguments: { 'x-super-stream': true },
};

export const superStreamName = (r: SuperStream) => r.spec.name ?? r.metadata.name;

export function superStreamFromSpec(r: SuperStream): SuperStreamDesired {
  const name = superStreamName(r);
  const keys = r.spec.routingKeys ?? Array.from({ length: r.spec.partitions ?? 0 }, (_, i) => String(i));
  return {
    vhost: r.spec.vhost,
    name,
    partitions: keys.map((key, order) => ({ queue: `${name}-${key}`, key, order })),
    queueArguments: { ...r.spec.arguments, 'x-queue-type': 'stream' },
  };
}

export const orderArgs = (p: Partition) => ({ 'x-stream-partition-order': p.order });

export const exchangeMatches = (a: ExchangeInfo) =>
  a.type === SUPER_STREAM_EXCHANGE.type &&
  a.durable &&
  !a.auto_delete &&
  !a.internal &&
  sameJson(a.arguments, SUPER_STREAM_EXCHANGE.arguments);

export const streamMatches = (d: SuperStreamDesired, a: QueueInfo, caps: Capabilities) =>
  a.durable &&
  (a.type === 'stream' || queueTypeFromArguments(a.arguments) === 'stream') &&
  isDeepStrictEqual(
    normalizeQueueArguments(a.arguments, 'stream', caps),
    normalizeQueueArguments(d.queueArguments, 'stream', caps),
  );

/** The bindings table's row key of a partition's binding (see binding.ts). */
const bindingRow = (d: SuperStreamDesired, p: Partition) => [
  d.vhost,
  d.name,
  'queue',
  p.queue,
  p.key,
  canonical(orderArgs(p)),
];

/**
 * Where the broker's super stream differs from the desired one: its exchange, partitions missing or
 * not streams with the spec's arguments, partitions not bound by key and order. Reads only the
 * snapshot (the survey's, or `warren diff`'s).
 */
export function superStreamDifferences(d: SuperStreamDesired, snap: Snapshot): Difference[] {
  const out: Difference[] = [];
  const x = snap.row(exchangesTable, d.vhost, d.name);
  if (x && !exchangeMatches(x)) {
    const { type, durable, auto_delete, internal, arguments: args } = x;
    out.push({
      field: 'exchange',
      broker: { type, durable, auto_delete, internal, arguments: args },
      spec: SUPER_STREAM_EXCHANGE,
    });
  }
  const present = d.partitions.filter((p) => snap.row(queuesTable, d.vhost, p.queue));
  if (present.length < d.partitions.length) {
    out.push({
      field: 'partitions',
      broker: present.map((p) => p.queue),
      spec: d.partitions.map((p) => p.queue),
    });
  }
  for (const p of present) {
    const q = snap.row(queuesTable, d.vhost, p.queue)!;
    if (!streamMatches(d, q, snap.caps)) {
      out.push({
        field: `partition ${p.queue}`,
        broker: { type: q.type, durable: q.durable, arguments: q.arguments },
        spec: { type: 'stream', durable: true, arguments: d.queueArguments },
      });
    }
  }
  for (const p of d.partitions) {
    if (!snap.row(bindingsTable, ...bindingRow(d, p))) {
      out.push({
        field: `binding to ${p.queue}`,
        broker: undefined,
        spec: { routingKey: p.key, arguments: orderArgs(p) },
      });
    }
  }
  return out;
}

function unsupported(caps: Capabilities): Blocked {
  const v = caps.version;
  return new Blocked(
    Reasons.Rejected,
    `super streams need RabbitMQ 3.11 or later; this broker runs ${v.major}.${v.minor}.${v.patch}`,
  );
}

export const superStreamKind: TopologyKind<RabbitSuperStreamSpec, SuperStreamDesired> = {
  def: RabbitSuperStream,
  identity: (r) => ['super-stream', r.spec.vhost, superStreamName(r)],
  vhostOf: (r) => r.spec.vhost,

  desired(r, ctx) {
    ctx.dependOn(depKeys.object(ctx.brokerKey, ['vhost', r.spec.vhost]));
    return superStreamFromSpec(r);
  },

  async apply(d, _r, { client }) {
    const caps = await client.capabilities();
    if (!caps.superStreams) throw unsupported(caps);
    let applied: Applied = 'unchanged';
    const wrote = () => void (applied = applied === 'unchanged' ? 'updated' : applied);

    const exchange = await client.getExchange(d.vhost, d.name);
    if (!exchange || !exchangeMatches(exchange)) {
      // A differing exchange is declared anyway: the broker says what is inequivalent.
      await client.putExchange(d.vhost, d.name, SUPER_STREAM_EXCHANGE);
      applied = exchange ? 'updated' : 'created';
    }
    for (const p of d.partitions) {
      const q = await client.getQueue(d.vhost, p.queue);
      if (q && streamMatches(d, q, caps)) continue;
      await client.putQueue(d.vhost, p.queue, {
        durable: true,
        auto_delete: false,
        arguments: d.queueArguments,
      });
      wrote();
    }
    const bindings = await client.listBindingsFrom(d.vhost, d.name);
    const wanted = new Map(d.partitions.map((p) => [p.queue, p]));
    for (const b of bindings) {
      // A partition bound other than by its key and order would mislead the clients.
      const p = b.destination_type === 'queue' ? wanted.get(b.destination) : undefined;
      if (p && (b.routing_key !== p.key || !sameJson(b.arguments, orderArgs(p)))) {
        await client.deleteBinding(d.vhost, b);
        wrote();
      }
    }
    for (const p of d.partitions) {
      const bound = bindings.some(
        (b) =>
          b.destination_type === 'queue' &&
          b.destination === p.queue &&
          b.routing_key === p.key &&
          sameJson(b.arguments, orderArgs(p)),
      );
      if (bound) continue;
      await client.postBinding(d.vhost, {
        source: d.name,
        destination: p.queue,
        destination_type: 'queue',
        routing_key: p.key,
        arguments: orderArgs(p),
      });
      wrote();
    }
    return applied;
  },

  async remove(r, ctx) {
    const { client } = ctx;
    // On a broker without super streams nothing was declared.
    if (!(await client.capabilities()).superStreams) return;
    const d = superStreamFromSpec(r);
    const queues = new Set([...(r.status?.partitions ?? []), ...d.partitions.map((p) => p.queue)]);
    // A partition or the exchange that another resource declares stays.
    for (const q of queues)
      if (!ctx.declaredByOther(['queue', d.vhost, q])) await client.deleteQueue(d.vhost, q);
    if (!ctx.declaredByOther(['exchange', d.vhost, d.name])) await client.deleteExchange(d.vhost, d.name);
  },

  tables: [exchangesTable, queuesTable, bindingsTable],
  claims: (r) => {
    const d = superStreamFromSpec(r);
    return [
      claim(exchangesTable, d.vhost, d.name),
      ...d.partitions.flatMap((p) => [
        claim(queuesTable, d.vhost, p.queue),
        claim(bindingsTable, ...bindingRow(d, p)),
      ]),
    ];
  },

  inSync(r, snap) {
    const d = superStreamFromSpec(r);
    return !!snap.row(exchangesTable, d.vhost, d.name) && superStreamDifferences(d, snap).length === 0;
  },

  status: (d) => ({
    exchange: d.name,
    partitions: d.partitions.map((p) => p.queue),
    partitionCount: d.partitions.length,
  }),
};
