import { RabbitSuperStream, type RabbitSuperStreamSpec } from '../../api/superstream.ts';
import { bindingsTable, rowKey } from '../../kinds/binding.ts';
import { canonical, sameJson, type Difference } from '../../kinds/compare.ts';
import { exchangesTable } from '../../kinds/exchange.ts';
import { key } from '../../kinds/keys.ts';
import { queuesTable } from '../../kinds/queue.ts';
import * as page from '../../kinds/superstream.ts';
import type { BindingInfo } from '../../rabbitmq/index.ts';
import type { CliKind, Inventory } from '../types.ts';
import { nonEmpty, q } from './common.ts';

// A super stream in a broker is an exchange, stream queues and bindings carrying
// x-stream-partition-order (what the stream clients and `rabbitmq-streams add_super_stream`
// make). One shaped as a RabbitSuperStream declares it is exported as one, and its parts are
// claimed (the exchange, queue and binding kinds leave them out); one shaped otherwise is exported
// part by part, with the reason.

const ORDER = 'x-stream-partition-order';

interface Found {
  vhost: string;
  name: string;
  spec: Record<string, unknown>;
  /** Identities of its exchange, partitions and bindings. */
  parts: string[][];
  /** Why it cannot be a RabbitSuperStream. */
  problem?: string;
}

function check(inv: Inventory, vhost: string, name: string, bindings: BindingInfo[]): Found {
  const found: Found = { vhost, name, spec: {}, parts: [] };
  const fail = (problem: string) => ({ ...found, problem });
  const v = inv.caps.version;
  if (!inv.caps.superStreams)
    return fail(`RabbitMQ ${v.major}.${v.minor} has no super streams (3.11 or later)`);
  if (!page.exchangeMatches(inv.row(exchangesTable, vhost, name)!))
    return fail('its exchange is not a super stream exchange (durable, direct, argument x-super-stream)');
  const sorted = [...bindings].sort((a, b) => Number(a.arguments[ORDER]) - Number(b.arguments[ORDER]));
  const keys: string[] = [];
  const args = new Set<string>();
  for (const [order, b] of sorted.entries()) {
    const p = { queue: b.destination, key: b.routing_key, order };
    if (b.destination_type !== 'queue') return fail(`it binds exchange ${q(b.destination)} as a partition`);
    if (!sameJson(b.arguments, page.orderArgs(p)))
      return fail('its partitions are not numbered 0 to n-1 by x-stream-partition-order alone');
    if (b.destination !== `${name}-${b.routing_key}`)
      return fail(`partition ${q(b.destination)} is not named <super stream>-<routing key>`);
    const queue = inv.row(queuesTable, vhost, b.destination);
    if (!queue || queue.type !== 'stream' || !queue.durable)
      return fail(`partition ${q(b.destination)} is not a durable stream`);
    const { 'x-queue-type': _, ...rest } = queue.arguments;
    args.add(canonical(rest));
    keys.push(b.routing_key);
  }
  if (args.size > 1) return fail('its partitions have different arguments');
  const numbered = keys.every((k, i) => k === String(i));
  found.spec = {
    vhost,
    ...(numbered ? { partitions: keys.length } : { routingKeys: keys }),
    arguments: nonEmpty(JSON.parse([...args][0]!)),
  };
  const parsed = RabbitSuperStream.spec.safeParse({ brokerRef: { name: 'x' }, name, ...found.spec });
  if (!parsed.success)
    return fail(`not valid as a RabbitSuperStream (${parsed.error.issues.map((i) => i.message).join('; ')})`);
  found.parts = [
    ['exchange', vhost, name],
    ...sorted.flatMap((b) => [
      ['queue', vhost, b.destination],
      ['binding', ...rowKey(vhost, b)],
    ]),
  ];
  return found;
}

/** The broker's super streams: exchanges with bindings carrying x-stream-partition-order. */
function superStreams(inv: Inventory): Found[] {
  const groups = new Map<string, { vhost: string; name: string; bindings: BindingInfo[] }>();
  for (const [, b] of inv.rows(bindingsTable)) {
    if (!(ORDER in (b.arguments ?? {})) || !inv.row(exchangesTable, b.vhost, b.source)) continue;
    const id = key(b.vhost, b.source);
    let g = groups.get(id);
    if (!g) groups.set(id, (g = { vhost: b.vhost, name: b.source, bindings: [] }));
    g.bindings.push(b);
  }
  return [...groups.values()].map((g) => check(inv, g.vhost, g.name, g.bindings));
}

export const superStream: CliKind<RabbitSuperStreamSpec> = {
  kind: page.superStreamKind,
  describe: ([, vhost, name]) => `super stream ${q(name!)} in vhost ${q(vhost!)}`,

  // Its rows are the exchange, queue and binding kinds' (which read them from the file).
  fromDefinitions: () => {},

  claims: (inv) => superStreams(inv).flatMap((s) => s.parts),

  export: (inv) =>
    superStreams(inv).map((s) => ({
      identity: ['super-stream', s.vhost, s.name],
      nameParts: [s.name],
      brokerName: { field: 'name', value: s.name },
      vhost: s.vhost,
      matchNames: [s.name],
      needs: [['vhost', s.vhost]],
      spec: s.spec,
      skip: s.problem && `${s.problem}: exported as its exchange, queues and bindings`,
    })),

  plan(r, inv) {
    const d = page.superStreamFromSpec(r);
    const v = inv.caps.version;
    const notes = inv.caps.superStreams
      ? []
      : [`RabbitMQ ${v.major}.${v.minor}.${v.patch} has no super streams: warren would report Rejected`];
    if (!inv.row(exchangesTable, d.vhost, d.name)) return { exists: false, differences: [], notes };
    // Partitions bound by another key or order: the reconcile deletes those bindings.
    const wanted = new Map(d.partitions.map((p) => [p.queue, p]));
    const stray: Difference[] = inv
      .rows(bindingsTable)
      .map(([, b]) => b)
      .filter((b) => {
        const p = b.vhost === d.vhost && b.source === d.name ? wanted.get(b.destination) : undefined;
        return (
          b.destination_type === 'queue' &&
          p &&
          (b.routing_key !== p.key || !sameJson(b.arguments, page.orderArgs(p)))
        );
      })
      .map((b) => ({
        field: `binding to ${b.destination}`,
        broker: { routingKey: b.routing_key, arguments: b.arguments },
        spec: undefined,
      }));
    return { exists: true, differences: [...page.superStreamDifferences(d, inv), ...stray], notes };
  },
};
