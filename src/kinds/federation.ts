import type { z } from 'zod';
import { Reasons, type Resource } from '../api/common.ts';
import {
  RabbitFederation,
  RabbitFederationUpstreamSet,
  type RabbitFederationSpec,
  type RabbitFederationUpstreamSetSpec,
} from '../api/federation.ts';
import type { FederationLink } from '../rabbitmq/index.ts';
import { isReady, stalled } from '../runtime/conditions.ts';
import { nsName } from './keys.ts';
import {
  noStatusList,
  parametersTable,
  putParameter,
  sameValue,
  settle,
  showsVerdict,
} from './parameters.ts';
import {
  Blocked,
  claim,
  depKeys,
  type KindContext,
  type NotWorking,
  type Refs,
  type Table,
  type TopologyKind,
} from './types.ts';
import { readUris, safe, uriValue, urisFrom, type SecretUris } from './uris.ts';

// A federation upstream is the runtime parameter federation-upstream/<vhost>/<name>. A policy
// (federation-upstream or federation-upstream-set) applies it to exchanges or queues, and each
// of those gets a link; the upstream is Ready while none of its links fails.

type Federation = Resource<RabbitFederationSpec, z.output<typeof RabbitFederation.status>>;
interface Desired {
  vhost: string;
  name: string;
  value: Record<string, unknown>;
  uris: SecretUris;
  /** Set by check. */
  links?: FederationLink[];
  /** Set by apply: declared or changed just now (its links restart). */
  written?: boolean;
}

/** The keys of the uriSecretRef Secret. */
export const FEDERATION_URI_KEYS = ['uri'];
const KEYS = FEDERATION_URI_KEYS;

/** Links grouped by [vhost, upstream]. */
const linksTable: Table<FederationLink[]> = {
  name: 'federationLinks',
  noun: 'federation link',
  scope: 'broker',
  settings: true,
  whenDeclared: true,
  read: async (client) => {
    const groups = new Map<string, { key: string[]; links: FederationLink[] }>();
    for (const l of (await client.listFederationLinks()) ?? []) {
      const id = JSON.stringify([l.vhost, l.upstream]);
      let g = groups.get(id);
      if (!g) groups.set(id, (g = { key: [l.vhost, l.upstream], links: [] }));
      g.links.push(l);
    }
    return [...groups.values()].map((g) => [g.key, g.links]);
  },
};

export const upstreamName = (r: Resource<{ name?: string }, unknown>) => r.spec.name ?? r.metadata.name;

/** The upstream parameter's keys and the RabbitFederation fields that set them (export reads them back). */
export const UPSTREAM_FIELDS = {
  exchange: 'exchange',
  queue: 'queue',
  expires: 'expires',
  'message-ttl': 'messageTTL',
  'max-hops': 'maxHops',
  'prefetch-count': 'prefetchCount',
  'reconnect-delay': 'reconnectDelay',
  'trust-user-id': 'trustUserId',
  'ack-mode': 'ackMode',
  'queue-type': 'queueType',
  'resource-cleanup-mode': 'resourceCleanupMode',
  'channel-use-mode': 'channelUseMode',
  'consumer-tag': 'consumerTag',
  'bind-nowait': 'bindNowait',
} as const satisfies Record<string, keyof RabbitFederationSpec>;

/** The upstream parameter's value a resource declares, with this URI. Pure: `warren diff` uses it too. */
export function upstreamValue(r: Federation, uris: SecretUris): Record<string, unknown> {
  const v: Record<string, unknown> = { uri: uriValue(uris.uris.uri!) };
  for (const [k, field] of Object.entries(UPSTREAM_FIELDS)) {
    const x = r.spec[field];
    if (x !== undefined) v[k] = x;
  }
  return v;
}

const what = (l: FederationLink) => `${l.type} '${l.type === 'queue' ? l.queue : l.exchange}'`;

/**
 * The links' states in Ready terms: any failing link makes the upstream not Ready, LinkDown with
 * the broker's error (the upstream is declared; its link may come up by itself: not stalled).
 */
function verdict(links: FederationLink[], uris: SecretUris | undefined): NotWorking | undefined {
  const failing = links.filter((l) => l.status === 'error');
  if (failing.length) {
    const first = failing[0]!;
    return {
      reason: Reasons.LinkDown,
      message: `${failing.length} of ${links.length} federation links failing; ${what(first)}: ${safe(first.error ?? 'no reason given', uris)}`,
    };
  }
  const starting = links.filter((l) => l.status === 'starting');
  if (starting.length) {
    return {
      reason: Reasons.WaitingForDependency,
      message: `${starting.length} of ${links.length} federation links starting`,
      soon: true,
    };
  }
  return undefined;
}

const running = (links: FederationLink[]) => links.filter((l) => l.status === 'running').length;

