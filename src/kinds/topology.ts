import type { Logger } from 'pino';
import { finalizerOf, Reasons, type Reason, type Resource } from '../api/common.ts';
import { ManagementError, type ManagementClient } from '../rabbitmq/index.ts';
import { findCondition, setCondition } from '../runtime/conditions.ts';
import type { Outcome, ReconcileContext } from '../runtime/controller.ts';
import type { Recorder } from '../runtime/events.ts';
import { addFinalizer, removeFinalizer } from '../runtime/finalizers.ts';
import type { Kube } from '../runtime/kube.ts';
import { apiStatus, corePath, customPath, namespaceRefusesContent } from '../runtime/kube.ts';
import type { SecretCache } from '../runtime/secrets.ts';
import type { BrokerRegistry, BrokerResource, ResolvedBroker } from './brokers.ts';
import { ClaimIndex, type Claim } from './claims.ts';
import type { DependencyIndex } from './dependencies.ts';
import { key, nsName, parts, splitNsName } from './keys.ts';
import { writeStatus } from './status.ts';
import { adoptionRefusal, refusal, restricted, type BrokerFacts } from './tenancy.ts';
import {
  Blocked,
  Kept,
  depKeys,
  type KindContext,
  type Refs,
  type TopologyKind,
  type Table,
  type UnmanagedSummary,
} from './types.ts';

/** Reasons a reconcile refuses a resource before writing: it then declares nothing. */
const REFUSALS = new Set<string>([Reasons.NotAllowed, Reasons.SecretConflict]);

/** Set to "true" on a resource being deleted: its finalizer is released without deleting anything. */
export const RELEASE_ANNOTATION = 'warren.dev/release-without-deleting';

/**
 * Set to "true" on a resource, or on its RabbitBroker for all of its resources: observe only.
 * warren writes nothing to the broker for it (no declaration, no repair, no deletion: a deletion
 * holds the finalizer) and keeps reporting: Ready as last known, and a `Paused` condition that
 * says whether the broker matches the spec (InSync), differs (Drifted, found by a reconcile or by
 * the survey, not repaired), or could not be read (NotChecked); DeletionHeld while deleted.
 */
export const PAUSE_ANNOTATION = 'warren.dev/paused';

/** Why warren may not write to the broker for this resource (its own or its RabbitBroker's annotation), if so. */
export function pausedBy(r: Obj, lookup: Refs['lookup']): string | undefined {
  if (r.metadata.annotations?.[PAUSE_ANNOTATION] === 'true') return `paused (${PAUSE_ANNOTATION} on it)`;
  const ns = r.spec.brokerRef.namespace ?? r.metadata.namespace;
  const broker = lookup('rabbitbrokers', ns, r.spec.brokerRef.name) as Obj | undefined;
  if (broker?.metadata.annotations?.[PAUSE_ANNOTATION] === 'true')
    return `paused (${PAUSE_ANNOTATION} on RabbitBroker ${nsName(ns, r.spec.brokerRef.name)})`;
  return undefined;
}

/** The Paused condition's status and reason as last written (the survey compares them with the annotation). */
export const shownPaused = (r: Obj) => findCondition(r.status?.conditions, 'Paused');

/** A write a paused resource would make: refused before anything is sent. */
export class PausedWrite extends Error {
  readonly call: string;
  constructor(call: string) {
    super(`${call}: not sent, paused`);
    this.call = call;
  }
}

// What a paused reconcile may call on the client: reads only. Anything else, known or added later,
// is refused without a request (deny by default).
const CLIENT_READS = /^(get|list|overview$|capabilities$|endpoint$|closed$|stats$|resetCapabilities$)/;

/** The broker's client, reads only: a write throws PausedWrite. The kind's own apply then tells whether it would write. */
function readOnly(client: ManagementClient): ManagementClient {
  return new Proxy(client, {
    get(target, prop) {
      const v: unknown = Reflect.get(target, prop, target);
      if (typeof v !== 'function') return v;
      if (typeof prop !== 'string' || CLIENT_READS.test(prop)) return v.bind(target);
      return () => Promise.reject(new PausedWrite(prop));
    },
  });
}

/** A resource of any kind declaring an object inside a vhost. */
export interface Inside {
  kind: string;
  key: string;
  plural: string;
  deleting: boolean;
  retain: boolean;
  /** Carries warren's finalizer, so its deletion will act on the broker. */
  finalizing: boolean;
}

