import type * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { backoffDelay, is410, isTimeout, type Watcher } from './informer.ts';
import { apiStatus, corePath, describeError, type Kube } from './kube.ts';
import { listMetadata, MetadataWatcher, type PartialObjectMetadata } from './metadata.ts';

/** What the caches below hold: any object with metadata. */
type Obj = { metadata?: k8s.V1ObjectMeta };

type Entry<T> = {
  secret: T | undefined;
  /** False after a gap in the watch or a failed re-read: get() reads it again. */
  fresh: boolean;
  /** Last get(), for the grace period of the unreferenced sweep. */
  usedAt: number;
};

export interface SecretCacheOptions<T extends Obj = k8s.V1Secret> {
  kube: Kube;
  namespace?: string;
  /**
   * The kind cached (default Secrets): its collection path for a namespace (or all), and the read
   * of one object.
   */
  resource?: {
    path: (namespace?: string) => string;
    read: (namespace: string, name: string) => Promise<T>;
    noun: string;
  };
  log: Logger;
  /** A cached Secret was created, changed (new resourceVersion) or deleted. */
  onChange: (key: string) => void;
  /** Whether anything still uses the Secret; entries nobody references are dropped. */
  referenced?: (namespace: string, name: string) => boolean;
  /** For tests: the metadata watch, the resourceVersion to start from, the full read, timings. */
  watcher?: Watcher;
  currentVersion?: () => Promise<string>;
  read?: (namespace: string, name: string) => Promise<T>;
  backoff?: { baseMs?: number; maxMs?: number };
  healthyAfterMs?: number;
  sweepEveryMs?: number;
}

/** What users of a cache of referenced objects need (one namespace's cache, or several). */
export interface RefCache<T> {
  get(namespace: string, name: string): Promise<T | undefined>;
  /** The object as cached, if the cache holds it and it is current; never reads (get() would). */
  peek(namespace: string, name: string): T | undefined;
  forget(namespace: string, name: string): void;
  start(): Promise<void>;
  stop(): void;
  readonly isSynced: boolean;
  readonly size: number;
}

export type SecretCache = RefCache<k8s.V1Secret>;

/**
 * A cache of only the Secrets (or ConfigMaps, or any kind: `resource`) warren has asked for. A miss is a GET of that one Secret. One watch
 * of Secret *metadata* (no data crosses the wire for Secrets nobody asked for; started from
 * "now", never listing them all) tells which cached ones changed; those alone are read again, so
 * a rotated password reaches its users at once. Entries nobody references any more are dropped.
 */
export class WatchedCache<T extends Obj = k8s.V1Secret> implements RefCache<T> {
  private readonly o: SecretCacheOptions<T>;
  private readonly cache = new Map<string, Entry<T>>();
  private readonly inflight = new Map<string, Promise<T | undefined>>();
  private readonly rerun = new Set<string>();
  private readonly path: string;
  private readonly watcher: Watcher;
  private readonly readSecret: (namespace: string, name: string) => Promise<T>;
  private readonly noun: string;
  private readonly currentVersion: () => Promise<string>;
  private rv = '';
  /** Bumped each time the watch starts from a new resourceVersion. */
  private epoch = 0;
  private synced = false;
  private stopped = false;
  private attempt = 0;
  private abort?: AbortController;
  private wake?: () => void;
  private sweepTimer?: NodeJS.Timeout;
  private lastSweep = 0;
  private firstSync?: Promise<void>;
  private markFirstSync?: () => void;

  constructor(opts: SecretCacheOptions<T>) {
    this.o = opts;
    const resource = opts.resource;
    this.noun = resource?.noun ?? 'Secret';
    const path = resource
      ? resource.path(opts.namespace)
      : opts.namespace
        ? `/api/v1/namespaces/${opts.namespace}/secrets`
        : '/api/v1/secrets';
    this.watcher = opts.watcher ?? new MetadataWatcher(opts.kube);
    if (opts.read) this.readSecret = opts.read;
    else if (resource) this.readSecret = resource.read;
    else {
      this.readSecret = (namespace, name) => opts.kube.get<T>(corePath('secrets', namespace, name));
    }
    this.currentVersion =
      opts.currentVersion ??
      (async () => (await listMetadata(opts.kube, path, { limit: 1 })).metadata?.resourceVersion ?? '');
    this.path = path;
  }

