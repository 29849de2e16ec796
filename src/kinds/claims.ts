/**
 * Who owns each broker object: several resources may declare the same one; the oldest (by
 * creationTimestamp, then uid) owns it and the others report Conflict.
 */
export interface Claim {
  key: string;
  created: string;
  uid: string;
}

export class ClaimIndex {
  private readonly byObject = new Map<string, Map<string, Claim>>();
  private readonly byResource = new Map<string, string>();

  /** Records that resource `claim.key` declares `object`; returns the other claimants of any object it left. */
  set(object: string, claim: Claim): string[] {
    const previous = this.byResource.get(claim.key);
    const released = previous && previous !== object ? this.remove(claim.key) : [];
    let claims = this.byObject.get(object);
    if (!claims) this.byObject.set(object, (claims = new Map()));
    claims.set(claim.key, claim);
    this.byResource.set(claim.key, object);
    return released;
  }

  /** Forgets a resource; returns the remaining claimants of its object (one may now own it). */
  remove(key: string): string[] {
    const object = this.byResource.get(key);
    if (object === undefined) return [];
    this.byResource.delete(key);
    const claims = this.byObject.get(object);
    claims?.delete(key);
    if (!claims || claims.size === 0) {
      this.byObject.delete(object);
      return [];
    }
    return [...claims.keys()];
  }

  owner(object: string): Claim | undefined {
    let best: Claim | undefined;
    for (const c of this.byObject.get(object)?.values() ?? []) {
      if (!best || c.created < best.created || (c.created === best.created && c.uid < best.uid)) best = c;
    }
    return best;
  }

  claimants(object: string): string[] {
    return [...(this.byObject.get(object)?.keys() ?? [])];
  }
}
