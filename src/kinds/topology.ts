import type { Logger } from 'pino';
import { GROUP, Reasons, type Reason, type Resource } from '../api/common.ts';
import { ManagementError } from '../rabbitmq/index.ts';
import type { Outcome, ReconcileContext } from '../runtime/controller.ts';
import type { Recorder } from '../runtime/events.ts';
import { addFinalizer, removeFinalizer } from '../runtime/finalizers.ts';
import type { Kube } from '../runtime/kube.ts';
import { apiStatus } from '../runtime/kube.ts';
import type { SecretCache } from '../runtime/secrets.ts';
import type { BrokerRegistry } from './brokers.ts';
import type { ClaimIndex } from './claims.ts';
import type { DependencyIndex } from './dependencies.ts';
import { writeStatus } from './status.ts';
import { Blocked, depKeys, type KindContext, type TopologyKind } from './types.ts';

export interface TopologyDeps {
  kube: Kube;
  brokers: BrokerRegistry;
  claims: ClaimIndex;
  deps: DependencyIndex;
  secrets: SecretCache;
  recorder: Recorder;
  lookup: KindContext['lookup'];
  /** Re-triggers whatever waits on a dependency key. */
  notify(dep: string): void;
  /** A request to this broker found it unreachable: have the broker probed now. */
  onUnreachable(brokerKey: string): void;
  /** How often a Ready resource is checked again when nothing else triggers it. */
  resyncMs: number;
}

interface Failure {
  reason: Reason;
  message: string;
  outcome: Outcome;
}

/** Maps an error from a reconcile into the Ready=False reason a user sees and a retry policy. */
export function classify(err: unknown): Failure | undefined {
  if (err instanceof Blocked) {
    const wait = err.reason === Reasons.InvalidSpec ? undefined : { backoff: true as const };
    return { reason: err.reason, message: err.message, outcome: wait };
  }
  if (err instanceof ManagementError) {
    const backoff = { backoff: true as const };
    switch (err.category) {
      case 'Unreachable':
        return { reason: Reasons.BrokerUnreachable, message: err.message, outcome: backoff };
      case 'Unauthorized':
        return { reason: Reasons.BrokerNotReady, message: err.message, outcome: backoff };
      case 'NotFound':
        return { reason: Reasons.WaitingForDependency, message: err.message, outcome: backoff };
      default:
        return { reason: Reasons.Rejected, message: err.message, outcome: backoff };
    }
  }
  return undefined;
}

/** The one reconciler every topology kind runs on. */
export class TopologyReconciler {
  readonly kind: TopologyKind;
  readonly finalizer: string;
  private readonly d: TopologyDeps;
  private readonly get: (namespace: string, name: string) => Resource<any, any> | undefined;

  constructor(
    kind: TopologyKind,
    get: (namespace: string, name: string) => Resource<any, any> | undefined,
    deps: TopologyDeps,
  ) {
    this.kind = kind;
    this.get = get;
    this.d = deps;
    this.finalizer = `${kind.def.plural}.${GROUP}/finalizer`;
  }

  get plural(): string {
    return this.kind.def.plural;
  }

  dependentKey(namespace: string, name: string): string {
    return `${this.plural}|${namespace}/${name}`;
  }

  /** The ownership key of a resource: which broker, which object. */
  objectKey(r: Resource<any, any>): string {
    const ref = r.spec.brokerRef;
    return `${ref.namespace ?? r.metadata.namespace}/${ref.name}|${this.kind.identity(r)}`;
  }