export interface TopologyDeps extends Refs {
  kube: Kube;
  brokers: BrokerRegistry;
  deps: DependencyIndex;
  secrets: SecretCache;
  recorder: Recorder;
  /** Re-triggers whatever waits on a dependency key. */
  notify(dep: string): void;
  /** Reconciles resources of this kind again (other claimants of an object whose owner changed). */
  enqueue(key: string): void;
  /** A request to this broker found it unreachable: have the broker probed. */
  onUnreachable(brokerKey: string): void;
  /** Every cache a decision reads is synced (no irreversible action otherwise). */
  synced(): boolean;
  /** Resources of every kind whose object lives in this vhost of this broker. */
  inside(brokerKey: string, vhost: string): Inside[];
  unmanagedIn(brokerKey: string, vhost: string): UnmanagedSummary | undefined;
  /** The last survey of this broker read where this row would be and did not find it. */
  absent(brokerKey: string, table: Table, parts: string[], vhost?: string): boolean;
  /** This vhost was just created (the broker answered 201): nothing is in it yet. */
  createdEmpty(brokerKey: string, vhost: string): void;
  /** How often a Ready resource is checked again when nothing else triggers it. */
  resyncMs: number;
  /** Whether the broker's survey currently checks the objects of surveyed kinds (its last one succeeded). */
  surveyed(brokerKey: string): boolean;
  /** How long deletions in a terminating namespace are retried before finalizers are released. */
  terminatingGraceMs: number;
  /** How long the event of a new resource waiting for a dependency is held back (see waitEvent). */
  newWaitHoldMs: number;
  /**
   * The resource that declares the object of this dependency key, if one does and has not been
   * reconciled yet: the object is then not in the broker yet, or not known to be.
   */
  declaredNotYet(dep: string): { kind: string; plural: string; key: string } | undefined;
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
      case 'Untrusted':
        return { reason: Reasons.CertificateVerificationFailed, message: err.message, outcome: backoff };
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

type Obj = Resource<any, any>;

const HOUR_MS = 60 * 60_000;

/** A resource some reconcile has written a status to (a new one has none). */
const hasStatus = (r: Obj) => !!r.status?.conditions?.length;

/** The broker cannot be talked to at all (no answer, or a certificate not trusted): probe it. */
const isOutage = (err: ManagementError) => err.category === 'Unreachable' || err.category === 'Untrusted';

/** The one reconciler every topology kind runs on. */
export class TopologyReconciler {
  readonly kind: TopologyKind;
  readonly finalizer: string;
  /** Who declares which object of this kind (objects of different kinds never share a key). */
  readonly claims = new ClaimIndex();
  /** Per resource, the status last written and the resourceVersion it was written over. */
  private readonly written = new Map<string, { over: string | undefined; status: unknown }>();
  /** Per resource, the broker object it last applied (renames and moves; see KindContext.previous). */
  private readonly applied = new Map<string, { uid: string; identity: string[] }>();
  /** Resources a reconcile found refused by tenancy (an adoption, a URI), at which generation: they claim nothing. */
  private readonly refusedAt = new Map<string, { uid: string; generation: number | undefined }>();
  /** New resources (no status yet) found waiting for a dependency, and since when (see waitEvent). */
  private readonly waitingSince = new Map<string, { uid: string | undefined; at: number }>();
  private readonly d: TopologyDeps;
  private readonly get: (namespace: string, name: string) => Obj | undefined;

  constructor(
    kind: TopologyKind,
    get: (namespace: string, name: string) => Obj | undefined,
    deps: TopologyDeps,
  ) {
    this.kind = kind;
    this.get = get;
    this.d = deps;
    this.finalizer = finalizerOf(kind.def.plural);
  }

  get plural(): string {
    return this.kind.def.plural;
  }

  dependentKey(namespace: string, name: string): string {
    return `${this.plural}|${nsName(namespace, name)}`;
  }

  brokerKey(r: Obj): string {
    return nsName(r.spec.brokerRef.namespace ?? r.metadata.namespace, r.spec.brokerRef.name);
  }

  /** The ownership key of a resource: which broker, which object. */
  objectKey(r: Obj): string {
    return key(this.brokerKey(r), ...this.kind.identity(r, this.d));
  }

