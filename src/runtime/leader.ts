import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { setTimeout as sleep } from 'node:timers/promises';
import { apiStatus, describeError } from './kube.ts';

export interface LeaderOptions {
  api: k8s.CoordinationV1Api;
  namespace: string;
  name: string;
  identity: string;
  log: Logger;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
}

/**
 * Lease-based leader election after client-go: acquire when the lease is free or its holder has
 * not renewed within the lease duration as observed on our own clock; renew every retry period;
 * give up (onLost) when renewal fails for longer than the renew deadline.
 */
export class LeaderElector {
  private readonly o: Required<LeaderOptions>;
  private stopped = false;
  private leading = false;
  private observed?: { rv: string; holder?: string; renew?: string; at: number };

  constructor(opts: LeaderOptions) {
    this.o = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, ...opts };
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Resolves when this replica becomes leader; onLost fires if it later loses the lease. */
  async acquire(onLost: () => void): Promise<void> {
    while (!this.stopped) {
      if (await this.tryAcquireOrRenew()) {
        this.leading = true;
        this.o.log.info({ identity: this.o.identity }, 'became leader');
        void this.renewLoop(onLost);
        return;
      }
      await sleep(this.o.retryPeriodMs * (1 + Math.random() * 0.2));
    }
  }

  private async renewLoop(onLost: () => void) {
    let lastRenew = Date.now();
    while (!this.stopped && this.leading) {
      await sleep(this.o.retryPeriodMs);
      if (this.stopped) return;
      if (await this.tryAcquireOrRenew()) lastRenew = Date.now();
      else if (Date.now() - lastRenew > this.o.renewDeadlineMs) {
        this.leading = false;
        this.o.log.error('leader election lost');
        onLost();
        return;
      }
    }
  }

  private lease(now: Date, transitions: number): k8s.V1Lease {
    return {
      metadata: { name: this.o.name, namespace: this.o.namespace },
      spec: {
        holderIdentity: this.o.identity,
        leaseDurationSeconds: Math.ceil(this.o.leaseDurationMs / 1000),
        acquireTime: new k8s.V1MicroTime(now.getTime()),
        renewTime: new k8s.V1MicroTime(now.getTime()),
        leaseTransitions: transitions,
      },
    };
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { api, namespace, name, identity } = this.o;
    const now = new Date();
    try {
      let current: k8s.V1Lease;
      try {
        current = await api.readNamespacedLease({ name, namespace });
      } catch (err) {
        if (apiStatus(err)?.code !== 404) throw err;
        await api.createNamespacedLease({ namespace, body: this.lease(now, 0) });
        return true;
      }
      const spec = current.spec ?? {};
      const rv = current.metadata?.resourceVersion ?? '';
      const renew = spec.renewTime ? String(spec.renewTime) : undefined;
      if (!this.observed || this.observed.rv !== rv) {
        this.observed = { rv, holder: spec.holderIdentity, renew, at: Date.now() };
      }
      const held = spec.holderIdentity && spec.holderIdentity !== identity;
      const expired = Date.now() > this.observed.at + (spec.leaseDurationSeconds ?? 15) * 1000;
      if (held && !expired) return false;
      const body = this.lease(now, (spec.leaseTransitions ?? 0) + (spec.holderIdentity === identity ? 0 : 1));
      if (spec.holderIdentity === identity && spec.acquireTime) body.spec!.acquireTime = spec.acquireTime;
      body.metadata!.resourceVersion = rv;
      await api.replaceNamespacedLease({ name, namespace, body });
      return true;
    } catch (err) {
      this.o.log.debug({ err: describeError(err) }, 'lease attempt failed');
      return false;
    }
  }

  /** Stops renewing and hands the lease back so a standby takes over at once. */
  async release(): Promise<void> {
    this.stopped = true;
    if (!this.leading) return;
    this.leading = false;
    const { api, namespace, name } = this.o;
    try {
      const current = await api.readNamespacedLease({ name, namespace });
      if (current.spec?.holderIdentity !== this.o.identity) return;
      current.spec = { ...current.spec, holderIdentity: undefined, leaseDurationSeconds: 1 };
      await api.replaceNamespacedLease({ name, namespace, body: current });
    } catch {
      /* the lease expires on its own */
    }
  }
}