  async reconcile(key: string, rc: ReconcileContext): Promise<Outcome> {
    const [namespace, name] = splitKey(key);
    const cached = this.get(namespace, name);
    if (!cached) {
      this.d.deps.clear(this.dependentKey(namespace, name));
      return;
    }
    // Never mutate the informer's object; status written below is reflected on this copy.
    const r = structuredClone(cached) as Resource<any, any>;
    const log = rc.log.child({ generation: r.metadata.generation });
    const ref = { plural: this.plural, namespace, name };
    const depSet = new Set<string>();

    if (r.metadata.deletionTimestamp) return this.finalize(r, log, depSet);
    await addFinalizer(this.d.kube, ref, r.metadata, this.finalizer);

    const owner = this.d.claims.owner(this.objectKey(r));
    let brokerKey: string | undefined;
    try {
      const broker = await this.d.brokers.resolve(r.spec.brokerRef, namespace, depSet);
      brokerKey = broker.key;
      if (owner && owner.key !== key) {
        depSet.add(depKeys.resource(this.plural, ...splitKey(owner.key)));
        throw new Blocked(
          Reasons.Conflict,
          `${this.kind.def.kind} ${owner.key} already declares this ${this.kind.identity(r)} (the oldest declaration owns it)`,
        );
      }
      const ctx = this.context(broker.key, broker.client, log, depSet);
      const desired = await this.kind.desired(r, ctx);
      const wrote = await this.kind.apply(desired, r, ctx);
      const wasReady = r.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True');
      await writeStatus(this.d.kube, this.d.recorder, this.plural, r, {
        ready: true,
        reason: Reasons.Reconciled,
        message: wrote ? 'applied to the broker' : 'the broker matches the spec',
        applied: true,
        extra: this.kind.status?.(desired, r),
      });
      if (wrote) log.info('applied to the broker');
      if (wrote || !wasReady) {
        this.d.notify(depKeys.resource(this.plural, namespace, name));
        this.d.notify(depKeys.object(broker.key, this.kind.identity(r)));
      }
      return { requeueAfterMs: jitter(this.d.resyncMs) };
    } catch (err) {
      const f = classify(err);
      if (!f) throw err;
      if (brokerKey && err instanceof ManagementError && err.category === 'Unreachable')
        this.d.onUnreachable(brokerKey);
      log.info({ reason: f.reason, msg: f.message }, 'not ready');
      await writeStatus(this.d.kube, this.d.recorder, this.plural, r, {
        ready: false,
        reason: f.reason,
        message: f.message,
      });
      return f.reason === Reasons.Conflict ? { requeueAfterMs: jitter(this.d.resyncMs) } : f.outcome;
    } finally {
      this.d.deps.set(this.dependentKey(namespace, name), depSet);
    }
  }

  private context(
    brokerKey: string,
    client: KindContext['client'],
    log: Logger,
    depSet: Set<string>,
  ): KindContext {
    return {
      client,
      brokerKey,
      log,
      kube: this.d.kube,
      secrets: this.d.secrets,
      lookup: this.d.lookup,
      dependOn: (dep) => depSet.add(dep),
    };
  }

  private async finalize(r: Resource<any, any>, log: Logger, depSet: Set<string>): Promise<Outcome> {
    const { namespace, name } = r.metadata;
    const ref = { plural: this.plural, namespace, name };
    if (!r.metadata.finalizers?.includes(this.finalizer)) return;
    const release = async (type: 'Normal' | 'Warning', reason: string, note: string) => {
      await removeFinalizer(this.d.kube, ref, r.metadata, this.finalizer);
      await this.d.recorder.emit(r, type, reason, 'Delete', note);
      log.info({ reason }, note);
    };
    if (r.spec.deletionPolicy === 'Retain') {
      return release('Normal', 'Retained', 'deletionPolicy is Retain: the broker object is kept');
    }
    const owner = this.d.claims.owner(this.objectKey(r));
    if (owner && owner.key !== `${namespace}/${name}`) {
      return release('Normal', 'NotOwner', `${owner.key} owns the broker object: nothing deleted`);
    }
    try {
      const broker = await this.d.brokers.resolve(r.spec.brokerRef, namespace, depSet);
      await this.kind.remove(r, this.context(broker.key, broker.client, log, depSet));
      // Whatever lived inside the object (a vhost's queues and permissions) is gone with it.
      this.d.notify(depKeys.object(broker.key, this.kind.identity(r)));
      return release('Normal', 'Deleted', 'deleted from the broker');
    } catch (err) {
      const f = classify(err);
      if (!f) throw err;
      // Without its broker or credentials nothing can be deleted; holding the finalizer would only
      // hang the namespace. (An unreachable broker is different: it may come back.)
      if (err instanceof Blocked && BROKER_GONE.has(err.reason)) {
        return release(
          'Warning',
          'FinalizerReleased',
          `${f.message}: finalizer released, nothing deleted in the broker`,
        );
      }
      if (f.reason === Reasons.BrokerUnreachable && (await this.namespaceTerminating(namespace))) {
        return release(
          'Warning',
          'FinalizerReleased',
          `${f.message}: namespace is terminating, nothing deleted in the broker`,
        );
      }
      await writeStatus(this.d.kube, this.d.recorder, this.plural, r, {
        ready: false,
        reason: Reasons.DeleteFailed,
        message: f.message,
      });
      return { backoff: true };
    }
  }

  private async namespaceTerminating(namespace: string): Promise<boolean> {
    try {
      const ns = await this.d.kube.core.readNamespace({ name: namespace });
      return !!ns.metadata?.deletionTimestamp;
    } catch (err) {
      return apiStatus(err)?.code === 404;
    }
  }
}

const BROKER_GONE = new Set<string>([
  Reasons.BrokerNotFound,
  Reasons.NotAllowed,
  Reasons.SecretNotFound,
  Reasons.InvalidSecret,
]);

export function splitKey(key: string): [string, string] {
  const i = key.indexOf('/');
  return [key.slice(0, i), key.slice(i + 1)];
}

const jitter = (ms: number) => Math.round(ms * (0.9 + 0.2 * Math.random()));
