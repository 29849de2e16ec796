/**
 * Maps a dependency (a resource, a Secret, a broker, a broker object) to the resources waiting on
 * it, so they are reconciled when it changes rather than by blind backoff. Each resource's set is
 * replaced on every reconcile, so stale edges disappear.
 */
export class DependencyIndex {
  private readonly forward = new Map<string, Set<string>>();
  private readonly reverse = new Map<string, { key: string; dependents: Set<string> }>();

  /** Replaces the dependencies of `dependent` (a "<plural>|<namespace>/<name>" key). */
  set(dependent: string, deps: Iterable<string>): void {
    this.clear(dependent);
    const set = new Set<string>();
    for (const d of deps) set.add(this.link(d, dependent));
    this.forward.set(dependent, set);
  }

  /**
   * Records dependent under dep; returns dep's one copy: thousands of resources depend on the same
   * broker, Secret and vhost, and each reconcile builds those keys anew.
   */
  private link(dep: string, dependent: string): string {
    let r = this.reverse.get(dep);
    if (!r) this.reverse.set(dep, (r = { key: dep, dependents: new Set() }));
    r.dependents.add(dependent);
    return r.key;
  }

  /**
   * Adds one dependency at once, before the reconcile that needs it reads it: a change that lands
   * between that read and the reconcile's end then still finds the dependent (`set` replaces the
   * whole set when the reconcile ends).
   */
  add(dependent: string, dep: string): void {
    let f = this.forward.get(dependent);
    if (!f) this.forward.set(dependent, (f = new Set()));
    f.add(this.link(dep, dependent));
  }

  clear(dependent: string): void {
    for (const d of this.forward.get(dependent) ?? []) {
      const r = this.reverse.get(d);
      r?.dependents.delete(dependent);
      if (r?.dependents.size === 0) this.reverse.delete(d);
    }
    this.forward.delete(dependent);
  }

  /** What `dependent` depends on, as its last reconcile declared it. */
  of(dependent: string): ReadonlySet<string> {
    return this.forward.get(dependent) ?? new Set();
  }

  dependents(dep: string): string[] {
    return [...(this.reverse.get(dep)?.dependents ?? [])];
  }

  get size(): number {
    return this.forward.size;
  }
}
