import type * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Resource } from './api/common.ts';
import { BrokerReconciler } from './kinds/broker.ts';
import { BrokerRegistry, type BrokerResource } from './kinds/brokers.ts';
import { DependencyIndex } from './kinds/dependencies.ts';
import { TOPOLOGY_KINDS } from './kinds/index.ts';
import { Surveyor, type SurveyedKind } from './kinds/survey.ts';
import { PAUSE_ANNOTATION, RELEASE_ANNOTATION, TopologyReconciler, type Inside } from './kinds/topology.ts';
import { depKeys } from './kinds/types.ts';
import { key, nsName, parts, splitNsName } from './kinds/keys.ts';
import { isReady } from './runtime/conditions.ts';
import { Controller } from './runtime/controller.ts';
import { Recorder } from './runtime/events.ts';
import { strip, SupervisedInformer } from './runtime/informer.ts';
import { InformerGroup, type Informer } from './runtime/informer-group.ts';
import { corePath, customPath, Kube } from './runtime/kube.ts';
import type { KubeConfig } from './runtime/kubeconfig.ts';
import type { Metrics } from './runtime/metrics.ts';
import {
  LazyCache,
  PerNamespace,
  WatchedCache,
  type RefCache,
  type SecretCache,
  type SecretCacheOptions,
} from './runtime/secrets.ts';
import { CLUSTER_GROUP, CLUSTER_VERSION, refKeys, type RabbitmqCluster } from './kinds/connection.ts';

export interface OperatorOptions {
  kc: KubeConfig;
  log: Logger;
  /** Watch only this namespace; all namespaces when undefined. */
  namespace?: string;
  /** Watch only these namespaces (WATCH_NAMESPACE=a,b): one informer per namespace and kind. */
  namespaces?: string[];
  /**
   * The host name warren connects to for a RabbitmqCluster's Service; default
   * `<service>.<namespace>.svc` (WARREN_SERVICE_HOST).
   */
  serviceHost?: (service: string, namespace: string) => string;
  /** Reconciles in flight per kind. */
  concurrency?: number;
  /** Fallback re-check of Ready resources. */
  resyncMs?: number;
  identity?: string;
  metrics?: Metrics;
  /** How long deletions in a terminating namespace are retried before finalizers are released. */
  terminatingGraceMs?: number;
  /** How long a new resource waiting for a dependency shows no status before Ready=False (5 s). */
  newWaitHoldMs?: number;
  /** The first retry's delay after a failed reconcile (0.5 s), doubled on each failure after. */
  retryBaseDelayMs?: number;
  /** Fencing: writes to the broker and to Kubernetes are refused while this says false. */
  canWrite?: () => boolean;
  /** Aborts when leadership ends: writes in flight are cut off with it. */
  writeSignal?: () => AbortSignal | undefined;
}

type Obj = Resource<any, any>;

/**
 * Wiring: one informer and one controller per kind, the Secret cache, and the indexes that turn a
 * change in one object into reconciles of the objects that depend on it. Data flows one way:
 * informer cache → work queue → reconcile → status.
 */
export class Operator {
  private readonly o: OperatorOptions;
  private readonly kube: Kube;
  private readonly informers = new Map<string, Informer<any>>();
  /** The watched namespaces; undefined for all. */
  private readonly namespaces?: string[];
  /** Caches of other objects a broker connection reads, each started on first use. */
  private readonly refCaches: RefCache<unknown>[] = [];
  private readonly controllers = new Map<string, Controller>();
  private readonly deps = new DependencyIndex();
  private readonly secrets: SecretCache;
  /** What of each object was last seen: generation and reconcile annotation. */
  private readonly seen = new Map<string, string>();
  /** Each RabbitBroker's pause annotation as last seen. */
  private readonly brokerPaused = new Map<string, string>();
  private started = false;
  private readonly registry: BrokerRegistry;
  private readonly resyncMs: number;
  private readonly reconcilers: TopologyReconciler[] = [];

