import { isDeepStrictEqual } from 'node:util';
import { RabbitQueue, type RabbitQueueSpec } from '../api/queue.ts';
import { Reasons, type Resource } from '../api/common.ts';
import {
  api,
  normalizeQueueArguments,
  queueTypeFromArguments,
  type Capabilities,
  type ManagementClient,
  type QueueInfo,
} from '../rabbitmq/index.ts';
import { differing, keptAsDeclared, sameAsLastTime, type Difference } from './compare.ts';
import { Blocked, claim, depKeys, type Table, type TopologyKind, entries } from './types.ts';

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

/** What a conditional deletion reads of the queue first: its type and the broker's counters. */
interface QueueCounters {
  type?: string;
  /** Ready and unacknowledged together; refreshed on the stats interval, so they lag. */
  messages?: number;
  consumers?: number;
}

type Conditions = { ifEmpty: boolean; ifUnused: boolean };

const held = (message: string) => new Blocked(Reasons.DeleteFailed, message);

const plural = (n: number, one: string) => `${n} ${one}${n === 1 ? '' : 's'}`;

/**
 * Quorum queues in which the check at the source found a message waiting, and when, by broker,
 * vhost and name: not checked again until the broker's counters have had time to show it (a
 * quorum queue's leader reports on a 5 s tick, which the stats collector reads every 5 s).
 */
const foundWaiting = new Map<string, number>();
const RECHECK_AFTER_MS = 15_000;

/**
 * Deletes a queue only if it is empty (deleteIfEmpty) or unused (deleteIfUnused), and otherwise
 * throws, so the finalizer is held (DeleteFailed) and the deletion retried with backoff.
 *
 * Only a classic queue has the broker check the conditions itself, atomically with the deletion
 * (DELETE ?if-empty=true&if-unused=true, 400 "not empty" / "in use"). Quorum queues refuse both
 * flags on every version (3.10 to 4.x: "not supported by quorum queues"), and streams ignore them,
 * which would delete a stream with everything in it. The queue's `messages` and `consumers`
 * statistics lag by the stats interval (5 s by default, more for quorum queues, whose leader
 * reports on its own tick): a message published just before reads as 0. So, for a quorum queue,
 * emptiness is checked at the source right before the deletion: a basic.get through the
 * management API (POST .../get, ackmode ack_requeue_true, the message returned to the queue when
 * the channel closes). That get is a Raft command of the queue, ordered after every confirmed
 * publish, so a message confirmed before it is seen. It is made only when the counters say 0 (a
 * queue they already show full is held without touching it), and at most once per
 * RECHECK_AFTER_MS while they catch up, because a message it finds comes back marked redelivered
 * with its delivery count raised (x-delivery-count + 1 on 3.10, which a delivery-limit counts).
 */
async function removeIf(
  vhost: string,
  name: string,
  c: Conditions,
  { client, brokerKey }: { client: ManagementClient; brokerKey: string },
): Promise<void> {
  // With stats: the type and the counters in one read.
  const q = await client.get<QueueCounters>(api`/queues/${vhost}/${name}`);
  if (!q) return;
  const type = q.type ?? 'classic';
  if (type === 'classic') {
    await client.deleteQueue(vhost, name, c);
    return;
  }
  if (type !== 'quorum' && c.ifEmpty) {
    // A stream keeps what it was sent after it is read: written to once, it is never empty, and
    // the broker has no check of its own (the flag is ignored and the stream deleted).
    throw held(
      `queue '${name}' is a ${type === 'stream' ? 'stream' : `${type} queue`} and deleteIfEmpty is set: the broker cannot check that it is empty (it would delete it with its messages), so warren does not delete it; remove deleteIfEmpty to delete it with its messages, or set deletionPolicy to Retain to keep it`,
    );
  }
  // Consumers have no check at the source: the counter may miss one that subscribed seconds ago.
  if (c.ifUnused && (q.consumers ?? 0) > 0) {
    throw held(`${type} queue '${name}' has ${plural(q.consumers!, 'consumer')} and deleteIfUnused is set`);
  }
  if (c.ifEmpty) {
    if ((q.messages ?? 0) > 0) {
      throw held(
        `quorum queue '${name}' is not empty (${plural(q.messages!, 'message')}) and deleteIfEmpty is set`,
      );
    }
    const key = `${brokerKey}\0${vhost}\0${name}`;
    const now = Date.now();
    const seen = foundWaiting.get(key);
    if (seen !== undefined && now - seen < RECHECK_AFTER_MS) {
      throw held(
        `quorum queue '${name}' is not empty (a message was waiting ${Math.round((now - seen) / 1000)} s ago, which the broker's count did not show yet) and deleteIfEmpty is set`,
      );
    }
    const waiting = await client.post(api`/queues/${vhost}/${name}/get`, {
      count: 1,
      ackmode: 'ack_requeue_true',
      encoding: 'auto',
      truncate: 0,
    });
    for (const [k, t] of foundWaiting) if (now - t >= RECHECK_AFTER_MS) foundWaiting.delete(k);
    if (Array.isArray(waiting) && waiting.length > 0) {
      foundWaiting.set(key, now);
      throw held(
        `quorum queue '${name}' is not empty (a message is waiting, which the broker's count did not show yet) and deleteIfEmpty is set`,
      );
    }
    foundWaiting.delete(key);
  }
  await client.deleteQueue(vhost, name);
}

export const queueKind: TopologyKind<RabbitQueueSpec, Desired> = {
  def: RabbitQueue,
  identity: (r) => ['queue', r.spec.vhost, queueName(r)],
  // The broker refuses to redeclare it otherwise (400 inequivalent arg; AMQP: PRECONDITION_FAILED).
  immutableFields: ['type', 'durable', 'autoDelete', 'arguments'],
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
    const diffs = actual ? differences(d, actual, await client.capabilities()) : [];
    if (actual && !diffs.length) return 'unchanged';
    // A queue that differs is declared anyway: the broker says which property is inequivalent.
    await client.putQueue(d.vhost, d.name, {
      durable: d.durable,
      auto_delete: d.autoDelete,
      arguments: d.arguments,
    });
    if (actual) throw keptAsDeclared(`queue '${d.name}'`, diffs);
    return 'created';
  },

  async remove(r, ctx) {
    const [vhost, name] = [r.spec.vhost, queueName(r)];
    const conditions = { ifEmpty: !!r.spec.deleteIfEmpty, ifUnused: !!r.spec.deleteIfUnused };
    if (!conditions.ifEmpty && !conditions.ifUnused) {
      await ctx.client.deleteQueue(vhost, name);
      return;
    }
    await removeIf(vhost, name, conditions, ctx);
  },

  tables: [queuesTable],
  claims: (r) => [claim(queuesTable, r.spec.vhost, queueName(r))],

  inSync(r, snap) {
    const actual = snap.row(queuesTable, r.spec.vhost, queueName(r));
    return !!actual && sameAsLastTime(r, [actual, snap.caps], () => matches(fromSpec(r), actual, snap.caps));
  },

  status: (d) => ({ name: d.name }),
};
