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

/** Whether its Stalled condition is True: refused, until its spec (or the broker) changes. */
export function stalled(obj: { status?: { conditions?: Condition[] } } | undefined): boolean {
  return findCondition(obj?.status?.conditions, 'Stalled')?.status === 'True';
}

export function isReady(obj: { status?: { conditions?: Condition[] } } | undefined): boolean {
  return findCondition(obj?.status?.conditions, 'Ready')?.status === 'True';
}

/**
 * Where a resource stands, as the tools that read status see it: `ready`; `reconciling` while work
 * is pending, waiting or being retried (it may get there by itself); `stalled` when only a change
 * of its spec, or of what it points at, can help.
 */
export type Progress = 'ready' | 'reconciling' | 'stalled';

export type ConditionInput = Omit<Condition, 'lastTransitionTime'>;

/**
 * The three conditions GitOps tools read, from one state: `Ready` (Argo CD, `kubectl wait`),
 * `Reconciling` and `Stalled` (kstatus, as Flux and cli-utils compute it: Reconciling=True is
 * InProgress, Stalled=True is Failed, neither with observedGeneration current is Current). Never
 * both Reconciling and Stalled True. The reason is the Ready reason on all three; the message rides
 * on the conditions that are True (on Ready always), so a long message is not stored three times.
 */
export function progressConditions(
  progress: Progress,
  reason: string,
  message: string,
  observedGeneration: number,
): ConditionInput[] {
  const cond = (type: string, on: boolean, quiet: string): ConditionInput => ({
    type,
    status: on ? 'True' : 'False',
    reason,
    message: on ? message : quiet,
    observedGeneration,
  });
  return [
    { type: 'Ready', status: progress === 'ready' ? 'True' : 'False', reason, message, observedGeneration },
    cond(
      'Reconciling',
      progress === 'reconciling',
      progress === 'ready' ? 'nothing pending' : 'stalled: waits for a change',
    ),
    cond('Stalled', progress === 'stalled', 'not stalled'),
  ];
}