  constructor(o: OperatorOptions) {
    this.o = o;
    this.resyncMs = o.resyncMs ?? 10 * 60_000;
    const log = o.log;
    const fence = { canWrite: o.canWrite, writeSignal: o.writeSignal, log };
    this.kube = new Kube(o.kc, { ...fence, onRequest: (verb) => o.metrics?.kubeRequests.inc({ verb }) });
    this.namespaces = o.namespaces ?? (o.namespace ? [o.namespace] : undefined);
    // One cache over all namespaces, or one per watched namespace.
    const scoped = <T>(
      noun: string,
      dep: (ns: string, name: string) => string,
      opts: Partial<SecretCacheOptions<any>>,
    ): RefCache<T> => {
      const make = (namespace?: string) =>
        new WatchedCache<any>({
          kube: this.kube,
          namespace,
          log,
          onChange: (key) => this.notify(dep(...splitNsName(key))),
          referenced: (ns, name) => this.deps.dependents(dep(ns, name)).length > 0,
          ...opts,
        });
      return this.namespaces ? new PerNamespace<T>(this.namespaces, make, noun) : make();
    };
    this.secrets = scoped('Secret', depKeys.secret, {});
    const lazy = <T>(c: RefCache<T>) => {
      const l = new LazyCache(c);
      this.refCaches.push(l);
      return l;
    };
    const coreResource = (
      plural: string,
      noun: string,
      read: (ns: string, name: string) => Promise<any>,
    ) => ({
      resource: {
        noun,
        read,
        path: (ns?: string) => (ns ? `/api/v1/namespaces/${ns}/${plural}` : `/api/v1/${plural}`),
      },
    });
    const clusterPath = `/apis/${CLUSTER_GROUP}/${CLUSTER_VERSION}`;
    const sources = {
      configMaps: lazy(
        scoped<k8s.V1ConfigMap>(
          'ConfigMap',
          refKeys.configMap,
          coreResource('configmaps', 'ConfigMap', (namespace, name) =>
            this.kube.get(corePath('configmaps', namespace, name)),
          ),
        ),
      ),
      services: lazy(
        scoped<k8s.V1Service>(
          'Service',
          refKeys.service,
          coreResource('services', 'Service', (namespace, name) =>
            this.kube.get(corePath('services', namespace, name)),
          ),
        ),
      ),
      clusters: lazy(
        scoped<RabbitmqCluster>('RabbitmqCluster', refKeys.cluster, {
          resource: {
            noun: 'RabbitmqCluster',
            path: (ns?: string) => `${clusterPath}${ns ? `/namespaces/${ns}` : ''}/rabbitmqclusters`,
            read: (namespace: string, name: string) =>
              this.kube.get(`${clusterPath}/namespaces/${namespace}/rabbitmqclusters/${name}`),
          },
        }),
      ),
      serviceHost: o.serviceHost,
    };
    const recorder = new Recorder(this.kube, o.identity ?? 'warren', log);
    const lookup = (plural: string, namespace: string, name: string) =>
      this.informers.get(plural)?.get(name, namespace);
    const getBroker = (namespace: string, name: string) =>
      lookup('rabbitbrokers', namespace, name) as BrokerResource;
    const registry = new BrokerRegistry({ get: getBroker, secrets: this.secrets, sources, ...fence });
    this.registry = registry;
    o.metrics?.observeBrokerRequests(() => registry.requestStats());
    const kindOf = new Map([
      ['rabbitbrokers', 'RabbitBroker'],
      ...TOPOLOGY_KINDS.map((k) => [k.def.plural, k.def.kind] as const),
    ]);
    o.metrics?.observeResources(() =>
      [...this.informers].map(
        ([plural, informer]) => [kindOf.get(plural) ?? plural, informer.list()] as const,
      ),
    );
    // No key is handed out while a cache a decision reads is not synced (an informer relisting).
    const common = {
      log,
      metrics: o.metrics,
      concurrency: o.concurrency ?? 16,
      gate: () => this.cachesSynced,
      queue: o.retryBaseDelayMs === undefined ? undefined : { baseDelayMs: o.retryBaseDelayMs },
    };

    const surveyed: SurveyedKind[] = [];
    const surveyor = new Surveyor({
      kinds: surveyed,
      secrets: this.secrets,
      refs: { lookup },
      log,
      dependencies: (d) => this.deps.of(d),
    });
    const broker = new BrokerReconciler({
      surveyor,
      metrics: o.metrics,
      kube: this.kube,
      recorder,
      registry,
      deps: this.deps,
      get: getBroker,
      notify: (d) => this.notify(d),
      enqueue: (key) => this.controllers.get('rabbitbrokers')!.enqueue(key),
    });
    this.addKind(
      'rabbitbrokers',
      new Controller({ name: 'rabbitbroker', reconcile: (k, c) => broker.reconcile(k, c), ...common }),
      {
        onChange: (obj) => {
          // Pausing or resuming a broker pauses or resumes its resources at once.
          const key = keyOf(obj);
          const paused = obj.metadata.annotations?.[PAUSE_ANNOTATION] ?? '';
          const before = this.brokerPaused.get(key);
          this.brokerPaused.set(key, paused);
          if (before !== undefined && before !== paused) this.notify(depKeys.broker(key));
          this.enqueueIfChanged('rabbitbrokers', obj);
        },
        onDelete: (obj) => {
          const key = keyOf(obj);
          this.seen.delete(`rabbitbrokers|${key}`);
          this.brokerPaused.delete(key);
          this.controllers.get('rabbitbrokers')!.enqueue(key);
        },
      },
    );

    for (const kind of TOPOLOGY_KINDS) {
      const plural = kind.def.plural;
      const rec = new TopologyReconciler(kind, (ns, name) => lookup(plural, ns, name), {
        kube: this.kube,
        brokers: registry,
        deps: this.deps,
        secrets: this.secrets,
        recorder,
        lookup,
        notify: (d) => this.notify(d),
        enqueue: (key) => this.controllers.get(plural)!.enqueue(key),
        onUnreachable: (brokerKey) => broker.probeSoon(brokerKey),
        synced: () => this.cachesSynced,
        inside: (brokerKey, vhost) => this.inside(brokerKey, vhost),
        unmanagedIn: (brokerKey, vhost) => surveyor.unmanagedIn(brokerKey, vhost),
        absent: (brokerKey, table, parts, vhost) => surveyor.absent(brokerKey, table, parts, vhost),
        createdEmpty: (brokerKey, vhost) => surveyor.createdEmpty(brokerKey, vhost),
        surveyed: (brokerKey) => surveyor.watching(brokerKey),
        resyncMs: this.resyncMs,
        terminatingGraceMs: o.terminatingGraceMs ?? 30_000,
        newWaitHoldMs: o.newWaitHoldMs ?? 5_000,
        declaredNotYet: (dep) => this.declaredNotYet(dep),
      });
      this.reconcilers.push(rec);
      const controller = new Controller({
        name: kind.def.kind.toLowerCase(),
        reconcile: (k, c) => rec.reconcile(k, c),
        ...common,
        // A kind waits only for the caches its decisions read; deletions wait for all (finalize).
        gate: () => this.kindSynced([plural, ...(kind.references ?? [])]),
      });
      surveyed.push({
        kind,
        list: () => this.informers.get(plural)!.list(),
        enqueue: (key) => controller.enqueue(key),
        brokerOf: (r) => brokerOf(r).join('/'),
        admitted: (r) => !rec.refusedByCache(r),
      });
      this.addKind(plural, controller, {
        onChange: (obj) => {
          rec.claim(obj);
          // What waits for this resource (a permission for its RabbitUser to be Ready) looks
          // again now that the cache it reads has the change (woken at the status write, it
          // could read the cache a moment before the change arrived and back off).
          this.notify(depKeys.resource(plural, obj.metadata.namespace, obj.metadata.name));
          const id = `${plural}|${keyOf(obj)}`;
          if (!this.seen.has(id) && settled(obj, rec.finalizer) && isReady(getBroker(...brokerOf(obj)))) {
            // First sight of a resource that was Ready at its generation (an operator restart):
            // the broker survey verifies it in bulk at once; its own reconcile is spread over
            // the resync window instead of a GET per object in a burst.
            this.seen.set(id, fingerprint(obj));
            controller.enqueueAfter(keyOf(obj), Math.random() * Math.min(this.resyncMs, 5 * 60_000));
            return;
          }
          const unfinalized =
            !obj.metadata.deletionTimestamp && !obj.metadata.finalizers?.includes(rec.finalizer);
          this.enqueueIfChanged(plural, obj, unfinalized);
        },
        onDelete: (obj) => {
          const key = keyOf(obj);
          this.seen.delete(`${plural}|${key}`);
          // Another declaration of the same broker object may own it now.
          for (const k of rec.claims.remove(key)) controller.enqueue(k);
          this.deps.clear(rec.dependentKey(obj.metadata.namespace, obj.metadata.name));
          this.notify(depKeys.resource(plural, obj.metadata.namespace, obj.metadata.name));
        },
      });
    }
  }

