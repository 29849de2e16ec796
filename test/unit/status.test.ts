import { describe, expect, it } from 'vitest';
import type { Condition, Resource } from '../../src/api/common.ts';
import { nextStatus } from '../../src/kinds/status.ts';

type Status = { observedGeneration?: number; conditions?: Condition[]; [k: string]: unknown };

const NOW = new Date('2024-05-01T12:00:00Z');

function resource(generation: number, status?: Status): Resource<unknown, Status> {
  return {
    apiVersion: 'warren.dev/v1alpha1',
    kind: 'RabbitQueue',
    metadata: { name: 'hello', namespace: 'default', uid: 'u1', generation },
    spec: {},
    status,
  };
}

describe('nextStatus', () => {
  it('does not advance observedGeneration when the spec did not reach the broker', () => {
    const r = resource(3, { observedGeneration: 2 });
    const s = nextStatus(r, { ready: false, reason: 'BrokerUnreachable', message: 'down' }, NOW);
    expect(s.observedGeneration).toBe(2);
    const s2 = nextStatus(r, { ready: true, reason: 'Reconciled', message: '', applied: false }, NOW);
    expect(s2.observedGeneration).toBe(2);
  });

  it('leaves observedGeneration unset on a fresh resource until applied', () => {
    const s = nextStatus(resource(1), { ready: false, reason: 'WaitingForDependency', message: 'x' }, NOW);
    expect(s.observedGeneration).toBeUndefined();
  });

  it('advances observedGeneration to metadata.generation when applied', () => {
    const r = resource(5, { observedGeneration: 2 });
    const s = nextStatus(r, { ready: true, reason: 'Reconciled', message: 'ok', applied: true }, NOW);
    expect(s.observedGeneration).toBe(5);
  });

  it("sets every condition's observedGeneration to metadata.generation, Ready first, then Reconciling and Stalled", () => {
    const r = resource(4, { observedGeneration: 1 });
    const s = nextStatus(r, { ready: false, reason: 'BrokerUnreachable', message: 'down' }, NOW);
    const at = { observedGeneration: 4, lastTransitionTime: '2024-05-01T12:00:00Z' };
    expect(s.conditions).toEqual([
      { type: 'Ready', status: 'False', reason: 'BrokerUnreachable', message: 'down', ...at },
      { type: 'Reconciling', status: 'True', reason: 'BrokerUnreachable', message: 'down', ...at },
      { type: 'Stalled', status: 'False', reason: 'BrokerUnreachable', message: 'not stalled', ...at },
    ]);
  });

  it('merges extra fields over the previous status and keeps the rest', () => {
    const r = resource(1, { observedGeneration: 1, username: 'old', credentialsSecretName: 'keep-me' });
    const s = nextStatus(
      r,
      {
        ready: true,
        reason: 'Reconciled',
        message: '',
        applied: true,
        extra: { username: 'jack', tags: ['a'] },
      },
      NOW,
    );
    expect(s).toMatchObject({ username: 'jack', tags: ['a'], credentialsSecretName: 'keep-me' });
  });

  it('extra fields cannot override observedGeneration or conditions', () => {
    const r = resource(2, { observedGeneration: 1 });
    const s = nextStatus(
      r,
      { ready: false, reason: 'Conflict', message: 'm', extra: { observedGeneration: 99, conditions: [] } },
      NOW,
    );
    expect(s.observedGeneration).toBe(2); // a refusal: this generation is observed
    expect(s.conditions!.map((c) => c.type)).toEqual(['Ready', 'Reconciling', 'Stalled']);
  });

  it('maps ready to the condition status and truncates long messages to the metav1 limit', () => {
    const r = resource(1);
    const s = nextStatus(r, { ready: true, reason: 'Reconciled', message: 'x'.repeat(40_000) }, NOW);
    expect(s.conditions![0]!.status).toBe('True');
    expect(s.conditions![0]!.message).toHaveLength(32768);
  });

  it('keeps lastTransitionTime when Ready does not flip', () => {
    const before = nextStatus(resource(1), { ready: false, reason: 'BrokerUnreachable', message: '' }, NOW);
    const later = new Date('2024-05-02T00:00:00Z');
    const after = nextStatus(
      resource(1, before),
      { ready: false, reason: 'SecretNotFound', message: '' },
      later,
    );
    expect(after.conditions![0]!.lastTransitionTime).toBe('2024-05-01T12:00:00Z');
  });
});

