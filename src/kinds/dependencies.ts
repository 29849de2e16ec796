/**
 * Maps a dependency (a resource, a Secret, a broker, a broker object) to the resources waiting on
 * it, so they are reconciled when it changes rather than by blind backoff. Each resource's set is
 * replaced on every reconcile, so stale edges disappear.
 */
export class DependencyIndex {
  private readonly forward = new Map<string, Set<string>>();
  private readonly reverse = new Map<string, Set<string>>();

  /** Replaces the dependencies of `dependent` (a "<plural>|<namespace>/<name>" key). */
  set(dependent: string, deps: Iterable<string>): void {
    this.clear(dependent);
    const set = new Set(deps);
    this.forward.set(dependent, set);
    for (const d of set) {
      let r = this.reverse.get(d);
      if (!r) this.reverse.set(d, (r = new Set()));
      r.add(dependent);
    }
  }

  /**
   * Adds one dependency at once, before the reconcile that needs it reads it: a change that lands
   * between that read and the reconcile's end then still finds the dependent (`set` replaces the
   * whole set when the reconcile ends).
   */
  add(dependent: string, dep: string): void {
    let f = this.forward.get(dependent);
    if (!f) this.forward.set(dependent, (f = new Set()));
    f.add(dep);
    let r = this.reverse.get(dep);
    if (!r) this.reverse.set(dep, (r = new Set()));
    r.add(dependent);
  }

  clear(dependent: string): void {
    for (const d of this.forward.get(dependent) ?? []) {
      const r = this.reverse.get(d);
      r?.delete(dependent);
      if (r?.size === 0) this.reverse.delete(d);
    }
    this.forward.delete(dependent);
  }

  dependents(dep: string): string[] {
    return [...(this.reverse.get(dep) ?? [])];
  }

  get size(): number {
    return this.forward.size;
  }
}