  private addKind(
    plural: string,
    controller: Controller,
    h: { onChange: (o: Obj) => void; onDelete: (o: Obj) => void },
  ) {
    const make = (ns?: string) =>
      new SupervisedInformer<any>({
        name: plural,
        kube: this.kube,
        path: customPath(plural, ns),
        list: () => this.kube.listPaged(customPath(plural, ns), { pageTimeoutMs: 60_000, each: strip }),
        log: this.o.log,
        onChange: h.onChange,
        onDelete: h.onDelete,
        onRestart: (name) => this.o.metrics?.informerRestarts.inc({ informer: name }),
        onSyncChange: (synced) => {
          if (!synced || !this.informers.get(plural)?.isSynced) return;
          try {
            this.reclaimReading(plural);
          } catch (err) {
            this.o.log.error({ informer: plural, err: String(err) }, 'claims after sync failed');
          }
        },
      });
    this.controllers.set(plural, controller);
    const nss = this.namespaces;
    this.informers.set(
      plural,
      !nss
        ? make()
        : nss.length === 1
          ? make(nss[0])
          : new InformerGroup(new Map(nss.map((ns) => [ns, make(ns)]))),
    );
  }

  /**
   * Spec changes, deletions, missing finalizers and a new value of the warren.dev/reconcile
   * annotation (`kubectl annotate ... warren.dev/reconcile=$(date +%s) --overwrite` forces a
   * reconcile) matter; our own status writes do not.
   */
  private enqueueIfChanged(plural: string, obj: Obj, force = false): void {
    const key = keyOf(obj);
    const id = `${plural}|${key}`;
    const seen = fingerprint(obj);
    // A resource being deleted is no exception: its own status writes must not re-queue it.
    if (this.seen.get(id) === seen && !force) return;
    this.seen.set(id, seen);
    this.controllers.get(plural)!.enqueue(key);
  }

