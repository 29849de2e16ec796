import type { Condition } from '../api/common.ts';

/**
 * Sets a condition in a list, keyed by type. lastTransitionTime moves only when status flips;
 * reason, message and observedGeneration are updated in place. Returns a new list.
 */
export function setCondition(
  list: Condition[] | undefined,
  next: Omit<Condition, 'lastTransitionTime'>,
  now: Date = new Date(),
): Condition[] {
  const out = [...(list ?? [])];
  const i = out.findIndex((c) => c.type === next.type);
  const prev = i >= 0 ? out[i] : undefined;
  const lastTransitionTime =
    prev && prev.status === next.status
      ? prev.lastTransitionTime
      : now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const cond: Condition = { ...next, lastTransitionTime };
  if (i >= 0) out[i] = cond;
  else out.push(cond);
  return out;
}

export function findCondition(list: Condition[] | undefined, type: string): Condition | undefined {
  return list?.find((c) => c.type === type);
}

export function isReady(obj: { status?: { conditions?: Condition[] } } | undefined): boolean {
  return findCondition(obj?.status?.conditions, 'Ready')?.status === 'True';
}