const cond = (s: Status, type: string) => s.conditions!.find((c) => c.type === type)!;
const summary = (s: Status) =>
  ['Ready', 'Reconciling', 'Stalled'].map((t) => `${t}=${cond(s, t).status}`).join(' ');

describe('Reconciling and Stalled, for kstatus and Argo CD', () => {
  it('Ready: neither reconciling nor stalled, observedGeneration current', () => {
    const s = nextStatus(resource(3, { observedGeneration: 2 }), {
      ready: true,
      reason: 'Reconciled',
      message: 'applied to the broker',
      applied: true,
    });
    expect(summary(s)).toBe('Ready=True Reconciling=False Stalled=False');
    expect(s.observedGeneration).toBe(3);
    expect(cond(s, 'Reconciling').reason).toBe('Reconciled');
  });

  it.each([
    'WaitingForDependency',
    'BrokerUnreachable',
    'BrokerNotFound',
    'BrokerNotReady',
    'SecretNotFound',
    'DeleteFailed',
  ])('%s is work in progress: Reconciling=True with the message, observedGeneration not moved', (reason) => {
    const s = nextStatus(resource(3, { observedGeneration: 2 }), {
      ready: false,
      reason: reason as never,
      message: 'why',
    });
    expect(summary(s)).toBe('Ready=False Reconciling=True Stalled=False');
    expect(cond(s, 'Reconciling')).toMatchObject({ reason, message: 'why', observedGeneration: 3 });
    expect(s.observedGeneration).toBe(2);
  });

  it.each([
    'Rejected',
    'NotAllowed',
    'Conflict',
    'InvalidSpec',
    'InvalidSecret',
    'SecretConflict',
    'CertificateVerificationFailed',
  ])('%s stalls: Stalled=True with the reason and message, and this generation observed', (reason) => {
    const s = nextStatus(resource(3, { observedGeneration: 2 }), {
      ready: false,
      reason: reason as never,
      message: 'why',
    });
    expect(summary(s)).toBe('Ready=False Reconciling=False Stalled=True');
    expect(cond(s, 'Stalled')).toMatchObject({ reason, message: 'why', observedGeneration: 3 });
    expect(s.observedGeneration).toBe(3);
    // A new resource refused at once gets it too (kstatus: Failed, not waiting for a timeout).
    expect(
      nextStatus(resource(1), { ready: false, reason: reason as never, message: 'why' }).observedGeneration,
    ).toBe(1);
  });

  it('a refusal that may pass by itself (stalled: false) is in progress', () => {
    const s = nextStatus(resource(2), { ready: false, reason: 'Rejected', message: '503', stalled: false });
    expect(summary(s)).toBe('Ready=False Reconciling=True Stalled=False');
    expect(s.observedGeneration).toBeUndefined();
  });

  it('declared but not working (applied): this generation observed, reconciling or stalled by reason', () => {
    const starting = nextStatus(resource(2), {
      ready: false,
      reason: 'WaitingForDependency',
      message: 'starting',
      applied: true,
    });
    expect(summary(starting)).toBe('Ready=False Reconciling=True Stalled=False');
    expect(starting.observedGeneration).toBe(2);
  });

  it('moves the transition times of Reconciling and Stalled only when they flip', () => {
    const t0 = nextStatus(resource(1), { ready: false, reason: 'WaitingForDependency', message: '' }, NOW);
    const later = new Date('2024-05-02T00:00:00Z');
    const t1 = nextStatus(resource(1, t0), { ready: false, reason: 'Rejected', message: 'no' }, later);
    expect(cond(t1, 'Reconciling').lastTransitionTime).toBe('2024-05-02T00:00:00Z');
    expect(cond(t1, 'Stalled').lastTransitionTime).toBe('2024-05-02T00:00:00Z');
    expect(cond(t1, 'Ready').lastTransitionTime).toBe('2024-05-01T12:00:00Z');
  });

  it("keeps other conditions (a broker's Surveyed) after the three", () => {
    const s = nextStatus(resource(1), {
      ready: true,
      reason: 'Reconciled',
      message: '',
      applied: true,
      conditions: [{ type: 'Surveyed', status: true, reason: 'Surveyed', message: 'ok' }],
    });
    expect(s.conditions!.map((c) => c.type)).toEqual(['Ready', 'Reconciling', 'Stalled', 'Surveyed']);
  });
});
