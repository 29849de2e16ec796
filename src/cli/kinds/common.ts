// Small helpers shared by the kinds' exporters.

/** The object, or undefined when it has no defined values (an empty spec field is left out). */
export function nonEmpty<T extends Record<string, unknown>>(o: T | undefined): T | undefined {
  if (!o) return undefined;
  const kept = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
  return Object.keys(kept).length ? kept : undefined;
}

/** Broker limits ({'max-connections': 10}) as spec limits ({maxConnections: 10}); -1 is no limit. */
export function limitsSpec(
  value: Record<string, number> | undefined,
  names: Record<string, string>,
): Record<string, number> | undefined {
  const out: Record<string, number> = {};
  for (const [brokerName, field] of Object.entries(names)) {
    const v = value?.[brokerName];
    if (typeof v === 'number' && v >= 0) out[field] = v;
  }
  return nonEmpty(out);
}

/** "'orders'": names quoted, as in the broker's own messages. */
export const q = (s: string) => `'${s}'`;