  get size(): number {
    return this.cache.size;
  }

  /** True while the watch is established (from its opening until a failure). */
  get isSynced(): boolean {
    return this.synced;
  }

  /** The Secret, from the cache when it is watched, else read once and watched from then on. */
  async get(namespace: string, name: string): Promise<T | undefined> {
    const key = `${namespace}/${name}`;
    const hit = this.cache.get(key);
    if (hit) {
      hit.usedAt = Date.now();
      if (hit.fresh && this.synced) return hit.secret;
    }
    return this.fetch(key, true);
  }

  peek(namespace: string, name: string): T | undefined {
    const hit = this.cache.get(`${namespace}/${name}`);
    if (!hit?.fresh || !this.synced) return undefined;
    hit.usedAt = Date.now();
    return hit.secret;
  }

  /** Forgets a Secret nobody references any more. */
  forget(namespace: string, name: string): void {
    this.cache.delete(`${namespace}/${name}`);
  }

  /** Resolves once the watch is established; keeps retrying in the background. */
  start(): Promise<void> {
    if (!this.firstSync) {
      this.firstSync = new Promise((resolve) => (this.markFirstSync = resolve));
      void this.loop();
      this.sweepTimer = setInterval(() => this.sweep(), this.o.sweepEveryMs ?? 60_000);
      this.sweepTimer.unref();
    }
    return this.firstSync;
  }

  stop(): void {
    this.stopped = true;
    this.setSynced(false);
    clearInterval(this.sweepTimer);
    this.abort?.abort();
    this.wake?.();
  }

  /**
   * Reads one Secret, one read per key at a time. `again`: a refresh asked for while a read runs
   * runs after it (the running one may have started before the change). `add`: keep it even if
   * it is not cached (a get), else only refresh an entry that is still there.
   */
  private fetch(key: string, add: boolean, again = false): Promise<T | undefined> {
    const running = this.inflight.get(key);
    if (running) {
      if (again) this.rerun.add(key);
      return running;
    }
    const p = this.readOnce(key, add).finally(() => {
      this.inflight.delete(key);
      if (this.rerun.delete(key) && this.cache.has(key)) this.refresh(key);
    });
    this.inflight.set(key, p);
    return p;
  }

  private async readOnce(key: string, add: boolean): Promise<T | undefined> {
    const epoch = this.epoch;
    const i = key.indexOf('/');
    let secret: T | undefined;
    try {
      secret = await this.readSecret(key.slice(0, i), key.slice(i + 1));
    } catch (err) {
      if (apiStatus(err)?.code !== 404) {
        const e = this.cache.get(key);
        if (e) e.fresh = false;
        throw err;
      }
    }
    const before = this.cache.get(key);
    if (!before && !add) return secret;
    this.cache.set(key, { secret, fresh: epoch === this.epoch, usedAt: before?.usedAt ?? Date.now() });
    if (before && version(before.secret) !== version(secret)) this.o.onChange(key);
    return secret;
  }

