// What the runtime-parameter kinds (shovels, federation upstreams and upstream sets) share in the
// command: their rows, their URIs (credentials: into Secrets, never into manifests or output), and
// a key-by-key comparison of a parameter's value.
import type { Resource } from '../../api/common.ts';
import { sameJson, type Difference } from '../../kinds/compare.ts';
import { parametersTable } from '../../kinds/parameters.ts';
import { urisOf, type SecretUris } from '../../kinds/uris.ts';
import { parametersOf, type Definitions } from '../definitions.ts';
import type { AddRow, Inventory, PlanContext } from '../types.ts';

/** A definitions file's parameters of one component, keyed as the live table keys them. */
export function parametersFromDefinitions(defs: Definitions, component: string, add: AddRow): void {
  for (const p of parametersOf(defs, component)) add(parametersTable, [component, p.vhost, p.name], p.value);
}

/** The component's parameters in the inventory. */
export const parameterRows = (inv: Inventory, component: string) =>
  inv
    .rows(parametersTable)
    .filter(([[c]]) => c === component)
    .map(([[, vhost, name], value]) => ({ vhost: vhost!, name: name!, value }));

const isMap = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);

/** A parameter value's keys as spec fields, through a table of broker key → spec field (later keys win). */
export function fieldsOf(value: Record<string, unknown>, table: Record<string, string>) {
  const spec: Record<string, unknown> = {};
  for (const [k, field] of Object.entries(table)) if (value[k] !== undefined) spec[field] = value[k];
  return spec;
}

/** The keys of a value that no spec field takes: such an object cannot be declared as it is. */
export const unknownKeys = (value: Record<string, unknown>, known: string[]) =>
  Object.keys(value)
    .filter((k) => !known.includes(k))
    .sort();

/** Why an object with keys no spec field takes is left out. */
export const unknownSettings = (kind: string, keys: string[]) =>
  keys.length ? `has settings a ${kind} does not declare (${keys.join(', ')})` : undefined;

export const asMap = (v: unknown): Record<string, unknown> => (isMap(v) ? v : {});

/** A parameter's URI (or list of URIs) as a Secret value: several separated by commas. */
export function uriText(v: unknown): string | undefined {
  if (typeof v === 'string' && v !== '') return v;
  if (Array.isArray(v) && v.length && v.every((u) => typeof u === 'string')) return v.join(',');
  return undefined;
}

/** Placeholder URIs, for comparing the rest of a value when the Secret is not there. */
export const noUris = (keys: string[]): SecretUris => ({
  uris: Object.fromEntries(keys.map((k) => [k, ['']])),
  secrets: [],
});

/** The URIs of a resource's uriSecretRef, or why they are not compared (never their values). */
export function planUris(
  r: Resource<{ uriSecretRef: { name: string } }, unknown>,
  keys: string[],
  ctx: PlanContext,
): { uris?: SecretUris; note?: string } {
  const ns = r.metadata.namespace;
  const name = r.spec.uriSecretRef.name;
  const secret = ctx.secret(ns, name);
  if (secret === 'unknown') return { note: `URIs not compared: Secret ${ns}/${name} could not be read` };
  if (!secret) return { note: `URIs not compared: Secret ${ns}/${name} not given` };
  const found = urisOf(secret, keys);
  if (typeof found === 'string')
    return { note: `URIs not compared: Secret ${ns}/${name} ${found} (warren would report InvalidSecret)` };
  return { uris: found };
}

/**
 * The keys where a parameter's value differs from the one a resource declares. URI keys (`hidden`)
 * are compared only when the Secret was given (`secretName`), and their values are never shown.
 */
export function valueDifferences(
  desired: Record<string, unknown>,
  actual: unknown,
  hidden: string[],
  secretName: string | undefined,
): Difference[] {
  const a = asMap(actual);
  const out: Difference[] = [];
  for (const k of [...new Set([...Object.keys(desired), ...Object.keys(a)])].sort()) {
    if (sameJson(desired[k], a[k])) continue;
    if (!hidden.includes(k)) out.push({ field: k, broker: a[k], spec: desired[k] });
    else if (secretName)
      out.push({
        field: k,
        broker: a[k] === undefined ? undefined : '(another)',
        spec: `(from Secret ${secretName})`,
      });
  }
  return out;
}
