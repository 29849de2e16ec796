import { isDeepStrictEqual } from 'node:util';
import type { Condition, Reason, Resource } from '../api/common.ts';
import { Reasons } from '../api/common.ts';
import { findCondition, progressConditions, setCondition, type Progress } from '../runtime/conditions.ts';
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
  /**
   * Whether only a change of spec or of the broker can help (Stalled=True), when the reason
   * alone does not say (see stalls): false for a refusal that may pass by itself (a 5xx).
   */
  stalled?: boolean;
  /**
   * The event for this write: `auto` on a change of Ready's status or reason (not for a new
   * resource turning Ready); `none`; `always`, even if nothing else changed (an event held back).
   */
  event?: 'auto' | 'none' | 'always';
}

/**
 * Reasons that stall a resource: warren retries them, but only a change of the spec (or of a
 * Secret, or another resource it names), or of the broker, can help. Every other Ready=False
 * reason is work in progress: waiting for a dependency, a broker outage, a deletion under way.
 */
export const STALLED_REASONS: ReadonlySet<string> = new Set<string>([
  Reasons.Rejected,
  Reasons.NotAllowed,
  Reasons.Conflict,
  Reasons.InvalidSpec,
  Reasons.InvalidSecret,
  Reasons.SecretConflict,
  Reasons.CertificateVerificationFailed,
]);

/** Where a state stands for Reconciling/Stalled. */
export function progressOf(s: Pick<ReadyState, 'ready' | 'reason' | 'stalled'>): Progress {
  if (s.ready) return 'ready';
  return (s.stalled ?? STALLED_REASONS.has(s.reason)) ? 'stalled' : 'reconciling';
}

type Status = { observedGeneration?: number; conditions?: Condition[]; [k: string]: unknown };

/**
 * The status a resource should have; pure, so it is unit-tested.
 *
 * observedGeneration is the generation warren is done with: set when the spec reached the broker
 * (Ready, or declared but not working) and when it was refused (Stalled), so kstatus finds it
 * current exactly when the conditions are the final word on this generation. A write while work
 * is pending leaves it where it was (a new resource has none yet): kstatus reads that as
 * InProgress, and `kubectl wait --for=condition=Ready` never returns early (each condition also
 * carries the generation it describes). Beside Ready, Reconciling and Stalled (progressConditions).
 */
export function nextStatus(r: Resource<unknown, Status>, s: ReadyState, now = new Date()): Status {
  const generation = r.metadata.generation ?? 0;
  const prev = r.status ?? {};
  const progress = progressOf(s);
  const message = s.message.slice(0, 32768);
  let conditions = prev.conditions;
  for (const c of [
    ...progressConditions(progress, s.reason, message, generation),
    ...(s.conditions ?? []).map((c) => ({
      type: c.type,
      status: c.status ? ('True' as const) : ('False' as const),
      reason: c.reason,
      message: c.message.slice(0, 32768),
      observedGeneration: generation,
    })),
  ])
    conditions = setCondition(conditions, c, now);
  return {
    ...prev,
    ...s.extra,
    observedGeneration: s.applied || progress === 'stalled' ? generation : prev.observedGeneration,
    conditions,
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
  const before = findCondition(prev.conditions, 'Ready');
  const event = s.event ?? 'auto';
  const emit = () =>
    recorder.emit(
      r as Resource,
      s.ready ? 'Normal' : 'Warning',
      s.reason,
      s.reason === Reasons.DeleteFailed ? 'Delete' : 'Reconcile',
      s.message,
    );
  // Compare as JSON would carry it (undefined fields vanish) and ignore transition times.
  const comparable = (st: Status) =>
    JSON.parse(
      JSON.stringify({ ...st, conditions: st.conditions?.map(({ lastTransitionTime: _t, ...c }) => c) }),
    );
  if (isDeepStrictEqual(comparable(next), comparable(prev))) {
    if (event === 'always') await emit();
    return false;
  }
  // A merge patch keeps fields it does not mention: clear the ones that no longer apply.
  const patch: Record<string, unknown> = { ...next };
  for (const key of Object.keys(prev)) if (next[key] === undefined) patch[key] = null;
  await kube.patchStatus({ plural, namespace: r.metadata.namespace, name: r.metadata.name }, patch);
  // Keep the cached copy in step so the next reconcile compares against what we wrote.
  r.status = next;
  // Changes of state are events; a new resource turning Ready is not news (its status says so),
  // and leaving it out saves an API write per object.
  const firstReady = !before && s.ready;
  const changed = before?.status !== (s.ready ? 'True' : 'False') || before?.reason !== s.reason;
  if (event === 'always' || (event === 'auto' && !firstReady && changed)) await emit();
  return true;
}