  /** Re-reads a cached Secret in the background; a failure leaves it stale (get() reads it). */
  private refresh(key: string): void {
    this.fetch(key, false, true).catch((err) => {
      if (!this.stopped)
        this.o.log.warn({ secret: key, err: describeError(err) }, `reading a ${this.noun} failed`);
    });
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      let failure: unknown;
      let end: { err: unknown; opened: boolean; healthy: boolean } | undefined;
      try {
        if (!this.rv) {
          this.expired();
          const rv = await this.currentVersion();
          if (this.stopped) break;
          this.rv = rv;
          // A read that started before rv may hold a version the watch will not report as new.
          this.epoch++;
        }
        end = await this.watchOnce();
        if (end.err && !(end.opened && isTimeout(end.err))) failure = end.err;
      } catch (err) {
        failure = err;
      }
      if (this.stopped) break;
      let delay = 0;
      if (failure !== undefined) {
        this.setSynced(false);
        delay = backoffDelay(this.attempt++, this.o.backoff);
        this.o.log.warn(
          { err: describeError(failure), attempt: this.attempt, delayMs: Math.round(delay) },
          `${this.noun} watch failed; retrying`,
        );
      } else if (end && !end.healthy) {
        delay = backoffDelay(this.attempt++, this.o.backoff);
        this.o.log.debug({ delayMs: Math.round(delay) }, 'secret watch ended early; reconnecting');
      } else {
        this.o.log.debug(`${this.noun} watch ended; reconnecting`);
      }
      if (delay > 0) await this.sleep(delay);
    }
  }

  /** The watch cannot resume (410 Gone, or not started): start anew; nothing cached is trusted. */
  private expired(): void {
    this.rv = '';
    for (const e of this.cache.values()) e.fresh = false;
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => done(), ms);
      const done = () => {
        clearTimeout(t);
        this.wake = undefined;
        resolve();
      };
      this.wake = done;
    });
  }

  /** One watch from this.rv; resolves when it ends. A watch from an old rv replays what we missed. */
  private watchOnce(): Promise<{ err: unknown; opened: boolean; healthy: boolean }> {
    return new Promise((resolve) => {
      let ended = false;
      let opened = false;
      let healthy = false;
      let timer: NodeJS.Timeout | undefined;
      let inStreamError: unknown;
      const proven = () => {
        healthy = true;
        this.attempt = 0;
      };
      const end = (err: unknown) => {
        if (ended) return;
        ended = true;
        clearTimeout(timer);
        this.abort = undefined;
        if (is410(err)) {
          this.expired();
          err = undefined;
        }
        err = inStreamError ?? err;
        if (err && !(opened && isTimeout(err)) && !this.stopped) this.setSynced(false);
        resolve({ err, opened, healthy });
      };
      const onEvent = (phase: string, obj: PartialObjectMetadata & { code?: number; message?: string }) => {
        if (ended || this.stopped) return;
        proven();
        if (phase === 'ERROR') {
          if (obj?.code === 410) {
            this.expired();
            this.o.log.info('secret watch resource version expired; reading cached Secrets again');
          } else {
            // Anything else is a failure: distrust the cache now and end this watch.
            inStreamError = new Error(`watch error event: ${obj?.code ?? ''} ${obj?.message ?? ''}`);
            this.setSynced(false);
            this.abort?.abort();
          }
          return;
        }
        this.event(phase, obj);
      };
      this.watcher
        .watch(this.path, { resourceVersion: this.rv, allowWatchBookmarks: true }, onEvent, end)
        .then(
          (ac) => {
            if (ended || this.stopped) {
              ac.abort();
              end(undefined);
              return;
            }
            opened = true;
            this.abort = ac;
            this.setSynced(true);
            timer = setTimeout(proven, this.o.healthyAfterMs ?? 10_000);
            timer.unref?.();
            this.sweep();
          },
          (err) => end(err ?? new Error('watch failed')),
        );
    });
  }

  private event(phase: string, obj: PartialObjectMetadata): void {
    const rv = obj?.metadata?.resourceVersion;
    if (rv) this.rv = rv;
    if (phase === 'BOOKMARK') return;
    const key = `${obj?.metadata?.namespace}/${obj?.metadata?.name}`;
    const e = this.cache.get(key);
    if (!e) return;
    // Metadata only: read the Secret itself when what we hold is not this version. A deletion
    // reads a 404 and reports the change.
    if (phase === 'DELETED' ? e.secret !== undefined : version(e.secret) !== rv) this.refresh(key);
  }

  /**
   * On each (re)connect and every sweep period: drops entries nobody references (at most once a
   * period, and never one read within the period: its reconcile may not have recorded the
   * reference yet), and re-reads stale ones.
   */
  private sweep(): void {
    if (this.stopped) return;
    const every = this.o.sweepEveryMs ?? 60_000;
    const now = Date.now();
    const drop = !!this.o.referenced && now - this.lastSweep >= every;
    if (drop) this.lastSweep = now;
    const stale: string[] = [];
    for (const [key, e] of this.cache) {
      const i = key.indexOf('/');
      if (drop && now - e.usedAt >= every && !this.o.referenced!(key.slice(0, i), key.slice(i + 1))) {
        this.cache.delete(key);
      } else if (!e.fresh && this.synced) {
        stale.push(key);
      }
    }
    if (stale.length > 0) void this.refreshAll(stale);
  }

  /** Re-reads keys a few at a time (after a gap, every cached Secret may need a read). */
  private async refreshAll(keys: string[]): Promise<void> {
    let i = 0;
    const worker = async () => {
      while (i < keys.length && !this.stopped) {
        const key = keys[i++]!;
        if (!this.cache.get(key) || this.cache.get(key)!.fresh) continue;
        await this.fetch(key, false, true).catch((err) => {
          if (!this.stopped)
            this.o.log.warn({ secret: key, err: describeError(err) }, `reading a ${this.noun} failed`);
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(4, keys.length) }, worker));
  }

  private setSynced(v: boolean): void {
    if (this.synced === v) return;
    this.synced = v;
    if (v) this.markFirstSync?.();
    this.o.log.debug({ synced: v }, 'secret watch sync changed');
  }
}

