// Kubernetes names for broker objects. Broker names may hold any character (`jack_vhost`,
// `orders.created`, `billing/eu`, `Été`); a manifest's metadata.name must be a DNS-1123 label.
// The broker name itself stays in the spec (spec.name, spec.username) whenever the two differ.
import { createHash } from 'node:crypto';

const MAX = 63;

/** Lower case letters, digits and '-', starting and ending with a letter or digit; '' if nothing is left. */
export function kubeName(s: string): string {
  return s
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '') // accents go, the letters stay: été → ete
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

const hash = (id: string, n = 6) => createHash('sha256').update(id).digest('hex').slice(0, n);

/** Joins parts into a name, shortened to 63 characters with a hash of the identity when too long. */
function fit(parts: string[], id: string): string {
  const base = parts.map(kubeName).filter(Boolean).join('-');
  return base.length <= MAX ? base : `${base.slice(0, MAX - 7).replace(/-+$/, '')}-${hash(id)}`;
}

export interface Nameable {
  /** Unique among the items: the broker object's identity. */
  id: string;
  /** What the name is made of, most telling first. */
  parts: string[];
  /** Prepended to tell apart objects whose names collide (e.g. the vhost). */
  qualifier?: string;
  /** Used when the parts leave nothing (e.g. vhost '/'): the kind's word. */
  fallback: string;
}

/**
 * Names for one kind's objects, unique among them and independent of their order: objects whose
 * names collide are told apart by their qualifier (queue `celery` in vhosts `a` and `b`:
 * `a-celery`, `b-celery`), then by a short hash of their identity.
 */
export function assignNames(items: Nameable[]): Map<string, string> {
  const out = new Map<string, string>();
  const qualified = (it: Nameable) =>
    it.qualifier && kubeName(it.qualifier) ? fit([it.qualifier, ...it.parts], it.id) : undefined;
  const withHash = (it: Nameable, n = 6) => {
    const base = qualified(it) || fit(it.parts, it.id) || kubeName(it.fallback);
    return `${base.slice(0, MAX - n - 1).replace(/-+$/, '')}-${hash(it.id, n)}`;
  };
  const plain = (it: Nameable) => fit(it.parts, it.id) || withHash(it);

  const collisions = (names: Map<Nameable, string | undefined>) => {
    const count = new Map<string, number>();
    for (const n of names.values()) if (n) count.set(n, (count.get(n) ?? 0) + 1);
    return (it: Nameable) => !names.get(it) || count.get(names.get(it)!)! > 1;
  };

  // Round 1: plain names. Round 2: the colliding ones qualified. Round 3: the rest hashed.
  const names = new Map<Nameable, string | undefined>(items.map((it) => [it, plain(it)]));
  let clash = collisions(names);
  for (const it of items.filter(clash)) names.set(it, qualified(it));
  clash = collisions(names);
  for (const it of items.filter(clash)) names.set(it, withHash(it));
  // A hash that still collides (practically never) gets longer until it does not.
  for (let n = 10; items.some(collisions(names)) && n <= 64; n += 4) {
    clash = collisions(names);
    for (const it of items.filter(clash)) names.set(it, withHash(it, n));
  }
  for (const it of items) out.set(it.id, names.get(it)!);
  return out;
}