  /** Reconciles whatever waits on dep. */
  notify(dep: string): void {
    for (const d of this.deps.dependents(dep)) {
      const i = d.indexOf('|');
      this.controllers.get(d.slice(0, i))?.enqueue(d.slice(i + 1));
    }
  }

  /** See TopologyDeps.declaredNotYet: only object dependencies have declarers. */
  private declaredNotYet(dep: string) {
    const p = parts(dep);
    if (p[0] !== 'obj') return undefined;
    const object = key(...p.slice(1));
    for (const rec of this.reconcilers) {
      const owner = rec.claims.owner(object);
      if (!owner) continue;
      const r = this.lookup(rec.plural, ...splitNsName(owner.key));
      if (!r || r.metadata.deletionTimestamp || rec.reconciledOnce(r)) return undefined;
      return { kind: rec.kind.def.kind, plural: rec.plural, key: owner.key };
    }
    return undefined;
  }

  /** Resources of every kind whose broker object lives in this vhost of this broker. */
  private inside(brokerKey: string, vhost: string): Inside[] {
    const out: Inside[] = [];
    for (const rec of this.reconcilers) {
      if (!rec.kind.vhostOf) continue;
      for (const r of this.informers.get(rec.plural)!.list()) {
        if (rec.brokerKey(r) !== brokerKey || rec.kind.vhostOf(r, { lookup: this.lookup }) !== vhost)
          continue;
        // What tenancy refuses neither holds a vhost's deletion nor keeps it.
        if (rec.refusedByCache(r)) continue;
        out.push({
          kind: rec.kind.def.kind,
          plural: rec.plural,
          key: keyOf(r),
          deleting: !!r.metadata.deletionTimestamp,
          retain: r.spec.deletionPolicy === 'Retain',
          finalizing: !!r.metadata.finalizers?.includes(rec.finalizer),
        });
      }
    }
    return out;
  }

  private readonly lookup = (plural: string, namespace: string, name: string) =>
    this.informers.get(plural)?.get(name, namespace);