  /** writeStatus, remembering what it wrote over which version of the object (see reconcile). */
  private async writeStatus(k: string, cached: Obj, r: Obj, s: Parameters<typeof writeStatus>[4]) {
    const wrote = await writeStatus(this.d.kube, this.d.recorder, this.plural, r, s);
    if (wrote)
      this.written.set(k, { over: cached.metadata.resourceVersion, status: structuredClone(r.status) });
    return wrote;
  }

  /**
   * The event of a status write, for a new resource found waiting for a dependency. Applied
   * together with what it needs (a queue with its vhost), a resource is written Ready=False
   * WaitingForDependency (Reconciling=True) at once, so that GitOps tools see it in progress
   * rather than no status (which kstatus reads as Current), and Ready=True moments later: a
   * Warning event and then a Normal one would be noise. So for a short while from when this
   * replica first found it waiting, its status says so without an event; the Warning is recorded
   * if the wait outlasts that, and turning Ready before is not news either.
   */
  private waitEvent(k: string, r: Obj, s: { ready: boolean; reason: Reason }): 'auto' | 'none' | 'always' {
    let since = this.waitingSince.get(k);
    if (since && since.uid !== r.metadata.uid) since = undefined;
    if (s.reason !== Reasons.WaitingForDependency) {
      this.waitingSince.delete(k);
      return since && s.ready ? 'none' : 'auto';
    }
    const now = Date.now();
    if (!since) {
      if (hasStatus(r) || this.d.newWaitHoldMs <= 0) return 'auto';
      this.waitingSince.set(k, { uid: r.metadata.uid, at: now });
      return 'none';
    }
    if (now < since.at + this.d.newWaitHoldMs) return 'none';
    this.waitingSince.delete(k);
    return 'always';
  }

  /** Records what r declares; reconciles the other claimants of any object whose owner changed. */
  claim(r: Obj): void {
    // The cache has moved past the version a status was written over: it holds that status now.
    const k = nsName(r.metadata.namespace, r.metadata.name);
    if (this.written.has(k) && this.written.get(k)!.over !== r.metadata.resourceVersion)
      this.written.delete(k);
    // What its tenancy rules refuse declares nothing: a tenant cannot squat another's object.
    // (Refusals only a reconcile can see, such as an existing user it may not adopt, hold for
    // the generation they were found at.)
    const refusedAt = this.refusedAt.get(k);
    if (
      (refusedAt?.uid === r.metadata.uid && refusedAt.generation === r.metadata.generation) ||
      this.refusedByCache(r)
    ) {
      for (const k of this.claims.remove(nsName(r.metadata.namespace, r.metadata.name))) this.d.enqueue(k);
      return;
    }
    const c: Claim = {
      key: nsName(r.metadata.namespace, r.metadata.name),
      created: r.metadata.creationTimestamp ?? '',
      uid: r.metadata.uid,
      deleting: !!r.metadata.deletionTimestamp,
      retain: r.spec.deletionPolicy === 'Retain',
    };
    for (const k of this.claims.set(this.objectKey(r), c)) this.d.enqueue(k);
  }

