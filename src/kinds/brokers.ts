import type { RabbitBrokerSpec } from '../api/broker.ts';
import type { Logger } from 'pino';
import { Reasons, type Resource } from '../api/common.ts';
import { ManagementClient } from '../rabbitmq/index.ts';
import { parseDuration } from '../runtime/duration.ts';
import type { RefCache, SecretCache } from '../runtime/secrets.ts';
import { resolveConnection, type ConnectionSources } from './connection.ts';
import { notAdmitted } from './tenancy.ts';
import { Blocked, depKeys } from './types.ts';

export type BrokerResource = Resource<RabbitBrokerSpec, any>;

export interface ResolvedBroker {
  key: string;
  broker: BrokerResource;
  client: ManagementClient;
  /** The user warren logs in as. */
  username: string;
  /** The host names of its management endpoint (URIs naming them reach this broker). */
  hosts: string[];
}

// Where no cache of a kind was given (unit tests): nothing of it exists.
const none: RefCache<any> = {
  get: async () => undefined,
  peek: () => undefined,
  forget: () => undefined,
  start: async () => undefined,
  stop: () => undefined,
  isSynced: true,
  size: 0,
};

/**
 * Turns a brokerRef into a management client: checks the RabbitBroker exists and admits the
 * namespace, reads its credentials Secret, and keeps one client per broker (so its concurrency
 * limit holds across all kinds), rebuilt when the endpoint or the Secret changes.
 */
export class BrokerRegistry {
  private readonly clients = new Map<
    string,
    { fingerprint: string; client: ManagementClient; username: string; insecure: boolean }
  >();
  // Brokers whose management API stopped answering: their dependents fail fast, without a
  // request each, until the broker's own probe sees it back.
  private readonly down = new Map<string, string>();
  private readonly get: (namespace: string, name: string) => BrokerResource | undefined;
  private readonly sources: ConnectionSources;
  private readonly client: {
    canWrite?: () => boolean;
    writeSignal?: () => AbortSignal | undefined;
    log?: Logger;
  };

  constructor(opts: {
    get: (namespace: string, name: string) => BrokerResource | undefined;
    secrets: SecretCache;
    /** ConfigMaps (CA bundles), RabbitmqClusters and Services, and how a Service is addressed. */
    sources?: Partial<Omit<ConnectionSources, 'secrets'>>;
    /** Fencing for every client: writes are refused while this says false. */
    canWrite?: () => boolean;
    /** Cuts off writes in flight when leadership ends. */
    writeSignal?: () => AbortSignal | undefined;
    /** Clients log their writes (method and path) here at debug level. */
    log?: Logger;
  }) {
    this.get = opts.get;
    this.sources = {
      secrets: opts.secrets,
      configMaps: opts.sources?.configMaps ?? none,
      clusters: opts.sources?.clusters ?? none,
      services: opts.sources?.services ?? none,
      serviceHost: opts.sources?.serviceHost ?? ((service, namespace) => `${service}.${namespace}.svc`),
    };
    this.client = { canWrite: opts.canWrite, writeSignal: opts.writeSignal, log: opts.log };
  }

  /** The broker a resource points at; deps collects what a change of should re-trigger it. */
  async resolve(
    ref: { name: string; namespace?: string },
    fromNamespace: string,
    deps: Set<string>,
    opts: { forDeletion?: boolean } = {},
  ): Promise<ResolvedBroker> {
    const namespace = ref.namespace ?? fromNamespace;
    const key = `${namespace}/${ref.name}`;
    deps.add(depKeys.broker(key));
    const broker = this.get(namespace, ref.name);
    // A RabbitBroker being deleted takes no new work, but still serves its dependents' deletions.
    if (!broker || (broker.metadata.deletionTimestamp && !opts.forDeletion)) {
      throw new Blocked(Reasons.BrokerNotFound, `RabbitBroker ${key} not found`);
    }
    const outside = notAdmitted(broker, fromNamespace);
    if (outside) throw new Blocked(Reasons.NotAllowed, outside);
    const client = await this.clientFor(key, broker, deps);
    const outage = this.down.get(key);
    if (outage !== undefined)
      throw new Blocked(Reasons.BrokerUnreachable, `RabbitBroker ${key} is unreachable: ${outage}`);
    const hosts = [new URL(client.endpoint).hostname.replace(/^\[|\]$/g, '')];
    return { key, broker, client, username: this.clients.get(key)!.username, hosts };
  }

  /** Records an outage; true if the broker was up until now. */
  markDown(key: string, message: string): boolean {
    const wasUp = !this.down.has(key);
    this.down.set(key, message);
    return wasUp;
  }

  /** Records the broker answering again; true if it was down until now. */
  markUp(key: string): boolean {
    return this.down.delete(key);
  }

  async clientFor(key: string, broker: BrokerResource, deps: Set<string>): Promise<ManagementClient> {
    const c = await resolveConnection(broker, this.sources, deps);
    const fingerprint = JSON.stringify([
      c.fingerprint,
      broker.spec.maxConcurrentRequests,
      broker.spec.requestTimeout,
    ]);
    const cached = this.clients.get(key);
    if (cached?.fingerprint === fingerprint) return cached.client;
    const client = new ManagementClient({
      endpoint: c.endpoint,
      username: c.username,
      password: c.password,
      https: c.https,
      maxConcurrentRequests: broker.spec.maxConcurrentRequests ?? 8,
      timeoutMs: parseDuration(broker.spec.requestTimeout ?? '30s'),
      ...this.client,
    });
    // Requests already made on the old client finish; it closes after them.
    void cached?.client.close();
    this.clients.set(key, { fingerprint, client, username: c.username, insecure: c.insecure });
    return client;
  }

  /** Whether the broker's client skips certificate verification (spec.tls.insecureSkipVerify). */
  insecure(key: string): boolean {
    return this.clients.get(key)?.insecure ?? false;
  }

  /** Requests made per broker by the clients in use (for metrics and benchmarks). */
  requestStats(): Map<string, ManagementClient['stats']> {
    return new Map([...this.clients].map(([k, c]) => [k, c.client.stats]));
  }

  forget(key: string): void {
    void this.clients.get(key)?.client.close();
    this.clients.delete(key);
    this.down.delete(key);
  }
}
