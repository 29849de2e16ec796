import type * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { intern } from './intern.ts';
import { describeError, type Kube } from './kube.ts';

export type Handler<T> = (obj: T) => void;

/** What the informer needs of a watch (KubeClient.watch has this shape). */
export interface Watcher {
  watch(
    path: string,
    params: Record<string, unknown>,
    onEvent: (phase: string, obj: any) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController>;
}

export interface InformerOptions<T extends k8s.KubernetesObject> {
  name: string;
  kube: Kube;
  /** API path, e.g. /apis/warren.dev/v1alpha1/rabbitqueues or .../namespaces/x/rabbitqueues */
  path: string;
  list: () => Promise<k8s.KubernetesListObject<T>>;
  log: Logger;
  onChange: Handler<T>;
  onDelete: Handler<T>;
  /** Called on every failed list or watch (a restart of the loop). */
  onRestart?: (name: string) => void;
  /** Called when isSynced flips. */
  onSyncChange?: (synced: boolean) => void;
  /** For tests: the watch (default: a watch through kube) and the timings. */
  watcher?: Watcher;
  backoff?: { baseMs?: number; maxMs?: number };
  /** A restarted watch that stays up this long (or delivers an event) is healthy: backoff resets. */
  healthyAfterMs?: number;
  /** A LIST that has not answered after this long counts as failed. */
  listTimeoutMs?: number;
}

type WatchEnd = { err: unknown; opened: boolean; healthy: boolean };

/**
 * A list+watch cache of one kind that can be trusted: it is synced only after a LIST that
 * succeeded and while its watch runs, and goes unsynced the moment a list or watch fails (it then
 * lists again, after a backoff that grows across failed attempts). client-node's ListWatch is not
 * used because its start() resolves even when the LIST failed, leaving an empty cache that reads
 * as "nothing exists".
 */
export class SupervisedInformer<T extends k8s.KubernetesObject> {
  private readonly o: InformerOptions<T>;
  private readonly watcher: Watcher;
  private readonly objects = new Map<string, Map<string, T>>();
  /** list()'s answer while objects is unchanged. */
  private all: ReadonlyArray<T> | undefined;
  private rv = '';
  private synced = false;
  private stopping = false;
  private attempt = 0;
  private abort?: AbortController;
  private wake?: () => void;
  private firstSync?: Promise<void>;
  private markFirstSync?: () => void;
  restarts = 0;

  constructor(opts: InformerOptions<T>) {
    this.o = opts;
    this.watcher = opts.watcher ?? {
      // The server ends a quiet watch after 5 minutes; bookmarks keep its resourceVersion fresh.
      watch: (path, params, onEvent, done) =>
        opts.kube.client.watch(path, params as Record<string, string>, onEvent, done, {
          serverTimeoutSeconds: 300,
          inactivityMs: 330_000,
        }),
    };
  }

  get isSynced(): boolean {
    return this.synced;
  }

  /**
   * Resolves once a LIST has been applied and the watch is open; until then keeps retrying in
   * the background. Idempotent. A start() still pending when stop() is called never resolves.
   */
  start(): Promise<void> {
    if (!this.firstSync) {
      this.firstSync = new Promise((resolve) => (this.markFirstSync = resolve));
      void this.loop();
    }
    return this.firstSync;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.setSynced(false);
    this.abort?.abort();
    this.wake?.();
  }

  get(name: string, namespace?: string): T | undefined {
    return this.objects.get(namespace ?? '')?.get(name);
  }

  /**
   * The cached objects. Without a namespace, the very same frozen array until the cache changes:
   * the idle survey lists every kind each round, and 10,000-element copies that live through the
   * survey's awaits were promoted to the old generation, then collected by full GCs at idle.
   */
  list(namespace?: string): ReadonlyArray<T> {
    if (namespace) return [...(this.objects.get(namespace)?.values() ?? [])];
    return (this.all ??= Object.freeze([...this.objects.values()].flatMap((m) => [...m.values()])));
  }