  /**
   * Starts every cache; resolves once the Secrets' and the RabbitBrokers' caches are synced and,
   * unless `wait` is 'brokers', every other one. Controllers may start before the rest: each kind
   * waits for its own caches (kindSynced), so one kind's long first list holds only that kind.
   */
  async startCaches(o: { wait?: 'all' | 'brokers' } = {}): Promise<void> {
    await this.secrets.start();
    // Brokers first: whether a restarted resource can wait for the survey depends on its broker.
    await this.informers.get('rabbitbrokers')!.start();
    const all = Promise.all([...this.informers.values()].map((i) => i.start())).then(() => {
      // Claims made while other caches were still loading may not have resolved references.
      for (const rec of this.reconcilers)
        for (const r of this.informers.get(rec.plural)!.list()) rec.claim(r);
    });
    if (o.wait !== 'brokers') await all;
    else all.catch((err: unknown) => this.o.log.error({ err: String(err) }, 'starting the caches failed'));
  }

  /** Every cache a reconcile decision reads is synced. */
  get cachesSynced(): boolean {
    return [...this.informers.values()].every((i) => i.isSynced) && this.secrets.isSynced;
  }

  /** The caches of these kinds, the RabbitBrokers' and the Secrets' are synced. */
  private kindSynced(plurals: readonly string[]): boolean {
    return (
      this.secrets.isSynced &&
      this.informers.get('rabbitbrokers')!.isSynced &&
      plurals.every((p) => this.informers.get(p)!.isSynced)
    );
  }

  /**
   * A cache that just synced may resolve references its dependents' claims could not: they are
   * claimed again before any of their keys is handed out (the gate opens only after this).
   */
  private reclaimReading(plural: string): void {
    for (const rec of this.reconcilers) {
      if (rec.plural !== plural && !rec.kind.references?.includes(plural)) continue;
      for (const r of this.informers.get(rec.plural)?.list() ?? []) rec.claim(r);
    }
  }

  /** Starts reconciling (only on the leader). */
  startControllers(): void {
    if (this.started) return;
    this.started = true;
    for (const c of this.controllers.values()) c.start();
  }

  /**
   * Stops handing out keys at once, without waiting (leadership lost): reconciles in flight run
   * on, and their writes are refused by the fence.
   */
  stopReconciling(): void {
    for (const c of this.controllers.values()) void c.stop();
  }

  get ready(): boolean {
    return this.cachesSynced;
  }

  async stop(): Promise<void> {
    await Promise.all([...this.controllers.values()].map((c) => c.stop()));
    await Promise.all([...this.informers.values()].map((i) => i.stop()));
    this.secrets.stop();
    for (const c of this.refCaches) c.stop();
  }

  /** Management API requests per broker and method since this operator started. */
  brokerRequests(): Map<string, { requests: number; byMethod: Record<string, number> }> {
    return this.registry.requestStats();
  }

  /** For tests and benchmarks: queue depth and in-flight counts per kind. */
  stats(): Record<string, { queued: number; inFlight: number; delayed: number }> {
    const out: Record<string, { queued: number; inFlight: number; delayed: number }> = {};
    for (const [plural, c] of this.controllers) {
      out[plural] = { queued: c.queue.length, inFlight: c.queue.inFlight, delayed: c.queue.pendingDelayed };
    }
    return out;
  }
}

export const RECONCILE_ANNOTATION = 'warren.dev/reconcile';

const fingerprint = (o: Obj) =>
  JSON.stringify([
    o.metadata.generation ?? 0,
    o.metadata.annotations?.[RECONCILE_ANNOTATION] ?? '',
    o.metadata.deletionTimestamp ?? '',
    o.metadata.annotations?.[RELEASE_ANNOTATION] ?? '',
    o.metadata.annotations?.[PAUSE_ANNOTATION] ?? '',
  ]);

/** Ready at its current generation, with our finalizer, not being deleted. */
function settled(o: Obj, finalizer: string): boolean {
  return (
    isReady(o) &&
    o.status?.observedGeneration === o.metadata.generation &&
    !!o.metadata.finalizers?.includes(finalizer) &&
    !o.metadata.deletionTimestamp
  );
}

const brokerOf = (o: Obj): [string, string] => [
  o.spec.brokerRef.namespace ?? o.metadata.namespace,
  o.spec.brokerRef.name,
];

const keyOf = (o: Obj) => nsName(o.metadata.namespace, o.metadata.name);
