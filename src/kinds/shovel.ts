import type { z } from 'zod';
import { Reasons, type Resource } from '../api/common.ts';
import { RabbitShovel, type RabbitShovelSpec } from '../api/shovel.ts';
import { findCondition, isReady } from '../runtime/conditions.ts';
import type { ShovelStatus } from '../rabbitmq/index.ts';
import {
  noStatusList,
  parametersTable,
  putParameter,
  sameValue,
  settle,
  showsVerdict,
} from './parameters.ts';
import { Blocked, claim, depKeys, type NotWorking, type Table, type TopologyKind, entries } from './types.ts';
import { localVhost, readUris, safe, uriValue, urisFrom, type SecretUris } from './uris.ts';

// A dynamic shovel is the runtime parameter shovel/<vhost>/<name>; the broker runs it. Ready
// means declared as specified *and* running, as the broker's shovel status list says.

type Status = z.output<typeof RabbitShovel.status>;
type Shovel = Resource<RabbitShovelSpec, Status>;
interface Desired {
  vhost: string;
  name: string;
  value: Record<string, unknown>;
  uris: SecretUris;
  /** Vhosts of this broker the URIs connect to directly (amqp:// with no host). */
  localVhosts: string[];
  /** Set by apply: a deleteAfter shovel that finished and removed itself. */
  completed?: boolean;
  /** Set by apply: declared or changed just now. */
  written?: boolean;
  /** Set by check. */
  state?: string;
}

/** The keys of the uriSecretRef Secret. */
export const SHOVEL_URI_KEYS = ['srcUri', 'destUri'];
const KEYS = SHOVEL_URI_KEYS;

const shovelStatusTable: Table<ShovelStatus> = {
  name: 'shovelStatus',
  noun: 'shovel state',
  scope: 'broker',
  settings: true,
  whenDeclared: true,
  read: async (client) =>
    entries(shovelStatusTable, (await client.listShovelStatus()) ?? [], (s) => [[s.vhost, s.name], s]),
};

export const shovelName = (r: Shovel) => r.spec.name ?? r.metadata.name;
const oneShot = (r: Shovel) => (r.spec.source.deleteAfter ?? 'never') !== 'never';

/** The shovel parameter's value a resource declares, with these URIs. Pure: `warren diff` uses it too. */
export function shovelValue(r: Shovel, uris: SecretUris): Record<string, unknown> {
  const { source: s, destination: d } = r.spec;
  const v: Record<string, unknown> = {
    'src-protocol': s.protocol ?? 'amqp091',
    'src-uri': uriValue(uris.uris.srcUri!),
    'dest-protocol': d.protocol ?? 'amqp091',
    'dest-uri': uriValue(uris.uris.destUri!),
  };
  const fields: Array<[string, unknown]> = [
    ['src-queue', s.queue],
    ['src-exchange', s.exchange],
    ['src-exchange-key', s.routingKey],
    ['src-address', s.address],
    ['src-prefetch-count', s.prefetchCount],
    ['src-delete-after', s.deleteAfter],
    ['src-consumer-args', s.consumerArgs],
    ['src-queue-args', s.queueArgs],
    ['dest-queue', d.queue],
    ['dest-exchange', d.exchange],
    ['dest-exchange-key', d.routingKey],
    ['dest-address', d.address],
    ['dest-add-forward-headers', d.addForwardHeaders],
    ['dest-add-timestamp-header', d.addTimestampHeader],
    ['dest-publish-properties', d.publishProperties],
    ['dest-queue-args', d.queueArgs],
    ['dest-application-properties', d.applicationProperties],
    ['dest-properties', d.properties],
    ['dest-message-annotations', d.messageAnnotations],
    ['ack-mode', r.spec.ackMode],
    ['reconnect-delay', r.spec.reconnectDelay],
  ];
  for (const [k, x] of fields) if (x !== undefined) v[k] = x;
  return v;
}

// A shovel declared by hand without protocols is the same shovel as ours with amqp091.
export const normalizedShovel = (v: unknown) =>
  v && typeof v === 'object' ? { 'src-protocol': 'amqp091', 'dest-protocol': 'amqp091', ...v } : v;
const matches = (desired: Record<string, unknown>, actual: unknown) =>
  sameValue(normalizedShovel(desired), normalizedShovel(actual));

/**
 * What the broker's status row says, in Ready terms. A terminated shovel is restarted after its
 * reconnect delay and shows 'starting' meanwhile: until it runs, it is still the failure (so a
 * shovel that keeps failing does not flap between two reasons).
 */
