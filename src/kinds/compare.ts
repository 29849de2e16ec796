// Comparisons and write helpers shared by kinds.
import { Reasons } from '../api/common.ts';
import { Blocked } from './types.ts';

/** Tags are a set to the broker. */
export const sameSet = (a: string[], b: string[]) =>
  a.length === b.length && [...a].sort().join(',') === [...b].sort().join(',');

/** -1 is the broker's "no limit". */
const isSet = (v: number | undefined) => v !== undefined && v !== -1;

/** One field where the broker and the spec differ (for `warren diff`: what a reconcile would write). */
export interface Difference {
  field: string;
  broker: unknown;
  spec: unknown;
}

/** The fields whose values differ, given [field, broker value, spec value, equal]. */
export const differing = (fields: Array<[string, unknown, unknown, boolean]>): Difference[] =>
  fields.filter(([, , , equal]) => !equal).map(([field, broker, spec]) => ({ field, broker, spec }));

export function limitDifferences(
  desired: Record<string, number | undefined>,
  actual: Record<string, number>,
): Difference[] {
  return differing(
    Object.entries(desired).map(([k, v]) => [
      `limits.${k.replace(/-(\w)/g, (_, c: string) => c.toUpperCase())}`, // as the spec names it
      isSet(actual[k]) ? actual[k] : undefined,
      v,
      v === undefined ? !isSet(actual[k]) : actual[k] === v,
    ]),
  );
}

export function limitsMatch(
  desired: Record<string, number | undefined>,
  actual: Record<string, number>,
): boolean {
  return limitDifferences(desired, actual).length === 0;
}

/**
 * Sets the limits the spec gives and removes those it leaves out; returns true if it wrote.
 */
export async function applyLimits<N extends string>(
  desired: Record<N, number | undefined>,
  actual: Record<string, number>,
  put: (name: N, value: number) => Promise<unknown>,
  remove: (name: N) => Promise<unknown>,
): Promise<boolean> {
  let wrote = false;
  for (const [name, value] of Object.entries(desired) as [N, number | undefined][]) {
    if (value === undefined ? isSet(actual[name]) : actual[name] !== value) {
      await (value === undefined ? remove(name) : put(name, value));
      wrote = true;
    }
  }
  return wrote;
}

/** JSON with object keys sorted at every level, for comparing documents the broker echoes back. */
export function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(
          Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : x,
  );
}

export const sameJson = (a: unknown, b: unknown) => canonical(a) === canonical(b);

const lastChecks = new WeakMap<object, { inputs: unknown[]; same: boolean }>();

/**
 * A comparison of a resource with broker rows, remembered while the resource and every input are the
 * very objects of the last call: informers replace a resource that changes, and the management
 * client hands back the same rows while the broker answers the same (rabbitmq/client.ts #listed).
 * The idle survey then compares nothing twice. For comparisons that depend on nothing else.
 */
export function sameAsLastTime(r: object, inputs: unknown[], compare: () => boolean): boolean {
  const last = lastChecks.get(r);
  if (last && last.inputs.length === inputs.length && last.inputs.every((v, i) => v === inputs[i]))
    return last.same;
  const same = compare();
  lastChecks.set(r, { inputs, same });
  return same;
}

const shown = (v: unknown) => {
  const j = JSON.stringify(v) ?? 'unset';
  return j.length > 200 ? `${j.slice(0, 200)}…` : j;
};

/**
 * An object none of whose properties can change once declared (a queue, an exchange) that differs
 * from its spec: the broker either refuses the declaration (inequivalent arg) or accepts it and
 * keeps the object as it was (it compares only the arguments it knows, e.g. not x-note). Either
 * way nothing changed: said as Rejected, not as applied.
 */
export function keptAsDeclared(what: string, diffs: Difference[]): Blocked {
  const list = diffs.map((d) => `${d.field} (broker ${shown(d.broker)}, spec ${shown(d.spec)})`).join(', ');
  return new Blocked(
    Reasons.Rejected,
    `${what} exists with other properties than the spec: ${list}; the broker keeps them as first declared (it accepted the declaration without changing them): delete and re-create it, or declare what the broker has`,
  );
}