  async reconcile(k: string, rc: ReconcileContext): Promise<Outcome> {
    const [namespace, name] = splitNsName(k);
    const cached = this.get(namespace, name);
    if (!cached) {
      this.d.deps.clear(this.dependentKey(namespace, name));
      this.waitingSince.delete(k);
      this.applied.delete(k);
      this.refusedAt.delete(k);
      return;
    }
    // Never mutate the informer's object; status written below is reflected on this copy.
    const r = structuredClone(cached) as Obj;
    // The status this reconciler wrote last time, if the cache has not caught up with it yet: a
    // status compared against the stale one would look unchanged and not be written (a resource
    // written Ready=False, then reconciled Ready again at once, would stay Ready=False).
    // (claim, below and on every cache change, forgets it once the cache has moved on.)
    const written = this.written.get(k);
    if (written && written.over === cached.metadata.resourceVersion)
      r.status = structuredClone(written.status);
    const log = rc.log.child({ generation: r.metadata.generation });
    const ref = { plural: this.plural, namespace, name };
    const depSet = new Set<string>();
    // References may have resolved since the informer last saw this resource.
    this.claim(r);

    if (r.metadata.deletionTimestamp) {
      try {
        return await this.finalize(r, log, depSet);
      } finally {
        this.d.deps.set(this.dependentKey(namespace, name), depSet);
      }
    }
    await addFinalizer(this.d.kube, ref, r.metadata, this.finalizer);

    const owner = this.claims.owner(this.objectKey(r));
    const paused = pausedBy(r, this.d.lookup);
    let brokerKey: string | undefined;
    try {
      const broker = await this.d.brokers.resolve(r.spec.brokerRef, namespace, depSet);
      brokerKey = broker.key;
      const refused = this.refused(r, broker);
      if (refused) throw new Blocked(Reasons.NotAllowed, refused);
      if (owner && owner.key !== k) {
        depSet.add(depKeys.resource(this.plural, ...splitNsName(owner.key)));
        throw new Blocked(
          Reasons.Conflict,
          `${this.kind.def.kind} ${owner.key} already declares ${describe(this.kind.identity(r, this.d))} (the oldest declaration owns it)`,
        );
      }
      const ctx = this.context(
        r,
        paused ? { ...broker, client: readOnly(broker.client) } : broker,
        log,
        depSet,
      );
      const desired = await this.kind.desired(r, ctx);
      // What desired() resolved (URIs from a Secret) passes the same guard before any write.
      const refusedNow = this.refused(r, broker, desired);
      if (refusedNow) throw new Blocked(Reasons.NotAllowed, refusedNow);
      this.waitForDeclarers(k, depSet);
      if (paused) return await this.observe(k, cached, r, desired, ctx, paused, log);
      const applied = await this.kind.apply(desired, r, ctx);
      this.applied.set(k, { uid: r.metadata.uid, identity: this.kind.identity(r, this.d) });
      if (this.refusedAt.delete(k)) this.claim(r);
      // What goes inside a vhost just created is written without reading it first.
      if (applied === 'created' && this.kind.holds) this.d.createdEmpty(broker.key, this.kind.holds(r));
      // Declared as specified; whether it also works is the broker's to say.
      const trouble = await this.kind.check?.(desired, r, ctx);
      const first = !hasStatus(r);
      const reason = trouble?.reason ?? Reasons.Reconciled;
      await this.writeStatus(k, cached, r, {
        ready: !trouble,
        reason,
        message:
          trouble?.message ??
          (applied === 'unchanged' ? 'the broker matches the spec' : 'applied to the broker'),
        applied: true,
        extra: this.kind.status?.(desired, r, ctx),
        event: this.waitEvent(k, r, { ready: !trouble, reason }),
        conditions: resumed(r),
      });
      if (applied !== 'unchanged') log.info({ applied }, 'applied to the broker');
      // Resources waiting for this one (a permission for its RabbitUser) are woken by the cache
      // when it has the status written here; objects inside this one (a vhost's queues) care
      // about its creation, and those waiting for its first reconcile (waitForDeclarers) about
      // that: both are news now.
      if (applied === 'created' || first)
        this.d.notify(depKeys.object(broker.key, this.kind.identity(r, this.d)));
      if (trouble) log.info({ reason: trouble.reason, message: trouble.message }, 'declared, not working');
      if (trouble?.soon) return { backoff: true };
      // While the broker's survey compares this object every surveyInterval, a reconcile of its
      // own would only repeat the read: then an hourly safety net instead of the resync.
      const covered = !!this.kind.inSync && this.d.surveyed(broker.key);
      return { requeueAfterMs: jitter(covered ? Math.max(this.d.resyncMs, HOUR_MS) : this.d.resyncMs) };
    } catch (err) {
      const f = classify(err);
      if (!f) throw err;
      if (brokerKey && err instanceof ManagementError && isOutage(err)) this.d.onUnreachable(brokerKey);
      // Refusals found before any write: this resource claims nothing, and (while it has applied
      // nothing) its deletion deletes nothing, e.g. a same-named user made by someone else.
      if (REFUSALS.has(f.reason) && brokerKey) {
        this.refusedAt.set(k, { uid: r.metadata.uid, generation: r.metadata.generation });
        for (const other of this.claims.remove(k)) this.d.enqueue(other);
      }
      log.info({ reason: f.reason, detail: f.message }, 'not ready');
      await this.writeStatus(k, cached, r, {
        ready: false,
        reason: f.reason,
        message: f.message,
        // A server error may pass by itself: retried, in progress rather than stalled.
        stalled: err instanceof ManagementError && err.category === 'ServerError' ? false : undefined,
        event: this.waitEvent(k, r, { ready: false, reason: f.reason }),
        conditions: paused
          ? [
              {
                type: 'Paused',
                status: true,
                reason: 'NotChecked',
                message: `${paused}: nothing is written to the broker; whether it matches the spec is not known (${f.reason})`,
              },
            ]
          : resumed(r),
      });
      return f.reason === Reasons.Conflict ? { requeueAfterMs: jitter(this.d.resyncMs) } : f.outcome;
    } finally {
      this.d.deps.set(this.dependentKey(namespace, name), depSet);
    }
  }

