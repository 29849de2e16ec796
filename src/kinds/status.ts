import { isDeepStrictEqual } from 'node:util';
import type { Condition, Reason, Resource } from '../api/common.ts';
import { Reasons } from '../api/common.ts';
import { findCondition, setCondition } from '../runtime/conditions.ts';
import type { Recorder } from '../runtime/events.ts';
import type { Kube } from '../runtime/kube.ts';

export interface ReadyState {
  ready: boolean;
  reason: Reason;
  message: string;
  /** Set only when the current generation reached the broker. */
  applied?: boolean;
  extra?: Record<string, unknown>;
  /** Other conditions to set besides Ready (e.g. a broker's Surveyed). */
  conditions?: Array<{ type: string; status: boolean; reason: string; message: string }>;
}

type Status = { observedGeneration?: number; conditions?: Condition[]; [k: string]: unknown };

/** The status a resource should have; pure, so it is unit-tested. */
export function nextStatus(r: Resource<unknown, Status>, s: ReadyState, now = new Date()): Status {
  const generation = r.metadata.generation ?? 0;
  const prev = r.status ?? {};
  let conditions = prev.conditions;
  for (const c of s.conditions ?? []) {
    conditions = setCondition(
      conditions,
      {
        type: c.type,
        status: c.status ? 'True' : 'False',
        reason: c.reason,
        message: c.message.slice(0, 32768),
        observedGeneration: generation,
      },
      now,
    );
  }
  return {
    ...prev,
    ...s.extra,
    observedGeneration: s.applied ? generation : prev.observedGeneration,
    conditions: setCondition(
      conditions,
      {
        type: 'Ready',
        status: s.ready ? 'True' : 'False',
        reason: s.reason,
        message: s.message.slice(0, 32768),
        observedGeneration: generation,
      },
      now,
    ),
  };
}

/**
 * Writes status only when it changed (an unchanged write would still fire watch events and
 * could loop), and records an event when Ready changes status or reason.
 */
export async function writeStatus(
  kube: Kube,
  recorder: Recorder,
  plural: string,
  r: Resource<unknown, Status>,
  s: ReadyState,
): Promise<boolean> {
  const next = nextStatus(r, s);
  const prev = r.status ?? {};
  // Compare as JSON would carry it (undefined fields vanish) and ignore transition times.
  const comparable = (st: Status) =>
    JSON.parse(
      JSON.stringify({ ...st, conditions: st.conditions?.map(({ lastTransitionTime: _t, ...c }) => c) }),
    );
  if (isDeepStrictEqual(comparable(next), comparable(prev))) return false;
  // A merge patch keeps fields it does not mention: clear the ones that no longer apply.
  const patch: Record<string, unknown> = { ...next };
  for (const key of Object.keys(prev)) if (next[key] === undefined) patch[key] = null;
  await kube.patchStatus({ plural, namespace: r.metadata.namespace, name: r.metadata.name }, patch);
  // Keep the cached copy in step so the next reconcile compares against what we wrote.
  r.status = next;
  const before = findCondition(prev.conditions, 'Ready');
  // Changes of state are events; a new resource turning Ready is not news (its status says so),
  // and leaving it out saves an API write per object.
  const firstReady = !before && s.ready;
  if (!firstReady && (before?.status !== (s.ready ? 'True' : 'False') || before?.reason !== s.reason)) {
    await recorder.emit(
      r as Resource,
      s.ready ? 'Normal' : 'Warning',
      s.reason,
      s.reason === Reasons.DeleteFailed ? 'Delete' : 'Reconcile',
      s.message,
    );
  }
  return true;
}
