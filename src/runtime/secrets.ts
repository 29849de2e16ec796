import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { apiStatus, describeError } from './kube.ts';

type Entry = { secret: k8s.V1Secret | undefined };

/**
 * A cache of only the Secrets warren has asked for. A cache miss is a GET; one watch over Secrets
 * (started from "now", never listing them all) keeps the cached ones fresh and reports changes,
 * so a rotated password reaches its users at once. Secrets nobody asked for are dropped from the
 * stream unread.
 */
export class SecretCache {
  private readonly cache = new Map<string, Entry>();
  private readonly kc: k8s.KubeConfig;
  private readonly core: k8s.CoreV1Api;
  private readonly namespace: string | undefined;
  private readonly log: Logger;
  private readonly onChange: (key: string) => void;
  private abort?: AbortController;
  private rv = '';
  private stopped = false;
  private attempt = 0;
  private connected = false;

  constructor(opts: {
    kc: k8s.KubeConfig;
    namespace?: string;
    log: Logger;
    onChange: (key: string) => void;
  }) {
    this.kc = opts.kc;
    this.core = opts.kc.makeApiClient(k8s.CoreV1Api);
    this.namespace = opts.namespace;
    this.log = opts.log;
    this.onChange = opts.onChange;
  }

  get size(): number {
    return this.cache.size;
  }

  get isSynced(): boolean {
    return this.connected;
  }

  /** The Secret, from the cache when it is watched, else read once and watched from then on. */
  async get(namespace: string, name: string): Promise<k8s.V1Secret | undefined> {
    const key = `${namespace}/${name}`;
    const hit = this.cache.get(key);
    if (hit && this.connected) return hit.secret;
    try {
      const secret = await this.core.readNamespacedSecret({ name, namespace });
      this.cache.set(key, { secret });
      return secret;
    } catch (err) {
      if (apiStatus(err)?.code !== 404) throw err;
      this.cache.set(key, { secret: undefined });
      return undefined;
    }
  }

  /** Forgets a Secret nobody references any more. */
  forget(namespace: string, name: string): void {
    this.cache.delete(`${namespace}/${name}`);
  }

  async start(): Promise<void> {
    await this.connect();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    try {
      if (!this.rv) {
        const list = this.namespace
          ? await this.core.listNamespacedSecret({ namespace: this.namespace, limit: 1 })
          : await this.core.listSecretForAllNamespaces({ limit: 1 });
        this.rv = list.metadata?.resourceVersion ?? '';
        // Anything cached may have changed while we were not watching: read each again and report
        // only real changes (reporting all would re-reconcile every resource of every broker).
        for (const [key, entry] of [...this.cache]) {
          const [namespace, name] = [key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1)];
          const fresh = await this.core.readNamespacedSecret({ name, namespace }).catch((err) => {
            if (apiStatus(err)?.code === 404) return undefined;
            throw err;
          });
          if (fresh?.metadata?.resourceVersion === entry.secret?.metadata?.resourceVersion) continue;
          this.cache.set(key, { secret: fresh });
          this.onChange(key);
        }
      }
      const path = this.namespace ? `/api/v1/namespaces/${this.namespace}/secrets` : '/api/v1/secrets';
      this.abort = await new k8s.Watch(this.kc).watch(
        path,
        { resourceVersion: this.rv, allowWatchBookmarks: true },
        (phase, obj: k8s.V1Secret & { code?: number }) => this.event(phase, obj),
        (err) => this.ended(err),
      );
      this.connected = true;
      this.attempt = 0;
    } catch (err) {
      this.ended(err);
    }
  }

  private event(phase: string, obj: k8s.V1Secret & { code?: number }): void {
    if (phase === 'ERROR') {
      if (obj.code === 410) this.rv = '';
      return;
    }
    if (obj.metadata?.resourceVersion) this.rv = obj.metadata.resourceVersion;
    if (phase === 'BOOKMARK') return;
    const key = `${obj.metadata?.namespace}/${obj.metadata?.name}`;
    if (!this.cache.has(key)) return;
    this.cache.set(key, { secret: phase === 'DELETED' ? undefined : obj });
    this.onChange(key);
  }

  private ended(err: unknown): void {
    this.connected = false;
    if (this.stopped) return;
    if (apiStatus(err)?.code === 410 || (err as { statusCode?: number })?.statusCode === 410) this.rv = '';
    const delay = err ? Math.min(30_000, 500 * 2 ** this.attempt++) : 0;
    if (err) this.log.warn({ err: describeError(err), delayMs: delay }, 'secret watch restarting');
    setTimeout(() => void this.connect(), delay).unref();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }
}

/** A Secret's key as UTF-8 text, or undefined. */
export function secretValue(secret: k8s.V1Secret | undefined, key: string): string | undefined {
  const b64 = secret?.data?.[key];
  return b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8');
}