  /**
   * A paused resource: the kind's own apply and check run on a client that only reads, so they
   * tell whether the broker matches the spec without writing anything (the first write they would
   * make is refused before it is sent). Ready stays as last known; the Paused condition says
   * what was found.
   */
  private async observe(
    k: string,
    cached: Obj,
    r: Obj,
    desired: unknown,
    ctx: KindContext,
    paused: string,
    log: Logger,
  ): Promise<Outcome> {
    let found: { reason: string; message: string };
    try {
      await this.kind.apply(desired, r, ctx);
      const trouble = await this.kind.check?.(desired, r, ctx);
      found = {
        reason: 'InSync',
        message: `${paused}: nothing is written to the broker; the broker matches the spec${trouble ? ` (not working: ${trouble.reason}: ${trouble.message})` : ''}`,
      };
    } catch (err) {
      if (!(err instanceof PausedWrite)) throw err;
      found = {
        reason: 'Drifted',
        message: `${paused}: nothing is written to the broker; the broker differs from the spec (warren would call ${err.call}) and is left so until the annotation is removed`,
      };
    }
    log.info({ paused: found.reason }, found.message);
    await this.writePaused(k, cached, r, found.reason, found.message);
    return { requeueAfterMs: jitter(this.d.resyncMs) };
  }

  /** Sets the Paused condition alone: Ready, Reconciling, Stalled and observedGeneration stay as they were. */
  private async writePaused(k: string, cached: Obj, r: Obj, reason: string, message: string): Promise<void> {
    const before = shownPaused(r);
    const generation = r.metadata.generation ?? 0;
    if (
      before?.status === 'True' &&
      before.reason === reason &&
      before.message === message &&
      before.observedGeneration === generation
    )
      return;
    const conditions = setCondition(r.status?.conditions, {
      type: 'Paused',
      status: 'True',
      reason,
      message,
      observedGeneration: generation,
    });
    await this.d.kube.patchStatus(
      { plural: this.plural, namespace: r.metadata.namespace, name: r.metadata.name },
      { conditions },
    );
    r.status = { ...r.status, conditions };
    this.written.set(k, { over: cached.metadata.resourceVersion, status: structuredClone(r.status) });
    if (before?.status !== 'True' || before.reason !== reason)
      await this.d.recorder.emit(
        r,
        reason === 'Drifted' ? 'Warning' : 'Normal',
        'Paused',
        'Reconcile',
        message,
      );
  }

  /**
   * What a resource needs in the broker (its vhost, a binding's exchange) may be declared by a
   * resource not reconciled yet, as when they are applied together: it is not there yet, and a
   * request would only fail. Waits for that resource instead: its first reconcile that declares
   * the object wakes this one through the object's key (one that fails leaves it to its retries).
   */
  private waitForDeclarers(self: string, depSet: Set<string>): void {
    for (const dep of depSet) {
      const declarer = this.d.declaredNotYet(dep);
      if (!declarer || (declarer.plural === this.plural && declarer.key === self)) continue;
      throw new Blocked(
        Reasons.WaitingForDependency,
        `${declarer.kind} ${declarer.key} has not declared ${describe(parts(dep).slice(2))} in the broker yet`,
      );
    }
  }

  /** Whether this resource has been reconciled: it has a status, or its first one is being written. */
  reconciledOnce(r: Obj): boolean {
    return hasStatus(r) || this.written.has(nsName(r.metadata.namespace, r.metadata.name));
  }