const version = (s: Obj | undefined) => s?.metadata?.resourceVersion;

/** The Secret cache (a WatchedCache of Secrets). */
export const secretCache = (opts: SecretCacheOptions) => new WatchedCache<k8s.V1Secret>(opts);

/**
 * One cache per namespace (a namespaced installation watching a list of namespaces: it may not
 * watch all of them at once). A namespace outside the list reads as an error naming it.
 */
export class PerNamespace<T> implements RefCache<T> {
  private readonly caches: Map<string, RefCache<T>>;
  private readonly noun: string;
  constructor(namespaces: string[], make: (namespace: string) => RefCache<T>, noun: string) {
    this.caches = new Map(namespaces.map((ns) => [ns, make(ns)]));
    this.noun = noun;
  }
  private of(namespace: string): RefCache<T> {
    const c = this.caches.get(namespace);
    if (!c)
      throw new NotWatchedError(
        `${this.noun} in namespace ${namespace}: warren does not watch that namespace`,
      );
    return c;
  }
  get(namespace: string, name: string): Promise<T | undefined> {
    try {
      return this.of(namespace).get(namespace, name);
    } catch (err) {
      return Promise.reject(err);
    }
  }
  peek(namespace: string, name: string): T | undefined {
    return this.caches.get(namespace)?.peek(namespace, name);
  }
  forget(namespace: string, name: string): void {
    this.caches.get(namespace)?.forget(namespace, name);
  }
  async start(): Promise<void> {
    await Promise.all([...this.caches.values()].map((c) => c.start()));
  }
  stop(): void {
    for (const c of this.caches.values()) c.stop();
  }
  get isSynced(): boolean {
    return [...this.caches.values()].every((c) => c.isSynced);
  }
  get size(): number {
    return [...this.caches.values()].reduce((n, c) => n + c.size, 0);
  }
}

/** A reference to a namespace this installation does not watch (and may have no rights in). */
export class NotWatchedError extends Error {}

/** A Secret's key as UTF-8 text, or undefined. */
export function secretValue(secret: k8s.V1Secret | undefined, key: string): string | undefined {
  const b64 = secret?.data?.[key];
  return b64 === undefined ? undefined : Buffer.from(b64, 'base64').toString('utf8');
}

/**
 * Starts a cache's watch on first use: a kind nobody references (no CA in a ConfigMap, no
 * RabbitmqCluster) costs no watch at all, and one whose API is not installed is never watched.
 */
export class LazyCache<T> implements RefCache<T> {
  private readonly cache: RefCache<T>;
  private started = false;
  constructor(cache: RefCache<T>) {
    this.cache = cache;
  }
  get(namespace: string, name: string): Promise<T | undefined> {
    if (!this.started) {
      this.started = true;
      void this.cache.start();
    }
    return this.cache.get(namespace, name);
  }
  peek(namespace: string, name: string): T | undefined {
    return this.started ? this.cache.peek(namespace, name) : undefined;
  }
  forget(namespace: string, name: string): void {
    this.cache.forget(namespace, name);
  }
  async start(): Promise<void> {}
  stop(): void {
    if (this.started) this.cache.stop();
  }
  get isSynced(): boolean {
    return !this.started || this.cache.isSynced;
  }
  get size(): number {
    return this.cache.size;
  }
}
