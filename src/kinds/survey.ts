import type { Logger } from 'pino';
import { randomUUID } from 'node:crypto';
import type { Resource } from '../api/common.ts';
import { api, type ManagementClient } from '../rabbitmq/index.ts';
import { isReady } from '../runtime/conditions.ts';
import type { SecretCache } from '../runtime/secrets.ts';
import type { Snapshot, TopologyKind } from './types.ts';

export interface SurveyedKind {
  kind: TopologyKind;
  list: () => ReadonlyArray<Resource<any, any>>;
  enqueue: (key: string) => void;
  /** The "<namespace>/<name>" of the RabbitBroker a resource uses. */
  brokerOf: (r: Resource<any, any>) => string;
}

export interface SurveyResult {
  lastSurveyTime: string;
  durationMs: number;
  requests: number;
  /** Resources that declare an object in this broker. */
  managed: number;
  /** Ready resources whose object was missing or different, queued for repair. */
  drifted: number;
  /** Objects found drifted that a later survey found back in place, since this operator started. */
  repaired: number;
  /** Broker objects (vhosts, users, permissions, topic permissions, surveyed queues) no resource declares. */
  unmanaged: number;
  /** The broker lost its data or was replaced since the previous survey. */
  resetDetected: boolean;
}

// A global runtime parameter warren leaves in each broker: it vanishes with the broker's data,
// so its absence or change means the broker was reset or replaced.
const MARKER = 'warren.dev-broker-id';

/**
 * Finds drift with a few bulk reads per broker (no stats, basic columns, one request per vhost
 * holding managed queues) and queues exactly the resources whose object is missing or differs.
 * It never writes topology: repairs go through the normal reconcile.
 */
export class Surveyor {
  private readonly kinds: SurveyedKind[];
  private readonly secrets: SecretCache;
  private readonly log: Logger;
  private readonly lastDrifted = new Map<string, Set<string>>();
  private readonly markers = new Map<string, string>();
  private readonly repaired = new Map<string, number>();

  constructor(opts: { kinds: SurveyedKind[]; secrets: SecretCache; log: Logger }) {
    this.kinds = opts.kinds;
    this.secrets = opts.secrets;
    this.log = opts.log;
  }

  async survey(brokerKey: string, client: ManagementClient): Promise<SurveyResult> {
    const started = Date.now();
    let requests = 0;
    const members = this.kinds.map((k) => ({
      k,
      resources: k.list().filter((r) => k.brokerOf(r) === brokerKey && !r.metadata.deletionTimestamp),
    }));
    const managed = members.reduce((n, m) => n + m.resources.length, 0);

    const marker = await this.checkMarker(brokerKey, client);
    requests += marker.requests;
    const resetDetected = marker.reset;
    if (resetDetected) {
      this.log.warn({ broker: brokerKey }, 'broker was reset or replaced: re-declaring everything');
      for (const { k, resources } of members) for (const r of resources) k.enqueue(keyOf(r));
    }

    const { snap, requests: reads } = await this.snapshot(client, members);
    requests += reads;
    const drifted = new Set<string>();
    for (const { k, resources } of members) {
      if (!k.kind.inSync) continue;
      for (const r of resources) {
        // Resources that are not Ready are being retried already.
        if (!isReady(r) || r.status?.observedGeneration !== r.metadata.generation) continue;
        if (await k.kind.inSync(r, snap, { secrets: this.secrets })) continue;
        drifted.add(`${k.kind.def.plural}|${keyOf(r)}`);
        k.enqueue(keyOf(r));
      }
    }
    // Back in place: drifted last time, still declared, not drifted now.
    const current = new Set(
      members.flatMap(({ k, resources }) => resources.map((r) => `${k.kind.def.plural}|${keyOf(r)}`)),
    );
    const previous = this.lastDrifted.get(brokerKey) ?? new Set();
    const repaired =
      (this.repaired.get(brokerKey) ?? 0) +
      [...previous].filter((id) => current.has(id) && !drifted.has(id)).length;
    this.repaired.set(brokerKey, repaired);
    this.lastDrifted.set(brokerKey, drifted);
    if (drifted.size) this.log.info({ broker: brokerKey, drifted: [...drifted].slice(0, 20) }, 'drift found');

    return {
      lastSurveyTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'),
      durationMs: Date.now() - started,
      requests,
      managed,
      drifted: drifted.size,
      repaired,
      unmanaged: unmanaged(snap, members),
      resetDetected,
    };
  }