  /**
   * Why the broker's tenancy rules refuse this resource, if they do (nothing is written or
   * deleted then): the one guard, given every name the resource would reach (`d`: what desired()
   * resolved), and what warren's own connection knows of the broker.
   */
  private refused(
    r: Obj,
    broker: Pick<ResolvedBroker, 'broker'> & Partial<BrokerFacts>,
    d?: unknown,
  ): string | undefined {
    const holds = this.kind.holds?.(r);
    return refusal(
      broker.broker,
      r.metadata.namespace,
      {
        vhost: holds === undefined ? this.kind.vhostOf?.(r, this.d) : undefined,
        declaresVhost: holds,
        ...this.kind.touches?.(r, d),
      },
      { username: broker.username, hosts: broker.hosts },
    );
  }

  /** The guard with the cached RabbitBroker (no connection yet): what declares nothing and deletes nothing. */
  refusedByCache(r: Obj): string | undefined {
    const [bns, bname] = splitNsName(this.brokerKey(r));
    const broker = this.d.lookup('rabbitbrokers', bns, bname) as BrokerResource | undefined;
    return broker && this.refused(r, { broker });
  }

  private context(r: Obj, broker: ResolvedBroker, log: Logger, depSet: Set<string>): KindContext {
    const self = nsName(r.metadata.namespace, r.metadata.name);
    const brokerKey = broker.key;
    return {
      client: broker.client,
      brokerKey,
      previous: ((a) => (a?.uid === r.metadata.uid ? a.identity : undefined))(this.applied.get(self)),
      tenant: restricted(broker.broker, r.metadata.namespace),
      adoptionRefusal: (user, createdBy) =>
        adoptionRefusal(broker.broker, r.metadata.namespace, user, createdBy),
      log,
      kube: this.d.kube,
      secrets: this.d.secrets,
      lookup: this.d.lookup,
      dependOn: (dep) => {
        depSet.add(dep);
        this.d.deps.add(this.dependentKey(r.metadata.namespace, r.metadata.name), dep);
      },
      declaredByOther: (identity) => {
        // Removing what moved is irreversible: never on a cache still loading (it may declare it).
        if (!this.d.synced()) return '(a cache not synced yet)';
        const others = this.claims.others(key(brokerKey, ...identity), self);
        return others.find((c) => !c.deleting || c.retain)?.key;
      },
      unmanagedIn: (vhost) => this.d.unmanagedIn(brokerKey, vhost),
      knownAbsent: (table, ...parts) =>
        r.status?.observedGeneration === undefined &&
        this.d.absent(brokerKey, table, parts, this.kind.vhostOf?.(r, this.d)),
    };
  }

