import { describe, expect, it } from 'vitest';
import type { Condition } from '../../src/api/common.ts';
import { findCondition, isReady, progressConditions, setCondition } from '../../src/runtime/conditions.ts';

const T0 = new Date('2024-05-01T10:00:00.123Z');
const T1 = new Date('2024-05-01T11:30:00.456Z');

const ready = (status: 'True' | 'False', reason: string, message = '', observedGeneration = 1) => ({
  type: 'Ready',
  status,
  reason,
  message,
  observedGeneration,
});

describe('setCondition', () => {
  it('adds a condition with lastTransitionTime = now, in RFC 3339 without fractions', () => {
    const list = setCondition(undefined, ready('False', 'BrokerUnreachable'), T0);
    expect(list).toEqual([
      { ...ready('False', 'BrokerUnreachable'), lastTransitionTime: '2024-05-01T10:00:00Z' },
    ]);
  });

  it('moves lastTransitionTime only when status flips', () => {
    const a = setCondition(undefined, ready('False', 'BrokerUnreachable'), T0);
    const same = setCondition(a, ready('False', 'SecretNotFound', 'secret x is missing'), T1);
    expect(same[0]!.lastTransitionTime).toBe('2024-05-01T10:00:00Z');

    const flipped = setCondition(same, ready('True', 'Reconciled'), T1);
    expect(flipped[0]!.lastTransitionTime).toBe('2024-05-01T11:30:00Z');

    const back = setCondition(flipped, ready('False', 'Rejected'), T0);
    expect(back[0]!.lastTransitionTime).toBe('2024-05-01T10:00:00Z');
  });

  it('updates reason, message and observedGeneration in place without a transition', () => {
    const a = setCondition(undefined, ready('True', 'Reconciled', 'ok', 1), T0);
    const b = setCondition(a, ready('True', 'Reconciled', 'still ok', 7), T1);
    expect(b).toHaveLength(1);
    expect(b[0]).toEqual({
      type: 'Ready',
      status: 'True',
      reason: 'Reconciled',
      message: 'still ok',
      observedGeneration: 7,
      lastTransitionTime: '2024-05-01T10:00:00Z',
    });
    const c = setCondition(b, ready('True', 'Other', 'changed reason', 8), T1);
    expect(c[0]).toMatchObject({ reason: 'Other', message: 'changed reason', observedGeneration: 8 });
    expect(c[0]!.lastTransitionTime).toBe('2024-05-01T10:00:00Z');
  });

  it('keys the list by type: other types are kept, in order, and not touched', () => {
    const other: Condition = {
      type: 'Synced',
      status: 'True',
      reason: 'Done',
      message: '',
      lastTransitionTime: '2023-01-01T00:00:00Z',
    };
    const list = setCondition([other], ready('False', 'Conflict'), T0);
    expect(list.map((c) => c.type)).toEqual(['Synced', 'Ready']);
    const again = setCondition(list, ready('True', 'Reconciled'), T1);
    expect(again.map((c) => c.type)).toEqual(['Synced', 'Ready']);
    expect(again[0]).toEqual(other);
    expect(again.filter((c) => c.type === 'Ready')).toHaveLength(1);
  });

  it('returns a new list and leaves the input alone', () => {
    const a = setCondition(undefined, ready('False', 'Conflict'), T0);
    const snapshot = structuredClone(a);
    const b = setCondition(a, ready('True', 'Reconciled'), T1);
    expect(b).not.toBe(a);
    expect(a).toEqual(snapshot);
  });
});

describe('findCondition / isReady', () => {
  it('finds by type and reads Ready', () => {
    const list = setCondition(undefined, ready('True', 'Reconciled'), T0);
    expect(findCondition(list, 'Ready')?.reason).toBe('Reconciled');
    expect(findCondition(list, 'Nope')).toBeUndefined();
    expect(findCondition(undefined, 'Ready')).toBeUndefined();
    expect(isReady({ status: { conditions: list } })).toBe(true);
    expect(isReady({ status: { conditions: setCondition(list, ready('False', 'Rejected'), T1) } })).toBe(
      false,
    );
    expect(isReady({})).toBe(false);
    expect(isReady(undefined)).toBe(false);
  });
});

describe('progressConditions', () => {
  const states = (p: Parameters<typeof progressConditions>[0]) =>
    progressConditions(p, 'R', 'm', 3).map((c) => `${c.type}=${c.status}`);

  it('gives Ready, Reconciling and Stalled, never both of the last two True', () => {
    expect(states('ready')).toEqual(['Ready=True', 'Reconciling=False', 'Stalled=False']);
    expect(states('reconciling')).toEqual(['Ready=False', 'Reconciling=True', 'Stalled=False']);
    expect(states('stalled')).toEqual(['Ready=False', 'Reconciling=False', 'Stalled=True']);
  });

  it('carries the reason on all three, the message on Ready and on what is True, and the generation', () => {
    const [ready, reconciling, stalled] = progressConditions('stalled', 'Rejected', 'the broker said no', 3);
    expect(ready).toMatchObject({ reason: 'Rejected', message: 'the broker said no', observedGeneration: 3 });
    expect(stalled).toMatchObject({
      reason: 'Rejected',
      message: 'the broker said no',
      observedGeneration: 3,
    });
    expect(reconciling).toMatchObject({ reason: 'Rejected', observedGeneration: 3 });
    expect(reconciling!.message).not.toContain('the broker said no');
  });
});