function verdict(
  row: ShovelStatus | undefined,
  uris: SecretUris | undefined,
  r: Shovel,
): { state: string; trouble?: NotWorking } {
  const state = row?.state ?? 'starting';
  // 4.x reports a running shovel's credit flow as its state.
  if (state === 'running' || state === 'flow') return { state: 'running' };
  if (state === 'blocked') {
    return {
      state,
      trouble: {
        reason: Reasons.WaitingForDependency,
        message: 'the shovel is blocked: its destination does not take messages now (a resource alarm?)',
      },
    };
  }
  // Declared, and not running: the link is down (a refused login, an unreachable host), in the
  // broker's words; it may come up by itself (the broker retries), so in progress, not stalled.
  if (state === 'terminated') {
    const why = row?.reason ? safe(row.reason, uris) : 'no reason given';
    return {
      state,
      trouble: {
        reason: Reasons.LinkDown,
        message: `the shovel terminated: ${why} (the broker restarts it after reconnectDelay)`,
      },
    };
  }
  const shown = findCondition(r.status?.conditions, 'Ready');
  if (
    state === 'starting' &&
    r.status?.state === 'terminated' &&
    shown?.status === 'False' &&
    shown.reason === Reasons.LinkDown
  ) {
    return { state: 'terminated', trouble: { reason: shown.reason, message: shown.message, soon: true } };
  }
  return {
    state,
    trouble: {
      reason: Reasons.WaitingForDependency,
      message: `the shovel is ${state}: connecting to its source and destination (if it stays so, it cannot connect: a refused login, an unreachable host; RabbitMQ 4.0 and older give no reason here, the broker's log does)`,
      soon: true,
    },
  };
}

/** Declared for this generation before: a one-shot shovel missing now has finished. */
const ranBefore = (r: Shovel) => r.status?.observedGeneration === r.metadata.generation && !!r.status?.state;

export const shovelKind: TopologyKind<RabbitShovelSpec, Desired, Status> = {
  def: RabbitShovel,
  identity: (r) => ['shovel', r.spec.vhost, shovelName(r)],
  vhostOf: (r) => r.spec.vhost,
  touches: (_r, d) => ({ uris: d && Object.values(d.uris.uris).flat() }),

  async desired(r, ctx) {
    ctx.dependOn(depKeys.object(ctx.brokerKey, ['vhost', r.spec.vhost]));
    const uris = await readUris(r, KEYS, ctx);
    const localVhosts = new Set<string>();
    for (const key of KEYS) {
      for (const uri of uris.uris[key]!) {
        const vh = localVhost(uri);
        if (vh !== undefined) localVhosts.add(vh);
      }
    }
    return {
      vhost: r.spec.vhost,
      name: shovelName(r),
      value: shovelValue(r, uris),
      uris,
      localVhosts: [...localVhosts],
    };
  },

  async apply(d, r, ctx) {
    const { client } = ctx;
    // The source and destination vhosts of this broker come first (the broker refuses a URI to a
    // vhost that does not exist).
    for (const vh of d.localVhosts) {
      ctx.dependOn(depKeys.object(ctx.brokerKey, ['vhost', vh]));
      if (vh !== '' && !(await client.getVhost(vh))) {
        throw new Blocked(
          Reasons.WaitingForDependency,
          `vhost '${vh}', which a URI of this shovel connects to, does not exist in the broker yet`,
        );
      }
    }
    const actual = await client.getParameter('shovel', d.vhost, d.name);
    if (actual === undefined && oneShot(r) && ranBefore(r)) {
      d.completed = true;
      return 'unchanged';
    }
    if (actual !== undefined && matches(d.value, actual)) return 'unchanged';
    await putParameter(client, 'shovel', 'rabbitmq_shovel', { ...d, secrets: d.uris.secrets });
    d.written = true;
    return actual === undefined ? 'created' : 'updated';
  },

  async check(d, r, { client }) {
    if (d.completed) {
      d.state = 'completed';
      return undefined;
    }
    const look = async () => {
      const rows = await client.listShovelStatus(d.vhost);
      return (
        rows &&
        verdict(
          rows.find((s) => s.name === d.name),
          d.uris,
          r,
        )
      );
    };
    const v = await settle(look, (x) => x?.state === 'starting', !!d.written);
    if (!v) return noStatusList('shovel states', 'rabbitmq_shovel_management');
    d.state = v.state;
    return v.trouble;
  },

  async remove(r, { client }) {
    await client.deleteParameter('shovel', r.spec.vhost, shovelName(r));
  },

  tables: [parametersTable, shovelStatusTable],
  claims: (r) => [claim(parametersTable, 'shovel', r.spec.vhost, shovelName(r))],

  async inSync(r, snap, { secrets }) {
    const uris = await urisFrom(secrets, r.metadata.namespace, r.spec.uriSecretRef.name, KEYS);
    // A Secret gone bad is the reconcile's to report.
    if (typeof uris === 'string') return !isReady(r);
    const actual = snap.row(parametersTable, 'shovel', r.spec.vhost, shovelName(r));
    if (actual === undefined) return oneShot(r) && r.status?.state === 'completed';
    if (!matches(shovelValue(r, uris), actual)) return false;
    const v = verdict(snap.row(shovelStatusTable, r.spec.vhost, shovelName(r)), uris, r);
    return r.status?.state === v.state && showsVerdict(r, v.trouble);
  },

  status: (d) => ({ name: d.name, state: d.state }),
};