  /**
   * A resource being deleted. Its finalizer goes once the broker object is deleted, or without
   * deleting when nothing may be deleted: the resource retains it, another resource still
   * declares or retains it, or it can no longer be reached (the RabbitBroker is gone, or the
   * namespace is terminating and deleting kept failing for the grace period). Anything else holds
   * the finalizer with DeleteFailed and the reason. Nothing is decided on an unsynced cache.
   */
  private async finalize(r: Obj, log: Logger, depSet: Set<string>): Promise<Outcome> {
    const { namespace, name } = r.metadata;
    if (!r.metadata.finalizers?.includes(this.finalizer)) return;
    if (!this.d.synced()) {
      log.debug('caches not synced: deletion waits');
      return { requeueAfterMs: 1000 };
    }
    const self = nsName(namespace, name);
    const ref = { plural: this.plural, namespace, name };
    const release = async (type: 'Normal' | 'Warning', reason: string, note: string): Promise<Outcome> => {
      await removeFinalizer(this.d.kube, ref, r.metadata, this.finalizer);
      await this.d.recorder.emit(r, type, reason, 'Delete', note);
      log[type === 'Warning' ? 'warn' : 'info']({ reason }, note);
      return;
    };
    const hold = async (message: string, outcome: Outcome): Promise<Outcome> => {
      await writeStatus(this.d.kube, this.d.recorder, this.plural, r, {
        ready: false,
        reason: Reasons.DeleteFailed,
        message,
      });
      return outcome;
    };

    if (r.metadata.annotations?.[RELEASE_ANNOTATION] === 'true') {
      return release(
        'Warning',
        'FinalizerReleased',
        `${RELEASE_ANNOTATION} is set: nothing deleted in the broker`,
      );
    }
    if (r.spec.deletionPolicy === 'Retain') {
      return release('Normal', 'Retained', 'deletionPolicy is Retain: the broker object is kept');
    }
    // What its namespace may not touch, it may not delete either (it may be another team's): not
    // the object, and no wait for what others declare inside a vhost it was refused.
    const refusedHere = this.refusedByCache(r);
    if (refusedHere)
      return release('Warning', 'FinalizerReleased', `${refusedHere}: nothing deleted in the broker`);
    const refusedAt = this.refusedAt.get(self);
    if (refusedAt?.uid === r.metadata.uid && this.applied.get(self)?.uid !== r.metadata.uid)
      return release(
        'Warning',
        'FinalizerReleased',
        'refused before it wrote anything to the broker: nothing deleted in the broker',
      );
    const others = this.claims.others(this.objectKey(r), self);
    const declaring = others.find((c) => !c.deleting);
    if (declaring) {
      return release(
        'Normal',
        'HandedOver',
        `${this.kind.def.kind} ${declaring.key} still declares the broker object: nothing deleted, it owns it now`,
      );
    }
    const retaining = others.find((c) => c.retain);
    if (retaining) {
      return release(
        'Normal',
        'Retained',
        `${this.kind.def.kind} ${retaining.key} retains the broker object: nothing deleted`,
      );
    }

    const brokerKey = this.brokerKey(r);
    if (this.kind.holds) {
      const vhost = this.kind.holds(r);
      const inside = this.d
        .inside(brokerKey, vhost)
        .filter((i) => i.key !== self || i.plural !== this.plural);
      const kept = inside.filter((i) => i.retain);
      const live = inside.filter((i) => !i.deleting);
      const names = (list: Inside[]) =>
        list
          .map((i) => `${i.kind} ${i.key}`)
          .slice(0, 10)
          .join(', ');
      if (kept.length) {
        return release('Warning', 'Kept', `vhost '${vhost}' kept: it holds what ${names(kept)} retains`);
      }
      if (live.length) {
        if (await this.terminating(r)) {
          return release(
            'Warning',
            'Kept',
            `vhost '${vhost}' kept: the namespace is terminating and ${names(live)} still declares objects inside it`,
          );
        }
        for (const i of live) depSet.add(depKeys.resource(i.plural, ...splitNsName(i.key)));
        return this.waitFor(r, live, depSet, () =>
          hold(`vhost '${vhost}' is not deleted while ${names(live)} still declares objects inside it`, {
            requeueAfterMs: jitter(this.d.resyncMs),
          }),
        );
      }
      const pending = inside.filter((i) => i.finalizing);
      if (pending.length) {
        for (const i of pending) depSet.add(depKeys.resource(i.plural, ...splitNsName(i.key)));
        return this.waitFor(r, pending, depSet, () =>
          hold(`waiting for ${names(pending)} to be deleted first`, { requeueAfterMs: 30_000 }),
        );
      }
    }

    // Paused: nothing deleted in the broker, and the finalizer held (as for a Secret missing), unless
    // the namespace is terminating (deletion never hangs a namespace).
    const paused = pausedBy(r, this.d.lookup);
    if (paused) {
      if (await this.terminating(r))
        return release(
          'Warning',
          'FinalizerReleased',
          `${paused} and the namespace is terminating: nothing deleted in the broker`,
        );
      const message = `${paused}: the broker object is not deleted while paused (remove the annotation to delete it, or set ${RELEASE_ANNOTATION}: "true" to release it without deleting)`;
      await writeStatus(this.d.kube, this.d.recorder, this.plural, r, {
        ready: false,
        reason: Reasons.DeleteFailed,
        message,
        conditions: [{ type: 'Paused', status: true, reason: 'DeletionHeld', message }],
      });
      // The annotation's removal is not an event of its own: look again soon.
      return { requeueAfterMs: jitter(Math.min(this.d.resyncMs, 30_000)) };
    }

    let failure: Failure;
    try {
      const broker = await this.d.brokers.resolve(r.spec.brokerRef, namespace, depSet, { forDeletion: true });
      // The same with the broker's own user known (nobody else may delete it).
      const refused = this.refused(r, broker);
      if (refused)
        return release('Warning', 'FinalizerReleased', `${refused}: nothing deleted in the broker`);
      const ctx = this.context(r, broker, log, depSet);
      const unmanaged = this.kind.holds ? ctx.unmanagedIn(this.kind.holds(r)) : undefined;
      await this.kind.remove(r, ctx);
      this.applied.delete(self);
      // Whatever lived inside the object (a vhost's queues and permissions) is gone with it.
      this.d.notify(depKeys.object(broker.key, this.kind.identity(r, this.d)));
      const note = unmanaged?.count
        ? `deleted from the broker with what no resource declared inside it (${unmanaged.sample.join(', ')}${unmanaged.count > unmanaged.sample.length ? ', ...' : ''})`
        : 'deleted from the broker';
      return release('Normal', 'Deleted', note);
    } catch (err) {
      if (err instanceof Kept) return release('Warning', 'Kept', err.message);
      const f = classify(err);
      if (!f) throw err;
      if (err instanceof ManagementError && isOutage(err)) this.d.onUnreachable(brokerKey);
      failure = f;
    }
    // The cache says the RabbitBroker is gone: believe it only if the API server agrees.
    if (failure.reason === Reasons.BrokerNotFound) {
      const gone = await this.brokerGone(r);
      if (gone)
        return release('Warning', 'FinalizerReleased', `${failure.message}: nothing deleted in the broker`);
      return { requeueAfterMs: 1000 };
    }
    if (await this.terminating(r)) {
      const age = Date.now() - Date.parse(r.metadata.deletionTimestamp ?? '');
      if (age >= this.d.terminatingGraceMs) {
        return release(
          'Warning',
          'FinalizerReleased',
          `${failure.message}: the namespace is terminating, nothing deleted in the broker`,
        );
      }
      await hold(failure.message, undefined);
      return { requeueAfterMs: Math.max(500, Math.min(5000, this.d.terminatingGraceMs - age)) };
    }
    return hold(failure.message, { backoff: true });
  }