export const federationKind: TopologyKind<RabbitFederationSpec, Desired> = {
  def: RabbitFederation,
  identity: (r) => ['federation-upstream', r.spec.vhost, upstreamName(r)],
  vhostOf: (r) => r.spec.vhost,
  touches: (_r, d) => ({ uris: d && Object.values(d.uris.uris).flat() }),

  async desired(r, ctx) {
    ctx.dependOn(depKeys.object(ctx.brokerKey, ['vhost', r.spec.vhost]));
    const uris = await readUris(r, KEYS, ctx);
    return { vhost: r.spec.vhost, name: upstreamName(r), value: upstreamValue(r, uris), uris };
  },

  async apply(d, _r, { client }) {
    const actual = await client.getParameter('federation-upstream', d.vhost, d.name);
    if (actual !== undefined && sameValue(d.value, actual)) return 'unchanged';
    await putParameter(client, 'federation-upstream', 'rabbitmq_federation', {
      ...d,
      secrets: d.uris.secrets,
    });
    d.written = true;
    return actual === undefined ? 'created' : 'updated';
  },

  async check(d, _r, { client }) {
    const look = async () =>
      (await client.listFederationLinks(d.vhost))?.filter((l) => l.upstream === d.name);
    const links = await settle(look, (ls) => !!ls?.some((l) => l.status === 'starting'), !!d.written);
    if (!links) return noStatusList('federation links', 'rabbitmq_federation_management');
    d.links = links;
    return verdict(links, d.uris);
  },

  async remove(r, { client }) {
    await client.deleteParameter('federation-upstream', r.spec.vhost, upstreamName(r));
  },

  tables: [parametersTable, linksTable],
  claims: (r) => [claim(parametersTable, 'federation-upstream', r.spec.vhost, upstreamName(r))],

  async inSync(r: Federation, snap, { secrets }) {
    const uris = await urisFrom(secrets, r.metadata.namespace, r.spec.uriSecretRef.name, KEYS);
    if (typeof uris === 'string') return !isReady(r);
    const actual = snap.row(parametersTable, 'federation-upstream', r.spec.vhost, upstreamName(r));
    if (actual === undefined || !sameValue(upstreamValue(r, uris), actual)) return false;
    const links = snap.row(linksTable, r.spec.vhost, upstreamName(r)) ?? [];
    // A policy that starts or stops federating changes the counts in status.
    if (r.status?.links !== links.length || r.status?.runningLinks !== running(links)) return false;
    return showsVerdict(r, verdict(links, uris));
  },

  status: (d) => ({ name: d.name, links: d.links?.length, runningLinks: d.links && running(d.links) }),
};

// ---------------------------------------------------------------- upstream sets

type UpstreamSet = Resource<RabbitFederationUpstreamSetSpec, { name?: string; upstreams?: string[] }>;
interface SetDesired {
  vhost: string;
  name: string;
  value: Array<{ upstream: string }>;
}

const setName = upstreamName;

/**
 * The broker names of the referenced upstreams, from their specs once they have been declared (a
 * status says when, never which name); undefined while one is missing or not declared yet, with
 * the reason. `warren diff` takes them whether declared or not (`declaredName`).
 */
export function members(
  r: UpstreamSet,
  refs: Refs,
  brokerKey?: string,
  declaredName: (f: Federation) => string | undefined = (f) =>
    f.status?.observedGeneration !== undefined && !stalled(f) ? upstreamName(f) : undefined,
): string[] | string {
  const out: string[] = [];
  const ns = r.metadata.namespace;
  for (const { name } of r.spec.upstreams) {
    const f = refs.lookup('rabbitfederations', ns, name) as Federation | undefined;
    if (!f) return `RabbitFederation ${nsName(ns, name)} not found`;
    const fBroker = nsName(f.spec.brokerRef.namespace ?? ns, f.spec.brokerRef.name);
    if (brokerKey !== undefined && fBroker !== brokerKey)
      throw new Blocked(
        Reasons.InvalidSpec,
        `RabbitFederation ${nsName(ns, name)} uses another broker (${fBroker})`,
      );
    if (f.spec.vhost !== r.spec.vhost)
      throw new Blocked(
        Reasons.InvalidSpec,
        `RabbitFederation ${nsName(ns, name)} is in vhost '${f.spec.vhost}', this set in '${r.spec.vhost}'`,
      );
    const declared = declaredName(f);
    if (!declared) return `RabbitFederation ${nsName(ns, name)} is not declared yet`;
    out.push(declared);
  }
  return out;
}

export const federationUpstreamSetKind: TopologyKind<RabbitFederationUpstreamSetSpec, SetDesired> = {
  def: RabbitFederationUpstreamSet,
  identity: (r) => ['federation-upstream-set', r.spec.vhost, setName(r)],
  vhostOf: (r) => r.spec.vhost,

  desired(r, ctx: KindContext) {
    const name = setName(r);
    if (name === 'all') {
      throw new Blocked(
        Reasons.InvalidSpec,
        "'all' is built in (every upstream of the vhost): choose another name",
      );
    }
    ctx.dependOn(depKeys.object(ctx.brokerKey, ['vhost', r.spec.vhost]));
    for (const u of r.spec.upstreams)
      ctx.dependOn(depKeys.resource('rabbitfederations', r.metadata.namespace, u.name));
    const found = members(r, ctx, ctx.brokerKey);
    if (typeof found === 'string') throw new Blocked(Reasons.WaitingForDependency, found);
    return { vhost: r.spec.vhost, name, value: found.map((upstream) => ({ upstream })) };
  },

  async apply(d, _r, { client }) {
    const actual = await client.getParameter('federation-upstream-set', d.vhost, d.name);
    if (actual !== undefined && sameValue(d.value, actual)) return 'unchanged';
    await putParameter(client, 'federation-upstream-set', 'rabbitmq_federation', d);
    return actual === undefined ? 'created' : 'updated';
  },

  async remove(r, { client }) {
    await client.deleteParameter('federation-upstream-set', r.spec.vhost, setName(r));
  },

  tables: [parametersTable],
  claims: (r) => [claim(parametersTable, 'federation-upstream-set', r.spec.vhost, setName(r))],

  inSync(r, snap, refs) {
    let found: string[] | string;
    try {
      found = members(r, refs);
    } catch {
      return false;
    }
    if (typeof found === 'string') return false;
    const actual = snap.row(parametersTable, 'federation-upstream-set', r.spec.vhost, setName(r));
    return (
      actual !== undefined &&
      sameValue(
        found.map((upstream) => ({ upstream })),
        actual,
      )
    );
  },

  status: (d) => ({ name: d.name, upstreams: d.value.map((u) => u.upstream) }),
};