  private async loop(): Promise<void> {
    const { name } = this.o;
    while (!this.stopping) {
      let failure: unknown;
      let end: WatchEnd | undefined;
      try {
        if (!this.rv) await this.relist();
        if (this.stopping) break;
        end = await this.watchOnce();
        if (end.opened && end.healthy) this.attempt = 0;
        // A watch that never opened, or a stream that broke, is a failure; the server ending a
        // stream, or client-node's 30 s inactivity timeout on an open one, is a reconnect.
        if (end.err && !(end.opened && isTimeout(end.err))) failure = end.err;
      } catch (err) {
        failure = err;
      }
      if (this.stopping) break;
      let delay = 0;
      if (failure !== undefined) {
        // The cache may have missed events: distrust it until a LIST succeeds.
        this.setSynced(false);
        this.rv = '';
        this.restarts++;
        this.o.onRestart?.(name);
        delay = this.nextDelay();
        this.o.log.warn(
          { informer: name, err: describeError(failure), attempt: this.attempt, delayMs: Math.round(delay) },
          'informer list/watch failed; retrying',
        );
      } else if (end && !end.healthy) {
        // Ended cleanly but at once, without events: do not reconnect in a tight loop.
        delay = this.nextDelay();
        this.o.log.debug({ informer: name, delayMs: Math.round(delay) }, 'watch ended early; reconnecting');
      } else {
        this.o.log.debug({ informer: name, relist: !this.rv }, 'watch ended; reconnecting');
      }
      if (delay > 0) await this.sleep(delay);
    }
  }

  private nextDelay(): number {
    return backoffDelay(this.attempt++, this.o.backoff);
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

  /** LIST, then replace the cache: deletes for what vanished, changes for what is new or changed. */
  private async relist(): Promise<void> {
    // Each page has its own time limit (Kube.listPaged); this one only ends a list that hangs.
    const timeoutMs = this.o.listTimeoutMs ?? 15 * 60_000;
    let timer: NodeJS.Timeout | undefined;
    const list = await Promise.race([
      this.o.list(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`list timed out after ${timeoutMs} ms`)), timeoutMs);
      }),
    ]).finally(() => clearTimeout(timer));
    if (this.stopping) return;
    const fresh = new Map<string, Map<string, T>>();
    for (const obj of list.items ?? []) {
      strip(obj);
      const ns = obj.metadata?.namespace ?? '';
      let m = fresh.get(ns);
      if (!m) fresh.set(ns, (m = new Map()));
      m.set(obj.metadata?.name ?? '', obj);
    }
    const gone: T[] = [];
    for (const [ns, m] of this.objects) {
      for (const [name, obj] of m) if (!fresh.get(ns)?.has(name)) gone.push(obj);
    }
    const changed: T[] = [];
    for (const [ns, m] of fresh) {
      for (const [name, obj] of m) {
        if (!sameVersion(this.objects.get(ns)?.get(name), obj)) changed.push(obj);
      }
    }
    this.objects.clear();
    this.all = undefined;
    for (const [ns, m] of fresh) this.objects.set(ns, m);
    this.rv = list.metadata?.resourceVersion ?? '';
    for (const obj of gone) this.notify(this.o.onDelete, obj);
    for (const obj of changed) this.notify(this.o.onChange, obj);
  }

  /** One watch from this.rv; resolves when it ends. */
  private watchOnce(): Promise<WatchEnd> {
    return new Promise((resolve) => {
      let ended = false;
      let opened = false;
      let healthy = false;
      let timer: NodeJS.Timeout | undefined;
      let inStreamError: unknown;
      const end = (err: unknown) => {
        if (ended) return;
        ended = true;
        clearTimeout(timer);
        this.abort = undefined;
        if (is410(err)) {
          this.rv = '';
          err = undefined;
        }
        err = inStreamError ?? err;
        // Distrust the cache from the moment the failure is seen, not when the loop gets to it.
        if (err && !(opened && isTimeout(err)) && !this.stopping) this.setSynced(false);
        resolve({ err, opened, healthy });
      };
      const proven = () => {
        healthy = true;
        this.attempt = 0;
      };
      const onEvent = (phase: string, obj: any) => {
        if (ended || this.stopping) return;
        proven();
        if (phase === 'ERROR') {
          // 410 Gone: our resourceVersion is too old; relist when the stream ends.
          if (obj?.code === 410) {
            this.rv = '';
            this.o.log.info({ informer: this.o.name }, 'resource version expired; relisting');
          } else {
            // Anything else is a failure: distrust the cache now and end this watch.
            inStreamError = new Error(`watch error event: ${obj?.code ?? ''} ${obj?.message ?? ''}`);
            this.setSynced(false);
            this.abort?.abort();
          }
          return;
        }
        this.apply(phase, obj as T);
      };
      this.watcher
        .watch(this.o.path, { resourceVersion: this.rv, allowWatchBookmarks: true }, onEvent, end)
        .then(
          (ac) => {
            if (ended || this.stopping) {
              ac.abort();
              end(undefined);
              return;
            }
            opened = true;
            this.abort = ac;
            this.setSynced(true);
            timer = setTimeout(proven, this.o.healthyAfterMs ?? 10_000);
            timer.unref?.();
          },
          (err) => end(err ?? new Error('watch failed')),
        );
    });
  }

  private apply(phase: string, obj: T): void {
    const rv = obj?.metadata?.resourceVersion;
    if (phase === 'ADDED' || phase === 'MODIFIED') {
      strip(obj);
      const ns = obj.metadata?.namespace ?? '';
      const name = obj.metadata?.name ?? '';
      let m = this.objects.get(ns);
      if (!m) this.objects.set(ns, (m = new Map()));
      const before = m.get(name);
      m.set(name, obj);
      this.all = undefined;
      if (rv) this.rv = rv;
      if (!sameVersion(before, obj)) this.notify(this.o.onChange, obj);
    } else if (phase === 'DELETED') {
      const ns = obj.metadata?.namespace ?? '';
      const m = this.objects.get(ns);
      const before = m?.get(obj.metadata?.name ?? '');
      if (rv) this.rv = rv;
      if (!m || !before) return;
      m.delete(obj.metadata?.name ?? '');
      this.all = undefined;
      if (m.size === 0) this.objects.delete(ns);
      strip(obj);
      this.notify(this.o.onDelete, obj);
    } else if (phase === 'BOOKMARK') {
      if (rv) this.rv = rv;
    }
  }

  /** A throwing handler must not break the list/watch loop. */
  private notify(h: Handler<T>, obj: T): void {
    try {
      h(obj);
    } catch (err) {
      this.o.log.error({ informer: this.o.name, err: describeError(err) }, 'informer handler failed');
    }
  }

  private setSynced(v: boolean): void {
    if (this.synced === v) return;
    this.synced = v;
    if (v) this.markFirstSync?.();
    this.o.log.debug({ informer: this.o.name, synced: v }, 'informer sync changed');
    this.o.onSyncChange?.(v);
  }
}

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * warren never reads managedFields, nor the copy of the manifest a client-side `kubectl apply`
 * keeps in an annotation: together most of an object's size.
 */
