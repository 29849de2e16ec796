/**
 * Who declares each broker object. Several resources may declare the same one: the oldest (by
 * creationTimestamp, then uid) that is not being deleted owns it and the others report Conflict;
 * a resource being deleted deletes the object only when nobody else declares or retains it.
 */
export interface Claim {
  key: string;
  created: string;
  uid: string;
  /** Being deleted. */
  deleting?: boolean;
  /** deletionPolicy Retain. */
  retain?: boolean;
}

const older = (a: Claim, b: Claim) => a.created < b.created || (a.created === b.created && a.uid < b.uid);

export class ClaimIndex {
  private readonly byObject = new Map<string, Map<string, Claim>>();
  private readonly byResource = new Map<string, string>();

  /**
   * Records that resource `claim.key` declares `object` (replacing what it declared before).
   * Returns the other claimants of every object whose owner changed, to be reconciled again.
   */
  set(object: string, claim: Claim): string[] {
    const previous = this.byResource.get(claim.key);
    const touched = new Set([object, ...(previous !== undefined ? [previous] : [])]);
    const before = new Map([...touched].map((o) => [o, this.owner(o)?.key]));
    if (previous !== undefined && previous !== object) this.drop(claim.key, previous);
    let claims = this.byObject.get(object);
    if (!claims) this.byObject.set(object, (claims = new Map()));
    claims.set(claim.key, claim);
    this.byResource.set(claim.key, object);
    return this.changed(before, claim.key);
  }

  /** Forgets a resource; returns the remaining claimants of its object if its owner changed. */
  remove(key: string): string[] {
    const object = this.byResource.get(key);
    if (object === undefined) return [];
    const before = new Map([[object, this.owner(object)?.key]]);
    this.drop(key, object);
    return this.changed(before, key);
  }

  /** The oldest claimant not being deleted, else the oldest. */
  owner(object: string): Claim | undefined {
    let best: Claim | undefined;
    for (const c of this.byObject.get(object)?.values() ?? []) {
      if (!best || (!!best.deleting && !c.deleting) || (!!best.deleting === !!c.deleting && older(c, best)))
        best = c;
    }
    return best;
  }

  /** Every claimant of an object but `except`. */
  others(object: string, except: string): Claim[] {
    return [...(this.byObject.get(object)?.values() ?? [])].filter((c) => c.key !== except);
  }

  claimants(object: string): string[] {
    return [...(this.byObject.get(object)?.keys() ?? [])];
  }

  private drop(key: string, object: string): void {
    this.byResource.delete(key);
    const claims = this.byObject.get(object);
    claims?.delete(key);
    if (claims?.size === 0) this.byObject.delete(object);
  }

  private changed(before: Map<string, string | undefined>, self: string): string[] {
    const out = new Set<string>();
    for (const [object, owner] of before) {
      if (this.owner(object)?.key === owner) continue;
      for (const k of this.claimants(object)) if (k !== self) out.add(k);
    }
    return [...out];
  }
}
