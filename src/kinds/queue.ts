import { isDeepStrictEqual } from 'node:util';
import { RabbitQueue, type RabbitQueueSpec } from '../api/queue.ts';
import type { Resource } from '../api/common.ts';
import {
  api,
  ManagementError,
  normalizeQueueArguments,
  queueTypeFromArguments,
  type Capabilities,
  type QueueInfo,
} from '../rabbitmq/index.ts';
import { differing, sameAsLastTime, type Difference } from './compare.ts';
import { claim, depKeys, type Table, type TopologyKind, entries } from './types.ts';

export interface Desired {
  vhost: string;
  name: string;
  type?: string;
  durable: boolean;
  autoDelete: boolean;
  arguments: Record<string, unknown>;
}

export const queuesTable: Table<QueueInfo> = {
  name: 'queues',
  noun: 'queue',
  scope: 'vhost',
  // Without stats and with basic columns only, in one request.
  read: async (client, vhost) =>
    entries(queuesTable, await client.listQueues(vhost), (q) => [[q.vhost, q.name], q]),
};

export const queueName = (r: Resource<RabbitQueueSpec>) => r.spec.name ?? r.metadata.name;

/** Type, durability and the arguments the spec sets, compared version-independently. */
export function differences(d: Desired, actual: QueueInfo, caps: Capabilities): Difference[] {
  const type = d.type ?? actual.type;
  const args = [actual.arguments, d.arguments].map((a) => normalizeQueueArguments(a, type, caps));
  return differing([
    ['durable', actual.durable, d.durable, actual.durable === d.durable],
    ['autoDelete', actual.auto_delete, d.autoDelete, actual.auto_delete === d.autoDelete],
    [
      'type',
      actual.type,
      d.type,
      !d.type || queueTypeFromArguments(actual.arguments) === d.type || actual.type === d.type,
    ],
    ['arguments', args[0], args[1], isDeepStrictEqual(args[0], args[1])],
  ]);
}

const matches = (d: Desired, actual: QueueInfo, caps: Capabilities) => !differences(d, actual, caps).length;

export function fromSpec(r: Resource<RabbitQueueSpec>): Desired {
  const args = { ...r.spec.arguments };
  // An explicit x-queue-type avoids surprises from the vhost's default queue type.
  if (r.spec.type) args['x-queue-type'] = r.spec.type;
  return {
    vhost: r.spec.vhost,
    name: queueName(r),
    type: r.spec.type,
    durable: r.spec.durable ?? true,
    autoDelete: r.spec.autoDelete ?? false,
    arguments: args,
  };
}

export const queueKind: TopologyKind<RabbitQueueSpec, Desired> = {
  def: RabbitQueue,
  identity: (r) => ['queue', r.spec.vhost, queueName(r)],
  vhostOf: (r) => r.spec.vhost,

  desired(r, ctx) {
    ctx.dependOn(depKeys.object(ctx.brokerKey, ['vhost', r.spec.vhost]));
    return fromSpec(r);
  },

  async apply(d, _r, { client, knownAbsent }) {
    // A new queue the last survey did not find is declared without a read first.
    const actual = knownAbsent(queuesTable, d.vhost, d.name)
      ? undefined
      : await client.getQueue(d.vhost, d.name);
    if (actual && matches(d, actual, await client.capabilities())) return 'unchanged';
    // A queue that differs is declared anyway: the broker says which property is inequivalent.
    await client.putQueue(d.vhost, d.name, {
      durable: d.durable,
      auto_delete: d.autoDelete,
      arguments: d.arguments,
    });
    return actual ? 'updated' : 'created';
  },

  async remove(r, { client }) {
    const [vhost, name] = [r.spec.vhost, queueName(r)];
    const conditions = { ifEmpty: r.spec.deleteIfEmpty, ifUnused: r.spec.deleteIfUnused };
    try {
      await client.deleteQueue(vhost, name, conditions);
    } catch (err) {
      // Quorum queues refuse the if-empty/if-unused flags: check the conditions from the queue's
      // counters instead (they lag by the stats interval), then delete unconditionally.
      if (!(err instanceof ManagementError) || !/not supported by quorum queues/.test(err.reason)) throw err;
      const q = await client.get<{ messages?: number; consumers?: number }>(api`/queues/${vhost}/${name}`);
      if (!q) return;
      const refusal =
        conditions.ifEmpty && (q.messages ?? 0) > 0
          ? 'not empty and deleteIfEmpty is set'
          : conditions.ifUnused && (q.consumers ?? 0) > 0
            ? 'in use and deleteIfUnused is set'
            : undefined;
      if (refusal) {
        throw new ManagementError({
          method: 'DELETE',
          path: api`/queues/${vhost}/${name}`,
          status: 400,
          reason: `queue '${name}' ${refusal}`,
          category: 'Rejected',
        });
      }
      await client.deleteQueue(vhost, name);
    }
  },

  tables: [queuesTable],
  claims: (r) => [claim(queuesTable, r.spec.vhost, queueName(r))],

  inSync(r, snap) {
    const actual = snap.row(queuesTable, r.spec.vhost, queueName(r));
    return !!actual && sameAsLastTime(r, [actual, snap.caps], () => matches(fromSpec(r), actual, snap.caps));
  },

  status: (d) => ({ name: d.name }),
};
