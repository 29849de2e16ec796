// Keys built from names that may hold any character (a vhost `a|b`, a queue `b/c`): joining them
// with a separator would let two different objects share a key, so parts are JSON-encoded.

/** An unambiguous key for a tuple of names. */
export const key = (...parts: string[]): string => JSON.stringify(parts);

/** The parts of a key made by key(). */
export const parts = (k: string): string[] => JSON.parse(k) as string[];

/** "<namespace>/<name>" of a namespaced object (Kubernetes names hold no '/'). */
export const nsName = (namespace: string, name: string): string => `${namespace}/${name}`;

export function splitNsName(k: string): [string, string] {
  const i = k.indexOf('/');
  return [k.slice(0, i), k.slice(i + 1)];
}