export function strip(obj: k8s.KubernetesObject): void {
  let meta = obj?.metadata;
  if (!meta) return;
  // Copies without the fields, not `delete`: an object that loses a property turns into a hash
  // table (about 450 bytes more for each of 10,000 cached resources).
  if (meta.managedFields || meta.annotations?.[LAST_APPLIED] !== undefined) {
    const { managedFields: _fields, annotations, ...rest } = meta;
    const { [LAST_APPLIED]: _applied, ...kept } = annotations ?? {};
    meta = obj.metadata = Object.keys(kept).length ? { ...rest, annotations: kept } : rest;
  }
  // One copy of the texts every resource of a kind repeats (see intern).
  if (obj.apiVersion) obj.apiVersion = intern(obj.apiVersion);
  if (obj.kind) obj.kind = intern(obj.kind);
  if (meta.namespace) meta.namespace = intern(meta.namespace);
  if (meta.finalizers) meta.finalizers = meta.finalizers.map(intern);
  const conditions = (obj as { status?: { conditions?: unknown } }).status?.conditions;
  if (Array.isArray(conditions)) {
    for (const c of conditions as Array<Record<string, unknown>>) {
      for (const f of ['type', 'status', 'reason', 'message'])
        if (typeof c[f] === 'string') c[f] = intern(c[f]);
    }
  }
}

function sameVersion(a: k8s.KubernetesObject | undefined, b: k8s.KubernetesObject): boolean {
  const rv = a?.metadata?.resourceVersion;
  return !!rv && rv === b.metadata?.resourceVersion;
}

/** Capped exponential backoff with jitter (half to all of the step). */
export function backoffDelay(attempt: number, o: { baseMs?: number; maxMs?: number } = {}): number {
  const d = Math.min(o.maxMs ?? 30_000, (o.baseMs ?? 500) * 2 ** attempt);
  return d * (0.5 + Math.random() / 2);
}

export function isTimeout(err: unknown): boolean {
  return (err as Error)?.name === 'TimeoutError';
}

export function is410(err: unknown): boolean {
  const e = err as { statusCode?: number; code?: number } | undefined;
  return e?.statusCode === 410 || e?.code === 410;
}