  private async snapshot(
    client: ManagementClient,
    members: Array<{ k: SurveyedKind; resources: Resource<any, any>[] }>,
  ): Promise<{ snap: Snapshot; requests: number }> {
    const [caps, vhosts, vhostLimits, users, userLimits, permissions, topicPermissions] = await Promise.all([
      client.capabilities(),
      client.listVhosts(),
      client.listVhostLimits(),
      client.listUsers(),
      client.listUserLimits(),
      client.listPermissions(),
      client.listTopicPermissions(),
    ]);
    const vhostNames = new Set(vhosts.map((v) => v.name));
    const queueVhosts = new Set<string>();
    for (const { k, resources } of members) {
      for (const r of resources) {
        const v = k.kind.surveyVhost?.(r);
        if (v !== undefined && vhostNames.has(v)) queueVhosts.add(v);
      }
    }
    const queues = new Map(
      await Promise.all(
        [...queueVhosts].map(
          async (v) => [v, new Map((await client.listQueuesAtOnce(v)).map((q) => [q.name, q]))] as const,
        ),
      ),
    );
    const snap = {
      caps,
      vhosts: new Map(vhosts.map((v) => [v.name, v])),
      vhostLimits: new Map(vhostLimits.map((l) => [l.vhost, l.value])),
      users: new Map(users.map((u) => [u.name, u])),
      userLimits: new Map(userLimits.map((l) => [l.user, l.value])),
      permissions: new Map(permissions.map((p) => [`${p.vhost}|${p.user}`, p])),
      topicPermissions: new Map(topicPermissions.map((p) => [`${p.vhost}|${p.user}|${p.exchange}`, p])),
      queues,
    };
    // Six bulk lists plus one queue list per vhost (the version is cached by the client).
    return { snap, requests: 6 + queueVhosts.size };
  }

  private async checkMarker(
    brokerKey: string,
    client: ManagementClient,
  ): Promise<{ reset: boolean; requests: number }> {
    let requests = 1;
    try {
      const found = await client.get<{ value?: string }>(api`/global-parameters/${MARKER}`);
      let value = found?.value;
      if (!value) {
        value = randomUUID();
        requests++;
        await client.put(api`/global-parameters/${MARKER}`, { name: MARKER, value });
      }
      const seen = this.markers.get(brokerKey);
      this.markers.set(brokerKey, value);
      return { reset: seen !== undefined && seen !== value, requests };
    } catch (err) {
      // Without the policymaker tag the marker cannot be kept; the survey still finds drift.
      this.log.debug({ broker: brokerKey, err: String(err) }, 'broker marker unavailable');
      return { reset: false, requests };
    }
  }

  forget(brokerKey: string): void {
    this.lastDrifted.delete(brokerKey);
    this.markers.delete(brokerKey);
    this.repaired.delete(brokerKey);
  }
}

const keyOf = (r: Resource<any, any>) => `${r.metadata.namespace}/${r.metadata.name}`;

/** Objects in the snapshot that no resource of this broker declares. */
function unmanaged(
  snap: Snapshot,
  members: Array<{ k: SurveyedKind; resources: Resource<any, any>[] }>,
): number {
  const claimed = new Set<string>();
  for (const { k, resources } of members) {
    for (const r of resources) {
      for (const c of k.kind.claims?.(r) ?? []) claimed.add(c);
    }
  }
  let n = 0;
  const count = (table: string, keys: Iterable<string>) => {
    for (const key of keys) if (!claimed.has(`${table}|${key}`)) n++;
  };
  count('vhosts', snap.vhosts.keys());
  count('users', snap.users.keys());
  count('permissions', snap.permissions.keys());
  count('topicPermissions', snap.topicPermissions.keys());
  for (const [vhost, qs] of snap.queues)
    count(
      'queues',
      [...qs.keys()].map((q) => `${vhost}|${q}`),
    );
  return n;
}