  /**
   * Holds a deletion until `others` are gone. The dependencies are recorded before the hold's
   * status write, not after it: one of them may be deleted meanwhile, and its deletion must find
   * this resource waiting; one already gone from the cache by then means: look again now.
   */
  private async waitFor(
    r: Obj,
    others: Inside[],
    depSet: Set<string>,
    hold: () => Promise<Outcome>,
  ): Promise<Outcome> {
    this.d.deps.set(this.dependentKey(r.metadata.namespace, r.metadata.name), new Set(depSet));
    const outcome = await hold();
    const gone = others.some((i) => !this.d.lookup(i.plural, ...splitNsName(i.key)));
    return gone ? { requeueAfterMs: 100 } : outcome;
  }

  private async brokerGone(r: Obj): Promise<boolean> {
    const [namespace, name] = splitNsName(this.brokerKey(r));
    try {
      await this.d.kube.get(customPath('rabbitbrokers', namespace, name));
      return false;
    } catch (err) {
      // 403: a namespaced installation that does not watch the broker's namespace can never
      // serve it, so for this operator it is gone.
      const code = apiStatus(err)?.code;
      if (code === 404 || code === 403) return true;
      throw err;
    }
  }

  private async terminating(r: Obj): Promise<boolean> {
    try {
      const ns = await this.d.kube.get(corePath('namespaces', undefined, r.metadata.namespace));
      return !!ns.metadata?.deletionTimestamp;
    } catch (err) {
      const code = apiStatus(err)?.code;
      // A namespaced installation may not read Namespaces (cluster-scoped): ask admission instead.
      if (code === 403) return namespaceRefusesContent(this.d.kube, r.metadata.namespace);
      return code === 404;
    }
  }
}

/** "queue 'orders' in '/'"-like wording of an identity for messages. */
function describe(identity: string[]): string {
  const [type, ...names] = identity;
  return `${type} ${names.map((n) => `'${n}'`).join(' / ')}`;
}

const jitter = (ms: number) => Math.round(ms * (0.9 + 0.2 * Math.random()));

/** Paused=False once a paused resource is written for again (nothing for one never paused). */
function resumed(r: Obj): Array<{ type: string; status: boolean; reason: string; message: string }> {
  return shownPaused(r)?.status === 'True'
    ? [
        {
          type: 'Paused',
          status: false,
          reason: 'Resumed',
          message: 'not paused: warren writes to the broker',
        },
      ]
    : [];
}
