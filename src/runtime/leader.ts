import type { Logger } from 'pino';
import { setMaxListeners } from 'node:events';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { timerDelay } from './timers.ts';
import { apiStatus, describeError, microTime, type Kube } from './kube.ts';

/** A coordination.k8s.io/v1 Lease, the fields leader election uses. */
export interface Lease {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

/** Per-call options: the call's request is aborted when signal fires. */
export interface CallOptions {
  signal?: AbortSignal;
}

/** The three Lease calls leader election makes. */
export interface LeaseApi {
  readNamespacedLease(p: { name: string; namespace: string }, o?: CallOptions): Promise<Lease>;
  createNamespacedLease(p: { namespace: string; body: Lease }, o?: CallOptions): Promise<Lease>;
  replaceNamespacedLease(
    p: { name: string; namespace: string; body: Lease },
    o?: CallOptions,
  ): Promise<Lease>;
}

const leasePath = (namespace: string, name?: string) =>
  `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases${name ? `/${name}` : ''}`;

/** The Lease calls through warren's Kubernetes client. */
export function leaseApi(kube: Kube): LeaseApi {
  return {
    readNamespacedLease: ({ name, namespace }, o) =>
      kube.client.request('GET', leasePath(namespace, name), { signal: o?.signal }),
    createNamespacedLease: ({ namespace, body }, o) =>
      kube.client.request('POST', leasePath(namespace), { body, signal: o?.signal }),
    replaceNamespacedLease: ({ name, namespace, body }, o) =>
      kube.client.request('PUT', leasePath(namespace, name), { body, signal: o?.signal }),
  };
}

export interface LeaseTimings {
  /** How long a holder's lease is honoured by the others after its last observed renewal. */
  leaseDurationMs: number;
  /** A leader that has not renewed within this long (from the start of its last successful renew) stops. */
  renewDeadlineMs: number;
  /** Pause between attempts to acquire or renew. */
  retryPeriodMs: number;
}

export const DEFAULT_LEASE_TIMINGS: LeaseTimings = {
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
};

// Attempts are spread by up to this factor so replicas started together do not collide.
const JITTER = 1.2;

/** Why a set of timings cannot be safe, or undefined when it is. */
export function checkLeaseTimings(t: LeaseTimings): string | undefined {
  if (!(t.renewDeadlineMs < t.leaseDurationMs))
    return 'the renew deadline must be shorter than the lease duration';
  if (!(t.retryPeriodMs * JITTER < t.renewDeadlineMs))
    return `the renew deadline must be longer than ${JITTER} × the retry period`;
  if (t.retryPeriodMs <= 0) return 'the retry period must be positive';
  return undefined;
}

export interface LeaderOptions extends Partial<LeaseTimings> {
  api: LeaseApi;
  namespace: string;
  name: string;
  identity: string;
  log: Logger;
}

type Attempt = 'ok' | 'held' | 'failed';

/**
 * Runs call with a deadline: its request is aborted when the deadline passes, and the result is
 * a failure then even if the call itself hangs somewhere the signal does not reach (auth).
 */
export async function withDeadline<T>(ms: number, call: (options: CallOptions) => Promise<T>): Promise<T> {
  const ac = new AbortController();
  const timer = setTimeout(
    () => ac.abort(new Error(`no answer within ${Math.round(ms)} ms`)),
    timerDelay(ms),
  );
  const aborted = new Promise<never>((_, reject) =>
    ac.signal.addEventListener('abort', () => reject(ac.signal.reason as Error), { once: true }),
  );
  try {
    return await Promise.race([call({ signal: ac.signal }), aborted]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Lease-based leader election after client-go. A replica acquires the Lease when it is free or
 * its holder has not renewed for a lease duration as observed on our own clock; the leader renews
 * every retry period. Every Lease request has a deadline inside the renew deadline, and a timer
 * at (start of the last successful renewal + renew deadline) ends leadership even while a request
 * hangs. Since renewDeadline < leaseDuration, the old leader has stopped before another replica
 * can acquire. canWrite() is the fence the operator's writers consult.
 */
export class LeaderElector {
  private readonly o: LeaderOptions & LeaseTimings;
  private stopped = false;
  private leading = false;
  /** performance.now() at the start of the last successful acquire or renew. */
  private lastRenewStart = -Infinity;
  private lossTimer?: NodeJS.Timeout;
  private onLost: () => void = () => undefined;
  private readonly stopSignal = new AbortController();
  /** Aborted when the current term of leadership ends. */
  private term?: AbortController;
  private observed?: { rv: string; at: number };

  constructor(opts: LeaderOptions) {
    this.o = { ...DEFAULT_LEASE_TIMINGS, ...opts };
    const problem = checkLeaseTimings(this.o);
    if (problem) throw new RangeError(problem);
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** True only while this replica certainly holds the lease (fencing for every write). */
  canWrite(): boolean {
    return this.leading && performance.now() < this.lastRenewStart + this.o.renewDeadlineMs;
  }

  /**
   * Aborts when this replica's leadership ends (renew deadline passed, lease lost or released):
   * writes in flight are cut off with it, so none lands after the fence closed. Undefined while
   * not leading.
   */
  get leadership(): AbortSignal | undefined {
    return this.leading ? this.term?.signal : undefined;
  }

  /**
   * Resolves true when this replica becomes leader, false if stopped first (then nothing may
   * start). onLost fires, once, when leadership later ends without stop().
   */
  async acquire(onLost: () => void): Promise<boolean> {
    this.onLost = onLost;
    while (!this.stopped) {
      const start = performance.now();
      const result = await this.tryAcquireOrRenew(this.o.renewDeadlineMs);
      if (result === 'ok' && performance.now() < start + this.o.renewDeadlineMs) {
        if (this.stopped) {
          // Stopped while the acquiring request was out: hand the lease straight back.
          this.leading = true;
          this.lastRenewStart = start;
          await this.handBack();
          return false;
        }
        this.term = new AbortController();
        setMaxListeners(0, this.term.signal); // every write in flight listens to it
        this.leading = true;
        this.renewed(start);
        this.o.log.info({ identity: this.o.identity }, 'became leader');
        void this.renewLoop();
        return true;
      }
      await this.pause(this.o.retryPeriodMs * (1 + Math.random() * (JITTER - 1)));
    }
    return false;
  }

  private renewed(start: number): void {
    this.lastRenewStart = start;
    clearTimeout(this.lossTimer);
    const left = start + this.o.renewDeadlineMs - performance.now();
    this.lossTimer = setTimeout(
      () => this.lose('lease not renewed within the renew deadline'),
      timerDelay(left),
    );
  }

  private lose(why: string): void {
    if (!this.leading || this.stopped) return;
    this.endTerm(why);
    this.o.log.error({ identity: this.o.identity, why }, 'leader election lost');
    this.onLost();
  }

  private endTerm(why: string): void {
    this.leading = false;
    clearTimeout(this.lossTimer);
    this.term?.abort(new Error(`leadership ended: ${why}`));
  }

  private async renewLoop(): Promise<void> {
    while (this.leading && !this.stopped) {
      await this.pause(this.o.retryPeriodMs);
      if (!this.leading || this.stopped) return;
      const start = performance.now();
      const result = await this.tryAcquireOrRenew(this.lastRenewStart + this.o.renewDeadlineMs - start);
      if (!this.leading || this.stopped) return;
      if (result === 'ok') this.renewed(start);
      else if (result === 'held') this.lose('another replica holds the lease');
    }
  }

  private async pause(ms: number): Promise<void> {
    await sleep(timerDelay(ms), undefined, { signal: this.stopSignal.signal }).catch(() => undefined);
  }

  private lease(now: Date, transitions: number): Lease {
    return {
      metadata: { name: this.o.name, namespace: this.o.namespace },
      spec: {
        holderIdentity: this.o.identity,
        leaseDurationSeconds: Math.ceil(this.o.leaseDurationMs / 1000),
        acquireTime: microTime(now),
        renewTime: microTime(now),
        leaseTransitions: transitions,
      },
    };
  }

  /** One read-and-write of the Lease, both requests within deadlineMs. */
  private async tryAcquireOrRenew(deadlineMs: number): Promise<Attempt> {
    const { api, namespace, name, identity } = this.o;
    const end = performance.now() + deadlineMs;
    const left = () => end - performance.now();
    const now = new Date();
    try {
      let current: Lease;
      try {
        current = await withDeadline(left(), (opts) => api.readNamespacedLease({ name, namespace }, opts));
      } catch (err) {
        if (apiStatus(err)?.code !== 404) throw err;
        await withDeadline(left(), (opts) =>
          api.createNamespacedLease({ namespace, body: this.lease(now, 0) }, opts),
        );
        return 'ok';
      }
      const spec = current.spec ?? {};
      const rv = current.metadata?.resourceVersion ?? '';
      if (this.observed?.rv !== rv) this.observed = { rv, at: performance.now() };
      const mine = spec.holderIdentity === identity;
      const held = !!spec.holderIdentity && !mine;
      const expired = performance.now() > this.observed.at + (spec.leaseDurationSeconds ?? 15) * 1000;
      if (held && !expired) return 'held';
      const body = this.lease(now, (spec.leaseTransitions ?? 0) + (mine ? 0 : 1));
      if (mine && spec.acquireTime) body.spec!.acquireTime = spec.acquireTime;
      body.metadata!.resourceVersion = rv;
      await withDeadline(left(), (opts) => api.replaceNamespacedLease({ name, namespace, body }, opts));
      return 'ok';
    } catch (err) {
      this.o.log.debug({ err: describeError(err) }, 'lease attempt failed');
      return 'failed';
    }
  }

  /** Stops electing; a leader hands the lease back so a standby takes over at once. */
  async release(): Promise<void> {
    if (this.stopped) return;
    const wasCertain = this.canWrite();
    this.stopped = true;
    this.stopSignal.abort();
    if (wasCertain) await this.handBack();
    else this.endTerm('stopped');
  }

  private async handBack(): Promise<void> {
    const { api, namespace, name, identity } = this.o;
    this.endTerm('lease released');
    const deadline = Math.min(this.o.renewDeadlineMs, 5_000);
    try {
      const current = await withDeadline(deadline, (opts) =>
        api.readNamespacedLease({ name, namespace }, opts),
      );
      if (current.spec?.holderIdentity !== identity) return;
      current.spec = { ...current.spec, holderIdentity: undefined, leaseDurationSeconds: 1 };
      await withDeadline(deadline, (opts) =>
        api.replaceNamespacedLease({ name, namespace, body: current }, opts),
      );
    } catch {
      /* the lease expires on its own */
    }
  }
}
