import type * as k8s from '@kubernetes/client-node';
import type { SupervisedInformer } from './informer.ts';

/** What the operator reads of an informer: one over all namespaces, or a group of per-namespace ones. */
export interface Informer<T> {
  start(): Promise<void>;
  stop(): Promise<void>;
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): ReadonlyArray<T>;
  readonly isSynced: boolean;
}

/**
 * One informer per watched namespace, read as one (a namespaced installation watching a list of
 * namespaces has no right to list all of them).
 */
export class InformerGroup<T extends k8s.KubernetesObject> implements Informer<T> {
  private readonly byNamespace: Map<string, SupervisedInformer<T>>;
  private last: { parts: ReadonlyArray<T>[]; all: ReadonlyArray<T> } | undefined;

  constructor(byNamespace: Map<string, SupervisedInformer<T>>) {
    this.byNamespace = byNamespace;
  }

  async start(): Promise<void> {
    await Promise.all([...this.byNamespace.values()].map((i) => i.start()));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.byNamespace.values()].map((i) => i.stop()));
  }

  get(name: string, namespace?: string): T | undefined {
    if (namespace !== undefined) return this.byNamespace.get(namespace)?.get(name, namespace);
    for (const i of this.byNamespace.values()) {
      const hit = i.get(name);
      if (hit) return hit;
    }
    return undefined;
  }

  list(namespace?: string): ReadonlyArray<T> {
    if (namespace !== undefined) return this.byNamespace.get(namespace)?.list(namespace) ?? [];
    // The same array while no member's list changed (see SupervisedInformer.list).
    const parts = [...this.byNamespace.values()].map((i) => i.list());
    const last = this.last;
    if (last && last.parts.length === parts.length && last.parts.every((p, i) => p === parts[i]))
      return last.all;
    const all = Object.freeze(parts.flat());
    this.last = { parts, all };
    return all;
  }

  get isSynced(): boolean {
    return [...this.byNamespace.values()].every((i) => i.isSynced);
  }
}
