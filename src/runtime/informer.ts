import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { describeError } from './kube.ts';

export type Handler<T> = (obj: T) => void;

export interface InformerOptions<T extends k8s.KubernetesObject> {
  name: string;
  kc: k8s.KubeConfig;
  /** API path, e.g. /apis/warren.dev/v1alpha1/rabbitqueues or .../namespaces/x/rabbitqueues */
  path: string;
  list: () => Promise<k8s.KubernetesListObject<T>>;
  log: Logger;
  onChange: Handler<T>;
  onDelete: Handler<T>;
  onRestart?: (name: string) => void;
}

/**
 * client-node's informer stops for good on any error other than 410, and its stop() emits an
 * AbortError. This wrapper restarts it with capped exponential backoff (single flight), ignores
 * errors caused by its own stop, and exposes a synced gate.
 */
export class SupervisedInformer<T extends k8s.KubernetesObject> {
  private readonly inner: k8s.ListWatch<T>;
  private stopping = false;
  private restarting = false;
  private attempt = 0;
  private synced = false;
  private started = false;
  private syncedOnce: Promise<void>;
  private markSynced!: () => void;
  restarts = 0;
  private readonly opts: InformerOptions<T>;

  constructor(opts: InformerOptions<T>) {
    this.opts = opts;
    this.inner = new k8s.ListWatch<T>(opts.path, new k8s.Watch(opts.kc), opts.list, false);
    this.inner.on('add', opts.onChange);
    this.inner.on('update', opts.onChange);
    this.inner.on('delete', opts.onDelete);
    this.inner.on('error', (err) => this.onError(err));
    this.syncedOnce = new Promise((r) => (this.markSynced = r));
  }

  get isSynced(): boolean {
    return this.synced;
  }

  /** Resolves once the first list has been applied; keeps retrying in the background. */
  async start(): Promise<void> {
    if (!this.started) {
      this.started = true;
      void this.run();
    }
    await this.syncedOnce;
  }

  private async run(): Promise<void> {
    if (this.stopping) return;
    try {
      await this.inner.start();
      this.synced = true;
      this.attempt = 0;
      this.markSynced();
    } catch (err) {
      this.onError(err);
    }
  }

  private onError(err: unknown): void {
    if (this.stopping || (err as Error)?.name === 'AbortError' || this.restarting) return;
    this.synced = false;
    this.restarting = true;
    this.restarts++;
    this.opts.onRestart?.(this.opts.name);
    const delay = Math.min(30_000, 500 * 2 ** this.attempt++) * (0.5 + Math.random());
    this.opts.log.warn(
      { informer: this.opts.name, err: describeError(err), delayMs: Math.round(delay) },
      'informer restarting',
    );
    setTimeout(() => {
      this.restarting = false;
      void this.run();
    }, delay).unref();
  }

  get(name: string, namespace?: string): T | undefined {
    return this.inner.get(name, namespace);
  }

  list(namespace?: string): ReadonlyArray<T> {
    return this.inner.list(namespace);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.inner.stop().catch(() => undefined);
  }
}
